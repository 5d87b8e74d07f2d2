"""A lead's qualification (BANT + notes) and pipeline stage, and the rules for changing them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class Stage(StrEnum):
    NEW = "new"
    QUALIFYING = "qualifying"
    QUALIFIED = "qualified"
    MEETING = "meeting"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    WON = "won"
    LOST = "lost"


QUALIFICATION_FIELDS = ("name", "company", "need", "budget", "authority", "timeline")


class LeadProfile(BaseModel):
    """tenants/{t}/contacts/{contact_id}: what the agent learned about the lead."""

    phone: str
    name: str | None = None
    company: str | None = None
    need: str | None = None
    budget: str | None = None
    authority: str | None = None
    timeline: str | None = None
    notes: list[str] = Field(default_factory=list)
    stage: Stage = Stage.NEW
    location: str | None = Field(default=None, description="where the lead said they are, in their words")
    time_zone: str | None = Field(default=None, description="IANA zone of that place: meeting times are read and "
                                                            "shown in it")

    @property
    def bant_complete(self) -> bool:
        return all((self.budget, self.authority, self.need, self.timeline))


class LeadChange(BaseModel):
    """What one update changed; the source of LeadUpdated / LeadQualified / LeadStageChanged events."""

    changed: dict[str, Any] = Field(default_factory=dict)
    stage_from: Stage | None = None
    stage_to: Stage | None = None
    became_qualified: bool = False

    @property
    def empty(self) -> bool:
        return not self.changed and self.stage_to is None


def apply_update(profile: LeadProfile, update: dict[str, Any]) -> tuple[LeadProfile, LeadChange]:
    """Merge what the model extracted. Unknown keys are ignored: a tool argument can never address
    another contact or field. Empty values never erase what is known."""
    changed: dict[str, Any] = {}
    data = profile.model_dump()
    for field in QUALIFICATION_FIELDS:
        value = update.get(field)
        if isinstance(value, (str, int, float)) and str(value).strip() and str(value).strip() != data[field]:
            data[field] = str(value).strip()[:300]
            changed[field] = data[field]
    note = update.get("notes")
    if isinstance(note, str) and note.strip() and note.strip() not in data["notes"]:
        data["notes"] = [*data["notes"], note.strip()[:500]][-20:]
        changed["notes"] = note.strip()[:500]
    _apply_location(update, data, changed)
    updated = LeadProfile.model_validate(data)
    change = LeadChange(changed=changed)

    requested = update.get("stage")
    if isinstance(requested, str) and requested in Stage.__members__.values() and requested != profile.stage:
        updated.stage = Stage(requested)
    elif updated.bant_complete and profile.stage in (Stage.NEW, Stage.QUALIFYING):
        updated.stage = Stage.QUALIFIED
    elif changed and profile.stage == Stage.NEW:
        updated.stage = Stage.QUALIFYING
    if updated.stage != profile.stage:
        change.stage_from, change.stage_to = profile.stage, updated.stage
    change.became_qualified = updated.bant_complete and not profile.bant_complete
    return updated, change


def _apply_location(update: dict[str, Any], data: dict[str, Any], changed: dict[str, Any]) -> None:
    """Where the lead is, and its time zone: the IANA name the model gave when it is one, else the place's zone.
    A place spanning several zones ("Estados Unidos") keeps the known zone: the agent asks for the city."""
    from shared.domain.scheduling import known_zone, zone_for_place  # noqa: PLC0415 - scheduling imports no lead

    place = update.get("location")
    if isinstance(place, str) and place.strip() and place.strip()[:120] != data["location"]:
        data["location"] = changed["location"] = place.strip()[:120]
    zone = known_zone(update.get("time_zone")) or (
        zone_for_place(place) if isinstance(place, str) and place.strip() else None)
    if zone and zone != data["time_zone"]:
        data["time_zone"] = changed["time_zone"] = zone
