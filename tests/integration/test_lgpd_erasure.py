"""LGPD export and erasure on the emulators: a lead seeded in every collection (and a media object) is exported
whole, then erased until nothing of theirs remains, while other leads and other tenants keep their data."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from google.cloud import storage

from dev.seed import DemoTenant
from dev.stack import MEDIA_BUCKET, PROJECT
from shared.adapters.cloud_storage import CloudStorageMedia
from shared.adapters.firestore_knowledge import FirestoreKnowledgeIndex
from shared.adapters.firestore_lead_data import FirestoreLeadData
from shared.adapters.firestore_answer_cache import FirestoreAnswerCache
from shared.adapters.firestore_bookings import FirestoreBookings
from shared.adapters.firestore_business_metrics import FirestoreAuditStore
from shared.adapters.firestore_channels import FirestoreChannelDirectory
from shared.adapters.firestore_conversations import FirestoreConversationStore
from shared.adapters.firestore_crm import FirestoreCrmStore
from shared.adapters.firestore_leads import FirestoreLeadStore
from shared.adapters.firestore_outbox import FirestoreEventOutbox
from shared.adapters.firestore_sellers import FirestoreSellerStore
from shared.adapters.firestore_usage import FirestoreUsageLedger
from shared.domain.audit import AuditMessage, ConversationAudit, CriterionScore, Rubric, measure
from shared.domain.conversation import Conversation, InboundDisposition, Role, StoredMessage
from shared.domain.crm import CrmKind, CrmLink
from shared.domain.errors import InvalidPayload, UnknownTenant
from shared.domain.events import Contact, LeadErased, lead_created
from shared.domain.ids import contact_id, contact_key, conversation_id, inbound_message_id
from shared.domain.inbound import Provider
from shared.domain.lead import LeadProfile
from shared.domain.lgpd import LEAD_COLLECTIONS
from shared.domain.media import media_path
from shared.domain.meeting import MeetingRequest
from shared.domain.scheduling import Booking, BookingStatus
from shared.domain.seller_desk import ref_code
from shared.domain.tenancy import channel_key
from shared.domain.usage import ModelCall, TokenUsage
from shared.services.lgpd import LgpdDeps, erase_lead, export_lead

pytestmark = pytest.mark.emulators
NOW = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)


def seed_lead(db, tenant: DemoTenant, phone: str, name: str) -> set[str]:  # noqa: ANN001
    """The lead in every collection that holds lead data, through the adapters that write them in production.
    Returns the collections written (the test checks it is LEAD_COLLECTIONS: a new one must be seeded here)."""
    t = tenant.tenant_id
    key = channel_key("meta", tenant.meta_phone_number_id)
    conv = conversation_id(key, phone)
    store = FirestoreConversationStore(db)
    written: set[str] = set()

    lead_msg = inbound_message_id("meta", tenant.meta_phone_number_id, uuid.uuid4().hex)
    store.record_inbound(t, conv, StoredMessage(
        message_id=lead_msg, role=Role.LEAD, text=f"Sou {name}, conta de R$ 450", provider=Provider.META,
        provider_message_id=lead_msg, contact_name=name, sent_at=NOW, disposition=InboundDisposition.QUEUED))
    conversation = Conversation(conversation_id=conv, tenant_id=t, channel_key=key, agent_id="default",
                                contact_phone=phone)
    conversation.contact_name = name
    store.save_conversation(conversation)
    store.save_suggestion(t, conv, lead_msg, {"draft_reply": f"Olá {name}!", "in_reply_to": lead_msg})
    written |= {"messages", "conversations", "suggestions"}

    FirestoreLeadStore(db).save_lead(t, contact_id(phone), LeadProfile(phone=phone, name=name))
    FirestoreLeadStore(db).record_meeting(t, MeetingRequest(
        meeting_id=uuid.uuid4().hex, tenant_id=t, conversation_id=conv, contact_id=contact_id(phone),
        proposed_times=["amanhã 10h"], topic="visita técnica", requested_at=NOW))
    FirestoreUsageLedger(db).record_model_call(t, "default", conv, ModelCall(
        model="gemini-test", backend="vertex", usage=TokenUsage(prompt_tokens=10, output_tokens=5), latency_ms=5,
        cost_usd=0.0))
    written |= {"contacts", "meetings", "model_calls"}

    event = lead_created(tenant_id=t, conversation_id=conv, channel_key=key, contact=Contact(phone=phone, name=name),
                         agent_id="default", occurred_at=NOW, first_message="Oi")
    FirestoreEventOutbox(db).record(event)
    crm = FirestoreCrmStore(db)
    crm.claim_delivery(event, CrmKind.WEBHOOK, NOW, 60)
    crm.save_link(t, CrmLink(contact_key=contact_key(t, phone), crm=CrmKind.HUBSPOT, contact_id="hs-1"))
    crm.hold_lead(t, CrmKind.HUBSPOT, contact_key(t, phone), event.event_id, NOW, 60)  # a crashed delivery's hold
    written |= {"outbox", "crm_deliveries", "crm_links", "crm_lead_holds"}

    store.save_learning_candidate(t, uuid.uuid4().hex[:24], {
        "agent_id": "default", "question": f"{name} pergunta do telhado", "answer": "sim", "status": "pending",
        "conversation_id": conv, "message_id": lead_msg})
    FirestoreKnowledgeIndex(db).save_learned(t, f"lrn-{uuid.uuid4().hex[:20]}", "default", "telhado?", "sim",
                                             "seller", [0.1] * 8, "offline", conv)
    FirestoreAnswerCache(db).put(t, uuid.uuid4().hex, f"{name}: quanto custa?", "R$ 15.900",
                                 NOW + timedelta(hours=24), conversation_id=conv)
    group_msg = inbound_message_id("meta", tenant.meta_phone_number_id, uuid.uuid4().hex)
    store.record_ignored(t, group_msg, "group", StoredMessage(
        message_id=group_msg, role=Role.LEAD, text="oi grupo", provider=Provider.META, provider_message_id=group_msg,
        sent_at=NOW, disposition=InboundDisposition.IGNORED_GROUP), contact_phone=phone)
    written |= {"learned_candidates", "knowledge_chunks", "answer_cache", "ignored_messages"}

    # The calendar booking of the conversation and its slot hold; the audit quoting it; the seller's reference to
    # it and an alert held for a seller (Meta's window closed) that names the lead.
    bookings = FirestoreBookings(db)
    start = NOW + timedelta(days=1, minutes=int(conv[:6], 16) % 10_000)  # a slot of this lead's own
    bookings.save_booking(t, Booking(conversation_id=conv, contact_phone=phone, kind="Visita técnica",
                                     status=BookingStatus.BOOKED, calendar_id="vendas@x", start=start,
                                     end=start + timedelta(hours=1)))
    assert bookings.hold_slot(t, "vendas@x", start, conv)
    FirestoreAuditStore(db).create_audit(t, ConversationAudit(
        audit_id=uuid.uuid4().hex[:24], conversation_id=conv, agent_id="default", sellers=["Ana"], through=NOW,
        facts=measure([AuditMessage(role="lead", at=NOW, text=f"Sou {name}")]), week="2026-W48",
        rubric=Rubric(scores=[CriterionScore(criterion="tone", score=4, evidence=f"Sou {name}")])))
    sellers = FirestoreSellerStore(db)
    code = sellers.save_ref(t, ref_code(t, "lead", conv), {"kind": "lead", "target": conv, "conversation_id": conv,
                                            "channel_key": key, "agent_id": "default"})
    sellers.hold_alert(t, "seller-ana", f"meeting-{conv}", {"text": f"📅 Piloto agendou: visita com {name} ({phone})",
                                                            "code": code, "channel_key": key, "created_at": NOW})
    written |= {"bookings", "slot_holds", "audits", "seller_refs", "held_alerts"}

    CloudStorageMedia(storage.Client(project=PROJECT), MEDIA_BUCKET).save(
        media_path(t, conv, lead_msg, "audio/ogg"), b"OggS voice", "audio/ogg", {"message_id": lead_msg})
    return written


def everything_under(db, tenant_id: str) -> list[tuple[str, dict]]:  # noqa: ANN001
    """Every document of the tenant, recursively: what an erasure must be checked against."""
    found: list[tuple[str, dict]] = []

    def walk(ref) -> None:  # noqa: ANN001
        for collection in ref.collections():
            for doc in collection.list_documents():
                snap = doc.get()
                if snap.exists:
                    found.append((doc.path, snap.to_dict() or {}))
                walk(doc)

    walk(db.collection("tenants").document(tenant_id))
    return found


def media_objects(tenant_id: str) -> list[str]:
    return [b.name for b in storage.Client(project=PROJECT).list_blobs(MEDIA_BUCKET, prefix=f"tenants/{tenant_id}/")]


@pytest.fixture
def lgpd(db):  # noqa: ANN001, ANN201
    events: list = []
    deps = LgpdDeps(directory=FirestoreChannelDirectory(db, cache_seconds=0), data=FirestoreLeadData(db),
                    media=CloudStorageMedia(storage.Client(project=PROJECT), MEDIA_BUCKET), media_bucket=MEDIA_BUCKET,
                    emit_event=events.append, clock=lambda: NOW)
    deps.events = events  # type: ignore[attr-defined]
    return deps


def _random_mobile_without_ninth_digit() -> str:
    return "+55118" + str(uuid.uuid4().int)[:7]  # an old WhatsApp id: DDD 11 + 8 digits


def test_a_lead_seeded_everywhere_is_exported_whole_then_nothing_of_them_remains(db, lgpd, tenant):  # noqa: ANN001
    whatsapp_id = _random_mobile_without_ninth_digit()
    typed = f"+55 11 9{whatsapp_id[5:9]}-{whatsapp_id[9:]}"  # the business types the 9-digit form
    other_phone = _random_mobile_without_ninth_digit()
    assert seed_lead(db, tenant, whatsapp_id, "Mariana Souza") == set(LEAD_COLLECTIONS)
    seed_lead(db, tenant, other_phone, "Joana Lima")
    before = everything_under(db, tenant.tenant_id)

    exported = export_lead(tenant.tenant_id, typed, lgpd)

    assert set(exported["collections"]) == set(LEAD_COLLECTIONS)
    assert len(exported["media_objects"]) == 1
    text = json.dumps(exported)
    assert "Mariana Souza" in text and "Joana" not in text and other_phone not in text

    record = erase_lead(tenant.tenant_id, typed, "dpo@solarprime.example", lgpd, reason="ticket 42")

    after = everything_under(db, tenant.tenant_id)
    digits = whatsapp_id[1:]
    leftovers = [path for path, data in after if "Mariana" in json.dumps(data, default=str)
                 or digits[-8:] in json.dumps(data, default=str)
                 or any(k in path for k in (conversation_id(channel_key("meta", tenant.meta_phone_number_id),
                                                            whatsapp_id), contact_id(whatsapp_id),
                                            contact_key(tenant.tenant_id, whatsapp_id)))]
    assert leftovers == [], "nothing of the erased lead remains"
    assert [m for m in media_objects(tenant.tenant_id) if conversation_id(
        channel_key("meta", tenant.meta_phone_number_id), whatsapp_id) in m] == []
    assert set(record.documents) == set(LEAD_COLLECTIONS) and record.media_objects == 1
    # Other leads keep everything; the erasure record is the only new document and names no one.
    erased_paths = {p for p, _ in before} - {p for p, _ in after}
    assert all(p in {q for q, _ in before} for p, _ in after if "/erasures/" not in p)
    assert len([p for p, _ in after if "/erasures/" in p]) == 1
    assert sum(record.documents.values()) == len(erased_paths)
    assert any("Joana" in json.dumps(d, default=str) for _, d in after)
    [(_, stored_record)] = [(p, d) for p, d in after if "/erasures/" in p]
    assert digits[-8:] not in json.dumps(stored_record, default=str) and "Mariana" not in json.dumps(
        stored_record, default=str)
    assert stored_record["requested_by"] == "dpo@solarprime.example" and stored_record["reason"] == "ticket 42"
    [event] = lgpd.events
    assert isinstance(event, LeadErased) and event.payload.erasure_id == record.erasure_id
    assert event.contact.phone.endswith(whatsapp_id[-8:])

    again = erase_lead(tenant.tenant_id, whatsapp_id, "dpo@solarprime.example", lgpd)
    assert again.documents == {} and again.media_objects == 0


def test_the_same_number_in_another_tenant_is_not_touched(db, lgpd, tenant, new_tenant):  # noqa: ANN001
    other = new_tenant()
    phone = _random_mobile_without_ninth_digit()
    seed_lead(db, tenant, phone, "Mariana")
    seed_lead(db, other, phone, "Mariana")
    kept = everything_under(db, other.tenant_id)

    erase_lead(tenant.tenant_id, phone, "dpo@example.com", lgpd)

    assert everything_under(db, other.tenant_id) == kept


def test_an_unknown_tenant_or_a_non_number_is_refused_and_nothing_is_erased(db, lgpd, tenant):  # noqa: ANN001
    with pytest.raises(UnknownTenant):
        erase_lead(f"t-ghost-{uuid.uuid4().hex[:6]}", "+5511987654321", "dpo@example.com", lgpd)
    before = everything_under(db, tenant.tenant_id)
    with pytest.raises(InvalidPayload, match="phone"):
        erase_lead(tenant.tenant_id, "not a phone", "dpo@example.com", lgpd)
    assert everything_under(db, tenant.tenant_id) == before and lgpd.events == []


def test_a_chat_conversation_where_the_lead_gave_their_phone_is_exported_and_erased(db, lgpd, tenant):  # noqa: ANN001
    """A /chat widget sent the lead's phone (chat_phone): the conversation is theirs though its contact is
    "api:<user>"."""
    phone = "+55219" + str(uuid.uuid4().int)[:8]
    user = f"visitor-{uuid.uuid4().hex[:8]}"
    conv = conversation_id("api:chat", user)
    store = FirestoreConversationStore(db)
    message_id = inbound_message_id("api", tenant.tenant_id, uuid.uuid4().hex)
    store.record_inbound(tenant.tenant_id, conv, StoredMessage(
        message_id=message_id, role=Role.LEAD, text="quero agendar, sou a Paula", provider=Provider.API,
        provider_message_id=message_id, sent_at=NOW, disposition=InboundDisposition.QUEUED))
    conversation = Conversation(conversation_id=conv, tenant_id=tenant.tenant_id, channel_key="api:chat",
                                agent_id="default", contact_phone=f"api:{user}")
    conversation.chat_phone = phone
    store.save_conversation(conversation)

    exported = export_lead(tenant.tenant_id, phone, lgpd)
    assert "quero agendar, sou a Paula" in json.dumps(exported, default=str)
    erase_lead(tenant.tenant_id, phone, "dpo@solarprime.example", lgpd)
    ref = db.collection("tenants").document(tenant.tenant_id).collection("conversations").document(conv)
    assert not ref.get().exists and list(ref.collection("messages").stream()) == []
