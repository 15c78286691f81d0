"""COCO detection evaluation (AP/AR), equal to pycocotools' ``COCOeval`` (bbox and segm).

The protocol follows pycocotools 2.0 step by step:

* per image and category, detections are sorted by score (stable, input
  order breaks ties) and cut to the largest ``maxDets`` (100);
* IoU is pycocotools' ``bbIou`` (boxes) or ``rleIou`` (RLE masks, exact pixel
  counts): for a crowd reference the union is the detection's own area;
* for each IoU threshold in 0.50:0.05:0.95 and each area range (all, small
  < 32², medium, large > 96²), detections are matched greedily in score order
  to the best still-free reference (crowd references may absorb several);
  references that are crowd or outside the area range are "ignored": a
  detection matched to one, or unmatched and itself outside the range, counts
  neither as true nor as false positive;
* precision is made monotone from the right and read at 101 recall points;
  AP averages it over thresholds, recall points and categories that have at
  least one non-ignored reference; AR is the final recall, averaged likewise.

The greedy matching runs for all images, categories, area ranges and
thresholds at once (numpy arrays indexed by detection rank), which is what
makes it fast; the arithmetic (``np.spacing(1)``, ``1 - 1e-10`` caps, ties to the
last best reference) is the reference implementation's, so the 12 summary
statistics agree with ``COCOeval.stats`` to floating-point rounding.

References:
    Lin et al. (2014), "Microsoft COCO: Common Objects in Context", ECCV.
    pycocotools ``cocoeval.py`` (https://github.com/cocodataset/cocoapi).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from ..errors import InvalidAnnotationError
from ..model import Box, Mask, Record
from ..rle import decode, from_coco_string

IouType: TypeAlias = Literal["bbox", "segm"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

__all__ = [
    "AREA_RANGES",
    "IOU_THRESHOLDS",
    "MAX_DETECTIONS",
    "RECALL_THRESHOLDS",
    "STAT_NAMES",
    "CocoEvalResult",
    "coco_evaluate",
]

#: 0.50, 0.55, ..., 0.95 exactly as pycocotools builds them.
IOU_THRESHOLDS: FloatArray = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1,
                                         endpoint=True, dtype=np.float64)
#: 0.00, 0.01, ..., 1.00.
RECALL_THRESHOLDS: FloatArray = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1,
                                            endpoint=True, dtype=np.float64)
#: (label, min area, max area) in square pixels, bounds inclusive.
AREA_RANGES: tuple[tuple[str, float, float], ...] = (
    ("all", 0.0, 1e5 ** 2), ("small", 0.0, 32.0 ** 2), ("medium", 32.0 ** 2, 96.0 ** 2),
    ("large", 96.0 ** 2, 1e5 ** 2),
)
MAX_DETECTIONS: tuple[int, int, int] = (1, 10, 100)
STAT_NAMES: tuple[str, ...] = (
    "AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
    "AR_1", "AR_10", "AR_100", "AR_small", "AR_medium", "AR_large",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CocoEvalResult:
    """COCO summary statistics and the arrays they come from.

    Attributes:
        stats: The 12 numbers of ``COCOeval.stats`` in its order (see
            :data:`STAT_NAMES`); each in [0, 1], or -1.0 where undefined (no
            category has a non-ignored reference in that area range).
        categories: Category names in the order of the arrays' category axis.
        precision: (T=10, R=101, K, A=4, M=3) interpolated precision, -1 where
            undefined (pycocotools' ``eval['precision']``).
        recall: (T, K, A, M) final recall, -1 where undefined.
        n_images: Images evaluated.
    """

    stats: tuple[float, ...]
    categories: tuple[str, ...]
    precision: FloatArray
    recall: FloatArray
    n_images: int

    def as_dict(self) -> dict[str, float]:
        """``{"AP": ..., "AP50": ..., ...}``."""
        return dict(zip(STAT_NAMES, self.stats, strict=True))

    def per_category_ap(self) -> dict[str, float]:
        """AP@[.5:.95] (all areas, 100 detections) per category; -1.0 where undefined."""
        out: dict[str, float] = {}
        for k, name in enumerate(self.categories):
            s = self.precision[:, :, k, 0, 2]
            s = s[s > -1]
            out[name] = float(np.mean(s)) if s.size else -1.0
        return out


# --------------------------------------------------------------------------- input


@dataclass(frozen=True, slots=True)
class _Table:
    image: IntArray
    category: IntArray
    xywh: FloatArray
    score: FloatArray
    crowd: BoolArray
    area: FloatArray


def _column(data: Mapping[str, Any], key: str, name: str) -> npt.NDArray[Any]:
    if key not in data:
        raise InvalidAnnotationError(
            f"{name} arrays need a {key!r} column, got keys {sorted(data)}; expected image_id, "
            f"category, bbox (x, y, width, height) and, for candidates, score"
        )
    return np.asarray(data[key])


def _from_records(records: Sequence[Record], name: str, iou_type: IouType) -> dict[str, Any]:
    ids: list[Any] = []
    cats: list[str] = []
    boxes: list[tuple[float, float, float, float]] = []
    masks: list[Mask] = []
    scores: list[float] = []
    crowd: list[bool] = []
    want = Box if iou_type == "bbox" else Mask
    for r in records:
        v = r.value
        if not isinstance(v, want):
            raise InvalidAnnotationError(
                f"{name} records must hold {want.__name__} values for iou_type={iou_type!r}, got "
                f"{v.kind!r} in item {r.item_id!r}"
            )
        if isinstance(v, Box):
            if v.rotation != 0.0:
                raise InvalidAnnotationError(
                    f"COCO evaluation needs axis-aligned boxes, got rotation={v.rotation!r} in item "
                    f"{r.item_id!r}; evaluate rotated boxes with the geometry matchers instead"
                )
            boxes.append((v.x, v.y, v.width, v.height))
        elif isinstance(v, Mask):
            masks.append(v)
            boxes.append((0.0, 0.0, 0.0, 0.0))
        ids.append(r.item_id)
        cats.append(v.label)
        scores.append(1.0 if r.score is None else float(r.score))
        crowd.append(bool(r.attributes.get("iscrowd", False)))
    out: dict[str, Any] = {"image_id": np.asarray(ids, dtype=object), "category": np.asarray(cats, dtype=object),
           "bbox": np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
           "score": np.asarray(scores, dtype=np.float64), "iscrowd": np.asarray(crowd, dtype=bool)}
    if iou_type == "segm":
        out["segmentation"] = masks
    return out


def _as_mask(value: Any, name: str, row: int) -> Mask:
    """A Mask from a Mask or a COCO RLE dict ``{"size": [h, w], "counts": list | str}``."""
    if isinstance(value, Mask):
        return value
    if isinstance(value, Mapping) and "size" in value and "counts" in value:
        h, w = (int(x) for x in value["size"])
        counts = value["counts"]
        if isinstance(counts, (str, bytes)):
            counts = from_coco_string(counts.decode() if isinstance(counts, bytes) else counts)
        return Mask(label="_", height=h, width=w, counts=tuple(int(c) for c in counts))
    raise InvalidAnnotationError(
        f"{name} segmentation row {row} must be a Mask or a COCO RLE dict with 'size' and 'counts', "
        f"got {type(value).__name__}; convert polygons to RLE first"
    )


def _normalize(data: Sequence[Record] | Mapping[str, Any], name: str, *, scored: bool,
               iou_type: IouType) -> dict[str, npt.NDArray[Any]]:
    if isinstance(data, Mapping):
        d = {k: v if k == "segmentation" else np.asarray(v) for k, v in data.items()}
        if iou_type == "segm" and "bbox" not in d and "segmentation" in d:
            d["bbox"] = np.zeros((len(d["segmentation"]), 4))
    elif isinstance(data, Sequence):
        d = _from_records(data, name, iou_type)
    else:
        raise InvalidAnnotationError(
            f"{name} must be a sequence of Records or a mapping of arrays, got {type(data).__name__}"
        )
    image = _column(d, "image_id", name).reshape(-1)
    n = image.size
    cat = _column(d, "category", name).reshape(-1)
    bbox = np.asarray(_column(d, "bbox", name), dtype=np.float64).reshape(-1, 4)
    if cat.size != n or bbox.shape[0] != n:
        raise InvalidAnnotationError(
            f"{name} columns differ in length: image_id {n}, category {cat.size}, bbox "
            f"{bbox.shape[0]}; give one row per box"
        )
    if not np.isfinite(bbox).all() or (bbox[:, 2:] < 0).any():
        raise InvalidAnnotationError(f"{name} boxes must be finite with width, height >= 0")
    if "score" in d:
        score = np.asarray(d["score"], dtype=np.float64).reshape(-1)
    elif scored:
        raise InvalidAnnotationError(
            f"{name} needs a 'score' column (detection confidence) to rank detections"
        )
    else:
        score = np.ones(n)
    if score.size != n or not np.isfinite(score).all():
        raise InvalidAnnotationError(f"{name} scores must be {n} finite numbers")
    crowd = (np.asarray(d["iscrowd"]).reshape(-1).astype(bool) if "iscrowd" in d
             else np.zeros(n, dtype=bool))
    masks = np.empty(n, dtype=object)
    if iou_type == "segm":
        if "segmentation" not in d:
            raise InvalidAnnotationError(
                f"{name} needs a 'segmentation' column (Mask values or COCO RLE dicts) for "
                f"iou_type='segm', got keys {sorted(d)}"
            )
        seg = list(d["segmentation"])
        if len(seg) != n:
            raise InvalidAnnotationError(f"{name} segmentation column must have {n} rows, got {len(seg)}")
        for k, v in enumerate(seg):
            masks[k] = _as_mask(v, name, k)
        natural = np.array([float(m.area) for m in masks], dtype=np.float64)
    else:
        natural = bbox[:, 2] * bbox[:, 3]
    # pycocotools' loadRes sets a detection's area to w * h (bbox) or the mask area (segm);
    # references keep the area they were given.
    area = (np.asarray(d["area"], dtype=np.float64).reshape(-1) if "area" in d and not scored
            else natural)
    if crowd.size != n or area.size != n:
        raise InvalidAnnotationError(f"{name} iscrowd/area columns must have {n} rows")
    return {"image": image, "category": cat, "bbox": bbox, "score": score, "crowd": crowd,
            "area": area, "mask": masks}


def _codes(values: npt.NDArray[Any], universe: npt.NDArray[Any]) -> IntArray:
    return np.searchsorted(universe, values).astype(np.int64)


def _universe(a: npt.NDArray[Any], b: npt.NDArray[Any], name: str) -> npt.NDArray[Any]:
    both = np.concatenate([a, b])
    try:
        out: npt.NDArray[Any] = np.unique(both)
    except TypeError as e:
        raise InvalidAnnotationError(
            f"{name} values must be mutually comparable (all int or all str), got a mix: {e}"
        ) from e
    return out


# --------------------------------------------------------------------------- matching


def _iou(det: FloatArray, gt: FloatArray, crowd: BoolArray) -> FloatArray:
    """pycocotools ``bbIou`` for padded (N, D, 4) detections and (N, G, 4) references."""
    dx, dy, dw, dh = (det[:, :, None, k] for k in range(4))
    gx, gy, gw, gh = (gt[:, None, :, k] for k in range(4))
    w = np.minimum(dx + dw, gx + gw) - np.maximum(dx, gx)
    h = np.minimum(dy + dh, gy + gh) - np.maximum(dy, gy)
    inter = w * h
    da = dw * dh
    union = np.where(crowd[:, None, :], da, da + gw * gh - inter)
    ok = (w > 0) & (h > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = np.where(ok, inter / np.where(ok, union, 1.0), 0.0)
    return out


def _mask_iou(det: Sequence[Mask], gt: Sequence[Mask], crowd: BoolArray) -> FloatArray:
    """pycocotools ``rleIou`` of (d) detection masks against (g) reference masks."""
    sizes = {(m.height, m.width) for m in (*det, *gt)}
    if len(sizes) > 1:
        raise InvalidAnnotationError(
            f"masks of one image must share its size (height, width), got {sorted(sizes)}"
        )
    dm = np.stack([decode(m.counts, m.height, m.width).ravel() for m in det]).astype(np.float64)
    gm = np.stack([decode(m.counts, m.height, m.width).ravel() for m in gt]).astype(np.float64)
    inter = dm @ gm.T
    da, ga = dm.sum(axis=1)[:, None], gm.sum(axis=1)[None, :]
    union = np.where(crowd[None, :], da, da + ga - inter)
    ok = inter > 0
    out: FloatArray = np.where(ok, inter / np.where(ok, union, 1.0), 0.0)
    return out


def _match_bucket(det_box: FloatArray, det_area: FloatArray, det_valid: BoolArray,
                  gt_box: FloatArray, gt_area: FloatArray, gt_crowd: BoolArray,
                  gt_valid: BoolArray, iou: FloatArray | None = None
                  ) -> tuple[BoolArray, BoolArray, BoolArray]:
    """Greedy COCO matching for a bucket of (image, category) groups.

    Returns ``matched`` and ``ignored`` (N, A, T, D) for detections, and the
    references' ignore flags (N, A, G).
    """
    n, dmax = det_valid.shape
    gmax = gt_valid.shape[1]
    lo = np.array([a[1] for a in AREA_RANGES])[None, :, None]
    hi = np.array([a[2] for a in AREA_RANGES])[None, :, None]
    gt_ig = gt_crowd[:, None, :] | (gt_area[:, None, :] < lo) | (gt_area[:, None, :] > hi)
    n_a, n_t = len(AREA_RANGES), IOU_THRESHOLDS.size
    matched = np.zeros((n, n_a, n_t, dmax), dtype=bool)
    ignored = np.zeros((n, n_a, n_t, dmax), dtype=bool)
    if gmax:
        if iou is None:
            iou = _iou(det_box, gt_box, gt_crowd)
        iou[~np.broadcast_to(gt_valid[:, None, :], iou.shape)] = -1.0
        thr = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)[None, None, :, None]
        taken = np.zeros((n, n_a, n_t, gmax), dtype=bool)
        crowd4 = gt_crowd[:, None, None, :]
        ig4 = np.broadcast_to(gt_ig[:, :, None, :], taken.shape)
        rev = np.arange(gmax - 1, -1, -1)
        for d in range(dmax):
            io = np.broadcast_to(iou[:, d, None, None, :], taken.shape)
            q = (~taken | crowd4) & (io >= thr)
            best: npt.NDArray[np.int64] = np.full((n, n_a, n_t), -1, dtype=np.int64)
            # Non-ignored references first; among equals, the last one wins (pycocotools).
            for cls in (~ig4, ig4):
                qc = q & cls
                has = qc.any(axis=-1) & (best < 0)
                if has.any():
                    val = np.where(qc, io, -np.inf)[..., rev]
                    idx = gmax - 1 - np.argmax(val, axis=-1)
                    best = np.where(has, idx, best)
            hit = (best >= 0) & det_valid[:, d, None, None]
            if hit.any():
                ni, ai, ti = np.nonzero(hit)
                gi = best[ni, ai, ti]
                taken[ni, ai, ti, gi] = True
                matched[ni, ai, ti, d] = True
                ignored[ni, ai, ti, d] = gt_ig[ni, ai, gi]
    out_range = (det_area[:, None, :] < lo) | (det_area[:, None, :] > hi)  # (N, A, D)
    ignored |= ~matched & out_range[:, :, None, :]
    return matched, ignored, gt_ig


def _pow2(x: IntArray) -> IntArray:
    return np.where(x <= 1, x, 1 << np.ceil(np.log2(np.maximum(x, 1))).astype(np.int64))


# --------------------------------------------------------------------------- evaluation


def coco_evaluate(reference: Sequence[Record] | Mapping[str, Any],
                  candidate: Sequence[Record] | Mapping[str, Any], *,
                  iou_type: IouType = "bbox",
                  image_ids: Sequence[Any] | None = None) -> CocoEvalResult:
    """COCO AP/AR of candidate detections against reference boxes.

    Args:
        reference: Gold boxes, as Records holding :class:`~accord.core.model.Box`
            values (item = image, label = category, ``attributes["iscrowd"]``),
            or a mapping of arrays ``image_id``, ``category``, ``bbox`` (n, 4) as
            ``(x, y, width, height)`` and optionally ``iscrowd`` and ``area``
            (COCO's annotation area; default width * height).
        candidate: Detections, the same way, with a ``score`` (Records: ``score``,
            default 1.0). As in pycocotools' ``loadRes``, a detection's area is
            always its own (width * height, or mask area); an ``area`` column is
            ignored on this side.
        iou_type: ``bbox``, or ``segm``: then Records hold
            :class:`~accord.core.model.Mask` values, and arrays carry a
            ``segmentation`` column of Masks or COCO RLE dicts (``{"size": [h, w],
            "counts": [...] or "compressed"}``) instead of ``bbox``; areas default
            to the mask areas. Polygons must be rasterised to RLE first (their
            rasterisation is pycocotools' own and is not reproduced here).
        image_ids: The images to evaluate (COCO's image list); default every image
            seen on either side. Images without references still count their
            detections as false positives.

    Returns:
        A :class:`CocoEvalResult` whose ``stats`` equal ``COCOeval(...).stats``.

    Raises:
        InvalidAnnotationError: Malformed input (missing columns, negative sizes,
            non-finite scores, rotated boxes) or an unsupported ``iou_type``.

    >>> ref = {"image_id": [1, 1], "category": ["cat", "dog"],
    ...        "bbox": [[0, 0, 10, 10], [50, 50, 40, 40]]}
    >>> cand = {"image_id": [1], "category": ["cat"], "bbox": [[0, 0, 10, 10]], "score": [0.9]}
    >>> r = coco_evaluate(ref, cand)
    >>> round(r.as_dict()["AP"], 6), {k: round(v, 6) for k, v in r.per_category_ap().items()}
    (0.5, {'cat': 1.0, 'dog': 0.0})
    """
    if iou_type not in ("bbox", "segm"):
        raise InvalidAnnotationError(f"iou_type must be 'bbox' or 'segm', got {iou_type!r}")
    ref = _normalize(reference, "reference", scored=False, iou_type=iou_type)
    det = _normalize(candidate, "candidate", scored=True, iou_type=iou_type)
    imgs = _universe(ref["image"], det["image"], "image_id")
    if image_ids is not None:
        wanted = np.unique(np.asarray(list(image_ids)))
        keep_r, keep_d = np.isin(ref["image"], wanted), np.isin(det["image"], wanted)
        ref = {k: v[keep_r] for k, v in ref.items()}
        det = {k: v[keep_d] for k, v in det.items()}
        imgs = wanted
    cats = _universe(ref["category"], det["category"], "category")
    n_k, n_a, n_t, n_m = cats.size, len(AREA_RANGES), IOU_THRESHOLDS.size, len(MAX_DETECTIONS)
    n_img = max(imgs.size, 1)
    r_grp = _codes(ref["category"], cats) * n_img + _codes(ref["image"], imgs)
    d_grp = _codes(det["category"], cats) * n_img + _codes(det["image"], imgs)

    # Per group: detections by score (stable), cut to 100; references in input order.
    d_order = np.lexsort((np.arange(d_grp.size), -det["score"], d_grp))
    d_grp_s = d_grp[d_order]
    d_start = np.searchsorted(d_grp_s, d_grp_s, side="left")
    d_rank = np.arange(d_grp_s.size) - d_start
    keep = d_rank < MAX_DETECTIONS[-1]
    d_order, d_grp_s, d_rank = d_order[keep], d_grp_s[keep], d_rank[keep]
    r_order = np.lexsort((np.arange(r_grp.size), r_grp))
    r_grp_s = r_grp[r_order]
    r_rank = np.arange(r_grp_s.size) - np.searchsorted(r_grp_s, r_grp_s, side="left")

    groups, g_inv = np.unique(np.concatenate([d_grp_s, r_grp_s]), return_inverse=True)
    n_g = groups.size
    d_gi, r_gi = g_inv[:d_grp_s.size], g_inv[d_grp_s.size:]
    n_det_g = np.bincount(d_gi, minlength=n_g)
    n_ref_g = np.bincount(r_gi, minlength=n_g)

    matched = np.zeros((d_order.size, n_a, n_t), dtype=bool)
    ignored = np.zeros((d_order.size, n_a, n_t), dtype=bool)
    gt_ig_all = np.zeros((r_order.size, n_a), dtype=bool)
    key = _pow2(n_det_g) * (1 << 20) + _pow2(n_ref_g)
    for bucket in np.unique(key):
        gsel = np.flatnonzero(key == bucket)
        slot = np.full(n_g, -1, dtype=np.int64)
        slot[gsel] = np.arange(gsel.size)
        dmax, gmax = int(n_det_g[gsel].max()), int(n_ref_g[gsel].max())
        di = np.flatnonzero(slot[d_gi] >= 0)
        ri = np.flatnonzero(slot[r_gi] >= 0)
        ds, rs = slot[d_gi[di]], slot[r_gi[ri]]
        det_box = np.zeros((gsel.size, max(dmax, 1), 4))
        det_area = np.zeros((gsel.size, max(dmax, 1)))
        det_valid = np.zeros((gsel.size, max(dmax, 1)), dtype=bool)
        src = d_order[di]
        det_box[ds, d_rank[di]] = det["bbox"][src]
        det_area[ds, d_rank[di]] = det["area"][src]
        det_valid[ds, d_rank[di]] = True
        gt_box = np.zeros((gsel.size, gmax, 4))
        gt_area = np.zeros((gsel.size, gmax))
        gt_crowd = np.zeros((gsel.size, gmax), dtype=bool)
        gt_valid = np.zeros((gsel.size, gmax), dtype=bool)
        rsrc = r_order[ri]
        gt_box[rs, r_rank[ri]] = ref["bbox"][rsrc]
        gt_area[rs, r_rank[ri]] = ref["area"][rsrc]
        gt_crowd[rs, r_rank[ri]] = ref["crowd"][rsrc]
        gt_valid[rs, r_rank[ri]] = True
        seg_iou = None
        if iou_type == "segm" and gmax and dmax:
            seg_iou = np.zeros((gsel.size, dmax, gmax))
            d_by = np.lexsort((d_rank[di], ds))
            r_by = np.lexsort((r_rank[ri], rs))
            d_cut = np.searchsorted(ds[d_by], np.arange(gsel.size + 1))
            r_cut = np.searchsorted(rs[r_by], np.arange(gsel.size + 1))
            for g in range(gsel.size):
                dq = src[d_by[d_cut[g]:d_cut[g + 1]]]
                rq = rsrc[r_by[r_cut[g]:r_cut[g + 1]]]
                if dq.size and rq.size:
                    seg_iou[g, :dq.size, :rq.size] = _mask_iou(
                        [det["mask"][q] for q in dq], [ref["mask"][q] for q in rq], ref["crowd"][rq])
        m, ig, gig = _match_bucket(det_box, det_area, det_valid, gt_box, gt_area, gt_crowd,
                                   gt_valid, seg_iou)
        if dmax:
            matched[di] = m[ds, :, :, d_rank[di]]
            ignored[di] = ig[ds, :, :, d_rank[di]]
        if gmax:
            gt_ig_all[ri] = gig[rs, :, r_rank[ri]]

    # Accumulate: per category, detections by score across images (image order, then rank).
    d_cat = d_grp_s // n_img
    d_img = d_grp_s % n_img
    d_score = det["score"][d_order]
    acc = np.lexsort((d_rank, d_img, -d_score, d_cat))
    r_cat = r_grp_s // n_img
    npig = np.zeros((n_k, n_a), dtype=np.int64)
    np.add.at(npig, (np.repeat(r_cat, n_a), np.tile(np.arange(n_a), r_cat.size)),
              (~gt_ig_all).reshape(-1).astype(np.int64))
    precision = -np.ones((n_t, RECALL_THRESHOLDS.size, n_k, n_a, n_m))
    recall = -np.ones((n_t, n_k, n_a, n_m))
    cat_sorted = d_cat[acc]
    bounds = np.searchsorted(cat_sorted, np.arange(n_k + 1))
    has_group = np.zeros(n_k, dtype=bool)
    has_group[groups // n_img] = True
    eps = np.spacing(1)
    for k in range(n_k):
        if not has_group[k]:
            continue
        rows_k = acc[bounds[k]:bounds[k + 1]]
        for mi, max_det in enumerate(MAX_DETECTIONS):
            rows = rows_k[d_rank[rows_k] < max_det]
            nd = rows.size
            for a in range(n_a):
                if npig[k, a] == 0:
                    continue
                dtm = matched[rows, a, :].T
                dti = ignored[rows, a, :].T
                tp_sum = np.cumsum(dtm & ~dti, axis=1).astype(np.float64)
                fp_sum = np.cumsum(~dtm & ~dti, axis=1).astype(np.float64)
                rc = tp_sum / npig[k, a]
                pr = tp_sum / (fp_sum + tp_sum + eps)
                recall[:, k, a, mi] = rc[:, -1] if nd else 0.0
                if nd == 0:
                    precision[:, :, k, a, mi] = 0.0
                    continue
                env = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
                for t in range(n_t):
                    inds = np.searchsorted(rc[t], RECALL_THRESHOLDS, side="left")
                    q = np.zeros(RECALL_THRESHOLDS.size)
                    ok = inds < nd
                    q[ok] = env[t, inds[ok]]
                    precision[t, :, k, a, mi] = q
    stats = _summarize(precision, recall)
    return CocoEvalResult(stats=stats, categories=tuple(str(c) for c in cats),
                          precision=precision, recall=recall, n_images=int(imgs.size))


def _summarize(precision: FloatArray, recall: FloatArray) -> tuple[float, ...]:
    def mean(s: FloatArray) -> float:
        v = s[s > -1]
        return float(np.mean(v)) if v.size else -1.0

    t50 = int(np.where(IOU_THRESHOLDS == 0.5)[0][0])
    t75 = int(np.where(IOU_THRESHOLDS == 0.75)[0][0])
    ap = [mean(precision[:, :, :, 0, 2]), mean(precision[t50, :, :, 0, 2]),
          mean(precision[t75, :, :, 0, 2])]
    ap += [mean(precision[:, :, :, a, 2]) for a in (1, 2, 3)]
    ar = [mean(recall[:, :, 0, m]) for m in (0, 1, 2)]
    ar += [mean(recall[:, :, a, 2]) for a in (1, 2, 3)]
    return tuple(ap + ar)
