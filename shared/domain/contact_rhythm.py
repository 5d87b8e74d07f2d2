"""When a lead writes: the best time to re-contact, computed from the lead's own message timestamps (hours and
weekdays they write, how long they take to answer us). The model only phrases it; it never invents it."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

_WEEKDAYS = ("seg", "ter", "qua", "qui", "sex", "sáb", "dom")
MIN_MESSAGES = 3  # fewer lead messages than this are not evidence of a habit
WINDOW_HOURS = 2


@dataclass(frozen=True)
class BestTime:
    """The computed best time and the evidence behind it, in words a seller reads on WhatsApp."""

    lead_messages: int
    window: tuple[int, int] | None  # local hours [start, end)
    in_window: int
    weekdays: tuple[str, ...]
    median_reply_minutes: float | None
    replies_measured: int

    @property
    def suggestion(self) -> str:
        if self.window is None:
            return f"sem padrão ainda ({self.lead_messages} mensagem(ns) do lead)"
        days = "/".join(self.weekdays)
        when = f"{days}, " if days else ""
        return f"{when}entre {self.window[0]:02d}h e {self.window[1] % 24:02d}h"

    @property
    def evidence(self) -> str:
        # Without a window the suggestion already says how few messages there are.
        parts = [f"{self.in_window} de {self.lead_messages} mensagens do lead nesse horário"] if self.window else []
        if self.median_reply_minutes is not None:
            parts.append(f"responde em ~{_minutes(self.median_reply_minutes)} (mediana de {self.replies_measured})")
        return "; ".join(parts)


def _minutes(value: float) -> str:
    if value < 90:
        return f"{max(1, round(value))} min"
    return f"{value / 60:.1f} h".replace(".", ",")


def best_time(messages: list[tuple[str, datetime]], time_zone: str = "America/Sao_Paulo") -> BestTime:
    """messages: (role, sent_at) oldest first; role 'lead' for the lead, anything else for our side."""
    zone = ZoneInfo(time_zone)
    lead_times = [at.astimezone(zone) for role, at in messages if role == "lead"]
    delays: list[float] = []
    last_ours: datetime | None = None
    for role, at in messages:
        if role != "lead":
            last_ours = at
        elif last_ours is not None:
            # The lead's first message after ours: how long they took to answer.
            delays.append((at - last_ours).total_seconds() / 60)
            last_ours = None
    median = statistics.median(delays) if delays else None
    if len(lead_times) < MIN_MESSAGES:
        return BestTime(len(lead_times), None, 0, (), median, len(delays))
    hours = Counter(t.hour for t in lead_times)
    # The WINDOW_HOURS-long window holding most lead messages; ties go to the earliest start.
    start = max(range(24), key=lambda h: (sum(hours[(h + k) % 24] for k in range(WINDOW_HOURS)), -h))
    in_window = sum(hours[(start + k) % 24] for k in range(WINDOW_HOURS))
    days = Counter(t.weekday() for t in lead_times)
    top = [d for d, n in sorted(days.items(), key=lambda item: (-item[1], item[0])) if n >= 2][:2]
    return BestTime(len(lead_times), (start, start + WINDOW_HOURS), in_window,
                    tuple(_WEEKDAYS[d] for d in sorted(top)), median, len(delays))
