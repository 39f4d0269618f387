"""The documentation site: it builds with ``mkdocs build --strict``, names every command, option and rule code,
and the CI recipes it gives work as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml
from conftest import REPO
from junitparser import JUnitXml

from fhirbridge.cli import main
from fhirbridge.issues.registry import RULES

DOCS = REPO / "docs"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The built site's text (every page, tags stripped)."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(out)],
                           cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert built.returncode == 0, built.stderr
    pages = [p.read_text(encoding="utf-8") for p in out.rglob("*.html")]
    return re.sub(r"<[^>]+>", " ", "\n".join(pages))


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        found.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, f"{prefix}{name} "))
    return found


def test_the_site_names_every_command_option_and_rule(site):
    missing = []
    for name, command in _commands(main):
        if f"fhirbridge {name}" not in site:
            missing.append(f"command {name}")
        missing += [f"{name} {o}" for p in command.params if isinstance(p, click.Option) and not p.hidden
                    for o in p.opts if o not in site]
    missing += [code for code in RULES if code not in site]
    assert not missing, missing


def _recipe(title: str) -> dict:
    text = (DOCS / "guide" / "pipelines.md").read_text(encoding="utf-8")
    section = text[text.index(f"## {title}"):]
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))


def _run(command: str, cwd: Path) -> int:
    assert command.startswith("fhirbridge ")
    return subprocess.run([sys.executable, "-m", "fhirbridge.cli", *command.split()[1:]], cwd=cwd,
                          capture_output=True, timeout=300).returncode


def test_the_ci_recipes_run_as_written(tmp_path):
    (tmp_path / "examples").symlink_to(REPO / "examples")
    steps = _recipe("GitHub Actions")["jobs"]["validate"]["steps"]
    [github] = [s["run"] for s in steps if str(s.get("run", "")).startswith("fhirbridge ")]
    assert _run(github, tmp_path) == 0
    sarif = json.loads((tmp_path / "fhirbridge.sarif").read_text(encoding="utf-8"))
    upload = next(s for s in steps if "upload-sarif" in s.get("uses", ""))
    assert sarif["version"] == "2.1.0" and upload["with"]["sarif_file"] == "fhirbridge.sarif"
    job = _recipe("GitLab CI")["validate"]
    [gitlab] = [line for line in job["script"] if line.startswith("fhirbridge ")]
    assert _run(gitlab, tmp_path) == 0
    report = job["artifacts"]["reports"]["junit"]
    assert JUnitXml.fromfile(str(tmp_path / report)) is not None


def test_the_shell_completion_line_works():
    text = (DOCS / "guide" / "pipelines.md").read_text(encoding="utf-8")
    variable, shell = re.search(r'eval "\$\((_\w+)=(\w+) fhirbridge\)"', text).groups()
    result = subprocess.run([sys.executable, "-m", "fhirbridge.cli"], env={**os.environ, variable: shell},
                            capture_output=True, text=True, timeout=60)
    assert "complete" in result.stdout and "_FHIRBRIDGE_COMPLETE" in result.stdout


def test_the_pre_commit_hook_runs_validate():
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["entry"].split()[:2] == ["fhirbridge", "validate"] and hook["language"] == "python"
    assert all(re.search(hook["files"], name) for name in ("ae.xpt", "subjects.csv", "bundle.json", "b.ndjson"))


def test_the_readme_is_short_and_keeps_its_two_commands():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) < 6000
    assert "pip install . && fhirbridge convert --from csv --to fhir examples/honmou2021/csv -o out" in readme
    assert "pip install -e '.[test]' && python -m pytest -q -n auto" in readme
