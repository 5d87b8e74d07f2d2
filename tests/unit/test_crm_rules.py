"""The pure rules of a CRM sync: configuration, signatures, safe webhook URLs, notes and stage ordering."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import ValidationError

from shared.adapters.crm_http import retry_at
from shared.domain.crm import (
    CrmConfig,
    CrmKind,
    CrmLink,
    FieldPolicy,
    check_webhook_url,
    crm_phone_matches,
    fields_to_write,
    is_same_lead,
    is_stale_stage,
    lead_fields,
    note_for,
    split_name,
    stage_target,
    verify_webhook_signature,
    webhook_signature,
)
from shared.domain.errors import CrmMisconfigured
from shared.domain.events import Contact, LeadStage, LeadStageChanged, LeadUpdated, lead_created
from tests.unit.test_domain_events import COMMON, one_of_each


def test_a_config_must_carry_the_section_of_its_kind():
    with pytest.raises(ValidationError, match="'hubspot' section is missing"):
        CrmConfig(kind="hubspot", webhook={"url": "https://hook.example.com/x", "secret": "s" * 16})


def test_a_config_takes_every_event_by_default_and_can_narrow_them():
    every = CrmConfig(kind="webhook", webhook={"url": "https://h.example.com", "secret": "s" * 16})
    narrow = every.model_copy(update={"events": ["LeadQualified"]})
    off = every.model_copy(update={"enabled": False})

    assert every.wants("LeadCreated") and every.wants("ConversationSummarized")
    assert narrow.wants("LeadQualified") and not narrow.wants("LeadCreated")
    assert not off.wants("LeadQualified")


def test_hubspot_defaults_map_piloto_stages_onto_the_default_pipeline():
    config = CrmConfig(kind="hubspot", hubspot={"access_token": "t"})
    assert config.hubspot.pipeline == "default"
    assert config.hubspot.stage_map[LeadStage.QUALIFIED] == "qualifiedtobuy"
    assert config.hubspot.stage_map[LeadStage.WON] == "closedwon"
    assert LeadStage.NEW not in config.hubspot.stage_map, "a HubSpot deal starts at qualification"


def test_secrets_do_not_show_in_a_config_repr():
    config = CrmConfig(kind="webhook", webhook={"url": "https://h.example.com", "secret": "super-secret-0123456789"})
    assert "super-secret" not in repr(config)


def test_the_webhook_signature_is_hmac_sha256_of_the_raw_body():
    body = b'{"type":"LeadCreated"}'
    expected = "sha256=" + hmac.new(b"k" * 20, body, hashlib.sha256).hexdigest()

    assert webhook_signature("k" * 20, body) == expected
    assert verify_webhook_signature("k" * 20, body, expected)
    assert not verify_webhook_signature("k" * 20, body + b" ", expected)
    assert not verify_webhook_signature("other-secret-000000", body, expected)
    assert not verify_webhook_signature("k" * 20, body, None)


@pytest.mark.parametrize(("url", "allow_http", "reason"), [
    ("http://hook.example.com/x", False, "https"),
    ("ftp://hook.example.com/x", True, "absolute https"),
    ("https://metadata.google.internal/computeMetadata/v1/", False, "internal host"),
    ("https://169.254.169.254/latest", True, "private address"),
    ("https://10.0.0.8/hook", False, "private address"),
    ("https://127.0.0.1/hook", False, "private address"),
])
def test_unsafe_webhook_urls_are_refused(url, allow_http, reason):
    with pytest.raises(CrmMisconfigured, match=reason):
        check_webhook_url(url, allow_http)


def test_public_https_urls_and_local_http_when_allowed_pass():
    check_webhook_url("https://hook.us1.make.com/abc123", allow_http=False)
    check_webhook_url("https://n8n.example.com.br/webhook/piloto", allow_http=False)
    check_webhook_url("http://127.0.0.1:8099/hooks/demo", allow_http=True)


def test_names_split_into_first_and_the_rest():
    assert split_name("Mariana de Souza") == ("Mariana", "de Souza")
    assert split_name("Ana") == ("Ana", None)
    assert split_name("  ") == (None, None)


def test_every_event_leaves_a_portuguese_note_except_an_update_with_nothing_unplaced():
    notes = {e.type: note_for(e, {}) for e in one_of_each()}

    assert notes["LeadUpdated"] is None
    assert all(text.startswith("[Piloto] ") for t, text in notes.items() if t != "LeadUpdated")
    assert "Primeira mensagem: “Oi!”" in notes["LeadCreated"]
    assert "nota 80/100" in notes["LeadQualified"] and "monthly_bill: 450" in notes["LeadQualified"]
    assert "qualificado → reunião" in notes["LeadStageChanged"]
    assert "25/11/2026 14:00 (horário de Brasília)" in notes["MeetingRequested"]
    assert "pelo lead" in notes["HandoffRequested"] and "SAIR" in notes["LeadOptedOut"]
    assert "12 mensagens" in notes["ConversationSummarized"]


def test_fields_no_property_takes_go_into_the_note_instead_of_being_lost():
    update = LeadUpdated(event_id=LeadUpdated.make_id("acme", "x"), payload={"fields": {"city": "Campinas"}}, **COMMON)
    assert note_for(update, {"city": "Campinas"}) == "[Piloto] Dados do lead: city: Campinas"


def test_lead_fields_carry_name_email_and_answers_but_not_empty_values():
    update = LeadUpdated(event_id="evt-00000001", payload={"fields": {"email": "m@x.com", "city": "", "bill": 450}},
                         **{**COMMON, "contact": Contact(phone="+5511987654321", name="Mari")})
    assert lead_fields(update) == {"name": "Mari", "email": "m@x.com", "bill": 450}


def test_each_event_moves_the_deal_where_it_belongs():
    created = lead_created(agent_id="default", **COMMON)
    stage = LeadStageChanged(event_id="evt-00000002", payload={"to_stage": "won"}, **COMMON)
    assert stage_target(created) is LeadStage.NEW
    assert stage_target(stage) is LeadStage.WON
    assert [stage_target(e) for e in one_of_each()][1] is LeadStage.QUALIFIED


def test_an_older_stage_change_is_stale_after_a_newer_one_was_applied():
    at = datetime(2026, 11, 21, 12, tzinfo=UTC)
    link = CrmLink(contact_key="k", crm=CrmKind.HUBSPOT, stage=LeadStage.MEETING, stage_changed_at=at)
    older = LeadStageChanged(event_id="evt-00000003", payload={"to_stage": "qualified"},
                             **{**COMMON, "occurred_at": at - timedelta(minutes=1)})
    newer = LeadStageChanged(event_id="evt-00000004", payload={"to_stage": "won"},
                             **{**COMMON, "occurred_at": at + timedelta(minutes=1)})

    assert is_stale_stage(link, older) and not is_stale_stage(link, newer)
    assert not is_stale_stage(CrmLink(contact_key="k", crm=CrmKind.HUBSPOT), older)


def test_deal_titles_use_the_name_or_the_phone():
    config = CrmConfig(kind="hubspot", hubspot={"access_token": "t"}, deal_title="{name} ({phone})")
    assert config.title_for("Ana", "+5511") == "Ana (+5511)"
    assert config.title_for(None, "+5511") == "+5511 (+5511)"


def test_phone_numbers_in_a_crms_error_message_are_masked_for_the_logs():
    from shared.domain.phone import mask_phones_in

    text = "phone +55 11 98765-4321 is invalid; contact 5511987654321 exists; HTTP 400 at 2026-11-21"
    masked = mask_phones_in(text)
    assert "98765" not in masked and "HTTP 400" in masked and masked.count("+55") == 2
    assert "2026-11-21" in masked


# -- evidence, field policy, rate limits (issue 20) -------------------------------------------------------

@pytest.mark.parametrize(("stored", "matches"), [
    ("+5511987654321", True),
    ("+551187654321", True),            # WhatsApp's id without the ninth digit
    ("(11) 98765-4321", True),          # typed by a seller, no country code
    ("11 8765-4321", True),
    ("+5521987654321", False),          # same digits, another area code
    ("+5511987654320", False),
    ("", False),
])
def test_a_crm_phone_is_the_leads_line_in_any_ninth_digit_form_and_format(stored, matches):
    assert crm_phone_matches(stored, "+5511987654321") is matches


def test_a_search_hit_is_the_lead_only_with_evidence():
    assert is_same_lead("+5511987654321", None, ["+551187654321"], [])
    assert is_same_lead("+5511987654321", "Ana@Example.com", ["+5521999990000"], ["ana@example.com "])
    assert not is_same_lead("+5511987654321", None, ["+5521999990000"], ["ana@example.com"])
    assert not is_same_lead("+5511987654321", "", [], [""])


def test_fill_empty_fields_only_fill_what_the_crm_lacks():
    fields = {"name": "Mariana", "email": "m@x.com", "monthly_bill": 450}
    policy = {"name": FieldPolicy.FILL_EMPTY, "email": FieldPolicy.FILL_EMPTY, "monthly_bill": FieldPolicy.OVERWRITE}

    assert fields_to_write(fields, {"name": "Mari (loja)", "email": " ", "monthly_bill": 300}, policy) == {
        "email": "m@x.com", "monthly_bill": 450}


def test_name_and_email_default_to_fill_empty_and_answers_to_overwrite():
    config = CrmConfig(kind="webhook", webhook={"url": "https://example.com/h", "secret": "s" * 16},
                       field_policy={"email": "overwrite"})
    assert config.policy_for("name") is FieldPolicy.FILL_EMPTY
    assert config.policy_for("email") is FieldPolicy.OVERWRITE
    assert config.policy_for("monthly_bill") is FieldPolicy.OVERWRITE


def test_retry_after_seconds_and_dates_and_hubspots_daily_limit_say_when_to_come_back():
    now = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)  # 15:00 in Brasília
    seconds = httpx.Response(429, headers={"Retry-After": "30"})
    date = httpx.Response(429, headers={"Retry-After": "Sun, 29 Nov 2026 18:05:00 GMT"})
    daily = httpx.Response(429, json={"status": "error", "message": "daily", "policyName": "DAILY"})
    daily_header = httpx.Response(429, headers={"X-HubSpot-RateLimit-Daily-Remaining": "0"})
    reset = httpx.Response(429, headers={"x-ratelimit-reset": "2"})

    assert retry_at(seconds, now) == datetime(2026, 11, 29, 18, 0, 30, tzinfo=UTC)
    assert retry_at(date, now) == datetime(2026, 11, 29, 18, 5, tzinfo=UTC)
    assert retry_at(daily, now) == retry_at(daily_header, now) == datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    assert retry_at(reset, now) == datetime(2026, 11, 29, 18, 0, 2, tzinfo=UTC)
    assert retry_at(httpx.Response(503), now) is None
