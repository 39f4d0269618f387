"""The Python API for pipelines: what ``from fhirbridge import convert, validate, ...`` gives.

These functions take what a program has at hand and hand it to the engine (``fhirbridge.api``), which the CLI
and the service call too:

- **inputs**: one or a list of paths (``str`` or ``Path``; folders are expanded as the CLI expands them),
  ``bytes``, binary or text file objects, parsed FHIR JSON (a ``dict``: a Bundle or a resource; a list of
  resource dicts: read as NDJSON), ``(name, content)`` pairs or ``Source`` objects that name in-memory content
  for issues and format detection (CSV tables are recognised by name: ``("subjects.csv", data)``);
- **formats** are told from the content, as ``fhirbridge validate`` tells them, unless ``source`` says;
- **enums as plain strings**: ``fail_on="warning"``, ``source="fhir"``, ``fhir_format="ndjson"``;
- **options** as keywords (the fields of ``ConvertOptions``) or a ``ConvertOptions``, or both (keywords win).

Problems of the data are issues in the returned Report; a call that cannot be carried out as asked (an unknown
option or value, an unsupported combination) raises a ``FhirbridgeError``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import orjson

from fhirbridge import api
from fhirbridge.errors import InvalidOption
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.inputs import Input, Source, detect_format, sources
from fhirbridge.issues.issue import Issue, Severity
from fhirbridge.issues.report import Report
from fhirbridge.mapping.loader import MappingError
from fhirbridge.records import IsncsciClassification, StudyData

Inputs = Input | Sequence[Input]
#: The severities ``fail_on`` may name: the lowest that makes a run fail.
FAIL_ON = ("error", "warning")


def read(inputs: Inputs, *, source: str | None = None, options: ConvertOptions | None = None,
         **settings: Any) -> tuple[StudyData, Report]:
    """Read inputs of one format into records, with the Report of every problem found on the way.

    >>> data, report = read("examples/honmou2021/csv")
    >>> len(data.subjects), report.exit_code
    (13, 0)
    """
    found, chosen = _inputs(inputs, source, api.SOURCE_FORMATS)
    report = Report()
    try:
        data = api.read(found, report, source=chosen, options=_options(options, settings))
    except MappingError as exc:
        report.add(Issue.of("FB-MAP-001", str(exc)))
        data = StudyData()
    return data, report


def validate(inputs: Inputs, *, source: str | None = None, fail_on: str | Severity = "error",
             select: str | Sequence[str] = (), ignore: str | Sequence[str] = (), max_issues: int | None = None,
             options: ConvertOptions | None = None, **settings: Any) -> Report:
    """Check inputs without writing anything, running every layer that applies to their format (as
    ``fhirbridge validate``). ``select`` / ``ignore`` keep or drop issue codes or prefixes (a list, or one string
    separated by commas: ``ignore="FB-FHIR-011,FB-CSV-002"``); past ``max_issues`` issues are only counted."""
    found = sources(inputs)
    if source is not None:
        _choice("source", source, api.SOURCE_FORMATS)
    return api.validate(found, source=source, options=_options(options, settings), fail_on=_fail_on(fail_on),
                        select=_codes(select), ignore=_codes(ignore), max_issues=max_issues)


def convert(inputs: Inputs, outdir: str | Path, *, source: str | None = None, target: str = "fhir",
            fail_on: str | Severity = "error", options: ConvertOptions | None = None, **settings: Any) -> Report:
    """Convert inputs into ``target`` files in ``outdir`` (as ``fhirbridge convert``); the good records are
    written even when others fail, and ``Report.outputs`` lists the files written. A format that cannot be
    told from the content is read as CSV, the command line's default."""
    found, chosen = _inputs(inputs, source, api.SOURCE_FORMATS)
    return api.convert(found, Path(outdir), source=chosen, target=_choice("target", target, api.TARGET_FORMATS),
                       options=_options(options, settings), fail_on=_fail_on(fail_on))


def write(data: StudyData, target: str, outdir: str | Path, *, fail_on: str | Severity = "error",
          options: ConvertOptions | None = None, **settings: Any) -> Report:
    """Write records (read, or built in Python) as ``target`` files in ``outdir``, after checking them."""
    report = Report(fail_on=_fail_on(fail_on))
    chosen = _choice("target", target, api.TARGET_FORMATS)
    try:
        api.write(data, Path(outdir), report, target=chosen, options=_options(options, settings))
    except MappingError as exc:
        report.add(Issue.of("FB-MAP-001", str(exc)))
    return report


def classify(exams: Inputs, *, source: str | None = None, options: ConvertOptions | None = None,
             **settings: Any) -> tuple[list[tuple[str, IsncsciClassification]], Report]:
    """Classify ISNCSCI exams (2019 rules), in input order, as ``fhirbridge isncsci classify``: a JSON list of
    exams in the reference algorithm's flat layout (a ``.json`` file, or the parsed list or exam dict itself),
    or one exam file or folder of a format fhirbridge reads (``source``; default csv). Each result is labelled
    with the exam's id (flat layout) or ``subject/visit``."""
    if isinstance(exams, list) and exams and all(isinstance(e, dict) for e in exams):
        found = [Source(orjson.dumps(exams), name="<exams>.json")]  # flat exams, not FHIR resources
    else:
        found = sources(exams)
    if len(found) != 1:
        raise InvalidOption(f"classify reads one input (a file, a folder or content), not {len(found)}")
    if source is not None:
        _choice("source", source, api.SOURCE_FORMATS)
    return api.classify(found[0], source=source, options=_options(options, settings))


def _inputs(inputs: Inputs, source: str | None, allowed: tuple[str, ...]) -> tuple[list[Path | Source], str]:
    """The inputs as the readers take them, and their format: ``source``, else told from the content, else
    csv."""
    found = sources(inputs)
    if source is not None:
        return found, _choice("source", source, allowed)
    return found, detect_format(found) or "csv"


def _codes(value: str | Sequence[str]) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    return tuple(code.strip() for code in items if code.strip())


def _choice(name: str, value: object, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidOption(f"{name}={value!r} is not one of: {', '.join(allowed)}")
    return value


def _fail_on(value: str | Severity) -> Severity:
    if isinstance(value, Severity):
        value = str(value)
    return Severity.parse(_choice("fail_on", value, FAIL_ON))


def _options(options: ConvertOptions | None, settings: dict[str, Any]) -> ConvertOptions:
    """``options`` with ``settings`` (keyword options) applied, every value checked: a value outside an option's
    choices raises InvalidOption listing them; mapping spec paths may be ``str``."""
    known = {f.name for f in dataclasses.fields(ConvertOptions)}
    for name in settings:
        if name not in known:
            raise InvalidOption(f"unknown option {name!r}; the options are: {', '.join(sorted(known))}")
    chosen = dataclasses.replace(options or ConvertOptions(), **settings)
    for name, hint in typing.get_type_hints(ConvertOptions).items():
        value = getattr(chosen, name)
        allowed = _literal_values(hint)
        if allowed and value is not None:
            _choice(name, value, allowed)
        elif isinstance(value, str) and Path in typing.get_args(hint):
            setattr(chosen, name, Path(value))
    return chosen


def _literal_values(hint: Any) -> list[str]:
    """The values a ``Literal`` type hint allows, also inside ``Literal[...] | None``."""
    if typing.get_origin(hint) is Literal:
        return list(typing.get_args(hint))
    return [value for member in typing.get_args(hint) for value in _literal_values(member)]
