"""Differential test: today's report equals a frozen copy of the report made before the speed work (#16).

The frozen JSON in ``tests/fixtures/frozen/`` was written by ``make_frozen.py`` with the engine
as it was before the report path was made fast: the bundled sample (``accord demo``'s dataset)
and two seeded Label Studio exports from ``benchmarks/bench_report_scale.py``'s generator (150
Choices tasks, 40 tasks of boxes plus a scene choice). Every figure must stay equal (floats to
1e-12); a deliberate change of a figure is a documented fix that regenerates the fixtures.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import pytest

FROZEN = Path(__file__).resolve().parent / "fixtures" / "frozen"


def _maker() -> Any:
    spec = importlib.util.spec_from_file_location("make_frozen", FROZEN / "make_frozen.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _differences(got: Any, want: Any, path: str = "$") -> list[str]:
    """Where ``got`` and ``want`` differ (numbers to 1e-12), as JSON paths; empty when equal."""
    if isinstance(want, bool) or isinstance(got, bool):
        return [] if got is want else [f"{path}: {got!r} != {want!r}"]
    if isinstance(want, int | float) and isinstance(got, int | float):
        if math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-12):
            return []
        return [f"{path}: {got!r} != {want!r}"]
    if isinstance(want, dict) and isinstance(got, dict):
        out = [f"{path}: keys {sorted(set(got) ^ set(want))!r} on one side only"] if set(got) != set(want) else []
        if list(got) != list(want) and not out:
            out.append(f"{path}: key order {list(got)[:8]!r} != {list(want)[:8]!r}")
        for k in want:
            if k in got:
                out += _differences(got[k], want[k], f"{path}.{k}")
        return out
    if isinstance(want, list) and isinstance(got, list):
        if len(got) != len(want):
            return [f"{path}: {len(got)} entries != {len(want)}"]
        return [d for i, (g, w) in enumerate(zip(got, want, strict=True)) for d in _differences(g, w, f"{path}[{i}]")]
    return [] if got == want else [f"{path}: {got!r} != {want!r}"]


@pytest.mark.parametrize("name", ["sample", "choices", "boxes"])
def test_report_equals_frozen_copy(name: str) -> None:
    maker = _maker()
    got = maker.sample_report() if name == "sample" else maker.export_report(name)
    want = json.loads((FROZEN / f"{name}.report.json").read_text(encoding="utf-8"))
    diffs = _differences(got, want)
    assert not diffs, f"{len(diffs)} differences from the frozen report, first: " + "; ".join(diffs[:5])


def test_the_comparison_sees_a_changed_figure() -> None:
    want = json.loads((FROZEN / "choices.report.json").read_text(encoding="utf-8"))
    got = json.loads(json.dumps(want))
    est = got["agreement"]["sentiment"]["coefficients"]["krippendorff_alpha"]["estimate"]
    got["agreement"]["sentiment"]["coefficients"]["krippendorff_alpha"]["estimate"] = est + 1e-9
    got["summary"]["n_conflicts"] += 1
    diffs = _differences(got, want)
    assert len(diffs) == 2
    assert any("krippendorff_alpha.estimate" in d for d in diffs)
    assert _differences(want, json.loads(json.dumps(want))) == []
