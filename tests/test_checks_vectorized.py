"""Issue 16: the columnar schema and behaviour checks against the per-record loops they replaced.

Each ``ref_*`` function below is the per-record implementation the check had before it read
:class:`~accord.core.checks.base.RecordColumns` (the old loop, kept here as the reference, with
``ctx.records(kind)`` spelt out and the label drift tested window by window instead of screened).
Seeded random datasets mix value kinds, sources (human, model pre-annotations, reference),
cancelled and explicit empty submissions, missing and integer durations, missing and equal
timestamps, single-annotator label sets, label sets outside the schema and multi-label values;
every check must yield the same findings in the same order (compared by ``repr``, so
``5`` and ``5.0`` differ), and ``run_checks`` the same report.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from scipy.stats import chi2_contingency

from accord.core.checks import CheckConfig, Finding, get_check, run_checks
from accord.core.checks.base import (
    SCHEMA_VIOLATION,
    SUSPICIOUS_BEHAVIOUR,
    WRONG_ATTRIBUTE,
    WRONG_CLASS,
    CheckContext,
    _code_column,
    combine,
    finding,
    groups_in_order,
    robust_z,
    unique_codes,
)
from accord.core.checks.behaviour import two_proportion_z
from accord.core.checks.rules import effective_config, parse_rules
from accord.core.checks.schema_checks import _labels_of, _specs, _value_ok
from accord.core.model import (
    SHAPE_FIELDS,
    Box,
    Classification,
    Dataset,
    MultiLabel,
    Numeric,
    Record,
    Submission,
    TextValue,
    Value,
)
from accord.core.schema import AttributeSpec, LabelSet, Schema

# --------------------------------------------------------------------------- the reference loops


def _by_kind(ds: Dataset, kind: str) -> list[Record]:
    return [r for r in ds.records if r.value.kind == kind]


def ref_unknown_label(ds: Dataset, cfg: CheckConfig) -> Iterator[Finding]:
    schema = ds.schema
    if not schema.label_sets:
        return
    allowed = {n: frozenset(ls.labels) for n, ls in schema.label_sets.items()}
    for r in ds.records:
        ok = allowed.get(r.label_set)
        if ok is None:
            yield finding(cfg.name, cfg, r, category=SCHEMA_VIOLATION,
                          evidence={"label_set": r.label_set, "known_label_sets": sorted(allowed)},
                          message=f"label set {r.label_set!r} is not in the schema")
            continue
        if not ok:
            continue
        for lb in _labels_of(r):
            if lb not in ok:
                yield finding(cfg.name, cfg, r, category=WRONG_CLASS, label=lb,
                              evidence={"label": lb, "allowed": sorted(ok)},
                              message=f"label {lb!r} is not allowed in label set {r.label_set!r}")


def ref_unknown_attribute(ds: Dataset, cfg: CheckConfig) -> Iterator[Finding]:
    schema = ds.schema
    for r in ds.records:
        if not r.attributes or r.label_set not in schema:
            continue
        specs = _specs(schema[r.label_set], r.label)
        if specs is None:
            continue
        for name, value in r.attributes.items():
            spec = specs.get(name)
            if spec is None and name in SHAPE_FIELDS:
                continue
            if spec is None:
                yield finding(cfg.name, cfg, r, category=WRONG_ATTRIBUTE,
                              evidence={"attribute": name, "known": sorted(specs)},
                              message=f"attribute {name!r} is not declared for label {r.label!r}")
            elif not _value_ok(spec, value):
                yield finding(cfg.name, cfg, r, category=WRONG_ATTRIBUTE,
                              evidence={"attribute": name, "value": value, "allowed": list(spec.values),
                                        "input_type": spec.input_type},
                              message=f"attribute {name!r} has value {value!r}, not one of {list(spec.values)}")


def ref_multiple_values(ds: Dataset, cfg: CheckConfig) -> Iterator[Finding]:
    schema = ds.schema
    single = {n for n, ls in schema.label_sets.items()
              if not ls.multiple and ls.kind in ("classification", "multilabel", "numeric", "text")}
    if not single:
        return
    counts = Counter((r.item_id, r.annotator_id, r.source, r.label_set) for r in ds.records
                     if r.label_set in single)
    reported: set[tuple[str, str, str, str]] = set()
    for r in ds.records:
        if r.label_set not in single:
            continue
        key = (r.item_id, r.annotator_id, r.source, r.label_set)
        n = counts[key]
        if n > 1 and key not in reported:
            reported.add(key)
            yield finding(cfg.name, cfg, r, category=SCHEMA_VIOLATION, evidence={"n_values": n},
                          message=f"{n} values in single-choice label set {r.label_set!r}")
        elif (isinstance(r.value, MultiLabel) and len(r.value.labels) > 1
              and schema[r.label_set].kind == Classification.kind):
            yield finding(cfg.name, cfg, r, category=SCHEMA_VIOLATION,
                          evidence={"n_values": len(r.value.labels)},
                          message=f"{len(r.value.labels)} labels in single-choice label set {r.label_set!r}")


def ref_too_fast(ds: Dataset, cfg: CheckConfig) -> Iterator[Finding]:
    zt, frac, min_count = float(cfg["z_threshold"]), float(cfg["max_fraction"]), int(cfg["min_count"])
    kinds: dict[tuple[str, str, str], set[str]] = {}
    for r in ds.records:
        if r.source == "human":
            kinds.setdefault((r.item_id, r.annotator_id, r.source), set()).add(r.value.kind)
    by_type: dict[str, list[tuple[str, str, float]]] = {}
    for s in ds.submissions:
        if s.source != "human" or s.was_cancelled or s.duration_s is None:
            continue
        ktype = "+".join(sorted(kinds.get((s.item_id, s.annotator_id, s.source), {"empty"})))
        by_type.setdefault(ktype, []).append((s.item_id, s.annotator_id, s.duration_s))
    for ktype, subs in by_type.items():
        if len(subs) < min_count:
            continue
        d = np.array([x[2] for x in subs], dtype=np.float64)
        z = robust_z(np.log(d + 1e-3))
        med = float(np.median(d))
        for k in np.flatnonzero((z < -zt) & (d < frac * med)):
            item_id, annotator_id, dur = subs[k]
            yield finding(cfg.name, cfg, None, item_id=item_id, annotator_id=annotator_id,
                          category=SUSPICIOUS_BEHAVIOUR,
                          evidence={"duration_s": dur, "median_s": med, "z": float(z[k]), "label_type": ktype},
                          message=f"submission took {dur:.1f} s against a median of {med:.1f} s for {ktype}")


def _ref_peer_test(cfg: CheckConfig, k: int, n: int, k_all: int, n_all: int) -> tuple[bool, float, float, float]:
    kp, np_ = k_all - k, n_all - n
    p_a = k / n if n else 0.0
    p_p = kp / np_ if np_ else math.nan
    z = two_proportion_z(k, n, kp, np_)
    flag = (n >= int(cfg["min_count"]) and np_ > 0 and p_a - p_p >= float(cfg["min_excess"])
            and z >= float(cfg["z_threshold"]))
    return flag, p_a, p_p, z


def ref_straight_lining(ds: Dataset, cfg: CheckConfig) -> Iterator[Finding]:
    schema = ds.schema
    cls = _by_kind(ds, "classification")
    sets: dict[str, None] = {}
    for r in cls:
        if r.source == "human" and (r.label_set not in schema or schema[r.label_set].kind == "classification"):
            sets.setdefault(r.label_set, None)
    for ls in sets:
        per: dict[str, Counter[str]] = {}
        total: Counter[str] = Counter()
        for r in cls:
            if r.label_set == ls and r.source == "human" and (label := r.label) is not None:
                per.setdefault(r.annotator_id, Counter())[label] += 1
                total[label] += 1
        n_all = sum(total.values())
        for ann, cnt in per.items():
            label, k = cnt.most_common(1)[0]
            n = sum(cnt.values())
            flag, p_a, p_p, z = _ref_peer_test(cfg, k, n, total[label], n_all)
            if flag:
                yield finding(cfg.name, cfg, None, annotator_id=ann, label_set=ls, label=label,
                              category=SUSPICIOUS_BEHAVIOUR,
                              evidence={"share": p_a, "peer_share": p_p, "z": z, "n": n},
                              message=f"{ann} gives {label!r} to {p_a:.0%} of items in {ls!r}, "
                                      f"peers {p_p:.0%}")


def ref_rubber_stamping(ds: Dataset, cfg: CheckConfig) -> Iterator[Finding]:
    model: dict[tuple[str, str], Counter[Value]] = {}
    for r in ds.records:
        if r.source == "model":
            model.setdefault((r.item_id, r.label_set), Counter())[r.value] += 1
    if not model:
        return
    human: dict[tuple[str, str, str], Counter[Value]] = {}
    for r in ds.records:
        if r.source == "human" and (r.item_id, r.label_set) in model:
            human.setdefault((r.item_id, r.label_set, r.annotator_id), Counter())[r.value] += 1
    sets_of_item: dict[str, list[str]] = {}
    for item_id, ls in model:
        sets_of_item.setdefault(item_id, []).append(ls)
    stats: dict[str, list[int]] = {}
    for s in ds.submissions:
        if s.source != "human" or s.was_cancelled:
            continue
        for ls in sets_of_item.get(s.item_id, ()):
            pre = model[(s.item_id, ls)]
            mine = human.get((s.item_id, ls, s.annotator_id), Counter())
            st = stats.setdefault(s.annotator_id, [0, 0])
            st[0] += mine == pre
            st[1] += 1
    k_all = sum(v[0] for v in stats.values())
    n_all = sum(v[1] for v in stats.values())
    for ann, (k, n) in stats.items():
        flag, p_a, p_p, z = _ref_peer_test(cfg, k, n, k_all, n_all)
        if flag:
            yield finding(cfg.name, cfg, None, annotator_id=ann, category=SUSPICIOUS_BEHAVIOUR,
                          evidence={"unchanged_rate": p_a, "peer_rate": p_p, "z": z, "n": n},
                          message=f"{ann} keeps {p_a:.0%} of pre-annotations unchanged, peers {p_p:.0%}")


def ref_label_drift(ds: Dataset, cfg: CheckConfig) -> Iterator[Finding]:
    window, alpha = int(cfg["window"]), float(cfg["alpha"])
    by: dict[tuple[str, str], list[tuple[int, Record]]] = {}
    for i, r in enumerate(_by_kind(ds, "classification")):
        if r.source == "human" and r.label is not None:
            by.setdefault((r.annotator_id, r.label_set), []).append((i, r))
    for (ann, ls), recs in by.items():
        if len(recs) < 2 * window:
            continue
        if all(r.created_at for _, r in recs):
            recs.sort(key=lambda x: (str(x[1].created_at), x[0]))
        labels = [str(r.label) for _, r in recs]
        cats = sorted(set(labels))
        if len(cats) < 2:
            continue
        idx = {c: j for j, c in enumerate(cats)}
        codes = np.array([idx[lb] for lb in labels])
        tests = len(codes) // window - 1
        for w in range(1, len(codes) // window):  # every window, one by one
            before = np.bincount(codes[:w * window], minlength=len(cats))
            now = np.bincount(codes[w * window:(w + 1) * window], minlength=len(cats))
            table = np.stack([before, now])
            table = table[:, table.sum(axis=0) > 0]
            if table.shape[1] < 2:
                continue
            p = float(chi2_contingency(table, correction=False).pvalue)
            if p < alpha / tests:
                start = recs[w * window][1]
                yield finding(cfg.name, cfg, None, annotator_id=ann, label_set=ls, category=SUSPICIOUS_BEHAVIOUR,
                              evidence={"window": w, "first_item": start.item_id, "p_value": p,
                                        "before": dict(zip(cats, (before / before.sum()).tolist(), strict=True)),
                                        "window_share": dict(zip(cats, (now / now.sum()).tolist(), strict=True))},
                              message=f"{ann}'s labels in {ls!r} shift at value {w * window} (p = {p:.1e})")
                break


REFERENCES = {
    "schema.unknown_label": ref_unknown_label,
    "schema.unknown_attribute": ref_unknown_attribute,
    "schema.multiple_values": ref_multiple_values,
    "behaviour.too_fast": ref_too_fast,
    "behaviour.straight_lining": ref_straight_lining,
    "behaviour.rubber_stamping": ref_rubber_stamping,
    "behaviour.label_drift": ref_label_drift,
}

# Thresholds loose enough that small random datasets do get findings of every behaviour check.
LOOSE = {"checks": {
    "behaviour.too_fast": {"min_count": 4, "z_threshold": 1.0, "max_fraction": 0.6},
    "behaviour.straight_lining": {"min_count": 3, "min_excess": 0.05, "z_threshold": 0.5},
    "behaviour.rubber_stamping": {"min_count": 2, "min_excess": 0.05, "z_threshold": 0.3},
    "behaviour.label_drift": {"window": 3, "alpha": 0.9},
}}

# --------------------------------------------------------------------------- random datasets

SCHEMA = Schema.of(
    LabelSet(name="sentiment", kind="classification", labels=("pos", "neg", "neu")),
    LabelSet(name="intent", kind="classification"),  # any label allowed
    LabelSet(name="objects", kind="box", labels=("car", "bus"), multiple=True,
             attributes={"car": (AttributeSpec(name="color", values=("red", "blue")),)}),
    LabelSet(name="topic", kind="multilabel", labels=("a", "b", "c")),
    LabelSet(name="score", kind="numeric"),
    LabelSet(name="note", kind="text"),
)


def random_dataset(seed: int) -> Dataset:
    """A mixed, messy dataset: every edge case the checks must treat as the old loops did."""
    rng = np.random.default_rng(seed)
    n_items = int(rng.integers(1, 40))
    annotators = [f"ann{j}" for j in range(int(rng.integers(1, 6)))]  # 1 annotator: no peers
    records: list[Record] = []
    subs: list[Submission] = []
    stamps = [None, "", "2026-01-01T00:00:00"] + [f"2026-01-0{d}T00:00:00" for d in range(1, 4)]

    def value(ls: str) -> Value:
        if ls in ("sentiment", "intent", "mood"):  # "mood" is not in the schema
            return Classification(label=str(rng.choice(["pos", "neg", "neu", "angry"], p=[.5, .2, .2, .1])))
        if ls == "objects":
            return Box(label=str(rng.choice(["car", "bus", "van"])), x=1, y=1, width=5, height=5)
        if ls == "topic":
            return MultiLabel(labels=tuple(rng.choice(["a", "b", "c", "z"], size=int(rng.integers(1, 3)),
                                                      replace=False).tolist()))
        if ls == "score":
            return Numeric(value=float(rng.integers(0, 5)))
        return TextValue(text=str(rng.choice(["x", "y"])))

    sets = ["sentiment", "intent", "objects", "topic", "score", "note", "mood"]
    p_sets = rng.dirichlet(np.ones(len(sets)))
    for i in range(n_items):
        item = f"t{i}"
        if rng.random() < 0.5:  # a model pre-annotation to accept or change
            ls = str(rng.choice(["sentiment", "objects"]))
            records.append(Record(item_id=item, annotator_id="model:v1", label_set=ls, value=value(ls),
                                  source="model", score=0.9))
        if rng.random() < 0.2:  # gold
            records.append(Record(item_id=item, annotator_id="gold", label_set="sentiment", value=value("sentiment"),
                                  source="reference"))
        for ann in annotators:
            u = rng.random()
            dur: float | int | None = (None if u < 0.1 else int(rng.integers(1, 60)) if u < 0.3
                                       else float(rng.lognormal(np.log(30), 1.0)))
            ts = stamps[int(rng.integers(len(stamps)))] if rng.random() < 0.3 else f"2026-01-01T00:00:{i:02d}"
            if rng.random() < 0.1:  # a skip, with or without another real pass of the same item
                subs.append(Submission(item_id=item, annotator_id=ann, duration_s=dur, was_cancelled=True,
                                       annotation_id=f"skip-{i}-{ann}"))
                if rng.random() < 0.5:
                    continue
            if rng.random() < 0.1:  # an explicit pass that left nothing: label type "empty"
                subs.append(Submission(item_id=item, annotator_id=ann, duration_s=dur, created_at=ts))
                continue
            for _ in range(int(rng.integers(1, 4))):  # several values: multiple_values in single sets
                ls = str(rng.choice(sets, p=p_sets))
                attrs: dict[str, Any] = {}
                if ls == "objects" and rng.random() < 0.5:
                    attrs = {str(rng.choice(["color", "size", "z_order"])): str(rng.choice(["red", "green"]))}
                records.append(Record(item_id=item, annotator_id=ann, label_set=ls, value=value(ls),
                                      attributes=attrs, created_at=ts, duration_s=dur))
            if rng.random() < 0.7:  # explicit submissions for some passes, derived ones for the rest
                subs.append(Submission(item_id=item, annotator_id=ann, duration_s=dur, created_at=ts))
    if rng.random() < 0.2:  # a submission of an annotator and item that no record has
        subs.append(Submission(item_id="ghost", annotator_id="nobody", duration_s=0.5))
    schema = SCHEMA if seed % 7 else Schema()  # an empty schema checks no labels
    return Dataset(records=tuple(records), submissions=tuple(subs), schema=schema)


def drift_dataset(seed: int, *, scrambled: bool = False) -> Dataset:
    """Long classification streams per annotator, some drifting, in shuffled dataset order.

    Timestamps follow each stream (two values share each one); ``scrambled`` draws them from
    three dates instead, so sorting by them reorders the stream with many ties.
    """
    rng = np.random.default_rng(seed)
    records = []
    for ann in ("a", "b", "c"):
        for i in range(int(rng.integers(60 if ann == "a" else 10, 120))):
            lab = str(rng.choice(["x", "y", "z"]))
            if ann == "a" and i >= 40:  # from a third to all "x"
                lab = "x"
            ts = f"2026-01-{1 + int(rng.integers(0, 3)):02d}" if scrambled else f"2026-01-01T{i // 2:04d}"
            ts = None if ann == "c" and i == 5 else ts
            records.append(Record(item_id=f"i{i}", annotator_id=ann, label_set="sentiment",
                                  value=Classification(label=lab), created_at=ts, duration_s=float(rng.integers(1, 9))))
    order = rng.permutation(len(records))
    return Dataset(records=tuple(records[k] for k in order),
                   schema=Schema.of(LabelSet(name="sentiment", kind="classification")))


def straight_dataset(seed: int) -> Dataset:
    """Annotators with one dominant label, ties between their top labels included."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(60):
        for ann in ("a", "b", "c", "d"):
            lab = str(rng.choice(["p", "q", "r"]))
            if ann == "a":
                lab = "p" if rng.random() < 0.8 else lab
            if ann == "b":
                lab = ("q", "r")[i % 2] if i < 40 else lab  # q and r tie at first
            records.append(Record(item_id=f"i{i}", annotator_id=ann, label_set="sentiment",
                                  value=Classification(label=lab)))
    return Dataset(records=tuple(records), schema=Schema.of(LabelSet(name="sentiment", kind="classification")))


# --------------------------------------------------------------------------- the comparisons


def _same(name: str, ds: Dataset, rules: dict[str, Any] | None) -> int:
    cfg = effective_config(get_check(name), parse_rules(rules) if rules else None)
    got = [repr(f) for f in get_check(name).fn(CheckContext(ds), cfg)]
    want = [repr(f) for f in REFERENCES[name](ds, cfg)]
    assert got == want, name
    return len(want)


@pytest.mark.parametrize("rules", [None, LOOSE], ids=["defaults", "loose"])
@pytest.mark.parametrize("seed", range(40))
def test_each_check_yields_what_the_loop_yielded(seed: int, rules: dict[str, Any] | None) -> None:
    ds = random_dataset(seed)
    for name in REFERENCES:
        _same(name, ds, rules)


def test_random_datasets_do_reach_every_finding() -> None:
    """The comparison above is not vacuous: over the seeds, every check finds something."""
    found = Counter[str]()
    for seed in range(40):
        ds = random_dataset(seed)
        for name in REFERENCES:
            found[name] += _same(name, ds, LOOSE)
    assert all(found[name] > 0 for name in REFERENCES), found


@pytest.mark.parametrize("seed", range(10))
def test_label_drift_with_shuffled_and_tied_timestamps(seed: int) -> None:
    ds = drift_dataset(seed, scrambled=seed % 2 == 1)
    rules = {"checks": {"behaviour.label_drift": {"window": int(np.random.default_rng(seed).integers(3, 12)),
                                                  "alpha": 0.5}}}
    assert _same("behaviour.label_drift", ds, rules) >= 0
    assert _same("behaviour.label_drift", ds, None) >= 0


def test_label_drift_flags_the_drifting_annotator() -> None:
    flagged = {f.annotator_id for seed in range(10)
               for f in run_checks(drift_dataset(seed), only=["behaviour.label_drift"],
                                   rules={"checks": {"behaviour.label_drift": {"window": 10, "alpha": 0.01}}}).findings}
    assert "a" in flagged


@pytest.mark.parametrize("seed", range(10))
def test_straight_lining_ties_go_to_the_first_label_used(seed: int) -> None:
    ds = straight_dataset(seed)
    rules = {"checks": {"behaviour.straight_lining": {"min_count": 5, "min_excess": -1.0, "z_threshold": -99.0}}}
    assert _same("behaviour.straight_lining", ds, rules) == 4  # every annotator, with its top label
    got = {f.annotator_id: f.label for f in run_checks(ds, only=["behaviour.straight_lining"], rules=rules).findings}
    assert got["a"] == "p"


@pytest.mark.parametrize("seed", range(15))
def test_run_checks_report_equals_the_loops(seed: int) -> None:
    """The whole report (order, counts) against the references run through the same sort."""
    ds = random_dataset(seed)
    rep = run_checks(ds, rules=LOOSE)
    parsed = parse_rules(LOOSE)
    want: list[Finding] = []
    for name in rep.checks_run:
        if name in REFERENCES:
            want += REFERENCES[name](ds, effective_config(get_check(name), parsed))
        else:  # schema.missing_label_set keeps its loop
            want += get_check(name).fn(CheckContext(ds), effective_config(get_check(name), parsed))
    order = ("info", "minor", "major", "critical")
    want.sort(key=lambda f: (-order.index(f.severity), f.check, f.item_id or "", f.region_id or "",
                             f.annotator_id or ""))
    assert [repr(f) for f in rep.findings] == [repr(f) for f in want]
    assert sum(sum(v.values()) for v in rep.counts.values()) == len(want)


def test_context_views_match_the_records() -> None:
    ds = random_dataset(3)
    ctx = CheckContext(ds)
    cols = ctx.columns()
    recs = ds.records
    assert [cols.item_ids[c] for c in cols.item] == [r.item_id for r in recs]
    assert [cols.annotator_ids[c] for c in cols.annotator] == [r.annotator_id for r in recs]
    assert [cols.sources[c] for c in cols.source] == [r.source for r in recs]
    assert [cols.label_sets[c] for c in cols.label_set] == [r.label_set for r in recs]
    assert [cols.kinds[c] for c in cols.kind] == [r.value.kind for r in recs]
    assert [cols.labels[c] if c >= 0 else None for c in cols.label] == [r.label for r in recs]
    assert cols.multilabel.tolist() == [isinstance(r.value, MultiLabel) for r in recs]
    assert list(cols.item_ids) == list(dict.fromkeys(r.item_id for r in recs))  # first appearance
    subs = ctx.submission_columns()
    for j, s in enumerate(ds.submissions):
        assert (cols.item_ids[subs.item[j]] if subs.item[j] >= 0 else None) == (
            s.item_id if s.item_id in cols.item_ids else None)
        assert subs.sources[subs.source[j]] == s.source
        assert bool(subs.cancelled[j]) == s.was_cancelled
        assert (math.isnan(subs.duration_s[j]) if s.duration_s is None else subs.duration_s[j] == s.duration_s)
    for kind in ("classification", "box", "multilabel", "cuboid"):
        assert ctx.records(kind) == [r for r in recs if r.value.kind == kind]
    assert ctx.kinds() == frozenset(r.value.kind for r in recs)


def test_empty_dataset_runs_every_check() -> None:
    rep = run_checks(Dataset(records=(), schema=SCHEMA))
    assert rep.findings == ()
    ctx = CheckContext(Dataset(records=()))
    assert len(ctx.columns()) == 0
    assert len(ctx.submission_columns()) == 0


def test_code_helpers() -> None:
    codes, keys = _code_column(iter(["b", "a", "b", "c", "a"]), known=("z", "a"))
    assert keys == ("z", "a", "b", "c")
    assert codes.tolist() == [2, 1, 2, 3, 1]
    key = np.array([5, 3, 5, 9, 3, 3])
    assert [g.tolist() for g in groups_in_order(key)] == [[0, 2], [1, 4, 5], [3]]
    assert groups_in_order(np.zeros(0, dtype=np.int64)) == []
    a, b = np.array([0, 1, 1, 0]), np.array([2, 0, 2, 2])
    out, size = combine((a, 2), (b, 3))
    assert size == 6
    assert out.tolist() == [2, 3, 5, 2]
    big = np.array([2**40, 1, 2**40])
    out, _ = combine((big, 2**41), (np.array([1, 1, 1]), 2**30))  # would overflow: renumbered first
    assert out[0] == out[2] != out[1]


@pytest.mark.parametrize("case", ["small", "negative", "wide", "single"])
def test_unique_codes_equals_numpy_unique(case: str) -> None:
    rng = np.random.default_rng(7)
    key = {"small": rng.integers(0, 50, 500), "negative": rng.integers(-3, 5, 200),
           "wide": rng.integers(0, 2**40, 300) * 3, "single": np.array([4])}[case]
    want = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
    got = unique_codes(key)
    for w, g in zip(want, got, strict=True):
        assert g.tolist() == w.reshape(-1).tolist()
    groups = groups_in_order(key)
    assert sorted(int(g[0]) for g in groups) == [int(g[0]) for g in groups]  # first appearance order
    assert sorted(np.concatenate(groups).tolist()) == list(range(key.size))
    assert all(np.all(key[g] == key[g[0]]) and np.all(np.diff(g) > 0) for g in groups)
