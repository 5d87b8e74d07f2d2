"""A meeting or visit the lead asked for; a seller confirms one of the proposed times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class MeetingRequest:
    meeting_id: str
    tenant_id: str
    conversation_id: str
    contact_id: str
    proposed_times: list[str]
    topic: str
    requested_at: datetime
