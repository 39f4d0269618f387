"""What fhirbridge reads from: files on disk, or content a program already holds, behind one seam.

A ``Source`` is one input file, on disk or in memory, with the name issues give it. The readers open every
input through it (``open``, ``read_bytes``, ``json``), so that a pipeline or the service can hand over bytes, a
file object or parsed FHIR JSON without writing a temporary file, and issues name what the caller named.
A Source is named like a file: ``name``, ``suffix`` and ``stem`` tell the readers its format and its table
(``subjects.csv``, ``dm.xpt``); an unnamed one is called ``<bytes>``, ``<stream>``, ``<json>`` or
``<resources>`` and its suffix is told from its content.

Folders stay ``Path`` objects until a reader expands them (``expand``), each reader picking its files.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO, TypeAlias

import orjson

from fhirbridge.errors import InvalidOption
from fhirbridge.issues.issue import Issue

#: What one input's content may be given as (see ``Source``).
Content: TypeAlias = (str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes] | IO[str] | dict[str, Any]
                      | list[Any])

#: How much of an input format detection looks at.
HEAD = 4096
#: How far telling NDJSON from JSON reads to find the end of the first line (one resource per line).
SNIFF_LIMIT = 64 * 1024 * 1024
_NOT_SPACE = re.compile(rb"\S")


class Source:
    """One input file, on disk or in memory, and the name issues give it.

    ``Source(content, name=None)`` takes a path (``str`` or ``Path``: a file on disk), ``bytes``, a binary or
    text file object (read at once; a text one is encoded as UTF-8), a parsed FHIR JSON document (``dict``: a
    Bundle or a resource) or a list of parsed resources (read as NDJSON, one resource per line, so that an
    issue's row is the resource's position from 1). ``name`` is what issues call it; by default a file's path,
    a file object's ``name``, else ``<bytes>``, ``<stream>``, ``<json>`` or ``<resources>``.
    """

    __slots__ = ("_data", "_parsed", "_path", "label", "suffix")

    def __init__(self, content: Content, name: str | None = None) -> None:
        self._path: Path | None = None
        self._data: bytes | None = None
        self._parsed: Any = None
        default, suffix = "<bytes>", ""
        if isinstance(content, str | os.PathLike):
            self._path = Path(content)
            default = str(content)
        elif isinstance(content, bytes | bytearray | memoryview):
            self._data = bytes(content)
        elif isinstance(content, dict):
            self._parsed, default, suffix = content, "<json>", ".json"
        elif isinstance(content, list):
            if not all(isinstance(r, dict) for r in content):
                raise InvalidOption("a list given as input holds parsed FHIR resources (dicts) only")
            self._data, default, suffix = b"".join(orjson.dumps(r) + b"\n" for r in content), "<resources>", ".ndjson"
        elif hasattr(content, "read"):
            data = content.read()
            self._data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
            own = getattr(content, "name", None)
            default = own if isinstance(own, str) else "<stream>"
        else:
            raise InvalidOption(f"cannot read input of type {type(content).__name__}: give a path, bytes, a file "
                                "object, a parsed FHIR JSON document (dict) or a list of parsed resources")
        #: what issues call this input
        self.label: str = name or default
        #: the format suffix (``.csv``): the name's, else told from the content
        self.suffix: str = PurePosixPath(self.label).suffix or suffix or _sniffed_suffix(self._opening_lines())

    @classmethod
    def of(cls, item: Input) -> Path | Source:
        """An input as the readers take it: a path stays a ``Path`` (it may be a folder); a ``(name, content)``
        tuple names its content."""
        if isinstance(item, Source | Path):
            return item
        if isinstance(item, str | os.PathLike):
            return Path(item)
        if isinstance(item, tuple):
            if len(item) != 2 or not isinstance(item[0], str):
                raise InvalidOption("a tuple given as input is (name, content)")
            return cls(item[1], name=item[0])
        return cls(item)

    @property
    def name(self) -> str:
        """The last part of the label, as ``Path.name``: what file patterns and dataset names are matched on."""
        return PurePosixPath(self.label).name

    @property
    def stem(self) -> str:
        name = self.name
        return name[: -len(self.suffix)] if self.suffix and name.lower().endswith(self.suffix.lower()) else name

    @property
    def path(self) -> Path | None:
        """The file on disk, or None for content in memory."""
        return self._path

    @property
    def parsed(self) -> Any:
        """The JSON document handed over already parsed (shared with the caller, never changed), else None."""
        return self._parsed

    def __str__(self) -> str:
        return self.label

    def __repr__(self) -> str:
        return f"Source({self.label!r})"

    def open(self) -> BinaryIO:
        """A new binary stream over the content, from its start (OSError when a file cannot be opened)."""
        if self._path is not None:
            return self._path.open("rb")
        return io.BytesIO(self.read_bytes())

    def read_bytes(self) -> bytes:
        if self._path is not None:
            return self._path.read_bytes()
        if self._data is None:
            self._data = orjson.dumps(self._parsed)
        return self._data

    def json(self) -> Any:
        """The parsed JSON: as handed over, else parsed from the bytes (``orjson.JSONDecodeError`` if it is not
        JSON)."""
        if self._parsed is not None:
            return self._parsed
        return orjson.loads(self.read_bytes())

    @contextmanager
    def local_path(self) -> Iterator[Path]:
        """A path to the content, for libraries that read only files named by a path (pyreadstat): the file
        itself, or a temporary copy of content in memory, removed afterwards."""
        if self._path is not None:
            yield self._path
            return
        with tempfile.TemporaryDirectory(prefix="fhirbridge-") as folder:
            copy = Path(folder) / f"input{self.suffix}"
            copy.write_bytes(self.read_bytes())
            yield copy

    def _opening_lines(self) -> bytes:
        """Enough of the start to hold its first two lines (up to ``SNIFF_LIMIT``): whether content is NDJSON
        depends on whether its first line is a whole JSON document, and one resource may be longer than ``HEAD``."""
        if self._path is None:
            return self.read_bytes()
        try:
            with self._path.open("rb") as handle:
                data = handle.read(HEAD)
                while data.count(b"\n") < 2 and len(data) < SNIFF_LIMIT and (more := handle.read(len(data))):
                    data += more
                return data
        except (OSError, ValueError):  # unreadable, or a name no file can have (a NUL in it)
            return b""

    def head(self) -> bytes:
        """The first bytes, for telling the format (empty when the file cannot be read)."""
        if self._path is None:
            return self.read_bytes()[:HEAD]
        try:
            with self._path.open("rb") as handle:
                return handle.read(HEAD)
        except (OSError, ValueError):  # unreadable, or a name no file can have (a NUL in it)
            return b""


#: One input: content, a Source, or a ``(name, content)`` pair that names in-memory content.
Input: TypeAlias = Content | Source | tuple[str, Content]


def _sniffed_suffix(data: bytes) -> str:
    """The suffix unnamed content would have: XML, NDJSON, JSON, CSV; none when it is empty.

    NDJSON is told by its first line being a whole JSON object followed by another line that opens one: a JSON
    document written an entry per line (as fhirbridge writes compact bundles) also has lines opening with ``{``,
    but its first line is not a document of its own."""
    found = _NOT_SPACE.search(data)
    if found is None:
        return ""
    start = found.start()
    first = data[start:start + 1]
    if first == b"<":
        return ".xml"
    if first == b"[":
        return ".json"
    if first != b"{":
        return ".csv"
    end = data.find(b"\n", start)
    following = _NOT_SPACE.search(data, end) if end >= 0 else None
    if following is None or data[following.start():following.start() + 1] != b"{":
        return ".json"
    try:
        orjson.loads(data[start:end])
    except orjson.JSONDecodeError:
        return ".json"
    return ".ndjson"
    return ".csv"


def sources(inputs: Input | Sequence[Input]) -> list[Path | Source]:
    """One input or several (a list, tuple or other iterable), as the readers take them (see ``Source.of``).

    A list or tuple holds several inputs, except a list of dicts only (one input: parsed resources) and a
    ``(name, content)`` pair (one named input; its content is never a ``str``, which would be a path)."""
    if isinstance(inputs, list) and inputs and all(isinstance(i, dict) for i in inputs):
        return [Source(inputs)]
    if isinstance(inputs, tuple) and len(inputs) == 2 and isinstance(inputs[0], str) \
            and not isinstance(inputs[1], str | os.PathLike):
        return [Source.of(inputs)]
    if isinstance(inputs, list | tuple) or (isinstance(inputs, Iterable) and not hasattr(inputs, "read")
                                            and not isinstance(inputs, str | bytes | bytearray | memoryview | dict)):
        return [Source.of(i) for i in inputs]
    return [Source.of(inputs)]


def expand(inputs: Iterable[Path | Source], pick: Callable[[Path], Iterable[Path]]) -> list[Source]:
    """The files to read: a folder gives the files ``pick`` chooses in it, in the order given, except hidden ones
    (such as the listing of a conversion's outputs); a file or a Source is itself."""
    found: list[Source] = []
    for item in inputs:
        if isinstance(item, Source):
            found.append(item)
        elif is_folder(item):
            found.extend(Source(p) for p in pick(item) if not p.relative_to(item).as_posix().startswith("."))
        else:
            found.append(Source(item))
    return found


def missing(inputs: Iterable[Path | Source]) -> list[Path]:
    """The paths among ``inputs`` that do not exist (content in memory always does)."""
    return [p for p in inputs if isinstance(p, Path) and not exists(p)]


def exists(path: Path) -> bool:
    """Whether ``path`` exists; a name the system refuses (too long, say: content given as a ``str`` is a path)
    does not, rather than raising where ``Path.exists`` would."""
    try:
        path.stat()
    except (OSError, ValueError):
        return False
    return True


def no_such_file(path: Path) -> Issue:
    """FB-IO-001 for a path that does not exist, with a word for a caller who gave content as a ``str`` (which
    names a file), and the name cut short when it is too long to be one."""
    name = str(path)
    looks_like_content = name.lstrip()[:1] in ("{", "<", "[")
    hint = " (it looks like content: in Python a str is a path, content goes as bytes)" if looks_like_content else ""
    return Issue.of("FB-IO-001", "no such file or folder" + hint, file=name if len(name) <= 200 else name[:200] + "…")


def is_folder(path: Path) -> bool:
    return exists(path) and path.is_dir()


def detect_format(inputs: Iterable[Path | Source]) -> str | None:
    """csv, sdtm or fhir, from the inputs' content: FHIR JSON names a resourceType, SDTM tables have DOMAIN or
    USUBJID columns (or are XPT, Dataset-JSON or Dataset-XML files); None when nothing tells."""
    for source in expand(inputs, lambda folder: sorted(f for f in folder.rglob("*") if f.is_file())):
        if source.path is not None and not (exists(source.path) and source.path.is_file()):
            continue
        suffix = source.suffix.lower()
        if suffix == ".xpt":
            return "sdtm"
        if suffix not in (".json", ".ndjson", ".jsonl", ".xml", ".csv"):
            continue
        head = source.head().decode("utf-8", errors="replace")
        if suffix == ".csv":
            header = head.splitlines()[0].upper() if head else ""
            if "USUBJID" in header or "DOMAIN" in header.replace('"', "").split(","):
                return "sdtm"
            return "csv"
        if '"resourceType"' in head or "http://hl7.org/fhir" in head:
            return "fhir"
        if "datasetJSONVersion" in head or "clinicalData" in head or "cdisc.org/ns/odm" in head:
            return "sdtm"
    return None
