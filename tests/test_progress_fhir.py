"""The FHIR checker's stage has a progress bar of its own (resources checked), shown only for FHIR input."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLE

from fhirbridge import api
from fhirbridge.formats.options import ConvertOptions
from fhirbridge.progress import StageBars


@pytest.fixture(scope="module")
def ndjson(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ndjson")
    report = api.convert([EXAMPLE], out, options=ConvertOptions(fhir_format="ndjson"))
    assert report.exit_code == 0, report.issues
    return out


def _bars(inputs: list[Path]) -> tuple[dict[str, tuple[float, bool, str]], int]:
    bars = StageBars(("fhir", "read", "check"))
    report = api.validate(list(inputs), source=None, options=ConvertOptions(stages=bars))
    shown = {t.description.split(":")[0]: (t.completed, t.visible, t.fields["rate"]) for t in bars.progress.tasks}
    return shown, report.stats.get("resources", 0)


def test_the_fhir_bar_counts_every_resource_checked(ndjson: Path) -> None:
    shown, resources = _bars([ndjson])
    assert resources > 200  # more than one step of the bar
    completed, visible, rate = shown["fhir"]
    assert (completed, visible) == (resources, True) and rate.endswith("resources/s")
    assert shown["check"][1] and shown["check"][0] > 0  # the records read from it are checked after


def test_csv_input_shows_no_fhir_bar() -> None:
    shown, _ = _bars([EXAMPLE])
    assert shown["fhir"] == (0, False, "")
    assert shown["read"][1] and shown["check"][1]
