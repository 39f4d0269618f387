"""The HTML report: what a study's data say (validation, summary, recovery, independence, safety) in one
self-contained HTML file.

It sits above the engine: ``statistics`` computes every figure from hub records (testable without HTML),
``charts`` lays the figures out as SVG geometry, ``html`` renders both through Jinja2 templates (package data),
and ``build`` reads the inputs once through ``api.validate`` to get the Report and the records together.
"""

from fhirbridge.report.build import build_report

__all__ = ["build_report"]
