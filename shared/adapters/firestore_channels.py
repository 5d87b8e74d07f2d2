"""Channels, agents and tenants, and the global channel registry (channel_registry/{provider}:{channel_id}).

The registry is the only cross-tenant read: a webhook knows the number before it knows the tenant, and the
registry document names the one tenant that owns it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.adapters.firestore_client import _deadline, _tenant
from shared.adapters.google_errors import TRANSIENT_GOOGLE_ERRORS
from shared.domain.config_document import parse_config
from shared.domain.errors import ChannelAlreadyRegistered, InvalidConfiguration, TransientError
from shared.domain.followup import cadence_with_defaults
from shared.domain.tenancy import AgentConfig, Channel, Tenant, agent_path, channel_key, channel_path, tenant_path


class FirestoreChannelDirectory:
    """Channel and agent lookups, cached per instance: they change rarely and sit on the webhook's hot path."""

    def __init__(self, db: firestore.Client, cache_seconds: float = 60.0,
                 cadence_defaults: Mapping[str, Any] | None = None, call_timeout: float | None = None) -> None:
        self._db = db
        self._call = _deadline(call_timeout)
        self._ttl = cache_seconds
        self._cache: dict[str, tuple[float, Any]] = {}
        self._cadence_defaults = dict(cadence_defaults or {})

    def _cached(self, key: str, load: Any) -> Any:
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit and now - hit[0] < self._ttl:
            return hit[1]
        value = load()
        self._cache[key] = (now, value)
        return value

    def find_channel(self, provider: str, channel_id: str) -> Channel | None:
        """The channel a number is registered to, inactive ones included (their messages are stored, not answered).

        The registry document names the one tenant that owns the number; no query can pick another tenant's
        document that happens to carry the same key. Raises InvalidConfiguration for an invalid channel document.
        """
        key = channel_key(provider, channel_id)
        if not _usable_id(key):
            return None

        def load() -> Channel | None:
            try:
                entry = self._db.collection(CHANNEL_REGISTRY).document(key).get(**self._call)
                if not entry.exists:
                    return None
                tenant_id = (entry.to_dict() or {}).get("tenant_id")
                if not isinstance(tenant_id, str) or not _usable_id(tenant_id):
                    raise InvalidConfiguration(f"{CHANNEL_REGISTRY}/{key}", ["tenant_id: not a tenant id"])
                snap = _tenant(self._db, tenant_id).collection("channels").document(key).get(**self._call)
            except TRANSIENT_GOOGLE_ERRORS as err:
                raise TransientError("firestore unavailable while looking up a channel") from err
            if not snap.exists:
                return None  # registered, but its tenant removed the channel document
            return parse_config(Channel, snap.to_dict(), channel_path(tenant_id, key))

        return self._cached(f"channel:{key}", load)

    def find_agent(self, tenant_id: str, agent_id: str) -> AgentConfig | None:
        """The agent's document, validated; None if there is none. Raises InvalidConfiguration if it is invalid."""
        def load() -> AgentConfig | None:
            try:
                snap = _tenant(self._db, tenant_id).collection("agents").document(agent_id).get(**self._call)
            except TRANSIENT_GOOGLE_ERRORS as err:
                raise TransientError("firestore unavailable while reading an agent") from err
            if not snap.exists:
                return None
            doc = {**(snap.to_dict() or {}), "agent_id": agent_id}
            if self._cadence_defaults:
                doc["followup"] = cadence_with_defaults(doc.get("followup"), self._cadence_defaults)
            return parse_config(AgentConfig, doc, agent_path(tenant_id, agent_id))

        return self._cached(f"agent:{tenant_id}:{agent_id}", load)

    def get_agent(self, tenant_id: str, agent_id: str) -> AgentConfig:
        """The agent, or the defaults when the tenant wrote no document for it."""
        agent = self.find_agent(tenant_id, agent_id)
        if agent is not None:
            return agent
        followup = cadence_with_defaults(None, self._cadence_defaults) if self._cadence_defaults else None
        return AgentConfig(agent_id=agent_id, **({"followup": followup} if followup else {}))

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        """The tenant's document, validated; None if there is none. Raises InvalidConfiguration if it is invalid."""
        def load() -> Tenant | None:
            try:
                snap = _tenant(self._db, tenant_id).get(**self._call)
            except TRANSIENT_GOOGLE_ERRORS as err:
                raise TransientError("firestore unavailable while reading a tenant") from err
            if not snap.exists:
                return None
            return parse_config(Tenant, snap.to_dict(), tenant_path(tenant_id))

        return self._cached(f"tenant:{tenant_id}", load)

    def channels_for_agent(self, tenant_id: str, agent_id: str) -> list[Channel]:
        """The tenant's channels answered by the agent, by key. A channel without agent_id is the default agent's,
        so the tenant's channels (a handful) are read and filtered here rather than queried on agent_id."""
        def load() -> list[Channel]:
            try:
                snaps = list(_tenant(self._db, tenant_id).collection("channels").stream(**self._call))
            except TRANSIENT_GOOGLE_ERRORS as err:
                raise TransientError("firestore unavailable while listing a tenant's channels") from err
            channels = [parse_config(Channel, snap.to_dict(), channel_path(tenant_id, snap.id)) for snap in snaps]
            return sorted((c for c in channels if c.agent_id == agent_id), key=lambda c: c.key)

        return self._cached(f"channels:{tenant_id}:{agent_id}", load)

    def save_channel(self, channel: Channel) -> None:
        """Register the number to this tenant and write its channel document, in one transaction.

        The registry document (channel_registry/{provider}:{channel_id}) is created with create(): a number
        registered to another tenant raises ChannelAlreadyRegistered and nothing is written. Saving a channel
        again for its own tenant (new credentials, another agent) just rewrites the channel document.
        """
        registry = self._db.collection(CHANNEL_REGISTRY).document(channel.key)
        ref = _tenant(self._db, channel.tenant_id).collection("channels").document(channel.key)

        @firestore.transactional
        def register(tx: firestore.Transaction) -> None:
            entry = registry.get(transaction=tx)
            if entry.exists:
                _same_owner_or_refuse(channel.key, entry.to_dict() or {}, channel.tenant_id)
            else:
                tx.create(registry, _registry_entry(channel))
            tx.set(ref, {**channel.model_dump(mode="json", exclude={"channel_key"}), "channel_key": channel.key})

        try:
            register(self._db.transaction())
        except gexc.Conflict as err:  # a concurrent registration created the entry first
            entry = registry.get()
            _same_owner_or_refuse(channel.key, entry.to_dict() or {}, channel.tenant_id)
            raise TransientError(f"{channel.key} was registered concurrently; save it again") from err
        self._cache.pop(f"channel:{channel.key}", None)

    def registered_channels(self) -> list[tuple[str, str]]:
        """(provider:channel_id, tenant id) of every registered number, for admin listings."""
        return [(snap.id, (snap.to_dict() or {}).get("tenant_id", "")) for snap in
                self._db.collection(CHANNEL_REGISTRY).order_by("__name__").stream()]

    def register_existing_channels(self) -> RegistryMigration:
        """Migration for channel documents written before the registry: register each one whose number no other
        tenant claims; report the numbers two tenants claim (an admin decides; nothing is picked for them)."""
        report = RegistryMigration()
        # Ordered by channel_key (every channel document carries it): the collection-group index Terraform keeps.
        for snap in self._db.collection_group("channels").order_by("channel_key").stream():
            tenant_id = snap.reference.parent.parent.id
            registry = self._db.collection(CHANNEL_REGISTRY).document(snap.id)
            try:
                registry.create({"tenant_id": tenant_id, "channel_key": snap.id,
                                 "registered_at": firestore.SERVER_TIMESTAMP, "registered_by": "migration"})
                report.registered.append(snap.id)
            except gexc.Conflict:
                owner = (registry.get().to_dict() or {}).get("tenant_id")
                if owner == tenant_id:
                    report.already.append(snap.id)
                else:
                    report.conflicts.append(f"{snap.id}: registered to {owner}, also claimed by {tenant_id}")
        return report


CHANNEL_REGISTRY = "channel_registry"  # the one global collection: which tenant owns each number


@dataclass
class RegistryMigration:
    registered: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def _usable_id(value: str) -> bool:
    """Firestore document id rules (https://firebase.google.com/docs/firestore/quotas): no '/', not '.' or '..',
    not __.*__, at most 1,500 bytes. Anything else is no document of ours (and would make the client raise)."""
    return (bool(value) and "/" not in value and value not in (".", "..")
            and not (value.startswith("__") and value.endswith("__")) and len(value.encode("utf-8", "replace")) <= 1500)


def _registry_entry(channel: Channel) -> dict[str, Any]:
    return {"tenant_id": channel.tenant_id, "channel_key": channel.key, "provider": channel.provider.value,
            "registered_at": firestore.SERVER_TIMESTAMP}


def _same_owner_or_refuse(key: str, entry: Mapping[str, Any], tenant_id: str) -> None:
    if entry.get("tenant_id") != tenant_id:
        raise ChannelAlreadyRegistered(f"{key} is already registered to another tenant; remove it there first")
