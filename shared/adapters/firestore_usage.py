"""The usage ledger: one document per model call under tenants/{t}/model_calls."""

from __future__ import annotations

from google.cloud import firestore

from shared.adapters.firestore_client import _tenant
from shared.domain.usage import ModelCall


class FirestoreUsageLedger:
    """tenants/{t}/model_calls/{auto}: one document per model call, queried and summed per agent or conversation."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def record_model_call(self, tenant_id: str, agent_id: str, conversation_id: str, call: ModelCall) -> None:
        _tenant(self._db, tenant_id).collection("model_calls").add(
            {**call.model_dump(mode="python"), "tenant_id": tenant_id, "agent_id": agent_id,
             "conversation_id": conversation_id, "at": firestore.SERVER_TIMESTAMP}
        )
