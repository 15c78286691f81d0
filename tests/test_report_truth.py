"""Dawid-Skene as map-reduce rounds (:mod:`accord.core.report.truth`, issue #17: "Iterative
sections run as map-reduce rounds: Dawid-Skene's E-step per partition, M-step on summed
confusion counts").

Differential: on random data split at random by item, the rounds give what the one-process
:func:`~accord.core.qa.consensus.dawid_skene` gives (itself tested against crowd-kit and the
1979 paper's table in tests/test_consensus.py): the same iterations, labels and convergence, and
the parameters to 1e-9.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from accord.core.errors import InvalidAnnotationError
from accord.core.qa.consensus import dawid_skene
from accord.core.report.engine import Context, run_sections
from accord.core.report.truth import DawidSkeneSection, truth_columns

CTX = Context(config=None, seed=0, schema=None)  # type: ignore[arg-type]


def _judgments(rng: np.random.Generator) -> list[tuple[str, str, str]]:
    n, k, r = int(rng.integers(5, 300)), int(rng.integers(2, 5)), int(rng.integers(2, 7))
    truth = rng.integers(0, k, n)
    rows = []
    for i in range(n):
        for a in range(r):
            if rng.random() < 0.6:
                lab = truth[i] if rng.random() < 0.45 + 0.1 * a else rng.integers(0, k)
                rows.append((f"i{i:04d}", f"a{a}", f"c{lab}"))
                if rng.random() < 0.05:  # the same annotator twice on an item: each judgment counts
                    rows.append((f"i{i:04d}", f"a{a}", f"c{rng.integers(0, k)}"))
    if not rows:
        rows.append(("i0000", "a0", "c0"))
    return rows


def _split(rows: list[tuple[str, str, str]], section: DawidSkeneSection, n_parts: int,
           rng: np.random.Generator) -> list[Any]:
    owner = {i: int(rng.integers(0, n_parts)) for i in sorted({t[0] for t in rows})}
    parts = [truth_columns([t for t in rows if owner[t[0]] == p], section.classes, section.annotators)
             for p in range(n_parts)]
    return [p for p in parts if p.item_ids]


@pytest.mark.parametrize("trial", range(40))
def test_rounds_over_a_random_split_equal_the_one_process_fit(trial: int) -> None:
    rng = np.random.default_rng(trial)
    rows = _judgments(rng)
    items, anns, labs = (list(x) for x in zip(*rows, strict=True))
    want = dawid_skene(items, anns, labs)
    section = DawidSkeneSection("x", sorted(set(labs)), sorted(set(anns)))
    parts = _split(rows, section, int(rng.integers(1, 7)), rng)
    rng.shuffle(parts)  # the order partitions arrive in does not matter
    got = run_sections([section], parts, CTX)["consensus:x"]
    assert got.n_iter == want.n_iter
    assert got.converged == want.converged
    assert got.item_ids.tolist() == want.item_ids.tolist()
    assert got.labels.tolist() == want.labels.tolist()
    assert got.classes.tolist() == want.classes.tolist()
    assert got.annotator_ids.tolist() == want.annotator_ids.tolist()
    for name in ("posteriors", "confusion", "priors"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-9, atol=1e-12, err_msg=name)
    assert got.log_likelihood == pytest.approx(want.log_likelihood, rel=1e-9)


def test_the_1979_table_in_any_split_and_each_pass_one_round() -> None:
    # Dawid & Skene (1979), Table 1: 45 patients, 5 anaesthetists (the first rated each patient
    # three times), as transcribed in tests/test_consensus.py
    from test_consensus import _DS1979

    rows = []
    for patient, block in enumerate(_DS1979.split("|"), start=1):
        first, rest = block.split()
        rows += [(f"p{patient:02d}", "a1", r) for r in first]
        rows += [(f"p{patient:02d}", f"a{a}", r) for a, r in enumerate(rest, start=2)]
    assert len(rows) == 315
    items, anns, labs = (list(x) for x in zip(*rows, strict=True))
    want = dawid_skene(items, anns, labs)
    section = DawidSkeneSection("x", sorted(set(labs)), sorted(set(anns)))
    passes = []

    def fold(sec: Any, ctx: Context, parts: Any) -> Any:
        passes.append(ctx.params)
        state = sec.create(ctx)
        for p in parts:
            state = sec.merge(state, sec.add(sec.create(ctx), p, ctx))
        return state

    got = run_sections([section], _split(rows, section, 4, np.random.default_rng(3)), CTX, fold=fold)["consensus:x"]
    assert len(passes) == want.n_iter + 1  # the vote shares, then one E-step per iteration
    assert passes[0] is None
    assert [p.iteration for p in passes[1:]] == list(range(1, want.n_iter + 1))
    assert got.labels.tolist() == want.labels.tolist()
    np.testing.assert_allclose(got.confusion, want.confusion, rtol=1e-9, atol=1e-12)


def test_max_iter_stops_the_rounds_unconverged() -> None:
    rng = np.random.default_rng(7)
    rows = _judgments(rng)
    items, anns, labs = (list(x) for x in zip(*rows, strict=True))
    want = dawid_skene(items, anns, labs, max_iter=2, tol=1e-12)
    section = DawidSkeneSection("x", sorted(set(labs)), sorted(set(anns)), max_iter=2, tol=1e-12)
    got = run_sections([section], _split(rows, section, 3, rng), CTX)["consensus:x"]
    assert (got.n_iter, got.converged) == (want.n_iter, want.converged) == (2, False)
    np.testing.assert_allclose(got.posteriors, want.posteriors, rtol=1e-9, atol=1e-12)


def test_a_label_the_section_does_not_know_is_one_line() -> None:
    with pytest.raises(InvalidAnnotationError, match=r"'c9' is not among the section's classes") as e:
        truth_columns([("i", "a0", "c9")], ["c0", "c1"], ["a0"])
    assert "\n" not in str(e.value)
