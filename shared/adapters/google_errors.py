"""The google-api-core errors that mean "the service did not answer this time", shared by every Google adapter.

One list, so Firestore, Cloud Storage and Cloud Tasks agree on what is worth retrying later (the adapters raise
TransientError: 503 at a webhook, a redelivery for Cloud Tasks and Pub/Sub) and what is a bug or a refusal.
"""

from __future__ import annotations

from google.api_core import exceptions as gexc

# 429/500/502/503/504 and the client's own deadline; `Aborted` is a transaction that lost to contention and
# `RetryError` a client-side retry budget spent: both pass if tried again. ConnectionError: the socket itself.
TRANSIENT_GOOGLE_ERRORS: tuple[type[BaseException], ...] = (
    gexc.TooManyRequests, gexc.InternalServerError, gexc.BadGateway, gexc.ServiceUnavailable, gexc.GatewayTimeout,
    gexc.DeadlineExceeded, gexc.Aborted, gexc.RetryError, ConnectionError,
)
