"""Copilot mode: what the agent suggests to the human seller, and how the seller's actual message is judged
against the draft (the feedback loop)."""

from __future__ import annotations

import difflib
import unicodedata
from enum import StrEnum

from pydantic import BaseModel, Field


class Suggestion(BaseModel):
    draft_reply: str
    summary: str = ""
    tone: str = ""
    interests: list[str] = Field(default_factory=list)
    objections: list[str] = Field(default_factory=list)
    sentiment: str = ""
    intent: str = ""
    best_time_to_recontact: str = ""


SUGGESTION_SCHEMA = {
    "type": "object",
    "properties": {
        "draft_reply": {"type": "string", "description": "the message the seller could send now"},
        "summary": {"type": "string", "description": "the conversation so far, in two sentences"},
        "tone": {"type": "string", "description": "tone that suits this lead (formal, relaxed, direct…)"},
        "interests": {"type": "array", "items": {"type": "string"}},
        "objections": {"type": "array", "items": {"type": "string"},
                       "description": "objections and points of attention"},
        "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
        "intent": {"type": "string", "description": "question, interest, objection, closing…"},
        "best_time_to_recontact": {"type": "string"},
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
