"""Provider media downloads against the provider sandbox, which speaks each provider's documented shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from dev.provider_sandbox import HostedMedia, ProviderSandbox
from dev.sample_media import text_pdf, wav_voice_note
from shared.domain.conversation import Role, StoredMessage
from shared.domain.errors import MediaTooLarge, MediaUnavailable
from shared.domain.inbound import MediaRef, MessageKind, Provider
from shared.domain.tenancy import Channel, ChannelCredentials
from shared.providers.evolution import EvolutionMedia
from shared.providers.meta_cloud import MetaCloudMedia
from shared.providers.zapi import ZApiMedia

VOICE = wav_voice_note(0.5)
PDF = text_pdf(["Consumo: 520 kWh"])


@pytest.fixture
def sandbox():
    running = ProviderSandbox().start()
    yield running
    running.stop()


@pytest.fixture
def http():
    with httpx.Client(timeout=5) as client:
        yield client


def lead_file(provider: Provider, media: MediaRef, provider_message_id: str = "3EB0KEY1") -> StoredMessage:
    return StoredMessage(message_id="m1", role=Role.LEAD, kind=MessageKind.AUDIO, provider=provider,
                         provider_message_id=provider_message_id, media=media,
                         sent_at=datetime(2026, 11, 21, tzinfo=UTC))


META = Channel(tenant_id="t", provider=Provider.META, channel_id="106540352242922",
               credentials=ChannelCredentials(access_token="meta-token"))


def test_meta_media_is_looked_up_by_id_then_downloaded_with_the_bearer_token(sandbox, http):
    sandbox.host_meta_media("1289764425531234", HostedMedia(VOICE, "audio/ogg"))
    media = MetaCloudMedia(http, base_url=f"{sandbox.url}/meta", graph_version="v25.0")

    downloaded = media.download(META, lead_file(Provider.META, MediaRef(media_id="1289764425531234")), 1_000_000)

    assert downloaded.content == VOICE and downloaded.mime_type == "audio/ogg"
    assert sandbox.media_requests == ["meta-lookup:1289764425531234", "meta-download:1289764425531234"]


def test_meta_media_over_the_limit_is_refused_from_its_declared_size_before_downloading(sandbox, http):
    sandbox.host_meta_media("42", HostedMedia(VOICE, "audio/ogg"))
    media = MetaCloudMedia(http, base_url=f"{sandbox.url}/meta")

    with pytest.raises(MediaTooLarge) as err:
        media.download(META, lead_file(Provider.META, MediaRef(media_id="42")), 1000)

    assert err.value.size == len(VOICE)
    assert sandbox.media_requests == ["meta-lookup:42"], "the file itself was never fetched"


def test_an_expired_meta_media_id_is_unavailable_for_good(sandbox, http):
    media = MetaCloudMedia(http, base_url=f"{sandbox.url}/meta")
    with pytest.raises(MediaUnavailable, match="HTTP 400.*does not exist"):
        media.download(META, lead_file(Provider.META, MediaRef(media_id="999")), 1_000_000)


EVOLUTION = Channel(tenant_id="t", provider=Provider.EVOLUTION, channel_id="solar-vendas",
                    credentials=ChannelCredentials(api_key="evo-key", server_url="set-per-test"))


def evolution(sandbox: ProviderSandbox) -> Channel:
    return EVOLUTION.model_copy(update={"credentials": ChannelCredentials(
        api_key="evo-key", server_url=f"{sandbox.url}/evolution")})


def webhook_media(name: str = "evolution_document.json") -> MediaRef:
    """The MediaRef the Evolution parser makes of a recorded messages.upsert."""
    from shared.ports import RawRequest
    from shared.providers.evolution import EvolutionWebhook

    raw = (Path(__file__).parent.parent / "data" / "providers" / name).read_bytes()
    [message] = EvolutionWebhook().parse(RawRequest(method="POST", path="/", headers={}, query={}, body=raw)).messages
    assert message.media is not None
    return message.media


def test_evolution_sends_the_webhooks_whole_message_so_a_server_without_storage_decrypts_it(sandbox, http):
    media = webhook_media()
    sandbox.host_evolution_media("3A44D0E6B1F27C95A8E3", HostedMedia(PDF, "application/pdf", "conta.pdf"))

    downloaded = EvolutionMedia(http).download(evolution(sandbox), lead_file(Provider.EVOLUTION, media), 1_000_000)

    assert downloaded.content == PDF
    assert sandbox.media_requests == ["evolution:3A44D0E6B1F27C95A8E3"], "key and message sent; the CDN url never fetched"
    assert media.provider_message is not None and media.provider_message["key"]["remoteJid"].endswith("@s.whatsapp.net")
    with pytest.raises(MediaTooLarge):
        EvolutionMedia(http).download(evolution(sandbox), lead_file(Provider.EVOLUTION, media), 100)


def test_a_key_id_only_download_from_a_server_without_storage_is_explained(sandbox, http):
    sandbox.host_evolution_media("3EB0KEY1", HostedMedia(PDF, "application/pdf", "conta.pdf"))
    key_only = MediaRef(url="https://mmg.whatsapp.net/v/t62.7119-24/1_n.enc", encrypted=True,
                        mime_type="application/pdf")

    with pytest.raises(MediaUnavailable, match="Message not found.*DATABASE_SAVE_DATA_NEW_MESSAGE=true"):
        EvolutionMedia(http).download(evolution(sandbox), lead_file(Provider.EVOLUTION, key_only), 1_000_000)

    sandbox.evolution_stores_messages = True
    downloaded = EvolutionMedia(http).download(evolution(sandbox), lead_file(Provider.EVOLUTION, key_only), 1_000_000)
    assert downloaded.content == PDF and downloaded.filename == "conta.pdf"
    assert sandbox.media_requests == ["evolution-key-only:3EB0KEY1", "evolution-key-only:3EB0KEY1"]


def test_base64_the_webhook_carried_is_used_without_any_request(sandbox, http):
    import base64

    media = webhook_media().model_copy(update={"inline_base64": base64.b64encode(PDF).decode()})

    downloaded = EvolutionMedia(http).download(evolution(sandbox), lead_file(Provider.EVOLUTION, media), 1_000_000)

    assert downloaded.content == PDF and sandbox.media_requests == []


def test_evolution_s3_media_url_and_zapi_urls_are_fetched_directly(sandbox, http):
    url = sandbox.host_file("3EB0KEY2.ogg", HostedMedia(VOICE, "audio/ogg"))
    evolution = Channel(tenant_id="t", provider=Provider.EVOLUTION, channel_id="i",
                        credentials=ChannelCredentials(api_key="k", server_url=f"{sandbox.url}/evolution"))
    zapi = Channel(tenant_id="t", provider=Provider.ZAPI, channel_id="Z1")

    via_s3 = EvolutionMedia(http).download(evolution, lead_file(Provider.EVOLUTION, MediaRef(url=url)), 1_000_000)
    via_zapi = ZApiMedia(http).download(zapi, lead_file(Provider.ZAPI, MediaRef(url=url)), 1_000_000)

    assert via_s3.content == via_zapi.content == VOICE
    assert sandbox.media_requests == ["file:3EB0KEY2.ogg", "file:3EB0KEY2.ogg"]


def test_an_expired_zapi_url_is_unavailable_and_a_stream_over_the_limit_stops(sandbox, http):
    zapi = Channel(tenant_id="t", provider=Provider.ZAPI, channel_id="Z1")
    with pytest.raises(MediaUnavailable, match="HTTP 404"):
        ZApiMedia(http).download(zapi, lead_file(Provider.ZAPI, MediaRef(url=f"{sandbox.url}/files/gone.ogg")), 10)
    url = sandbox.host_file("big.ogg", HostedMedia(VOICE, "audio/ogg"))
    with pytest.raises(MediaTooLarge):
        ZApiMedia(http).download(zapi, lead_file(Provider.ZAPI, MediaRef(url=url)), 1000)


def recorded(name: str) -> dict:
    import json
    from pathlib import Path

    return json.loads((Path(__file__).parent.parent / "data" / "providers" / name).read_text())


def test_the_sandbox_answers_with_the_documented_media_shapes(sandbox, http):
    sandbox.host_meta_media("1289764425531234", HostedMedia(VOICE, "audio/ogg"))
    sandbox.host_evolution_media("3A9B2E6F1C0D8A7B5E42", HostedMedia(VOICE, "audio/ogg; codecs=opus"))
    sandbox.evolution_stores_messages = True  # the recorded request is the documented key.id-only form
    bearer = {"Authorization": "Bearer t"}

    lookup = http.get(f"{sandbox.url}/meta/v25.0/1289764425531234", headers=bearer).json()
    missing = http.get(f"{sandbox.url}/meta/v25.0/1", headers=bearer).json()
    evolution = http.post(f"{sandbox.url}/evolution/chat/getBase64FromMediaMessage/solar",
                          headers={"apikey": "k"}, json=recorded("evolution_get_base64_request.json")).json()

    assert lookup.keys() == recorded("meta_media_url.json").keys()
    assert missing["error"].keys() == recorded("meta_media_error_100.json")["error"].keys()
    assert evolution.keys() == recorded("evolution_get_base64_response.json").keys()
    assert evolution["size"].keys() >= {"fileLength"}



ZAPI = Channel(tenant_id="t", provider=Provider.ZAPI, channel_id="3C67AB2F0E4A1B2C")


@pytest.mark.parametrize("url", ["https://", "ftp://files.example.com/a.ogg", "not a url", "", "https:///path-only",
                                 "http://[::1"])
def test_a_url_that_can_never_work_is_permanent_not_retried(http, url: str):
    # The docs' placeholder "https://" was retried five times as a transient failure before.
    with pytest.raises(MediaUnavailable):
        ZApiMedia(http).download(ZAPI, lead_file(Provider.ZAPI, MediaRef(url=url or None)), 1000)


@pytest.mark.parametrize(("status", "permanent"), [(401, True), (403, True), (404, True), (410, True),
                                                   (429, False), (500, False), (503, False)])
def test_the_media_host_s_answer_decides_between_failed_and_retried(status: int, permanent: bool):
    from shared.domain.errors import TransientError

    client = httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(status, content=b"no")))
    expected = MediaUnavailable if permanent else TransientError
    with pytest.raises(expected):
        ZApiMedia(client).download(ZAPI, lead_file(Provider.ZAPI, MediaRef(url="https://files.example.com/a")), 1000)


def test_a_timeout_is_retried():
    from shared.domain.errors import TransientError

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(TransientError):
        ZApiMedia(httpx.Client(transport=httpx.MockTransport(timeout))).download(
            ZAPI, lead_file(Provider.ZAPI, MediaRef(url="https://files.example.com/a")), 1000)
