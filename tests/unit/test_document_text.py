"""Text extraction keeps headings and pages for every supported format, and says clearly what it cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.adapters.document_text import extract, kind_of, transcript_blocks
from shared.domain.errors import UnsupportedDocument
from tests.documents import docx_file, scanned_pdf, text_pdf

KNOWLEDGE = Path(__file__).parent.parent / "data" / "knowledge"


def sections(blocks) -> list[str]:  # noqa: ANN001
    return [" > ".join(b.headings) for b in blocks]


def test_markdown_headings_become_the_section_path_of_each_paragraph():
    blocks = extract((KNOWLEDGE / "instalacao.md").read_bytes(), "instalacao.md").blocks

    assert sections(blocks)[0] == "Etapas da instalação > 1. Visita técnica"
    roof = next(b for b in blocks if "fibrocimento" in b.text)
    assert roof.headings == ("Etapas da instalação", "Tipos de telhado")


def test_html_keeps_headings_and_list_items_and_drops_scripts_styles_and_navigation():
    extraction = extract((KNOWLEDGE / "financiamento.html").read_bytes(), "financiamento.html")
    text = " ".join(b.text for b in extraction.blocks)

    assert "tracking" not in text and "font-family" not in text and "Início" not in text
    docs = [b for b in extraction.blocks if b.headings[-1] == "Documentos para a análise de crédito"]
    assert [b.text for b in docs][:2] == ["RG e CPF do titular", "Comprovante de renda dos últimos 3 meses"]


def test_csv_rows_become_column_value_text_with_the_first_value_as_section():
    blocks = extract((KNOWLEDGE / "kits.csv").read_bytes(), "kits.csv").blocks

    assert len(blocks) == 4
    assert blocks[1].headings == ("kit: Kit Residencial 5 kWp",)
    assert "preço à vista: R$ 21.500" in blocks[1].text


def test_plain_text_uppercase_lines_are_headings_and_windows_1252_files_are_read():
    text = "GARANTIA DO INVERSOR\n\nO inversor tem 10 anos de garantia.\n\nCOMO ACIONAR\n\nEnvie uma mensagem."
    blocks = extract(text.encode("cp1252"), "garantia.txt").blocks

    assert [(b.headings, b.text) for b in blocks] == [
        (("Garantia do inversor",), "O inversor tem 10 anos de garantia."),
        (("Como acionar",), "Envie uma mensagem."),
    ]


def test_a_text_pdf_gives_its_text_with_page_numbers_and_headings_across_pages():
    pdf = text_pdf([["GARANTIA", "Os painéis têm 12 anos de garantia contra defeitos de fabricação."],
                    ["Continuação: o inversor tem 10 anos de garantia do fabricante."],
                    ["2. INSTALAÇÃO", "A instalação leva de 1 a 3 dias em uma casa."]])

    extraction = extract(pdf, "manual.pdf")

    assert not extraction.needs_scan_reader and extraction.pages == 3
    assert [(b.page, b.headings) for b in extraction.blocks] == [
        (1, ("Garantia",)), (2, ("Garantia",)), (3, ("2. Instalação",))]
    assert "têm 12 anos" in extraction.blocks[0].text


def test_a_pdf_without_a_text_layer_is_flagged_for_the_scan_reader():
    extraction = extract(scanned_pdf(pages=3), "contrato-digitalizado.pdf")

    assert extraction.needs_scan_reader and extraction.blocks == [] and extraction.pages == 3


def test_docx_headings_title_and_tables_are_kept():
    data = docx_file("Garantia Solar Prime", [("Inversor", ["O inversor tem 10 anos."]), ("Estrutura", ["Dez anos."])],
                     table=[["Item", "Prazo"], ["Painéis", "12 anos"]])

    blocks = extract(data, "garantia.docx").blocks

    assert [(b.headings, b.text) for b in blocks] == [
        (("Garantia Solar Prime", "Inversor"), "O inversor tem 10 anos."),
        (("Garantia Solar Prime", "Estrutura"), "Dez anos."),
        (("Garantia Solar Prime", "Estrutura"), "Item | Prazo"),
        (("Garantia Solar Prime", "Estrutura"), "Painéis | 12 anos"),
    ]


def test_the_format_comes_from_the_extension_first_then_the_content_type():
    assert kind_of("Tabela.CSV", "application/octet-stream") == "csv"
    assert kind_of("sem-extensao", "text/markdown; charset=utf-8") == "md"


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("planilha.xlsx", b"PK\x03\x04", "not supported"),
    ("foto.jpg", b"\xff\xd8\xff", "not supported"),
    ("quebrado.pdf", b"%PDF-1.4 isto nao e um pdf", "could not be read"),
    ("quebrado.docx", b"not a zip", "could not be read"),
])
def test_files_that_cannot_become_text_are_refused_with_a_reason(name, data, reason):
    with pytest.raises(UnsupportedDocument, match=reason):
        extract(data, name, None)


def test_a_scan_transcript_keeps_its_page_markers_and_markdown_headings():
    transcript = "=== página 1 ===\n# Contrato\nCláusula de garantia.\n=== Página 2 ===\n## Prazos\nDez anos."

    blocks = transcript_blocks(transcript)

    assert [(b.page, b.headings, b.text) for b in blocks] == [
        (1, ("Contrato",), "Cláusula de garantia."), (2, ("Contrato", "Prazos"), "Dez anos.")]
