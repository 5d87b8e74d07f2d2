"""Deterministic document ids: redeliveries land on the same document, and no phone number sits in a path."""

import hashlib


def _digest(*parts: str, size: int = 24) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:size]


def conversation_id(channel_key: str, contact_phone: str) -> str:
    """One conversation per contact and channel."""
    return _digest("conv", channel_key, contact_phone)


def contact_id(contact_phone: str) -> str:
    """One lead record per phone number within a tenant, whatever channel they write on."""
    return _digest("contact", contact_phone)


def inbound_message_id(provider: str, channel_id: str, provider_message_id: str) -> str:
    """The dedupe key: the provider's message id, scoped to the channel it came on."""
    return _digest("in", provider, channel_id, provider_message_id)


def reply_message_id(inbound_id: str) -> str:
    """The outbound idempotency key: one reply per agent turn, and a turn is named by its last inbound message."""
    return _digest("reply", inbound_id)


def task_name(kind: str, *parts: str) -> str:
    """Hashed Cloud Tasks names spread load across the queue's key space (sequential names are slower)."""
    return f"{kind}-{_digest(kind, *parts, size=32)}"


def contact_key(tenant_id: str, contact_phone: str) -> str:
    """One lead per tenant and phone number, whatever channel it wrote on: the events' ordering key and CRM link id."""
    return _digest("contact", tenant_id, contact_phone)


def event_id(event_type: str, tenant_id: str, *cause: str) -> str:
    """Deterministic when the cause is: re-emitting the same fact lands on the same outbox document."""
    return f"evt-{_digest('event', event_type, tenant_id, *cause, size=32)}"


def followup_message_id(anchor_message_id: str, step: int) -> str:
    """One follow-up per step of a cadence, and a cadence is anchored to the lead's last message."""
    return _digest("followup", anchor_message_id, str(step))


def followup_task_name(tenant_id: str, conversation_id: str, step: int, anchor_message_id: str) -> str:
    return task_name("followup", tenant_id, conversation_id, str(step), anchor_message_id)


def seller_key(tenant_id: str, seller_phone: str) -> str:
    """One document per seller of a tenant (window, held alerts), with no phone number in the path."""
    return _digest("seller", tenant_id, seller_phone)
