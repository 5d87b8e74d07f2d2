"""The tenant's catalogue (products, prices, sales figures) and a small, dependency-free search over it."""

from __future__ import annotations

import re
import unicodedata

from pydantic import BaseModel, Field


class CatalogItem(BaseModel):
    """tenants/{t}/catalog/{item_id}: written by the business (console or import)."""

    item_id: str
    name: str
    description: str = ""
    price: str | None = Field(default=None, description="as the business states it, e.g. 'R$ 18.900 à vista'")
    details: dict[str, str] = Field(default_factory=dict, description="e.g. payback, warranty, units sold")
    keywords: list[str] = Field(default_factory=list)


_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"de", "da", "do", "das", "dos", "e", "o", "a", "os", "as", "um", "uma", "para", "com", "que", "qual",
         "quanto", "custa", "preco", "valor", "tem", "voces", "me", "em", "no", "na", "por"}


def _terms(text: str) -> set[str]:
    plain = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    return {w for w in _WORD.findall(plain) if w not in _STOP and (len(w) > 1 or w.isdigit())}


def rank_items(items: list[CatalogItem], query: str, limit: int = 5) -> list[CatalogItem]:
    """Items sharing the most terms with the query; an empty query lists the first items."""
    wanted = _terms(query)
    if not wanted:
        return items[:limit]
    scored = []
    for item in items:
        haystack = _terms(" ".join([item.name, item.description, *item.keywords, *item.details.values()]))
        score = len(wanted & haystack) + 2 * len(wanted & _terms(item.name))
        if score:
            scored.append((score, item.name, item))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [item for _, _, item in scored[:limit]]
