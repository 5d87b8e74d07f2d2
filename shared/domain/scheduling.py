"""Meetings on the sellers' calendars: which slots are free, which to offer, what the lead chose.

Pure rules: no clock (the caller passes `now`), no calendar API (the caller passes busy intervals). Every
time is timezone-aware; working hours are read in the business's time zone, so "9h às 18h" stays right across
daylight-saving changes and for a lead in another state.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.domain.followup import TemplateRef


class MeetingPlace(StrEnum):
    VISIT = "visit"  # at the lead's address (a technical visit)
    CALL = "call"  # a phone call
    VIDEO = "video"  # a video call; a Meet link when the calendar allows it


class MeetingKind(BaseModel):
    """One kind of meeting the agent offers: 'Visita técnica', 60 min, 30 min buffer, at the lead's place."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    duration_minutes: int = Field(default=60, ge=5, le=480)
    buffer_minutes: int = Field(default=0, ge=0, le=240, description="kept free before and after (travel, notes)")
    place: MeetingPlace = MeetingPlace.CALL


class WorkingHours(BaseModel):
    """When meetings may happen, in the business's time zone. Weekdays: 0 = Monday … 6 = Sunday."""

    model_config = ConfigDict(extra="forbid")

    weekdays: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], min_length=1)
    start: time = time(9, 0)
    end: time = time(18, 0)

    @field_validator("weekdays")
    @classmethod
    def _valid_weekdays(cls, days: list[int]) -> list[int]:
        if any(d < 0 or d > 6 for d in days):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return sorted(set(days))

    @model_validator(mode="after")
    def _start_before_end(self) -> WorkingHours:
        if self.start >= self.end:
            raise ValueError("working hours must start before they end")
        return self


class CalendarConfig(BaseModel):
    """AgentConfig.calendar: booking on the sellers' Google Calendars. Absent = request-and-confirm."""

    model_config = ConfigDict(extra="forbid")

    calendar_ids: list[str] = Field(min_length=1, max_length=20,
                                    description="Google Calendar ids of the sellers, shared with Piloto's account")
    time_zone: str = Field(default="America/Sao_Paulo", description="IANA zone of the business's working hours")
    kinds: list[MeetingKind] = Field(min_length=1, description="meeting kinds offered; the first is the default")
    hours: WorkingHours = Field(default_factory=WorkingHours)
    horizon_days: int = Field(default=14, ge=1, le=60, description="how far ahead slots are offered")
    min_notice_minutes: int = Field(default=120, ge=0, le=10080, description="no slot sooner than this")
    slot_step_minutes: int = Field(default=30, ge=5, le=240, description="slots start on this grid")
    reminder_minutes_before: int = Field(default=120, ge=0, le=10080, description="reminder to the lead; 0 = none")
    reminder_template: TemplateRef | None = Field(
        default=None, description="approved Meta template for a reminder outside the 24-hour window (params may use "
                                  "{contact_name}, {business_name}, {meeting_time}); none = skip it there")
    allow_video_links: bool = Field(default=True, description="ask Calendar for a Meet link on video meetings")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as America/Sao_Paulo") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def kind(self, name: str | None) -> MeetingKind:
        """The kind the lead or model named (accent- and case-insensitive), else the first one."""
        if name:
            wanted = _fold(name)
            for kind in self.kinds:
                if _fold(kind.name) == wanted or wanted in _fold(kind.name) or kind.place.value == wanted:
                    return kind
        return self.kinds[0]


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class Slot:
    """A free time on one seller's calendar."""

    start: datetime
    end: datetime
    calendar_id: str


def horizon(config: CalendarConfig, now: datetime) -> Interval:
    """The window free/busy is asked for: from the earliest allowed start to the end of the horizon."""
    start = now + timedelta(minutes=config.min_notice_minutes)
    return Interval(start, now + timedelta(days=config.horizon_days))


def free_slots(config: CalendarConfig, kind: MeetingKind, busy: dict[str, list[Interval]], now: datetime,
               limit: int = 200) -> list[Slot]:
    """Free starts on the grid, inside working hours, after the notice, with the kind's buffer kept free.

    A slot belongs to the first listed calendar that is free then (sellers in the agent's order). A calendar
    missing from `busy` (free/busy could not be read for it) is never offered.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    zone = config.zone
    window = horizon(config, now)
    length = timedelta(minutes=kind.duration_minutes)
    buffer = timedelta(minutes=kind.buffer_minutes)
    step = timedelta(minutes=config.slot_step_minutes)
    calendars = [c for c in config.calendar_ids if c in busy]
    slots: list[Slot] = []
    day = window.start.astimezone(zone).date()
    last_day = window.end.astimezone(zone).date()
    while day <= last_day and len(slots) < limit:
        if day.weekday() in config.hours.weekdays:
            opens = datetime.combine(day, config.hours.start, zone)
            closes = datetime.combine(day, config.hours.end, zone)
            start = opens
            while start + length <= closes and len(slots) < limit:
                if window.start <= start and start + length <= window.end:
                    guarded = Interval(start - buffer, start + length + buffer)
                    owner = next((c for c in calendars if not any(guarded.overlaps(b) for b in busy[c])), None)
                    if owner is not None:
                        slots.append(Slot(start, start + length, owner))
                start += step
        day += timedelta(days=1)
    return slots


def choose_offers(slots: list[Slot], count: int = 3) -> list[Slot]:
    """Two or three slots a person can choose between: the soonest, then other days and other times of day."""
    if not slots:
        return []
    chosen = [slots[0]]
    for slot in slots[1:]:
        if len(chosen) >= count:
            break
        if all(slot.start.date() != c.start.date() for c in chosen):
            chosen.append(slot)
    for slot in slots[1:]:  # too few days: vary the part of the day (morning / afternoon)
        if len(chosen) >= count:
            break
        if slot not in chosen and all(_half(slot) != _half(c) or slot.start.date() != c.start.date() for c in chosen):
            chosen.append(slot)
    for slot in slots[1:]:
        if len(chosen) >= count:
            break
        if slot not in chosen:
            chosen.append(slot)
    return sorted(chosen, key=lambda s: s.start)


def nearest_free(wanted: datetime, slots: list[Slot], count: int = 3) -> list[Slot]:
    """The free slots closest to the time the lead named, soonest first among equals."""
    ranked = sorted(slots, key=lambda s: (abs((s.start - wanted).total_seconds()), s.start))
    return sorted(ranked[:count], key=lambda s: s.start)


def slot_at(wanted: datetime, slots: list[Slot]) -> Slot | None:
    return next((s for s in slots if s.start == wanted), None)


def within_hours(config: CalendarConfig, start: datetime, kind: MeetingKind) -> bool:
    """Whether a meeting of this kind starting then fits the working hours (the buffer may spill over)."""
    local = start.astimezone(config.zone)
    end = local + timedelta(minutes=kind.duration_minutes)
    return (local.weekday() in config.hours.weekdays and local.time() >= config.hours.start
            and end.date() == local.date() and end.time() <= config.hours.end)


# --- Understanding the lead's answer -------------------------------------------------------------------

@dataclass(frozen=True)
class Choice:
    """What the lead's words pick: an offered slot (by position) or a date and time they named."""

    offered_index: int | None = None
    wanted: datetime | None = None
    day_only: date | None = None  # "quinta" without a time: offer that day's slots


_ORDINALS = {"primeir": 0, "segund": 1, "terceir": 2}
_WEEKDAYS = {"segunda": 0, "terca": 1, "quarta": 2, "quinta": 3, "sexta": 4, "sabado": 5, "domingo": 6}
_ORDINAL_RE = re.compile(r"\b(primeir|segund|terceir|ultim)[oa]\b")
_OPTION_NUMBER_RE = re.compile(r"^\s*(?:(?:a\s+)?opcao\s*|o\s+|n[o]?\s*|#)?([123])\s*[.)!]?\s*$|\bopcao\s*([123])\b"
                               r"|\b(?:quero|prefiro|pode ser|fico com|vou de)\s+(?:a|o)\s+([123])\b")
_TIME_RE = re.compile(r"(?:\bas\s+)?\b(\d{1,2})\s*(?:h|:|horas?\b)\s*(\d{2})?|\bas\s+(\d{1,2})\b(?!\s*/)")
_DATE_RE = re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b")


def _fold(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in plain if not unicodedata.combining(c)).strip()


def _half(slot: Slot) -> bool:
    return slot.start.hour < 12


def parse_choice(text: str, offered: list[Slot], now: datetime, zone: ZoneInfo) -> Choice | None:
    """'o primeiro', 'a segunda opção', '2' → an offered slot; 'pode ser quinta às 15h', 'amanhã 10h', '05/12
    às 9h30' → a time in the business's zone (the next such day, never a past one). None when nothing is named.
    """
    said = _fold(text)
    if not said:
        return None
    local_now = now.astimezone(zone)
    day = _named_day(said, local_now)
    clock = _named_time(said)
    if day is None and clock is None:
        index = _ordinal(said, len(offered))
        if index is not None:
            return Choice(offered_index=index)
        return None
    if clock is None:
        return Choice(day_only=day)
    hour, minute = clock
    if "tarde" in said and hour < 12 or "noite" in said and hour < 12:
        hour += 12
    if hour > 23 or minute > 59:
        return None
    if day is None:
        # A time alone: the offered slot at that time, else the next such time from now.
        for index, slot in enumerate(offered):
            local = slot.start.astimezone(zone)
            if (local.hour, local.minute) == (hour, minute):
                return Choice(offered_index=index)
        day = local_now.date() if (hour, minute) > (local_now.hour, local_now.minute) else (
            local_now.date() + timedelta(days=1))
    return Choice(wanted=datetime.combine(day, time(hour, minute), zone))


def _ordinal(said: str, offered: int) -> int | None:
    if offered == 0:
        return None
    match = _ORDINAL_RE.search(said)
    if match:
        stem = match.group(1)
        if stem == "ultim":
            return offered - 1
        index = _ORDINALS[stem]
        return index if index < offered else None
    match = _OPTION_NUMBER_RE.search(said)
    if match:
        index = int(match.group(1) or match.group(2) or match.group(3)) - 1
        return index if index < offered else None
    return None


def _named_day(said: str, now: datetime) -> date | None:
    today = now.date()
    if "depois de amanha" in said:
        return today + timedelta(days=2)
    if "amanha" in said:
        return today + timedelta(days=1)
    if re.search(r"\bhoje\b", said):
        return today
    match = _DATE_RE.search(said)
    if match:
        day_n, month = int(match.group(1)), int(match.group(2))
        year = int(match.group(3)) if match.group(3) else today.year
        year += 2000 if year < 100 else 0
        try:
            named = date(year, month, day_n)
        except ValueError:
            return None
        if named < today and not match.group(3):
            named = named.replace(year=today.year + 1)
        return named
    for word, weekday in _WEEKDAYS.items():
        if not re.search(rf"\b{word}\b", said):
            continue
        if word == "segunda" and "feira" not in said and _named_time(said) is None:
            continue  # "a segunda (opção)" picks an offer; Monday comes with "feira" or a time
        return today + timedelta(days=(weekday - today.weekday()) % 7 or 7)
    return None


def _named_time(said: str) -> tuple[int, int] | None:
    without_dates = _DATE_RE.sub(" ", said)
    match = _TIME_RE.search(without_dates)
    if not match:
        return None
    if match.group(3):
        return int(match.group(3)), 0
    return int(match.group(1)), int(match.group(2) or 0)


@dataclass(frozen=True)
class MeetingDraft:
    """The event Piloto writes on a seller's calendar; the adapter maps it to Calendar's JSON."""

    event_id: str
    summary: str
    description: str
    start: datetime
    end: datetime
    time_zone: str
    location: str | None = None
    video_link: bool = False  # ask for a Meet link (video meetings, when the agent allows it)


@dataclass(frozen=True)
class CalendarEvent:
    """An event as Calendar returned it."""

    event_id: str
    calendar_id: str
    etag: str
    status: str  # confirmed | tentative | cancelled
    start: datetime
    end: datetime
    html_link: str | None = None
    video_link: str | None = None


class BookingStatus(StrEnum):
    OFFERED = "offered"  # slots were offered, nothing booked yet
    BOOKED = "booked"
    CANCELLED = "cancelled"


class OfferedSlot(BaseModel):
    start: datetime
    end: datetime
    calendar_id: str

    @classmethod
    def of(cls, slot: Slot) -> OfferedSlot:
        return cls(start=slot.start, end=slot.end, calendar_id=slot.calendar_id)

    def slot(self) -> Slot:
        return Slot(self.start, self.end, self.calendar_id)


class Booking(BaseModel):
    """tenants/{t}/bookings/{conversation_id}: the meeting of one conversation, from offer to reminder."""

    conversation_id: str
    contact_phone: str
    kind: str
    status: BookingStatus = BookingStatus.OFFERED
    offered: list[OfferedSlot] = Field(default_factory=list)
    event_id: str | None = None
    calendar_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    video_link: str | None = None
    changes: int = Field(default=0, description="reschedules and cancellations so far (event ids of each change)")
    lead_time_zone: str | None = Field(default=None, description="the lead's IANA zone when offered or booked: "
                                                                 "the confirmation and the reminder say it")
    seller_alerts: dict[str, str] = Field(default_factory=dict, description="alert id → what became of the "
                                          "sellers' alert about that change (/chat bookings: sent, held, "
                                          "not_delivered: why)")
    updated_at: datetime | None = None


# --- Identity of a booking --------------------------------------------------------------------------

def meeting_event_id(tenant_id: str, conversation_id: str, round_: int = 0) -> str:
    """The Calendar event id of a conversation's meeting: the same on every retry, so a second insert is a 409.

    Calendar accepts client-chosen ids of base32hex characters (lowercase a-v and 0-9), 5 to 1024 long
    (https://developers.google.com/workspace/calendar/api/v3/reference/events#id).
    """
    digest = hashlib.sha256(f"{tenant_id}\x1f{conversation_id}\x1f{round_}".encode()).digest()[:20]
    return "pm" + base64.b32hexencode(digest).decode().rstrip("=").lower()


def describe_slot(slot: Slot | datetime, zone: ZoneInfo) -> str:
    """'qui 03/12 às 15h00' in the business's zone: what the lead reads."""
    start = (slot.start if isinstance(slot, Slot) else slot).astimezone(zone)
    names = ["seg", "ter", "qua", "qui", "sex", "sáb", "dom"]
    return f"{names[start.weekday()]} {start:%d/%m} às {start:%Hh%M}"


# --- The lead's time zone ------------------------------------------------------------------------------
#
# Brazil alone has four zones (UTC-2 Fernando de Noronha, UTC-3 Brasília, UTC-4 Amazonas/Mato Grosso/Rondônia/
# Roraima, UTC-5 Acre; Lei 12.876/2013) and leads abroad write too. A time offered or named in a conversation is
# in the lead's zone: what they said about where they are, else their phone number's area, else the business's.

BRASILIA_ZONE = "America/Sao_Paulo"


class ZoneSource(StrEnum):
    SAID = "said"  # the lead said where they are ("sou de Manaus", "estou em Lisboa")
    CLIENT = "client"  # the /chat caller sent the lead's zone (a website widget reads the browser's)
    PHONE = "phone"  # the phone number's area code (one zone only)
    BUSINESS = "business"  # nothing better known: the business's own zone


@dataclass(frozen=True)
class LeadZone:
    name: str  # IANA zone
    source: ZoneSource | None  # None only for a stored booking's zone whose source was not kept

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.name)


def known_zone(name: object) -> str | None:
    """An IANA zone name as given ('America/Manaus'), or None when it is not one."""
    if not isinstance(name, str) or "/" not in name.strip():
        return None
    try:
        ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name.strip()


# Places a lead names, accent- and case-folded → IANA zone. None: the place spans several zones (ask the city).
_PLACES: dict[str, str | None] = {
    **dict.fromkeys((
        "sao paulo", "rio de janeiro", "rio", "minas gerais", "minas", "belo horizonte", "espirito santo", "vitoria",
        "parana", "curitiba", "santa catarina", "florianopolis", "rio grande do sul", "porto alegre", "goias",
        "goiania", "distrito federal", "brasilia", "campinas", "santos", "jundiai", "sorocaba", "ribeirao preto",
        "niteroi", "londrina", "joinville", "uberlandia", "juiz de fora"), BRASILIA_ZONE),
    **dict.fromkeys(("bahia", "salvador", "feira de santana", "vitoria da conquista"), "America/Bahia"),
    **dict.fromkeys(("pernambuco", "recife", "olinda", "caruaru", "petrolina", "paraiba", "joao pessoa",
                     "campina grande", "rio grande do norte", "natal", "mossoro"), "America/Recife"),
    **dict.fromkeys(("alagoas", "maceio", "sergipe", "aracaju"), "America/Maceio"),
    **dict.fromkeys(("ceara", "fortaleza", "piaui", "teresina", "maranhao", "sao luis"), "America/Fortaleza"),
    **dict.fromkeys(("belem", "estado do para", "amapa", "macapa", "maraba"), "America/Belem"),
    **dict.fromkeys(("santarem",), "America/Santarem"),
    **dict.fromkeys(("tocantins", "palmas", "araguaina"), "America/Araguaina"),
    **dict.fromkeys(("amazonas", "manaus", "parintins"), "America/Manaus"),
    **dict.fromkeys(("roraima", "boa vista"), "America/Boa_Vista"),
    **dict.fromkeys(("rondonia", "porto velho", "ji-parana"), "America/Porto_Velho"),
    **dict.fromkeys(("mato grosso", "cuiaba", "rondonopolis", "sinop"), "America/Cuiaba"),
    **dict.fromkeys(("mato grosso do sul", "campo grande", "dourados"), "America/Campo_Grande"),
    **dict.fromkeys(("acre", "rio branco", "cruzeiro do sul"), "America/Rio_Branco"),
    **dict.fromkeys(("eirunepe",), "America/Eirunepe"),
    **dict.fromkeys(("fernando de noronha", "noronha"), "America/Noronha"),
    **dict.fromkeys(("portugal", "lisboa", "porto", "coimbra", "braga", "faro", "algarve", "madeira", "funchal"),
                    "Europe/Lisbon"),
    **dict.fromkeys(("acores", "azores", "ponta delgada"), "Atlantic/Azores"),
    **dict.fromkeys(("espanha", "madri", "madrid", "barcelona"), "Europe/Madrid"),
    **dict.fromkeys(("inglaterra", "reino unido", "londres", "london"), "Europe/London"),
    **dict.fromkeys(("irlanda", "dublin"), "Europe/Dublin"),
    **dict.fromkeys(("franca", "paris"), "Europe/Paris"),
    **dict.fromkeys(("italia", "roma", "milao"), "Europe/Rome"),
    **dict.fromkeys(("alemanha", "berlim", "munique", "frankfurt"), "Europe/Berlin"),
    **dict.fromkeys(("suica", "zurique", "genebra"), "Europe/Zurich"),
    **dict.fromkeys(("holanda", "amsterda", "amsterdam"), "Europe/Amsterdam"),
    **dict.fromkeys(("belgica", "bruxelas"), "Europe/Brussels"),
    **dict.fromkeys(("japao", "toquio"), "Asia/Tokyo"),
    **dict.fromkeys(("dubai", "emirados"), "Asia/Dubai"),
    **dict.fromkeys(("angola", "luanda"), "Africa/Luanda"),
    **dict.fromkeys(("mocambique", "maputo"), "Africa/Maputo"),
    **dict.fromkeys(("argentina", "buenos aires"), "America/Argentina/Buenos_Aires"),
    **dict.fromkeys(("uruguai", "montevideu"), "America/Montevideo"),
    **dict.fromkeys(("paraguai", "assuncao"), "America/Asuncion"),
    **dict.fromkeys(("chile", "santiago"), "America/Santiago"),
    **dict.fromkeys(("colombia", "bogota"), "America/Bogota"),
    **dict.fromkeys(("peru", "lima"), "America/Lima"),
    **dict.fromkeys(("nova york", "new york", "nova jersey", "new jersey", "boston", "miami", "orlando",
                     "florida", "washington dc", "atlanta", "filadelfia"), "America/New_York"),
    **dict.fromkeys(("chicago", "houston", "dallas", "texas"), "America/Chicago"),
    **dict.fromkeys(("denver",), "America/Denver"),
    **dict.fromkeys(("california", "los angeles", "san francisco", "las vegas", "seattle"), "America/Los_Angeles"),
    **dict.fromkeys(("toronto", "montreal", "ottawa"), "America/Toronto"),
    **dict.fromkeys(("vancouver",), "America/Vancouver"),
    **dict.fromkeys(("sydney", "melbourne"), "Australia/Sydney"),
    # Countries spanning several zones: the city decides.
    **dict.fromkeys(("brasil", "estados unidos", "eua", "usa", "canada", "mexico", "australia", "russia"), None),
}
_UF_ZONES = {"sp": BRASILIA_ZONE, "rj": BRASILIA_ZONE, "mg": BRASILIA_ZONE, "es": BRASILIA_ZONE,
             "pr": BRASILIA_ZONE, "sc": BRASILIA_ZONE, "rs": BRASILIA_ZONE, "go": BRASILIA_ZONE, "df": BRASILIA_ZONE,
             "ba": "America/Bahia", "pe": "America/Recife", "pb": "America/Recife", "rn": "America/Recife",
             "al": "America/Maceio", "se": "America/Maceio", "ce": "America/Fortaleza", "pi": "America/Fortaleza",
             "ma": "America/Fortaleza", "pa": "America/Belem", "ap": "America/Belem", "to": "America/Araguaina",
             "am": "America/Manaus", "rr": "America/Boa_Vista", "ro": "America/Porto_Velho",
             "mt": "America/Cuiaba", "ms": "America/Campo_Grande", "ac": "America/Rio_Branco"}
_PLACE_PATTERNS = sorted(_PLACES, key=len, reverse=True)  # "mato grosso do sul" before "mato grosso"


def zone_for_place(words: str) -> str | None:
    """The zone of the place the lead named ('Manaus', 'sou de Rio Branco - AC', 'estou em Lisboa', 'AM'), or of an
    IANA name. None when the place is unknown or spans several zones (a country like the USA: ask the city)."""
    if zone := known_zone(words):
        return zone
    said = re.sub(r"[^a-z0-9 -]+", " ", _fold(words))
    for place in _PLACE_PATTERNS:
        if re.search(rf"(?<![a-z]){re.escape(place)}(?![a-z])", said):
            return _PLACES[place]
    # A state's two letters only at the end, alone or after a separator or preposition ("MT", "- AM", "em SP").
    uf = re.fullmatch(r"\s*(?:.*(?:[-/,]|\b(?:de|em|no|na|do|da))\s*)?([a-z]{2})\s*", said)
    return _UF_ZONES.get(uf.group(1)) if uf else None


def resolve_lead_zone(said_zone: str | None, phone: str, business_zone: str,
                      client_zone: str | None = None) -> LeadZone:
    """The lead's zone: what they said, else the zone a /chat caller sent (where the lead's browser is now), else
    their number's area (one zone only), else the business's."""
    if zone := known_zone(said_zone):
        return LeadZone(zone, ZoneSource.SAID)
    if zone := known_zone(client_zone):
        return LeadZone(zone, ZoneSource.CLIENT)
    from shared.domain.phone import phone_time_zone  # noqa: PLC0415 - libphonenumber's tables load on first use

    if zone := phone_time_zone(phone):
        return LeadZone(zone, ZoneSource.PHONE)
    return LeadZone(business_zone, ZoneSource.BUSINESS)


_ZONE_PLACE_NAMES = {BRASILIA_ZONE: "Brasília", "Europe/Lisbon": "Lisboa", "Atlantic/Azores": "Açores",
                     "America/New_York": "Nova York", "Europe/London": "Londres", "America/Cuiaba": "Cuiabá",
                     "America/Belem": "Belém", "America/Maceio": "Maceió", "America/Bahia": "Salvador",
                     "America/Santarem": "Santarém", "America/Araguaina": "Araguaína",
                     "America/Eirunepe": "Eirunepé", "America/Argentina/Buenos_Aires": "Buenos Aires",
                     "Europe/Madrid": "Madri", "Europe/Rome": "Roma", "Europe/Berlin": "Berlim",
                     "Asia/Tokyo": "Tóquio"}


def zone_place_name(zone: str) -> str:
    """How people name a zone's time in Portuguese: 'Brasília' for America/Sao_Paulo, else its city."""
    return _ZONE_PLACE_NAMES.get(zone) or zone.rsplit("/", 1)[-1].replace("_", " ")


def same_clock(start: datetime, a: str, b: str) -> bool:
    """Whether two zones show the same wall-clock time at that instant (Recife and Brasília do, all year)."""
    return start.astimezone(ZoneInfo(a)).utcoffset() == start.astimezone(ZoneInfo(b)).utcoffset()


LEAD_DAY_STARTS, LEAD_DAY_ENDS = time(7, 0), time(22, 0)


def awake_for_lead(slots: list[Slot], lead_zone: str) -> list[Slot]:
    """The slots inside the lead's own day (7h-22h their time), when there are any: a lead in Tokyo is not offered
    a 3 a.m. call because it is 15h in São Paulo. None inside it: all of them (the lead may still choose)."""
    zone = ZoneInfo(lead_zone)

    def awake(slot: Slot) -> bool:
        start, end = slot.start.astimezone(zone), slot.end.astimezone(zone)
        return start.date() == end.date() and LEAD_DAY_STARTS <= start.time() and end.time() <= LEAD_DAY_ENDS

    inside = [s for s in slots if awake(s)]
    return inside or slots


def describe_for_lead(slot: Slot | datetime, lead_zone: str, business_zone: str) -> str:
    """'qui 03/12 às 14h00 no seu horário (15h00 em Brasília)': the lead's time first, the business's too when the
    clocks differ then (a DST change abroad moves the difference: it is judged at the slot's own instant)."""
    start = slot.start if isinstance(slot, Slot) else slot
    label = describe_slot(start, ZoneInfo(lead_zone))
    if same_clock(start, lead_zone, business_zone):
        return label
    theirs = start.astimezone(ZoneInfo(lead_zone))
    ours = start.astimezone(ZoneInfo(business_zone))
    other = f"{ours:%Hh%M}" if ours.date() == theirs.date() else describe_slot(start, ZoneInfo(business_zone))
    return f"{label} no seu horário ({other} em {zone_place_name(business_zone)})"


def describe_for_business(start: datetime, lead_zone: str | None, business_zone: str) -> str:
    """What the seller reads: the business's time, and the lead's when their clock differs."""
    label = describe_slot(start, ZoneInfo(business_zone))
    if not lead_zone or same_clock(start, lead_zone, business_zone):
        return label
    theirs = start.astimezone(ZoneInfo(lead_zone))
    return f"{label} ({theirs:%Hh%M} no horário do lead, {zone_place_name(lead_zone)})"


_BUSINESS_CLOCK = re.compile(r"\b(?:seu horario|horario de voces|horario da empresa|horario de voce|"
                             r"horario da loja|hora de voces|seu fuso)\b")
# Brasília named next to a time means its clock ("15h de Brasília", "horário de Brasília"); a lead who is in
# Brasília is on that clock anyway.
_BRASILIA_CLOCK = re.compile(r"\bbrasilia\b")
_OWN_CLOCK = re.compile(r"\b(?:meu horario|meu fuso|horario daqui|hora daqui|hora local|horario local|"
                        r"horario aqui|aqui de)\b")


def names_own_clock(text: str) -> bool:
    """The lead said the time is on their own clock ('15h no meu horário')."""
    return bool(_OWN_CLOCK.search(_fold(text)))


def zone_of_words(text: str, lead_zone: str, business_zone: str) -> str:
    """The zone a time the lead typed is in: theirs ('no meu horário', or nothing said), Brasília's ('15h de
    Brasília') or the business's ('no seu horário', 'no horário de vocês')."""
    said = _fold(text)
    if _OWN_CLOCK.search(said):
        return lead_zone
    if _BRASILIA_CLOCK.search(said):
        return BRASILIA_ZONE
    if _BUSINESS_CLOCK.search(said):
        return business_zone
    return lead_zone
