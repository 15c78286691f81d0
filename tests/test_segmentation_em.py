"""SegmentationEM for masks and polygons (#20): crowd-kit's definition, checked against crowd-kit 1.4.2
(``crowdkit.aggregation.SegmentationEM``) on random masks, a hand-computed case, and the report's
``segmentation_method = "em"`` option end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from accord.core.errors import ConfigError, InvalidAnnotationError
from accord.core.model import Dataset, Mask, Polygon, Record
from accord.core.qa.region_consensus import em_rasters, vote_rasters
from accord.core.qa.report import ReportConfig, build_report, config_from_toml
from accord.core.qa.segmentation_em import segmentation_em
from accord.core.rle import encode

SCHEMA = Path(__file__).resolve().parents[1] / "core" / "data" / "report.schema.json"


# --------------------------------------------------------------------------- against crowd-kit


def _crowdkit(masks: np.ndarray, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """crowd-kit's fused mask and its last skills (``errors`` in its code: P(correct), from the last M-step)."""
    pd = pytest.importorskip("pandas")
    from crowdkit.aggregation import SegmentationEM

    seen: list[np.ndarray] = []
    real = SegmentationEM._m_step

    def recording(*args: Any) -> np.ndarray:
        out = real(*args)
        seen.append(out)
        return out

    monkeypatch.setattr(SegmentationEM, "_m_step", staticmethod(recording))
    df = pd.DataFrame([["t1", f"w{a}", masks[a].astype(np.int64)] for a in range(len(masks))],
                      columns=["task", "worker", "segmentation"])
    with np.errstate(over="ignore"):  # crowd-kit's bound sums the most negative float (nan_to_num of -inf)
        fused = SegmentationEM(**kw).fit_predict(df).loc["t1"]
    monkeypatch.undo()
    return np.asarray(fused, dtype=bool), (seen[-1] if seen else None)


def _noisy_masks(g: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    """A random rectangle per image, each annotator flipping pixels at their own rate (one often bad)."""
    truth = np.zeros((h, w), bool)
    y0, x0 = g.integers(0, h // 2), g.integers(0, w // 2)
    truth[y0:y0 + g.integers(2, h // 2 + 2), x0:x0 + g.integers(2, w // 2 + 2)] = True
    rates = g.uniform(0.0, 0.45, n)
    return np.stack([truth ^ (g.random((h, w)) < r) for r in rates])


@pytest.mark.parametrize("seed", range(12))
def test_masks_and_skills_equal_crowdkits_on_random_masks(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    g = np.random.default_rng(seed)
    masks = _noisy_masks(g, int(g.integers(2, 7)), int(g.integers(4, 20)), int(g.integers(4, 20)))
    ck_mask, ck_skills = _crowdkit(masks, monkeypatch)
    got = segmentation_em(masks)
    np.testing.assert_array_equal(got.mask, ck_mask)
    np.testing.assert_allclose(got.skills, ck_skills, rtol=0, atol=1e-9)
    assert got.mask.shape == masks.shape[1:]


@pytest.mark.parametrize(("n_iter", "tol"), [(1, 1e-5), (3, 0.0), (50, 1e-12)])
def test_the_stopping_rule_is_crowdkits(n_iter: int, tol: float, monkeypatch: pytest.MonkeyPatch) -> None:
    masks = _noisy_masks(np.random.default_rng(99), 5, 16, 16)
    ck_mask, ck_skills = _crowdkit(masks, monkeypatch, n_iter=n_iter, tol=tol)
    got = segmentation_em(masks, n_iter=n_iter, tol=tol)
    np.testing.assert_array_equal(got.mask, ck_mask)
    np.testing.assert_allclose(got.skills, ck_skills, rtol=0, atol=1e-9)
    assert 1 <= got.n_iterations <= n_iter


def test_nothing_marked_gives_an_empty_mask_as_crowdkit_does(monkeypatch: pytest.MonkeyPatch) -> None:
    masks = np.zeros((3, 4, 5), dtype=bool)
    ck_mask, _ = _crowdkit(masks, monkeypatch)
    got = segmentation_em(masks)
    assert not got.mask.any()
    assert not ck_mask.any()
    assert np.isnan(got.skills).all()  # no pixel to be right or wrong on
    assert got.region_px == 0


# --------------------------------------------------------------------------- hand-computed


def test_three_symmetric_annotators_hand_computed() -> None:
    # 1 x 3 image; a = 110, b = 011, c = 101: each pixel marked by 2 of 3, prior 2/3, majority 111.
    # First skills (M-step against the majority): 1 - (2 + 3 - 2 * 2) / 3 = 2/3 each.
    # E-step, each pixel (two markers, one not): P(in) = 2/3 * (2/3)(2/3)(1/3) = 8/81,
    # P(out) = 1/3 * (1/3)(1/3)(2/3) = 2/81, posterior 8/10 = 0.8.
    # M-step: 1 - (2 + 3 * 0.8 - 2 * 2 * 0.8) / 3 = 1 - 1.2 / 3 = 0.6.
    masks = [[[1, 1, 0]], [[0, 1, 1]], [[1, 0, 1]]]
    one = segmentation_em(masks, n_iter=1)
    np.testing.assert_allclose(one.posteriors, [[0.8, 0.8, 0.8]], rtol=1e-12)
    np.testing.assert_allclose(one.skills, [0.6, 0.6, 0.6], rtol=1e-12)
    assert one.mask.all()
    # Second iteration, prior 0.8, skills 0.6: P(in) = 0.8 * 0.6 * 0.6 * 0.4 = 0.1152,
    # P(out) = 0.2 * 0.4 * 0.4 * 0.6 = 0.0192, posterior 0.1152 / 0.1344 = 6/7;
    # skill 1 - (2 + 18/7 - 24/7) / 3 = 1 - (8/7) / 3 = 13/21.
    two = segmentation_em(masks, n_iter=2)
    np.testing.assert_allclose(two.posteriors, [[6 / 7] * 3], rtol=1e-12)
    np.testing.assert_allclose(two.skills, [13 / 21] * 3, rtol=1e-12)
    np.testing.assert_allclose(two.expected_errors_px, [3 * 8 / 21] * 3, rtol=1e-12)
    assert two.region_px == 3


def test_a_sloppy_annotator_is_outvoted_by_skill() -> None:
    # a and b mark the left column; c marks all four pixels. Against the majority (left column)
    # a and b are right on all 4 pixels of the union (skill 1), c on 2 of 4 (skill 0.5); with a
    # skill of 1 a's "not marked" makes the right column impossible, so the fused mask is the left one.
    r = segmentation_em(np.array([[[1, 0], [1, 0]], [[1, 0], [1, 0]], [[1, 1], [1, 1]]], dtype=bool))
    assert r.mask.tolist() == [[True, False], [True, False]]
    np.testing.assert_allclose(r.skills, [1.0, 1.0, 0.5])


def test_bad_input_is_explained() -> None:
    with pytest.raises(InvalidAnnotationError, match=r"shape \(n_annotators, height, width\)"):
        segmentation_em(np.zeros((4, 4)))
    with pytest.raises(InvalidAnnotationError, match="only 0 and 1"):
        segmentation_em(np.full((2, 3, 3), 2))
    with pytest.raises(InvalidAnnotationError, match="one \\(height, width\\) shape"):
        segmentation_em([np.zeros((2, 2)), np.zeros((3, 3))])
    with pytest.raises(InvalidAnnotationError, match="n_iter must be an integer >= 1"):
        segmentation_em(np.zeros((2, 3, 3)), n_iter=0)
    with pytest.raises(InvalidAnnotationError, match="tol must be a finite number >= 0"):
        segmentation_em(np.zeros((2, 3, 3)), tol=float("nan"))


# --------------------------------------------------------------------------- per label and in the report


def _one_bad_annotator() -> tuple[np.ndarray, list[np.ndarray]]:
    """10 x 10, truth rows 2-7 x columns 2-7 (36 px). a, b, c each miss one edge of it (6 px); d is
    bad: the right half of the square only, and a noise band over rows 0-1 (20 px)."""
    truth = np.zeros((10, 10), bool)
    truth[2:8, 2:8] = True
    a, b, c = truth.copy(), truth.copy(), truth.copy()
    a[2:8, 2] = False
    b[2, 2:8] = False
    c[7, 2:8] = False
    d = np.zeros((10, 10), bool)
    d[2:8, 5:8] = True
    d[0:2, :] = True
    return truth, [a, b, c, d]


def test_em_differs_from_the_vote_when_one_annotator_is_bad() -> None:
    truth, masks = _one_bad_annotator()
    rasters = [{"cell": m} for m in masks]
    vote = vote_rasters(rasters, [1.0] * 4, shape=(10, 10))["cell"]
    fused, errors = em_rasters(rasters, shape=(10, 10))
    em = fused["cell"]
    # The vote needs 3 of 4: the 8 left-half edge pixels that one good annotator and d missed
    # (2 of 4) drop out. EM learns that d is bad and keeps them.
    assert int((vote != truth).sum()) == 10
    assert int((em != truth).sum()) < int((vote != truth).sum())
    assert (em & ~vote).sum() == 8
    region, expected = errors["cell"]
    skills = 1 - expected / region
    assert region == 56  # the union: 36 + d's 20 noise pixels
    assert skills.argmin() == 3
    assert skills[3] < 0.5 < skills[:3].min()


def test_em_rasters_treat_a_label_an_annotator_did_not_draw_as_empty() -> None:
    m = np.zeros((3, 3), bool)
    m[0, 0] = True
    fused, errors = em_rasters([{"x": m}, {"x": m}, {}], shape=(3, 3))
    np.testing.assert_array_equal(fused["x"], segmentation_em(np.stack([m, m, np.zeros_like(m)])).mask)
    assert errors["x"][0] == 1
    with pytest.raises(InvalidAnnotationError, match="expected \\(3, 3\\)"):
        em_rasters([{"x": np.zeros((2, 2), bool)}], shape=(3, 3))


def _mask_dataset() -> Dataset:
    _, masks = _one_bad_annotator()
    recs = [Record(item_id=f"img{k}", annotator_id=who, label_set="cells",
                   value=Mask(label="cell", height=10, width=10, counts=encode(m)))
            for k in range(2) for who, m in zip("abcd", masks, strict=True)]
    # a polygon label set too: the same rule after rasterising (pixel centres inside)
    sq = [(2.0, 2.0), (8.0, 2.0), (8.0, 8.0), (2.0, 8.0)]
    recs += [Record(item_id="img0", annotator_id=who, label_set="outline", value=Polygon(label="cell", points=pts))
             for who, pts in (("a", sq), ("b", sq), ("c", [(2.0, 2.0), (9.0, 2.0), (9.0, 8.0), (2.0, 8.0)]))]
    return Dataset(records=tuple(recs))


def _validate(report: dict[str, Any]) -> dict[str, Any]:
    import jsonschema

    data = json.loads(json.dumps(dict(report), allow_nan=False))
    jsonschema.validate(data, json.loads(SCHEMA.read_text(encoding="utf-8")))
    return data


def test_the_report_runs_with_em_and_says_so() -> None:
    ds = _mask_dataset()
    vote = _validate(build_report(ds, config=ReportConfig(n_bootstrap=20), checks=False))["consensus"]["cells"]
    em = _validate(build_report(ds, config=ReportConfig(n_bootstrap=20, segmentation_method="em"),
                                checks=False))["consensus"]["cells"]
    assert vote["method"].startswith("pixel-wise weighted vote")
    assert "annotator_segmentation_skill" not in vote
    assert em["method"].startswith("SegmentationEM")
    # Two items, each: 26 px by the vote (36 - 10 wrong), 34 by EM (the 8 pixels the vote drops).
    assert (vote["area_px"], em["area_px"]) == (2 * 26, 2 * 34)
    skill = em["annotator_segmentation_skill"]
    assert set(skill) == set("abcd")
    assert skill["d"]["region_px"] == 2 * 56
    assert skill["d"]["skill"] == min(s["skill"] for s in skill.values())
    assert em["annotator_iou"]["a"]["iou"] > vote["annotator_iou"]["a"]["iou"]
    outline = build_report(ds, config=ReportConfig(n_bootstrap=20, segmentation_method="em"),
                           checks=False)["consensus"]["outline"]
    assert outline["method"].startswith("SegmentationEM")
    assert outline["n_regions"] == 1


def test_empty_masks_leave_no_undefined_skill_in_the_report() -> None:
    # Three annotators submit an all-false mask: SegmentationEM's skills are undefined (NaN) there;
    # the block skips the item's label for the skills and stays valid JSON (no NaN).
    empty = Mask(label="cell", height=4, width=4, counts=encode(np.zeros((4, 4), bool)))
    recs = [Record(item_id="e", annotator_id=a, label_set="cells", value=empty) for a in "abc"]
    block = _validate(build_report(Dataset(records=tuple(recs)), config=ReportConfig(n_bootstrap=20,
                                   segmentation_method="em"), checks=False))["consensus"]["cells"]
    assert (block["n_items"], block["n_regions"]) == (1, 0)
    assert block["annotator_segmentation_skill"] == {}


def test_the_option_is_validated_and_read_from_toml() -> None:
    with pytest.raises(ConfigError, match=r"segmentation_method must be one of vote, em .* got 'crf'"):
        ReportConfig(segmentation_method="crf")  # type: ignore[arg-type]
    assert config_from_toml('[report]\nsegmentation_method = "em"\n').segmentation_method == "em"
    assert ReportConfig().segmentation_method == "vote"
    with pytest.raises(ConfigError, match="segmentation_method must be one of"):
        config_from_toml('[report]\nsegmentation_method = "majority"\n')


def test_the_cli_option(tmp_path: Path) -> None:
    from accord.core.formats.jsonl import dumps_dataset

    src = tmp_path / "masks.jsonl"
    src.write_text(dumps_dataset(_mask_dataset()), encoding="utf-8")
    out = tmp_path / "r.json"
    run = subprocess.run([sys.executable, "-m", "accord", "report", str(src), "--json", str(out), "--no-checks",
                          "--no-ledger", "--segmentation-method", "em"], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["consensus"]["cells"]["method"].startswith("SegmentationEM")
    bad = subprocess.run([sys.executable, "-m", "accord", "report", str(src), "--segmentation-method", "crf"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert "invalid choice: 'crf'" in bad.stderr
