"""Scheduling rules: free slots from free/busy, offers, the lead's answer, alternatives, event ids."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from shared.domain.scheduling import (
    CalendarConfig,
    Choice,
    Interval,
    MeetingKind,
    MeetingPlace,
    Slot,
    choose_offers,
    describe_slot,
    free_slots,
    meeting_event_id,
    nearest_free,
    parse_choice,
    within_hours,
)
from shared.domain.tenancy import AgentConfig

SP = ZoneInfo("America/Sao_Paulo")
# Monday 2026-11-30, 08:00 in São Paulo (UTC-3, no DST in Brazil since 2019)
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=SP)
VISIT = MeetingKind(name="Visita técnica", duration_minutes=60, buffer_minutes=30, place=MeetingPlace.VISIT)


def config(**over) -> CalendarConfig:
    base = {"calendar_ids": ["ana@empresa.com.br"], "kinds": [VISIT.model_dump()], "min_notice_minutes": 120,
            "horizon_days": 7}
    return CalendarConfig.model_validate(base | over)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SP) if day <= 30 else datetime(
        2026, 12, day - 30, hour, minute, tzinfo=SP)


def test_first_slot_respects_notice_and_working_hours():
    slots = free_slots(config(), VISIT, {"ana@empresa.com.br": []}, NOW)
    assert slots[0].start == at(30, 10)  # 08:00 + 2 h notice
    assert all(s.start.astimezone(SP).time() >= time(9) and s.end.astimezone(SP).time() <= time(18) for s in slots)
    assert all(s.start.astimezone(SP).weekday() < 5 for s in slots)  # Monday to Friday by default
    assert slots[-1].start < NOW + timedelta(days=7)


def test_busy_time_and_its_buffer_are_never_offered():
    busy = {"ana@empresa.com.br": [Interval(at(30, 13), at(30, 14))]}
    starts = {s.start for s in free_slots(config(), VISIT, busy, NOW)}
    # 60 min + 30 min buffer each side: 11:30 ends 12:30 (+30 = 13:00) is fine; 12:00 would touch the buffer
    assert at(30, 11, 30) in starts
    assert at(30, 12) not in starts and at(30, 13) not in starts and at(30, 14) not in starts
    assert at(30, 14, 30) in starts


def test_slots_are_never_in_the_past_even_with_no_notice():
    late = datetime(2026, 11, 30, 15, 10, tzinfo=SP)
    slots = free_slots(config(min_notice_minutes=0), VISIT, {"ana@empresa.com.br": []}, late)
    assert slots[0].start == at(30, 15, 30)


def test_utc_busy_intervals_are_compared_as_instants():
    busy = {"ana@empresa.com.br": [Interval(datetime(2026, 11, 30, 13, 0, tzinfo=UTC),
                                            datetime(2026, 11, 30, 20, 0, tzinfo=UTC))]}  # 10:00-17:00 local
    monday = [s for s in free_slots(config(), VISIT, busy, NOW) if s.start.date() == NOW.date()]
    assert monday == []  # 17:30 would end 18:30, after hours


def test_a_second_seller_takes_the_slot_the_first_cannot():
    cfg = config(calendar_ids=["ana@x.com", "bia@x.com"])
    busy = {"ana@x.com": [Interval(at(30, 9), at(30, 18))], "bia@x.com": []}
    first = free_slots(cfg, VISIT, busy, NOW)[0]
    assert (first.start, first.calendar_id) == (at(30, 10), "bia@x.com")


def test_a_calendar_whose_free_busy_failed_is_not_offered():
    cfg = config(calendar_ids=["ana@x.com", "bia@x.com"])
    assert {s.calendar_id for s in free_slots(cfg, VISIT, {"bia@x.com": []}, NOW)} == {"bia@x.com"}


def test_offers_spread_over_days():
    slots = free_slots(config(), VISIT, {"ana@empresa.com.br": []}, NOW)
    offers = choose_offers(slots, 3)
    assert len(offers) == 3 and len({o.start.date() for o in offers}) == 3
    assert offers[0] == slots[0]


def test_offers_vary_the_time_of_day_when_only_one_day_is_free():
    slots = [Slot(at(30, h), at(30, h + 1), "a") for h in (10, 11, 14, 15)]
    offers = choose_offers(slots, 2)
    assert [o.start.hour for o in offers] == [10, 14]


@pytest.mark.parametrize("said,index", [("o primeiro", 0), ("a segunda opção", 1), ("Segunda!", 1),
                                        ("pode ser o terceiro", 2), ("2", 1), ("opção 3", 2), ("a última", 2),
                                        ("quero a 2", 1)])
def test_the_lead_picks_an_offer_by_position(said, index):
    offered = [Slot(at(30, 10), at(30, 11), "a"), Slot(at(31, 14), at(31, 15), "a"), Slot(at(32, 9), at(32, 10), "a")]
    assert parse_choice(said, offered, NOW, SP) == Choice(offered_index=index)


def test_a_position_beyond_the_offers_is_not_a_choice():
    assert parse_choice("o terceiro", [Slot(at(30, 10), at(30, 11), "a")], NOW, SP) is None


@pytest.mark.parametrize("said,expected", [
    ("pode ser quinta às 15h", at(33, 15)),  # Thursday 3 December
    ("amanhã 10h30", at(31, 10, 30)),
    ("segunda-feira às 9h", at(37, 9)),  # next Monday, not today
    ("dia 02/12 as 3 da tarde", at(32, 15)),
    ("hoje às 16:00", at(30, 16)),
])
def test_the_lead_names_a_day_and_time_in_the_business_zone(said, expected):
    assert parse_choice(said, [], NOW, SP) == Choice(wanted=expected)


def test_a_time_alone_matches_the_offer_at_that_time():
    offered = [Slot(at(30, 10), at(30, 11), "a"), Slot(at(31, 14), at(31, 15), "a")]
    assert parse_choice("às 14h", offered, NOW, SP) == Choice(offered_index=1)


def test_a_day_without_a_time_asks_for_that_day():
    assert parse_choice("pode ser na sexta", [], NOW, SP).day_only == at(34, 0).date()


def test_words_without_a_choice_are_none():
    offered = [Slot(at(30, 10), at(30, 11), "a"), Slot(at(31, 10), at(31, 11), "a")]
    assert parse_choice("quanto custa o painel?", offered, NOW, SP) is None
    assert parse_choice("daqui a 2 semanas", offered, NOW, SP) is None  # not option 2


def test_nearest_free_slots_surround_the_busy_time_named():
    slots = [Slot(at(33, h), at(33, h + 1), "a") for h in (9, 10, 11, 16, 17)]
    assert [s.start.hour for s in nearest_free(at(33, 15), slots, 3)] == [11, 16, 17]


def test_outside_hours_is_detected():
    cfg = config()
    assert within_hours(cfg, at(33, 15), VISIT)
    assert not within_hours(cfg, at(33, 17, 30), VISIT)  # would end 18:30
    assert not within_hours(cfg, at(35, 10), VISIT)  # Saturday


def test_event_ids_are_base32hex_deterministic_and_distinct_per_conversation():
    first = meeting_event_id("t1", "conv-1")
    assert first == meeting_event_id("t1", "conv-1")
    assert first != meeting_event_id("t1", "conv-2") != meeting_event_id("t2", "conv-1")
    assert set(first) <= set("0123456789abcdefghijklmnopqrstuv") and 5 <= len(first) <= 1024


def test_calendar_config_rejects_unknown_fields_zones_and_inverted_hours():
    with pytest.raises(ValidationError):
        config(colour="blue")
    with pytest.raises(ValidationError, match="time zone"):
        config(time_zone="Brasil/Sao_Paulo")
    with pytest.raises(ValidationError):
        config(hours={"start": "18:00", "end": "09:00"})


def test_agents_have_no_calendar_unless_configured():
    assert AgentConfig().calendar is None
    agent = AgentConfig.model_validate({"calendar": {"calendar_ids": ["a@x.com"], "kinds": [{"name": "Visita"}]}})
    assert agent.calendar.kind("visita").name == "Visita"


def test_slots_read_in_portuguese():
    assert describe_slot(at(33, 15), SP) == "qui 03/12 às 15h00"


def test_a_reply_offering_calendar_slots_is_never_cached_for_other_leads():
    from shared.domain.answer_cache import why_not_cacheable

    common = {"held": False, "handoff": False, "lead_changed": False, "reply": "Tenho qui 03/12 às 15h00.",
              "lead_terms": set()}
    assert why_not_cacheable(tool_calls=[{"name": "lookup_catalog"}], **common) is None
    assert "offer_slots" in why_not_cacheable(tool_calls=[{"name": "offer_slots"}], **common)
    assert "book_meeting" in why_not_cacheable(tool_calls=[{"name": "book_meeting"}], **common)
