"""Settings come from the environment once; empty values mean unset."""

from shared.config import Settings


def test_pricing_is_read_from_json_and_empty_secrets_count_as_unset(monkeypatch):
    monkeypatch.setenv("LLM_PRICING", '{"gemini-x": {"input_per_mtok": 0.1, "output_per_mtok": 0.4}}')
    monkeypatch.setenv("META_APP_SECRET", "")
    monkeypatch.setenv("DEBOUNCE_SECONDS", "2.5")

    settings = Settings()

    assert settings.price_of("gemini-x").output_per_mtok == 0.4
    assert settings.price_of("unknown") is None
    assert settings.meta_app_secret is None
    assert settings.debounce_seconds == 2.5


def test_secrets_do_not_show_in_the_settings_repr(monkeypatch):
    monkeypatch.setenv("META_APP_SECRET", "s3cr3t-value")
    assert "s3cr3t-value" not in repr(Settings())


def test_crm_settings_default_to_production_values_and_refuse_plain_http_webhooks(monkeypatch):
    monkeypatch.setenv("CRM_WEBHOOK_ALLOW_HTTP", "")
    monkeypatch.setenv("OUTBOX_DRAIN_MAX_EVENTS", "50")

    settings = Settings()

    assert settings.events_topic == "domain-events"
    assert settings.crm_webhook_allow_http is False
    assert settings.outbox_drain_max_events == 50
    assert settings.hubspot_base_url == "https://api.hubapi.com"


def test_embedding_dimensions_above_firestores_vector_limit_are_refused(monkeypatch):
    import pytest
    from pydantic import ValidationError

    monkeypatch.setenv("EMBEDDING_DIMENSIONS", "3072")
    with pytest.raises(ValidationError, match="2048"):
        Settings()


def test_a_chunk_overlap_of_half_a_chunk_or_more_is_refused(monkeypatch):
    import pytest
    from pydantic import ValidationError

    monkeypatch.setenv("KNOWLEDGE_CHUNK_CHARS", "800")
    monkeypatch.setenv("KNOWLEDGE_CHUNK_OVERLAP_CHARS", "400")
    with pytest.raises(ValidationError, match="OVERLAP"):
        Settings()


def test_cadence_defaults_read_terraforms_nulls_as_unset_and_a_bad_default_refuses_to_start(monkeypatch):
    import pytest
    from pydantic import ValidationError

    # What jsonencode(var.followups.cadence_defaults) writes when only some attributes are set.
    monkeypatch.setenv("FOLLOWUP_DEFAULTS", '{"enabled": true, "time_zone": null, "business_start": "08:00",'
                                            ' "steps": [{"delay_minutes": 90, "instruction": null, "template": null}]}')
    assert Settings().followup_defaults == {"enabled": True, "business_start": "08:00",
                                            "steps": [{"delay_minutes": 90}]}

    monkeypatch.setenv("FOLLOWUP_DEFAULTS", '{"business_start": "19:00", "business_end": "08:00"}')
    with pytest.raises(ValidationError, match="business_start must be before business_end"):
        Settings()


def test_no_cadence_defaults_by_default(monkeypatch):
    monkeypatch.delenv("FOLLOWUP_DEFAULTS", raising=False)
    assert Settings().followup_defaults == {}


def test_every_configured_model_needs_a_price(monkeypatch):
    import pytest

    monkeypatch.setenv("LLM_BACKEND", "vertex")
    monkeypatch.setenv("LLM_TIERS", '{"lite": "gemini-3.5-flash-lite", "standard": "gemini-3.5-flash", '
                                    '"advanced": "gemini-4-argon"}')
    with pytest.raises(ValueError, match=r"gemini-4-argon \(LLM_TIERS.advanced\)"):
        Settings()
    monkeypatch.setenv("LLM_PRICING", '{"gemini-4-argon": {"input_per_mtok": 4, "output_per_mtok": 20}}')
    assert Settings().price_of("gemini-4-argon").output_per_mtok == 20
    monkeypatch.setenv("MEDIA_MODEL", "gemini-unpriced")
    with pytest.raises(ValueError, match="gemini-unpriced"):
        Settings()


def test_the_default_models_are_current_and_priced():
    settings = Settings()
    assert all(not model.startswith(("gemini-2.", "gemini-1.")) for model in settings.configured_models().values())
    assert all(settings.price_of(model) for model in settings.configured_models().values())


def test_the_gemini_backend_needs_an_api_key(monkeypatch):
    import pytest

    monkeypatch.setenv("LLM_BACKEND", "gemini")
    with pytest.raises(ValueError, match="GEMINI_API_KEY"):
        Settings()
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    assert Settings().gemini_api_key.get_secret_value() == "k"
