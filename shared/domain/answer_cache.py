"""When a reply may be reused for another lead: the answer cache's rules. Pure.

A cached answer is sent to someone else without a model call, so it must be an answer about the business and
nothing else: never a turn that handed off or changed anything, never text that mentions this lead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from shared.domain.routing import plain_text

READ_ONLY_TOOLS = frozenset({"lookup_catalog", "search_knowledge", "offer_slots"})
# Read-only, yet their answer is true only now: free calendar slots are gone in minutes and were offered to
# this lead (the booking remembers them for "o primeiro"), so a reply built on them is never reused.
TIME_DEPENDENT_TOOLS = frozenset({"offer_slots"})

# Function words and the small talk of a sales chat: sharing one of these says nothing about who the lead is.
_COMMON = frozenset("""
a o e as os um uma uns umas de da do das dos em no na nos nas por para pra pro com sem que se ou mas mais menos
muito muita muitos muitas pouco ja nao sim eu voce voces vc vcs ele ela eles elas nos me te lhe meu minha meus
minhas seu sua seus suas nosso nossa isso isto esse essa este esta aquele aquela aqui ali la ai tem ter tenho tem
temos sao ser sou esta estou estao era foi vai vou pode posso podem quer quero queria gostaria saber qual quais
quanto quanta como quando onde porque porquê qualquer tudo todo toda todos todas bem bom boa oi ola dia tarde
noite obrigado obrigada valeu ok certo entao tambem so ainda agora hoje amanha ontem mes ano dias vez vezes
fazer faz feito ver visto dar dado ate sobre entre depois antes hora horas reais real valor preco conta luz
""".split())
_WORD = re.compile(r"[a-z0-9]+")


def _terms(text: str) -> set[str]:
    return {w for w in _WORD.findall(plain_text(text)) if (w.isdigit() and len(w) >= 2) or
            (not w.isdigit() and len(w) >= 3 and w not in _COMMON)}


def lead_specific_terms(lead_material: Iterable[str], question: str, business_text: str) -> set[str]:
    """Words only this lead brought: their name, phone digits, profile, earlier messages and files — minus
    the words of the question itself (its key already holds them) and of the business's own description."""
    terms: set[str] = set()
    for text in lead_material:
        if not text:
            continue
        terms |= _terms(text)
        digits = re.sub(r"\D", "", text)
        if len(digits) >= 8:  # a phone number, however it is written in the reply
            terms.add(digits[-8:])
    return terms - _terms(question) - _terms(business_text)


def mentions_lead(reply: str, lead_terms: set[str]) -> set[str]:
    """The lead-specific words a reply repeats (numbers compared digit for digit, '350,00' as '350')."""
    words = _terms(reply) | {re.sub(r"\D", "", d)[-8:] for d in re.findall(r"[\d\s().-]{8,}", reply)
                             if len(re.sub(r"\D", "", d)) >= 8}
    return words & lead_terms


def why_not_cacheable(*, held: bool, handoff: bool, tool_calls: Iterable[dict], lead_changed: bool,
                      reply: str, lead_terms: set[str]) -> str | None:
    """None when the reply may be served to other leads; else the reason it may not."""
    if held:
        return "every model failed: the text is the holding message"
    if handoff:
        return "the turn handed off to a human"
    if lead_changed:
        return "the turn changed the lead's state"
    used = {c.get("name", "?") for c in tool_calls}
    if other := sorted(used - READ_ONLY_TOOLS):
        return f"the turn used tools that are not read-only lookups: {', '.join(other)}"
    if timely := sorted(used & TIME_DEPENDENT_TOOLS):
        return f"the reply rests on what is true only now: {', '.join(timely)}"
    if mentioned := mentions_lead(reply, lead_terms):
        return f"the reply mentions what this lead said ({len(mentioned)} term(s))"
    return None
