"""WhatsApp providers: pure webhook parsing and a sender per provider."""
