"""Phone numbers: one canonical E.164 form for storage and a masked form for logs."""

import re

_DIGITS = re.compile(r"\D+")


def to_e164(raw: str) -> str:
    """Canonical '+<digits>' from what providers send ('5511…', '+55 11 …', '5511…@s.whatsapp.net',
    Twilio's 'whatsapp:+5511…').

    The digits are read as an international number and checked with libphonenumber (a known country code and a
    length that country uses); ValueError otherwise.
    """
    local = raw.removeprefix("whatsapp:").split("@", 1)[0].split(":", 1)[0]
    digits = _DIGITS.sub("", local)
    if not 8 <= len(digits) <= 15:
        raise ValueError(f"not a phone number: {len(digits)} digits")
    number = _parsed(f"+{digits}")
    if number is None or not _phonenumbers().is_possible_number(number):
        raise ValueError("not a phone number: unknown country code or a length that country does not use")
    return f"+{digits}"


def _phonenumbers():  # noqa: ANN202 - imported on first use: import and metadata cost 0.1-0.4 s
    import phonenumbers

    return phonenumbers


def _parsed(e164: str):  # noqa: ANN202
    phonenumbers = _phonenumbers()
    try:
        return phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None


def mask_phone(phone: str) -> str:
    """Keep country code and the last two digits, enough to tell leads apart in logs."""
    digits = _DIGITS.sub("", phone)
    if len(digits) <= 4:
        return "*" * len(digits)
    return f"+{digits[:2]}{'*' * (len(digits) - 4)}{digits[-2:]}"


_PHONE_LIKE = re.compile(r"\+?\d[\d\s().-]{6,}\d")


def mask_phones_in(text: str) -> str:
    """Mask anything that looks like a phone number in free text (a CRM's error message may echo one).

    Nine digits or more: a date (8 digits) stays readable.
    """
    return _PHONE_LIKE.sub(lambda m: mask_phone(m.group()) if len(_DIGITS.sub("", m.group())) >= 9 else m.group(),
                           text)


def whatsapp_number_variants(phone: str) -> frozenset[str]:
    """Every E.164 form under which one Brazilian mobile may appear: with and without the ninth digit.

    Anatel added a leading 9 to Brazilian mobile numbers (2012-2016); WhatsApp accounts registered
    before the change keep the 8-digit id (55 + DDD + 8 digits), while people type and CRMs store the
    9-digit form. Matching a number a person typed against a WhatsApp id must accept both. Replies
    always go to the id WhatsApp gave us; this is for matching only. Other countries: the number itself.

    libphonenumber decides what is a mobile: the 9-digit form must be a valid Brazilian mobile, and the 8-digit
    form must not be a valid landline (before the change mobiles began with 6-9 and landlines with 2-5, so
    +55 11 3456-7890 and +55 11 93456-7890 are two different lines).
    """
    e164 = to_e164(phone)
    phonenumbers = _phonenumbers()
    number = _parsed(e164)
    if number is None or phonenumbers.region_code_for_number(number) != "BR":
        return frozenset({e164})
    national = str(number.national_number)
    area, subscriber = national[:2], national[2:]
    if len(subscriber) == 9 and subscriber[0] == "9":
        nine, eight = e164, f"+55{area}{subscriber[1:]}"
    elif len(subscriber) == 8:
        nine, eight = f"+55{area}9{subscriber}", e164
    else:
        return frozenset({e164})
    if _is_mobile(nine) and not _is_landline(eight):
        return frozenset({nine, eight})
    return frozenset({e164})


def _is_mobile(e164: str) -> bool:
    phonenumbers = _phonenumbers()
    number = _parsed(e164)
    return number is not None and phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in (
        phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def _is_landline(e164: str) -> bool:
    phonenumbers = _phonenumbers()
    number = _parsed(e164)
    return number is not None and phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in (
        phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def same_whatsapp_number(a: str, b: str) -> bool:
    """True when two numbers are the same line, ninth digit or not (see whatsapp_number_variants)."""
    try:
        return bool(whatsapp_number_variants(a) & whatsapp_number_variants(b))
    except ValueError:
        return False


# libphonenumber's time-zone data (checked in the pinned phonenumbers 9.0.43) is wrong for three Brazilian area
# codes: it puts all of DDD 81 in America/Noronha (UTC-2), though Recife and the rest of Pernambuco are UTC-3 and
# only the island of Fernando de Noronha is UTC-2; and it puts landlines of DDD 93 and 94 (Pará: Santarém,
# Marabá) in America/Manaus (UTC-4), though all of Pará is UTC-3 (Lei 12.876/2013, Brazil's legal time zones).
# A lead on Noronha says so and is read from their words, never from the number.
_BRAZIL_AREA_ZONES = {"81": "America/Recife", "93": "America/Santarem", "94": "America/Belem"}
_UNKNOWN_ZONE = "Etc/Unknown"


def phone_time_zone(phone: str) -> str | None:
    """The IANA time zone of a phone number's area, or None when unknown or when it spans several zones.

    libphonenumber maps the country code and area (Brazil's DDD) to zones: +55 92 → America/Manaus,
    +55 68 → America/Rio_Branco, +1 212 → America/New_York. A Portuguese mobile maps to both Lisbon and the
    Azores, so it is None: the lead's own words or the business's zone decide then. A Brazilian WhatsApp id
    without the ninth digit is looked up in its nine-digit form (libphonenumber calls the old form invalid).
    """
    try:
        variants = sorted(whatsapp_number_variants(phone), key=len, reverse=True)
    except ValueError:
        return None
    from phonenumbers import timezone  # noqa: PLC0415 - 40 ms of tables, only for scheduling turns

    phonenumbers = _phonenumbers()
    for e164 in variants:
        number = _parsed(e164)
        if number is None or not phonenumbers.is_valid_number(number):
            continue
        if phonenumbers.region_code_for_number(number) == "BR":
            corrected = _BRAZIL_AREA_ZONES.get(str(number.national_number)[:2])
            if corrected:
                return corrected
        zones = [z for z in timezone.time_zones_for_number(number) if z != _UNKNOWN_ZONE]
        return zones[0] if len(zones) == 1 else None
    return None
