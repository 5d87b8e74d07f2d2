"""Local development: the emulator stack, the provider sandbox, the demo. Never deployed."""
