# Voice replies (issue 18): agents opt in per document (AgentConfig.voice); this sets where speech is made.
# Chirp 3 HD voices are served from global, us, eu, asia-southeast1, europe-west2 and asia-northeast1
# (https://cloud.google.com/text-to-speech/docs/chirp3-hd): not from southamerica-east1, so a spoken reply's
# text leaves Brazil for synthesis (docs/DEPLOY.md, data residency).

variable "voice" {
  description = <<-EOT
    location: the Cloud Text-to-Speech location of Chirp 3 HD voices: global, us, eu, asia-southeast1,
      europe-west2 or asia-northeast1.
    price_per_million_chars: USD per 1M input characters (Cloud TTS pricing page, Chirp 3: HD voices);
      null records each synthesis's cost as unknown, never 0.
    timeout_seconds: one synthesis; past it the reply goes as text.
    clone_price_per_million_chars: USD per 1M input characters spoken in a cloned voice (Chirp 3 Instant
      Custom Voice); null (the default: the price was not confirmed) records the cost as unknown, never 0.
    key_cache_seconds: how long an agent_turn instance keeps a cloned voice's key read from Secret Manager;
      a revocation takes effect within it.
    media_link_seconds: how long the signed URL Twilio downloads a voice note from stays valid (V4: 7 days
      at most).
    consent_statements: Google's consent statement by language code, over the copy built into Piloto
      (shared/domain/voice_clone.py); set one when Google's page words it differently or adds a language.
  EOT
  type = object({
    location                      = optional(string, "global")
    price_per_million_chars       = optional(number, 30)
    timeout_seconds               = optional(number, 10)
    clone_price_per_million_chars = optional(number)
    key_cache_seconds             = optional(number, 300)
    media_link_seconds            = optional(number, 900)
    consent_statements            = optional(map(string), {})
  })
  default = {}

  validation {
    condition     = contains(["global", "us", "eu", "asia-southeast1", "europe-west2", "asia-northeast1"], var.voice.location)
    error_message = "voice.location must be a location that serves Chirp 3 HD voices: global, us, eu, asia-southeast1, europe-west2 or asia-northeast1."
  }
  validation {
    condition     = var.voice.media_link_seconds >= 60 && var.voice.media_link_seconds <= 604800
    error_message = "voice.media_link_seconds must be between 60 and 604800 (a V4 signed URL lives 7 days at most)."
  }
  validation {
    condition     = var.voice.key_cache_seconds >= 0 && var.voice.key_cache_seconds <= 3600
    error_message = "voice.key_cache_seconds must be between 0 and 3600: a revoked voice keeps speaking until it expires."
  }
  validation {
    condition     = var.voice.timeout_seconds > 0 && var.voice.timeout_seconds < 60
    error_message = "voice.timeout_seconds must be between 0 and 60: a synthesis runs inside the agent turn."
  }
}

locals {
  # Regional endpoints are <location>-texttospeech.googleapis.com; global is the plain host.
  tts_endpoint = var.voice.location == "global" ? "https://texttospeech.googleapis.com" : "https://${var.voice.location}-texttospeech.googleapis.com"
}
