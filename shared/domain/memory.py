"""Bounded conversation memory: a rolling summary plus the latest messages, so prompts and reads per turn
stay flat however long the conversation runs."""

from __future__ import annotations

from shared.domain.conversation import StoredMessage


def estimate_tokens(text: str) -> int:
    """About four characters per token in Portuguese and English; used for budgets, never for billing."""
    return max(1, len(text) // 4)


def window_tokens(messages: list[StoredMessage]) -> int:
    return sum(estimate_tokens(m.text or "") + 4 for m in messages)


def needs_summary(window: list[StoredMessage], limit: int, token_budget: int) -> bool:
    """A full window (older messages are about to fall out of it) or one over budget gets summarized."""
    return len(window) >= limit or window_tokens(window) > token_budget


def split_for_summary(window: list[StoredMessage]) -> tuple[list[StoredMessage], list[StoredMessage]]:
    """Fold the older half into the summary; keep the newer half verbatim."""
    cut = max(1, len(window) // 2)
    return window[:cut], window[cut:]


def transcript(messages: list[StoredMessage]) -> str:
    names = {"lead": "Lead", "agent": "Agent", "human": "Seller"}
    return "\n".join(f"{names.get(m.role.value, m.role.value)}: {m.text or '[' + m.kind.value + ']'}"
                     for m in messages)
