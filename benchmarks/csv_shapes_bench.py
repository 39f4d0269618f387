"""CPU time of converting the same study from each export shape, against the default layout in the same run.

The example export, its 13 subjects copied to ``--subjects`` (520 by default), is written again as a wide export,
a long export and a REDCap project (raw and labels) by ``examples/exports.py``; each is converted to FHIR NDJSON
with ``--jobs 1`` and its layout, in a child process. Prints the CPU seconds of each and its ratio to the default
layout's, and checks that every shape wrote the same number of resources.

    python benchmarks/csv_shapes_bench.py [--subjects 520]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from scaled import SUBJECTS, fhirbridge, measure, scaled_export

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=520)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        default = scaled_export(max(1, args.subjects // SUBJECTS), root / "default")
        sys.path.insert(0, str(EXAMPLES))
        from exports import generate  # examples/exports.py: the shapes, written from the default files

        generate(root, default)
        shapes = {"default": (default, None), "wide": (root / "wide", EXAMPLES / "wide" / "layout.yaml"),
                  "long": (root / "long", EXAMPLES / "long" / "layout.yaml"),
                  "redcap raw": (root / "redcap" / "raw", EXAMPLES / "redcap" / "layout.yaml"),
                  "redcap labels": (root / "redcap" / "labels", EXAMPLES / "redcap" / "layout.yaml")}
        baseline = None
        lines = {}
        for name, (folder, layout) in shapes.items():
            out = root / "out" / name.replace(" ", "-")
            command = fhirbridge("convert", "--jobs", "1", "--fhir-format", "ndjson", "-o", out, folder,
                                 *(["--mapping", layout] if layout else []))
            result = measure(command)
            assert result["exit_code"] == 0, (name, result)
            lines[name] = sum(len(p.read_bytes().splitlines()) for p in out.glob("*.ndjson"))
            baseline = baseline or result["cpu"]
            print(f"{name:14} {result['cpu']:6.2f} CPU s  ×{result['cpu'] / baseline:.2f} of the default layout's  "
                  f"{lines[name]} resources")
        assert len(set(lines.values())) == 1, f"the shapes wrote different numbers of resources: {lines}"


if __name__ == "__main__":
    main()
