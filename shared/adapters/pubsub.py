"""Pub/Sub adapter: publishes domain events, ordered per contact, with their id/type/tenant as attributes."""

from __future__ import annotations

import contextlib
import threading

from google.cloud import pubsub_v1

from shared.domain.errors import EventPublishFailed
from shared.domain.events import DomainEvent, encode_event

_client: pubsub_v1.PublisherClient | None = None
_client_lock = threading.Lock()


def publisher_client() -> pubsub_v1.PublisherClient:
    """One client per instance (PUBSUB_EMULATOR_HOST switches it to the emulator). Ordering keys need it enabled."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = pubsub_v1.PublisherClient(
                    publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True))
    return _client


class PubSubEventPublisher:
    """Publishes each event as its JSON; the ordering key is the contact, so a CRM sees a lead's events in order."""

    def __init__(self, client: pubsub_v1.PublisherClient, project: str, topic: str, timeout_seconds: float) -> None:
        self._client = client
        self._topic = client.topic_path(project, topic)
        self._timeout = timeout_seconds

    def publish(self, event: DomainEvent) -> str:
        key = event.contact_key
        future = self._client.publish(
            self._topic, encode_event(event), ordering_key=key, timeout=self._timeout,
            event_id=event.event_id, event_type=event.type, tenant_id=event.tenant_id,
            schema_version=str(event.schema_version),
        )
        try:
            return future.result(timeout=self._timeout)
        except Exception as err:  # timeouts, unavailability, a paused ordering key: all mean "not now"
            # A failed publish pauses its ordering key in the client; resume it so the drain can try again.
            # (After a mere timeout the batch is still in flight and the key is not paused.)
            with contextlib.suppress(RuntimeError):
                self._client.resume_publish(self._topic, key)
            raise EventPublishFailed(f"pub/sub did not take event {event.event_id}: {type(err).__name__}") from err
