"""Voice notes reach every provider the way each documents, and a reply falls back to text — never to silence."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from dev.provider_sandbox import HostedMedia, ProviderSandbox
from shared.adapters.offline_speech import OfflineSpeechSynthesizer
from shared.domain.errors import ProviderRejected, SpeechUnavailable
from shared.domain.inbound import Provider
from shared.domain.tenancy import AgentConfig, Channel, ChannelCredentials
from shared.domain.voice import Speech, VoiceNote, VoiceSettings
from shared.providers.evolution import EvolutionProvider
from shared.providers.meta_cloud import MetaCloudProvider
from shared.providers.twilio import TwilioProvider
from shared.providers.zapi import ZApiProvider
from shared.services.voice_reply import ReplyTarget, VoiceDeps, send_reply

LEAD = "+5511987654321"


@pytest.fixture
def sandbox() -> Iterator[ProviderSandbox]:
    running = ProviderSandbox().start()
    yield running
    running.stop()


def channels(sandbox: ProviderSandbox) -> dict[str, tuple[Channel, object]]:
    http = httpx.Client(timeout=10)
    return {
        "meta": (Channel(tenant_id="t", provider=Provider.META, channel_id="106540352242922",
                         credentials=ChannelCredentials(access_token="meta-token")),
                 MetaCloudProvider(http, base_url=f"{sandbox.url}/meta")),
        "evolution": (Channel(tenant_id="t", provider=Provider.EVOLUTION, channel_id="solar",
                              credentials=ChannelCredentials(api_key="evo-key", server_url=f"{sandbox.url}/evolution")),
                      EvolutionProvider(http)),
        "zapi": (Channel(tenant_id="t", provider=Provider.ZAPI, channel_id="3C67AB2F0E4A1B2C",
                         credentials=ChannelCredentials(instance_token="zapi-token", client_token="client")),
                 ZApiProvider(http, base_url=f"{sandbox.url}/zapi")),
    }


@pytest.mark.parametrize("provider", ["meta", "evolution", "zapi"])
def test_a_voice_note_reaches_each_provider_as_a_voice_note(sandbox, provider) -> None:  # noqa: ANN001
    channel, sender = channels(sandbox)[provider]
    speech = OfflineSpeechSynthesizer().synthesize("Oi Mariana, tudo bem? A visita é gratuita.", VoiceSettings())
    message_id = sender.send_audio(channel, LEAD, speech.audio, speech.mime_type)  # type: ignore[attr-defined]
    sent = sandbox.sends_to("5511987654321")[-1]
    assert sent["provider"] == provider and sent["id"] == message_id and sent["authorized"]
    assert sent["audio"]["ogg_opus"] and sent["audio"]["voice"] is True
    assert sent["audio"]["duration_s"] == pytest.approx(speech.duration_seconds, abs=0.05)


def test_meta_refuses_an_audio_message_for_a_media_id_it_never_received(sandbox) -> None:  # noqa: ANN001
    channel, sender = channels(sandbox)["meta"]
    with pytest.raises(ProviderRejected, match="400"):
        sender.send_audio(channel, LEAD, b"not ogg at all", "audio/ogg")  # type: ignore[attr-defined]


class _Records:
    def __init__(self) -> None:
        self.notes: list[VoiceNote] = []
        self.saved: list[str] = []

    def save_audio(self, tenant_id: str, conversation_id: str, reply_id: str, audio: bytes) -> str:
        self.saved.append(reply_id)
        return f"gs://media/{reply_id}.ogg"

    def record_voice(self, tenant_id: str, conversation_id: str, reply_id: str, note: VoiceNote) -> None:
        self.notes.append(note)


class _Ledger:
    def __init__(self) -> None:
        self.calls: list = []

    def record_model_call(self, tenant_id, agent_id, conversation_id, call) -> None:  # noqa: ANN001
        self.calls.append(call)


class _FailingSynth:
    def synthesize(self, text: str, settings: VoiceSettings) -> Speech:
        raise SpeechUnavailable("Text-to-Speech answered 503: UNAVAILABLE")


def deliver(sandbox, provider, text, *, replies="mirror", voice_sent=True, synth=None, also_text=False):  # noqa: ANN001, ANN201
    channel, sender = channels(sandbox)[provider]
    records, ledger = _Records(), _Ledger()
    agent = AgentConfig(voice=VoiceSettings(replies=replies, also_text=also_text))
    target = ReplyTarget(tenant_id="t", conversation_id="c", reply_id="r1", agent_id="default", to_phone=LEAD,
                         lead_sent_voice=voice_sent)
    deps = VoiceDeps(synthesizer=synth or OfflineSpeechSynthesizer(), records=records, ledger=ledger)
    message_id = send_reply(sender, channel, agent, text, target, deps)  # type: ignore[arg-type]
    return message_id, sandbox.sends_to("5511987654321"), records, ledger


def test_a_lead_who_sent_a_voice_note_gets_one_back_with_its_facts_recorded(sandbox) -> None:  # noqa: ANN001
    message_id, sent, records, ledger = deliver(sandbox, "meta", "Claro! Posso agendar a visita para amanhã?")
    assert [s["id"] for s in sent] == [message_id] and "audio" in sent[0] and sent[0]["text"] is None
    note = records.notes[0]
    assert note.spoken and note.voice == "offline-tones" and note.audio_object == "gs://media/r1.ogg"
    assert note.characters == len("Claro! Posso agendar a visita para amanhã?") and note.duration_seconds
    assert [(c.purpose, c.characters, c.cost_usd) for c in ledger.calls] == [("speech", note.characters, 0.0)]


def test_voice_plus_text_when_the_agent_wants_both(sandbox) -> None:  # noqa: ANN001
    _, sent, _, _ = deliver(sandbox, "zapi", "Claro, pode ser amanhã!", also_text=True)
    assert ["audio" in s for s in sent] == [True, False] and sent[1]["text"] == "Claro, pode ser amanhã!"


def test_a_typed_message_gets_text_under_mirror_and_no_synthesis_is_paid(sandbox) -> None:  # noqa: ANN001
    _, sent, records, ledger = deliver(sandbox, "evolution", "Claro!", voice_sent=False)
    assert sent[0]["text"] == "Claro!" and records.notes == [] and ledger.calls == []


def test_a_reply_with_a_link_goes_as_text_with_the_reason(sandbox) -> None:  # noqa: ANN001
    _, sent, records, ledger = deliver(sandbox, "meta", "Veja em https://solarprime.com.br", replies="always")
    assert sent[0]["text"] and "audio" not in sent[0]
    assert records.notes[0].spoken is False and "link" in (records.notes[0].reason or "")
    assert ledger.calls == []


def test_a_failed_synthesis_quietly_falls_back_to_text_and_says_why(sandbox) -> None:  # noqa: ANN001
    _, sent, records, _ = deliver(sandbox, "zapi", "Claro, pode ser amanhã!", synth=_FailingSynth())
    assert sent[0]["text"] == "Claro, pode ser amanhã!"
    assert records.notes[0].spoken is False and "503" in (records.notes[0].reason or "")


# -- Twilio: media by URL -------------------------------------------------------------------------------------

TWILIO_ACCOUNT, TWILIO_TOKEN, TWILIO_SENDER = "AC" + "7" * 32, "twilio-auth-token", "+14155238886"


def twilio_channel(sandbox: ProviderSandbox) -> tuple[Channel, TwilioProvider]:
    sandbox.twilio.add_account(TWILIO_ACCOUNT, TWILIO_TOKEN, [TWILIO_SENDER])
    sandbox.twilio.lead_wrote(TWILIO_SENDER, LEAD)
    channel = Channel(tenant_id="t", provider=Provider.TWILIO, channel_id=TWILIO_SENDER,
                      credentials=ChannelCredentials(account_sid=TWILIO_ACCOUNT, auth_token=TWILIO_TOKEN))
    return channel, TwilioProvider(httpx.Client(timeout=10), base_url=f"{sandbox.url}/twilio")


def hosted_links(sandbox: ProviderSandbox, served_type: str | None = None):  # noqa: ANN201
    """Publishes the note on the sandbox's file server (standing in for the bucket's signed URL)."""
    published: list[tuple[str, str]] = []

    def link(tenant_id: str, content: bytes, content_type: str) -> str:
        published.append((tenant_id, content_type))
        return sandbox.host_file(f"{tenant_id}-{len(published)}.ogg", HostedMedia(content, served_type or content_type))

    return link, published


def deliver_twilio(sandbox, text, links):  # noqa: ANN001, ANN201
    channel, sender = twilio_channel(sandbox)
    records, ledger = _Records(), _Ledger()
    target = ReplyTarget(tenant_id="t", conversation_id="c", reply_id="r1", agent_id="default", to_phone=LEAD,
                         lead_sent_voice=True)
    message_id = send_reply(sender, channel, AgentConfig(voice=VoiceSettings(replies="mirror")), text, target,
                            VoiceDeps(synthesizer=OfflineSpeechSynthesizer(), records=records, ledger=ledger,
                                      media_links=links))
    return message_id, sandbox.sends_to("5511987654321"), records, ledger


def test_a_voice_note_reaches_twilio_as_a_media_url_twilio_downloads(sandbox) -> None:  # noqa: ANN001
    links, published = hosted_links(sandbox)
    message_id, sent, records, _ = deliver_twilio(sandbox, "Oi Lucas, tudo bem? A visita é gratuita.", links)
    assert [s["id"] for s in sent] == [message_id]
    assert sent[0]["text"] is None and sent[0]["final_status"] == "delivered"
    assert published == [("t", "audio/ogg")]  # published under the tenant, Content-Type without codec parameters
    assert sent[0]["audio"]["ogg_opus"] and sent[0]["audio"]["content_type"] == "audio/ogg"
    assert sent[0]["audio"]["duration_s"] == pytest.approx(records.notes[0].duration_seconds, abs=0.05)
    assert records.notes[0].spoken
    assert any(r.startswith("fetch:") for r in sandbox.twilio.media_requests)  # Twilio fetched the URL itself


def test_twilio_refuses_a_media_url_whose_content_type_does_not_match_and_the_reply_goes_as_text(sandbox) -> None:  # noqa: ANN001
    links, _ = hosted_links(sandbox, served_type="audio/mpeg")
    _, sent, records, _ = deliver_twilio(sandbox, "Claro, pode ser amanhã!", links)
    assert [s["text"] for s in sent] == ["Claro, pode ser amanhã!"] and "audio" not in sent[0]
    assert "12300" in (records.notes[0].reason or "")


def test_without_a_link_signer_a_twilio_reply_goes_as_text_and_no_synthesis_is_paid(sandbox) -> None:  # noqa: ANN001
    _, sent, records, ledger = deliver_twilio(sandbox, "Claro!", None)
    assert sent[0]["text"] == "Claro!" and ledger.calls == []
    assert "no media link signer" in (records.notes[0].reason or "")


def test_a_media_url_twilio_cannot_download_fails_the_message(sandbox) -> None:  # noqa: ANN001
    channel, sender = twilio_channel(sandbox)
    sender.send_audio_url(channel, LEAD, f"{sandbox.url}/files/gone.ogg", 104)
    [sent] = sandbox.sends_to("5511987654321")
    assert sent["final_status"] == "failed" and sandbox.twilio.messages[-1]["final_error_code"] == 63019
