"""The checks on a whole run that keep fhirbridge from saying "valid" where nothing was checked, and from leaving
output that a later run would mistake for its own.

- ``check_codes``: ``--select`` / ``--ignore`` name codes or prefixes of the rule registry, or the run is refused.
- ``no_records``: a run that read no record at all is fatal (FB-IO-009), with a hint at what was looked for.
- ``OwnedOutputs``: the files ``fhirbridge convert`` wrote are listed in the output folder
  (``.fhirbridge-outputs.txt``, a hidden file, which no reader takes as input); the next conversion into that
  folder removes them first, so that a folder never mixes two runs' files (a later ``validate`` of the folder
  would read the stale ones).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from fhirbridge.errors import FhirbridgeError, InvalidOption
from fhirbridge.inputs import Source, detect_format
from fhirbridge.issues.issue import Issue
from fhirbridge.issues.registry import RULES

#: The listing of the files a conversion wrote, in its output folder.
MANIFEST = ".fhirbridge-outputs.txt"


def known_prefixes() -> list[str]:
    """The rule families (``FB-CSV``, ``FB-FHIR``, ...), in the registry's order."""
    return list(dict.fromkeys(code.rsplit("-", 1)[0] for code in RULES))


def check_codes(option: str, codes: Iterable[str]) -> None:
    """Refuse a code or prefix that selects no rule: a typo would otherwise select nothing and say "valid"."""
    for code in codes:
        if not any(rule.startswith(code) for rule in RULES):
            raise InvalidOption(f"{option} {code!r} is no rule code or prefix; known prefixes: "
                                f"{', '.join(known_prefixes())} (fhirbridge rules lists every code)")


def no_records(inputs: list[Path | Source], source: str, option: str, csv_mapping: Path | None) -> Issue:
    """The fatal issue of a run that read no record, saying what was looked for and what to try."""
    named = ", ".join(map(str, inputs))
    files = [p for p in inputs if isinstance(p, Source) or p.is_file() or any(x.is_file() for x in p.rglob("*"))]
    if not files:
        return Issue.of("FB-IO-009", f"no input file: {named} holds no file", file=named)
    told = detect_format(inputs)
    if told is not None and told != source:
        return Issue.of("FB-IO-009", f"no record read as {source}: the input looks like {told}; use {option} {told}",
                        file=named)
    hint = ""
    if source == "csv":
        from fhirbridge.mapping.csv_layout import load_csv_layout

        patterns = ", ".join(f"`{spec.file}`" for spec in load_csv_layout(csv_mapping).files.values())
        hint = f": no file matched {patterns}, or the files hold no rows; is this a site layout? use --mapping"
    return Issue.of("FB-IO-009", f"no record read as {source}{hint}", file=named)


class OwnedOutputs:
    """The files of the previous conversion into a folder, removed before the next one writes."""

    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        self.manifest = outdir / MANIFEST

    def clear(self) -> None:
        """Remove what the last conversion into the folder wrote (and only that); a folder that cannot be written
        is a usage error."""
        try:
            self.outdir.mkdir(parents=True, exist_ok=True)
            if self.manifest.is_file():
                for name in self.manifest.read_text(encoding="utf-8").splitlines():
                    target = (self.outdir / name).resolve()
                    if name and target.is_relative_to(self.outdir.resolve()):
                        target.unlink(missing_ok=True)
            self.manifest.write_text("", encoding="utf-8")  # proves the folder can be written, before any work
        except OSError as exc:
            raise unwritable(self.outdir, exc) from None

    def keep(self, outputs: Iterable[str]) -> None:
        """List the files written, for the next conversion into the folder to remove."""
        names = [Path(o).resolve().relative_to(self.outdir.resolve()).as_posix() for o in outputs]
        self.manifest.write_text("".join(f"{n}\n" for n in names), encoding="utf-8")


def unwritable(outdir: Path, exc: OSError) -> FhirbridgeError:
    return FhirbridgeError(f"cannot write into {outdir}: {exc.strerror or exc}")
