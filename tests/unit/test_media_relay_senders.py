"""Sending a seller's file to a lead: each provider's documented request shapes, checked by an httpx MockTransport
that refuses what the docs say the provider refuses."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from shared.domain.errors import ProviderRejected
from shared.domain.inbound import Provider
from shared.domain.tenancy import Channel, ChannelCredentials
from shared.ports import DownloadedMedia
from shared.providers.evolution import EvolutionProvider
from shared.providers.meta_cloud import MetaCloudProvider
from shared.providers.zapi import ZApiProvider

PDF = DownloadedMedia(content=b"%PDF-1.4 precos", mime_type="application/pdf", filename="precos.pdf")
VOICE = DownloadedMedia(content=b"OggS\x00voice", mime_type="audio/ogg; codecs=opus")


def test_meta_uploads_the_file_then_sends_a_document_naming_the_media_id():
    seen: list[tuple[str, bytes]] = []

    def graph(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.content))
        if request.url.path.endswith("/media"):
            # https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/media
            body = request.content
            assert request.headers["content-type"].startswith("multipart/form-data")
            for field in (b'name="messaging_product"', b'name="type"', b'name="file"'):
                if field not in body:
                    return httpx.Response(400, json={"error": {"message": "(#100) missing", "code": 100}})
            return httpx.Response(200, json={"id": "1037543291543636"})
        payload = json.loads(request.content)
        assert payload["type"] == "document"
        assert payload["document"] == {"id": "1037543291543636", "caption": "Segue", "filename": "precos.pdf"}
        return httpx.Response(200, json={"messaging_product": "whatsapp", "messages": [{"id": "wamid.X"}]})

    meta = MetaCloudProvider(httpx.Client(transport=httpx.MockTransport(graph)), graph_version="v21.0")
    channel = Channel(tenant_id="t", provider=Provider.META, channel_id="106540352242922",
                      credentials=ChannelCredentials(access_token="EAAtoken"))
    assert meta.send_media(channel, "+5511987654321", PDF, "document", "Segue") == "wamid.X"
    assert [path for path, _ in seen] == ["/v21.0/106540352242922/media", "/v21.0/106540352242922/messages"]
    assert b"%PDF-1.4 precos" in seen[0][1]


def test_meta_refuses_an_upload_for_good_when_the_token_is_invalid():
    def graph(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": "Invalid OAuth access token.", "code": 190}})

    meta = MetaCloudProvider(httpx.Client(transport=httpx.MockTransport(graph)))
    channel = Channel(tenant_id="t", provider=Provider.META, channel_id="1",
                      credentials=ChannelCredentials(access_token="EAAtoken"))
    with pytest.raises(ProviderRejected, match="190"):
        meta.send_media(channel, "+5511987654321", PDF, "document")


def test_evolution_sends_a_voice_note_through_send_whatsapp_audio_in_base64():
    def server(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/message/sendWhatsAppAudio/solar-vendas"
        body = json.loads(request.content)
        assert body == {"number": "5511987654321", "audio": base64.b64encode(VOICE.content).decode()}
        return httpx.Response(201, json={"key": {"remoteJid": "5511987654321@s.whatsapp.net", "fromMe": True,
                                                 "id": "3EB0AUDIO"}, "status": "PENDING"})

    evolution = EvolutionProvider(httpx.Client(transport=httpx.MockTransport(server)))
    channel = Channel(tenant_id="t", provider=Provider.EVOLUTION, channel_id="solar-vendas",
                      credentials=ChannelCredentials(api_key="k", server_url="https://evo.example.com"))
    assert evolution.send_media(channel, "+5511987654321", VOICE, "audio") == "3EB0AUDIO"


def test_evolution_sends_a_document_with_its_file_name_required_for_base64():
    def server(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert request.url.path == "/message/sendMedia/solar-vendas"
        assert (body["mediatype"], body["mimetype"], body["fileName"]) == ("document", "application/pdf", "precos.pdf")
        return httpx.Response(201, json={"key": {"id": "3EB0DOC"}})

    evolution = EvolutionProvider(httpx.Client(transport=httpx.MockTransport(server)))
    channel = Channel(tenant_id="t", provider=Provider.EVOLUTION, channel_id="solar-vendas",
                      credentials=ChannelCredentials(api_key="k", server_url="https://evo.example.com"))
    assert evolution.send_media(channel, "+5511987654321", PDF, "document") == "3EB0DOC"


def test_zapi_sends_a_document_with_its_extension_in_the_path_and_a_data_uri():
    def server(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/instances/3C67/token/tok/send-document/pdf"
        body = json.loads(request.content)
        assert body["document"].startswith("data:application/pdf;base64,") and body["fileName"] == "precos.pdf"
        return httpx.Response(200, json={"zaapId": "z1", "messageId": "ZDOC", "id": "ZDOC"})

    zapi = ZApiProvider(httpx.Client(transport=httpx.MockTransport(server)), base_url="https://api.z-api.io")
    channel = Channel(tenant_id="t", provider=Provider.ZAPI, channel_id="3C67",
                      credentials=ChannelCredentials(instance_token="tok", client_token="ct"))
    assert zapi.send_media(channel, "+5511987654321", PDF, "document") == "ZDOC"
