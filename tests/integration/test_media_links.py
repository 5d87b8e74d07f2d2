"""Twilio voice notes through the Storage emulator: the note is stored under its tenant and Twilio's contract fake
downloads it from the link with the Content-Type it was stored with. (The V4 signature itself is made by IAM
signBlob in production and cannot be checked offline: the emulator's link carries none.)"""

from __future__ import annotations

import os
from datetime import timedelta

import httpx
from google.cloud import storage

from dev.stack import MEDIA_BUCKET, PROJECT, LocalStack
from shared.adapters.media_links import SignedMediaLinks
from shared.adapters.offline_speech import OfflineSpeechSynthesizer
from shared.domain.inbound import Provider
from shared.domain.tenancy import Channel, ChannelCredentials
from shared.domain.voice import VoiceSettings
from shared.providers.twilio import TwilioProvider


def test_a_twilio_voice_note_is_stored_under_its_tenant_and_downloaded_by_twilio(stack: LocalStack) -> None:
    assert stack.sandbox is not None
    links = SignedMediaLinks(storage.Client(project=PROJECT), MEDIA_BUCKET, None, timedelta(minutes=15),
                             emulator_host=os.environ["STORAGE_EMULATOR_HOST"])
    account, token, sender_number, lead = "AC" + "5" * 32, "tok", "+14155550100", "+5511976543210"
    stack.sandbox.twilio.add_account(account, token, [sender_number])
    stack.sandbox.twilio.lead_wrote(sender_number, lead)
    channel = Channel(tenant_id="t-links", provider=Provider.TWILIO, channel_id=sender_number,
                      credentials=ChannelCredentials(account_sid=account, auth_token=token))
    sender = TwilioProvider(httpx.Client(timeout=10), base_url=f"{stack.sandbox.url}/twilio")
    speech = OfflineSpeechSynthesizer().synthesize("Oi, tudo bem?", VoiceSettings())

    url = links.link(channel.tenant_id, speech.audio, "audio/ogg")
    assert links.link(channel.tenant_id, speech.audio, "audio/ogg") == url  # the same note again: stored once
    sid = sender.send_audio_url(channel, lead, url, len(speech.audio))

    [sent] = [s for s in stack.sandbox.sends_to(lead.removeprefix("+")) if s["id"] == sid]
    assert sent["final_status"] == "delivered" and sent["audio"]["ogg_opus"]
    assert sent["audio"]["content_type"] == "audio/ogg"
    names = [b.name for b in storage.Client(project=PROJECT).list_blobs(MEDIA_BUCKET, prefix="links/tenants/t-links/")]
    assert len(names) == 1 and names[0].endswith(".ogg")
