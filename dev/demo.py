"""The local demo: a scripted lead conversation through the real webhook URL, every function and the emulators.

Run with scripts/demo.sh. By default the model is the offline template model (no Google credentials needed); every
reply says so. `--model vertex` (Application Default Credentials and a project) or `--model gemini` (GEMINI_API_KEY)
run the same demo on a real Gemini model; without what they need the demo stops at once and says what is missing.
Everything started here is stopped at the end.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from dev import payloads
from dev.provider_sandbox import HostedMedia
from dev.sample_media import M4A_VOICE_MEMO_START, opus_voice_note, text_pdf, wav_voice_note
from dev.seed import DemoTenant, seed
from shared.adapters.offline_speech import OfflineSpeechSynthesizer
from dev.stack import DEMO_META_APP_SECRET, LocalStack, wait_until
from shared.adapters.firestore_crm import FirestoreCrmStore
from shared.domain.crm import CrmConfig, CrmKind, WebhookSettings
from shared.domain.ids import contact_id, conversation_id
from shared.domain.phone import mask_phone
from shared.domain.tenancy import channel_key
from shared.domain.voice import VoiceSettings
from shared.domain.voice_clone import CONSENT_SCRIPTS

KNOWLEDGE_SAMPLES = Path(__file__).resolve().parent.parent / "tests" / "data" / "knowledge"
LEAD_META = ("5511987654321", "Mariana Souza")
LEAD_EVOLUTION = ("5521998877665", "Carlos Lima")
LEAD_ZAPI = ("5531977776666", "Ana Ribeiro")
LEAD_CRM = ("5519988887777", "Roberto Alves")
LEAD_MEDIA = ("5511955554444", "Beatriz Costa")
LEAD_COPILOT = ("5541966665555", "Bruno Alves")
LEAD_FOLLOWUP = ("5511944443333", "Paula Nunes")
LEAD_TWILIO = ("5511933332222", "Lucas Prado")
LEAD_LGPD = ("5511922221111", "Lúcia Prado")
LEAD_VOICE = ("5531966661111", "Júlia Prado")
LEAD_CLONE = ("5531955552222", "Renata Melo")
LEAD_CALENDAR = ("5511922223333", "Fernanda Dias")
SELLER_CALENDAR = "vendas@solarprime.com.br"


def say(text: str) -> None:
    print(text, flush=True)


class Demo:
    def __init__(self, stack: LocalStack, demo: DemoTenant) -> None:
        self.stack = stack
        self.demo = demo
        self.http = httpx.Client(timeout=10)
        self.webhook = stack.function_url("whatsapp_webhook")
        self.db = firestore.Client(project=stack.client_env()["GOOGLE_CLOUD_PROJECT"])
        self.crm_hook = None  # the business's webhook, connected in step 14

    @property
    def sends(self) -> list[dict]:
        assert self.stack.sandbox is not None
        return self.stack.sandbox.sent

    def post(self, provider: str, body: bytes, headers: dict[str, str], channel: str | None = None,
             url: str | None = None) -> httpx.Response:
        """POST to the webhook: Meta's plain URL, or the gateway channel's keyed URL (`url` overrides it)."""
        started = time.perf_counter()
        url = url or self.stack.webhook_url(provider, channel)
        response = self.http.post(url, content=body, headers=headers)
        say(f"    webhook → {response.status_code} in {(time.perf_counter() - started) * 1000:.0f} ms  {response.text.strip()}")
        return response

    def meta(self, wamid: str, text: str, phone: str = LEAD_META[0], name: str = LEAD_META[1]) -> httpx.Response:
        say(f"  {name} (Meta): {text}")
        payload = payloads.meta_text(self.demo.meta_phone_number_id, phone, name, wamid, text)
        return self.post("meta", *payloads.signed_meta(payload, DEMO_META_APP_SECRET))

    def wait_replies(self, count: int, timeout: float = 30.0) -> None:
        wait_until(lambda: len(self.sends) >= count, timeout, f"{count} outbound message(s)")
        for send in self.sends[count - 1:count]:
            say(f"  ← Piloto via {send['provider']} to {mask_phone(send['to'])}: {send['text']}")

    def run(self) -> None:
        d = self.demo
        say("\n1. A lead writes on the official Meta Cloud API number")
        self.meta("wamid.DEMO0001", "Oi, boa tarde! Vi o anúncio de energia solar.")
        self.wait_replies(1)

        say("\n2. A burst of three short messages gets ONE reply (debounce window "
            f"{self.stack.debounce_seconds:g} s)")
        for i, text in enumerate(["Minha conta de luz vem uns R$ 450", "é casa própria", "quanto custa mais ou menos?"]):
            self.meta(f"wamid.DEMO001{i + 2}", text)
            time.sleep(0.3)
        self.wait_replies(2)
        time.sleep(self.stack.debounce_seconds + 1.5)
        say(f"  outbound messages so far: {len(self.sends)} (3 messages, 1 reply)")

        say("\n3. Meta redelivers the last message (same wamid): acknowledged, no second reply")
        self.meta("wamid.DEMO0014", "quanto custa mais ou menos?")
        time.sleep(self.stack.debounce_seconds + 1.5)
        say(f"  outbound messages so far: {len(self.sends)}")

        say("\n4. Meta reports our reply delivered and read (status updates never trigger a reply)")
        for state in ("delivered", "read"):
            status = payloads.meta_status(d.meta_phone_number_id, LEAD_META[0], self.sends[-1]["id"], state)
            self.post("meta", *payloads.signed_meta(status, DEMO_META_APP_SECRET))

        say("\n5. A forged Meta request (bad signature) and a malformed one are refused, nothing stored")
        body, headers = payloads.signed_meta(payloads.meta_text(d.meta_phone_number_id, "5511911112222", "X",
                                                                "wamid.FORGED", "oi"), "wrong-secret")
        self.post("meta", body, headers)
        self.post("meta", b"{not json", {"Content-Type": "application/json",
                                         "X-Hub-Signature-256": payloads.meta_signature(DEMO_META_APP_SECRET,
                                                                                        b"{not json")})

        say("\n6. A lead on an Evolution API instance")
        say(f"  {LEAD_EVOLUTION[1]} (Evolution): Vocês atendem no Rio?")
        self.post("evolution", *payloads.as_json(payloads.evolution_text(
            d.evolution_instance, d.evolution_apikey, LEAD_EVOLUTION[0], LEAD_EVOLUTION[1], "3EB0DEMO0001",
            "Vocês atendem no Rio?")), channel=d.evolution_instance)
        self.wait_replies(len(self.sends) + 1)

        say("\n7. A lead on a Z-API instance")
        say(f"  {LEAD_ZAPI[1]} (Z-API): Quero agendar uma visita técnica")
        self.post("zapi", *payloads.as_json(payloads.zapi_text(
            d.zapi_instance, LEAD_ZAPI[0], LEAD_ZAPI[1], "3EB0ZDEMO0001", "Quero agendar uma visita técnica")),
            channel=d.zapi_instance)
        self.wait_replies(len(self.sends) + 1)
        self.webhook_key_step()

        self.twilio_step()

        say("\n8. A seller answers Carlos from the business phone: the bot pauses on that conversation")
        self.post("evolution", *payloads.as_json(payloads.evolution_text(
            d.evolution_instance, d.evolution_apikey, LEAD_EVOLUTION[0], "Solar Prime", "3EB0HUMAN0001",
            "Oi Carlos, aqui é o João da Solar Prime, atendemos sim!", from_me=True)), channel=d.evolution_instance)
        before = len(self.sends)
        say(f"  {LEAD_EVOLUTION[1]} (Evolution): Ótimo, João!")
        self.post("evolution", *payloads.as_json(payloads.evolution_text(
            d.evolution_instance, d.evolution_apikey, LEAD_EVOLUTION[0], LEAD_EVOLUTION[1], "3EB0DEMO0002",
            "Ótimo, João!")), channel=d.evolution_instance)
        time.sleep(self.stack.debounce_seconds + 2)
        say(f"  outbound messages since the seller wrote: {len(self.sends) - before} (the bot stayed quiet)")

        self.media_step()

        self.voice_step()

        self.cloned_voice_step()

        self.knowledge_base()

        self.show_brain()

        self.crm_step()

        self.followup_step()

        self.calendar_step()

        self.tenancy_and_lgpd_step()

        self.print_transcripts()
        self.print_metrics()
        self.print_business_numbers()

    def webhook_key_step(self) -> None:
        """Gateway URLs carry a per-channel key: refused from the URL alone, before the body is read."""
        d = self.demo
        say("\n7a. Gateway webhook URLs carry a key derived for their channel (scripts/tenancy_admin.py webhook-url)")
        body, headers = payloads.as_json(payloads.zapi_text(d.zapi_instance, LEAD_ZAPI[0], LEAD_ZAPI[1],
                                                           "3EB0ZFORGED1", "forjada"))
        keyed = self.stack.webhook_url("zapi", d.zapi_instance)
        say("  no key (the old URL, even with the channel's Z-API token) → 401:")
        unkeyed = self.post("zapi", body, headers, url=f"{self.stack.webhook_url('zapi')}?token={d.zapi_webhook_token}")
        say("  a wrong key → 403:")
        wrong = self.post("zapi", body, headers, url=keyed[:-4] + "AAAA")
        say("  the valid key of one Evolution instance with a body for another (the copilot number) → 403:")
        other = payloads.evolution_text(d.evolution_copilot_instance, d.evolution_apikey, LEAD_EVOLUTION[0],
                                        LEAD_EVOLUTION[1], "3EB0CROSS0001", "injetada")
        crossed = self.post("evolution", *payloads.as_json(other), channel=d.evolution_instance)
        assert (unkeyed.status_code, wrong.status_code, crossed.status_code) == (401, 403, 403), "keyed URLs"

    def twilio(self, text: str = "", **params: str) -> httpx.Response:
        """Twilio receives the lead's WhatsApp message and calls our webhook, signed with the account's token."""
        assert self.stack.sandbox is not None
        d = self.demo
        body, headers = self.stack.sandbox.twilio.incoming(
            d.twilio_account_sid, d.twilio_sender, f"+{LEAD_TWILIO[0]}",
            self.stack.webhook_url("twilio", d.twilio_sender), LEAD_TWILIO[1], Body=text, **params)
        say(f"  {LEAD_TWILIO[1]} (Twilio): {text or params}")
        return self.post("twilio", body, headers, channel=d.twilio_sender)

    def twilio_step(self) -> None:
        say("\n7b. A lead on a Twilio WhatsApp sender (form-encoded webhook, X-Twilio-Signature, TwiML answer)")
        self.twilio("Boa tarde, vocês instalam em Campinas?", MessageType="text")
        # Wait for the reply to this lead: a seller alert or a late reply of an earlier step may land first.
        wait_until(lambda: any(s["to"] == LEAD_TWILIO[0] for s in self.sends), 30, "the reply to the Twilio lead")
        reply = [s for s in self.sends if s["to"] == LEAD_TWILIO[0]][-1]
        say(f"  ← Piloto via {reply['provider']} to {mask_phone(reply['to'])}: {reply['text']}")
        wait_until(lambda: self._state_of(reply["id"]) == "delivered", 15, "Twilio's status callbacks")
        say(f"  Twilio's status callbacks (sent, delivered), signed and delivered by the sandbox: reply is "
            f"{self._state_of(reply['id'])}")
        say("  A forged Twilio request (signed with another token) is refused:")
        assert self.stack.sandbox is not None
        body, headers = self.stack.sandbox.twilio.incoming(
            self.demo.twilio_account_sid, self.demo.twilio_sender, f"+{LEAD_TWILIO[0]}",
            self.stack.webhook_url("twilio", self.demo.twilio_sender), Body="forjada")
        self.post("twilio", body, {**headers, "X-Twilio-Signature": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="},
                  channel=self.demo.twilio_sender)
        say("  The lead taps the template's quick-reply button \"Parar\": an opt-out, not a sales reply")
        self.twilio("Parar", MessageType="button", ButtonText="Parar", ButtonPayload="STOP_PROMOTIONS",
                    OriginalRepliedMessageSid=reply["id"])
        self.wait_replies(len(self.sends) + 1)

    def _state_of(self, provider_message_id: str) -> str | None:
        from google.cloud.firestore_v1.base_query import FieldFilter

        d = self.demo
        conv_id = conversation_id(channel_key("twilio", d.twilio_sender), f"+{LEAD_TWILIO[0]}")
        messages = (self.db.collection("tenants").document(d.tenant_id).collection("conversations").document(conv_id)
                    .collection("messages").where(filter=FieldFilter("provider_message_id", "==", provider_message_id)).get())
        return messages[0].to_dict().get("state") if messages else None

    def crm_step(self) -> None:
        """Issue 7: a new lead's LeadCreated reaches the business's signed webhook (what n8n or Make would receive)."""
        d = self.demo
        receiver = self.stack.crm_receiver
        assert receiver is not None
        say("\n14. The business connects its CRM (an n8n/Make webhook, here a local receiver); a new lead writes")
        hook = receiver.add_hook(secret="demo-n8n-signing-secret", name="solar-prime-n8n")
        self.crm_hook = hook  # later steps show their events arriving here too
        FirestoreCrmStore(self.db).save_crm_config(d.tenant_id, CrmConfig(
            kind=CrmKind.WEBHOOK, webhook=WebhookSettings(url=hook.url, secret=hook.secret)))
        say(f"  tenants/{d.tenant_id}/integrations/crm = {{kind: webhook, url: {hook.url}, secret: ***}}")
        hook.fail_next(1, status=503)
        say("  (the receiver will answer 503 to the first attempt, as a busy n8n would)")
        self.meta("wamid.DEMO0901", "Boa noite! Quero saber o preço para uma casa em Campinas.",
                  phone=LEAD_CRM[0], name=LEAD_CRM[1])
        wait_until(lambda: len(hook.deliveries) >= 1, 40, "LeadCreated at the webhook")
        arrived = hook.deliveries[0]
        body = arrived["body"]
        attempts = [a["status"] for a in hook.attempts]
        say(f"  → webhook received {body['type']} (schema v{body['schema_version']}) after attempts {attempts}:")
        say(f"      event_id {body['event_id']} (also the Idempotency-Key header)")
        say(f"      contact {body['contact']['name']} {mask_phone(body['contact']['phone'])}, "
            f"channel {body['channel_key']}")
        say(f"      first message: “{body['payload']['first_message']}”")
        say(f"      X-Piloto-Signature-256 {arrived['headers']['x-piloto-signature-256'][:23]}… "
            f"verified with the tenant's secret: {'yes' if arrived['signature_ok'] else 'NO'}")
        delivery = self.db.collection("tenants").document(d.tenant_id).collection("crm_deliveries") \
            .document(body["event_id"]).get().to_dict() or {}
        say(f"  tenants/{d.tenant_id}/crm_deliveries/{body['event_id'][:16]}…: state {delivery.get('state')}, "
            f"{delivery.get('attempts')} delivery attempt(s) by crm_sync, {delivery.get('detail')}")
        text = "Minha conta de luz é R$ 600, é casa própria, eu decido, quero instalar este mês"
        self.meta("wamid.DEMO0902", text, phone=LEAD_CRM[0], name=LEAD_CRM[1])
        wait_until(lambda: any(h["body"]["type"] == "LeadQualified" for h in hook.deliveries), 40,
                   "LeadQualified at the webhook")
        for arrived in hook.deliveries[1:]:
            body = arrived["body"]
            detail = body["payload"].get("fields") or body["payload"].get("to_stage") or ""
            say(f"  → webhook received {body['type']}: {detail} (signature ok: {arrived['signature_ok']})")

    def tenancy_and_lgpd_step(self) -> None:
        """Issue 13: one number belongs to one tenant; a lead's data-rights request goes to a human, and the admin
        function exports and erases everything held about the lead."""
        from shared.adapters.firestore_channels import FirestoreChannelDirectory
        from shared.domain.errors import ChannelAlreadyRegistered
        from shared.domain.inbound import Provider
        from shared.domain.tenancy import Channel

        d = self.demo
        say("\n16. One number, one tenant; a lead's LGPD rights")
        try:
            FirestoreChannelDirectory(self.db).save_channel(Channel(
                tenant_id="outra-empresa", provider=Provider.META, channel_id=d.meta_phone_number_id))
            say("  another tenant registered the Solar Prime number: THIS SHOULD NOT HAPPEN")
        except ChannelAlreadyRegistered as err:
            say(f"  another tenant tries to register the same Meta number → refused: {err}")
        before = len(self.sends)
        self.meta("wamid.DEMOLGPD1", "Oi! Quero que vocês apaguem todos os meus dados, por favor.",
                  phone=LEAD_LGPD[0], name=LEAD_LGPD[1])
        self.wait_replies(before + 2)  # the acknowledgement to the lead and the seller's alert
        for send in self.sends[before:]:
            say(f"  → {mask_phone(send['to'])}: {send['text'].splitlines()[0]}")
        url = self.stack.function_url("lgpd_admin")
        exported = self.http.post(url, json={"action": "export", "tenant_id": d.tenant_id, "phone": LEAD_LGPD[0]})
        counts = {name: len(docs) for name, docs in exported.json()["collections"].items()}
        say(f"  POST lgpd_admin export → {exported.status_code}: documents per collection {counts}")
        erased = self.http.post(url, json={"action": "erase", "tenant_id": d.tenant_id, "phone": LEAD_LGPD[0],
                                           "requested_by": "dpo@solarprime.example", "reason": "pedido 2026-001"})
        record = erased.json()["erasure"]
        say(f"  POST lgpd_admin erase → {erased.status_code}: erased {record['documents']}, "
            f"LeadErased {record['event_id']}; the record names no lead")
        again = self.http.post(url, json={"action": "export", "tenant_id": d.tenant_id, "phone": LEAD_LGPD[0]})
        say(f"  export again → {sum(len(v) for v in again.json()['collections'].values())} documents; kept: "
            f"{len(again.json()['erasure_notices'])} document(s) of the LeadErased notice for the CRM "
            "(outbox, delivery; they expire with the outbox)")

    def followup_step(self) -> None:
        """Issue 6: a silent lead gets a model-written follow-up (cadence shortened to seconds), then opts out."""
        d = self.demo
        say("\n15. Follow-up cadence (shortened to seconds for the demo; production: 1 h, 1 day, 3 days in business "
            "hours, America/Sao_Paulo)")
        agent_ref = self.db.collection("tenants").document(d.tenant_id).collection("agents").document("default")
        agent_ref.set({"followup": {"enabled": True, "close_after_minutes": 600,
                                    "business_start": "00:00:00", "business_end": "23:59:59",
                                    "business_days": [0, 1, 2, 3, 4, 5, 6],
                                    "steps": [{"delay_minutes": 0.08, "instruction": "Ofereça a visita técnica."},
                                              {"delay_minutes": 600}]}}, merge=True)
        say("  agents/default.followup = {enabled, steps: [5 s, 10 h], always open}")
        before = len(self.sends)
        self.meta("wamid.DEMO1001", "Oi, vi o anúncio do kit solar para apartamento", phone=LEAD_FOLLOWUP[0],
                  name=LEAD_FOLLOWUP[1])
        self.wait_replies(before + 1)
        conv_ref = self.db.collection("tenants").document(d.tenant_id).collection("conversations").document(
            conversation_id(channel_key("meta", d.meta_phone_number_id), f"+{LEAD_FOLLOWUP[0]}"))
        wait_until(lambda: (conv_ref.get().to_dict() or {}).get("followup_step") == 0, 20, "the follow-up plan")
        plan = conv_ref.get().to_dict() or {}
        say(f"  scheduled: task on queue 'followups', step 0 due {plan['next_followup_at']:%H:%M:%S} UTC "
            "(the lead stays silent…)")
        self.wait_replies(before + 2)
        wait_until(lambda: (conv_ref.get().to_dict() or {}).get("followup_step") == 1, 20, "the cadence advanced")
        plan = conv_ref.get().to_dict() or {}
        say(f"  fired: follow-up written by the model from the conversation; next step due "
            f"{plan['next_followup_at']:%Y-%m-%d %H:%M} UTC")
        self.meta("wamid.DEMO1002", "Não quero mais, obrigada", phone=LEAD_FOLLOWUP[0], name=LEAD_FOLLOWUP[1])
        self.wait_replies(before + 3)
        wait_until(lambda: (conv_ref.get().to_dict() or {}).get("opted_out") is True, 20, "the opt-out")
        plan = conv_ref.get().to_dict() or {}
        outbox = self.db.collection("tenants").document(d.tenant_id).collection("outbox")
        wait_until(lambda: any((e.to_dict() or {}).get("type") == "LeadOptedOut" for e in outbox.stream()), 20,
                   "LeadOptedOut in the outbox")
        say(f"  opted_out: {plan['opted_out']}, next follow-up: {plan.get('next_followup_at')}; "
            "LeadOptedOut recorded in the outbox for the CRM")
        agent_ref.set({"followup": {"enabled": False}}, merge=True)

    def calendar_step(self) -> None:
        """Issue 19: the agent books a technical visit on the seller's (fake) Google Calendar."""
        from datetime import UTC, datetime, timedelta
        from zoneinfo import ZoneInfo

        d = self.demo
        calendar = self.stack.calendar
        assert calendar is not None
        say("\n15b. The agent books a technical visit on the seller's Google Calendar (a local fake of the Calendar API),"
            " in the lead's own time zone")
        calendar.fake.add_calendar(SELLER_CALENDAR, meet=True)
        zone = ZoneInfo("America/Sao_Paulo")
        tomorrow = (datetime.now(zone) + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
        calendar.fake.add_busy(SELLER_CALENDAR, tomorrow, tomorrow + timedelta(hours=3), "Visita em Jundiaí")
        say(f"  calendar {SELLER_CALENDAR}: busy {tomorrow:%d/%m %H:%M}–12:00 (another visit)")
        agent_ref = self.db.collection("tenants").document(d.tenant_id).collection("agents").document("default")
        agent_ref.set({"calendar": {
            "calendar_ids": [SELLER_CALENDAR], "time_zone": "America/Sao_Paulo", "horizon_days": 7,
            "hours": {"weekdays": [0, 1, 2, 3, 4, 5], "start": "09:00", "end": "18:00"},
            "kinds": [{"name": "Visita técnica", "duration_minutes": 60, "buffer_minutes": 30, "place": "visit"}]},
            # Ana takes the meetings on this calendar: she alone is told of them (through the seller desk)
            "sellers": [{"name": "Ana", "phone": d.seller_phone, "role": "seller", "calendar_id": SELLER_CALENDAR}]},
            merge=True)
        say("  agents/default.calendar = {calendar_ids: [vendas@…], Visita técnica 60 min + 30 min buffer, "
            "Mon–Sat 9h–18h, 7 days ahead, time zone America/Sao_Paulo}; sellers[Ana].calendar_id = vendas@…")
        phone, name = LEAD_CALENDAR
        to_lead = lambda: [s for s in self.sends if s["to"].lstrip("+") == phone]  # noqa: E731
        said = "Oi! Sou de Manaus e quero agendar uma visita técnica"
        say("  (the lead writes from a São Paulo number, DDD 11)")
        self.meta("wamid.DEMO1601", said, phone=phone, name=name)
        wait_until(lambda: len(to_lead()) >= 1, 40, "the offered slots")
        say(f"  ← Piloto: {to_lead()[-1]['text']}")
        contact = self.db.collection("tenants").document(d.tenant_id).collection("contacts").document(
            contact_id(f"+{phone}")).get().to_dict() or {}
        say(f"  contacts/…: location {contact.get('location')!r}, time_zone {contact.get('time_zone')!r} "
            "(what she said beats her number's area; Manaus is an hour behind Brasília)")
        assert "no seu horário" in to_lead()[-1]["text"], "the offer should show the lead's own time"
        self.meta("wamid.DEMO1602", "Pode ser o segundo", phone=phone, name=name)
        wait_until(lambda: len(to_lead()) >= 2, 40, "the booking confirmation")
        say(f"  ← Piloto: {to_lead()[-1]['text']}")
        [event] = [e for e in calendar.fake.events(SELLER_CALENDAR) if e["id"].startswith("pm")]
        say(f"  event on {SELLER_CALENDAR}: “{event['summary']}” {event['start']['dateTime']} "
            f"(id {event['id'][:12]}…, the same on every retry of this conversation)")
        say(f"      description: {' / '.join(event['description'].splitlines()[:3])}")
        wait_until(lambda: bool([s for s in self.sends if "agendou" in (s["text"] or "")]), 20, "the seller's alert")
        seller = [s for s in self.sends if "agendou" in (s["text"] or "")]
        say(f"  → seller's WhatsApp {mask_phone(seller[-1]['to'])}: {seller[-1]['text']}")
        hook = self.crm_hook
        assert hook is not None
        wait_until(lambda: "MeetingScheduled" in hook.event_types(), 40, "MeetingScheduled at the webhook")
        body = next(dl["body"] for dl in hook.deliveries if dl["body"]["type"] == "MeetingScheduled")
        say(f"  → CRM webhook received MeetingScheduled: {body['payload']['kind']} at "
            f"{body['payload']['starts_at']} (event {body['payload']['calendar_event_id'][:12]}…)")
        booking = self.db.collection("tenants").document(d.tenant_id).collection("bookings").document(
            conversation_id(channel_key("meta", d.meta_phone_number_id), f"+{phone}")).get().to_dict() or {}
        reminder_at = booking["start"].astimezone(UTC) - timedelta(minutes=120)
        say(f"  reminder to the lead: a task on queue 'followups' due {reminder_at:%d/%m %H:%M} UTC (2 h before), "
            f"in her time zone ({booking.get('lead_time_zone')})")

        say("\n15c. The same booking from the website chat (POST chat_api): the widget sends the lead's phone and "
            "time zone, and the calendar's seller is told on WhatsApp")
        chat_url = self.stack.function_url("chat_api")
        visitor = {"tenant_id": d.tenant_id, "user_id": "site-visitante-1", "phone": "+5568999001122",
                   "time_zone": "America/Rio_Branco"}
        key = {"X-Piloto-Api-Key": d.chat_api_key}
        bad = self.http.post(chat_url, json={**visitor, "message": "Oi", "time_zone": "Rio Branco"}, headers=key)
        say(f"  POST chat_api with time_zone 'Rio Branco' → {bad.status_code}: {bad.json()['reason']}")
        offer = self.http.post(chat_url, json={**visitor, "message": "Quero agendar uma visita técnica"}, headers=key,
                               timeout=30)
        say(f"  POST chat_api {{phone: +55 68 …, time_zone: America/Rio_Branco}} → {offer.status_code}: "
            f"{offer.json()['response']}")
        assert "no seu horário" in offer.json()["response"], "the chat offer should show the lead's own time (UTC-5)"
        booked = self.http.post(chat_url, json={**visitor, "message": "Pode ser o primeiro"}, headers=key, timeout=30)
        say(f"  POST chat_api → {booked.status_code}: {booked.json()['response']}")
        wait_until(lambda: bool([s for s in self.sends if "chat do site" in (s["text"] or "")]), 20,
                   "the seller's alert of the chat booking")
        alert = [s for s in self.sends if "chat do site" in (s["text"] or "")][-1]
        say(f"  → seller's WhatsApp {mask_phone(alert['to'])}: {alert['text']}")
        chat_booking = self.db.collection("tenants").document(d.tenant_id).collection("bookings").document(
            conversation_id("api:chat", visitor["user_id"])).get().to_dict() or {}
        say(f"  bookings/…: lead_time_zone {chat_booking.get('lead_time_zone')!r}, seller_alerts "
            f"{list((chat_booking.get('seller_alerts') or {}).values())}")

    def media_step(self) -> None:
        d = self.demo
        assert self.stack.sandbox is not None
        phone, name = LEAD_MEDIA
        say("\n9. A lead sends a voice note and a PDF of her power bill (Meta): the turn waits until both are read")
        voice = wav_voice_note(2.5)
        bill = text_pdf(["CONTA DE ENERGIA ELÉTRICA - Distribuidora Paulista", "Cliente: Beatriz Costa",
                         "Consumo do mês: 520 kWh", "Total a pagar: R$ 468,90"])
        # The voice note downloads slowly on purpose: the turn comes due first and must wait for it.
        self.stack.sandbox.host_meta_media("880000000000001", HostedMedia(voice, "audio/ogg",
                                                                         delay_seconds=self.stack.debounce_seconds + 1))
        self.stack.sandbox.host_meta_media("880000000000002", HostedMedia(bill, "application/pdf"))
        before = len(self.sends)
        say(f"  {name} (Meta): [voice note, {len(voice) // 1000} kB, 2.5 s]")
        self.post("meta", *payloads.signed_meta(payloads.meta_media(
            d.meta_phone_number_id, phone, name, "wamid.DEMOMEDIA1", "audio", "880000000000001",
            "audio/ogg; codecs=opus", voice=True), DEMO_META_APP_SECRET))
        say(f"  {name} (Meta): [document conta-de-luz.pdf, {len(bill)} bytes] caption “Segue minha conta”")
        self.post("meta", *payloads.signed_meta(payloads.meta_media(
            d.meta_phone_number_id, phone, name, "wamid.DEMOMEDIA2", "document", "880000000000002",
            "application/pdf", filename="conta-de-luz.pdf", caption="Segue minha conta"), DEMO_META_APP_SECRET))
        self.wait_replies(before + 1, timeout=60)
        conv_id = conversation_id(channel_key("meta", d.meta_phone_number_id), f"+{phone}")
        messages = (self.db.collection("tenants").document(d.tenant_id).collection("conversations").document(conv_id)
                    .collection("messages").order_by("stored_at").stream())
        say("  what the media processor stored (Cloud Storage emulator) and read:")
        for snap in messages:
            m = snap.to_dict()
            if not m.get("media_status"):
                continue
            file = m.get("media_file") or {}
            say(f"    {m['kind']:<9}{m['media_status']:<6}{file.get('content_type', '-'):<17}"
                f"{file.get('size_bytes', 0):>7} B  sha256 {file.get('sha256', '')[:12]}  gs://{file.get('bucket')}/"
                f"{file.get('path')}")
            say(f"             text: {' '.join((m.get('media_text') or '').split())[:110]}")
        say("  (the voice note's 'transcript' comes from the OFFLINE transcriber, which says it cannot transcribe;"
            " the PDF text is real, read by pypdf)")
    def voice_step(self) -> None:
        """9b. A lead who talks gets a voice note back (the agent's voice.replies is 'mirror')."""
        assert self.stack.sandbox is not None
        phone, name = LEAD_VOICE
        say("\n9b. A lead sends a voice note on Z-API; the agent answers with a voice note (voice.replies: mirror)")
        # The demo agent answers a voice note with one (short, plain replies only; the rest goes as text).
        agent = self.db.collection("tenants").document(self.demo.tenant_id).collection("agents").document("default")
        agent.update({"voice": VoiceSettings(replies="mirror", voice_name="pt-BR-Chirp3-HD-Kore").model_dump()})
        say("  agent 'default': voice.replies = mirror, voice pt-BR-Chirp3-HD-Kore")
        self.zapi_voice_note(phone, name, "3EB0VOICE0001", "Oi, vocês instalam em Belo Horizonte?")
        sent = self.stack.sandbox.sends_to(phone)[0]
        audio = sent.get("audio") or {}
        if audio:
            say(f"  ← Piloto via zapi to {mask_phone(phone)}: [voice note, {audio['bytes'] // 1000} kB, "
                f"{audio['duration_s']} s, Ogg/Opus {'yes' if audio['ogg_opus'] else 'NO'}, as a voice note "
                f"{'yes' if audio['voice'] else 'no'}]")
        else:
            say(f"  ← Piloto via zapi to {mask_phone(phone)} as text: {sent.get('text')}")
        conv_id = conversation_id(channel_key("zapi", self.demo.zapi_instance), f"+{phone}")
        replies = (self.db.collection("tenants").document(self.demo.tenant_id).collection("conversations")
                   .document(conv_id).collection("messages").where(filter=FieldFilter("role", "==", "agent")).stream())
        for reply in (snap.to_dict() for snap in replies):
            voice = reply.get("voice") or {}
            say(f"  stored on the reply: text “{(reply.get('text') or '')[:80]}…”; voice {voice.get('voice')}, "
                f"{voice.get('characters')} characters, kept at {voice.get('audio_object')}"
                if voice.get("spoken") else f"  stored on the reply: sent as text ({voice.get('reason')})")
        say("  (the OFFLINE synthesizer makes tones, not words, in a real Ogg/Opus file; production uses a "
            "Chirp 3 HD voice)")

    def zapi_voice_note(self, phone: str, name: str, message_id: str, words: str) -> None:
        """A Z-API lead's voice note (offline tones standing in for `words`), and the wait for the reply."""
        assert self.stack.sandbox is not None
        note = OfflineSpeechSynthesizer().synthesize(words, VoiceSettings()).audio
        url = self.stack.sandbox.host_file(f"{message_id}.ogg", HostedMedia(note, "audio/ogg"))
        say(f"  {name} (Z-API): [voice note, {len(note) // 1000} kB]")
        self.post("zapi", *payloads.as_json(payloads.zapi_media(
            self.demo.zapi_instance, phone, name, message_id, "audio", url, "audio/ogg; codecs=opus", ptt=True)),
            channel=self.demo.zapi_instance)
        wait_until(lambda: bool(self.stack.sandbox and self.stack.sandbox.sends_to(phone)), 60, "the voice reply")

    def cloned_voice_step(self) -> None:
        """9c. The owner's voice, cloned with consent through voice_admin, answers a lead; then it is revoked."""
        assert self.stack.sandbox is not None and self.stack.voice is not None
        assert self.stack.voice.tts is not None and self.stack.voice.secrets is not None
        say("\n9c. The owner's voice, cloned with consent (voice_admin → Text-to-Speech and Secret Manager fakes)")
        admin = self.stack.function_url("voice_admin")
        # What an owner has: two WhatsApp voice notes (Ogg/Opus, 48 kHz) — a sample of their speech and the statement.
        reference, consent = opus_voice_note(8.0), opus_voice_note(6.0, pitch=210.0)
        say(f"  the owner uploads two WhatsApp voice notes: reference.opus ({len(reference) // 1000} kB) and "
            f"consent.opus ({len(consent) // 1000} kB), Ogg/Opus 48 kHz")
        body = {"action": "clone", "tenant_id": self.demo.tenant_id, "agent_id": "default",
                "speaker_name": "Marcos Lima (dono)", "uploaded_by": "ana@solarprime.com.br", "language_code": "pt-BR",
                "reference_audio": base64.b64encode(reference).decode(),
                "consent_audio": base64.b64encode(consent).decode(), "consent": False,
                "consent_statement": CONSENT_SCRIPTS["pt-BR"]}
        refused = self.http.post(admin, json=body)
        say(f"  without consent: voice_admin → {refused.status_code} {refused.json()['reason']}")
        memo = base64.b64encode(M4A_VOICE_MEMO_START).decode()
        m4a = self.http.post(admin, json={**body, "consent": True, "consent_audio": memo})
        say(f"  an iPhone voice memo (M4A) as consent: voice_admin → {m4a.status_code} "
            f"{m4a.json()['reason'][:150]}…")
        say(f"    (Text-to-Speech calls: {len(self.stack.voice.tts.requests)}, secrets: "
            f"{len(self.stack.voice.secrets.secrets)})")
        sent_before = len(self.stack.voice.tts.requests)
        created = self.http.post(admin, json={**body, "consent": True})
        record = created.json()["consent"]
        [sent] = [r for r in self.stack.voice.tts.requests[sent_before:] if "consent_script" in r]
        say(f"  with consent: voice_admin → {created.status_code}; consent {record['consent_id'][:12]}… by "
            f"{record['uploaded_by']} at {record['consented_at'][:19]}, reference sha256 "
            f"{record['reference_sha256'][:12]}…, key in {record['secret_version']}")
        for name, upload, field in (("reference", reference, "reference_audio"),
                                    ("consent", consent, "voice_talent_consent")):
            wav = base64.b64decode(sent[field]["content"])
            config = sent[field]["audio_config"]
            say(f"    {name}: {record[name + '_format']} {len(upload) // 1000} kB, {record[name + '_seconds']} s → "
                f"{config['audio_encoding']} WAV {config['sample_rate_hertz']} Hz mono, {len(wav) // 1000} kB "
                f"sent to Text-to-Speech (sha256 uploaded {record[name + '_sha256'][:10]}…, "
                f"sent {record[name + '_sent_sha256'][:10]}…)")
        again = self.http.post(admin, json={**body, "consent": True})
        say(f"  the same recordings again → {again.status_code}, created {again.json()['created']}, keys issued by "
            f"Text-to-Speech: {len(self.stack.voice.tts.cloning_keys)}")
        phone, name = LEAD_CLONE
        self.zapi_voice_note(phone, name, "3EB0VOICE0002", "Oi, é o Marcos mesmo que atende?")
        audio = self.stack.sandbox.sends_to(phone)[0].get("audio") or {}
        conv_id = conversation_id(channel_key("zapi", self.demo.zapi_instance), f"+{phone}")
        messages = (self.db.collection("tenants").document(self.demo.tenant_id).collection("conversations")
                    .document(conv_id).collection("messages"))
        wait_until(lambda: any((m.to_dict().get("voice") or {}).get("voice") for m in messages.stream()), 10,
                   "the reply's voice facts")
        voice = next((m.to_dict().get("voice") or {}) for m in messages.stream() if m.to_dict().get("voice"))
        say(f"  ← Piloto via zapi to {mask_phone(phone)}: [voice note, {audio.get('bytes', 0) // 1000} kB, "
            f"{audio.get('duration_s')} s] in voice {voice.get('voice')} (key read from Secret Manager)")
        revoked = self.http.post(admin, json={"action": "revoke", "tenant_id": self.demo.tenant_id,
                                              "agent_id": "default", "revoked_by": "ana@solarprime.com.br",
                                              "reason": "demo"})
        state = self.stack.voice.secrets.version_state(record["secret_version"])
        say(f"  revoke → {revoked.status_code}: consent {revoked.json()['revoked'][0]['status']}, key version "
            f"{state}, agent back to its stock voice")
        say("  (the sound is still the OFFLINE tones: the local synthesizer reads the cloned voice's key to prove it is "
            "usable, but imitates nobody; production sends the key to Chirp 3 Instant Custom Voice)")

    def knowledge_base(self) -> None:
        """Step 10: documents in the knowledge bucket become answers (offline hashed-n-gram embedder here)."""
        from google.cloud import storage
        from google.cloud.firestore_v1.base_query import FieldFilter

        from dev import storage_events
        from dev.stack import KNOWLEDGE_BUCKET

        say("\n10. Knowledge base: Solar Prime uploads two documents to the knowledge bucket; Eventarc's "
            "finalize event reaches knowledge_ingest")
        bucket = storage.Client(project=self.stack.client_env()["GOOGLE_CLOUD_PROJECT"]).bucket(KNOWLEDGE_BUCKET)
        for name, content_type in (("financiamento.html", "text/html"), ("garantia.txt", "text/plain")):
            blob = bucket.blob(f"{self.demo.tenant_id}/shared/{name}")
            blob.upload_from_string((KNOWLEDGE_SAMPLES / name).read_bytes(), content_type=content_type)
            blob.reload()
            body, headers = storage_events.event_for_blob(storage_events.FINALIZED, blob)
            response = self.http.post(self.stack.function_url("knowledge_ingest"), content=body, headers=headers)
            state = (self.db.collection("tenants").document(self.demo.tenant_id).collection("knowledge_sources")
                     .where(filter=FieldFilter("object_name", "==", blob.name)).get())
            source = state[0].to_dict() if state else {}
            say(f"  gs://{KNOWLEDGE_BUCKET}/{blob.name} → ingest {response.status_code}; "
                f"{source.get('state')} as {source.get('chunk_count')} chunks (generation {blob.generation})")

        lookup = self.stack.function_url("knowledge_lookup")
        for question in ("Vocês parcelam em quantas vezes? Precisa dar entrada?",
                         "Meu inversor parou de funcionar, como eu aciono a garantia?",
                         "Vocês vendem carro elétrico?"):
            say(f"\n  lead asks: {question}")
            result = self.http.post(lookup, json={"tenant_id": self.demo.tenant_id, "agent_id": "default",
                                                  "question": question, "k": 2}).json()
            if not result["confident"]:
                say(f"    no confident match (closest distance {result['best_distance']:.3f} > "
                    f"{result['max_distance']}): the agent hands off instead of guessing")
                continue
            for passage in result["passages"]:
                text = " ".join(passage["text"].split())
                say(f"    [{passage['distance']:.3f}] {passage['source']} › {passage['section']}: {text[:150]}…")

    def evolution(self, instance: str, phone: str, name: str, key_id: str, text: str, from_me: bool = False) -> None:
        self.post("evolution", *payloads.as_json(payloads.evolution_text(
            instance, self.demo.evolution_apikey, phone, name, key_id, text, from_me=from_me)), channel=instance)

    def show_brain(self) -> None:
        d = self.demo
        tenant = self.db.collection("tenants").document(d.tenant_id)
        say("\n11. Tools: what the agent recorded about Mariana (update_lead) and the catalogue it quoted")
        lead = tenant.collection("contacts").document(contact_id(f"+{LEAD_META[0]}")).get().to_dict() or {}
        say(f"  tenants/{d.tenant_id}/contacts/…: stage={lead.get('stage')} budget={lead.get('budget')!r} "
            f"need={lead.get('need')!r}")
        self.meta("wamid.DEMO0020", "Pode ser uma visita técnica amanhã às 10h?")
        self.wait_replies(len(self.sends) + 1)
        for meeting in tenant.collection("meetings").stream():
            m = meeting.to_dict()
            say(f"  meeting requested (request_meeting): {m['proposed_times']} · {m['topic']}")

        say("  Mariana asks about the warranty: the agent searches the company's documents (search_knowledge)")
        to_lead = len(self.stack.sandbox.sends_to(LEAD_META[0]))
        self.meta("wamid.DEMO0021", "Se o inversor der problema, como eu aciono a garantia?")
        wait_until(lambda: len(self.stack.sandbox.sends_to(LEAD_META[0])) > to_lead, 30, "the reply")
        say(f"  ← Piloto via meta to {mask_phone(LEAD_META[0])}: {self.stack.sandbox.sends_to(LEAD_META[0])[-1]['text']}")
        say("  and asks something the documents do not answer: no confident match, so a human is called")
        to_lead = len(self.stack.sandbox.sends_to(LEAD_META[0]))
        self.meta("wamid.DEMO0022", "Vocês vendem carro elétrico também?")
        wait_until(lambda: len(self.stack.sandbox.sends_to(LEAD_META[0])) > to_lead, 30, "the reply")
        say(f"  ← Piloto via meta to {mask_phone(LEAD_META[0])}: {self.stack.sandbox.sends_to(LEAD_META[0])[-1]['text']}")
        seller = d.seller_phone.lstrip("+")
        invitation = self.stack.sandbox.sends_to(seller)[-1]
        say(f"  ← to the SELLER Ana ({mask_phone(d.seller_phone)}): template {invitation['template']['name']!r} "
            f"{[p['text'] for p in invitation['template']['components'][0]['parameters']]} — she has not written in "
            "24 h, so Meta only accepts an approved template; the alert itself is kept")
        conv = tenant.collection("conversations").document(
            conversation_id(channel_key("meta", d.meta_phone_number_id), f"+{LEAD_META[0]}")).get().to_dict()
        say(f"  conversation: bot_paused={conv.get('bot_paused')} reason={conv.get('handoff_reason')!r}")
        self.seller_step(seller)
        self.copilot_step(seller)

    def seller_wrote(self, provider: str, payload: dict, text: str, channel: str | None = None) -> None:
        say(f"  Ana (seller, {provider}): {text}")
        if provider == "meta":
            self.post("meta", *payloads.signed_meta(payload, DEMO_META_APP_SECRET))
        else:
            self.post(provider, *payloads.as_json(payload), channel=channel)

    def seller_step(self, seller: str) -> None:
        d = self.demo
        say("\n11b. The seller works from her own WhatsApp (Meta number): she is a seller, never a lead")
        before = len(self.stack.sandbox.sends_to(seller))
        self.seller_wrote("meta", payloads.meta_text(d.meta_phone_number_id, seller, "Ana", "wamid.SELLER01",
                                                     "Oi, vi o aviso"), "Oi, vi o aviso")
        wait_until(lambda: len(self.stack.sandbox.sends_to(seller)) >= before + 2, 30, "the held alert")
        alert, hint = self.stack.sandbox.sends_to(seller)[before:before + 2]
        say(f"  ← held alert delivered now that her window is open: {' '.join(alert['text'].split())}")
        say(f"  ← {hint['text']}")
        answer = "Oi Mariana, aqui é a Ana da Solar Prime: carro elétrico não vendemos, só energia solar."
        to_lead = len(self.stack.sandbox.sends_to(LEAD_META[0]))
        say("  she swipes to reply to the alert (Meta context.id = the alert's wamid):")
        self.seller_wrote("meta", payloads.meta_text(d.meta_phone_number_id, seller, "Ana", "wamid.SELLER02", answer,
                                                     context_id=alert["id"]), answer)
        wait_until(lambda: len(self.stack.sandbox.sends_to(LEAD_META[0])) > to_lead, 30, "the relayed answer")
        say(f"  ← Piloto via meta to Mariana ({mask_phone(LEAD_META[0])}), as the business: "
            f"{self.stack.sandbox.sends_to(LEAD_META[0])[-1]['text']}")

        def preview() -> str | None:
            return next((s["text"] for s in self.stack.sandbox.sends_to(seller)
                         if "Aprendizado" in (s["text"] or "") and "carro" in s["text"]), None)

        wait_until(lambda: preview() is not None, 30, "the learning preview")
        say(f"  ← to Ana (learn_from_humans: review): {' '.join(preview().split())}")
        seller_conv = self.db.collection("tenants").document(d.tenant_id).collection("conversations").document(
            conversation_id(channel_key("meta", d.meta_phone_number_id), d.seller_phone)).get()
        say(f"  a conversation (or LeadCreated) for Ana's number: {'yes' if seller_conv.exists else 'none'}")

    def copilot_step(self, seller: str) -> None:
        d = self.demo
        tenant = self.db.collection("tenants").document(d.tenant_id)
        say("\n12. Copilot mode (a second Evolution number): the agent drafts for the seller, never for the lead")
        phone, name = LEAD_COPILOT
        say(f"  {name} (Evolution, copilot line): Achei o preço meio alto, tem desconto à vista?")
        seller_before = len(self.stack.sandbox.sends_to(seller))
        self.evolution(d.evolution_copilot_instance, phone, name, "3EB0COP0001",
                       "Achei o preço meio alto, tem desconto à vista?")

        def drafts() -> list[dict]:
            return [s for s in self.stack.sandbox.sends_to(seller)[seller_before:]
                    if (s["text"] or "").startswith("💡")]

        wait_until(lambda: bool(drafts()), 30, "the seller's draft")
        draft = drafts()[0]
        say(f"  ← to the SELLER's WhatsApp ({mask_phone(d.seller_phone)}):")
        for line in draft["text"].splitlines():
            say(f"       {line}")
        say(f"  messages sent to {name}: {len(self.stack.sandbox.sends_to(phone))} (copilot never writes to the lead)")
        say("  Ana replies 'ok' to the draft (Evolution contextInfo.stanzaId = the draft's id):")
        self.seller_wrote("evolution", payloads.evolution_text(d.evolution_copilot_instance, d.evolution_apikey, seller,
                                                               "Ana", "3EB0SELLER01", "ok", quoted_id=draft["id"]),
                          "ok", channel=d.evolution_copilot_instance)
        wait_until(lambda: len(self.stack.sandbox.sends_to(phone)) == 1, 30, "the draft sent to the lead")
        say(f"  ← Piloto via evolution to {name} ({mask_phone(phone)}): {self.stack.sandbox.sends_to(phone)[0]['text']}")
        conv_ref = tenant.collection("conversations").document(
            conversation_id(channel_key("evolution", d.evolution_copilot_instance), f"+{phone}"))

        def judged() -> dict:
            return next(s.to_dict() for s in conv_ref.collection("suggestions").stream())

        wait_until(lambda: judged()["status"] != "pending", 30, "the verdict")
        evidence = f" ({judged()['best_time_evidence']})" if judged()["best_time_evidence"] else ""
        say(f"  suggestion: status={judged()['status']} intent={judged()['intent']!r} "
            f"recontact={judged()['best_time_to_recontact']!r}{evidence}")
        say("  the accepted draft is now a style example for this agent's next drafts (tenants/…/style_examples)")

        say("\n13. The /chat API: the same brain over HTTP, with its metrics (a per-tenant API key)")
        chat_url = self.stack.function_url("chat_api")
        question = {"tenant_id": d.tenant_id, "user_id": "admin-teste", "message": "Quanto custa o kit residencial?"}
        refused = self.http.post(chat_url, json=question)
        say(f"  POST chat_api without a key → {refused.status_code} {refused.json()['error']}")
        other = self.http.post(chat_url, json={**question, "tenant_id": "outra-empresa"},
                               headers={"X-Piloto-Api-Key": d.chat_api_key})
        say(f"  POST chat_api naming another (unknown) tenant → {other.status_code} {other.json()['error']}")
        response = self.http.post(chat_url, json=question, headers={"X-Piloto-Api-Key": d.chat_api_key})
        body = response.json()
        say(f"  POST chat_api → {response.status_code}: {body['response']}")
        say(f"  model={body['model']} tokens_used={body['tokens_used']} context_size={body['context_size']} "
            f"tool_calls={[c['name'] for c in body['tool_calls']]} cost_usd={body['cost_usd']} "
            f"latency_ms={body['latency_ms']}")

    def print_transcripts(self) -> None:
        d = self.demo
        say("\n== Transcripts (Firestore: tenants/demo-solar/conversations/*/messages) ==")
        for provider, channel, (phone, name) in (("meta", d.meta_phone_number_id, LEAD_META),
                                                 ("evolution", d.evolution_instance, LEAD_EVOLUTION),
                                                 ("zapi", d.zapi_instance, LEAD_ZAPI),
                                                 ("twilio", d.twilio_sender, LEAD_TWILIO),
                                                 ("meta", d.meta_phone_number_id, LEAD_MEDIA)):
            conv_id = conversation_id(channel_key(provider, channel), f"+{phone}")
            conv_ref = self.db.collection("tenants").document(d.tenant_id).collection("conversations").document(conv_id)
            conv = conv_ref.get().to_dict() or {}
            paused = " [bot paused: a human owns it]" if conv.get("bot_paused") else ""
            say(f"\n-- {name} via {provider} ({mask_phone(phone)}){paused}")
            for snap in conv_ref.collection("messages").order_by("stored_at").stream():
                m = snap.to_dict()
                state = f" [{m['state']}]" if m.get("state") else ""
                tools = [c["name"] for c in m.get("tool_calls") or []]
                state += f" (tools: {', '.join(tools)})" if tools else ""
                media = f" [{m['kind']} {m['media_status']}]" if m.get("media_status") else ""
                say(f"  {m['sent_at']:%H:%M:%S} {m['role']:>5}{state}{media}: "
                    f"{m.get('text') or (m.get('media_text') or '')[:90] or '[' + m.get('kind', '') + ']'}")

    def print_metrics(self) -> None:
        say("\n== Model calls (tenants/demo-solar/model_calls) ==")
        say(f"  {'conversation':<26}{'model':<20}{'backend':<9}{'purpose':<14}{'prompt':>7}{'output':>7}{'ms':>6}"
            f"{'usd':>10}")
        calls = self.db.collection("tenants").document(self.demo.tenant_id).collection("model_calls").order_by("at")
        total, unpriced = 0.0, 0
        for snap in calls.stream():
            c = snap.to_dict()
            cost = c.get("cost_usd")
            total += cost or 0.0
            unpriced += cost is None
            conversation, model = c["conversation_id"][:25], c["model"][:19]  # knowledge ids and models run long
            outcome = "" if c.get("outcome", "ok") == "ok" else f"  {c['outcome']}"
            say(f"  {conversation:<26}{model:<20}{c['backend']:<9}{c.get('purpose', 'reply'):<14}"
                f"{c['usage']['prompt_tokens']:>7}"
                f"{c['usage']['output_tokens']:>7}{c['latency_ms']:>6}"
                f"{'unknown' if cost is None else f'{cost:.6f}':>10}{outcome}")
        say(f"  total estimated cost: US$ {total:.6f} (the offline model is free; Gemini prices come from LLM_PRICING)"
            + (f"; {unpriced} call(s) without a price" if unpriced else ""))


    def print_business_numbers(self) -> None:
        """The owner's numbers for today, as the tenant_report function returns them; then the hourly rollup job."""
        today = datetime.now(UTC).astimezone(ZoneInfo("America/Sao_Paulo")).date().isoformat()
        say(f"\n== The owner's numbers today ({today}, America/Sao_Paulo), from tenant_report ==")
        response = httpx.post(self.stack.function_url("tenant_report"),
                              json={"tenant_id": self.demo.tenant_id, "start": today, "end": today}, timeout=60)
        numbers = response.json()
        if response.status_code != 200:
            say(f"  tenant_report answered {response.status_code}: {numbers}")
            return

        def seconds(p: dict) -> str:
            return "—" if p["count"] == 0 else f"p50 {p['p50']:.1f} s · p90 {p['p90']:.1f} s ({p['count']})"

        say(f"  funnel: {numbers['new_leads']} new leads → {numbers['leads_qualified']} qualified → "
            f"{numbers['meetings_requested']} meetings requested; {numbers['opt_outs']} opted out")
        say(f"  conversations answered: {numbers['conversations_answered']}; human takeovers: "
            f"{numbers['human_takeovers']}; leads answered by a human: {numbers['leads_answered_by_human']}")
        say(f"  handoffs: {numbers['handoffs'] or 'none'}; follow-ups sent {numbers['followups_sent']}, "
            f"answered {numbers['followups_answered']}")
        say(f"  first reply — bot: {seconds(numbers['first_reply_bot'])}; human: "
            f"{seconds(numbers['first_reply_human'])}; seller response: {seconds(numbers['human_response'])}")
        per_lead = numbers["cost_per_lead_usd"]
        say(f"  model cost US$ {numbers['model_cost_usd']:.6f} over {numbers['model_calls']} calls "
            f"({numbers['unpriced_model_calls']} without a price); per lead: "
            f"{'—' if per_lead is None else f'US$ {per_lead:.6f}'}")
        rollup = httpx.post(self.stack.function_url("metrics_rollup"), json={}, timeout=120).json()
        say(f"  metrics_rollup (Cloud Scheduler, hourly): {rollup['rollups_written']} daily rollups written to "
            f"tenants/*/daily_metrics for {rollup['tenants']} tenant(s)")
        self.print_audit()

    def print_audit(self) -> None:
        """conversation_audit (hourly): the Evolution conversation João took over has gone quiet by now."""
        run = httpx.post(self.stack.function_url("conversation_audit"), json={}, timeout=120).json()
        say(f"\n== Audit of the conversation the seller took over (conversation_audit: {run['audited']} audited) ==")
        audits = self.db.collection("tenants").document(self.demo.tenant_id).collection("audits").stream()
        for audit in (snap.to_dict() for snap in audits):
            facts, rubric = audit["facts"], audit.get("rubric") or {}
            first = facts["first_human_response_s"]
            say(f"  conversation {audit['conversation_id'][:12]}…: {facts['lead_messages']} lead / "
                f"{facts['human_messages']} seller / {facts['bot_messages']} bot messages; seller's first answer "
                f"{'—' if first is None else f'{first:.1f} s'}; last to write: {facts['last_writer']}; "
                f"next step set: {'yes' if facts['next_step_set'] else 'no'}")
            for score in rubric.get("scores", []):
                quote = (score["evidence"] or "—")[:70]
                say(f"    {score['criterion']:<14}{score['score']}/5  “{quote}”"
                    f"{'' if score['evidence_found'] else ' (quote not found in the conversation)'}")
            say(f"  rubric scored by: {rubric.get('scored_by', 'nobody')} — {rubric.get('summary', audit.get('rubric_error'))}")


def model_environment(model: str) -> tuple[dict[str, str], str] | str:
    """The functions' environment for the chosen model and a line describing it, or what is missing."""
    if model == "offline":
        return {}, "OFFLINE template model (LLM_BACKEND=offline) — no Gemini call is made"
    if model == "gemini":
        key = os.environ.get("GEMINI_API_KEY", "").strip()
        if not key:
            return ("--model gemini needs a Gemini Developer API key in GEMINI_API_KEY.\n"
                    "  Create one at https://aistudio.google.com/apikey, then:\n"
                    "    export GEMINI_API_KEY=<your key>\n    bash scripts/demo.sh --model gemini")
        return ({"LLM_BACKEND": "gemini", "GEMINI_API_KEY": key},
                "Gemini Developer API (LLM_BACKEND=gemini, GEMINI_API_KEY) — real calls, billed to that key")
    try:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            _, adc_project = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        except DefaultCredentialsError:
            adc_project, missing_adc = None, True
        else:
            missing_adc = False
    except ImportError:  # pragma: no cover - google-auth ships with the Google clients
        adc_project, missing_adc = None, True
    project = os.environ.get("VERTEX_PROJECT") or adc_project
    if missing_adc or not project:
        what = "Application Default Credentials" if missing_adc else "a project for the Vertex AI calls"
        return (f"--model vertex needs {what}.\n"
                "  Run `gcloud auth application-default login`, then name a project where the Vertex AI API is "
                "enabled and you have roles/aiplatform.user:\n"
                "    export VERTEX_PROJECT=<your project id>\n    bash scripts/demo.sh --model vertex\n"
                "  (or use --model gemini with a GEMINI_API_KEY, or the default offline model)")
    return ({"LLM_BACKEND": "vertex", "VERTEX_PROJECT": project},
            f"Gemini on Vertex AI (LLM_BACKEND=vertex, project {project}) — real calls, billed to that project")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--debounce", type=float, default=2.0, help="burst window in seconds (production: 4)")
    parser.add_argument("--model", choices=("offline", "vertex", "gemini"), default="offline",
                        help="offline template (default), Gemini on Vertex AI (ADC), or the Gemini API (GEMINI_API_KEY)")
    args = parser.parse_args()
    chosen = model_environment(args.model)
    if isinstance(chosen, str):
        say(chosen)  # never falls back to the offline model silently
        return 2
    model_env, model_line = chosen
    say("Starting Firestore, Pub/Sub, Storage and Cloud Tasks emulators, the functions and the provider sandbox…")
    with LocalStack(debounce_seconds=args.debounce, extra_env=model_env) as stack:
        say(f"  webhook:    {stack.function_url('whatsapp_webhook')}{{meta,evolution,zapi,twilio}} (gateway URLs "
            "keyed per channel: ?channel=…&key=…)")
        say(f"  agent_turn: {stack.function_url('agent_turn')}")
        say(f"  media_processor: {stack.function_url('media_processor')}")
        say(f"  knowledge:  ingest {stack.function_url('knowledge_ingest')}  lookup "
            f"{stack.function_url('knowledge_lookup')} (OFFLINE hashed-n-gram embedder, no Gemini)")
        assert stack.sandbox is not None
        say(f"  provider sandbox: {stack.sandbox.url} (outbound sends land here)")
        assert stack.crm_receiver is not None
        say(f"  crm_sync: {stack.function_url('crm_sync')} (push subscription of the domain-events topic); "
            f"webhook receiver: {stack.crm_receiver.url}")
        say(f"  model: {model_line}")
        if args.model == "offline":
            say("  media: OFFLINE media reader (cannot transcribe audio, describe images or read scans; says so);"
                " PDF/DOCX text extraction is real")
        demo = seed(firestore.Client(project=stack.client_env()["GOOGLE_CLOUD_PROJECT"]), stack.sandbox.url,
                    twilio=stack.sandbox.twilio)
        Demo(stack, demo).run()
    say("\nStopped everything the demo started. Logs of each process: .run/logs/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
