"""Copilot mode: what the agent suggests to the human seller, and how the seller's actual message is judged
against the draft (the feedback loop)."""

from __future__ import annotations

import difflib
import unicodedata
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator


INTENTS = ("question", "doubt", "interest", "objection", "closing", "other")
_INTENT_PT = {"question": "pergunta", "doubt": "dúvida", "interest": "interesse", "objection": "objeção",
              "closing": "fechamento", "other": "outro"}
_SENTIMENT_PT = {"positive": "positivo", "neutral": "neutro", "negative": "negativo"}


class Suggestion(BaseModel):
    draft_reply: str
    summary: str = ""
    tone: str = ""
    interests: list[str] = Field(default_factory=list)
    objections: list[str] = Field(default_factory=list)
    sentiment: str = ""
    intent: str = ""
    best_time_to_recontact: str = ""
    best_time_evidence: str = ""

    @field_validator("intent")
    @classmethod
    def _closed_intent(cls, value: str) -> str:
        """A closed set: a model that answers outside it gets 'other', not a new category."""
        plain = value.strip().lower()
        return plain if plain in INTENTS else ("other" if plain else "")

    def seller_lines(self) -> list[str]:
        """The compact hints under the draft on the seller's WhatsApp."""
        lines = []
        if self.summary:
            lines.append("Resumo: " + " ".join(self.summary.split())[:240])
        if self.interests:
            lines.append("Interesses: " + ", ".join(self.interests[:4]))
        if self.objections:
            lines.append("Atenção: " + ", ".join(self.objections[:4]))
        tags = [f"Sentimento: {_SENTIMENT_PT.get(self.sentiment, self.sentiment)}" if self.sentiment else "",
                f"Intenção: {_INTENT_PT.get(self.intent, self.intent)}" if self.intent else "",
                f"Tom: {self.tone}" if self.tone else ""]
        if any(tags):
            lines.append(" · ".join(t for t in tags if t))
        if self.best_time_to_recontact:
            evidence = f" ({self.best_time_evidence})" if self.best_time_evidence else ""
            lines.append(f"Melhor horário: {self.best_time_to_recontact}{evidence}")
        return lines


SUGGESTION_SCHEMA = {
    "type": "object",
    "properties": {
        "draft_reply": {"type": "string", "description": "the message the seller could send now"},
        "summary": {"type": "string", "description": "the conversation so far, in at most two short lines"},
        "tone": {"type": "string", "description": "tone that suits this lead (formal, relaxed, direct…)"},
        "interests": {"type": "array", "items": {"type": "string"}},
        "objections": {"type": "array", "items": {"type": "string"},
                       "description": "objections and points of attention"},
        "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
        "intent": {"type": "string", "enum": list(INTENTS)},
        "best_time_to_recontact": {"type": "string",
                                   "description": "the computed best time given in the instructions, phrased"},
    },
    "required": ["draft_reply", "summary", "tone", "sentiment", "intent"],
}


class Feedback(StrEnum):
    ACCEPTED = "accepted"
    EDITED = "edited"
    IGNORED = "ignored"


def _plain(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode().split())


def judge(draft: str, sent: str) -> tuple[Feedback, float]:
    """Sent as drafted (≥ 0.9 similar), edited (≥ 0.5) or ignored."""
    ratio = difflib.SequenceMatcher(None, _plain(draft), _plain(sent)).ratio()
    if ratio >= 0.9:
        return Feedback.ACCEPTED, round(ratio, 3)
    if ratio >= 0.5:
        return Feedback.EDITED, round(ratio, 3)
    return Feedback.IGNORED, round(ratio, 3)
