"""Class and multi-label consensus as mergeable sections (issue #16, :mod:`accord.core.report.consensus`).

Every consensus method's block (labels, reliabilities, priors, skill intervals refitted on item
resamples, the ambiguity block and the :class:`Ambiguity` the ``--soft-labels`` export writes),
folded over any split of the items in any order, equals the one-partition result and the
whole-dataset function the report used before (``tests/report_refs_consensus.py``): ``==`` on
the JSON, ``array_equal`` on the arrays. Data: real crowd judgments with expert truth
(``tests/fixtures/crowd``: Snow et al. 2008 RTE / temp / WSD, Mozafari's set from
Get-Another-Label), the report's real exports (the sample, the frozen Choices and boxes exports,
a Label Studio 1.23 snapshot), seeded random label sets and hypothesis-drawn ones.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import pickle
import random
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_refs_consensus import _class_consensus as old_class_consensus
from report_refs_consensus import _multilabel_consensus as old_multilabel_consensus

from accord.cmd_demo import load_sample
from accord.core.model import Classification, Dataset, MultiLabel, Record
from accord.core.qa import report as report_mod
from accord.core.qa.ambiguity import Ambiguity
from accord.core.qa.consensus import CONSENSUS_METHODS
from accord.core.qa.report import ReportConfig, build_report
from accord.core.report.consensus import ClassConsensusSection, MultilabelConsensusSection, restore_order
from accord.core.report.engine import Context, ItemOrder, Runner, local_fold, split_items
from accord.io import load_dataset

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CROWD = {
    "rte": FIXTURES / "crowd" / "crowdtruth" / "snow2008_rte",
    "temp": FIXTURES / "crowd" / "crowdtruth" / "snow2008_temp",
    "wsd": FIXTURES / "crowd" / "crowdtruth" / "snow2008_wsd",
    "mozafari": FIXTURES / "crowd" / "get_another_label" / "barzan_mozafari",
}


def crowd(name: str, *, limit: int | None = None) -> Dataset:
    """A crowd set as a dataset, one record per row of ``answer.csv`` in the source's order."""
    with (CROWD[name] / "answer.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))[:limit]
    return Dataset(records=tuple(Record(item_id=r["question"], annotator_id=r["worker"], label_set="answer",
                                        value=Classification(label=r["answer"])) for r in rows))


def _frozen(name: str) -> Dataset:
    return load_dataset([FIXTURES / "frozen" / f"{name}.json"],
                        label_config=FIXTURES / "frozen" / f"{name}.label_config.xml")


REAL: dict[str, Callable[[], Dataset]] = {
    "sample": load_sample,
    "choices": lambda: _frozen("choices"),
    "boxes": lambda: _frozen("boxes"),
    "label_studio_snapshot": lambda: load_dataset([FIXTURES / "label_studio" / "export_snapshot_full.json"]),
}


def random_classes(seed: int, n_items: int = 60) -> Dataset:
    """Seeded label sets with ties, ids whose sorted order is not their first-seen order, and
    annotators who rate only some items; records item by item."""
    rng = random.Random(seed)
    labels = ["Zeta", "alpha", "beta", "10", "9"][:rng.randint(2, 5)]
    annotators = [f"user:{rng.randint(0, 999)}" for _ in range(rng.randint(2, 6))]
    recs = []
    for i in rng.sample(range(10_000), n_items):
        truth = rng.choice(labels)
        for a in annotators:
            if rng.random() < 0.25:
                continue
            lab = truth if rng.random() < 0.65 else rng.choice(labels)
            recs.append(Record(item_id=f"task-{i}", annotator_id=a, label_set="c", value=Classification(label=lab)))
    return Dataset(records=tuple(recs))


def random_multilabel(seed: int, n_items: int = 80) -> Dataset:
    rng = random.Random(seed)
    labels = ["sports", "politics", "tech", "arts"][:rng.randint(2, 4)]
    annotators = [f"a{k}" for k in range(rng.randint(2, 5))]
    recs = []
    for i in rng.sample(range(10_000), n_items):
        truth = {lab for lab in labels if rng.random() < 0.4}
        for a in annotators:
            if rng.random() < 0.2:
                continue
            picked = {lab for lab in labels if (lab in truth) != (rng.random() < 0.15)}
            recs.append(Record(item_id=f"doc-{i}", annotator_id=a, label_set="topics",
                               value=MultiLabel(labels=tuple(sorted(picked))) if picked else MultiLabel(labels=())))
    return Dataset(records=tuple(recs))


def splits(n: int, rng: np.random.Generator) -> list[tuple[npt.NDArray[np.int64], int]]:
    """One partition; 3 and 7 parts; 9 parts of which some are empty; every item alone."""
    return [(np.zeros(n, dtype=np.int64), 1), (rng.integers(0, 3, n), 3), (rng.integers(0, 7, n), 7),
            (rng.integers(0, 5, n) * 2, 11), (np.arange(n), n)]


def ctx_of(ds: Dataset, cfg: ReportConfig, seed: int, **options: Any) -> Context:
    return Context(config=cfg, seed=seed, schema=ds.schema, order=ItemOrder(ds.items), options=options)


def run_split(section: Any, ds: Dataset, ctx: Context, parts: npt.NDArray[np.int64], n_parts: int,
              rng: np.random.Generator) -> Any:
    pieces = split_items(ds, parts, n_parts)
    shuffled = [pieces[k] for k in rng.permutation(len(pieces))]  # partitions arrive in any order
    return Runner(tuple(shuffled)).run([section], ctx)[section.name]


def same_ambiguity(a: Ambiguity | None, b: Ambiguity | None) -> bool:
    if a is None or b is None:
        return a is b
    for f in fields(Ambiguity):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            if x.dtype != y.dtype or not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
                return False
        elif x != y:
            return False
    return True


def assert_class_matches(got: Any, want: tuple[dict[str, Any], dict[str, str], Ambiguity | None]) -> None:
    block, labels, amb = want
    assert json.dumps(got.block) == json.dumps(block)  # every figure, and the keys' order
    assert got.labels == labels
    assert same_ambiguity(got.ambiguity, amb)


# --------------------------------------------------------------------------- class consensus


@pytest.mark.parametrize("method", CONSENSUS_METHODS)
@pytest.mark.parametrize("seed", range(3))
def test_every_method_on_any_split_equals_the_whole_dataset_function(method: str, seed: int) -> None:
    ds = random_classes(seed)
    cfg = ReportConfig(consensus_method=method, n_bootstrap=25)
    want = old_class_consensus(ds, "c", cfg, seed)
    ctx = ctx_of(ds, cfg, seed)
    rng = np.random.default_rng(seed)
    for parts, n_parts in splits(len(ds.items), rng):
        assert_class_matches(run_split(ClassConsensusSection("c"), ds, ctx, parts, n_parts, rng), want)


@pytest.mark.parametrize("name", sorted(CROWD))
def test_real_crowd_judgments_every_method(name: str) -> None:
    ds = crowd(name, limit=2500)  # whole items (the files list judgments item by item)
    rng = np.random.default_rng(len(name))
    n = len(ds.items)
    for method in CONSENSUS_METHODS:
        cfg = ReportConfig(consensus_method=method, n_bootstrap=20)
        want = old_class_consensus(ds, "answer", cfg, 7)
        assert want[0]["n_items"] > 100
        ctx = ctx_of(ds, cfg, 7)
        for parts, n_parts in [(rng.integers(0, 7, n), 7), (np.arange(n), n)]:
            assert_class_matches(run_split(ClassConsensusSection("answer"), ds, ctx, parts, n_parts, rng), want)


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_exports_every_class_label_set(name: str) -> None:
    ds = REAL[name]()
    rng = np.random.default_rng(len(name))
    checked = 0
    for ls in ds.label_sets:
        if ds.outline().kind_of(ls) != "classification":
            continue
        for method in ("majority_vote", "dawid_skene", "glad"):
            cfg = ReportConfig(consensus_method=method, n_bootstrap=20)
            want = old_class_consensus(ds, ls, cfg, 3)
            ctx = ctx_of(ds, cfg, 3)
            for parts, n_parts in splits(len(ds.items), rng):
                assert_class_matches(run_split(ClassConsensusSection(ls), ds, ctx, parts, n_parts, rng), want)
            checked += bool(want[0])
    assert checked or name == "label_studio_snapshot"  # the snapshot holds no class label set with judgments


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_items=st.integers(1, 30), n_parts=st.integers(1, 6),
       method=st.sampled_from(["majority_vote", "dawid_skene", "one_coin_dawid_skene", "wawa"]))
def test_hypothesis_splits(seed: int, n_items: int, n_parts: int, method: str) -> None:
    ds = random_classes(seed, n_items=n_items)
    if not ds.records:
        return
    cfg = ReportConfig(consensus_method=method, n_bootstrap=5)
    rng = np.random.default_rng(seed)
    got = run_split(ClassConsensusSection("c"), ds, ctx_of(ds, cfg, seed), rng.integers(0, n_parts, len(ds.items)),
                    n_parts, rng)
    assert_class_matches(got, old_class_consensus(ds, "c", cfg, seed))


def test_records_that_interleave_items_keep_their_order_on_one_partition() -> None:
    """A dataset whose records are not item by item: one partition reads them in record order,
    as the whole-dataset function did (bit for bit); a split restores the merge by item position,
    which changes only the order of float additions."""
    base = crowd("wsd")
    recs = sorted(base.records, key=lambda r: r.annotator_id)  # annotator by annotator
    ds = Dataset(records=tuple(recs))
    cfg = ReportConfig(consensus_method="dawid_skene", n_bootstrap=20)
    want = old_class_consensus(ds, "answer", cfg, 1)
    ctx = ctx_of(ds, cfg, 1)
    assert_class_matches(Runner((ds,)).run([ClassConsensusSection("answer")], ctx)["class_consensus:answer"], want)
    split = run_split(ClassConsensusSection("answer"), ds, ctx, np.arange(len(ds.items)) % 4, 4,
                      np.random.default_rng(0))
    assert split.labels == want[1]
    assert split.block["annotator_reliability"] == pytest.approx(want[0]["annotator_reliability"], abs=2e-6)


def test_restore_order_is_the_merge_by_item_position() -> None:
    """Chunks are merged as their rows' running maximum item position says: a chunk whose rows
    go back to an earlier item keeps them where they are (record order within the chunk)."""
    ds = Dataset(records=tuple(Record(item_id=i, annotator_id=a, label_set="c", value=Classification(label="x"))
                               for i, a in [("p", "1"), ("q", "1"), ("r", "1"), ("s", "1"), ("p", "2")]))
    section = ClassConsensusSection("c")
    ctx = ctx_of(ds, ReportConfig(), 0)
    a = section.add(section.create(ctx), split_items(ds, [0, 1, 0, 1])[0], ctx)  # items p, r: rows p r p
    b = section.add(section.create(ctx), split_items(ds, [0, 1, 0, 1])[1], ctx)  # items q, s
    for state in (section.merge(a, b), section.merge(b, a)):
        perm = restore_order(state.chunks, ctx)
        rows = [(c.item_ids[c.item[k]]) for c in state.chunks for k in range(c.n_rows)]
        # running maxima: p r r (a) and q s (b): p q r r s, the trailing p kept after r
        assert [rows[j] for j in perm] == ["p", "q", "r", "p", "s"]


def test_states_pickle_and_empty_partitions_add_nothing() -> None:
    ds = crowd("wsd")
    cfg = ReportConfig(consensus_method="glad", n_bootstrap=20)
    ctx = ctx_of(ds, cfg, 2)
    section = ClassConsensusSection("answer")
    pieces = split_items(ds, np.arange(len(ds.items)) % 5, 8)  # three empty partitions
    states = [pickle.loads(pickle.dumps(section.add(section.create(ctx), p, ctx.for_workers()))) for p in pieces]
    assert sum(1 for s in states if not s.chunks) == 3
    merged = section.merge(section.merge(states[0], states[1]), section.merge(states[2], section.merge(*states[3:5])))
    for s in states[5:]:
        merged = section.merge(merged, s)
    assert sum(c.n_rows for c in merged.chunks) == len(ds.records)
    assert_class_matches(section.finish(merged, ctx), old_class_consensus(ds, "answer", cfg, 2))


def test_a_lost_partition_changes_the_result() -> None:
    """The equalities above can fail: drop one partition and the block changes."""
    ds = crowd("wsd")
    cfg = ReportConfig(consensus_method="dawid_skene", n_bootstrap=20)
    ctx = ctx_of(ds, cfg, 0)
    section = ClassConsensusSection("answer")
    pieces = split_items(ds, np.arange(len(ds.items)) % 3)
    short = section.finish(local_fold(section, ctx, pieces[:2]), ctx)
    want = old_class_consensus(ds, "answer", cfg, 0)
    assert short.block["n_items"] < want[0]["n_items"]
    assert json.dumps(short.block) != json.dumps(want[0])


def test_a_precomputed_dawid_skene_fit_is_used() -> None:
    """The Dask run's map-reduce fit (``sections["consensus:<set>"]``) replaces the fit here, on
    any split, exactly as before."""
    from accord.core.report.truth import DawidSkeneSection, judgment_rows

    ds = crowd("temp")
    rows = judgment_rows(ds, "answer")
    ds_section = DawidSkeneSection("answer", sorted({r[2] for r in rows}), sorted({r[1] for r in rows}))
    base = ctx_of(ds, ReportConfig(n_bootstrap=20), 5)
    fit = Runner((ds,)).run([ds_section], base)[ds_section.name]
    cfg = ReportConfig(n_bootstrap=20)
    want = old_class_consensus(ds, "answer", cfg, 5, sections={"consensus:answer": fit})
    ctx = ctx_of(ds, cfg, 5, **{"class_consensus:answer": fit})
    rng = np.random.default_rng(5)
    for parts, n_parts in splits(len(ds.items), rng)[1:3]:
        assert_class_matches(run_split(ClassConsensusSection("answer"), ds, ctx, parts, n_parts, rng), want)


# --------------------------------------------------------------------------- multi-label


@pytest.mark.parametrize("method", ["majority_vote", "dawid_skene"])
@pytest.mark.parametrize("seed", range(4))
def test_multilabel_any_split_equals_the_whole_dataset_function(method: str, seed: int) -> None:
    ds = random_multilabel(seed)
    cfg = ReportConfig(consensus_method=method)
    want = old_multilabel_consensus(ds, "topics", cfg)
    assert want["n_items"] > 0
    ctx = ctx_of(ds, cfg, 0)
    rng = np.random.default_rng(seed)
    for parts, n_parts in splits(len(ds.items), rng):
        got = run_split(MultilabelConsensusSection("topics"), ds, ctx, parts, n_parts, rng)
        assert json.dumps(got) == json.dumps(want)
    short = local_fold(MultilabelConsensusSection("topics"), ctx, split_items(ds, np.arange(len(ds.items)) % 2)[:1])
    assert json.dumps(MultilabelConsensusSection("topics").finish(short, ctx)) != json.dumps(want)  # control


def test_multilabel_label_studio_export_with_skips_and_empty_answers() -> None:
    """A Label Studio ``choice="multiple"`` export (the converter's own path), with an empty
    answer and a skipped annotation, split item by item."""
    from accord.plugins.label_studio.convert import from_label_studio_export

    xml = ('<View><Text name="text" value="$text"/><Choices name="topics" toName="text" choice="multiple">'
           '<Choice value="politics"/><Choice value="sports"/><Choice value="tech"/></Choices></View>')
    rng = random.Random(4)
    tasks = []
    for tid in range(1, 41):
        anns = []
        for k, who in enumerate(["a@x", "b@x", "c@x"]):
            labs = sorted({c for c in ("politics", "sports", "tech") if rng.random() < 0.4})
            anns.append({"id": tid * 10 + k, "completed_by": {"id": k + 2, "email": who},
                         "was_cancelled": tid % 13 == 0 and k == 0,
                         "result": [{"from_name": "topics", "to_name": "text", "type": "choices",
                                     "value": {"choices": labs}}] if labs else []})
        tasks.append({"id": tid, "data": {"text": f"t{tid}"}, "annotations": anns})
    ds = from_label_studio_export(tasks, xml)
    for method in ("majority_vote", "dawid_skene"):
        cfg = ReportConfig(consensus_method=method)
        want = old_multilabel_consensus(ds, "topics", cfg)
        got = run_split(MultilabelConsensusSection("topics"), ds, ctx_of(ds, cfg, 0), np.arange(len(ds.items)),
                        len(ds.items), np.random.default_rng(1))
        assert json.dumps(got) == json.dumps(want)
        assert list(want["per_label"]) == ["politics", "sports", "tech"]


# --------------------------------------------------------------------------- the whole report


def _report_json(ds: Dataset, cfg: ReportConfig, runner: Runner | None = None) -> str:
    """The report's JSON without its run-to-run fields (the frozen tests' view)."""
    spec = importlib.util.spec_from_file_location("make_frozen", FIXTURES / "frozen" / "make_frozen.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rep = build_report(ds, config=cfg, seed=3, checks=False, runner=runner)
    return json.dumps(mod.frozen_view(rep), sort_keys=True)


def _splits_of(ds: Dataset, rng: np.random.Generator) -> Sequence[Runner]:
    n = len(ds.items)
    out = []
    for parts in (rng.integers(0, 4, n), np.arange(n)):
        pieces = split_items(ds, parts)
        out.append(Runner(tuple(pieces[k] for k in rng.permutation(len(pieces)))))
    return out


@pytest.mark.parametrize("method", ["glad", "mace", "one_coin_dawid_skene"])
def test_the_report_over_any_split_equals_the_whole_on_crowd_data(method: str) -> None:
    ds = crowd("wsd")
    cfg = ReportConfig(consensus_method=method, n_bootstrap=20)
    whole = _report_json(ds, cfg)
    assert json.loads(whole)["consensus"]["answer"]["n_ambiguous"] >= 0
    for runner in _splits_of(ds, np.random.default_rng(11)):
        assert _report_json(ds, cfg, runner) == whole


def test_the_report_over_any_split_equals_the_whole_multilabel() -> None:
    ds = random_multilabel(9)
    cfg = ReportConfig(n_bootstrap=20)
    whole = _report_json(ds, cfg)
    assert json.loads(whole)["consensus"]["topics"]["n_items"] > 0
    for runner in _splits_of(ds, np.random.default_rng(12)):
        assert _report_json(ds, cfg, runner) == whole


@pytest.mark.parametrize("name", ["rte", "mozafari", "choices", "sample"])
def test_finish_fits_on_the_judgments_in_record_order(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What makes the figures identical rather than close: on any split, ``finish`` hands the
    fits the judgments exactly as the whole-dataset function read them (``judgment_rows``)."""
    from accord.core.report.truth import judgment_rows

    ds = crowd(name) if name in CROWD else REAL[name]()
    ls = next(s for s in ds.label_sets if ds.outline().kind_of(s) == "classification")
    seen: list[tuple[list[str], list[str], list[str]]] = []

    def record(i: list[str], a: list[str], lab: list[str], cfg: ReportConfig, seed: int, pre: Any = None) -> Any:
        seen.append((i, a, lab))
        return {}, {}, None

    monkeypatch.setattr(report_mod, "_class_consensus_of", record)
    want = [list(x) for x in zip(*judgment_rows(ds, ls), strict=True)]
    ctx = ctx_of(ds, ReportConfig(), 0)
    rng = np.random.default_rng(0)
    for parts, n_parts in splits(len(ds.items), rng):
        run_split(ClassConsensusSection(ls), ds, ctx, parts, n_parts, rng)
        assert [list(x) for x in seen.pop()] == want


@pytest.mark.integration
@pytest.mark.parametrize("method", ["glad", "dawid_skene"])
def test_a_dask_run_folds_consensus_on_the_workers(method: str) -> None:
    """On a real LocalCluster (2 worker processes) the section's states are pickled, folded on
    the workers and merged; with Dawid-Skene the workers' map-reduce fit is used. The consensus
    block equals the single-process one."""
    distributed = pytest.importorskip("distributed")
    from accord.cluster.report import cluster_report

    sample = Path(__file__).resolve().parent.parent / "core" / "data" / "sample"
    inputs = [sample / "text_sentiment.json", sample / "images_boxes.json"]
    cfg = ReportConfig(consensus_method=method, n_bootstrap=20)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        report, _, run = cluster_report(client, inputs, config=cfg, seed=7)
    finally:
        client.close()
        cluster.close()
    assert "class_consensus:sentiment" in run.sections
    assert ("consensus:sentiment" in run.sections) == (method == "dawid_skene")
    want = build_report(load_dataset(inputs), config=cfg, seed=7)
    assert json.dumps(report["consensus"]) == json.dumps(want["consensus"])
    assert report["consensus"]["sentiment"]["method"] == method
