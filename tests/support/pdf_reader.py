"""Reading back the PDFs the emulator writes, without a PDF library: the structure a
reader relies on (header, cross-reference offsets, trailer) and the text of `Tj` strings."""

from __future__ import annotations

import re

_OBJ = re.compile(rb"(\d+) 0 obj\n")
_STREAM = re.compile(rb"<< /Length (\d+) >>\nstream\n")
_STRING = re.compile(rb"\(((?:\\.|[^\\)])*)\) Tj")


def check_structure(data: bytes) -> int:
    """Assert the file is a well-formed PDF whose xref points at its objects; returns
    the number of objects."""
    assert data.startswith(b"%PDF-1."), data[:16]
    assert data.rstrip().endswith(b"%%EOF")
    xref_at = int(data[data.rindex(b"startxref") :].split()[1])
    assert data[xref_at : xref_at + 5] == b"xref\n"
    header = data[xref_at:].split(b"\n", 2)
    first, count = (int(x) for x in header[1].split())
    assert first == 0
    entries = data[xref_at + len(header[0]) + len(header[1]) + 2 :]
    for number in range(count):
        entry = entries[number * 20 : number * 20 + 20]
        assert len(entry) == 20, entry
        assert entry.endswith(b"\r\n"), entry
        offset, _, kind = entry[:18].split(b" ")
        if number == 0:
            assert kind == b"f"
            continue
        assert kind == b"n"
        found = _OBJ.match(data, int(offset))
        assert found is not None, (number, offset)
        assert int(found.group(1)) == number, (number, offset)
    trailer = data[data.rindex(b"trailer") :]
    assert f"/Size {count}".encode() in trailer
    assert b"/Root 1 0 R" in trailer
    return count - 1


def page_text(data: bytes) -> list[str]:
    """The text lines of every content stream, in order (escapes undone)."""
    lines: list[str] = []
    for match in _STREAM.finditer(data):
        start = match.end()
        stream = data[start : start + int(match.group(1))]
        assert data[start + int(match.group(1)) :].startswith(b"endstream")
        for text in _STRING.findall(stream):
            lines.append(re.sub(rb"\\(.)", rb"\1", text).decode("latin-1"))
    return lines
