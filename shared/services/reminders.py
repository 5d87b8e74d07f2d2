"""Meeting reminders: scheduled when a meeting is booked or moved, sent before it through the follow-up queue.

Inside WhatsApp's 24-hour window the reminder is a text; outside it, on the Meta Cloud API, only an approved
template may go (AgentConfig.calendar.reminder_template), and without one the reminder is skipped and logged.
The gateways (Evolution, Z-API) enforce no window: they get the text. Safe under redelivery: the reminder
message id derives from the event and its start, claimed before sending like any reply.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared import log
from shared.domain.conversation import OutboundState
from shared.domain.errors import ProviderRejected
from shared.domain.followup import fill_template_params, within_service_window
from shared.domain.inbound import Provider
from shared.domain.phone import mask_phone
from shared.domain.scheduling import BookingStatus, CalendarConfig, describe_for_lead, resolve_lead_zone
from shared.ports import ChannelDirectory, ConversationStore, MeetingReminderRequest, MessageSender, ReminderQueue
from shared.services.scheduling import BookingStore
from shared.services.tools import BookingChange

logger = logging.getLogger(__name__)


def schedule_reminder(tenant_id: str, conversation_id: str, change: BookingChange, config: CalendarConfig,
                      queue: ReminderQueue, now: datetime) -> bool:
    """One task per (event, start): a moved meeting gets a new one and the old one finds a stale start."""
    booking = change.booking
    if change.action == "cancelled" or not config.reminder_minutes_before or booking.start is None:
        return False
    at = booking.start - timedelta(minutes=config.reminder_minutes_before)
    if at <= now:
        return False  # booked too close to the meeting for a reminder to help
    request = MeetingReminderRequest(tenant_id=tenant_id, conversation_id=conversation_id,
                                     event_id=booking.event_id or "", starts_at=booking.start.isoformat())
    return queue.schedule_reminder(request, at)


@dataclass
class ReminderDeps:
    directory: ChannelDirectory
    store: ConversationStore
    bookings: BookingStore
    sender_for: Callable[[Provider], MessageSender]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    lease_seconds: int = 120


def reminder_message_id(request: MeetingReminderRequest) -> str:
    return "rem-" + hashlib.sha256(f"{request.event_id}\x1f{request.starts_at}".encode()).hexdigest()[:32]


def run_meeting_reminder(request: MeetingReminderRequest, deps: ReminderDeps) -> str:
    """Returns what happened: sent | template_sent | stale | too_late | skipped_outside_window | opted_out |
    no_conversation | rejected. Raises TransientError subclasses for Cloud Tasks to retry."""
    with log.bound(tenant_id=request.tenant_id, conversation_id=request.conversation_id):
        booking = deps.bookings.get_booking(request.tenant_id, request.conversation_id)
        if (booking is None or booking.status != BookingStatus.BOOKED or booking.start is None
                or booking.event_id != request.event_id
                or booking.start != datetime.fromisoformat(request.starts_at)):
            return "stale"  # moved or cancelled since the task was created
        now = deps.clock()
        if now >= booking.start:
            return "too_late"
        conversation = deps.store.get_conversation(request.tenant_id, request.conversation_id)
        if conversation is None:
            return "no_conversation"
        if conversation.opted_out:
            return "opted_out"
        provider, _, channel_id = conversation.channel_key.partition(":")
        channel = deps.directory.find_channel(provider, channel_id)
        if channel is None:
            return "no_conversation"
        agent = deps.directory.get_agent(request.tenant_id, channel.agent_id)
        config = agent.calendar
        business = config.time_zone if config else "UTC"
        # In the lead's own time (the zone stored when they booked; else their number's area), both clocks shown
        # when they differ: "qui 03/12 às 14h00 no seu horário (15h00 em Brasília)".
        lead_zone = booking.lead_time_zone or resolve_lead_zone(None, conversation.contact_phone, business).name
        when = describe_for_lead(booking.start, lead_zone, business)
        name = conversation.contact_name or ""
        in_window = within_service_window(conversation.last_inbound_at, now)
        template = config.reminder_template if config else None
        if not in_window and channel.provider is Provider.META and not template:
            log.log(logger, logging.WARNING, "meeting reminder skipped: outside the 24-hour window, no template")
            return "skipped_outside_window"
        message_id = reminder_message_id(request)
        claim = deps.store.claim_reply(request.tenant_id, request.conversation_id, message_id,
                                       conversation.last_replied_message_id or message_id, now, deps.lease_seconds)
        if claim.state not in (OutboundState.GENERATING, OutboundState.SENDING):
            return "sent"  # an earlier delivery sent it
        sender = deps.sender_for(channel.provider)
        use_template = not in_window and channel.provider is Provider.META
        params = fill_template_params(template, conversation.contact_name, agent.business_name,
                                      meeting_time=when) if use_template and template else []
        shown = [f"{k}={v}" for k, v in params.items()] if isinstance(params, dict) else params
        text = (f"[template {template.name}] " + " | ".join(shown) if use_template and template else
                f"Olá{', ' + name.split()[0] if name else ''}! Lembrete: sua {booking.kind.lower()} está marcada "
                f"para {when}."
                + (f" Link: {booking.video_link}" if booking.video_link else "")
                + " Se precisar remarcar, é só responder aqui.")
        try:
            if claim.fresh:
                deps.store.save_generated_reply(request.tenant_id, request.conversation_id, message_id, text, None,
                                                [], "reminder")
            if use_template:
                provider_message_id = sender.send_template(  # type: ignore[attr-defined]
                    channel, conversation.contact_phone, template.name, template.language, params)
            else:
                provider_message_id = sender.send_text(channel, conversation.contact_phone, text)
        except ProviderRejected as err:
            deps.store.mark_reply_rejected(request.tenant_id, request.conversation_id, message_id, str(err))
            return "rejected"
        except Exception:
            if claim.fresh:
                deps.store.release_reply(request.tenant_id, request.conversation_id, message_id)
            raise
        deps.store.mark_reply_sent(request.tenant_id, request.conversation_id, message_id, channel.provider.value,
                                   provider_message_id, conversation.last_replied_message_id or message_id, now)
        log.log(logger, logging.INFO, "meeting reminder sent", template=use_template,
                contact=mask_phone(conversation.contact_phone))
        return "template_sent" if use_template else "sent"
