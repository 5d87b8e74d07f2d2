# Twilio (WhatsApp through Programmable Messaging). Nothing to provision: each tenant's Account SID and auth token
# sit on its channel document, like the other providers' credentials. What the platform needs is one fact: the
# public URL of the webhook. Twilio signs the exact URL it called (X-Twilio-Signature), so the function must
# know it, and the sends name <url>/twilio?channel=<sender>&key=… (the sender's keyed URL) as their StatusCallback.

locals {
  # The function's deterministic run.app URL (main.tf) unless the operator fronts it with another one. The same
  # value goes in webhook_urls.twilio (outputs.tf), so what an operator pastes into Twilio is what the code checks.
  public_webhook_url = coalesce(var.webhook.public_url, local.function_urls["whatsapp_webhook"])
}
