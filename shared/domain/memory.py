"""Bounded conversation memory: a rolling summary plus the latest messages, so prompts and reads per turn
stay flat however long the conversation runs. Messages are measured and summarized as the prompt renders them
(a voice note's transcript, an image's description, a document's text), so what a lead sent is never reduced
to "[audio]" when it scrolls out of the window."""

from __future__ import annotations

from shared.domain.conversation import StoredMessage
from shared.domain.prompt import render_message

# One message's share of the text the summary is written from, and the whole text's cap: a long PDF is
# summarized from its start, and the summary call stays bounded however heavy the folded half is.
_SUMMARY_MESSAGE_CHARS = 1500
_SUMMARY_INPUT_CHARS = 12000


def estimate_tokens(text: str) -> int:
    """About four characters per token in Portuguese and English; used for budgets, never for billing."""
    return max(1, len(text) // 4)


def window_tokens(messages: list[StoredMessage]) -> int:
    return sum(estimate_tokens(render_message(m)) + 4 for m in messages)


def needs_summary(window: list[StoredMessage], limit: int, token_budget: int) -> bool:
    """A window about to be full, or over budget, gets summarized. "About to": the turn's reply and the lead's
    next messages arrive before the next read, and a read of `limit` messages silently drops whatever is older
    — so folding waits for a full window only at the cost of losing a message (a voice note, a bill)."""
    headroom = max(1, limit // 4)
    return len(window) >= limit - headroom or window_tokens(window) > token_budget


def split_for_summary(window: list[StoredMessage]) -> tuple[list[StoredMessage], list[StoredMessage]]:
    """Fold the older half into the summary; keep the newer half verbatim."""
    cut = max(1, len(window) // 2)
    return window[:cut], window[cut:]


def transcript(messages: list[StoredMessage]) -> str:
    """The folded messages as the summary model reads them, media rendered like in the prompt, bounded."""
    names = {"lead": "Lead", "agent": "Agent", "human": "Seller"}
    lines = []
    for m in messages:
        text = render_message(m)
        if len(text) > _SUMMARY_MESSAGE_CHARS:
            text = text[:_SUMMARY_MESSAGE_CHARS] + " […]"
        lines.append(f"{names.get(m.role.value, m.role.value)}: {text}")
    joined = "\n".join(lines)
    return joined if len(joined) <= _SUMMARY_INPUT_CHARS else joined[:_SUMMARY_INPUT_CHARS] + " […]"
