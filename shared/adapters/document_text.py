"""Text of documents read locally: PDF text layers (pypdf), DOCX (python-docx), plain text and CSV.

No network and no model: each library is imported only when a file of its kind arrives.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from shared.domain.errors import MediaUnreadable

_BLANKS = re.compile(r"[ \t\u00a0]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class PdfText:
    text: str
    pages: int

    @property
    def scanned(self) -> bool:
        """No usable text layer: the pages are pictures of text (a scan, a phone photo saved as PDF)."""
        return len(re.sub(r"\s+", "", self.text)) < 16 * max(1, self.pages)


def tidy(text: str) -> str:
    lines = [_BLANKS.sub(" ", line).strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


def pdf_text(content: bytes, max_pages: int = 50) -> PdfText:
    """The text layer of the first max_pages pages."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted:
            # Most "encrypted" PDFs only restrict printing and open with the empty password.
            try:
                opened = reader.decrypt("")
            except Exception as err:  # noqa: BLE001 - pypdf raises several types for unsupported crypto
                raise MediaUnreadable(f"the PDF is encrypted ({type(err).__name__})") from err
            if not opened:
                raise MediaUnreadable("the PDF is password-protected")
        pages = reader.pages
        texts = [page.extract_text() or "" for page in list(pages)[:max_pages]]
        return PdfText(text=tidy("\n\n".join(texts)), pages=len(pages))
    except MediaUnreadable:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise MediaUnreadable(f"the PDF could not be parsed ({type(err).__name__})") from err


def docx_text(content: bytes) -> str:
    """Paragraphs, then table rows with cells separated by ' | '."""
    from zipfile import BadZipFile

    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(content))
    except (BadZipFile, PackageNotFoundError, KeyError, ValueError) as err:
        raise MediaUnreadable(f"the DOCX could not be opened ({type(err).__name__})") from err
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            cells = [cell.text.strip() for cell in row.cells]
            parts.append(" | ".join(cells))
    return tidy("\n".join(parts))


def plain_text(content: bytes) -> str:
    """UTF-8 (with or without BOM), else Latin-1, which Brazilian spreadsheets still export."""
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return tidy(content.decode(encoding))
        except UnicodeDecodeError:
            continue
    return tidy(content.decode("latin-1", errors="replace"))


class LocalDocumentText:
    """The DocumentText port over the functions above."""

    def __init__(self, max_pdf_pages: int = 50) -> None:
        self._max_pdf_pages = max_pdf_pages

    def pdf_text(self, pdf: bytes) -> tuple[str, bool]:
        result = pdf_text(pdf, self._max_pdf_pages)
        return result.text, result.scanned

    def docx_text(self, docx: bytes) -> str:
        return docx_text(docx)

    def plain_text(self, data: bytes) -> str:
        return plain_text(data)
