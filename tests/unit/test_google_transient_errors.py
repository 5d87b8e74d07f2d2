"""Every Google adapter treats the same failures as passing (TransientError → 503 or a redelivery). Before the
list was shared, the follow-up sweep and the media claim let a 429, an aborted transaction or a spent retry
budget escape as an unmapped exception (a bare 500 / a crashed sweep)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from shared.adapters.firestore_followups import FirestoreFollowupStore
from shared.adapters.firestore_media import FirestoreMediaStore
from shared.domain.errors import TransientError

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
PASSING = [gexc.TooManyRequests("quota"), gexc.Aborted("contention"), gexc.ServiceUnavailable("down"),
           gexc.DeadlineExceeded("slow"), gexc.RetryError("budget spent", cause=None), ConnectionError("reset")]


class _Raising:
    """Stands for the Firestore client: any query or transaction raises the given error."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def collection_group(self, _name: str) -> _Raising:
        return self

    def collection(self, _name: str) -> _Raising:
        return self

    def document(self, _name: str) -> _Raising:
        return self

    def where(self, **_kw: Any) -> _Raising:
        return self

    def order_by(self, _field: str) -> _Raising:
        return self

    def limit(self, _n: int) -> _Raising:
        return self

    def stream(self) -> Any:
        raise self.error

    def transaction(self) -> Any:
        raise self.error


@pytest.mark.parametrize("error", PASSING, ids=lambda e: type(e).__name__)
def test_the_follow_up_sweep_reports_a_passing_outage_as_transient(error: BaseException) -> None:
    with pytest.raises(TransientError):
        FirestoreFollowupStore(_Raising(error)).due_followups(NOW, 10)  # type: ignore[arg-type]


@pytest.mark.parametrize("error", PASSING, ids=lambda e: type(e).__name__)
def test_the_media_claim_reports_a_passing_outage_as_transient(error: BaseException) -> None:
    with pytest.raises(TransientError):
        FirestoreMediaStore(_Raising(error)).claim_media("t1", "c1", "m1", NOW, 60)  # type: ignore[arg-type]


def test_a_refusal_is_not_mistaken_for_an_outage() -> None:
    with pytest.raises(gexc.PermissionDenied):
        FirestoreFollowupStore(_Raising(gexc.PermissionDenied("no"))).due_followups(NOW, 10)  # type: ignore[arg-type]
