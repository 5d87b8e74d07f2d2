"""Every Cloud Function entry point, from one source archive.

Functions Framework looks the target up by name on this module. Names resolve lazily (PEP 562), so
an instance serving one function imports that function's module and dependencies only.
"""

from __future__ import annotations

import importlib
from typing import Any

_ENTRY_POINTS = {
    "whatsapp_webhook": "functions.webhook",
    "agent_turn": "functions.agent_turn",
    "chat_api": "functions.chat_api",
    "conversation_audit": "functions.conversation_audit",
    "crm_sync": "functions.crm_sync",
    "knowledge_ingest": "functions.knowledge_ingest",
    "knowledge_lookup": "functions.knowledge_lookup",
    "media_processor": "functions.media_processor",
    "outbox_drain": "functions.outbox_drain",
    "followup_turn": "functions.followup_turn",
    "followup_sweep": "functions.followup_sweep",
    "lgpd_admin": "functions.lgpd_admin",
    "metrics_rollup": "functions.metrics_rollup",
    "tenant_report": "functions.tenant_report",
    "voice_admin": "functions.voice_admin",
    "weekly_digest": "functions.weekly_digest",
}

__all__ = sorted(_ENTRY_POINTS)


def __getattr__(name: str) -> Any:
    module = _ENTRY_POINTS.get(name)
    if module is None:
        raise AttributeError(f"module 'main' has no entry point {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
