"""The report computed over any split of its items equals the report of the whole (issue #16).

``build_report(ds, runner=Runner(split_items(ds, parts)))`` folds every mergeable section over
the partitions (the conflict queue and whichever sections are mergeable) while the rest reads
the whole dataset; so whatever the split, every figure must equal the one-partition report.
The data: the bundled sample, the frozen seeded exports (Choices; boxes with a scene choice) and
CVAT's own video export from ``tests/fixtures/cvat`` (tracks, two annotators).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from accord.core.model import Dataset
from accord.core.qa.conflicts import Resolution
from accord.core.qa.report import build_report
from accord.core.report.engine import Runner, split_items

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _frozen_view(report: dict[str, Any]) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("make_frozen", FIXTURES / "frozen" / "make_frozen.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    view: dict[str, Any] = mod.frozen_view(report)
    return view


def _dataset(name: str) -> Dataset:
    if name == "sample":
        from accord.cmd_demo import load_sample

        return load_sample()
    from accord.io import load_dataset

    if name == "cvat-video":
        return load_dataset([FIXTURES / "cvat" / "video_alice.xml", FIXTURES / "cvat" / "video_bob.xml"])
    frozen = FIXTURES / "frozen"
    return load_dataset([frozen / f"{name}.json"], label_config=frozen / f"{name}.label_config.xml")


def _resolutions(ds: Dataset, rng: np.random.Generator) -> list[Resolution]:
    """A few adjudications of real items, so resolved conflicts leave the open queue."""
    items = sorted(ds.items)
    picked = rng.choice(len(items), size=min(5, len(items)), replace=False)
    ls = ds.label_sets[0]
    return [Resolution(item_id=items[j], label_set=ls, decided_by="rev", chosen="x",
                       timestamp="2026-12-03T00:00:00+00:00") for j in sorted(picked.tolist())]


@pytest.mark.parametrize("name", ["sample", "choices", "boxes", "cvat-video"])
def test_the_report_over_any_split_equals_the_whole(name: str) -> None:
    ds = _dataset(name)
    rng = np.random.default_rng(sum(map(ord, name)))
    resolutions = _resolutions(ds, rng)
    whole = _frozen_view(build_report(ds, seed=3, resolutions=resolutions, cost_items=20_000))
    n = len(ds.items)
    splits = [rng.integers(0, 4, size=n), rng.integers(0, 9, size=n) * (rng.random(n) < 0.7), np.arange(n)]
    for parts in splits:
        pieces = split_items(ds, parts)
        order = rng.permutation(len(pieces))  # partitions arrive in any order
        runner = Runner(tuple(pieces[k] for k in order))
        split = _frozen_view(build_report(ds, seed=3, resolutions=resolutions, cost_items=20_000, runner=runner))
        assert split == whole
    assert whole["conflicts"]["items"] or name == "cvat-video"  # the queue is not empty: the test can fail


def test_a_split_that_loses_items_changes_the_queue() -> None:
    """The equality above is not vacuous: drop one partition and the conflict queue shrinks."""
    ds = _dataset("choices")
    whole = build_report(ds, seed=3)
    parts = split_items(ds, np.arange(len(ds.items)) % 3)
    short = build_report(ds, seed=3, runner=Runner(tuple(parts[:2])))
    assert len(short["conflicts"]["items"]) < len(whole["conflicts"]["items"])


@pytest.mark.parametrize("method", ["dawid_skene", "glad", "one_coin_dawid_skene", "mace"])
def test_records_that_interleave_items_give_the_same_report_over_splits(method: str, tmp_path: Path) -> None:
    """Two exports sharing 60 tasks (a re-export with another annotator): the merged dataset's
    records are not item by item (the shared items' second passes come after every first-file
    record), so sections that restore one-process order by item order sum those passes in
    another order. The report's figures must not show it (what a Dask run gathers for)."""
    import copy
    import json

    from accord.core.qa.report import ReportConfig
    from accord.io import load_dataset

    frozen = FIXTURES / "frozen"
    tasks = json.loads((frozen / "choices.json").read_text())
    again = copy.deepcopy(tasks[:60])
    for t in again:
        for a in t["annotations"]:
            a["completed_by"] = 99
            a["id"] += 10_000_000
    (tmp_path / "reexport.json").write_text(json.dumps(again))
    ds = load_dataset([frozen / "choices.json", tmp_path / "reexport.json"],
                      label_config=frozen / "choices.label_config.xml")
    first = [r.item_id for r in ds.records]
    assert first != sorted(first, key=list(ds.items).index)  # not item by item: the case under test
    cfg = ReportConfig(consensus_method=method)
    whole = _frozen_view(build_report(ds, seed=3, config=cfg))
    rng = np.random.default_rng(1)
    for parts in (rng.integers(0, 4, size=len(ds.items)), np.arange(len(ds.items))):
        pieces = split_items(ds, parts)
        assert _frozen_view(build_report(ds, seed=3, config=cfg, runner=Runner(tuple(pieces)))) == whole
