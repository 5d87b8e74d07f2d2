"""Small real documents for extraction tests: PDFs written by hand (text pages, or an image-only "scan")
and DOCX files written with python-docx. Built in code so the tests show exactly what is inside."""

from __future__ import annotations

import io
import zlib


def _pdf(objects: list[bytes]) -> bytes:
    """Serialize numbered objects (1 = catalog) with a valid cross-reference table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _stream(content: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"


def _literal(text: str) -> bytes:
    raw = text.encode("cp1252")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def text_pdf(pages: list[list[str]]) -> bytes:
    """A PDF with a real text layer: each page's lines in Helvetica (WinAnsi, so Portuguese accents work)."""
    n = len(pages)
    font = 3 + 2 * n
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>",
                            b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
                                b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(n)), n)]
    for i, lines in enumerate(pages):
        ops = [b"BT /F1 11 Tf 14 TL 56 780 Td"]
        for line in lines:
            ops.append(_literal(line) + b" Tj T*")
        ops.append(b"ET")
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
                       b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (4 + 2 * i, font))
        objects.append(_stream(b"\n".join(ops)))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    return _pdf(objects)


def scanned_pdf(pages: int = 2) -> bytes:
    """What a scanner produces: every page is one image and there is no text layer at all."""
    pixels = zlib.compress(bytes(range(64)) * 64)  # a 64x64 grey gradient
    image = b"<< /Type /XObject /Subtype /Image /Width 64 /Height 64 /ColorSpace /DeviceGray " \
            b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n" % len(pixels) + pixels + b"\nendstream"
    image_obj = 3 + 2 * pages
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>",
                            b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
                                b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(pages)), pages)]
    for i in range(pages):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
                       b"/Resources << /XObject << /Im1 %d 0 R >> >> >>" % (4 + 2 * i, image_obj))
        objects.append(_stream(b"q 595 0 0 842 0 0 cm /Im1 Do Q"))
    objects.append(image)
    return _pdf(objects)


def docx_file(title: str, sections: list[tuple[str, list[str]]], table: list[list[str]] | None = None) -> bytes:
    """A Word document: a Title, then each (heading, paragraphs) as Heading 1 + Normal paragraphs."""
    import docx

    document = docx.Document()
    document.add_heading(title, level=0)
    for heading, paragraphs in sections:
        document.add_heading(heading, level=1)
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
