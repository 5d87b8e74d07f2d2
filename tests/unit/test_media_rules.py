"""Media rules, prompt rendering of files and local document reading: pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dev.sample_media import docx_file, scanned_pdf, text_pdf
from shared.adapters.document_text import LocalDocumentText
from shared.config import Settings
from shared.domain.conversation import Role, StoredMessage
from shared.domain.errors import MediaUnreadable
from shared.domain.inbound import MediaRef, MessageKind, Provider
from shared.domain.media import (
    MediaRoute,
    MediaStatus,
    guess_mime,
    media_blocking_turn,
    media_path,
    normalize_mime,
    route_for,
)
from shared.domain.prompt import render_message

NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)


def message(role: Role = Role.LEAD, kind: MessageKind = MessageKind.AUDIO, seconds_ago: float = 5,
            status: MediaStatus | None = MediaStatus.PENDING, **fields) -> StoredMessage:  # noqa: ANN003
    at = NOW - timedelta(seconds=seconds_ago)
    return StoredMessage(message_id=f"m{seconds_ago}{kind}{role}", role=role, kind=kind, provider=Provider.META,
                         sent_at=at, stored_at=at, media_status=status, **fields)


def test_voice_note_types_are_normalized_to_what_vertex_documents():
    assert normalize_mime("audio/ogg; codecs=opus") == "audio/ogg"
    assert normalize_mime("audio/aac") == "audio/x-aac"
    assert normalize_mime(None) == "application/octet-stream"
    assert guess_mime("application/octet-stream", "Orçamento.PDF") == "application/pdf"
    assert route_for("audio/ogg; codecs=opus") is MediaRoute.AUDIO
    assert route_for("image/jpeg") is MediaRoute.IMAGE
    assert route_for("text/csv") is MediaRoute.TEXT
    assert route_for("video/mp4") is MediaRoute.NONE


def test_limits_name_the_size_and_the_unread_types_from_configuration(monkeypatch):
    monkeypatch.setenv("MEDIA_MAX_AUDIO_BYTES", "2000000")
    monkeypatch.setenv("MEDIA_READABLE_MIME_TYPES", "audio/ogg, application/pdf")
    limits = Settings().media_limits()

    assert limits.too_large_reason(MessageKind.AUDIO, 12_500_000) == "audio of 12.5 MB is over the 2.0 MB limit"
    assert limits.too_large_reason(MessageKind.AUDIO, 1_999_999) is None
    assert limits.unreadable_reason("audio/ogg; codecs=opus") is None
    assert limits.unreadable_reason("image/jpeg") == "image/jpeg files are not read by Piloto"
    assert limits.unreadable_reason("video/mp4") == "video/mp4 files are not read by Piloto"


def test_media_objects_live_under_the_tenant_and_carry_no_lead_file_name():
    assert media_path("acme", "c1", "m1", "application/pdf") == "tenants/acme/conversations/c1/media/m1.pdf"


def test_a_turn_waits_only_for_pending_files_of_the_unanswered_burst_younger_than_the_bound():
    answered_earlier = message(seconds_ago=30)
    reply = message(role=Role.AGENT, kind=MessageKind.TEXT, seconds_ago=20, status=None)
    voice = message(seconds_ago=10)
    text = message(kind=MessageKind.TEXT, seconds_ago=8, status=None)

    assert media_blocking_turn([answered_earlier, reply, voice, text], NOW, 60) == [voice]
    assert media_blocking_turn([answered_earlier, reply, voice, text], NOW, 9) == [], "past the bound: answer"
    done = voice.model_copy(update={"media_status": MediaStatus.DONE})
    assert media_blocking_turn([reply, done, text], NOW, 60) == []


@pytest.mark.parametrize(("status", "fields", "expected"), [
    (MediaStatus.DONE, {"media_text": "Quero saber o preço\n do kit"},
     "[the lead sent a voice note; its transcript:] Quero saber o preço do kit"),
    (MediaStatus.DONE, {"media_text": ""}, "[the lead sent a voice note with no readable content]"),
    (MediaStatus.PENDING, {}, "it could not be processed in time"),
    (MediaStatus.FAILED, {"media_reason": "meta refused the media download with HTTP 404"},
     "could not be opened (meta refused the media download with HTTP 404)"),
    (MediaStatus.TOO_LARGE, {"media_reason": "audio of 40.0 MB is over the 10.0 MB limit"}, "could not be opened"),
])
def test_the_prompt_shows_a_files_text_or_says_plainly_that_it_could_not_be_opened(status, fields, expected):
    voice = message(status=status, media=MediaRef(media_id="1", mime_type="audio/ogg", voice=True), **fields)

    rendered = render_message(voice)

    assert expected in rendered
    if status is not MediaStatus.DONE:
        assert "Tell the lead honestly" in rendered and "do not guess" in rendered


def test_a_document_is_named_and_its_caption_kept():
    pdf = message(kind=MessageKind.DOCUMENT, status=MediaStatus.DONE, media_text="Consumo: 520 kWh",
                  text="minha conta", media=MediaRef(media_id="1", filename="conta.pdf"))
    assert render_message(pdf) == ("[the lead sent a document named 'conta.pdf'; its text:] Consumo: 520 kWh "
                                   "Caption: minha conta")


def test_messages_from_before_media_reading_keep_their_placeholder():
    legacy = message(kind=MessageKind.IMAGE, status=None)
    assert render_message(legacy) == "[the lead sent an image; its description is not available]"


def test_a_pdf_text_layer_is_read_and_a_scan_is_flagged_for_the_model():
    documents = LocalDocumentText()

    text, scanned = documents.pdf_text(text_pdf(["Conta de energia", "Consumo: 520 kWh", "Total: R$ 468,90"]))
    assert text == "Conta de energia\nConsumo: 520 kWh\nTotal: R$ 468,90" and scanned is False
    assert documents.pdf_text(scanned_pdf()) == ("", True)


def test_a_docx_gives_paragraphs_and_table_rows_and_csv_in_latin1_is_decoded():
    documents = LocalDocumentText()
    docx = docx_file(["Proposta", "Telhado cerâmico"], [["item", "valor"], ["painel", "R$ 900"]])

    assert documents.docx_text(docx) == "Proposta\nTelhado cerâmico\nitem | valor\npainel | R$ 900"
    assert documents.plain_text("nome;cidade\nJoão;São Paulo\n".encode("cp1252")) == "nome;cidade\nJoão;São Paulo"


@pytest.mark.parametrize("reader", ["pdf_text", "docx_text"])
def test_a_corrupt_document_is_unreadable_not_a_crash(reader):
    with pytest.raises(MediaUnreadable):
        getattr(LocalDocumentText(), reader)(b"this is not a document at all")
