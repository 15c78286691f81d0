"""The QA report on a crowd-sized team (issue 15, "Crowd-sized teams"): 164 annotators on 800
items, 10 ratings each, 100 expert gold items, as a Label Studio export built here with a seed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from accord.core import agreement as ag
from accord.core.qa import report as report_mod
from accord.core.qa.intervals import proportion_interval
from accord.core.qa.report import ReportConfig, build_report, config_from_toml
from accord.plugins.label_studio.convert import from_label_studio_export

LABELS = ("relevant", "not_relevant", "unsure")
CONFIG_XML = ('<View><Text name="text" value="$text"/><Choices name="rel" toName="text" choice="single">'
              + "".join(f'<Choice value="{c}"/>' for c in LABELS) + "</Choices></View>")
TOPICS = ("news", "sports", "tech", "health")


def crowd_tasks(seed: int = 0, n_items: int = 800, n_annotators: int = 164, per_item: int = 10,
                n_gold: int = 100) -> list[dict[str, Any]]:
    """A Label Studio JSON export: each item rated by ``per_item`` of ``n_annotators`` workers of
    skill 0.35-0.9 (right label with that probability, else a uniform guess), gold on the first
    ``n_gold`` items, and a grouping field ``topic`` kept in ``data`` (not ``meta``)."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(3, size=n_items, p=[0.5, 0.35, 0.15])
    skill = rng.uniform(0.35, 0.9, size=n_annotators)
    tasks, ann_id = [], 0

    def annotation(who: int, email: str, label: int, gold: bool) -> dict[str, Any]:
        nonlocal ann_id
        ann_id += 1
        return {"id": ann_id, "completed_by": {"id": who, "email": email},
                "result": [{"from_name": "rel", "to_name": "text", "type": "choices",
                            "value": {"choices": [LABELS[label]]}}],
                "was_cancelled": False, "ground_truth": gold, "lead_time": float(rng.uniform(3, 20))}

    for i in range(n_items):
        raters = rng.choice(n_annotators, size=per_item, replace=False)
        anns = [annotation(int(a) + 10, f"w{a:03d}@crowd.example",
                           int(truth[i] if rng.random() < skill[a] else rng.integers(3)), False) for a in raters]
        if i < n_gold:
            anns.append(annotation(1, "expert@crowd.example", int(truth[i]), True))
        tasks.append({"id": i + 1, "data": {"text": f"query {i}", "topic": TOPICS[i % 4]}, "annotations": anns})
    return tasks


@pytest.fixture(scope="module")
def crowd() -> Any:
    return from_label_studio_export(crowd_tasks(), CONFIG_XML)


@pytest.fixture(scope="module")
def report(crowd: Any) -> dict[str, Any]:
    return build_report(crowd, checks=False)


def _ratings(crowd: Any) -> tuple[list[str], list[str], np.ndarray]:
    """(items, annotators, codes) of the human ratings; -1 where an annotator did not rate."""
    items = sorted(crowd.items, key=int)
    anns = sorted({r.annotator_id for r in crowd.records if r.source == "human"})
    row, col = {i: k for k, i in enumerate(items)}, {a: k for k, a in enumerate(anns)}
    codes = np.full((len(items), len(anns)), -1, dtype=np.int64)
    for r in crowd.records:
        if r.source == "human":
            codes[row[r.item_id], col[r.annotator_id]] = LABELS.index(r.value.label)
    return items, anns, codes


def test_crowd_shape(crowd: Any) -> None:
    human = [r for r in crowd.records if r.source == "human"]
    assert len(human) == 8000
    assert len(crowd.records) == 8100
    assert len({r.annotator_id for r in human}) == 164


def test_fleiss_kappa_whenever_items_have_a_fixed_number_of_ratings(crowd: Any, report: dict[str, Any]) -> None:
    """Differential test against statsmodels on the same data (before: no Fleiss' kappa at all,
    since no item is rated by all 164 annotators)."""
    inter_rater = pytest.importorskip("statsmodels.stats.inter_rater")
    _, _, codes = _ratings(crowd)
    table = np.stack([(codes == k).sum(axis=1) for k in range(3)], axis=1)
    assert (table.sum(axis=1) == 10).all()
    expected = inter_rater.fleiss_kappa(table, method="fleiss")
    fk = report["agreement"]["rel"]["coefficients"]["fleiss_kappa"]
    assert fk["estimate"] == pytest.approx(expected, abs=1e-6)
    assert fk["ratings_per_item"] == 10
    assert fk["low"] < fk["estimate"] < fk["high"]


def test_pairwise_kappa_only_for_pairs_sharing_enough_items(crowd: Any, report: dict[str, Any]) -> None:
    pw = report["agreement"]["rel"]["pairwise"]
    assert pw["min_items"] == report_mod.MIN_PAIR_ITEMS
    _, anns, codes = _ratings(crowd)
    col = {a: k for k, a in enumerate(anns)}
    shown = 0
    for i, a in enumerate(pw["annotators"]):
        for j, b in enumerate(pw["annotators"]):
            v = pw["matrix"][i][j]
            if i == j or a not in col or b not in col:
                continue
            both = (codes[:, col[a]] >= 0) & (codes[:, col[b]] >= 0)
            if both.sum() < pw["min_items"]:
                assert v is None
                continue
            shown += i < j
            try:
                expected = ag.cohen_kappa(codes[both, col[a]], codes[both, col[b]])
            except Exception:  # noqa: BLE001 - undefined kappa: the cell must be empty
                expected = None
            assert (v is None) == (expected is None)
            if expected is not None:
                assert v == pytest.approx(expected, abs=1e-6)
    assert shown == pw["n_pairs_shown"] > 0
    assert pw["n_pairs_sharing_items"] > 10 * pw["n_pairs_shown"]  # most pairs share a handful of items


def test_pairwise_figures_come_from_one_pass_not_a_loop_over_pairs(crowd: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """13,366 annotator pairs: one contingency pass, no per-pair cohen_kappa call (37.5 s before)."""
    def refuse(*_a: Any, **_k: Any) -> float:
        raise AssertionError("cohen_kappa called per pair")
    monkeypatch.setattr(ag, "cohen_kappa", refuse)
    small = ReportConfig(n_bootstrap=100)
    out = build_report(crowd, config=small, checks=False)
    assert out["agreement"]["rel"]["pairwise"]["n_pairs_shown"] > 0


def test_bootstrap_is_bounded() -> None:
    cfg = ReportConfig(n_bootstrap=5000)
    assert report_mod._boot_cfg(cfg, 8000).n_bootstrap == 5000
    assert report_mod._boot_cfg(cfg, 10_000_000).n_bootstrap == 100
    assert report_mod._boot_cfg(cfg, 100_000).n_bootstrap == report_mod._BOOTSTRAP_CELLS // 100_000


def test_annotator_vs_rest_is_sorted_and_exact(crowd: Any, report: dict[str, Any]) -> None:
    rows = report["agreement"]["rel"]["annotator_vs_rest"]["rows"]
    assert len(rows) == 164
    kappas = [r["cohen_kappa"] for r in rows]
    assert kappas == sorted(kappas)
    _, anns, codes = _ratings(crowd)
    a = anns.index(rows[0]["annotator_id"])
    mine, theirs = [], []
    for i in np.flatnonzero(codes[:, a] >= 0):
        for b in np.flatnonzero(codes[i] >= 0):
            if b != a:
                mine.append(codes[i, a])
                theirs.append(codes[i, b])
    assert rows[0]["n_pairs"] == len(mine) == 9 * rows[0]["n_items"]
    assert rows[0]["cohen_kappa"] == pytest.approx(ag.cohen_kappa(mine, theirs), abs=1e-6)


def test_headline_ranked_by_impact_and_capped(report: dict[str, Any]) -> None:
    s = report["summary"]
    assert len(s["headline"]) == ReportConfig().max_headlines
    assert len(s["headline_more"]) > 100
    assert s["headline"][0].startswith("rel: krippendorff_alpha")  # 800 items in doubt
    assert s["headline"][1].startswith(f"{s['n_conflicts']} items wait")
    # the annotators' most frequent errors come in decreasing counts
    counts = [int(m.group(1)) for h in s["headline"] + s["headline_more"]
              if (m := re.search(r"most frequent error is .* \((\d+)\)\.$", h))]
    assert counts == sorted(counts, reverse=True)
    assert len(counts) > 100


def test_gold_still_needed_answers_the_verdict(report: dict[str, Any]) -> None:
    """Before: "undecided, gold items still needed 0" (the interval was narrow enough, not decided)."""
    rows = [s for sets in report["gold"]["annotators"].values() for s in sets.values()]
    assert {r["verdict"] for r in rows} == {"undecided", "fail"}  # ~6 gold items each: none can pass
    threshold = report["gold"]["threshold"]
    for r in rows:
        need = r["more_items_needed"]
        if r["verdict"] in ("pass", "fail"):
            assert need == 0
            continue
        sc = r["score"]
        if need is None:  # the score sits on the threshold: no number of items decides it
            assert sc["estimate"] == pytest.approx(threshold, abs=0.02)
            continue
        assert need > 0
        p, n = sc["successes"] / sc["n"], sc["n"] + need
        lo, hi = proportion_interval(p * n, n)
        lo1, hi1 = proportion_interval(p * (n - 1), n - 1)
        if p > threshold:
            assert lo >= threshold > lo1
        else:
            assert hi < threshold <= hi1


def test_bias_reads_grouping_fields_from_task_data(crowd: Any, report: dict[str, Any]) -> None:
    """Label Studio users keep grouping fields in data: detected (the text field is not)."""
    bias = report["bias"]
    assert bias["group_keys"] == ["topic"]
    assert bias["key_sources"] == {"topic": ["data"]}
    assert {t["group_key"] for t in bias["tests"]} == {"topic"}
    cfg = config_from_toml('[report]\nbias_fields = ["topic", "nowhere"]\nn_bootstrap = 100\n')
    assert cfg.bias_fields == ("topic", "nowhere")
    out = build_report(crowd, config=cfg, checks=False)
    assert out["bias"]["group_keys"] == ["topic", "nowhere"]
    assert out["bias"]["missing_keys"] == ["nowhere"]
    assert [g["group"] for g in out["bias"]["agreement_by_group"][0]["groups"]] == sorted(TOPICS)


@pytest.mark.parametrize("text", ['[report]\nbias_fields = "topic"\n', "[report]\nbias_fields = [1]\n"])
def test_bias_fields_must_be_a_list_of_names(text: str) -> None:
    from accord.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"\[report\] bias_fields must be a list of field names"):
        config_from_toml(text)


def test_crowd_html_has_no_giant_heatmap(report: dict[str, Any]) -> None:
    from accord.report_html import MAX_HEATMAP_ANNOTATORS, render_html

    html = render_html(report)
    assert len(html) < 600_000  # 4.2 MB before
    widths = [float(w) for w in re.findall(r'<svg[^>]*? width="([\d.]+)"', html)]
    assert max(widths) < 2000  # the 164 x 164 heat map was 9,544 px wide
    assert "each annotator vs the rest" in html
    assert f"{len(report['summary']['headline_more'])} more, by impact</summary>" in html
    assert MAX_HEATMAP_ANNOTATORS == 30


def test_crowd_report_through_the_cli(tmp_path: Path) -> None:
    from accord.cli import main

    export = tmp_path / "crowd.json"
    export.write_text(json.dumps(crowd_tasks(n_items=200, n_gold=20)))
    (tmp_path / "crowd.label_config.xml").write_text(CONFIG_XML)
    cfg = tmp_path / "report.toml"
    cfg.write_text("[report]\nn_bootstrap = 100\nmax_headlines = 3\n")
    assert main(["-q", "report", str(export), "--config", str(cfg), "--json", str(tmp_path / "r.json"),
                 "--no-checks"]) == 0
    r = json.loads((tmp_path / "r.json").read_text())
    assert len(r["summary"]["headline"]) == 3


def test_items_to_decide_known_answers() -> None:
    from accord.core.qa.gold import RateCI, items_to_decide, verdict_for

    # 9 of 10 right, threshold 0.8: Wilson lower end at 0.9 on 61 items is 0.7995, on 62 items 0.8005
    assert items_to_decide(RateCI.of(9, 10), 0.8) == 52
    # 165 of 200 (0.825, [0.766, 0.872]): narrower than a 0.2 target width, so the planner's
    # figure is 0, yet undecided; deciding takes items
    narrow = RateCI.of(165, 200)
    assert verdict_for(narrow, 0.8) == "undecided"
    assert narrow.high - narrow.low < 0.2
    need = items_to_decide(narrow, 0.8)
    assert need is not None
    assert need > 0
    assert items_to_decide(RateCI.of(2, 10), 0.8) == 0  # fail: decided
    assert items_to_decide(RateCI.of(4, 5), 0.8) is None  # on the threshold
    assert items_to_decide(RateCI.of(0, 0), 0.8) is None  # no gold
