"""The seller desk on the real Firestore emulator, with the real Gemini adapter against a local server in Vertex
AI's shapes and a Meta sender that enforces the 24-hour window (tests/fakes.MetaWindowSender)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.firestore_sellers import FirestoreSellerStore
from shared.adapters.firestore_channels import FirestoreChannelDirectory
from shared.adapters.firestore_conversations import FirestoreConversationStore
from shared.adapters.firestore_leads import FirestoreLeadStore
from shared.adapters.firestore_usage import FirestoreUsageLedger
from shared.domain.conversation import InboundDisposition, Role, StoredMessage
from shared.domain.ids import conversation_id, inbound_message_id, seller_key
from shared.domain.inbound import Provider
from shared.domain.tenancy import channel_key
from shared.ports import TurnRequest
from shared.services.agent_turn import TurnDeps, run_agent_turn
from shared.services.seller_desk import handle_seller_message
from tests.fakes import MetaWindowSender
from tests.vertex_fake import FakeVertex, function_call_response, gemini_model, text_response

pytestmark = pytest.mark.emulators
TIERS = {"lite": "gemini-lite", "standard": "gemini-standard", "advanced": "gemini-advanced"}
NOW = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)


class Desk:
    def __init__(self, db, tenant, vertex: FakeVertex) -> None:  # noqa: ANN001
        self.db, self.tenant, self.vertex = db, tenant, vertex
        self.now = NOW
        self.sender = MetaWindowSender(clock=lambda: self.now)
        self.store = FirestoreConversationStore(db)
        self.sellers = FirestoreSellerStore(db)
        self.seller = "+55119" + str(uuid.uuid4().int)[:8]
        self.deps = TurnDeps(directory=FirestoreChannelDirectory(db, cache_seconds=0), store=self.store,
                             model=gemini_model(vertex), sender_for=lambda provider: self.sender,
                             ledger=FirestoreUsageLedger(db), leads=FirestoreLeadStore(db), tiers=TIERS,
                             lease_seconds=60, clock=lambda: self.now, sellers=self.sellers)
        self.key = channel_key("meta", tenant.meta_phone_number_id)
        self.tenant_ref = db.collection("tenants").document(tenant.tenant_id)
        self.agent(sellers=[{"name": "Ana", "phone": self.seller}], seller_template="piloto_chamar_vendedor")

    def agent(self, **fields: object) -> None:
        self.tenant_ref.collection("agents").document("default").set(fields, merge=True)

    def handoff(self, question: str) -> str:
        """A lead on Meta whose turn hands off; returns the lead's phone."""
        phone = "+55119" + str(uuid.uuid4().int)[:8]
        self.sender.last_inbound[phone] = self.now
        conv = conversation_id(self.key, phone)
        message_id = inbound_message_id("meta", self.tenant.meta_phone_number_id, uuid.uuid4().hex)
        self.store.record_inbound(self.tenant.tenant_id, conv, StoredMessage(
            message_id=message_id, role=Role.LEAD, text=question, provider=Provider.META,
            provider_message_id=message_id, contact_name="Bia", sent_at=self.now,
            disposition=InboundDisposition.QUEUED))
        self.vertex.script = [function_call_response(("handoff_to_human", {"reason": "fora do catálogo",
                                                                           "question": question})),
                              text_response("Vou confirmar com a equipe.")]
        run_agent_turn(TurnRequest(self.tenant.tenant_id, conv, message_id, self.key, phone), self.deps)
        return phone

    def seller_writes(self, text: str, reply_to: str | None = None) -> dict:
        self.sender.last_inbound[self.seller] = self.now  # Meta opens the seller's window when they write
        message_id = inbound_message_id("meta", self.tenant.meta_phone_number_id, uuid.uuid4().hex)
        self.sellers.record_seller_message(self.tenant.tenant_id, message_id, {
            "message_id": message_id, "kind": "text", "text": text, "reply_to": reply_to, "sent_at": self.now})
        return handle_seller_message(TurnRequest(self.tenant.tenant_id, seller_key(self.tenant.tenant_id,
                                                                                   self.seller),
                                                 message_id, self.key, self.seller, purpose="seller"),
                                     self.deps).as_dict()

    def to_seller(self) -> list[str]:
        return [text for to, text in self.sender.delivered if to == self.seller]


@pytest.fixture
def vertex():
    fake = FakeVertex()
    yield fake
    fake.close()


@pytest.fixture
def desk(db, tenant, vertex) -> Desk:  # noqa: ANN001
    return Desk(db, tenant, vertex)


def test_alerts_outside_the_sellers_window_wait_behind_one_template_and_arrive_when_the_seller_writes(desk):
    desk.handoff("Vocês instalam em barco?")
    desk.now += timedelta(minutes=5)
    desk.handoff("Tem painel para trailer?")

    # No free-form text was attempted outside the window (Meta would fail it with 131047): one invitation only.
    assert desk.sender.undelivered_131047 == []
    assert desk.sender.templates == [(desk.seller, "piloto_chamar_vendedor", "pt_BR", ["Ana", "Bia"])]
    assert desk.to_seller() == []

    desk.now += timedelta(hours=3)
    outcome = desk.seller_writes("Oi, vi o convite")

    alerts = desk.to_seller()
    assert "barco" in alerts[0] and "trailer" in alerts[1] and alerts[2].startswith("Comandos:")
    assert outcome["result"] == "help"
    assert desk.sender.undelivered_131047 == []


def test_without_a_template_the_alert_is_kept_not_lost(desk):
    desk.agent(seller_template=None)
    desk.handoff("Vocês instalam em barco?")
    assert desk.sender.templates == [] and desk.sender.undelivered_131047 == [] and desk.to_seller() == []

    desk.seller_writes("bom dia")
    assert "barco" in desk.to_seller()[0]


def test_inside_the_window_the_alert_goes_at_once(desk):
    desk.seller_writes("bom dia")
    desk.handoff("Vocês instalam em barco?")
    assert any("barco" in text for text in desk.to_seller()) and desk.sender.templates == []


def test_small_talk_is_recorded_as_nothing_to_learn_and_the_real_answer_is_distilled(desk):
    desk.seller_writes("bom dia")
    lead = desk.handoff("Vocês instalam em barco?")
    assert any("barco" in text for text in desk.to_seller())

    desk.vertex.script = [text_response(json.dumps({"learn": False, "reason": "cumprimento, sem informação"}))]
    desk.seller_writes("Oi Bia, tudo bem?", reply_to=_provider_id_of(desk, "barco"))
    conv = conversation_id(desk.key, lead)
    nothing = [d.to_dict() for d in desk.tenant_ref.collection("learned_candidates").stream()
               if d.to_dict().get("conversation_id") == conv]
    assert [(c["status"], c["reason"]) for c in nothing] == [("nothing_to_learn", "cumprimento, sem informação")]
    assert desk.store.get_conversation(desk.tenant.tenant_id, conv).handoff_question == "Vocês instalam em barco?"

    desk.vertex.script = [text_response(json.dumps({
        "learn": True, "question": "A empresa instala energia solar em barcos?",
        "answer": "Não: a empresa instala apenas em casas e comércios.", "reason": "política de instalação"}))]
    desk.seller_writes("Bia, em barco a gente não instala, só casa e comércio.", reply_to=_provider_id_of(desk, "barco"))
    learned = [d.to_dict() for d in desk.tenant_ref.collection("learned_candidates").stream()
               if d.to_dict().get("conversation_id") == conv and d.to_dict()["status"] == "pending"]
    assert [(c["question"], c["answer"]) for c in learned] == [
        ("A empresa instala energia solar em barcos?", "Não: a empresa instala apenas em casas e comércios.")]
    assert learned[0]["original_answer"] == "Bia, em barco a gente não instala, só casa e comércio."
    assert desk.store.get_conversation(desk.tenant.tenant_id, conv).handoff_question is None
    assert any(text.startswith("📚 Aprendizado") for text in desk.to_seller())
    # Both of the seller's messages reached the lead as the business.
    assert [text for to, text in desk.sender.delivered if to == lead][-2:] == [
        "Oi Bia, tudo bem?", "Bia, em barco a gente não instala, só casa e comércio."]


def _provider_id_of(desk: Desk, word: str) -> str:
    """The wamid the fake returned for the alert mentioning `word` (what the seller's reply quotes)."""
    refs = [d.to_dict() for d in desk.tenant_ref.collection("seller_refs").stream()
            if d.to_dict().get("kind") == "alert"]
    for ref in refs:
        conversation = desk.store.get_conversation(desk.tenant.tenant_id, ref["conversation_id"])
        if conversation and word in (conversation.handoff_question or "") and ref["provider_message_ids"]:
            return ref["provider_message_ids"][-1]
    raise AssertionError(f"no alert about {word!r} was sent")


def test_a_copilot_draft_is_grounded_in_the_catalogue_and_written_in_the_sellers_style(desk):
    desk.agent(mode="copilot")
    desk.sellers.add_style_example(desk.tenant.tenant_id, "default", {
        "suggestion_id": "s0", "verdict": "edited", "sent_text": "Opa, tudo certo? Segue o valor certinho:",
        "at": NOW}, 5)
    desk.seller_writes("bom dia")
    phone = "+55119" + str(uuid.uuid4().int)[:8]
    conv = conversation_id(desk.key, phone)
    for i, text in enumerate(("Oi", "Quanto custa o kit residencial para minha casa?")):
        message_id = inbound_message_id("meta", desk.tenant.tenant_id, uuid.uuid4().hex)
        desk.store.record_inbound(desk.tenant.tenant_id, conv, StoredMessage(
            message_id=message_id, role=Role.LEAD, text=text, provider=Provider.META,
            provider_message_id=message_id, contact_name="Lia", sent_at=NOW + timedelta(seconds=i),
            disposition=InboundDisposition.QUEUED))
    desk.vertex.script = [text_response(json.dumps({
        "draft_reply": "Opa Lia! O kit residencial sai por R$ 15.900.", "summary": "Quer preço do kit", "tone": "leve",
        "interests": ["kit residencial"], "objections": [], "sentiment": "positive", "intent": "Negotiation",
        "best_time_to_recontact": "de madrugada"}))]

    run_agent_turn(TurnRequest(desk.tenant.tenant_id, conv, message_id, desk.key, phone), desk.deps)

    system = desk.vertex.requests[-1][1]["systemInstruction"]["parts"][0]["text"]
    assert "Kit Solar Residencial 4 kWp" in system and "R$ 15.900" in system  # the catalogue, not the model
    assert "Opa, tudo certo? Segue o valor certinho:" in system  # the sellers' own style
    [suggestion] = [s.to_dict() for s in desk.tenant_ref.collection("conversations").document(conv)
                    .collection("suggestions").stream()]
    assert suggestion["intent"] == "other"  # outside the closed set
    assert suggestion["best_time_to_recontact"] == "sem padrão ainda (2 mensagem(ns) do lead)"
    draft = next(text for text in desk.to_seller() if text.startswith("💡"))
    assert "Interesses: kit residencial" in draft and "Melhor horário: sem padrão ainda" in draft


def test_a_file_download_that_fails_for_now_gives_the_message_back_for_the_retry(desk):
    from shared.domain.errors import TransientError
    from shared.ports import DownloadedMedia

    class FlakyDownloads:
        calls = 0

        def download(self, channel, message, max_bytes):  # noqa: ANN001, ANN201
            FlakyDownloads.calls += 1
            if FlakyDownloads.calls == 1:
                raise TransientError("provider media endpoint unavailable")
            return DownloadedMedia(content=b"OggS voice", mime_type="audio/ogg")

    desk.deps.download_media = lambda provider: FlakyDownloads()
    desk.seller_writes("bom dia")
    lead = desk.handoff("Vocês instalam em barco?")
    quoted = _provider_id_of(desk, "barco")
    desk.sender.last_inbound[desk.seller] = desk.now
    message_id = inbound_message_id("meta", desk.tenant.meta_phone_number_id, uuid.uuid4().hex)
    desk.sellers.record_seller_message(desk.tenant.tenant_id, message_id, {
        "message_id": message_id, "kind": "audio", "text": None, "reply_to": quoted, "sent_at": desk.now,
        "provider_message_id": "wamid.VOICE", "media": {"media_id": "1234", "mime_type": "audio/ogg", "voice": True}})
    turn = TurnRequest(desk.tenant.tenant_id, seller_key(desk.tenant.tenant_id, desk.seller), message_id, desk.key,
                       desk.seller, purpose="seller")

    with pytest.raises(TransientError):
        handle_seller_message(turn, desk.deps)
    assert handle_seller_message(turn, desk.deps).result == "relayed"  # at once: no lease left to wait out
    assert handle_seller_message(turn, desk.deps).result == "already_handled"
    assert [text for to, text in desk.sender.delivered if to == lead][-1] == "[audio]"
