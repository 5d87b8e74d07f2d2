"""Benchmark: the scheduling rules. How many of a set of pt-BR answers to an offer parse to the intended
choice (parse_choice), and how long free slots take over a full horizon (free_slots). Not a test: it prints.

The answers are written for this bench (typical WhatsApp replies to "tenho seg 10h, ter 9h ou qua 14h"),
labelled with the choice a person would read; misses are printed so the rules can be judged, not gamed.

    .venv/bin/python -m bench.scheduling
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from shared.domain.scheduling import CalendarConfig, Interval, MeetingKind, Slot, free_slots, parse_choice

SP = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=SP)  # a Monday
OFFERED = [Slot(datetime(2026, 11, 30, 10, 0, tzinfo=SP), datetime(2026, 11, 30, 11, 0, tzinfo=SP), "a"),
           Slot(datetime(2026, 12, 1, 9, 0, tzinfo=SP), datetime(2026, 12, 1, 10, 0, tzinfo=SP), "a"),
           Slot(datetime(2026, 12, 2, 14, 0, tzinfo=SP), datetime(2026, 12, 2, 15, 0, tzinfo=SP), "a")]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SP) if day <= 30 else datetime(
        2026, 12, day - 30, hour, minute, tzinfo=SP)


# (answer, expected): an int is an offered option's index, a datetime a named time, "day:<date>" a bare day,
# None no choice at all.
ANSWERS: list[tuple[str, object]] = [
    ("o primeiro", 0), ("pode ser o primeiro", 0), ("primeira opção", 0), ("1", 0), ("opção 1", 0),
    ("o segundo", 1), ("a segunda opção", 1), ("segunda!", 1), ("2", 1), ("quero a 2", 1),
    ("o terceiro", 2), ("a terceira", 2), ("a última", 2), ("pode ser a ultima opcao", 2), ("3", 2),
    ("às 14h", 2), ("pode ser às 9h", 1), ("10h tá ótimo", 0),
    ("pode ser quinta às 15h", at(33, 15)), ("quinta 15:30", at(33, 15, 30)), ("amanhã às 10h", at(31, 10)),
    ("amanhã 10h30", at(31, 10, 30)), ("sexta às 11", at(34, 11)), ("segunda-feira às 9h", at(37, 9)),
    ("dia 02/12 às 3 da tarde", at(32, 15)), ("04/12 16h", at(34, 16)), ("hoje às 17h", at(30, 17)),
    ("depois de amanhã às 8h", at(32, 8)), ("quarta às 2 da tarde", at(32, 14)),
    ("pode ser na sexta", "day:2026-12-04"), ("quinta-feira", "day:2026-12-03"), ("amanhã", "day:2026-12-01"),
    ("quanto custa?", None), ("ok", None), ("sim, quero", None), ("não posso essa semana", None),
]


def _got(answer: str) -> object:
    choice = parse_choice(answer, OFFERED, NOW, SP)
    if choice is None:
        return None
    if choice.offered_index is not None:
        return choice.offered_index
    if choice.wanted is not None:
        return choice.wanted
    return f"day:{choice.day_only.isoformat()}"


def main() -> int:
    started = time.perf_counter()
    results = [(answer, expected, _got(answer)) for answer, expected in ANSWERS]
    per_answer_us = (time.perf_counter() - started) / len(ANSWERS) * 1e6
    misses = [r for r in results if r[1] != r[2]]
    print(f"parse_choice on {len(ANSWERS)} pt-BR answers to an offer of three slots: "
          f"{len(ANSWERS) - len(misses)}/{len(ANSWERS)} right ({1 - len(misses) / len(ANSWERS):.1%}), "
          f"{per_answer_us:.0f} µs per answer")
    for answer, expected, got in misses:
        print(f"  miss: {answer!r}: expected {expected}, got {got}")

    rng = random.Random(19)
    calendars = ["ana@x.com", "bia@x.com", "caio@x.com"]
    config = CalendarConfig(calendar_ids=calendars, kinds=[MeetingKind(name="Visita", duration_minutes=60,
                                                                       buffer_minutes=30)], horizon_days=30)
    busy = {c: sorted((Interval(s, s + timedelta(minutes=rng.choice((30, 60, 90, 120))))
                       for s in (NOW + timedelta(minutes=30 * rng.randrange(0, 30 * 48)) for _ in range(100))),
                      key=lambda i: i.start) for c in calendars}
    runs = 20
    started = time.perf_counter()
    for _ in range(runs):
        slots = free_slots(config, config.kinds[0], busy, NOW, limit=10_000)
    per_run_ms = (time.perf_counter() - started) / runs * 1000
    print(f"free_slots over 30 days, 3 calendars x 100 busy events, 30-min grid: {len(slots)} slots in "
          f"{per_run_ms:.1f} ms per run")
    _lead_zones()
    return 0


def _lead_zones() -> None:
    """The lead's zone from the phone: libphonenumber's time-zone tables load on the first call of a process."""
    import sys

    from shared.domain.phone import phone_time_zone

    phones = [f"+55{ddd}9{n:08d}" for ddd in (11, 21, 31, 41, 51, 61, 68, 71, 81, 85, 91, 92, 93, 95)
              for n in range(12345678, 12345678 + 70)]
    fresh = "phonenumbers.timezone" not in sys.modules
    started = time.perf_counter()
    phone_time_zone(phones[0])
    first_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    zones = [phone_time_zone(p) for p in phones]
    per_call_us = (time.perf_counter() - started) / len(phones) * 1e6
    print(f"phone_time_zone: first call {first_ms:.0f} ms ({'tables loaded then' if fresh else 'tables loaded'}), "
          f"then {per_call_us:.0f} µs per number over {len(phones)} Brazilian mobiles "
          f"({len(set(zones))} distinct zones, {zones.count(None)} unknown)")


if __name__ == "__main__":
    raise SystemExit(main())
