"""Checking the date formats of a layout spec when it is loaded, with a fix to suggest.

A format that Python's ``strptime`` would take but that cannot read a date (``dd/mm/yyyy`` has no directive at
all, so it matches only the literal text ``dd/mm/yyyy``) fails every date of the export; we refuse it at load
time and say what to write instead.
"""

from __future__ import annotations

import datetime as dt
import re

#: The strptime directives a date format may use (the portable ones of the Python documentation).
DIRECTIVES = frozenset("aAbBdHIjmMpSyYzfeuVGgTFDRrcxXZ%")
_DIRECTIVE = re.compile(r"%(.)")
_SAMPLE = dt.datetime(2001, 2, 13, 14, 15, 16, tzinfo=dt.UTC)

# Spreadsheet-style tokens and their directives, longest first; ``mm`` after an hour is the minutes.
_TOKENS = [("yyyy", "%Y"), ("yy", "%y"), ("dd", "%d"), ("hh", "%H"), ("ss", "%S"), ("mmm", "%b"), ("mm", "%m"),
           ("m", "%m"), ("d", "%d")]
_TOKEN = re.compile("|".join(t for t, _ in _TOKENS), re.IGNORECASE)


def suggest(text: str) -> str | None:
    """The strftime spelling of a spreadsheet-style format (``dd/mm/yyyy`` → ``%d/%m/%Y``), if it has one."""
    out: list[str] = []
    last = 0
    seen_hour = False
    for match in _TOKEN.finditer(text):
        token = match.group().lower()
        directive = dict(_TOKENS)[token]
        if token in ("mm", "m") and seen_hour:
            directive = "%M"
        seen_hour = seen_hour or directive == "%H"
        out.append(text[last:match.start()] + directive)
        last = match.end()
    fixed = "".join(out) + text[last:]
    return fixed if fixed != text and "%" not in text and format_problem(fixed) is None else None


def format_problem(fmt: str) -> str | None:
    """Why ``fmt`` cannot read dates (None when it can): unknown directives, no year, or no round trip."""
    unknown = sorted({d for d in _DIRECTIVE.findall(fmt) if d not in DIRECTIVES})
    if unknown:
        return f"unknown directive{'s' if len(unknown) > 1 else ''} {', '.join('%' + d for d in unknown)}"
    directives = set(_DIRECTIVE.findall(fmt))
    if not directives & set("YyGcxFD"):
        return "it has no year directive (%Y or %y), so it reads no date"
    try:
        parsed = dt.datetime.strptime(_SAMPLE.strftime(fmt), fmt)
    except ValueError as exc:
        return f"it cannot read back a date it writes ({exc})"
    if parsed.year != _SAMPLE.year:
        return "it cannot read back the year of a date it writes"
    return None


def check_format(fmt: str) -> None:
    """Raise ValueError, with a suggestion where one is found, when ``fmt`` cannot read dates."""
    problem = format_problem(fmt)
    if problem is None:
        return
    hint = suggest(fmt)
    did_you_mean = f"; did you mean {hint}?" if hint else " (write strftime directives such as %d/%m/%Y)"
    raise ValueError(f"bad date format {fmt!r}: {problem}{did_you_mean}")
