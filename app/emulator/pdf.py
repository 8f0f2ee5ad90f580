"""A minimal PDF writer: pages of Helvetica text, enough for a PDF reader to open the
document and for a test to read its text back.

The file follows ISO 32000-1 in its simplest form: a header, numbered objects (catalog,
page tree, pages, one standard Type1 font, uncompressed content streams, an info
dictionary), a cross-reference table whose entries are the byte offsets of the objects
(20 bytes each, §7.5.4) and a trailer with `startxref`. Text is WinAnsi (Latin-1 here;
other characters become `?`), each line one `Tj` in a `BT ... ET` block.
"""

from __future__ import annotations

from collections.abc import Sequence

PAGE_WIDTH = 612  # US Letter, in points
PAGE_HEIGHT = 792
MARGIN = 72
FONT_SIZE = 11
LEADING = 15
LINES_PER_PAGE = (PAGE_HEIGHT - 2 * MARGIN) // LEADING


def pdf_text(text: str) -> bytes:
    """A PDF literal string: `(...)` with backslash, parentheses and line breaks escaped."""
    raw = text.encode("latin-1", errors="replace")
    escaped = (
        raw.replace(b"\\", b"\\\\")
        .replace(b"(", b"\\(")
        .replace(b")", b"\\)")
        .replace(b"\r", b" ")
        .replace(b"\n", b" ")
    )
    return b"(" + escaped + b")"


def _content(lines: Sequence[str]) -> bytes:
    parts = [
        b"BT",
        f"/F1 {FONT_SIZE} Tf".encode(),
        f"{LEADING} TL".encode(),
        f"{MARGIN} {PAGE_HEIGHT - MARGIN} Td".encode(),
    ]
    for index, line in enumerate(lines):
        if index:
            parts.append(b"T*")
        parts.append(pdf_text(line) + b" Tj")
    parts.append(b"ET")
    return b"\n".join(parts) + b"\n"


def render_pdf(lines: Sequence[str], title: str) -> bytes:
    """A whole PDF file showing `lines` top to bottom, as many pages as they need."""
    chunks = [list(lines[i : i + LINES_PER_PAGE]) for i in range(0, len(lines), LINES_PER_PAGE)]
    chunks = chunks or [[]]
    # Objects: 1 catalog, 2 page tree, 3 font, 4 info, then per page its page and content.
    first_page = 5
    page_ids = [first_page + 2 * n for n in range(len(chunks))]
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        (
            "<< /Type /Pages /Kids ["
            + " ".join(f"{p} 0 R" for p in page_ids)
            + f"] /Count {len(page_ids)} >>"
        ).encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Title " + pdf_text(title) + b" /Producer (qbo-sync QBO emulator) >>",
    ]
    for page_id, chunk in zip(page_ids, chunks, strict=True):
        stream = _content(chunk)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {page_id + 1} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"endstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode()
    out += b"0000000000 65535 f\r\n"
    for offset in offsets:
        out += f"{offset:010d} 00000 n\r\n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 4 0 R >>\n"
        f"startxref\n{xref_at}\n%%EOF\n"
    ).encode()
    return bytes(out)
