"""After a meeting is booked, moved or cancelled, from a WhatsApp conversation or the /chat API: the seller whose
calendar holds it hears of it on their WhatsApp through the seller desk, and the lead's reminder is scheduled.
Shared by the agent turn and the chat service; best effort, never failing the lead's reply."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared import log
from shared.domain.errors import InvalidConfiguration
from shared.domain.scheduling import describe_for_business
from shared.domain.seller_desk import RefKind
from shared.domain.tenancy import AgentConfig, Channel, Seller
from shared.services.tools import BookingChange

if TYPE_CHECKING:
    from shared.services.agent_turn import TurnDeps

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BookedBy:
    """The lead and the conversation the booking came from."""

    tenant_id: str
    conversation_id: str
    channel_key: str  # the conversation's: a WhatsApp channel, or api:chat
    name: str | None
    contact: str  # what the seller reads as the lead's contact: their WhatsApp number, or what they gave the chat
    website_chat: bool = False


def announce_booking(deps: TurnDeps, channel: Channel | None, agent: AgentConfig, by: BookedBy,
                     change: BookingChange) -> None:
    """Tell the calendar's seller(s) — every seller when no seller names that calendar — from `channel` (the
    conversation's own, or for /chat a WhatsApp channel of the tenant serving the agent; None when it has none:
    recorded as not delivered, on the booking and in the log). The lead's reminder is scheduled either way."""
    booking = change.booking
    sellers = agent.sellers_for_calendar(booking.calendar_id)
    if sellers:
        alert_id = f"meeting-{change.action}-{booking.event_id or by.conversation_id}-{booking.changes}"
        if channel is None:
            reason = f"the tenant has no active WhatsApp channel for agent {agent.agent_id!r} to alert the seller from"
            log.log(logger, logging.ERROR, "meeting alert not delivered", reason=reason, alert_id=alert_id)
            _note(deps, agent, by, alert_id, f"not_delivered: {reason}")
        else:
            _deliver(deps, channel, agent, by, change, sellers, alert_id)
    if deps.after_booking is not None and agent.calendar is not None:
        try:
            deps.after_booking(by.tenant_id, by.conversation_id, change, agent.calendar)
        except Exception as err:  # noqa: BLE001 - the booking stands; a missing reminder is logged
            log.log(logger, logging.ERROR, "could not schedule the meeting reminder", error=str(err)[:300])


def _deliver(deps: TurnDeps, channel: Channel, agent: AgentConfig, by: BookedBy, change: BookingChange,
             sellers: list[Seller], alert_id: str) -> None:
    from shared.services.seller_desk import deliver_to_seller, make_ref

    booking = change.booking
    business = agent.calendar.time_zone if agent.calendar else "UTC"
    who = by.name or "Um lead"
    when = describe_for_business(booking.start, booking.lead_time_zone, business) if booking.start else ""
    code = make_ref(deps, by.tenant_id, RefKind.LEAD, by.conversation_id, {
        "conversation_id": by.conversation_id, "channel_key": by.channel_key, "agent_id": agent.agent_id})
    text = {"scheduled": f"📅 Piloto agendou: {booking.kind} com {who} ({by.contact}) — {when}.",
            "rescheduled": f"📅 Piloto remarcou: {booking.kind} com {who} ({by.contact}) para {when}.",
            "cancelled": f"📅 {who} ({by.contact}) cancelou: {booking.kind} de {when}."}[change.action]
    if booking.video_link and change.action != "cancelled":
        text += f"\nLink: {booking.video_link}"
    if by.website_chat:
        # The lead is on the website, not on WhatsApp: the seller reaches them through the contact they gave.
        text += f"\nPelo chat do site. Para ver a conversa: resumo #{code}"
    else:
        text += f"\nResponda a esta mensagem para falar com o lead (#{code})."
    # One alert per change of this meeting: a retried turn holds or sends the same alert id, never a second.
    delivered = [deliver_to_seller(deps, channel, agent, seller, code, text, who, alert_id) for seller in sellers]
    if by.website_chat:
        _note(deps, agent, by, alert_id, f"sent via {channel.key}" if all(delivered) else
              f"held or failed via {channel.key} (the seller desk keeps it until the seller's window opens)")


def _note(deps: TurnDeps, agent: AgentConfig, by: BookedBy, alert_id: str, status: str) -> None:
    """What became of the seller's alert, on the booking (tenants/{t}/bookings/{conversation})."""
    if deps.scheduler_for is None or agent.calendar is None:
        return
    try:
        deps.scheduler_for(agent.calendar).note_seller_alert(by.tenant_id, by.conversation_id, alert_id, status)
    except Exception as err:  # noqa: BLE001 - the log line above and the held alert still say it
        log.log(logger, logging.ERROR, "could not record the seller alert on the booking", error=str(err)[:300])


def alert_channel(deps: TurnDeps, tenant_id: str, agent_id: str) -> Channel | None:
    """The WhatsApp channel a /chat booking's alert goes out from: of the tenant's active channels serving the agent,
    the first by key (provider:channel_id) — the same one every time. None when there is none."""
    try:
        channels = deps.directory.channels_for_agent(tenant_id, agent_id)
    except InvalidConfiguration as err:
        log.log(logger, logging.ERROR, "a channel document is invalid; no channel to alert the seller from",
                path=err.path, problems=err.problems)
        return None
    usable = sorted((c for c in channels if c.active), key=lambda c: c.key)
    return usable[0] if usable else None
