"""Opening exported text files whatever encoding the exporting tool chose.

Exports from spreadsheet tools are often Windows-1252 or Latin-1, sometimes with a UTF-8 byte order mark
glued in front. We decode UTF-8 when the file is UTF-8, and otherwise fall back to Windows-1252 and then
Latin-1 (which never fails), and say so in the report rather than guessing silently. A file that starts with a
UTF-16 or UTF-32 byte order mark (as spreadsheet tools write "Unicode text") is decoded by it and read as UTF-8.
"""

from __future__ import annotations

import codecs
import io
from typing import IO

from fhirbridge.inputs import Source
from fhirbridge.issues.issue import Issue
from fhirbridge.issues.report import Report

UTF8_BOM = codecs.BOM_UTF8
_FALLBACKS = ("cp1252", "latin-1")
#: Byte order marks of the wide encodings, longest first (the UTF-32 LE mark starts with the UTF-16 LE one).
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
              (codecs.BOM_UTF16_BE, "utf-16"))


class Undecodable(Exception):
    """A file whose byte order mark names an encoding its bytes do not follow."""


def as_utf8(path: Source) -> tuple[Source, str | None]:
    """``path`` itself, or, when it starts with a UTF-16 or UTF-32 byte order mark, its text as UTF-8 in memory
    (named as the file) and the encoding it was decoded from. Raises Undecodable naming the encoding."""
    head = path.head()[:4]
    for bom, encoding in _WIDE_BOMS:
        if head.startswith(bom):
            try:
                text = path.read_bytes().decode(encoding)
            except UnicodeDecodeError as exc:
                raise Undecodable(f"cannot decode as {encoding} (byte order mark): {exc.reason} at byte "
                                  f"{exc.start}") from None
            return Source(text.encode("utf-8"), name=str(path)), encoding
    return path, None


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


def open_csv(path: Source, report: Report) -> tuple[Source, IO[bytes], str, bool] | None:
    """The file as it is read (a UTF-16 or UTF-32 file as UTF-8 in memory), a binary handle at its start, the
    encoding its text decodes with and whether a UTF-8 byte order mark leads it; the encoding note (FB-IO-003)
    goes to ``report``. None when the file cannot be opened (FB-IO-001) or decoded (FB-IO-004), reported."""
    name = str(path)
    try:
        path, wide = as_utf8(path)
        encoding, has_bom = detect_encoding(path)
        handle = path.open()
    except OSError as exc:
        report.add(Issue.of("FB-IO-001", f"cannot open file: {exc.strerror or exc}", file=name))
        return None
    except Undecodable as exc:
        report.add(Issue.of("FB-IO-004", str(exc), file=name))
        return None
    if (note := encoding_issue(name, encoding, has_bom, wide)) is not None:
        report.add(note)
    return path, handle, encoding, has_bom


def encoding_issue(name: str, encoding: str, has_bom: bool, wide: str | None = None) -> Issue | None:
    """The report's note that a file was not read as UTF-8 (None when it was); ``wide`` names the UTF-16 or
    UTF-32 encoding its byte order mark gave."""
    if wide is not None:
        return Issue.of("FB-IO-003", f"file is {wide.upper()} (byte order mark); read as {wide}", file=name,
                        value=wide)
    if encoding == "utf-8":
        return None
    bom = " despite its UTF-8 byte order mark" if has_bom else ""
    return Issue.of("FB-IO-003", f"file is not UTF-8{bom}; read as {encoding}", file=name, value=encoding)
