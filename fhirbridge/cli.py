"""The command line: a thin layer that parses options, calls the API and renders its Report.

Exit codes: 0 valid, 1 issues at or above the failing severity, 2 bad usage or unreadable input.
"""

from __future__ import annotations

import atexit
import functools
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import orjson

from fhirbridge import __version__, api
from fhirbridge.errors import FhirbridgeError
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.guards import OwnedOutputs, check_codes
from fhirbridge.issues.issue import Severity
from fhirbridge.issues.registry import OPT_IN, RULES
from fhirbridge.issues.render import FORMATS, render, render_text, use_colour
from fhirbridge.issues.report import Report
from fhirbridge.progress import stage_bars, summary, watched
from fhirbridge.report import SUBJECT_LIMIT

_existing = click.Path(path_type=Path)
FHIR_VERSIONS = ("R4", "R4B", "R5")
SDTM_FORMATS = ("csv", "xpt", "dataset-json", "dataset-xml")


class CannotWrite(click.ClickException):
    """A file or folder that cannot be written: one line on standard error, exit code 2 (1 means issues found)."""

    exit_code = 2


def _emit(report: Report, fmt: str, report_file: Path | None, closing: str | None = None) -> None:
    """Print the report, or write it to ``report_file``, then the ``closing`` line on standard error, and exit with
    the report's exit code."""
    if report_file is not None:
        try:
            report_file.write_text(render(report, fmt), encoding="utf-8")
        except OSError as exc:
            raise CannotWrite(f"cannot write the report to {report_file}: {exc.strerror or exc}") from None
        click.echo(f"report written to {report_file}", err=True)
    else:
        click.echo(render(report, fmt, use_colour(sys.stdout.isatty())), nl=False)
    if closing:
        click.echo(closing, err=True)
    sys.exit(report.exit_code)


def _report_options(formats: tuple[str, ...], formats_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options every command that makes a Report shares, spelled the same everywhere."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed((
            click.option("--format", "fmt", type=click.Choice(formats), default="text", show_default=True,
                         help=formats_help),
            click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                         help="Write the report to this file instead of standard output."),
            click.option("--fail-on", type=click.Choice(["error", "warning"]), default="error", show_default=True,
                         help="Lowest severity that makes the exit code 1."),
            click.option("--mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                         help="CSV layout spec (YAML) of the input; default: the bundled layout."),
            click.option("--sdtm-mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                         default=None, help="SDTM mapping spec (YAML); default: the bundled one."),
            click.option("--sdtm-format", type=click.Choice(SDTM_FORMATS), default=None,
                         help="SDTM file format: written (default csv), or read when a folder holds several."),
            click.option("--fhir-version", type=click.Choice(FHIR_VERSIONS), default=None,
                         help="FHIR release: written (default R4), or of the input (default: detected)."),
            click.option("-q", "--quiet", is_flag=True, default=False,
                         help="No progress bars and no closing summary line (neither is shown when standard error is "
                              "no terminal)."),
        )):
            func = option(func)
        return func

    return decorate


def _input_specs(func):  # type: ignore[no-untyped-def]
    """The mapping specs of a site's input, for the commands that read without converting."""
    func = click.option("--sdtm-mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                        help="SDTM mapping spec (YAML) of the input; default: the bundled one.")(func)
    func = click.option("--mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                        help="CSV layout spec (YAML) of the input; default: the bundled layout.")(func)
    return func


class _Commands(click.Group):
    """Every command ends a usage error the API raises (``FhirbridgeError``) as click ends its own: the message on
    one line, exit code 2, no traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except FhirbridgeError as exc:
            raise click.UsageError(str(exc)) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="fhirbridge")
def main() -> None:
    """Convert and validate spinal-cord-injury trial data between CSV, CDISC SDTM and HL7 FHIR.

    Exit codes: 0 valid, 1 issues at or above --fail-on, 2 bad usage or unreadable input.
    """
    _no_collection_at_exit()


@functools.cache
def _no_collection_at_exit() -> None:
    """The objects left when a command ends (the FHIR definitions and screens, the caches of ids and templates)
    are frozen out of the cyclic garbage collector as the process exits: its last passes over them, which free
    nothing a process about to end needs freed (files are closed by the commands; reference counting still frees
    everything else, and the atexit handlers still run), took 50-70 ms of every command's exit."""
    atexit.register(gc.freeze)


@main.command()
@click.option("--from", "source", type=click.Choice(api.SOURCE_FORMATS), default="csv", show_default=True,
              help="Format of the inputs.")
@click.option("--to", "target", type=click.Choice(api.TARGET_FORMATS), default="fhir", show_default=True,
              help="Format to write.")
@click.option("-o", "--output", "--out", "outdir", type=click.Path(file_okay=False, path_type=Path), required=True,
              default=None, multiple=True,
              help="Folder to write the output into (created if needed; the files of an earlier conversion into it "
                   "are removed first).")
@click.option("--bundle-type", type=click.Choice(["collection", "transaction"]), default="collection",
              show_default=True, help="FHIR Bundle type: a file (collection) or for a server (transaction).")
@click.option("--fhir-format", type=click.Choice(["json", "xml", "ndjson"]), default="json", show_default=True,
              help="FHIR output: one Bundle as JSON or XML, or NDJSON files per resource type.")
@click.option("--from-fhir-version", type=click.Choice(FHIR_VERSIONS), default=None,
              help="FHIR release of FHIR input converted into FHIR (default: detected): R4 to R5 in one step.")
@click.option("--fhir-mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="FHIR mapping spec (YAML); default: the bundled one.")
@click.option("--bundle-size", type=click.IntRange(min=1), default=None, metavar="N",
              help="At most N entries per Bundle file: bundle-0001.json, bundle-0002.json, ... (a subject is never "
                   "split; every file starts with the study).")
@click.option("--bundle-per-subject", is_flag=True, default=False,
              help="One Bundle file per subject (with the study): bundle-0001.json, ...")
@click.option("--pretty", is_flag=True, default=False, help="Indent FHIR JSON and XML (compact by default).")
@click.option("--jobs", type=click.IntRange(min=1), default=None, metavar="N",
              help="Worker processes (default: one per core; 1: no worker process). The output is the same.")
@_report_options(("text", "json"), "Report format: text for people, json for programs.")
@click.argument("inputs", nargs=-1, required=True, type=_existing)
def convert(source: str, target: str, outdir: tuple[Path, ...], bundle_type: str, fhir_format: str,
            from_fhir_version: str | None, fhir_mapping: Path | None, bundle_size: int | None,
            bundle_per_subject: bool, pretty: bool, jobs: int | None, fmt: str, report_file: Path | None,
            fail_on: str, mapping: Path | None, sdtm_mapping: Path | None, sdtm_format: str | None,
            fhir_version: str | None, quiet: bool, inputs: tuple[Path, ...]) -> None:
    """Convert INPUTS (files, or folders of files) into one output.

    Example: fhirbridge convert --from csv --to fhir examples/honmou2021/csv -o out
    """
    if len(set(outdir)) > 1:
        raise click.UsageError("-o/--output names the output folder, given twice; the report file is --report FILE")
    started = time.perf_counter()
    with stage_bars(quiet, "read", "check", "write") as bars:
        options = ConvertOptions(csv_mapping=mapping, fhir_mapping=fhir_mapping, sdtm_mapping=sdtm_mapping,
                                 bundle_type=bundle_type, fhir_format=fhir_format,  # type: ignore[arg-type]
                                 fhir_version=fhir_version, from_fhir_version=from_fhir_version,  # type: ignore[arg-type]
                                 sdtm_format=sdtm_format or "csv",  # type: ignore[arg-type]
                                 bundle_size=bundle_size, bundle_per_subject=bundle_per_subject, pretty=pretty,
                                 jobs=jobs, progress=bars.note if bars else None, stages=bars)
        owned = OwnedOutputs(outdir[0])
        owned.clear()
        report = api.convert(list(inputs), outdir[0], source=source, target=target, options=options,
                             fail_on=Severity.parse(fail_on))
        owned.keep(report.outputs)
    _emit(report, fmt, report_file, summary(report, time.perf_counter() - started, "read") if watched(quiet) else None)


def _codes(values: tuple[str, ...]) -> tuple[str, ...]:
    """Codes or prefixes, given as repeated options and/or comma-separated lists."""
    return tuple(c.strip() for value in values for c in value.split(",") if c.strip())


@main.command()
@click.option("--as", "source", type=click.Choice(api.SOURCE_FORMATS), default=None,
              help="Format of the inputs (default: told from their content).")
@click.option("-o", "--output", "output_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the report to this file (the same as --report).")
@click.option("--select", multiple=True, metavar="CODE",
              help="Report only these issue codes or prefixes (e.g. FB-SCIM); repeat or separate with commas.")
@click.option("--ignore", multiple=True, metavar="CODE",
              help="Do not report these issue codes or prefixes; repeat or separate with commas.")
@click.option("--max-issues", type=click.IntRange(min=1), default=None,
              help="Keep at most N issues in the report; the rest are counted (the report says so).")
@_report_options(FORMATS, "Report format: text or html for people; json, operation-outcome (FHIR), junit or sarif "
                 "for programs and CI systems.")
@click.argument("inputs", nargs=-1, required=True, type=_existing)
def validate(source: str | None, output_file: Path | None, select: tuple[str, ...], ignore: tuple[str, ...],
             max_issues: int | None, fmt: str, report_file: Path | None, fail_on: str, mapping: Path | None,
             sdtm_mapping: Path | None, sdtm_format: str | None, fhir_version: str | None, quiet: bool,
             inputs: tuple[Path, ...]) -> None:
    """Validate INPUTS (files or folders: CSV, SDTM or FHIR) without converting them.

    Every layer that applies runs and every problem is reported: syntax, structure, terminology, FHIR
    invariants and profiles, references, and clinical consistency.

    Example: fhirbridge validate bundle.json --format sarif --output report.sarif
    """
    if source is None and (mapping or sdtm_mapping):
        source = "csv" if mapping else "sdtm"  # a layout spec says what the input is
    with stage_bars(quiet, "fhir", "read", "check") as bars:
        options = ConvertOptions(csv_mapping=mapping, sdtm_mapping=sdtm_mapping, sdtm_format=sdtm_format or "csv",  # type: ignore[arg-type]
                                 fhir_version=fhir_version,  # type: ignore[arg-type]
                                 progress=bars.note if bars else None, stages=bars)
        report = api.validate(list(inputs), source=source, options=options, fail_on=Severity.parse(fail_on),
                              select=_codes(select), ignore=_codes(ignore), max_issues=max_issues)
    _emit(report, fmt, output_file or report_file)


@main.command("report")
@click.option("--as", "source", type=click.Choice(api.SOURCE_FORMATS), default=None,
              help="Format of the inputs (default: told from their content).")
@click.option("-o", "--output", "report_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The HTML file to write.")
@click.option("--fail-on", type=click.Choice(["error", "warning"]), default="error", show_default=True,
              help="Lowest severity that makes the exit code 1.")
@click.option("--max-issues", type=click.IntRange(min=1), default=None,
              help="List at most N issues; the rest are counted (the page says so).")
@click.option("--subjects", "subject_limit", type=click.IntRange(min=0), default=SUBJECT_LIMIT, show_default=True,
              help="Show the per-subject rows (score tables and lines, timeline, subjects without an exam) of the "
                   "first N subjects; counts and medians are of all. 0 shows every subject.")
@_input_specs
@click.argument("inputs", nargs=-1, required=True, type=_existing)
def report_command(source: str | None, report_file: Path, fail_on: str, max_issues: int | None, subject_limit: int,
                   mapping: Path | None, sdtm_mapping: Path | None, inputs: tuple[Path, ...]) -> None:
    """Write one self-contained HTML report of INPUTS (CSV, SDTM or FHIR): validation, study summary, AIS shifts
    and scores over time, SCIM-III, adverse events. The exit code is validate's.

    Example: fhirbridge report examples/honmou2021/csv -o report.html
    """
    from fhirbridge.report import build_report

    if source is None and (mapping or sdtm_mapping):
        source = "csv" if mapping else "sdtm"
    options = ConvertOptions(csv_mapping=mapping, sdtm_mapping=sdtm_mapping)
    html, report = build_report(list(inputs), source=source, options=options, fail_on=Severity.parse(fail_on),
                                max_issues=max_issues, subject_limit=subject_limit or None)
    try:
        report_file.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise CannotWrite(f"cannot write the report to {report_file}: {exc.strerror or exc}") from None
    counts = ", ".join(f"{n} {name}" for name, n in report.counts().items() if n)
    click.echo(f"report written to {report_file} ({counts or 'no issues'}; {report.verdict()})", err=True)
    sys.exit(report.exit_code)


@main.group()
def isncsci() -> None:
    """ISNCSCI exams: classification under the 2019 rules."""


@isncsci.command("classify")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: one line per exam; json: a JSON list of the reference's `totals` objects.")
@click.option("--json", "as_json", is_flag=True, hidden=True, help="Deprecated: the same as --format json.")
@click.option("--from", "source", type=click.Choice(api.SOURCE_FORMATS), default=None,
              help="Format of FILE; default: FHIR when FILE is FHIR, the reference's flat JSON layout for other "
                   ".json files, else csv.")
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="CSV layout spec when FILE is a CSV export.")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
def isncsci_classify(fmt: str, as_json: bool, source: str | None, mapping: Path | None, file: Path) -> None:
    """Classify the exams of FILE, in input order.

    FILE is a JSON list of exams in the flat layout of the ISNCSCI reference algorithm (keys such as
    c5RightMotor, s4_5LeftPrick, analContraction, analSensation), or an exam file (or folder) fhirbridge reads.
    """
    options = ConvertOptions(csv_mapping=mapping)
    if as_json or fmt == "json":
        totals, report = api.classify_totals(file, source=source, options=options)
        click.echo(orjson.dumps([t for _, t in totals], option=orjson.OPT_INDENT_2))  # bytes: written as they are
    else:
        results, report = api.classify(file, source=source, options=options)
        for label, c in results:
            click.echo(f"{label}: AIS {c.asia_impairment_scale}, NLI {c.neurological_level_of_injury}, "
                       f"motor R/L {c.right_motor}/{c.left_motor}, sensory R/L {c.right_sensory}/{c.left_sensory}, "
                       f"UEMS {c.upper_motor_total}, LEMS {c.lower_motor_total}, "
                       f"LT {c.touch_total}, PP {c.prick_total}, complete/incomplete {c.injury_complete}")
    problems = [i for i in report.issues if i.severity >= Severity.WARNING]
    if problems:
        click.echo(render_text(Report(issues=problems)), err=True, nl=False)
    sys.exit(report.exit_code)


@main.group()
def profiles() -> None:
    """fhirbridge's published FHIR conformance resources."""


@profiles.command("export")
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
def profiles_export(outdir: Path) -> None:
    """Write fhirbridge's CodeSystems, ValueSets and StructureDefinitions as FHIR JSON files into OUTDIR
    (R4; those for R5 into OUTDIR/R5)."""
    for path in api.export_profiles(outdir):
        click.echo(f"wrote {path}")


@main.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: one tab-separated line per rule; json: a list of objects.")
@click.argument("codes", nargs=-1, metavar="[CODE]...")
def rules(fmt: str, codes: tuple[str, ...]) -> None:
    """List every issue code with its severity, layer, title and description; with CODE (a code or a prefix such
    as FB-SCIM), only those rules."""
    check_codes("CODE", codes)
    chosen = [r for r in RULES.values() if not codes or any(r.code.startswith(c) for c in codes)]
    if fmt == "json":
        listed = [{"code": r.code, "severity": r.severity, "layer": r.layer, "title": r.title,
                   "description": r.description, "opt_in": r.code in OPT_IN} for r in chosen]
        click.echo(orjson.dumps(listed, option=orjson.OPT_INDENT_2).decode())
        return
    for rule in chosen:
        click.echo(f"{rule.code}\t{rule.severity}\t{rule.layer}\t{rule.title}\t{rule.description}")


@main.command()
@click.option("--db", default=None, metavar="URL",
              help="Database: a SQLite file path or URL (default: ./fhirbridge.sqlite), or postgresql://USER@HOST/DB.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--max-body", default=64, show_default=True, type=click.IntRange(1), metavar="MIB",
              envvar="FHIRBRIDGE_MAX_BODY", help="Largest request body accepted, in MiB ($import streams to disk).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1), metavar="N",
              envvar="FHIRBRIDGE_WORKERS", help="Service processes (state is only in the database; use PostgreSQL "
                                                "for more than one: SQLite has a single writer).")
@click.option("--public-read", is_flag=True, default=False, envvar="FHIRBRIDGE_PUBLIC_READ",
              help="Open reads (GET, $validate, $convert, $export) to anyone when authentication is configured.")
@click.option("--jwt-issuer", default=None, envvar="FHIRBRIDGE_JWT_ISSUER", metavar="URL",
              help="Accept OAuth2 bearer tokens (JWT) from this issuer (iss).")
@click.option("--jwt-jwks", default=None, envvar="FHIRBRIDGE_JWT_JWKS", metavar="URL|FILE",
              help="The issuer's key set (JWKS): an https URL or a file.")
@click.option("--jwt-audience", default=None, envvar="FHIRBRIDGE_JWT_AUDIENCE", help="Required token audience.")
@click.option("--files-dir", default="fhirbridge-files", show_default=True, envvar="FHIRBRIDGE_FILES_DIR",
              help="Folder for bulk export files and import uploads (shared by all processes).")
@click.option("--header-timeout", default=10.0, show_default=True, type=click.FloatRange(0.1),
              envvar="FHIRBRIDGE_HEADER_TIMEOUT", help="Seconds a client has to send a request line and headers.")
@click.option("--body-timeout", default=5.0, show_default=True, type=click.FloatRange(0.1),
              envvar="FHIRBRIDGE_BODY_TIMEOUT", help="Seconds to wait for each part of a request body.")
@click.option("--max-entries", default=50_000, show_default=True, type=click.IntRange(1),
              envvar="FHIRBRIDGE_MAX_ENTRIES", help="Most entries in one Bundle.")
@click.option("--max-depth", default=64, show_default=True, type=click.IntRange(8, 512),
              envvar="FHIRBRIDGE_MAX_DEPTH", help="Deepest JSON nesting of a FHIR body.")
@click.option("--max-unzipped", default=64, show_default=True, type=click.IntRange(1), metavar="MIB",
              envvar="FHIRBRIDGE_MAX_UNZIPPED", help="Most MiB uploaded archives may expand to.")
@click.option("--max-sync-export", default=50_000, show_default=True, type=click.IntRange(0),
              envvar="FHIRBRIDGE_MAX_SYNC_EXPORT",
              help="Most resources of an export answered at once (larger ones need Prefer: respond-async).")
@click.option("--statement-timeout", default=30.0, show_default=True, type=click.FloatRange(0),
              envvar="FHIRBRIDGE_STATEMENT_TIMEOUT", help="Seconds a database statement may run (PostgreSQL).")
@click.option("--job-hours", default=24.0, show_default=True, type=click.FloatRange(0.01),
              envvar="FHIRBRIDGE_JOB_HOURS", help="Hours finished bulk jobs and their files are kept.")
@click.option("--job-threads", default=1, show_default=True, type=click.IntRange(0),
              envvar="FHIRBRIDGE_JOB_THREADS", help="Bulk job worker threads in each process.")
def serve(db: str | None, host: str, port: int, max_body: int, workers: int, public_read: bool,
          jwt_issuer: str | None, jwt_jwks: str | None, jwt_audience: str | None, files_dir: str,
          header_timeout: float, body_timeout: float, max_entries: int, max_depth: int, max_unzipped: int,
          max_sync_export: int, statement_timeout: float, job_hours: float, job_threads: int) -> None:
    """Run the HTTP service: FHIR $validate and $convert, ingest of transaction bundles into a registry, and Bulk
    Data export and import.

    Every endpoint but /metadata needs credentials when FHIRBRIDGE_API_KEY or --jwt-jwks is set
    (docs/service-security.md). SIGTERM finishes requests in flight.
    """
    from fhirbridge.service.server import serve as run_service
    from fhirbridge.service.settings import DEFAULT_DB, ServiceSettings

    mib = 1024 * 1024
    settings = ServiceSettings(db=db or DEFAULT_DB, max_body=max_body * mib, public_read=public_read,
                               jwt_issuer=jwt_issuer, jwt_jwks=jwt_jwks, jwt_audience=jwt_audience,
                               files_dir=files_dir, header_timeout=header_timeout, body_timeout=body_timeout,
                               max_entries=max_entries, max_depth=max_depth, max_unzipped=max_unzipped * mib,
                               max_sync_export=max_sync_export, statement_timeout=statement_timeout,
                               job_hours=job_hours, job_threads=job_threads)
    run_service(settings, host, port, workers)


from fhirbridge.cli_layout import layout  # noqa: E402  (its own module: the layout commands)

main.add_command(layout)


if __name__ == "__main__":
    main(prog_name="fhirbridge")
