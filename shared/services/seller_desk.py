"""The seller's side, on the seller's own WhatsApp: alerts and drafts that carry a short reference, replies that
reach the lead as the business, copilot drafts sent with 'ok' or edited, a few commands, and the 24-hour window
on Meta. Runs in the agent_turn function (it holds the senders and the model); the webhook only stores the
seller's message and schedules it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared import log
from shared.domain.conversation import Conversation, InboundDisposition, Role, StoredMessage
from shared.domain.copilot import Feedback, judge
from shared.domain.errors import MediaTooLarge, MediaUnavailable, ProviderRejected
from shared.domain.ids import inbound_message_id, seller_key
from shared.domain.inbound import MediaRef, MessageKind, Provider
from shared.domain.phone import mask_phone
from shared.domain.seller_desk import (
    HELP,
    NEEDS_REF,
    Command,
    RefKind,
    lead_label,
    parse_command,
    ref_code,
    refs_in,
    sends_draft_as_is,
    strip_refs,
    window_open,
)
from shared.domain.tenancy import AgentConfig, Channel, Seller
from shared.ports import DownloadedMedia, TurnRequest

if TYPE_CHECKING:
    from shared.services.agent_turn import TurnDeps

logger = logging.getLogger(__name__)

STYLE_EXAMPLES_KEPT = 5
# WhatsApp's limit for audio and video is 16 MB (documents may be larger; a bigger file is refused by the
# downloader as too large and the seller is asked to send it again another way).
RELAY_MAX_BYTES = 16 * 1024 * 1024


@dataclass
class SellerOutcome:
    result: str
    detail: str = ""

    def as_dict(self) -> dict:
        return {"result": self.result, **({"detail": self.detail} if self.detail else {})}


# -- alerts and drafts to sellers ------------------------------------------------------------------


def make_ref(deps: TurnDeps, tenant_id: str, kind: RefKind, target: str, fields: dict) -> str:
    """A short code for what a message to a seller points at, stored when the desk has a store."""
    code = ref_code(tenant_id, kind.value, target)
    if deps.sellers is not None:
        code = deps.sellers.save_ref(tenant_id, code, {**fields, "kind": kind.value, "target": target})
    return code


def notify_sellers(deps: TurnDeps, channel: Channel, agent: AgentConfig, code: str, text: str, lead_name: str,
                   alert_id: str) -> int:
    """Send to every seller of the agent; returns how many got it now (the rest are held or failed, never lost
    silently: held alerts wait for the seller, failures are logged with the seller masked)."""
    sent = 0
    for seller in agent.all_sellers():
        if deliver_to_seller(deps, channel, agent, seller, code, text, lead_name, alert_id):
            sent += 1
    return sent


def deliver_to_seller(deps: TurnDeps, channel: Channel, agent: AgentConfig, seller: Seller, code: str,
                      text: str, lead_name: str, alert_id: str) -> bool:
    tenant_id = channel.tenant_id
    key = seller_key(tenant_id, seller.phone)
    state = deps.sellers.get_seller_state(tenant_id, key) if deps.sellers is not None else {}
    to_phone = state.get("whatsapp_phone") or seller.phone
    now = deps.clock()
    # The window belongs to the pair (seller, business number): writing to another number opens nothing here.
    if channel.provider is Provider.META and deps.sellers is not None and not window_open(
            (state.get("windows") or {}).get(channel.key), now):
        # Meta refuses free-form text outside the seller's 24 h window (error 131047, reported asynchronously
        # as a failed status): keep the alert, invite the seller with an approved utility template.
        deps.sellers.hold_alert(tenant_id, key, alert_id, {"text": text, "code": code, "channel_key": channel.key,
                                                           "created_at": now})
        _invite(deps, channel, agent, seller, key, state, lead_name, to_phone, now)
        return False
    try:
        provider_message_id = deps.sender_for(channel.provider).send_text(channel, to_phone, text)
    except Exception as err:  # noqa: BLE001 - the lead's turn must not fail because a seller's alert did
        log.log(logger, logging.ERROR, "could not notify a seller", error=str(err)[:300], seller=mask_phone(to_phone))
        if deps.sellers is not None:
            deps.sellers.hold_alert(tenant_id, key, alert_id, {"text": text, "code": code,
                                                               "channel_key": channel.key, "created_at": now,
                                                               "error": str(err)[:300]})
        return False
    if deps.sellers is not None:
        deps.sellers.attach_provider_id(tenant_id, code, provider_message_id)
        # Kept as sent: if Meta later reports it failed for the window (131047), the webhook holds it again.
        deps.sellers.hold_alert(tenant_id, key, alert_id, {"text": text, "code": code, "channel_key": channel.key,
                                                           "created_at": now, "provider_message_id": provider_message_id},
                                state="sent")
    return True


def _invite(deps: TurnDeps, channel: Channel, agent: AgentConfig, seller: Seller, key: str, state: dict,
            lead_name: str, to_phone: str, now: datetime) -> None:
    invited = (state.get("invited") or {}).get(channel.key)
    if invited is not None and now - invited < timedelta(hours=24):
        return  # one invitation per day is enough; every alert is kept meanwhile
    if not agent.seller_template:
        log.log(logger, logging.ERROR, "seller outside the 24-hour window and no seller_template configured; "
                "the alert is kept until the seller writes", seller=mask_phone(to_phone))
        return
    sender = deps.sender_for(channel.provider)
    try:
        sender.send_template(channel, to_phone, agent.seller_template, agent.seller_template_language,
                             [seller.name, lead_name])
    except Exception as err:  # noqa: BLE001 - the alert is held either way
        log.log(logger, logging.ERROR, "could not send the seller's invitation template", error=str(err)[:300],
                seller=mask_phone(to_phone))
        return
    deps.sellers.save_seller_state(channel.tenant_id, key, {"invited": {channel.key: now}})
    log.log(logger, logging.INFO, "seller invited with a template; alert held", seller=mask_phone(to_phone))


# -- a seller's message ----------------------------------------------------------------------------


def handle_seller_message(turn: TurnRequest, deps: TurnDeps) -> SellerOutcome:
    """turn.message_id names tenants/{t}/seller_messages/{id}. Idempotent: a handled message is never redone."""
    store = deps.sellers
    with log.bound(tenant_id=turn.tenant_id, function_purpose="seller"):
        provider, _, channel_id = turn.channel_key.partition(":")
        channel = deps.directory.find_channel(provider, channel_id)
        if channel is None or store is None:
            return SellerOutcome("no_channel")
        message = store.claim_seller_message(turn.tenant_id, turn.message_id, deps.clock(), deps.lease_seconds)
        if message is None:
            return SellerOutcome("already_handled")
        agent = deps.directory.get_agent(turn.tenant_id, channel.agent_id)
        seller = agent.seller_for(turn.contact_phone)
        if seller is None:
            store.finish_seller_message(turn.tenant_id, turn.message_id, "no longer a seller")
            return SellerOutcome("not_a_seller")
        desk = _Desk(deps, channel, agent, seller, turn.contact_phone, message)
        try:
            desk.open_window()
            outcome = desk.act()
        except Exception:
            # Give the message back so Cloud Tasks' retry need not wait out the lease.
            store.release_seller_message(turn.tenant_id, turn.message_id)
            raise
        store.finish_seller_message(turn.tenant_id, turn.message_id, f"{outcome.result}: {outcome.detail}")
        log.log(logger, logging.INFO, "seller message handled", result=outcome.result)
        return outcome


class _Desk:
    def __init__(self, deps: TurnDeps, channel: Channel, agent: AgentConfig, seller: Seller, phone: str,
                 message: dict) -> None:
        self.deps, self.channel, self.agent, self.seller, self.phone = deps, channel, agent, seller, phone
        self.message = message
        self.tenant_id = channel.tenant_id
        self.key = seller_key(self.tenant_id, seller.phone)
        self.text = (message.get("text") or "").strip()

    def say(self, text: str) -> None:
        """A one-line answer to the seller (they just wrote, so their window is open)."""
        try:
            self.deps.sender_for(self.channel.provider).send_text(self.channel, self.phone, text)
        except Exception as err:  # noqa: BLE001 - an answer to the seller is best effort
            log.log(logger, logging.ERROR, "could not answer the seller", error=str(err)[:300])

    def open_window(self) -> None:
        """The seller wrote: their 24-hour window is open; deliver what was held for them."""
        sent_at = self.message.get("sent_at") or self.deps.clock()
        self.deps.sellers.save_seller_state(self.tenant_id, self.key, {
            "windows": {self.channel.key: sent_at}, "whatsapp_phone": self.phone, "name": self.seller.name})
        for alert_id, alert in self.deps.sellers.held_alerts(self.tenant_id, self.key):
            if alert.get("channel_key", self.channel.key) != self.channel.key:
                continue  # held for another business number: it goes when the seller writes there
            try:
                provider_message_id = self.deps.sender_for(self.channel.provider).send_text(
                    self.channel, self.phone, alert["text"])
            except Exception as err:  # noqa: BLE001 - stays held; the next message from the seller retries
                log.log(logger, logging.ERROR, "could not deliver a held alert", error=str(err)[:300])
                continue
            self.deps.sellers.attach_provider_id(self.tenant_id, alert["code"], provider_message_id)
            self.deps.sellers.mark_alert_delivered(self.tenant_id, self.key, alert_id, provider_message_id)
            log.log(logger, logging.INFO, "held alert delivered to the seller", alert_id=alert_id)

    def _ref(self, code: str | None) -> dict | None:
        reply_to = self.message.get("reply_to")
        if code:
            return self.deps.sellers.get_ref(self.tenant_id, code)
        if reply_to:
            return self.deps.sellers.find_ref_by_provider_id(self.tenant_id, reply_to)
        return None

    def _mine(self, ref: dict | None) -> bool:
        return ref is not None and ref.get("agent_id") == self.channel.agent_id

    def act(self) -> SellerOutcome:
        command = parse_command(self.text)
        if command is not None:
            return self.command(command.command, command.ref)
        typed = refs_in(self.text)
        ref = self._ref(typed[0] if typed else None)
        if ref is None:
            lead = "Não encontrei o alerta ou sugestão a que você respondeu. " if (
                self.message.get("reply_to") or typed) else ""
            self.say(lead + HELP)
            return SellerOutcome("help", "no reference")
        if not self._mine(ref):
            self.say("Esse lead não é deste atendimento. " + HELP)
            return SellerOutcome("refused", "another agent's reference")
        if ref["kind"] == RefKind.DRAFT.value:
            return self.answer_draft(ref)
        if ref["kind"] in (RefKind.ALERT.value, RefKind.LEAD.value):
            return self.relay(ref, self._words(), Feedback.IGNORED)
        self.say(HELP)
        return SellerOutcome("help", f"a {ref['kind']} reference takes a command")

    def _words(self) -> str:
        return strip_refs(self.text)

    # -- to the lead ---------------------------------------------------------------------------

    def relay(self, ref: dict, text: str, verdict: Feedback | None, suggestion_id: str | None = None,
              similarity: float | None = None) -> SellerOutcome:
        kind = MessageKind(self.message.get("kind") or "text")
        if not text and not kind.has_media:
            self.say(HELP)
            return SellerOutcome("help", "nothing to send")
        conversation = self.deps.store.get_conversation(self.tenant_id, ref["conversation_id"])
        if conversation is None:
            self.say("Não encontrei essa conversa.")
            return SellerOutcome("refused", "conversation gone")
        if conversation.channel_key.startswith(f"{Provider.API.value}:"):
            # A /chat conversation (website widget): there is no WhatsApp number to send the answer to.
            contact = f" pelo telefone que ele deixou ({conversation.chat_phone})" if conversation.chat_phone else ""
            self.say(f"Esse lead está no chat do site, não no WhatsApp: fale com ele{contact}.")
            return SellerOutcome("refused", "a website chat lead")
        lead_channel = self._lead_channel(ref)
        if lead_channel is None:
            self.say("O número dessa conversa foi desconectado.")
            return SellerOutcome("refused", "channel gone")
        now = self.deps.clock()
        if lead_channel.provider is Provider.META and not window_open(conversation.last_inbound_at, now):
            self.say(f"{lead_label(conversation.contact_name, conversation.contact_phone)} está fora da janela de "
                     "24 h do WhatsApp: só um template aprovado pode ser enviado agora.")
            return SellerOutcome("refused", "lead outside the 24-hour window")
        try:
            if kind.has_media:
                provider_message_id = self._relay_file(lead_channel, conversation.contact_phone, kind, text)
            else:
                provider_message_id = self.deps.sender_for(lead_channel.provider).send_text(
                    lead_channel, conversation.contact_phone, text)
        except ProviderRejected as err:
            self.say(f"O WhatsApp recusou a mensagem: {str(err)[:120]}")
            return SellerOutcome("rejected", str(err)[:200])
        except (MediaUnavailable, MediaTooLarge) as err:
            self.say("Não consegui baixar o seu arquivo (indisponível ou grande demais); envie de novo, por favor.")
            return SellerOutcome("refused", f"seller's file unavailable: {str(err)[:160]}")
        # Stored under the id a gateway echo of this send would get: its echo is then a duplicate, not a human.
        message_id = inbound_message_id(lead_channel.provider.value, lead_channel.channel_id, provider_message_id)
        self.deps.store.record_inbound(self.tenant_id, conversation.conversation_id, StoredMessage(
            message_id=message_id, role=Role.HUMAN, kind=kind, text=text or None, provider=lead_channel.provider,
            provider_message_id=provider_message_id, sent_at=now, disposition=InboundDisposition.RELAYED,
            seller=self.seller.name))
        pause = Conversation(conversation_id=conversation.conversation_id, tenant_id=self.tenant_id,
                             channel_key=conversation.channel_key, agent_id=conversation.agent_id,
                             contact_phone=conversation.contact_phone)
        pause.bot_paused = True
        pause.paused_at = now
        pause.last_outbound_at = now
        self.deps.store.save_conversation(pause)
        if suggestion_id is not None and verdict is not None:
            self.deps.store.mark_suggestion(self.tenant_id, conversation.conversation_id, suggestion_id,
                                            {"status": verdict.value, "similarity": similarity,
                                             "sent_text": text[:2000], "via": "seller_whatsapp"})
            if verdict in (Feedback.ACCEPTED, Feedback.EDITED):
                self.deps.sellers.add_style_example(self.tenant_id, conversation.agent_id, {
                    "suggestion_id": suggestion_id, "verdict": verdict.value, "sent_text": text[:600],
                    "at": now}, STYLE_EXAMPLES_KEPT)
        log.log(logger, logging.INFO, "seller's answer relayed to the lead", conversation_id=conversation.conversation_id,
                contact=mask_phone(conversation.contact_phone), verdict=verdict.value if verdict else None)
        if conversation.handoff_question:
            self._learn(conversation, message_id)
        return SellerOutcome("relayed", verdict.value if verdict else "")

    def _relay_file(self, lead_channel: Channel, to_phone: str, kind: MessageKind, caption: str) -> str:
        """The seller's voice note or file, fetched from the provider the seller wrote on and sent to the lead
        through the lead's number (the same or another provider)."""
        sender = self.deps.sender_for(lead_channel.provider)
        if self.deps.download_media is None or not hasattr(sender, "send_media"):
            raise MediaUnavailable(f"files cannot be relayed through {lead_channel.provider.value} yet")
        media = self.message.get("media") or {}
        seller_message = StoredMessage(
            message_id=self.message.get("message_id") or "seller", role=Role.HUMAN, kind=kind,
            media=MediaRef.model_validate(media), provider=self.channel.provider,
            provider_message_id=self.message.get("provider_message_id"), sent_at=self.deps.clock())
        file = self.deps.download_media(self.channel.provider).download(self.channel, seller_message, RELAY_MAX_BYTES)
        if file.mime_type is None and media.get("mime_type"):
            file = DownloadedMedia(content=file.content, mime_type=media["mime_type"], filename=file.filename)
        return sender.send_media(lead_channel, to_phone, file, kind.value, caption or None)

    def _lead_channel(self, ref: dict) -> Channel | None:
        provider, _, channel_id = ref["channel_key"].partition(":")
        channel = self.deps.directory.find_channel(provider, channel_id)
        return channel if channel is not None and channel.tenant_id == self.tenant_id else None

    def _learn(self, conversation: Conversation, message_id: str) -> None:
        from shared.services.learning import learn_from_human

        learn_from_human(TurnRequest(self.tenant_id, conversation.conversation_id, message_id,
                                     conversation.channel_key, conversation.contact_phone, purpose="learn"),
                         self.deps)

    def answer_draft(self, ref: dict) -> SellerOutcome:
        suggestion_id = ref.get("suggestion_id")
        latest = self.deps.store.latest_suggestion(self.tenant_id, ref["conversation_id"])
        suggestion = latest[1] if latest is not None and latest[0] == suggestion_id else None
        if suggestion is None:
            self.say("Essa sugestão não é mais a última desse lead; responda ao alerta mais recente.")
            return SellerOutcome("refused", "stale draft")
        if suggestion.get("status") != "pending":
            self.say("Essa sugestão já foi usada.")
            return SellerOutcome("refused", "draft already judged")
        draft = suggestion.get("draft_reply") or ""
        if MessageKind(self.message.get("kind") or "text").has_media:
            return self.relay(ref, self._words(), Feedback.IGNORED, suggestion_id, 0.0)
        if sends_draft_as_is(self.text):
            return self.relay(ref, draft, Feedback.ACCEPTED, suggestion_id, 1.0)
        words = self._words()
        feedback, similarity = judge(draft, words)
        # What the seller typed instead of the draft is an edit, however far it went.
        verdict = Feedback.ACCEPTED if similarity >= 0.999 else Feedback.EDITED
        return self.relay(ref, words, verdict, suggestion_id, similarity)

    # -- commands ------------------------------------------------------------------------------

    def command(self, command: Command, code: str | None) -> SellerOutcome:
        if command is Command.HELP:
            self.say(HELP)
            return SellerOutcome("help")
        if command is Command.QUEUE:
            return self.queue()
        ref = self._ref(code)
        if command in NEEDS_REF and ref is None:
            self.say(f"Diga qual lead: '{command.value} #REF' ou responda ao alerta. " + HELP)
            return SellerOutcome("help", "command without reference")
        if not self._mine(ref):
            self.say("Não encontrei esse código neste atendimento.")
            return SellerOutcome("refused", "another agent's or unknown reference")
        if command in (Command.APPROVE, Command.REJECT):
            return self.review(command, ref)
        if ref["kind"] not in (RefKind.ALERT.value, RefKind.LEAD.value, RefKind.DRAFT.value):
            self.say("Esse código não é de um lead.")
            return SellerOutcome("refused", "not a lead reference")
        conversation = self.deps.store.get_conversation(self.tenant_id, ref["conversation_id"])
        if conversation is None:
            self.say("Não encontrei essa conversa.")
            return SellerOutcome("refused", "conversation gone")
        label = lead_label(conversation.contact_name, conversation.contact_phone)
        if command is Command.SUMMARY:
            self.say(self._summary(conversation, label, ref["code"]))
            return SellerOutcome("summary")
        update = Conversation(conversation_id=conversation.conversation_id, tenant_id=self.tenant_id,
                              channel_key=conversation.channel_key, agent_id=conversation.agent_id,
                              contact_phone=conversation.contact_phone)
        if command is Command.GIVE_BACK:
            update.bot_paused = False
            update.paused_by_seller = False
            answer = f"🤖 {label} voltou para o bot."
        else:
            update.bot_paused = True
            update.paused_at = self.deps.clock()
            update.paused_by_seller = command is Command.PAUSE
            answer = (f"⏸️ {label} pausado: o bot não responde até 'devolver #{ref['code']}'." if command is
                      Command.PAUSE else f"✅ Você assumiu {label}. Responda ao alerta para falar com o lead; "
                      f"'devolver #{ref['code']}' devolve ao bot.")
        self.deps.store.save_conversation(update)
        self.say(answer)
        return SellerOutcome(command.value)

    def _summary(self, conversation: Conversation, label: str, code: str) -> str:
        history = self.deps.store.recent_messages(self.tenant_id, conversation.conversation_id, 6)
        lines = [f"📋 {label} · #{code}"]
        if conversation.summary:
            lines.append(conversation.summary[:400])
        if conversation.bot_paused:
            lines.append(f"Com um humano desde {conversation.paused_at:%d/%m %H:%M}" if conversation.paused_at
                         else "Com um humano")
        if conversation.handoff_question:
            lines.append(f"Pergunta aberta: {conversation.handoff_question[:200]}")
        for message in history[-4:]:
            who = {"lead": "Lead", "agent": "Bot", "human": "Vendedor"}[message.role.value]
            lines.append(f"{who}: {(message.text or f'[{message.kind.value}]')[:120]}")
        return "\n".join(lines)

    def queue(self) -> SellerOutcome:
        zone = ZoneInfo(self.agent.followup.time_zone)
        today = datetime.combine(self.deps.clock().astimezone(zone).date(), time(0), tzinfo=zone)
        waiting = self.deps.sellers.waiting_conversations(self.tenant_id, self.channel.agent_id, today, 10)
        if not waiting:
            self.say("Nenhum lead esperando por um humano hoje.")
            return SellerOutcome("queue", "0")
        lines = [f"⏳ {len(waiting)} lead(s) esperando hoje:"]
        for conversation in waiting:
            code = make_ref(self.deps, self.tenant_id, RefKind.LEAD, conversation.conversation_id, {
                "conversation_id": conversation.conversation_id, "channel_key": conversation.channel_key,
                "agent_id": conversation.agent_id})
            reason = f" — {conversation.handoff_question[:60]}" if conversation.handoff_question else ""
            lines.append(f"#{code} {lead_label(conversation.contact_name, conversation.contact_phone)}{reason}")
        self.say("\n".join(lines))
        return SellerOutcome("queue", str(len(waiting)))

    def review(self, command: Command, ref: dict) -> SellerOutcome:
        if ref["kind"] != RefKind.LEARNING.value:
            self.say("Esse código não é de um aprendizado.")
            return SellerOutcome("refused", "not a learning reference")
        candidate_id = ref["candidate_id"]
        if command is Command.REJECT:
            self.deps.store.save_learning_candidate(self.tenant_id, candidate_id, {
                "status": "rejected", "rejected_by": f"seller {self.seller.name}"})
            self.say("🗑️ Descartado: o agente não vai usar essa resposta.")
            return SellerOutcome("rejected_learning")
        if self.deps.learn is None:
            self.say("Aprovação indisponível agora; tente pelo painel.")
            return SellerOutcome("refused", "no knowledge base")
        from shared.services.learning import approve_candidate

        approve_candidate(self.tenant_id, candidate_id, f"seller {self.seller.name}", self.deps.store,
                          self.deps.learn)
        self.say("📚 Aprovado: o agente já responde isso aos próximos leads.")
        return SellerOutcome("approved_learning")
