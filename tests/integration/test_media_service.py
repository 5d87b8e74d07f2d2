"""process_media on the real Firestore, Storage and Cloud Tasks emulators, downloading from the provider sandbox
through the real provider adapters. Only Gemini is fake, at the HTTP layer (Vertex AI's generateContent shape)."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from google.cloud import storage
from google.oauth2.credentials import Credentials

from dev.provider_sandbox import HostedMedia
from dev.sample_media import docx_file, png_image, scanned_pdf, text_pdf, wav_voice_note
from dev.seed import DemoTenant
from dev.stack import MEDIA_BUCKET, PROJECT, REGION, wait_until
from shared.adapters.cloud_storage import CloudStorageMedia
from shared.adapters.cloud_tasks import CloudTasksScheduler, CloudTasksTurnQueue, tasks_client
from shared.adapters.document_text import LocalDocumentText
from shared.adapters.firestore_channels import FirestoreChannelDirectory
from shared.adapters.firestore_conversations import FirestoreConversationStore
from shared.adapters.firestore_media import FirestoreMediaStore
from shared.adapters.firestore_usage import FirestoreUsageLedger
from shared.adapters.gemini import GeminiMediaReader, vertex_client
from shared.config import Settings
from shared.domain.conversation import InboundDisposition, Role, StoredMessage
from shared.domain.errors import MediaInProgress, ModelUnavailable, TransientError
from shared.domain.ids import conversation_id, inbound_message_id
from shared.domain.inbound import MediaRef, MessageKind, Provider
from shared.domain.media import MediaStatus
from shared.domain.tenancy import channel_key
from shared.domain.usage import ModelPrice
from shared.ports import MediaRequest
from shared.providers.evolution import EvolutionMedia
from shared.providers.meta_cloud import MetaCloudMedia
from shared.providers.zapi import ZApiMedia
from shared.services.media import MediaDeps, process_media
from tests.unit.test_gemini_adapter import QUOTA_ERROR
from tests.vertex_fake import FakeVertex

pytestmark = pytest.mark.emulators


def answer(text: str, prompt_tokens: int = 300, output_tokens: int = 20) -> dict:
    """A GenerateContentResponse as the Vertex AI REST reference documents it."""
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": prompt_tokens, "candidatesTokenCount": output_tokens,
                              "totalTokenCount": prompt_tokens + output_tokens},
            "modelVersion": "gemini-3.5-flash-lite"}


@pytest.fixture
def vertex():
    fake = FakeVertex()
    yield fake
    fake.server.shutdown()


@pytest.fixture
def turn_receiver():
    """Where the woken agent turns land (the Cloud Tasks emulator dispatches them here)."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", received
    server.shutdown()


@pytest.fixture
def world(stack, db, tenant: DemoTenant, vertex, turn_receiver):  # noqa: ANN001, ANN201
    assert stack.sandbox is not None
    sandbox = stack.sandbox
    http = httpx.Client(timeout=5)
    url, woken = turn_receiver
    settings = Settings(media_max_audio_bytes=200_000, media_max_document_bytes=200_000)
    gemini = GeminiMediaReader(vertex_client(PROJECT, "us-central1", 5, vertex.url,
                                             credentials=Credentials(token="t"), attempts=1),
                               "gemini-3.5-flash-lite", ModelPrice(input_per_mtok=1.0, output_per_mtok=2.5))
    downloaders = {Provider.META: MetaCloudMedia(http, base_url=f"{sandbox.url}/meta"),
                   Provider.EVOLUTION: EvolutionMedia(http), Provider.ZAPI: ZApiMedia(http)}
    scheduler = CloudTasksScheduler(tasks_client(stack.client_env()["TASKS_EMULATOR_HOST"]), PROJECT, REGION, None)
    deps = MediaDeps(
        directory=FirestoreChannelDirectory(db, cache_seconds=0), store=FirestoreMediaStore(db),
        conversations=FirestoreConversationStore(db), downloader_for=downloaders.__getitem__,
        storage=CloudStorageMedia(storage.Client(project=PROJECT), MEDIA_BUCKET), model=gemini,
        ledger=FirestoreUsageLedger(db), wakeups=CloudTasksTurnQueue(scheduler, "agent-turns", url),
        documents=LocalDocumentText(), limits=settings.media_limits(), debounce_seconds=0.0, max_attempts=3,
    )
    phone = "+55119" + str(uuid.uuid4().int)[:8]
    store = FirestoreConversationStore(db)

    def lead_file(provider: Provider, kind: MessageKind, media: MediaRef, key: str | None = None) -> MediaRequest:
        channel = {Provider.META: tenant.meta_phone_number_id, Provider.EVOLUTION: tenant.evolution_instance,
                   Provider.ZAPI: tenant.zapi_instance}[provider]
        key = key or uuid.uuid4().hex[:20].upper()
        conv = conversation_id(channel_key(provider, channel), phone)
        message_id = inbound_message_id(provider.value, channel, key)
        store.record_inbound(tenant.tenant_id, conv, StoredMessage(
            message_id=message_id, role=Role.LEAD, kind=kind, provider=provider, provider_message_id=key,
            media=media, sent_at=datetime.now(UTC), disposition=InboundDisposition.QUEUED,
            media_status=MediaStatus.PENDING))
        return MediaRequest(tenant.tenant_id, conv, message_id, channel_key(provider, channel), phone)

    def message(request: MediaRequest) -> dict:
        ref = (db.collection("tenants").document(request.tenant_id).collection("conversations")
               .document(request.conversation_id).collection("messages").document(request.message_id))
        return ref.get().to_dict()

    def calls() -> list[dict]:
        return [d.to_dict() for d in db.collection("tenants").document(tenant.tenant_id)
                .collection("model_calls").stream()]

    yield deps, sandbox, vertex, lead_file, message, calls, woken
    http.close()


def stored_object(path: str) -> storage.Blob:
    return storage.Client(project=PROJECT).bucket(MEDIA_BUCKET).get_blob(path)


def test_a_meta_voice_note_is_kept_in_storage_transcribed_accounted_and_its_turn_woken(world):
    deps, sandbox, vertex, lead_file, message, calls, woken = world
    voice = wav_voice_note(1.0)
    sandbox.host_meta_media("710001", HostedMedia(voice, "audio/ogg"))
    vertex.script.append((200, answer("Oi! Minha conta vem uns 450 reais, dá pra instalar?")))
    request = lead_file(Provider.META, MessageKind.AUDIO,
                        MediaRef(media_id="710001", mime_type="audio/ogg; codecs=opus", voice=True))

    outcome = process_media(request, deps)

    assert outcome.status == "done"
    stored = message(request)
    assert stored["media_status"] == "done"
    assert stored["media_text"] == "Oi! Minha conta vem uns 450 reais, dá pra instalar?"
    file = stored["media_file"]
    assert file["sha256"] == hashlib.sha256(voice).hexdigest() and file["size_bytes"] == len(voice)
    assert file["content_type"] == "audio/ogg" and file["bucket"] == MEDIA_BUCKET
    conv = f"tenants/{request.tenant_id}/conversations/{request.conversation_id}"
    assert file["path"] == f"{conv}/media/{request.message_id}.ogg"
    blob = stored_object(file["path"])
    assert blob.download_as_bytes() == voice and blob.metadata["sha256"] == file["sha256"]
    [call] = calls()
    assert (call["purpose"], call["model"]) == ("transcription", "gemini-3.5-flash-lite")
    assert call["usage"]["prompt_tokens"] == 300
    thoughts = call["usage"]["thoughts_tokens"]  # thinking bills as output
    assert call["cost_usd"] == pytest.approx((300 * 1.0 + (20 + thoughts) * 2.5) / 1e6)
    assert stored["media_model_call"]["purpose"] == "transcription"
    wait_until(lambda: any(w["message_id"] == request.message_id for w in woken), 20, "the woken turn")


def test_an_evolution_pdf_is_read_locally_without_a_model_call(world):
    deps, sandbox, vertex, lead_file, message, calls, _ = world
    key = "3EB0PDF" + uuid.uuid4().hex[:8].upper()
    sandbox.host_evolution_media(key, HostedMedia(text_pdf(["Conta de energia", "Consumo: 520 kWh"]),
                                                  "application/pdf", "conta.pdf"))
    request = lead_file(Provider.EVOLUTION, MessageKind.DOCUMENT,
                        MediaRef(url="https://mmg.whatsapp.net/x.enc", encrypted=True, mime_type="application/pdf",
                                 filename="conta.pdf", provider_message={
                                     # what the Evolution parser keeps of the webhook (dev/payloads.py shape)
                                     "key": {"remoteJid": "5511987654321@s.whatsapp.net", "fromMe": False, "id": key},
                                     "message": {"documentMessage": {"url": "https://mmg.whatsapp.net/x.enc",
                                                                     "mediaKey": "c2FuZGJveA==",
                                                                     "directPath": "/v/x.enc",
                                                                     "mimetype": "application/pdf"}}}), key=key)

    assert process_media(request, deps).status == "done"

    assert message(request)["media_text"] == "Conta de energia\nConsumo: 520 kWh"
    assert message(request)["media_file"]["filename"] == "conta.pdf"
    assert calls() == [] and vertex.requests == []


def test_a_zapi_docx_and_a_scanned_pdf_and_an_image(world):
    deps, sandbox, vertex, lead_file, message, calls, _ = world
    docx_url = sandbox.host_file(f"{uuid.uuid4().hex}.docx", HostedMedia(
        docx_file(["Orçamento do concorrente", "Validade: 10 dias"], [["kit", "R$ 18.900"]]),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"))
    scan_url = sandbox.host_file(f"{uuid.uuid4().hex}.pdf", HostedMedia(scanned_pdf(), "application/pdf"))
    image_url = sandbox.host_file(f"{uuid.uuid4().hex}.png", HostedMedia(png_image(), "image/png"))
    vertex.script += [(200, answer("CONTA DE LUZ — Total R$ 468,90")),
                         (200, answer("Foto de um telhado cerâmico. Sem texto visível."))]

    docx = lead_file(Provider.ZAPI, MessageKind.DOCUMENT, MediaRef(url=docx_url, filename="orcamento.docx"))
    scan = lead_file(Provider.ZAPI, MessageKind.DOCUMENT, MediaRef(url=scan_url, mime_type="application/pdf"))
    image = lead_file(Provider.ZAPI, MessageKind.IMAGE, MediaRef(url=image_url, mime_type="image/png"))
    for request in (docx, scan, image):
        assert process_media(request, deps).status == "done"

    assert message(docx)["media_text"] == "Orçamento do concorrente\nValidade: 10 dias\nkit | R$ 18.900"
    assert message(docx)["media_file"]["content_type"].endswith("wordprocessingml.document"), "from the file name"
    assert message(scan)["media_text"] == "CONTA DE LUZ — Total R$ 468,90"
    assert message(image)["media_text"].startswith("Foto de um telhado")
    assert sorted(c["purpose"] for c in calls()) == ["image", "ocr"]


def test_oversized_files_are_marked_with_the_reason_and_never_downloaded_or_stored(world):
    deps, sandbox, vertex, lead_file, message, calls, _ = world
    key = "3EB0BIG" + uuid.uuid4().hex[:8].upper()
    sandbox.host_evolution_media(key, HostedMedia(b"would be 48 MB", "audio/ogg"))
    declared = lead_file(Provider.EVOLUTION, MessageKind.AUDIO,
                         MediaRef(url="https://mmg.whatsapp.net/y.enc", encrypted=True, mime_type="audio/ogg",
                                  file_size=48_000_000), key=key)
    sandbox.host_meta_media("710002", HostedMedia(wav_voice_note(30.0), "audio/wav"))  # ~480 kB > 200 kB limit
    measured = lead_file(Provider.META, MessageKind.AUDIO, MediaRef(media_id="710002", mime_type="audio/wav"))

    for request, size in ((declared, "48.0 MB"), (measured, "480 kB")):
        outcome = process_media(request, deps)
        stored = message(request)
        assert outcome.status == "too_large" and stored["media_status"] == "too_large"
        assert stored["media_reason"] == f"audio of {size} is over the 200 kB limit"
        assert "media_file" not in stored
    assert sandbox.media_requests_for(key) == [], "the webhook's fileLength was enough to refuse it"
    assert sandbox.media_requests_for("710002") == ["meta-lookup:710002"]
    assert calls() == []


def test_an_unsupported_video_is_kept_in_storage_and_marked_not_read(world):
    deps, sandbox, vertex, lead_file, message, calls, _ = world
    url = sandbox.host_file(f"{uuid.uuid4().hex}.mp4", HostedMedia(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64,
                                                                  "video/mp4"))
    request = lead_file(Provider.ZAPI, MessageKind.VIDEO, MediaRef(url=url, mime_type="video/mp4"))

    assert process_media(request, deps).status == "unsupported"

    stored = message(request)
    assert stored["media_reason"] == "video/mp4 files are not read by Piloto"
    assert stored_object(stored["media_file"]["path"]).size == stored["media_file"]["size_bytes"] == 76
    assert calls() == []


def test_a_retried_task_neither_downloads_nor_transcribes_a_finished_message_again(world):
    deps, sandbox, vertex, lead_file, message, calls, _ = world
    sandbox.host_meta_media("710003", HostedMedia(wav_voice_note(0.5), "audio/ogg"))
    vertex.script.append((200, answer("Pode me ligar amanhã?")))
    request = lead_file(Provider.META, MessageKind.AUDIO, MediaRef(media_id="710003", mime_type="audio/ogg"))

    first, again = process_media(request, deps), process_media(request, deps, attempt=1)

    assert (first.status, again.status, again.already_final) == ("done", "done", True)
    assert sandbox.media_requests_for("710003") == ["meta-lookup:710003", "meta-download:710003"]
    assert len(vertex.requests) == 1 and len(calls()) == 1


def test_a_model_outage_is_retried_from_the_stored_copy_without_downloading_again(world):
    deps, sandbox, vertex, lead_file, message, calls, _ = world
    sandbox.host_meta_media("710004", HostedMedia(wav_voice_note(0.5), "audio/ogg"))
    vertex.script += [(429, QUOTA_ERROR), (200, answer("Vocês parcelam?"))]
    request = lead_file(Provider.META, MessageKind.AUDIO, MediaRef(media_id="710004", mime_type="audio/ogg"))

    with pytest.raises(ModelUnavailable):
        process_media(request, deps)
    assert message(request)["media_status"] == "pending" and "media_lease_until" not in message(request)
    assert process_media(request, deps, attempt=1).status == "done"

    assert message(request)["media_text"] == "Vocês parcelam?"
    assert sandbox.media_requests_for("710004") == ["meta-lookup:710004", "meta-download:710004"]
    mine = [c for c in calls() if c["conversation_id"] == request.conversation_id]
    assert sorted(c["outcome"] for c in mine) == ["ok", "rate_limited"], "the failed attempt is metered too"


def test_the_last_attempt_records_a_failure_instead_of_leaving_the_turn_waiting(world):
    deps, sandbox, vertex, lead_file, message, calls, woken = world
    sandbox.host_meta_media("710005", HostedMedia(wav_voice_note(0.5), "audio/ogg"))
    vertex.script += [(429, QUOTA_ERROR)]
    request = lead_file(Provider.META, MessageKind.AUDIO, MediaRef(media_id="710005", mime_type="audio/ogg"))

    outcome = process_media(request, deps, attempt=deps.max_attempts - 1)

    assert outcome.status == "failed" and outcome.reason.startswith("gave up after 3 attempts")
    assert message(request)["media_status"] == "failed"
    wait_until(lambda: any(w["message_id"] == request.message_id for w in woken), 20, "the woken turn")


def test_expired_media_fails_for_good_and_a_message_not_stored_yet_is_retried(world):
    deps, sandbox, vertex, lead_file, message, calls, _ = world
    expired = lead_file(Provider.META, MessageKind.IMAGE, MediaRef(media_id="7100099", mime_type="image/jpeg"))

    assert process_media(expired, deps).status == "failed"
    assert "does not exist" in message(expired)["media_reason"]

    early = MediaRequest(expired.tenant_id, expired.conversation_id, "not-stored-yet", expired.channel_key,
                         expired.contact_phone)
    with pytest.raises(TransientError):
        process_media(early, deps)


def test_two_deliveries_at_once_do_not_both_read_the_file(world, db):  # noqa: ANN001
    deps, sandbox, vertex, lead_file, message, calls, _ = world
    request = lead_file(Provider.META, MessageKind.AUDIO, MediaRef(media_id="710006", mime_type="audio/ogg"))
    now = datetime.now(UTC)
    store = FirestoreMediaStore(db)

    assert store.claim_media(request.tenant_id, request.conversation_id, request.message_id, now, 60) is not None
    with pytest.raises(MediaInProgress):
        store.claim_media(request.tenant_id, request.conversation_id, request.message_id,
                          now + timedelta(seconds=5), 60)
    assert store.claim_media(request.tenant_id, request.conversation_id, request.message_id,
                             now + timedelta(seconds=61), 60) is not None, "a crashed holder loses the lease"
