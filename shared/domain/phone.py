"""Phone numbers: one canonical E.164 form for storage and a masked form for logs."""

import re

_DIGITS = re.compile(r"\D+")


def to_e164(raw: str) -> str:
    """Canonical '+<digits>' from what providers send ('5511…', '+55 11 …', '5511…@s.whatsapp.net')."""
    local = raw.split("@", 1)[0].split(":", 1)[0]
    digits = _DIGITS.sub("", local)
    if not 8 <= len(digits) <= 15:
        raise ValueError(f"not a phone number: {len(digits)} digits")
    return f"+{digits}"


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
    """
    e164 = to_e164(phone)
    digits = e164[1:]
    if not digits.startswith("55"):
        return frozenset({e164})
    national = digits[2:]
    if len(national) == 11 and national[2] == "9" and national[3] in "6789":
        return frozenset({e164, f"+55{national[:2]}{national[3:]}"})
    if len(national) == 10 and national[2] in "6789":
        return frozenset({e164, f"+55{national[:2]}9{national[2:]}"})
    return frozenset({e164})


def same_whatsapp_number(a: str, b: str) -> bool:
    """True when two numbers are the same line, ninth digit or not (see whatsapp_number_variants)."""
    try:
        return bool(whatsapp_number_variants(a) & whatsapp_number_variants(b))
    except ValueError:
        return False
