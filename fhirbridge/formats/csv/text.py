"""Opening exported text files whatever encoding the exporting tool chose.

Exports from spreadsheet tools are often Windows-1252 or Latin-1, sometimes with a UTF-8 byte order mark
glued in front. We decode UTF-8 when the file is UTF-8, and otherwise fall back to Windows-1252 and then
Latin-1 (which never fails), and say so in the report rather than guessing silently.
"""

from __future__ import annotations

import codecs
import io

from fhirbridge.inputs import Source
from fhirbridge.issues.issue import Issue

UTF8_BOM = codecs.BOM_UTF8
_FALLBACKS = ("cp1252", "latin-1")


def detect_encoding(path: Source, chunk_size: int = 1 << 20) -> tuple[str, bool]:
    """The encoding to read ``path`` with, and whether it starts with a UTF-8 byte order mark.

    The whole file is scanned in chunks (flat memory) because a single non-UTF-8 byte may sit anywhere.
    """
    with path.open() as handle:
        has_bom = handle.read(len(UTF8_BOM)) == UTF8_BOM
        if not has_bom:
            handle.seek(0)
        for encoding in ("utf-8", *_FALLBACKS):
            decoder = codecs.getincrementaldecoder(encoding)()
            try:
                while chunk := handle.read(chunk_size):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                handle.seek(len(UTF8_BOM) if has_bom else 0)
                continue
            return encoding, has_bom
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def open_text(path: Source) -> tuple[io.TextIOWrapper, str, bool]:
    """A text handle positioned after any byte order mark, the encoding it decodes with, and whether a
    byte order mark was skipped."""
    encoding, has_bom = detect_encoding(path)
    raw = path.open()
    if has_bom:
        raw.read(len(UTF8_BOM))
    return io.TextIOWrapper(raw, encoding=encoding, newline=""), encoding, has_bom


def encoding_issue(name: str, encoding: str, has_bom: bool) -> Issue | None:
    """The report's note that a file was not read as UTF-8 (None when it was)."""
    if encoding == "utf-8":
        return None
    bom = " despite its UTF-8 byte order mark" if has_bom else ""
    return Issue.of("FB-IO-003", f"file is not UTF-8{bom}; read as {encoding}", file=name, value=encoding)
