"""The cadence's pure rules: when a step is due, quiet hours in São Paulo, the 24 h window and opt-out words."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from pydantic import ValidationError

from shared.domain.followup import (
    FollowupCadence,
    FollowupStep,
    OutsideWindowPolicy,
    SendMode,
    TemplateRef,
    fill_template_params,
    next_business_moment,
    opt_out_keyword,
    send_mode,
    step_due,
    within_business_hours,
    within_service_window,
)
from shared.domain.ids import followup_message_id, followup_task_name
from shared.domain.inbound import Provider

CADENCE = FollowupCadence(enabled=True)
# 2026-11-23 is a Monday. São Paulo is UTC-3 (no daylight saving since 2019).
MONDAY_10H_SP = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


def sp(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour + 3, minute, tzinfo=UTC) if hour + 3 < 24 else \
        datetime(2026, 11, day + 1, hour + 3 - 24, minute, tzinfo=UTC)


def test_a_step_due_in_business_hours_goes_out_after_its_delay():
    assert step_due(MONDAY_10H_SP, FollowupStep(delay_minutes=60), CADENCE) == MONDAY_10H_SP + timedelta(hours=1)


def test_a_step_due_at_night_waits_for_the_next_morning_in_sao_paulo():
    evening = sp(23, 17, 30)  # Monday 17:30 in São Paulo
    due = step_due(evening, FollowupStep(delay_minutes=60), CADENCE)
    assert due == sp(24, 9, 0)  # Tuesday 09:00 local = 12:00 UTC
    assert due.utcoffset() == timedelta(0)


def test_a_step_due_before_opening_waits_until_opening_the_same_day():
    assert next_business_moment(sp(24, 6, 15), CADENCE) == sp(24, 9, 0)


def test_saturday_night_waits_for_monday_when_sunday_is_closed():
    assert next_business_moment(sp(28, 20, 0), CADENCE) == sp(30, 9, 0)  # Sat 28 → Mon 30


def test_business_hours_follow_the_configured_zone_and_days():
    manaus = FollowupCadence(time_zone="America/Manaus", business_days=[0, 1, 2, 3, 4],
                             business_start=time(8), business_end=time(12))
    assert within_business_hours(datetime(2026, 11, 23, 12, 30, tzinfo=UTC), manaus)  # 08:30 in Manaus (UTC-4)
    assert not within_business_hours(datetime(2026, 11, 23, 16, 30, tzinfo=UTC), manaus)  # 12:30
    assert not within_business_hours(datetime(2026, 11, 28, 13, 0, tzinfo=UTC), manaus)  # Saturday


def test_invalid_cadence_configuration_is_refused_with_a_reason():
    with pytest.raises(ValidationError, match="business_start"):
        FollowupCadence(business_start=time(18), business_end=time(9))
    with pytest.raises(ValidationError):
        FollowupCadence(time_zone="Mars/Olympus")
    with pytest.raises(ValidationError, match="business_days"):
        FollowupCadence(business_days=[7])


def test_the_service_window_is_24_hours_after_the_lead_s_last_message():
    last = MONDAY_10H_SP
    assert within_service_window(last, last + timedelta(hours=23, minutes=59))
    assert not within_service_window(last, last + timedelta(hours=24))
    assert not within_service_window(None, last)


def test_inside_the_window_the_model_writes_the_follow_up_on_every_provider():
    for provider in Provider:
        assert send_mode(provider, True, FollowupStep(delay_minutes=1), CADENCE) is SendMode.FREE_FORM


def test_outside_the_window_meta_sends_only_an_approved_template():
    with_template = FollowupStep(delay_minutes=1, template=TemplateRef(name="retomar"))
    assert send_mode(Provider.META, False, with_template, CADENCE) is SendMode.TEMPLATE
    assert send_mode(Provider.META, False, FollowupStep(delay_minutes=1), CADENCE) is SendMode.SKIP


def test_outside_the_window_unofficial_gateways_follow_the_configured_policy():
    step = FollowupStep(delay_minutes=1, template=TemplateRef(name="retomar"))
    assert send_mode(Provider.ZAPI, False, step, CADENCE) is SendMode.SKIP
    free = FollowupCadence(outside_window_policy=OutsideWindowPolicy.FREE_FORM)
    assert send_mode(Provider.EVOLUTION, False, step, free) is SendMode.FREE_FORM


@pytest.mark.parametrize("text", ["PARAR", "parar!", "Sair", "não quero mais", "Nao quero mais, obrigado",
                                  "pare por favor"])
def test_short_stop_messages_are_opt_outs(text):
    assert opt_out_keyword(text, CADENCE) is not None


@pytest.mark.parametrize("text", ["Quero saber o preço", "vou sair de casa agora e depois te respondo com calma ok",
                                  "quero sair do aluguel", "posso parar de pagar conta de luz?",
                                  "parabéns pelo atendimento", "", None])
def test_ordinary_messages_are_not_opt_outs(text):
    assert opt_out_keyword(text, CADENCE) is None


def test_opt_out_keywords_are_configurable():
    custom = FollowupCadence(opt_out_keywords=["cancelar"])
    assert opt_out_keyword("Cancelar", custom) == "cancelar"
    assert opt_out_keyword("parar", custom) is None


def test_template_params_are_filled_with_the_lead_s_first_name_and_the_business():
    template = TemplateRef(name="retomar", params=["{contact_name}", "{business_name}", "{unknown}"])
    assert fill_template_params(template, "Mariana Souza", "Sol & Cia") == ["Mariana", "Sol & Cia", "{unknown}"]


def test_task_and_message_names_are_deterministic_per_conversation_step_and_anchor():
    assert followup_task_name("t", "c", 0, "m1") == followup_task_name("t", "c", 0, "m1")
    assert len({followup_task_name("t", "c", 0, "m1"), followup_task_name("t", "c", 1, "m1"),
                followup_task_name("t", "c", 0, "m2")}) == 3
    assert followup_message_id("m1", 0) != followup_message_id("m1", 1)


def test_a_named_template_fills_its_parameters_by_name():
    template = TemplateRef(name="retomar", params={"first_name": "{contact_name}", "loja": "{business_name}"})

    assert fill_template_params(template, "Mariana Souza", "Sol & Cia") == {"first_name": "Mariana",
                                                                           "loja": "Sol & Cia"}


def test_named_template_parameters_follow_metas_naming_rule():
    with pytest.raises(ValueError, match="lowercase"):
        TemplateRef(name="retomar", params={"First Name": "{contact_name}"})
