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
