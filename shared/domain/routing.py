"""Model routing: a cheap, explainable rule picks the model tier from the message and the lead's stage.

Rules match whole words of the accent-folded, lower-cased text ("caro" is not in "Carolina", "site" is not in
"visite"). Labelled pt-BR messages in tests/data/routing/ hold the rules to their definitions;
`python -m bench.routing` prints the confusion matrix.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from enum import StrEnum


class Tier(StrEnum):
    LITE = "lite"
    STANDARD = "standard"
    ADVANCED = "advanced"


def plain_text(text: str) -> str:
    """Lower-case without accents, so 'negociação' and 'negociacao' match alike."""
    return unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()


def _words(*alternatives: str) -> re.Pattern[str]:
    """One regex matching any alternative as whole words (alternatives may hold their own regex)."""
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b")


# Objections, negotiation, complaints and contract terms: the messages a sale is won or lost on.
_NEGOTIATION = _words(
    r"car[oa]s?", r"carissim[oa]s?", r"salgad[oa]", r"puxad[oa]", r"fora do (?:meu )?orcamento",
    r"(?:nao )?cabe no (?:meu )?bolso", r"desconto\w*", r"descontinho", r"barat[oa]s?", r"negoci\w*",
    r"concorren\w*", r"outra (?:empresa|loja)", r"me ofereceram", r"cobr\w* menos", r"cobrem a oferta",
    r"(?:fazer|fazem|faz|consegue\w*) melhor", r"me passou (?:um )?(?:orcamento|preco|valor)",
    r"melhorar o (?:valor|preco)", r"baixar o (?:valor|preco)", r"chorar", r"pechinch\w*",
    r"vou pensar", r"pensar melhor", r"preciso pensar", r"compensa", r"(?:valor|preco) alto", r"muito alto",
    r"alto demais", r"cancel\w*", r"reclam\w*", r"procon", r"insatisf\w*", r"devolv\w*", r"devoluc\w*",
    r"reembols\w*", r"estorn\w*", r"dinheiro de volta", r"nao gostei", r"enganad[oa]", r"golpe",
    r"deu problema", r"parou de funcionar", r"contrato", r"multa", r"desistir", r"proposta")

# Social messages: nothing to answer but courtesy. What remains after removing them decides.
_SOCIAL = _words(
    r"o+i+", r"ola", r"opa", r"e ?ai", r"hello", r"hi", r"bo[am] (?:dia|tarde|noite)\w*", r"tudo (?:bem|bom|certo)",
    r"td (?:bem|bom)", r"tdb", r"blz", r"beleza", r"ok", r"okay", r"certo", r"perfeito", r"show(?: de bola)?",
    r"entendi", r"combinado", r"ta bom", r"tranquilo", r"top", r"legal", r"que (?:bom|legal)", r"ah", r"hmm+",
    r"sim", r"nao", r"pode ser", r"obrigad[oa]s?", r"muito obrigad[oa]", r"obg", r"brigad[oa]", r"valeu", r"vlw",
    r"pela atencao", r"pela proposta", r"k{2,}", r"(?:ha){2,}h?", r"rs+", r"tmj", r"ate (?:mais|amanha|logo)",
    r"tchau", r"abraco", r"falou", r"flw", r"(?:bom|otimo) fim de semana", r"boa semana", r"pra (?:voce|vc)",
    r"tudo", r"bem")
# "aqui é a Carolina", "meu nome é João", "sou o Carlos": an introduction is social, the name included.
_INTRODUCTION = re.compile(
    r"\b(?:aqui e (?:o|a)|meu nome e|me chamo|sou (?:o|a))\s+[a-z]+(?:\s+(?!e\b|de\b|da\b|do\b|que\b)[a-z]+)?")
_INTRO_AFTER_NAME = re.compile(r"^\s*[a-z]+\s+aqui\b")  # "Carolina aqui, quero…"

# Short questions about the business itself, the same for every lead: what an answer cache may serve.
_FAQ = _words(
    r"horarios?", r"orario", r"que horas (?:voces|vcs)?\s*(?:abrem|fecham|funcionam|atendem)", r"abrem", r"fecham",
    r"endereco", r"localizacao", r"onde fica\w*", r"loja fisica", r"aceita\w*", r"cartao", r"pix", r"boleto",
    r"parcelam", r"parcelamento", r"financiamento", r"juros", r"site", r"instagram", r"insta", r"telefone",
    r"e-?mail", r"cnpj", r"entrega\w*", r"frete", r"garantia", r"atende\w*", r"manutencao")
# First-person context ("quero", "minha conta") makes a message about this lead, not about the business.
_PERSONAL = _words(r"quero", r"queria", r"preciso", r"minha", r"meu", r"meus", r"minhas", r"moro", r"tenho",
                   r"gasto", r"pago", r"r\$?\s*\d+", r"\d+\s*reais")

_ADVANCED_STAGES = {"proposal", "negotiation"}
_FAQ_MAX_CHARS = 120


def is_social(text: str) -> bool:
    """Greetings, introductions, thanks, acknowledgements, laughter, emojis: nothing substantive left."""
    plain = plain_text(text)
    plain = _INTRODUCTION.sub(" ", plain)
    return not re.findall(r"[a-z0-9]+", _SOCIAL.sub(" ", plain))


def is_faq(text: str) -> bool:
    """A short, self-contained question about the business: the kind of message an answer cache may serve."""
    plain = plain_text(text).strip()
    if not plain or "\n" in plain or len(plain) > _FAQ_MAX_CHARS:
        return False
    return bool(_FAQ.search(plain)) and not _NEGOTIATION.search(plain) and not _PERSONAL.search(plain)


def choose_tier(latest_lead_text: str, stage: str | None = None) -> Tier:
    """Objections and negotiation → advanced; social messages and FAQs → lite; the rest → standard.
    A lead in proposal or negotiation gets the advanced tier for anything substantive, never for an "ok"."""
    plain = plain_text(latest_lead_text)
    if _NEGOTIATION.search(plain) and not is_social(plain):
        return Tier.ADVANCED
    lines = [line for line in plain.splitlines() if line.strip()]
    if all(is_social(line) for line in lines):
        return Tier.LITE
    if (stage or "") in _ADVANCED_STAGES:
        return Tier.ADVANCED
    if len(lines) == 1 and is_faq(lines[0]) and not _INTRO_AFTER_NAME.search(lines[0]):
        return Tier.LITE
    return Tier.STANDARD


def fallback_order(tier: Tier) -> list[Tier]:
    """Another tier is another model with its own quota: the next best answer beats silence."""
    return {
        Tier.ADVANCED: [Tier.ADVANCED, Tier.STANDARD, Tier.LITE],
        Tier.STANDARD: [Tier.STANDARD, Tier.LITE, Tier.ADVANCED],
        Tier.LITE: [Tier.LITE, Tier.STANDARD],
    }[tier]


def normalized_question(question: str) -> str:
    """The words of a question, ignoring case, accents and punctuation."""
    return " ".join(re.findall(r"[a-z0-9]+", plain_text(question)))


def answer_key(agent_id: str, content_version: str, question: str) -> str:
    """Same agent, same knowledge and catalogue, same question (ignoring case, accents and punctuation) → same
    cached answer."""
    return hashlib.sha256(f"{agent_id}\x1f{content_version}\x1f{normalized_question(question)}".encode()
                          ).hexdigest()[:32]
