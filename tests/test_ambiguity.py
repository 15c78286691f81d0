"""Ambiguity vs error (issue 20): soft labels, difficulties, the ambiguous listing, the conflict
queue without ambiguous items, ``--ambiguity-threshold`` and ``--soft-labels``."""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from accord.core.errors import ConfigError, InvalidAnnotationError
from accord.core.model import Classification, Dataset, Record
from accord.core.qa.ambiguity import (
    DEFAULT_AMBIGUITY_THRESHOLD,
    DIFFICULTY_DEFINITIONS,
    ambiguity,
    normalized_entropy,
    soft_label_rows,
    vote_weights,
)
from accord.core.qa.consensus import CONSENSUS_METHODS, class_consensus
from accord.core.qa.report import ReportConfig, build_report, config_from_toml
from accord.core.schema import LabelSet, Schema
from accord.report_html import render_html

FROZEN = Path(__file__).resolve().parent / "fixtures" / "frozen"


# --------------------------------------------------------------------------- known answers


def test_normalised_entropy_hand_computed() -> None:
    # (0.7, 0.3): -(0.7 ln 0.7 + 0.3 ln 0.3) / ln 2 = (0.249672 + 0.361192) / 0.693147 = 0.881291
    # (0.5, 0.25, 0.25): 1.5 bits / log2(3) = 1.5 / 1.584963 = 0.946395
    # (1, 0): 0; (0.5, 0.5): 1
    got = normalized_entropy([[0.7, 0.3], [1.0, 0.0], [0.5, 0.5]])
    assert got.tolist() == pytest.approx([0.881291, 0.0, 1.0], abs=1e-6)
    assert normalized_entropy([[0.5, 0.25, 0.25]])[0] == pytest.approx(0.946395, abs=1e-6)
    assert normalized_entropy([[1.0]]).tolist() == [0.0]  # one class: no uncertainty


def test_vote_weights_are_log_odds_against_chance() -> None:
    # K = 2: s = 0.9 -> ln(0.9 / 0.1) = ln 9 = 2.197225; s = 0.5 (a coin) -> 0; s = 0.3 -> below chance -> 0
    # K = 3: s = 0.6 -> ln(0.6 * 2 / 0.4) = ln 3 = 1.098612; s = 1/3 -> ln 1 = 0
    assert vote_weights([0.9, 0.5, 0.3], 2).tolist() == pytest.approx([2.197225, 0.0, 0.0], abs=1e-6)
    assert vote_weights([0.6, 1 / 3], 3).tolist() == pytest.approx([1.098612, 0.0], abs=1e-6)
    assert vote_weights([1.0], 2)[0] == pytest.approx(math.log(999))  # capped at 1 - 1e-3


def test_weighted_soft_label_and_difficulty_by_hand() -> None:
    # Item 1: a, b, c say x; d says y. Item 2: a, b say x; c, d say y. Item 3: all four x.
    # wawa's skill = share of answers equal to the plain majority (item 2 ties -> x, the first class):
    #   a = b = 3/3, c = 2/3, d = 1/3.  Weights (K = 2): a, b capped at 0.999 -> ln 999 = 6.906755;
    #   c -> ln((2/3) / (1/3)) = ln 2 = 0.693147; d -> below chance -> 0.
    # Item 1 soft label: x = 2 ln 999 + ln 2 = 14.506658, y = 0 -> (1, 0), entropy 0.
    # Item 2: x = 2 ln 999 = 13.813511, y = ln 2 = 0.693147 -> y share 0.693147 / 14.506658 = 0.047781,
    #   entropy -(0.952219 ln 0.952219 + 0.047781 ln 0.047781) / ln 2
    #   = (0.046621 + 0.145309) / 0.693147 = 0.276896.
    it = [1] * 4 + [2] * 4 + [3] * 4
    an = ["a", "b", "c", "d"] * 3
    lab = ["x", "x", "x", "y", "x", "x", "y", "y", "x", "x", "x", "x"]
    r = ambiguity(class_consensus(it, an, lab, method="wawa"), it, an, lab)
    assert r.weights.tolist() == pytest.approx([math.log(999), math.log(999), math.log(2), 0.0])
    assert r.distribution[:, 1].tolist() == pytest.approx([0.0, 0.047781, 0.0], abs=1e-6)
    assert r.difficulty.tolist() == pytest.approx([0.0, 0.276896, 0.0], abs=1e-6)
    assert not r.ambiguous.any()
    # Unweighted (majority_vote), item 2 is a 2-2 split: entropy 1; without one vote it is 2-1:
    # -(2/3 ln 2/3 + 1/3 ln 1/3) / ln 2 = 0.918296 > 0.8 -> ambiguous. Item 1 (3-1): 0.811278,
    # but without d's vote it is unanimous (0) -> one slip, not an ambiguity.
    mv = ambiguity(class_consensus(it, an, lab, method="majority_vote"), it, an, lab)
    assert mv.difficulty.tolist() == pytest.approx([0.811278, 1.0, 0.0], abs=1e-6)
    assert mv.one_removed.tolist() == pytest.approx([0.0, 0.918296, 0.0], abs=1e-6)
    assert mv.ambiguous.tolist() == [False, True, False]
    assert mv.source == "soft_label_entropy"


def test_one_removed_takes_the_lightest_or_heaviest_vote_of_a_class() -> None:
    # Brute force over every single removal equals the closed form, on random weighted items.
    rng = np.random.default_rng(3)
    for _ in range(30):
        n_votes = int(rng.integers(2, 9))
        it = [0] * n_votes
        an = [f"a{j}" for j in range(n_votes)]
        lab = [f"c{v}" for v in rng.integers(0, 3, n_votes)]
        c = class_consensus(it, an, lab, method="dawid_skene")
        r = ambiguity(c, it, an, lab)
        w = r.weights[[list(r.annotator_ids).index(a) for a in an]]
        if w.sum() <= 0:
            w = np.ones(n_votes)
        cls = list(r.classes)
        best = math.inf
        for drop in range(n_votes):
            counts = np.zeros(len(cls))
            for j in range(n_votes):
                if j != drop:
                    counts[cls.index(lab[j])] += w[j]
            gone = counts.sum() <= 1e-12 * max(w.sum(), 1)  # the one judgment removed: nothing left
            h = 0.0 if gone else float(normalized_entropy([counts / counts.sum()])[0])
            best = min(best, h if len(cls) > 1 else 0.0)
        assert r.one_removed[0] == pytest.approx(best, abs=1e-9)


def test_bad_inputs_say_what_to_do() -> None:
    c = class_consensus([1, 1], ["a", "b"], ["x", "y"], method="majority_vote")
    with pytest.raises(InvalidAnnotationError, match=r"normalised entropy in \[0, 1\], got 1.5"):
        ambiguity(c, [1, 1], ["a", "b"], ["x", "y"], threshold=1.5)
    with pytest.raises(InvalidAnnotationError, match="not the ones the consensus was fitted on"):
        ambiguity(c, [1, 2], ["a", "b"], ["x", "y"])
    with pytest.raises(ConfigError, match=r"ambiguity_threshold is a normalised entropy in \[0, 1\]"):
        ReportConfig(ambiguity_threshold=-0.1)
    with pytest.raises(ConfigError, match="ambiguity_threshold"):
        config_from_toml('[report]\nambiguity_threshold = "high"\n')


# --------------------------------------------------------------------------- simulated ambiguity vs error

N_CLEAR, N_AMBIGUOUS, N_SKILLED = 300, 60, 7


def _simulate(seed: int) -> tuple[list[str], list[str], list[str], set[str]]:
    """Seven skilled annotators (95 % right) and one who answers at random, on 300 clear items;
    on 60 genuinely ambiguous items everybody answers at random. Returns the judgments and the
    clear items where the random annotator was the only one to disagree (plain errors)."""
    rng = np.random.default_rng(seed)
    items: list[str] = []
    anns: list[str] = []
    labs: list[str] = []
    plain_errors = set()
    for i in range(N_CLEAR + N_AMBIGUOUS):
        truth = int(rng.integers(2))
        answers = []
        for a in range(N_SKILLED + 1):
            if a == N_SKILLED or i >= N_CLEAR:
                answers.append(int(rng.integers(2)))
            else:
                answers.append(truth if rng.random() < 0.95 else 1 - truth)
        if i < N_CLEAR and all(x == truth for x in answers[:N_SKILLED]) and answers[N_SKILLED] != truth:
            plain_errors.add(f"i{i:04d}")
        for a, x in enumerate(answers):
            items.append(f"i{i:04d}")
            anns.append("bad" if a == N_SKILLED else f"skilled{a}")
            labs.append(("negative", "positive")[x])
    return items, anns, labs, plain_errors


def _is_ambiguous(item: str) -> bool:
    return int(item[1:]) >= N_CLEAR


@pytest.mark.parametrize("method", ["dawid_skene", "glad", "mace", "one_coin_dawid_skene", "wawa"])
@pytest.mark.parametrize("seed", [0, 1])
def test_simulated_ambiguous_items_are_flagged_and_plain_errors_are_not(method: str, seed: int) -> None:
    items, anns, labs, plain_errors = _simulate(seed)
    r = ambiguity(class_consensus(items, anns, labs, method=method), items, anns, labs)  # type: ignore[arg-type]
    flagged = {str(i) for i in r.item_ids[r.ambiguous]}
    # the random annotator disagrees alone on about 300 x 0.95^7 x 0.5 = 105 clear items
    assert len(plain_errors) > 60
    assert not flagged & plain_errors
    true_amb = {i for i in r.item_ids.astype(str) if _is_ambiguous(i)}
    # Seven random binary answers split 4-3 with probability 2 * C(7, 3) / 2^7 = 0.547: those stay
    # split without any one vote (4-2: 0.918 > 0.8); a 5-2 split does not (5-1: 0.650).
    recall = len(flagged & true_amb) / len(true_amb)
    assert recall >= 0.4
    false_alarms = len(flagged - true_amb) / N_CLEAR
    assert false_alarms <= 0.03  # needs >= 3 slips of 7 skilled annotators at 95 %, or the coin
    want = "glad_item_parameter" if method == "glad" else "soft_label_entropy"
    assert r.source == want
    assert r.weights[list(r.annotator_ids).index("bad")] < 0.5 * float(np.median(r.weights))


def test_the_posterior_entropy_would_miss_them() -> None:
    # Why the module does not use the Dawid-Skene posterior (its docstring quotes these figures).
    items, anns, labs, _ = _simulate(0)
    c = class_consensus(items, anns, labs, method="dawid_skene")
    post = normalized_entropy(c.fit.posteriors)  # type: ignore[union-attr]
    amb = np.array([_is_ambiguous(str(i)) for i in c.item_ids])
    r = ambiguity(c, items, anns, labs)
    assert float(np.mean(post[amb] > 0.8)) < 0.2
    assert float(np.mean(r.difficulty[amb] > 0.8)) > 0.8


# --------------------------------------------------------------------------- the report


def _dataset(seed: int = 0) -> Dataset:
    items, anns, labs, _ = _simulate(seed)
    recs = tuple(Record(item_id=i, annotator_id=a, label_set="sentiment", value=Classification(label=lab))
                 for i, a, lab in zip(items, anns, labs, strict=True))
    schema = Schema(label_sets={"sentiment": LabelSet(name="sentiment", kind="classification",
                                                      labels=("negative", "positive"))})
    return Dataset(records=recs, schema=schema, name="ambiguity")


@pytest.fixture(scope="module")
def reports() -> tuple[Any, Any]:
    ds = _dataset()
    on = build_report(ds, config=ReportConfig(n_bootstrap=20), checks=False)
    off = build_report(ds, config=ReportConfig(n_bootstrap=20, ambiguity_threshold=1.0), checks=False)
    return on, off


def test_report_lists_ambiguous_items_and_leaves_them_out_of_the_conflict_queue(reports: tuple[Any, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    on, off = reports
    c = on["consensus"]["sentiment"]
    assert c["ambiguity"]["threshold"] == DEFAULT_AMBIGUITY_THRESHOLD
    assert c["ambiguity"]["difficulty"] == DIFFICULTY_DEFINITIONS["soft_label_entropy"]
    listed = {a["item_id"] for a in c["ambiguous"]}
    assert c["n_ambiguous"] == c["n_ambiguous_listed"] == len(listed) > 20
    assert sum(not _is_ambiguous(i) for i in listed) <= 9  # at most 3 % of the 300 clear items
    diffs = [a["difficulty"] for a in c["ambiguous"]]
    assert diffs == sorted(diffs, reverse=True)
    for a in c["ambiguous"]:
        assert sum(a["distribution"].values()) == pytest.approx(1.0, abs=1e-5)
        assert a["difficulty"] > 0.8
    queued_on = {x["item_id"] for x in on["conflicts"]["items"]}
    queued_off = {x["item_id"] for x in off["conflicts"]["items"]}
    assert not queued_on & listed
    left_out = queued_off & listed  # with ambiguity off, the split items are conflicts
    assert left_out
    assert on["conflicts"]["n_ambiguous_left_out"] == {"sentiment": len(left_out)}
    assert queued_on == queued_off - listed
    assert on["summary"]["n_conflicts"] == off["summary"]["n_conflicts"] - len(left_out)
    assert off["consensus"]["sentiment"]["n_ambiguous"] == 0
    assert "n_ambiguous_left_out" not in off["conflicts"]
    assert on["consensus"]["sentiment"]["labels"] == off["consensus"]["sentiment"]["labels"]
    # disagreeing with the consensus of an ambiguous item is no discrepancy; elsewhere nothing changes
    mismatches_on = {(d.item_id, d.annotator_id) for d in on.discrepancies if d.against == "consensus"}
    mismatches_off = {(d.item_id, d.annotator_id) for d in off.discrepancies if d.against == "consensus"}
    assert not {i for i, _ in mismatches_on} & listed
    assert {i for i, _ in mismatches_off} & listed
    assert mismatches_on == {(i, a) for i, a in mismatches_off if i not in listed}
    schema = json.loads((resources.files("accord.core") / "data" / "report.schema.json").read_text())
    jsonschema.validate(json.loads(json.dumps(on)), schema)


def test_report_listing_is_capped_but_counts_all(monkeypatch: pytest.MonkeyPatch) -> None:
    import accord.core.qa.report as report_mod

    monkeypatch.setattr(report_mod, "_AMBIGUOUS_LISTED", 5)
    c = build_report(_dataset(), config=ReportConfig(n_bootstrap=20), checks=False)["consensus"]["sentiment"]
    assert c["n_ambiguous_listed"] == 5 < c["n_ambiguous"]
    assert len(c["ambiguous"]) == 5


def test_report_html_shows_the_ambiguous_items(reports: tuple[Any, Any]) -> None:
    on, _ = reports
    html = render_html(on)
    section = html[html.index('id="consensus"'):html.index('id="label_errors"')]
    c = on["consensus"]["sentiment"]
    assert f"{c['n_ambiguous']} items are ambiguous" in section
    assert "left out of the conflict queue" in section
    assert "is an error to fix, not an ambiguity" in section
    first = c["ambiguous"][0]
    assert f"<td>{first['item_id']}</td>" in section


def test_glad_reports_its_item_parameter() -> None:
    rep = build_report(_dataset(1), config=ReportConfig(n_bootstrap=20, consensus_method="glad"), checks=False)
    c = rep["consensus"]["sentiment"]
    assert c["ambiguity"]["difficulty"] == DIFFICULTY_DEFINITIONS["glad_item_parameter"]
    assert c["n_ambiguous"] > 20
    assert sum(not _is_ambiguous(a["item_id"]) for a in c["ambiguous"]) <= 9


def test_every_method_runs_in_the_report() -> None:
    it, an = [f"t{i}" for i in range(6) for _ in range(5)], [f"a{j}" for _ in range(6) for j in range(5)]
    lab = ["x", "x", "y", "y", "x"] * 3 + ["x"] * 15
    for m in CONSENSUS_METHODS:
        r = ambiguity(class_consensus(it, an, lab, method=m), it, an, lab)  # type: ignore[arg-type]
        assert r.distribution.sum(axis=1).tolist() == pytest.approx([1.0] * 6)
        assert np.all((r.difficulty >= 0) & (r.difficulty <= 1))
        assert not r.ambiguous[3:].any()  # unanimous items


# --------------------------------------------------------------------------- the CLI


def test_cli_soft_labels_and_threshold_flag(tmp_path: Path) -> None:
    from accord.cli import main

    soft = tmp_path / "soft.jsonl"
    out = tmp_path / "report.json"
    base = [str(FROZEN / "choices.json"), "--label-config", str(FROZEN / "choices.label_config.xml"),
            "--no-checks", "--no-ledger", "--json", str(out), "--soft-labels", str(soft)]
    assert main(["-q", "report", *base, "--ambiguity-threshold", "0.3"]) == 0
    rep = json.loads(out.read_text(encoding="utf-8"))
    assert rep["config"]["ambiguity_threshold"] == 0.3
    rows = [json.loads(line) for line in soft.read_text(encoding="utf-8").splitlines()]
    class_sets = [ls for ls, c in rep["consensus"].items() if "n_ambiguous" in c]
    assert class_sets
    for ls in class_sets:
        mine = [r for r in rows if r["label_set"] == ls]
        assert len(mine) == rep["consensus"][ls]["n_items"]
        assert sum(r["ambiguous"] for r in mine) == rep["consensus"][ls]["n_ambiguous"]
        assert {r["item"] for r in mine if r["ambiguous"]} == {a["item_id"] for a in rep["consensus"][ls]["ambiguous"]}
        for r in mine:
            assert set(r) == {"item", "label_set", "distribution", "ambiguous"}
            assert sum(r["distribution"].values()) == pytest.approx(1.0)
    assert any(r["ambiguous"] for r in rows)  # at 0.3 some of the 150 seeded tasks are split
    assert main(["-q", "report", *base]) == 0  # the default, 0.8: the frozen sample has no ambiguous item
    default = json.loads(out.read_text(encoding="utf-8"))
    assert default["config"]["ambiguity_threshold"] == DEFAULT_AMBIGUITY_THRESHOLD
    assert not any(json.loads(line)["ambiguous"] for line in soft.read_text(encoding="utf-8").splitlines())


def test_cli_rejects_a_threshold_outside_the_unit_interval(capsys: pytest.CaptureFixture[str]) -> None:
    from accord.cli import main

    with pytest.raises(SystemExit) as e:
        main(["-q", "report", str(FROZEN / "choices.json"), "--ambiguity-threshold", "2"])
    assert e.value.code == 2
    assert "expected a number in [0, 1], got '2'" in capsys.readouterr().err


def test_toml_sets_the_threshold() -> None:
    assert config_from_toml("[report]\nambiguity_threshold = 0.9\n").ambiguity_threshold == 0.9


def test_soft_label_rows_cover_every_item() -> None:
    items, anns, labs, _ = _simulate(2)
    r = ambiguity(class_consensus(items, anns, labs), items, anns, labs)
    rows = list(soft_label_rows({"sentiment": r}))
    assert len(rows) == N_CLEAR + N_AMBIGUOUS
    assert [x["item"] for x in rows] == sorted(x["item"] for x in rows)
    assert sum(x["ambiguous"] for x in rows) == r.n_ambiguous


def test_docstring_examples_run() -> None:
    import doctest

    import accord.core.qa.ambiguity as mod

    result = doctest.testmod(mod)
    assert result.attempted >= 8
    assert result.failed == 0
