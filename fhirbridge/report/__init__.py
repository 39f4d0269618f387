"""The HTML report: what a study's data say (validation, summary, recovery, independence, safety) in one
self-contained HTML file.

It sits above the engine: ``facts`` keeps the few values of each record the figures use as chunks stream through,
``statistics`` computes every figure from them (testable without HTML), ``charts`` lays the figures out as SVG
geometry, ``html`` renders both through Jinja2 templates (package data), and ``build`` reads the inputs once
through ``api.validate`` to get the Report and the figures together.

``build_report`` is imported on first use, so that the command line can read ``SUBJECT_LIMIT`` without loading
the report's machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

#: How many subjects the per-subject rows show by default (score tables and lines, timeline, names of subjects
#: without an exam): a few hundred rows stay readable and keep the page a few MB at any study size; every count
#: and median is of all subjects whatever the limit.
SUBJECT_LIMIT = 200

if TYPE_CHECKING:
    from fhirbridge.report.build import build_report

__all__ = ["SUBJECT_LIMIT", "build_report"]


def __getattr__(name: str) -> Any:
    if name == "build_report":
        from fhirbridge.report.build import build_report

        return build_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
