"""Cloned voices on the emulators (Firestore, Cloud Storage) and the contract fakes of Text-to-Speech and Secret
Manager: consent first, the key only in Secret Manager, one key per recording, revocation back to text."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import struct
import wave
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import soundfile
from google.cloud import storage

from dev.sample_media import M4A_VOICE_MEMO_START, opus_voice_note
from dev.seed import DemoTenant
from dev.stack import MEDIA_BUCKET, PROJECT
from shared.adapters.cloud_storage import CloudStorageMedia
from shared.adapters.google_tts import GoogleSpeechSynthesizer, GoogleVoiceCloning
from shared.adapters.recording_decoder import LibsndfileRecordings
from shared.adapters.secret_manager import SecretManagerError, SecretManagerRest
from shared.adapters.voice_consents import FirestoreVoiceConsents
from shared.domain.errors import InvalidConfiguration, InvalidPayload, SpeechUnavailable
from shared.domain.voice import VoiceSettings
from shared.domain.voice_clone import CONSENT_SCRIPTS, clone_secret_id
from shared.services.voice_clone import CloneRequest, VoiceCloneDeps, clone_voice, revoke_voice
from tests.secret_manager_fake import FakeSecretManager
from tests.tts_fake import FakeTextToSpeech

NOW = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)


def speech_wav(seconds: float, rate: int = 24_000, channels: int = 1, pitch: float = 180.0) -> bytes:
    """16-bit PCM WAV with a voiced, pitch-varying tone: a stand-in for a person reading (no real voice here)."""
    frames = bytearray()
    for i in range(int(seconds * rate)):
        t = i / rate
        sample = 0.3 * math.sin(2 * math.pi * (pitch + 20 * math.sin(3 * t)) * t)
        frames += struct.pack("<h", int(sample * 32767)) * channels
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(frames))
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sent_recordings(tts: FakeTextToSpeech) -> list[tuple[dict, bytes]]:
    """(audio_config, decoded content) of the reference and consent recordings Google received, in that order."""
    [request] = [r for r in tts.requests if "consent_script" in r]
    return [(request[field]["audio_config"], base64.b64decode(request[field]["content"]))
            for field in ("reference_audio", "voice_talent_consent")]


REFERENCE = speech_wav(8.0)
CONSENT = speech_wav(6.0, pitch=200.0)


@pytest.fixture
def google():
    tts, secrets = FakeTextToSpeech(), FakeSecretManager()
    yield tts, secrets
    tts.close()
    secrets.close()


def deps_for(db, tts: FakeTextToSpeech, secrets: FakeSecretManager, token: str = "voice-admin") -> VoiceCloneDeps:  # noqa: ANN001
    http = httpx.Client(timeout=10)
    media = CloudStorageMedia(storage.Client(project=PROJECT), MEDIA_BUCKET)
    return VoiceCloneDeps(cloner=GoogleVoiceCloning(http, tts.url, lambda: token),
                          secrets=SecretManagerRest(http, PROJECT, lambda: token, secrets.url),
                          records=FirestoreVoiceConsents(db, media), secret_location="southamerica-east1",
                          recordings=LibsndfileRecordings())


def request_for(tenant: DemoTenant, **changes: object) -> CloneRequest:
    fields = dict(tenant_id=tenant.tenant_id, agent_id="default", speaker_name="Marcos Lima (owner)",
                  uploaded_by="admin@solarprime.com.br", language_code="pt-BR", reference_audio=REFERENCE,
                  consent_audio=CONSENT, consent_given=True, consent_statement=CONSENT_SCRIPTS["pt-BR"])
    return CloneRequest(**{**fields, **changes})


def consent_docs(db, tenant_id: str) -> list[dict]:  # noqa: ANN001
    return [snap.to_dict() for snap in db.collection("tenants").document(tenant_id).collection("voice_consents")
            .stream()]


def test_a_consented_cloning_keeps_the_key_in_secret_manager_only_and_the_agent_speaks_in_it(
        db, tenant, google) -> None:  # noqa: ANN001
    tts, secrets = google
    record, created = clone_voice(request_for(tenant), deps_for(db, tts, secrets), NOW)

    assert created and record.status == "active"
    [key] = tts.cloning_keys
    [request] = [r for r in tts.requests if "consent_script" in r]
    assert request["consent_script"] == CONSENT_SCRIPTS["pt-BR"] and request["language_code"] == "pt-BR"
    assert request["reference_audio"]["audio_config"] == {"audio_encoding": "LINEAR16", "sample_rate_hertz": 24000}
    secret = secrets.secrets[clone_secret_id(tenant.tenant_id, "default")]
    assert secret["versions"][0]["data"] == key.encode()
    assert secret["replication"] == {"userManaged": {"replicas": [{"location": "southamerica-east1"}]}}
    [doc] = consent_docs(db, tenant.tenant_id)
    assert key not in json.dumps(doc)  # the key is never in Firestore
    assert doc["uploaded_by"] == "admin@solarprime.com.br" and doc["speaker_name"] == "Marcos Lima (owner)"
    assert doc["reference_sha256"] == sha256(REFERENCE) and doc["consent_sha256"] == sha256(CONSENT)
    assert doc["reference_format"] == "WAV/PCM_16"
    assert doc["secret_version"].endswith("/versions/1") and doc["status"] == "active"
    bucket = storage.Client(project=PROJECT).bucket(MEDIA_BUCKET)
    kept = [path.removeprefix(f"gs://{MEDIA_BUCKET}/") for path in doc["recordings"]]
    assert [bucket.blob(p).download_as_bytes() for p in kept] == [REFERENCE, CONSENT]
    assert all(p.startswith(f"tenants/{tenant.tenant_id}/voice_consents/") for p in kept)
    agent = db.document(f"tenants/{tenant.tenant_id}/agents/default").get().to_dict()
    assert agent["voice"]["clone"]["secret_version"] == doc["secret_version"]


def test_without_consent_nothing_is_sent_to_google_or_stored(db, tenant, google) -> None:  # noqa: ANN001
    tts, secrets = google
    for bad, field in ((request_for(tenant, consent_given=False), "consent"),
                       (request_for(tenant, consent_statement="Eu concordo."), "consent_statement"),
                       (request_for(tenant, language_code="xx-XX"), "language_code"),
                       (request_for(tenant, reference_audio=M4A_VOICE_MEMO_START), "reference_audio: an M4A/AAC"),
                       (request_for(tenant, consent_audio=opus_voice_note(2.0)), "consent_audio: 2.0 s long"),
                       (request_for(tenant, reference_audio=opus_voice_note(61.0)), "reference_audio: 61.0 s long"),
                       (request_for(tenant, consent_audio=speech_wav(1.0)), "consent_audio"),
                       (request_for(tenant, reference_audio=speech_wav(8.0, rate=8000)), "reference_audio"),
                       (request_for(tenant, reference_audio=b"OggS" + REFERENCE[4:]), "reference_audio")):
        with pytest.raises(InvalidPayload, match=field):
            clone_voice(bad, deps_for(db, tts, secrets), NOW)
    assert tts.requests == [] and secrets.requests == [] and consent_docs(db, tenant.tenant_id) == []


def test_the_same_recordings_again_return_the_same_consent_and_create_no_second_key(db, tenant, google) -> None:  # noqa: ANN001
    tts, secrets = google
    first, created = clone_voice(request_for(tenant), deps_for(db, tts, secrets), NOW)
    again, created_again = clone_voice(request_for(tenant), deps_for(db, tts, secrets), NOW + timedelta(minutes=1))
    assert created and not created_again and again.consent_id == first.consent_id
    assert len(tts.cloning_keys) == 1
    assert len(secrets.secrets[clone_secret_id(tenant.tenant_id, "default")]["versions"]) == 1
    assert len(consent_docs(db, tenant.tenant_id)) == 1


def test_a_project_off_the_allow_list_is_a_configuration_error_and_no_key_is_stored(db, tenant, google) -> None:  # noqa: ANN001
    tts, secrets = google
    tts.allow_listed = False
    with pytest.raises(InvalidConfiguration, match="allow-list"):
        clone_voice(request_for(tenant), deps_for(db, tts, secrets), NOW)
    assert secrets.secrets == {}
    [doc] = consent_docs(db, tenant.tenant_id)
    assert doc["status"] == "pending" and doc["secret_version"] is None


def test_the_agent_speaks_in_the_clone_until_it_is_revoked_then_replies_go_as_text(db, tenant, google) -> None:  # noqa: ANN001
    tts, secrets = google
    deps = deps_for(db, tts, secrets)
    record, _ = clone_voice(request_for(tenant), deps, NOW)
    # agent_turn may only read keys: its token has secretAccessor, nothing else.
    secrets.roles["agent-turn"] = {"versions.access"}
    turn_secrets = SecretManagerRest(httpx.Client(timeout=10), PROJECT, lambda: "agent-turn", secrets.url,
                                     cache_seconds=0)
    synthesizer = GoogleSpeechSynthesizer(httpx.Client(timeout=10), tts.url, 30.0, lambda: "agent-turn",
                                          clone_keys=turn_secrets.access, clone_price_per_million_chars=None)
    agent = db.document(f"tenants/{tenant.tenant_id}/agents/default").get().to_dict()
    settings = VoiceSettings.model_validate(agent["voice"])

    speech = synthesizer.synthesize("Oi, aqui é o Marcos da Solar Prime.", settings)
    voice = tts.requests[-1]["voice"]
    assert voice == {"languageCode": "pt-BR", "voiceClone": {"voiceCloningKey": next(iter(tts.cloning_keys))}}
    assert speech.voice == f"clone:{record.consent_id}" and speech.cost_usd is None  # no clone price: unknown

    with pytest.raises(SecretManagerError) as denied:
        turn_secrets.create_secret("voice-clone--other", "southamerica-east1", {})
    assert denied.value.status == 403

    [revoked] = revoke_voice(tenant.tenant_id, "default", "admin@solarprime.com.br", "owner left", deps,
                             NOW + timedelta(days=1))
    assert revoked.status == "revoked" and secrets.version_state(record.secret_version) == "DISABLED"
    with pytest.raises(SpeechUnavailable, match="revoked or unreadable"):
        synthesizer.synthesize("Oi de novo.", settings)  # an agent config read before the revocation
    agent = db.document(f"tenants/{tenant.tenant_id}/agents/default").get().to_dict()
    assert agent["voice"]["clone"] is None
    assert revoke_voice(tenant.tenant_id, "default", "admin@solarprime.com.br", None, deps, NOW) == []
    with pytest.raises(InvalidPayload, match="revoked"):
        clone_voice(request_for(tenant), deps, NOW + timedelta(days=2))


def test_an_unknown_cloning_key_is_refused_at_synthesis(google) -> None:  # noqa: ANN001
    tts, _ = google
    settings = VoiceSettings.model_validate({"clone": {
        "speaker_name": "Ninguém", "consent_id": "c1", "secret_version": "projects/p/secrets/s/versions/1"}})
    synthesizer = GoogleSpeechSynthesizer(httpx.Client(timeout=10), tts.url, 30.0, lambda: "t",
                                          clone_keys=lambda version: b"a-key-google-never-issued")
    with pytest.raises(SpeechUnavailable, match="voice_cloning_key is invalid"):
        synthesizer.synthesize("Olá.", settings)


def test_the_cloning_fake_refuses_what_the_api_refuses(google) -> None:  # noqa: ANN001
    tts, _ = google
    audio = {"audio_config": {"audio_encoding": "LINEAR16", "sample_rate_hertz": 24000},
             "content": base64.b64encode(REFERENCE).decode()}
    good = {"reference_audio": audio, "voice_talent_consent": audio, "consent_script": CONSENT_SCRIPTS["pt-BR"],
            "language_code": "pt-BR"}
    url = f"{tts.url}/v1beta1/voices:generateVoiceCloningKey"
    auth = {"Authorization": "Bearer t"}
    assert httpx.post(url, json=good).status_code == 401
    for change in ({"voice_talent_consent": None}, {"consent_script": CONSENT_SCRIPTS["en-US"]},
                   {"reference_audio": {**audio, "audio_config": {"audio_encoding": "OGG_OPUS"}}},
                   {"reference_audio": {**audio, "audio_config": {"audio_encoding": "LINEAR16",
                                                                  "sample_rate_hertz": 16000}}}):
        assert httpx.post(url, json={**good, **change}, headers=auth).status_code == 400, change
    assert httpx.post(url, json=good, headers=auth).json()["voiceCloningKey"] in tts.cloning_keys


def test_a_new_consent_for_the_agent_replaces_the_previous_clone_and_disables_its_key(db, tenant, google) -> None:  # noqa: ANN001
    tts, secrets = google
    deps = deps_for(db, tts, secrets)
    first, _ = clone_voice(request_for(tenant), deps, NOW)
    second, created = clone_voice(request_for(tenant, speaker_name="Ana Souza (seller)",
                                              reference_audio=speech_wav(9.0, pitch=220.0)), deps, NOW)
    assert created and second.secret_version.endswith("/versions/2")  # same secret (409 on create), new version
    assert secrets.version_state(first.secret_version) == "DISABLED"
    docs = {d["consent_id"]: d for d in consent_docs(db, tenant.tenant_id)}
    assert docs[first.consent_id]["status"] == "revoked"
    assert docs[first.consent_id]["revoke_reason"] == f"replaced by consent {second.consent_id}"
    agent = db.document(f"tenants/{tenant.tenant_id}/agents/default").get().to_dict()
    assert agent["voice"]["clone"]["consent_id"] == second.consent_id


def test_secret_manager_refusals_reach_the_adapter_as_documented(google) -> None:  # noqa: ANN001
    _, secrets = google
    store = SecretManagerRest(httpx.Client(timeout=10), PROJECT, lambda: "owner", secrets.url, cache_seconds=0)
    with pytest.raises(SecretManagerError) as missing:
        store.add_version("voice-clone--nobody", b"k")
    assert missing.value.status == 404
    with pytest.raises(SecretManagerError) as bad_id:
        store.create_secret("not a valid id!", "southamerica-east1", {})
    assert bad_id.value.status == 400
    assert store.create_secret("voice-clone--t--a", "southamerica-east1", {}) is True
    assert store.create_secret("voice-clone--t--a", "southamerica-east1", {}) is False  # 409: it exists
    version = store.add_version("voice-clone--t--a", b"key-1")
    assert store.access(version) == b"key-1"
    store.disable(version)
    with pytest.raises(SecretManagerError) as disabled:
        store.access(version)
    assert disabled.value.status == 400 and "FAILED_PRECONDITION" in str(disabled.value)
    assert httpx.get(f"{secrets.url}/v1/{version}:access").status_code == 401


def test_whatsapp_voice_notes_clone_and_google_receives_linear16_wav_made_from_them(db, tenant, google) -> None:  # noqa: ANN001
    tts, secrets = google
    reference, consent = opus_voice_note(9.0), opus_voice_note(6.5, pitch=210.0)
    record, created = clone_voice(request_for(tenant, reference_audio=reference, consent_audio=consent),
                                  deps_for(db, tts, secrets), NOW)

    assert created and record.status == "active"
    for (config, content), seconds in zip(sent_recordings(tts), (9.0, 6.5), strict=True):
        assert config == {"audio_encoding": "LINEAR16", "sample_rate_hertz": 24_000}
        info = soundfile.info(io.BytesIO(content))
        assert content[:4] == b"RIFF" and (info.format, info.subtype, info.channels) == ("WAV", "PCM_16", 1)
        assert info.samplerate == 24_000 and abs(info.duration - seconds) < 0.01
    [(_, sent_reference), (_, sent_consent)] = sent_recordings(tts)
    [doc] = consent_docs(db, tenant.tenant_id)
    # What the speaker provided, and what was sent, both on the record.
    assert (doc["reference_sha256"], doc["consent_sha256"]) == (sha256(reference), sha256(consent))
    assert (doc["reference_sent_sha256"], doc["consent_sent_sha256"]) == (sha256(sent_reference), sha256(sent_consent))
    assert doc["reference_format"] == doc["consent_format"] == "OGG/OPUS"
    assert (doc["reference_seconds"], doc["consent_seconds"]) == (9.0, 6.5)
    bucket = storage.Client(project=PROJECT).bucket(MEDIA_BUCKET)
    kept = [bucket.blob(path.removeprefix(f"gs://{MEDIA_BUCKET}/")) for path in doc["recordings"]]
    assert [blob.name.rsplit("/", 1)[1] for blob in kept] == ["reference.ogg", "consent.ogg"]
    assert [blob.download_as_bytes() for blob in kept] == [reference, consent]  # the proof is the upload itself
    kept[0].reload()
    assert kept[0].content_type == "audio/ogg"

    again, created_again = clone_voice(request_for(tenant, reference_audio=reference, consent_audio=consent),
                                       deps_for(db, tts, secrets), NOW + timedelta(minutes=1))
    assert not created_again and again.consent_id == record.consent_id and len(tts.cloning_keys) == 1
    assert len(secrets.secrets[clone_secret_id(tenant.tenant_id, "default")]["versions"]) == 1


def test_a_stereo_recording_is_downmixed_to_one_channel_before_google_hears_it(
        db, tenant, google) -> None:  # noqa: ANN001
    tts, secrets = google
    stereo = speech_wav(8.0, rate=44_100, channels=2)
    record, created = clone_voice(request_for(tenant, reference_audio=stereo), deps_for(db, tts, secrets), NOW)
    assert created and record.reference_sha256 == sha256(stereo)
    (config, content), _ = sent_recordings(tts)
    info = soundfile.info(io.BytesIO(content))
    assert (info.channels, info.samplerate, config["sample_rate_hertz"]) == (1, 24_000, 24_000)


def test_an_operator_statement_clones_a_language_the_built_in_table_lacks_and_the_check_stays_exact(
        db, tenant, google) -> None:  # noqa: ANN001
    """Google's table lists de-DE; Piloto's built-in copy does not. VOICE_CONSENT_STATEMENTS closes the gap without
    a release — and the statement read must still be the operator's, word for word."""
    from tests.tts_fake import CONSENT_STATEMENTS as GOOGLES_TABLE

    tts, secrets = google
    german = GOOGLES_TABLE["de-DE"]
    with pytest.raises(InvalidPayload, match="no consent statement for 'de-DE'"):
        clone_voice(request_for(tenant, language_code="de-DE", consent_statement=german),
                    deps_for(db, tts, secrets), NOW)
    assert tts.requests == []

    deps = deps_for(db, tts, secrets)
    deps.consent_statements = {"de-DE": german}
    with pytest.raises(InvalidPayload, match="consent_statement"):
        clone_voice(request_for(tenant, language_code="de-DE", consent_statement=CONSENT_SCRIPTS["en-US"]), deps, NOW)
    assert tts.requests == []
    record, created = clone_voice(request_for(tenant, language_code="de-DE", consent_statement=german), deps, NOW)

    assert created and record.consent_script == german
    [request] = [r for r in tts.requests if "consent_script" in r]
    assert request["consent_script"] == german and request["language_code"] == "de-DE"
