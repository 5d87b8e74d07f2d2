"""Real files built from scratch, for the demo and the tests: a WAV voice note, a WhatsApp-style Ogg/Opus voice note,
PDFs (with and without a text layer), a DOCX and a PNG. The standard library, python-docx and (for Opus) soundfile
with numpy; nothing downloaded."""

from __future__ import annotations

import io
import math
import struct
import wave
import zlib


def wav_voice_note(seconds: float = 1.5, rate: int = 8000) -> bytes:
    """A mono 16-bit WAV: a two-tone hum standing in for speech (it has a real duration and a valid header)."""
    frames = bytearray()
    for i in range(int(seconds * rate)):
        t = i / rate
        sample = 0.3 * math.sin(2 * math.pi * 220 * t) + 0.2 * math.sin(2 * math.pi * 330 * t)
        frames += struct.pack("<h", int(sample * 32767))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(frames))
    return buffer.getvalue()


def opus_voice_note(seconds: float, channels: int = 1, pitch: float = 180.0) -> bytes:
    """An Ogg/Opus file at 48 kHz as WhatsApp records voice notes: a voiced, pitch-varying hum, no real voice."""
    import numpy as np
    import soundfile

    t = np.arange(int(seconds * 48_000)) / 48_000
    tone = 0.3 * np.sin(2 * np.pi * (pitch + 20 * np.sin(3 * t)) * t) + 0.1 * np.sin(2 * np.pi * 2.5 * pitch * t)
    signal = np.stack([tone * (0.5 + 0.5 * c / max(channels - 1, 1)) for c in range(channels)], axis=1)
    buffer = io.BytesIO()
    soundfile.write(buffer, signal.astype(np.float32), 48_000, format="OGG", subtype="OPUS")
    return buffer.getvalue()


# The start of an MP4/M4A file as an iPhone voice memo begins (an ISO base media "ftyp" box of brand "M4A ",
# https://developer.apple.com/documentation/quicktime-file-format), padded: libsndfile has no AAC decoder, so
# nothing after the header matters to show an M4A upload refused.
M4A_VOICE_MEMO_START = b"\0\0\0\x1cftypM4A \0\0\0\0M4A isommp42" + bytes(2000)


def _pdf(page_streams: list[bytes]) -> bytes:
    """A minimal PDF 1.4: one Helvetica font (WinAnsi, so Portuguese accents work), one page per stream."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * i for i in range(len(page_streams))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{pid} 0 R" for pid in page_ids).encode()
    objects.append(b"<< /Type /Pages /Kids [" + kids + b"] /Count " + str(len(page_ids)).encode() + b" >>")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for pid, stream in zip(page_ids, page_streams, strict=True):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >>"
                       b" /Contents " + str(pid + 1).encode() + b" 0 R >>")
        objects.append(b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _pdf_string(text: str) -> bytes:
    raw = text.encode("cp1252")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def text_pdf(lines: list[str]) -> bytes:
    """A one-page PDF whose text layer holds these lines."""
    stream = bytearray(b"BT /F1 12 Tf 72 770 Td 16 TL\n")
    for line in lines:
        stream += _pdf_string(line) + b" Tj T*\n"
    stream += b"ET"
    return _pdf([bytes(stream)])


def scanned_pdf() -> bytes:
    """A PDF with drawings and no text layer, like a scanned page."""
    return _pdf([b"0.2 g 72 600 450 150 re f 0.8 g 90 620 200 20 re f"])


def docx_file(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def png_image(width: int = 4, height: int = 3) -> bytes:
    """An RGB PNG of one colour."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xf5\xa6\x23" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
