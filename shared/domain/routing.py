"""Model routing: a cheap, explainable rule picks the model tier from the message and the lead's stage."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from enum import StrEnum


class Tier(StrEnum):
    LITE = "lite"
    STANDARD = "standard"
    ADVANCED = "advanced"


def _plain(text: str) -> str:
    """Lower-case without accents, so 'negociação' and 'negociacao' match alike."""
    return unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()


_GREETING = re.compile(
    r"^((oi+|ola|opa|bom dia|boa tarde|boa noite|e ai|hello|hi|obrigad[oa]|valeu|ok|blz|beleza|tudo bem|"
    r"td bem|certo|perfeito|show)[\s!.,?]*)+$")
_FAQ = ("horario", "endereco", "onde fica", "funciona", "aceita", "cartao", "pix", "site", "instagram",
        "atende", "atendem", "telefone", "whatsapp", "entrega", "frete", "garantia")
_NEGOTIATION = ("desconto", "caro", "barato", "negoci", "concorr", "contrato", "parcel", "juros", "condica",
                "proposta", "cancel", "reclam", "insatisf", "problema", "devolu", "reembolso", "nao gostei",
                "muito alto", "outra empresa", "pensar melhor")
_ADVANCED_STAGES = {"proposal", "negotiation"}


def is_faq(text: str) -> bool:
    """A short, self-contained question about the business: the kind of message an answer cache may serve."""
    plain = _plain(text).strip()
    return len(plain) <= 120 and any(word in plain for word in _FAQ) and not any(w in plain for w in _NEGOTIATION)


def choose_tier(latest_lead_text: str, stage: str | None = None) -> Tier:
    """Greetings and FAQs → lite; objections and negotiation → advanced; the rest → standard."""
    plain = _plain(latest_lead_text).strip()
    if any(word in plain for word in _NEGOTIATION) or (stage or "") in _ADVANCED_STAGES:
        return Tier.ADVANCED
    lines = [line.strip() for line in plain.splitlines() if line.strip()]
    if lines and all(_GREETING.match(line) for line in lines):
        return Tier.LITE
    if is_faq(plain):
        return Tier.LITE
    return Tier.STANDARD


def fallback_order(tier: Tier) -> list[Tier]:
    """Another tier is another model with its own quota: the next best answer beats silence."""
    return {
        Tier.ADVANCED: [Tier.ADVANCED, Tier.STANDARD, Tier.LITE],
        Tier.STANDARD: [Tier.STANDARD, Tier.LITE, Tier.ADVANCED],
        Tier.LITE: [Tier.LITE, Tier.STANDARD],
    }[tier]


def answer_key(agent_id: str, knowledge_version: str, question: str) -> str:
    """Same agent, same knowledge, same question (ignoring case, accents and punctuation) → same cached answer."""
    normalized = " ".join(re.findall(r"[a-z0-9]+", _plain(question)))
    return hashlib.sha256(f"{agent_id}\x1f{knowledge_version}\x1f{normalized}".encode()).hexdigest()[:32]
