"""``fhirbridge layout``: print, draft and check CSV layout specs (how a site's export maps to fhirbridge's records).

Exit codes as everywhere: 0 fine, 1 a problem found in the files checked, 2 bad usage or a spec that cannot be
used (the message says what to write).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fhirbridge.issues.issue import Severity
from fhirbridge.issues.render import render_text
from fhirbridge.issues.report import Report

_file = click.Path(exists=True, dir_okay=False, path_type=Path)


def shipped_layouts() -> dict[str, Path]:
    """The layouts shipped with fhirbridge by name: ``mappings/csv-NAME.yaml``."""
    from fhirbridge.mapping.loader import bundled

    folder = bundled("csv-default.yaml").parent
    return {p.stem.removeprefix("csv-"): p for p in sorted(folder.glob("csv-*.yaml"))}


def _write(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"layout written to {output}", err=True)


@click.group()
def layout() -> None:
    """CSV layout specs: which file holds which records, which column feeds which field (see docs/site-layouts.md)."""


@layout.command("show")
@click.argument("name", required=False, default="default")
def layout_show(name: str) -> None:
    """Print a layout shipped with fhirbridge (NAME, default: the default layout), to copy and change."""
    layouts = shipped_layouts()
    if name not in layouts:
        raise click.UsageError(f"no shipped layout {name!r}; shipped: {', '.join(layouts)}")
    click.echo(layouts[name].read_text(encoding="utf-8"), nl=False)


@layout.command("init")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the draft to this file instead of standard output.")
@click.argument("files", nargs=-1, required=True, type=_file)
def layout_init(output: Path | None, files: tuple[Path, ...]) -> None:
    """Draft a layout from export FILES: delimiter and encoding sniffed, date formats guessed from the values,
    known column names matched; what is not matched is listed in the draft as comments to fill in."""
    from fhirbridge.layouts.draft import render
    from fhirbridge.layouts.sniff import draft_from_files

    _write(render(draft_from_files(list(files))), output)


@layout.command("from-redcap")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the draft to this file instead of standard output.")
@click.option("--events", type=_file, default=None,
              help="REDCap's events export (CSV with unique_event_name, event_name) of a longitudinal project: "
                   "events become visits.")
@click.option("--study-id", default=None, help="The study's id (a REDCap export holds none).")
@click.option("--timezone", default="Z", show_default=True, help="UTC offset of the site's times, e.g. +09:00.")
@click.argument("dictionary", type=_file)
def layout_from_redcap(output: Path | None, events: Path | None, study_id: str | None, timezone: str,
                       dictionary: Path) -> None:
    """Draft a layout for a REDCap project's records export from its DATA_DICTIONARY (CSV): instruments become kinds
    of record, choices value maps, date validations date formats; unmatched fields are listed as comments."""
    from fhirbridge.layouts.draft import render
    from fhirbridge.layouts.redcap import draft_from_redcap

    _write(render(draft_from_redcap(dictionary, events, study_id, timezone)), output)


@layout.command("check")
@click.argument("spec", type=_file)
@click.argument("files", nargs=-1, type=click.Path(exists=True, path_type=Path))
def layout_check(spec: Path, files: tuple[Path, ...]) -> None:
    """Check the layout SPEC; with export FILES (or folders), show which columns each field reads, which columns
    are not read, and what is missing."""
    from fhirbridge.layouts.check import check_files, describe
    from fhirbridge.mapping.csv_layout import load_csv_layout

    loaded = load_csv_layout(spec)
    click.echo("\n".join(describe(loaded)))
    if not files:
        return
    report = Report(select=("",))
    click.echo("\n".join(check_files(loaded, list(files), report)))
    if report.issues:
        click.echo(render_text(report), nl=False)
    sys.exit(1 if any(i.severity >= Severity.ERROR for i in report.issues) else 0)
