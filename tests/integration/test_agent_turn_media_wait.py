"""The agent turn and the lead's files, on the real Firestore emulator: it waits while a file of its burst is
being read, answers with the file's text once it is read, and past the bound answers honestly without it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dev.seed import DemoTenant
from shared.adapters.firestore_channels import FirestoreChannelDirectory
from shared.adapters.firestore_conversations import FirestoreConversationStore
from shared.adapters.firestore_leads import FirestoreLeadStore
from shared.adapters.firestore_media import FirestoreMediaStore
from shared.adapters.firestore_usage import FirestoreUsageLedger
from shared.domain.conversation import InboundDisposition, Role, StoredMessage
from shared.domain.errors import WaitingForMedia
from shared.domain.ids import conversation_id, inbound_message_id
from shared.domain.inbound import MediaRef, MessageKind, Provider
from shared.domain.media import MediaStatus
from shared.domain.tenancy import channel_key
from shared.ports import TurnRequest
from shared.services.agent_turn import TurnDeps, TurnResult, run_agent_turn
from tests.fakes import RecordingSender, ScriptedModel

pytestmark = pytest.mark.emulators


@pytest.fixture
def world(db, tenant: DemoTenant):  # noqa: ANN001, ANN201
    model, sender = ScriptedModel(), RecordingSender()
    store = FirestoreConversationStore(db)
    clock = {"now": datetime.now(UTC)}
    deps = TurnDeps(directory=FirestoreChannelDirectory(db, cache_seconds=0), store=store, model=model,
                    sender_for=lambda provider: sender, ledger=FirestoreUsageLedger(db), leads=FirestoreLeadStore(db),
                    tiers=dict.fromkeys(("lite", "standard", "advanced"), "gemini-test"), lease_seconds=60,
                    clock=lambda: clock["now"], media_wait_seconds=60)
    key = channel_key("meta", tenant.meta_phone_number_id)
    phone = "+55119" + str(uuid.uuid4().int)[:8]
    conv = conversation_id(key, phone)

    def lead(kind: MessageKind = MessageKind.TEXT, text: str | None = None, **media) -> TurnRequest:  # noqa: ANN003
        message_id = inbound_message_id("meta", tenant.meta_phone_number_id, uuid.uuid4().hex)
        store.record_inbound(tenant.tenant_id, conv, StoredMessage(
            message_id=message_id, role=Role.LEAD, kind=kind, text=text, provider=Provider.META,
            provider_message_id=message_id, sent_at=datetime.now(UTC), disposition=InboundDisposition.QUEUED,
            media=MediaRef(media_id="1", mime_type="audio/ogg", voice=True) if kind.has_media else None,
            media_status=MediaStatus.PENDING if kind.has_media else None))
        return TurnRequest(tenant.tenant_id, conv, message_id, key, phone)

    def finish(turn: TurnRequest, status: MediaStatus, text: str | None = None, reason: str | None = None) -> None:
        FirestoreMediaStore(db).finish_media(turn.tenant_id, turn.conversation_id, turn.message_id, status, text,
                                             reason, None)

    return deps, model, sender, lead, finish, clock


def test_a_turn_waits_while_its_voice_note_is_being_transcribed_and_then_answers_with_it(world):
    deps, model, sender, lead, finish, clock = world
    voice = lead(MessageKind.AUDIO)
    turn = lead(text="e aí?")

    with pytest.raises(WaitingForMedia):
        run_agent_turn(turn, deps)
    assert sender.sent == [] and model.prompts == [], "no reply and no model call while the file is read"

    finish(voice, MediaStatus.DONE, text="Quero um orçamento para minha casa em Campinas")
    assert run_agent_turn(turn, deps).result == TurnResult.REPLIED

    assert model.prompts[0].turns[-1].text == ("[the lead sent a voice note; its transcript:] Quero um orçamento "
                                               "para minha casa em Campinas\ne aí?")
    assert len(sender.sent) == 1


def test_past_the_bound_the_turn_answers_and_the_prompt_says_the_file_could_not_be_read_in_time(world):
    deps, model, sender, lead, finish, clock = world
    turn = lead(MessageKind.AUDIO)
    clock["now"] += timedelta(seconds=61)

    assert run_agent_turn(turn, deps).result == TurnResult.REPLIED

    prompt = model.prompts[0].turns[-1].text
    assert "could not be processed in time" in prompt and "Tell the lead honestly" in prompt


def test_a_file_that_failed_for_good_is_answered_at_once_with_an_honest_reason(world):
    deps, model, sender, lead, finish, clock = world
    turn = lead(MessageKind.AUDIO)
    finish(turn, MediaStatus.FAILED, reason="meta refused the media download with HTTP 404")

    assert run_agent_turn(turn, deps).result == TurnResult.REPLIED

    assert "could not be opened (meta refused the media download with HTTP 404)" in model.prompts[0].turns[-1].text
