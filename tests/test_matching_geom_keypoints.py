"""OKS between keypoint skeletons: a hand-computed value, and pycocotools' COCOeval.computeOks."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from accord.core.errors import InvalidAnnotationError
from accord.core.matching.keypoints import COCO_PERSON_SIGMAS, oks_matrix
from accord.core.model import Keypoint, Keypoints

NAMES = tuple(COCO_PERSON_SIGMAS)


def _skeleton(xy: np.ndarray, vis: np.ndarray) -> Keypoints:
    return Keypoints(label="person", points=tuple(
        Keypoint(name=n, x=float(x), y=float(y), visibility=int(v)) for n, (x, y), v in zip(NAMES, xy, vis, strict=True)
    ))


def test_coco_person_sigmas() -> None:
    # pycocotools/cocoeval.py, Params.setKpParams: kpt_oks_sigmas = np.array([.26, .25, ...]) / 10.0
    assert len(COCO_PERSON_SIGMAS) == 17
    assert COCO_PERSON_SIGMAS["nose"] == pytest.approx(0.026)
    assert COCO_PERSON_SIGMAS["left_hip"] == pytest.approx(0.107)


def test_oks_hand_computed() -> None:
    # Two labeled points, area 100 (given). nose off by (3, 4) -> d^2 = 25, sigma 0.026;
    # left_shoulder exact. OKS = (exp(-25 / (2 * 100 * (2*0.026)^2)) + 1) / 2.
    ref = Keypoints(label="p", points=(Keypoint(name="nose", x=10, y=10),
                                       Keypoint(name="left_shoulder", x=20, y=30),
                                       Keypoint(name="left_eye", x=0, y=0, visibility=0)))
    cand = Keypoints(label="p", points=(Keypoint(name="nose", x=13, y=14),
                                        Keypoint(name="left_shoulder", x=20, y=30),
                                        Keypoint(name="left_eye", x=99, y=99)))  # ignored: not labeled in ref
    expected = (math.exp(-25 / (2 * 100 * 0.052**2)) + 1) / 2
    assert oks_matrix([ref], [cand], reference_areas=[100])[0, 0] == pytest.approx(expected, rel=1e-12)
    # Default area: the labeled points' bounding box, 10 x 20 = 200.
    expected_box = (math.exp(-25 / (2 * 200 * 0.052**2)) + 1) / 2
    assert oks_matrix([ref], [cand])[0, 0] == pytest.approx(expected_box, rel=1e-12)
    # A candidate missing a labeled point scores 0 for it.
    half = Keypoints(label="p", points=(Keypoint(name="left_shoulder", x=20, y=30),))
    assert oks_matrix([ref], [half])[0, 0] == pytest.approx(0.5)


def test_oks_custom_sigmas_and_undefined_rows() -> None:
    ref = Keypoints(label="face", points=(Keypoint(name="chin", x=0, y=0), Keypoint(name="brow", x=4, y=3)))
    cand = Keypoints(label="face", points=(Keypoint(name="chin", x=1, y=0), Keypoint(name="brow", x=4, y=3)))
    with pytest.raises(InvalidAnnotationError, match="no sigma for keypoint 'chin'"):
        oks_matrix([ref], [cand])
    # area 12, sigma 0.1 for chin: exp(-1 / (2 * 12 * 0.04)).
    got = oks_matrix([ref], [cand], sigmas={"chin": 0.1}, default_sigma=0.05)[0, 0]
    assert got == pytest.approx((math.exp(-1 / (2 * 12 * 0.04)) + 1) / 2, rel=1e-12)
    unlabeled = Keypoints(label="face", points=(Keypoint(name="chin", x=0, y=0, visibility=0),))
    assert np.isnan(oks_matrix([unlabeled], [cand], default_sigma=0.1)[0, 0])
    with pytest.raises(InvalidAnnotationError, match="sigmas must be > 0"):
        oks_matrix([ref], [cand], sigmas={"chin": 0.0}, default_sigma=0.1)
    with pytest.raises(InvalidAnnotationError, match="one area per reference"):
        oks_matrix([ref], [cand], default_sigma=0.1, reference_areas=[1.0, 2.0])


def _coco_oks(gts: list[tuple[np.ndarray, np.ndarray, float]], dts: list[np.ndarray]) -> np.ndarray:
    """pycocotools' computeOks on one image: (n_dt, n_gt), detections in the order given."""
    gt = {
        "images": [{"id": 1, "width": 1000, "height": 1000}],
        "categories": [{"id": 1, "name": "person", "keypoints": list(NAMES), "skeleton": []}],
        "annotations": [
            {"id": k + 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": area,
             "bbox": [0, 0, 10, 10], "num_keypoints": int((vis > 0).sum()),
             "keypoints": np.column_stack([np.where(vis[:, None] > 0, xy, 0), vis]).ravel().tolist()}
            for k, (xy, vis, area) in enumerate(gts)
        ],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        res = coco.loadRes([{"image_id": 1, "category_id": 1, "score": 1.0 - 0.01 * k,
                             "keypoints": np.column_stack([xy, np.full(17, 2)]).ravel().tolist()}
                            for k, xy in enumerate(dts)])
        ev = COCOeval(coco, res, "keypoints")
        ev.params.imgIds = [1]
        ev._prepare()
        return np.asarray(ev.computeOks(1, 1))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_oks_matches_pycocotools(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_gt, n_dt = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    gts = []
    for _ in range(n_gt):
        xy = rng.uniform(100, 400, (17, 2))
        vis = rng.integers(0, 3, 17)
        vis[rng.integers(0, 17)] = 2  # at least one labeled point (COCO's other branch is not OKS proper)
        gts.append((xy, vis, float(rng.uniform(500, 20000))))
    dts = [gts[int(rng.integers(0, n_gt))][0] + rng.normal(0, rng.uniform(1, 30), (17, 2)) for _ in range(n_dt)]
    peer = _coco_oks(gts, dts)  # (n_dt, n_gt)
    ours = oks_matrix([_skeleton(xy, vis) for xy, vis, _ in gts], [_skeleton(xy, np.full(17, 2)) for xy in dts],
                      reference_areas=[a for _, _, a in gts])
    np.testing.assert_allclose(ours, peer.T, rtol=1e-9, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(-500, 500), st.floats(-500, 500))
def test_oks_properties(seed: int, dx: float, dy: float) -> None:
    rng = np.random.default_rng(seed)
    refs = [_skeleton(rng.uniform(0, 300, (17, 2)), rng.integers(1, 3, 17)) for _ in range(3)]
    cands = [_skeleton(rng.uniform(0, 300, (17, 2)), rng.integers(0, 3, 17)) for _ in range(2)]
    m = oks_matrix(refs, cands)
    assert np.all((m >= 0) & (m <= 1))
    np.testing.assert_allclose(np.diag(oks_matrix(refs, refs)), 1.0)

    def moved(s: Keypoints) -> Keypoints:
        return Keypoints(label=s.label, points=tuple(
            Keypoint(name=p.name, x=p.x + dx, y=p.y + dy, visibility=p.visibility) for p in s.points))

    np.testing.assert_allclose(oks_matrix([moved(s) for s in refs], [moved(s) for s in cands]), m, atol=1e-9)
