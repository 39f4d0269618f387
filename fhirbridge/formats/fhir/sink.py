"""Hub records → FHIR files, a chunk of whole subjects at a time (see ``fhirbridge.pipeline``).

In the worker, a chunk becomes units of resources (``writer``: the study's, then one per subject, each closed by
its Provenance), which are checked (``checker.output.check_bundle``, with the study's entries so that references
to the study resolve) and turned into bytes: a JSON or XML Bundle entry, or an NDJSON line with relative
references. Here, the bytes are written in order into the output files (``files``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson
from pydantic_core import ValidationError

from fhirbridge.formats.fhir.checker.output import check_bundle
from fhirbridge.formats.fhir.checker.screen import primitive_checker
from fhirbridge.formats.fhir.context import FhirContext, Resource
from fhirbridge.formats.fhir.files import BundleFiles, NdjsonFiles, NdjsonPart, Place, Unit, ndjson_part, spill_part
from fhirbridge.formats.fhir.models import FHIR_VERSIONS, Release
from fhirbridge.formats.fhir.ndjson import relative_line
from fhirbridge.formats.fhir.templates import ANY_TARGET, Written, relative_references
from fhirbridge.formats.fhir.writer import (
    conversion_time,
    entry,
    study_unit,
    subject_units,
)
from fhirbridge.formats.options import ConvertOptions, Derived, UnsupportedOption
from fhirbridge.issues.issue import Issue
from fhirbridge.issues.report import Report
from fhirbridge.mapping.fhir_mapping import load_fhir_mapping
from fhirbridge.records import StudyData


@dataclass
class Rendered:
    """One chunk as bytes: its units (the study's first, in the first chunk only), and the studies' entries
    (every Bundle file starts with them)."""

    units: list[Unit] = field(default_factory=list)
    study: Unit | None = None
    #: what the output check found, about the chunk's n-th entry (``Bundle.entry[n]``) until it is written
    issues: list[Issue] = field(default_factory=list)
    #: NDJSON: the chunk's lines packed by resource type, instead of ``units``
    ndjson: NdjsonPart | None = None


class FhirSink:
    def __init__(self, outdir: Path, report: Report, options: ConvertOptions) -> None:
        if options.fhir_format == "ndjson" and options.bundle_type != "collection":
            raise UnsupportedOption(
                "NDJSON holds resources, not a Bundle: --bundle-type transaction needs --fhir-format json or xml"
            )
        if options.fhir_format == "ndjson" and (options.bundle_size or options.bundle_per_subject):
            raise UnsupportedOption(
                "NDJSON holds resources, not Bundles: --bundle-size and --bundle-per-subject "
                "need --fhir-format json or xml"
            )
        self.outdir = outdir
        self.options = options
        self.release: Release = options.fhir_version or "R4"
        self.recorded = conversion_time()  # once per run, in the parent: every worker writes the same time
        self.parts: Path | None = None  # in a worker process: where its NDJSON parts are left for the parent
        mapping = load_fhir_mapping(options.fhir_mapping)
        report.header.update(
            {"fhir_release": FHIR_VERSIONS[self.release], "fhir_mapping": f"{mapping.spec} {mapping.version}"}
        )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("ctx", None)  # made again in each worker
        state["options"] = _portable(self.options)
        return state

    @cached_property
    def ctx(self) -> FhirContext:
        return FhirContext(load_fhir_mapping(self.options.fhir_mapping), self.release)

    def prepare(self) -> None:
        """What every worker needs, made before they are forked: the context and the output checker."""
        if self.release != "R5":
            _ = self.ctx
            check_bundle({"entry": []}, self.release)

    # in the worker -----------------------------------------------------------------------------------------
    def in_worker(self, parts: Path) -> None:
        """This sink renders chunks in a worker process: the NDJSON bytes of each are left in a file in
        ``parts`` (``files.spill_part``)."""
        self.parts = parts

    def render(self, chunk: StudyData, derived: Derived, first: bool, report: Report) -> Rendered:
        study = study_unit(self.ctx, chunk, self.recorded)
        units = [study] if first and study else []
        if self.options.fhir_format == "ndjson" and self.release != "R5":
            units.extend(subject_units(self.ctx, chunk, derived, self.recorded, templates=True))
            return self._render_ndjson(units, study, first)
        units.extend(subject_units(self.ctx, chunk, derived, self.recorded))
        kind = self.options.bundle_type
        entries = [entry(r, kind) for unit in units for r in unit]
        checked = len(entries)
        with_study = entries if first else entries + [entry(r, kind) for r in study]
        found = [i for i in check_bundle({"entry": with_study}, self.release) if _entry_index(i) < checked]
        encode = self._encoder(units, study, found)
        rendered = Rendered(issues=found)
        for start, unit in zip(_starts(units), units, strict=True):
            rendered.units.append(Unit(unit[0]["id"], [encode(entries[n], n) for n in range(start, start + len(unit))]))
        if first and study and self.options.fhir_format != "ndjson":
            rendered.study = rendered.units[0]
        return rendered

    def _render_ndjson(self, units: list[list[Any]], study: list[Resource], first: bool) -> Rendered:
        """NDJSON lines of the units, whose resources are dicts or ``Written`` from templates: a Written of a
        proven template whose values pass is not checked again; the others are built as dicts and checked whole
        (and prove their template when they pass)."""
        types: dict[str, str] = {}  # id → resource type, of every resource of the chunk and the study
        for unit in (*units, study):
            for r in unit:
                if isinstance(r, Written):
                    types[r.rid] = r.template.rtype
                else:
                    types[r["id"]] = r["resourceType"]
        resources = [r for unit in units for r in unit]
        built: dict[int, Resource] = {}
        shaped = []  # the Written whose shape, items and references pass: their values are checked together
        for n, r in enumerate(resources):
            if not isinstance(r, Written):
                continue
            if r.template.proven and r.items_proven():  # the common case: its references are all to check
                if _targets_found(r, types):
                    shaped.append(n)
                    continue
            else:
                built[n] = r.build()
                _prove(r, built[n], self.release)
                if r.template.proven and _shaped(r, types):
                    shaped.append(n)
                    continue
            resources[n] = built.get(n) or r.build()
        proven = set(shaped)
        for n in _failing_values([resources[n] for n in shaped], shaped):
            proven.discard(n)
            resources[n] = built.get(n) or resources[n].build()
        entries = [
            {"fullUrl": f"urn:uuid:{r.rid}", "resource": {"resourceType": r.rtype, "id": r.rid}}
            if n in proven
            else entry(r, "collection")
            for n, r in enumerate(resources)
        ]
        checked = len(entries)
        with_study = entries if first else entries + [entry(r, "collection") for r in study]
        found = [i for i in check_bundle({"entry": with_study}, self.release, proven) if _entry_index(i) < checked]
        references = relative_references(types)
        lines = [
            (r.rtype, r.line(references))
            if isinstance(r, Written)
            else (r["resourceType"], relative_line(orjson.dumps(r), types))
            for r in resources
        ]
        part = ndjson_part(lines)
        return Rendered(issues=found, ndjson=part if self.parts is None else spill_part(part, self.parts))

    def _encoder(self, units: list[list[Resource]], study: list[Resource], found: list[Issue]) -> Any:
        fmt, pretty = self.options.fhir_format, self.options.pretty
        if fmt == "ndjson":
            types = {r["id"]: r["resourceType"] for unit in (*units, study) for r in unit}
            return lambda item, n: (
                item["resource"]["resourceType"],
                relative_line(orjson.dumps(item["resource"]), types),
            )
        if fmt == "xml":
            return lambda item, n: (item["resource"]["resourceType"], _xml_entry(item, n, self.release, pretty, found))
        option = orjson.OPT_INDENT_2 if pretty else 0
        return lambda item, n: (item["resource"]["resourceType"], orjson.dumps(item, option=option))

    # here --------------------------------------------------------------------------------------------------
    def consume(self, parts: Iterator[Rendered], report: Report) -> list[Path]:
        if self.options.fhir_format == "ndjson":
            files: BundleFiles | NdjsonFiles = NdjsonFiles(self.outdir)
        else:
            limit = 1 if self.options.bundle_per_subject else self.options.bundle_size
            files = BundleFiles(
                self.outdir,
                self.ctx,
                self.options.bundle_type,
                self.options.fhir_format,
                self.options.pretty,
                limit,
                self.release,
            )
        try:
            for part in parts:
                if part.ndjson is not None and isinstance(files, NdjsonFiles):
                    place = files.write_part(part.ndjson)
                    report.extend([_placed(i, place, len(part.ndjson.order)) for i in part.issues])
                    continue
                if part.study is not None:
                    files.study(part.study)
                places = [place for unit in part.units for place in files.write(unit)]
                report.extend([_placed(i, places.__getitem__, len(places)) for i in part.issues])
        finally:
            written = files.close()
        report.stats["resources"] = files.entries
        return written


def _portable(options: ConvertOptions) -> ConvertOptions:
    """The options as a worker gets them: no progress callback (it writes to this process's terminal)."""
    return replace(options, progress=None, stages=None)


def _starts(units: list[list[Resource]]) -> list[int]:
    starts, n = [], 0
    for unit in units:
        starts.append(n)
        n += len(unit)
    return starts


def _prove(written: Written, built: Resource, release: Release) -> None:
    """Prove ``written``'s template and items with the resource built the ordinary way, if it passes the whole
    output check and the template fills to its very bytes."""
    if not check_bundle({"entry": [entry(built, "collection")]}, release) and written.encode(None) == orjson.dumps(
        built
    ):
        written.template.proven = True
        written.prove_items()


def _passes(written: Written, types: dict[str, str]) -> bool:
    """A resource of a proven template passes: its items proven, its references to resources of the chunk of
    the types the template was proven with, and its values valid primitives of their types."""
    return _shaped(written, types) and not _failing_values([written], [0])


def _shaped(written: Written, types: dict[str, str]) -> bool:
    """Its items are proven and its references point at resources of the chunk of the types the template was
    proven with."""
    return written.items_proven() and _targets_found(written, types)


def _targets_found(written: Written, types: dict[str, str]) -> bool:
    """Its references point at resources of the chunk of the types the template was proven with."""
    values = written.values
    for n, rtype in written.template.references:
        found = types.get(values[n])
        if found is None or (found != rtype and rtype != ANY_TARGET):
            return False
    return True


def _failing_values(written: list[Written], numbers: list[int]) -> set[int]:
    """The numbers of the resources (``numbers[i]`` is ``written[i]``'s) with a value that is not a valid
    primitive of its type; one check per template."""
    by_kinds: dict[tuple[str, ...], list[int]] = {}
    for i, one in enumerate(written):
        by_kinds.setdefault(one.template.kinds, []).append(i)
    failing: set[int] = set()
    for kinds, members in by_kinds.items():
        try:
            primitive_checker(kinds).validate_python([written[i].primitives() for i in members])
        except ValidationError as exc:
            failing.update(numbers[members[error["loc"][0]]] for error in exc.errors())  # type: ignore[index]
    return failing


def _entry_index(issue: Issue) -> int:
    """The entry an issue of the output check is about (``Bundle.entry[12]...``); -1 when none."""
    target = issue.target or ""
    if not target.startswith("Bundle.entry["):
        return -1
    return int(target[len("Bundle.entry[") : target.index("]")])


def _placed(issue: Issue, place: Callable[[int], Place], entries: int) -> Issue:
    """An issue about a chunk's n-th entry (of ``entries``), made to name where that entry was written (``place``
    of it): the Bundle file and its entry index, or the NDJSON file and line."""
    n = _entry_index(issue)
    if n < 0 or n >= entries:
        return issue
    path, position, rtype = place(n)
    if not path:  # the study's entries, first in every file
        return issue
    rest = (issue.target or "")[len(f"Bundle.entry[{n}]") :]
    if path.endswith(".ndjson"):
        return issue.model_copy(
            update={"file": path, "row": position, "target": rtype + rest.removeprefix(".resource")}
        )
    return issue.model_copy(update={"file": path, "target": f"Bundle.entry[{position}]{rest}"})


def _xml_entry(item: Resource, n: int, release: Release, pretty: bool, found: list[Issue]) -> bytes | None:
    """One Bundle entry as XML, cut from a Bundle holding only it (so that it is indented as in the whole
    document); None, and reported, when it holds text XML cannot carry (control characters)."""
    from fhirbridge.formats.fhir import xml  # lxml: imported by XML output only

    try:
        root = xml.to_xml({"resourceType": "Bundle", "entry": [item]}, release)
    except ValueError as exc:
        found.append(Issue.of("FB-FHIR-003", f"not written as XML: {exc}", target=f"Bundle.entry[{n}]"))
        return None
    document = xml.to_bytes(root) if pretty else xml.compact_bytes(root)
    start = document.index(b"<entry>") - (2 if pretty else 0)
    return document[start : document.rindex(b"</Bundle>")]
