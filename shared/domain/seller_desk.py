"""The seller's desk on WhatsApp: short references on alerts and drafts, the Portuguese commands a seller types,
and the rules that decide what a seller's message means. Pure: no I/O."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from shared.domain.phone import same_whatsapp_number
from shared.domain.tenancy import AgentConfig, Seller

# Crockford-style alphabet: no 0/O, 1/I/L, so a code read on a phone screen is typed back right.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REF_LENGTH = 5
_REF = re.compile(r"#([2-9A-HJ-NP-Z]{5,8})\b", re.IGNORECASE)

# WhatsApp's customer service window: free-form messages only within 24 h of the person's last message
# (https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/send-messages).
SERVICE_WINDOW = timedelta(hours=24)


class RefKind(StrEnum):
    ALERT = "alert"  # a lead needs a human (handoff)
    DRAFT = "draft"  # a copilot suggestion
    LEAD = "lead"  # a lead named in a command's answer (summary, queue)
    LEARNING = "learning"  # a learned answer waiting for approval


def ref_code(*parts: str, length: int = REF_LENGTH) -> str:
    """A short, deterministic code for what an alert or draft points at: a retry names the same thing the same way."""
    number = int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:8], "big")
    code = []
    for _ in range(length):
        number, digit = divmod(number, len(_ALPHABET))
        code.append(_ALPHABET[digit])
    return "".join(code)


def refs_in(text: str | None) -> list[str]:
    """Codes typed as '#K7Q2M' (case ignored), in order."""
    return [m.upper() for m in _REF.findall(text or "")]


def _plain(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode().split())


class Command(StrEnum):
    TAKE_OVER = "assumir"
    GIVE_BACK = "devolver"
    PAUSE = "pausar"
    SUMMARY = "resumo"
    QUEUE = "fila"
    APPROVE = "aprovar"
    REJECT = "rejeitar"
    HELP = "ajuda"


_ALIASES: dict[str, Command] = {
    "assumir": Command.TAKE_OVER, "assumo": Command.TAKE_OVER, "assume": Command.TAKE_OVER,
    "devolver": Command.GIVE_BACK, "devolve": Command.GIVE_BACK, "bot": Command.GIVE_BACK,
    "pausar": Command.PAUSE, "pausa": Command.PAUSE, "parar": Command.PAUSE,
    "resumo": Command.SUMMARY, "resumir": Command.SUMMARY,
    "fila": Command.QUEUE, "hoje": Command.QUEUE, "pendentes": Command.QUEUE,
    "aprovar": Command.APPROVE, "aprova": Command.APPROVE,
    "rejeitar": Command.REJECT, "rejeita": Command.REJECT,
    "ajuda": Command.HELP, "comandos": Command.HELP, "help": Command.HELP, "?": Command.HELP,
}
# Commands that act on one lead or one learned answer, so they need a reference (typed or quoted).
NEEDS_REF = {Command.TAKE_OVER, Command.GIVE_BACK, Command.PAUSE, Command.SUMMARY, Command.APPROVE, Command.REJECT}

HELP = ("Comandos: responda a um alerta para falar com o lead · ok/enviar (em resposta a uma sugestão) · "
        "assumir #REF · devolver #REF · pausar #REF · resumo #REF · fila · aprovar #REF · rejeitar #REF")


@dataclass(frozen=True)
class ParsedCommand:
    command: Command
    ref: str | None


def parse_command(text: str | None) -> ParsedCommand | None:
    """A command is a short message opening with a command word ('resumo #K7Q2M', 'Fila', 'aprovar')."""
    plain = _plain(text or "")
    if not plain or len(plain.split()) > 4:
        return None
    first = plain.split()[0].lstrip("/!").rstrip(".!:,?")
    command = _ALIASES.get(first)
    if command is None:
        return None
    refs = refs_in(text)
    return ParsedCommand(command, refs[0] if refs else None)


_SEND_AS_IS = {"ok", "okay", "enviar", "envia", "envie", "pode enviar", "manda", "mandar", "pode mandar", "sim",
               "👍", "ok enviar", "ok, enviar"}


def sends_draft_as_is(text: str | None) -> bool:
    """'ok' / 'enviar' (and a few everyday variants) in reply to a draft: send it unchanged."""
    plain = _plain(text or "").strip(" .!")
    return plain in _SEND_AS_IS or (text or "").strip() == "👍"


def strip_refs(text: str) -> str:
    """The seller's words without the '#REF' they typed to say which lead they mean."""
    return " ".join(_REF.sub("", text).split()) if _REF.search(text) else text.strip()


def window_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    """Inside the person's 24-hour customer service window (Meta only enforces it)."""
    return last_inbound_at is not None and now - last_inbound_at < SERVICE_WINDOW


def lead_label(name: str | None, phone: str) -> str:
    """How a lead is named to a seller: the profile name and the last digits, never the whole number in logs."""
    tail = phone[-4:]
    return f"{name} (…{tail})" if name else f"lead …{tail}"


def handoff_alert(lead: str, code: str, reason: str, question: str) -> str:
    return (f"🔔 {lead} precisa de você · #{code}\nMotivo: {reason}\nPergunta: {question}\n"
            "Responda a esta mensagem para falar com o lead (texto, áudio ou arquivo).")


def draft_message(lead: str, code: str, draft: str, details: list[str]) -> str:
    lines = [f"💡 Sugestão para {lead} · #{code}", draft, "", *details,
             "Responda 'ok' para enviar como está, ou responda com o texto editado."]
    return "\n".join(line for line in lines if line is not None)


def learning_preview(code: str, question: str, answer: str) -> str:
    return (f"📚 Aprendizado #{code}\nP: {question[:200]}\nR: {answer[:300]}\n"
            f"Responda 'aprovar #{code}' ou 'rejeitar #{code}'.")


def seller_conflicts(claims: list[tuple[str, str, AgentConfig]]) -> list[str]:
    """Configuration check: one seller phone may not belong to two tenants' agents on the same business number.

    claims: (channel_key, tenant_id, agent config) for every agent that answers a number. A seller message is
    routed by the number it reaches, so two owners would make it ambiguous whose lead a reply goes to.
    Returns one line per conflict; empty means fine.
    """
    problems: list[str] = []
    seen: dict[str, list[tuple[str, Seller]]] = {}
    for channel, tenant_id, config in claims:
        for seller in config.all_sellers():
            for other_tenant, other in seen.get(channel, []):
                if other_tenant != tenant_id and same_whatsapp_number(seller.phone, other.phone):
                    problems.append(f"{channel}: seller {seller.name!r} is registered for tenants "
                                    f"{other_tenant!r} and {tenant_id!r}")
            seen.setdefault(channel, []).append((tenant_id, seller))
    return problems
