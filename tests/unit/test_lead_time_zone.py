"""The lead's time zone for meetings: from their words, else their number's area, else the business's; offers
and answers in the lead's clock with the business's beside it; DST abroad judged at each slot's own instant."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from shared.domain.lead import LeadProfile, apply_update
from shared.domain.phone import phone_time_zone
from shared.domain.scheduling import (
    CalendarConfig,
    Interval,
    ZoneSource,
    awake_for_lead,
    describe_for_business,
    describe_for_lead,
    free_slots,
    parse_choice,
    resolve_lead_zone,
    slot_at,
    zone_for_place,
    zone_of_words,
)
from shared.domain.tenancy import AgentConfig

SP = "America/Sao_Paulo"
LISBON = "Europe/Lisbon"
MANAUS_MOBILE = "+5592991234567"


@pytest.mark.parametrize(("phone", "zone"), [
    (MANAUS_MOBILE, "America/Manaus"),  # DDD 92, UTC-4
    ("+559291234567", "America/Manaus"),  # the same line's WhatsApp id without the ninth digit
    ("+5568991234567", "America/Rio_Branco"),  # DDD 68 Acre, UTC-5
    ("+5581991234567", "America/Recife"),  # DDD 81 Recife, UTC-3 (libphonenumber says Noronha: corrected)
    ("+5593991234567", "America/Santarem"),  # Pará is UTC-3 (libphonenumber puts 93 landlines in Manaus)
    ("+5511991234567", SP),
    ("+12125551234", "America/New_York"),
    ("+351912345678", None),  # a Portuguese mobile: Lisbon or the Azores, so unknown
    ("chat:web-visitor", None),  # the /chat API's ids are no phone
])
def test_a_phone_number_gives_its_areas_zone_only_when_there_is_one(phone, zone):
    assert phone_time_zone(phone) == zone


def test_libphonenumber_still_needs_the_ddd_81_correction():
    """If this fails, the pinned phonenumbers fixed its data: the correction table in phone.py can go."""
    import phonenumbers
    from phonenumbers import timezone

    assert timezone.time_zones_for_number(phonenumbers.parse("+5581991234567")) == ("America/Noronha",)


@pytest.mark.parametrize(("words", "zone"), [
    ("sou de Manaus", "America/Manaus"),
    ("estou em Lisboa", LISBON),
    ("Rio Branco - AC", "America/Rio_Branco"),
    ("Cuiabá/MT", "America/Cuiaba"),
    ("Campo Grande, Mato Grosso do Sul", "America/Campo_Grande"),  # not Mato Grosso's Cuiabá
    ("moro em Fernando de Noronha", "America/Noronha"),
    ("em SP", SP),
    ("America/Manaus", "America/Manaus"),  # an IANA name as the model may pass it
    ("Estados Unidos", None),  # several zones: the agent asks the city
    ("Brasil", None),
    ("Xique-Xique da Serra", None),
])
def test_a_place_the_lead_names_maps_to_its_zone(words, zone):
    assert zone_for_place(words) == zone


def test_the_leads_words_beat_the_number_which_beats_the_business():
    said = resolve_lead_zone(LISBON, MANAUS_MOBILE, SP)
    assert (said.name, said.source) == (LISBON, ZoneSource.SAID)
    phone = resolve_lead_zone(None, MANAUS_MOBILE, SP)
    assert (phone.name, phone.source) == ("America/Manaus", ZoneSource.PHONE)
    unknown = resolve_lead_zone("not/a zone", "+351912345678", SP)
    assert (unknown.name, unknown.source) == (SP, ZoneSource.BUSINESS)


def test_an_offer_shows_the_leads_clock_and_brasilias_when_they_differ():
    start = datetime(2026, 12, 3, 15, 0, tzinfo=ZoneInfo(SP))
    assert describe_for_lead(start, "America/Manaus", SP) == "qui 03/12 às 14h00 no seu horário (15h00 em Brasília)"
    assert describe_for_lead(start, "America/Noronha", SP) == "qui 03/12 às 16h00 no seu horário (15h00 em Brasília)"
    assert describe_for_lead(start, "America/Recife", SP) == "qui 03/12 às 15h00"  # same clock: one time
    late = datetime(2026, 12, 3, 6, 0, tzinfo=ZoneInfo(SP))  # 23h the day before in Honolulu: both dates
    assert describe_for_lead(late, "Pacific/Honolulu", SP) == (
        "qua 02/12 às 23h00 no seu horário (qui 03/12 às 06h00 em Brasília)")
    assert describe_for_business(start, "America/Manaus", SP) == "qui 03/12 às 15h00 (14h00 no horário do lead, Manaus)"
    assert describe_for_business(start, None, SP) == "qui 03/12 às 15h00"


def test_lisbon_across_its_dst_change_moves_the_difference_from_three_to_four_hours():
    """Portugal moves its clocks on the last Sunday of March (2027-03-28); Brazil has had no DST since 2019.
    The same 10h in São Paulo is 13h in Lisbon on Friday and 14h on Monday."""
    config = CalendarConfig(calendar_ids=["ana"], time_zone=SP, kinds=[{"name": "Reunião", "place": "video"}],
                            min_notice_minutes=0, horizon_days=7)
    kind = config.kinds[0]
    now = datetime(2027, 3, 24, 9, 0, tzinfo=ZoneInfo(SP))  # a Wednesday
    slots = free_slots(config, kind, {"ana": []}, now)
    friday = slot_at(datetime(2027, 3, 26, 10, 0, tzinfo=ZoneInfo(SP)), slots)
    monday = slot_at(datetime(2027, 3, 29, 10, 0, tzinfo=ZoneInfo(SP)), slots)
    assert describe_for_lead(friday, LISBON, SP) == "sex 26/03 às 13h00 no seu horário (10h00 em Brasília)"
    assert describe_for_lead(monday, LISBON, SP) == "seg 29/03 às 14h00 no seu horário (10h00 em Brasília)"
    # The lead's answers, read in Lisbon's clock on each side of the change, land on the same 10h slot.
    for said, slot in (("sexta às 13h", friday), ("segunda-feira às 14h", monday)):
        choice = parse_choice(said, [], now, ZoneInfo(LISBON))
        assert choice is not None and slot_at(choice.wanted, slots) == slot


def test_a_time_alone_matches_the_offer_at_that_hour_on_the_leads_clock():
    config = CalendarConfig(calendar_ids=["ana"], kinds=[{"name": "Visita"}], min_notice_minutes=0)
    now = datetime(2026, 11, 30, 8, 0, tzinfo=ZoneInfo(SP))
    offered = free_slots(config, config.kinds[0], {"ana": [Interval(now, now + timedelta(hours=5))]}, now)[:3]
    choice = parse_choice("pode ser às 12h", offered, now, ZoneInfo("America/Manaus"))  # 13h in Brasília
    assert choice is not None and offered[choice.offered_index].start.astimezone(ZoneInfo(SP)).hour == 13


@pytest.mark.parametrize(("words", "zone"), [
    ("pode ser quinta às 15h", "America/Manaus"),
    ("quinta às 15h no meu horário", "America/Manaus"),
    ("quinta às 15h de Brasília", SP),
    ("quinta 15h, horário de Brasília", SP),
    ("quinta às 15h no horário de vocês", "America/Cuiaba"),
    ("quinta às 15h no seu horário", "America/Cuiaba"),
])
def test_whose_clock_a_named_time_is_on(words, zone):
    assert zone_of_words(words, "America/Manaus", "America/Cuiaba") == zone


def test_where_the_lead_is_is_kept_on_their_profile_with_its_zone():
    profile, change = apply_update(LeadProfile(phone=MANAUS_MOBILE), {"location": "Lisboa"})
    assert (profile.location, profile.time_zone) == ("Lisboa", LISBON)
    assert change.changed == {"location": "Lisboa", "time_zone": LISBON}
    profile, change = apply_update(profile, {"location": "Estados Unidos"})
    assert (profile.location, profile.time_zone) == ("Estados Unidos", LISBON)  # unknown zone: the last one stays
    profile, _ = apply_update(profile, {"location": "Estados Unidos", "time_zone": "America/Chicago"})
    assert profile.time_zone == "America/Chicago"
    profile, change = apply_update(profile, {"time_zone": "Chicago"})  # not an IANA name: ignored
    assert profile.time_zone == "America/Chicago" and change.empty


def test_a_seller_names_their_calendar_and_only_they_are_told_of_its_meetings():
    calendar = {"calendar_ids": ["ana@x.com", "bruno@x.com", "equipe@x.com"], "kinds": [{"name": "Visita"}]}
    agent = AgentConfig(calendar=calendar, sellers=[
        {"name": "Ana", "phone": "+5511900001111", "calendar_id": "ana@x.com"},
        {"name": "Bruno", "phone": "+5511900002222", "calendar_id": "bruno@x.com"}])
    assert [s.name for s in agent.sellers_for_calendar("bruno@x.com")] == ["Bruno"]
    assert [s.name for s in agent.sellers_for_calendar("equipe@x.com")] == ["Ana", "Bruno"]  # nobody's: everyone
    with pytest.raises(ValidationError, match="calendar_id is not one of calendar.calendar_ids"):
        AgentConfig(calendar=calendar, sellers=[{"name": "Ana", "phone": "+5511900001111", "calendar_id": "ana@y"}])
    with pytest.raises(ValidationError, match="calendar_id"):
        AgentConfig(sellers=[{"name": "Ana", "phone": "+5511900001111", "calendar_id": "ana@x.com"}])


def test_a_lead_far_away_is_offered_times_inside_their_own_day_when_there_are_any():
    """São Paulo's 9h-18h is 21h-6h in Tokyo: only the 9h start (21h-22h in Tokyo) is a time to offer there."""
    config = CalendarConfig(calendar_ids=["ana"], kinds=[{"name": "Reunião", "place": "video"}], min_notice_minutes=0)
    now = datetime(2026, 11, 30, 8, 0, tzinfo=ZoneInfo(SP))
    slots = free_slots(config, config.kinds[0], {"ana": []}, now)
    tokyo = awake_for_lead(slots, "Asia/Tokyo")
    assert tokyo and {s.start.astimezone(ZoneInfo(SP)).hour for s in tokyo} == {9}
    assert {s.start.minute for s in tokyo} == {0}
    assert awake_for_lead(slots, "America/Manaus") == slots  # 8h-17h in Manaus: all inside the day
    late_only = [s for s in slots if s.start.astimezone(ZoneInfo(SP)).hour >= 12]
    assert awake_for_lead(late_only, "Asia/Tokyo") == late_only  # nothing inside their day: the lead still chooses
