"""Text out of the files a business uploads: TXT, Markdown, CSV, HTML, PDF (pypdf) and DOCX (python-docx).

Each format becomes TextBlocks that keep the headings above them (and the page, for PDFs), which the
chunker needs to keep chunks inside one section. pypdf and python-docx are imported only for their files.
A PDF with (almost) no text layer is a scan: `extract` says so and the caller hands it to a ScanReader.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from shared.domain.errors import MediaUnreadable, UnsupportedDocument
from shared.domain.knowledge import Extraction, TextBlock

SUPPORTED_EXTENSIONS = ("txt", "md", "markdown", "csv", "html", "htm", "pdf", "docx")
_BY_CONTENT_TYPE = {
    "text/plain": "txt", "text/markdown": "md", "text/x-markdown": "md", "text/csv": "csv", "text/html": "html",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}
# Below this many characters of text per page a PDF is taken for a scan (page numbers and stray
# header lines of a scanned file stay well under it; a real text page has hundreds).
_SCAN_CHARS_PER_PAGE = 25


def kind_of(file_name: str, content_type: str | None) -> str:
    """The format by extension first (uploads often carry application/octet-stream), then content type."""
    ext = file_name.lower().rsplit(".", 1)[-1] if "." in file_name else ""
    if ext in SUPPORTED_EXTENSIONS:
        return {"markdown": "md", "htm": "html"}.get(ext, ext)
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime in _BY_CONTENT_TYPE:
        return _BY_CONTENT_TYPE[mime]
    raise UnsupportedDocument(f"'.{ext or '?'}' files ({mime or 'no content type'}) are not supported; "
                              f"use one of: {', '.join(SUPPORTED_EXTENSIONS)}")


def extract(data: bytes, file_name: str, content_type: str | None = None) -> Extraction:
    kind = kind_of(file_name, content_type)
    if kind == "pdf":
        return _pdf(data)
    if kind == "docx":
        return Extraction("docx", _docx(data))
    text = decode(data)
    blocks = {"txt": plain_text_blocks, "md": markdown_blocks, "csv": csv_blocks, "html": html_blocks}[kind](text)
    return Extraction(kind, blocks)


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM); Windows-1252 is what Brazilian spreadsheets and notepads often save."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


# -- plain text and PDF pages -----------------------------------------------------------------------

_NUMBERED = re.compile(r"^(\d+(?:\.\d+)*)\.?\s+\S")
_TERMINAL = (".", ",", ";", "!", "?", ":")


def _heading_level(line: str) -> int | None:
    """Conservative: only UPPERCASE lines and numbered lines ('2.1 Prazos') count as headings."""
    if len(line) > 70 or line.endswith(_TERMINAL) or not re.search(r"[A-Za-zÀ-ÿ]", line):
        return None
    if line.startswith(("-", "*", "•")):
        return None
    numbered = _NUMBERED.match(line)
    if numbered:
        return numbered.group(1).count(".") + 1
    letters = [c for c in line if c.isalpha()]
    if len(letters) >= 3 and all(c.isupper() for c in letters):
        return 1
    return None


def _sentence_case(line: str) -> str:
    """'2. PRAZOS DE ENTREGA' -> '2. Prazos de entrega' (shouted headings read badly in passages)."""
    lowered = line.lower()
    first = next((i for i, c in enumerate(lowered) if c.isalpha()), None)
    return lowered if first is None else lowered[:first] + lowered[first].upper() + lowered[first + 1:]


class _Outline:
    """The heading stack: a level-2 heading replaces the previous level-2 one and everything under it."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, str]] = []

    def enter(self, level: int, title: str) -> None:
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, title))

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(title for _, title in self.stack)


def plain_text_blocks(text: str, outline: _Outline | None = None, page: int | None = None) -> list[TextBlock]:
    outline = outline or _Outline()
    blocks: list[TextBlock] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(TextBlock(" ".join(paragraph), outline.path, page))
            paragraph.clear()

    for raw in text.splitlines():
        line = " ".join(raw.split())
        if not line:
            flush()
            continue
        level = _heading_level(line)
        if level is not None:
            flush()
            outline.enter(level, _sentence_case(line) if line.isupper() else line)
        elif line.startswith(("-", "*", "•")):
            flush()
            paragraph.append(line.lstrip("-*• "))
            flush()
        else:
            paragraph.append(line)
    flush()
    return blocks


# -- Markdown ----------------------------------------------------------------------------------------

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_MD_LIST = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def _md_inline(text: str) -> str:
    text = _MD_LINK.sub(r"\1", text)
    return re.sub(r"(\*\*|__|\*|_|`)", "", text)


def markdown_blocks(text: str, outline: _Outline | None = None, page: int | None = None) -> list[TextBlock]:
    outline = outline or _Outline()
    blocks: list[TextBlock] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(TextBlock(_md_inline(" ".join(paragraph)), outline.path, page))
            paragraph.clear()

    in_code = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("```"):
            in_code = not in_code
            continue
        heading = None if in_code else _MD_HEADING.match(line)
        if heading:
            flush()
            outline.enter(len(heading.group(1)), _md_inline(heading.group(2)))
        elif not line:
            flush()
        elif _MD_LIST.match(line) and not in_code:
            flush()
            paragraph.append(_MD_LIST.sub("", line))
            flush()
        elif line.startswith("|"):
            flush()
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
                paragraph.append(" | ".join(c for c in cells if c))
                flush()
        else:
            paragraph.append(line.lstrip("> "))
    flush()
    return blocks


_PAGE_MARK = re.compile(r"^\s*=+\s*p[áa]gina\s+(\d+)\s*=+\s*$", re.IGNORECASE | re.MULTILINE)


def transcript_blocks(text: str) -> list[TextBlock]:
    """A model's page-by-page Markdown transcript of a scan ('=== página N ===' starts each page)."""
    outline = _Outline()
    marks = list(_PAGE_MARK.finditer(text))
    if not marks:
        return markdown_blocks(text, outline)
    blocks = markdown_blocks(text[:marks[0].start()], outline)
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        blocks.extend(markdown_blocks(text[mark.end():end], outline, int(mark.group(1))))
    return blocks


# -- CSV ---------------------------------------------------------------------------------------------


def csv_blocks(text: str) -> list[TextBlock]:
    """One block per row, 'column: value' pairs; the row's first value is its section (a product, a question)."""
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(cell.strip() for cell in row)]
    if not rows:
        return []
    header = [h.strip() or f"coluna {i + 1}" for i, h in enumerate(rows[0])]
    blocks = []
    for row in rows[1:]:
        pairs = [f"{header[i] if i < len(header) else f'coluna {i + 1}'}: {cell.strip()}"
                 for i, cell in enumerate(row) if cell.strip()]
        first = row[0].strip() if row else ""
        blocks.append(TextBlock("; ".join(pairs), (f"{header[0]}: {first}",) if first else ()))
    return blocks


# -- HTML --------------------------------------------------------------------------------------------

_HTML_BLOCK = {"p", "div", "li", "tr", "section", "article", "br", "dd", "dt", "blockquote", "pre", "table", "ul",
               "ol", "header", "footer", "main", "caption", "figcaption"}
_HTML_SKIP = {"script", "style", "noscript", "template", "svg", "head", "nav"}


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.outline = _Outline()
        self.blocks: list[TextBlock] = []
        self.buffer: list[str] = []
        self.skipping = 0
        self.heading_level: int | None = None

    def flush(self) -> None:
        text = " ".join(" ".join(self.buffer).split())
        self.buffer.clear()
        if not text:
            return
        if self.heading_level is not None:
            self.outline.enter(self.heading_level, text)
        else:
            self.blocks.append(TextBlock(text, self.outline.path))

    def handle_starttag(self, tag: str, attrs: list) -> None:  # noqa: ARG002
        if tag in _HTML_SKIP:
            self.skipping += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.flush()
            self.heading_level = int(tag[1])
        elif tag in _HTML_BLOCK:
            self.flush()
        elif tag in ("td", "th") and self.buffer:
            self.buffer.append("|")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HTML_SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif re.fullmatch(r"h[1-6]", tag):
            self.flush()
            self.heading_level = None
        elif tag in _HTML_BLOCK:
            self.flush()

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.buffer.append(data)


def html_blocks(text: str) -> list[TextBlock]:
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    parser.flush()
    return parser.blocks


# -- PDF ---------------------------------------------------------------------------------------------


def _pdf(data: bytes) -> Extraction:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnsupportedDocument("the PDF is password-protected")
        outline = _Outline()
        blocks: list[TextBlock] = []
        chars = 0
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            chars += len("".join(text.split()))
            blocks.extend(plain_text_blocks(text, outline, number))
        pages = len(reader.pages)
    except UnsupportedDocument:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError) as err:
        raise UnsupportedDocument(f"the PDF could not be read: {type(err).__name__}") from err
    if pages == 0:
        raise UnsupportedDocument("the PDF has no pages")
    if chars < _SCAN_CHARS_PER_PAGE * pages:
        return Extraction("pdf", [], needs_scan_reader=True, pages=pages)
    return Extraction("pdf", blocks, pages=pages)


# -- DOCX --------------------------------------------------------------------------------------------

_DOCX_HEADING = re.compile(r"^(?:heading|título|titulo|cabeçalho)\s*(\d)$", re.IGNORECASE)


def _docx(data: bytes) -> list[TextBlock]:
    import zipfile

    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as err:
        raise UnsupportedDocument(f"the DOCX could not be read: {type(err).__name__}") from err
    outline = _Outline()
    blocks: list[TextBlock] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            for row in item.rows:
                cells: list[str] = []
                for cell in row.cells:  # merged cells repeat; keep each text once per row
                    text = " ".join(cell.text.split())
                    if text and text not in cells:
                        cells.append(text)
                if cells:
                    blocks.append(TextBlock(" | ".join(cells), outline.path))
            continue
        text = " ".join(item.text.split())
        if not text:
            continue
        style = (item.style.name if item.style is not None else "") or ""
        heading = _DOCX_HEADING.match(style.strip())
        if heading:
            outline.enter(int(heading.group(1)), text)
        elif style.strip().lower() in ("title", "título"):
            outline.enter(0, text)  # the document's title sits above its level-1 headings
        else:
            blocks.append(TextBlock(text, outline.path))
    return blocks


# --- Flat text of a lead's file (media understanding): no headings needed, just the words -----------

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
