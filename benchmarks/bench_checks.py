"""Benchmark: every automated check over 1,000,000 boxes and 100,000 text spans.

Prints, per workload: its size, our time, a peer's time on the same data in the
same run, the ratio, whether the findings agree, and peak memory (max RSS).

Peers: near-duplicate boxes via pycocotools ``maskUtils.iou`` within each image
group (the dense per-image IoU the sweep avoids); out-of-bounds and tiny boxes
via shapely 2's vectorized ``box``/``area``/``bounds``; span token cuts via a
plain per-span Python loop (no established package checks this).

Usage: ``python benchmarks/bench_checks.py [--scale 0.01]`` (1.0 = full size).
"""

from __future__ import annotations

import argparse
import re
import resource
import sys
import time

import numpy as np

from accord.core.checks import run_checks
from accord.core.checks.base import CheckContext
from accord.core.model import Box, Dataset, Item, Record, Span


def peak_rss_mib() -> float:
    # ru_maxrss is KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_boxes(n_boxes: int, per_image: int, seed: int) -> tuple[Dataset, dict[str, set[str]]]:
    """Images of 640x480 with ``per_image`` boxes each; ~0.1% planted violations of each kind."""
    rng = np.random.default_rng(seed)
    n_img = n_boxes // per_image
    x = rng.uniform(0, 560, n_boxes)
    y = rng.uniform(0, 400, n_boxes)
    w = rng.uniform(8, 80, n_boxes)
    h = rng.uniform(8, 80, n_boxes)
    w = np.minimum(w, 640 - x)
    h = np.minimum(h, 480 - y)
    labels = np.array(["car", "bus", "person", "bike", "truck"])[rng.integers(0, 5, n_boxes)]
    planted: dict[str, set[str]] = {"geometry.out_of_bounds": set(), "geometry.tiny": set(),
                                    "geometry.near_duplicate": set()}
    kinds = rng.random(n_boxes)
    records = []
    for i in range(n_boxes):
        img = i // per_image
        xi, yi, wi, hi = float(x[i]), float(y[i]), float(w[i]), float(h[i])
        rid = f"r{i}"
        if kinds[i] < 0.001:
            xi = 640 - wi / 2  # half outside
            planted["geometry.out_of_bounds"].add(rid)
        elif kinds[i] < 0.002:
            wi = 0.5
            planted["geometry.tiny"].add(rid)
        elif kinds[i] < 0.003 and i % per_image and records[-1].region_id not in planted_any(planted):
            prev = records[-1]
            pv = prev.value
            records.append(Record(item_id=f"img{img}", annotator_id=prev.annotator_id, label_set="objects",
                                  region_id=rid, value=Box(label=pv.label, x=pv.x + 0.02 * pv.width, y=pv.y,
                                                           width=pv.width, height=pv.height)))
            planted["geometry.near_duplicate"].add(rid)
            continue
        records.append(Record(item_id=f"img{img}", annotator_id=f"ann{img % 7}", label_set="objects",
                              region_id=rid, value=Box(label=str(labels[i]), x=xi, y=yi, width=wi, height=hi)))
    items = {f"img{k}": Item(item_id=f"img{k}", width=640, height=480) for k in range(n_img)}
    return Dataset(records=tuple(records), items=items), planted


def planted_any(planted: dict[str, set[str]]) -> set[str]:
    return planted["geometry.out_of_bounds"] | planted["geometry.tiny"]


WORDS = ("alpha", "beta", "gamma", "delta", "Paris", "Obama", "2015", "Reuters", "said", "in", "the")


def build_spans(n_spans: int, per_doc: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    n_doc = n_spans // per_doc
    records = []
    items = {}
    for d in range(n_doc):
        toks = [WORDS[k] for k in rng.integers(0, len(WORDS), per_doc * 3)]
        text = " ".join(toks)
        items[f"doc{d}"] = Item(item_id=f"doc{d}", data={"text": text})
        offs = np.cumsum([0] + [len(t) + 1 for t in toks])
        for s in range(per_doc):
            k = 3 * s
            start, end = int(offs[k]), int(offs[k]) + len(toks[k])
            if rng.random() < 0.01:
                end -= 1  # cut the token
            records.append(Record(item_id=f"doc{d}", annotator_id=f"ann{d % 5}", label_set="ner",
                                  region_id=f"s{d}_{s}", value=Span(label="ENT", start=start, end=max(end, start))))
    return Dataset(records=tuple(records), items=items)


def peer_near_duplicates(ds: Dataset, thr: float) -> set[str]:
    from pycocotools import mask as mask_utils

    groups: dict[tuple[str, str, str], list[Record]] = {}
    for r in ds.records:
        groups.setdefault((r.item_id, r.annotator_id, r.label or ""), []).append(r)
    out: set[str] = set()
    for recs in groups.values():
        if len(recs) < 2:
            continue
        xywh = np.array([(r.value.x, r.value.y, r.value.width, r.value.height) for r in recs  # type: ignore[union-attr]
                         ], dtype=np.float64)
        iou = np.triu(np.asarray(mask_utils.iou(xywh, xywh, [0] * len(recs))), k=1)
        for _, j in zip(*np.nonzero(iou > thr), strict=True):
            out.add(recs[j].region_id or "")
    return out


def peer_bounds_and_tiny(ds: Dataset) -> tuple[set[str], set[str]]:
    import shapely

    recs = ds.records
    b = np.array([r.value.xyxy() for r in recs])  # type: ignore[union-attr]
    geoms = shapely.box(b[:, 0], b[:, 1], b[:, 2], b[:, 3])
    bounds = shapely.bounds(geoms)
    out = (bounds[:, 0] < -1) | (bounds[:, 1] < -1) | (bounds[:, 2] > 641) | (bounds[:, 3] > 481)
    side = np.minimum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
    tiny = (shapely.area(geoms) < 4.0) | (side < 1.0)
    ids = np.array([r.region_id for r in recs])
    return set(ids[out].tolist()), set(ids[tiny].tolist())


def peer_token_cuts(ds: Dataset) -> set[str]:
    word = re.compile(r"\w")
    out = set()
    for r in ds.records:
        text = ds.items[r.item_id].data["text"]
        v = r.value
        for p in (v.start, v.end):  # type: ignore[union-attr]
            if 0 < p < len(text) and word.match(text[p - 1]) and word.match(text[p]):
                out.add(r.region_id or "")
    return out


def ids_of(rep: object, check: str) -> set[str]:
    return {f.region_id or "" for f in rep.findings if f.check == check}  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    n_boxes, n_spans = int(1_000_000 * args.scale), int(100_000 * args.scale)
    ok = True

    t = time.perf_counter()
    boxes, planted = build_boxes(n_boxes, 10, args.seed)
    t_build = time.perf_counter() - t
    rss_build = peak_rss_mib()
    print(f"workload: {len(boxes.records):,} boxes in {len(boxes.items):,} images "
          f"(built in {t_build:.1f} s, peak RSS {rss_build:.0f} MiB)")

    t = time.perf_counter()
    cols = CheckContext(boxes).boxes()
    t_cols = time.perf_counter() - t
    t = time.perf_counter()
    rep = run_checks(boxes)
    t_ours = time.perf_counter() - t
    print(f"  all checks (incl. columnar gather, {t_cols:.2f} s alone): {t_ours:.2f} s, "
          f"{len(rep.findings):,} findings, checks run: {len(rep.checks_run)}, peak RSS {peak_rss_mib():.0f} MiB")
    del cols

    t = time.perf_counter()
    dup_rep = run_checks(boxes, only=["geometry.near_duplicate"])
    t_dup = time.perf_counter() - t
    t = time.perf_counter()
    peer_dup = peer_near_duplicates(boxes, 0.9)
    t_peer_dup = time.perf_counter() - t
    agree = ids_of(dup_rep, "geometry.near_duplicate") == peer_dup
    ok &= agree and planted["geometry.near_duplicate"] <= peer_dup
    print(f"  near_duplicate: ours {t_dup:.2f} s, pycocotools per image {t_peer_dup:.2f} s, "
          f"ratio {t_peer_dup / t_dup:.1f}x, agree={agree} ({len(peer_dup):,} pairs, "
          f"{len(planted['geometry.near_duplicate']):,} planted)")

    t = time.perf_counter()
    bt_rep = run_checks(boxes, only=["geometry.out_of_bounds", "geometry.tiny"])
    t_bt = time.perf_counter() - t
    t = time.perf_counter()
    peer_out, peer_tiny = peer_bounds_and_tiny(boxes)
    t_peer_bt = time.perf_counter() - t
    agree = (ids_of(bt_rep, "geometry.out_of_bounds") == peer_out and ids_of(bt_rep, "geometry.tiny") == peer_tiny
             and peer_out == planted["geometry.out_of_bounds"] and peer_tiny == planted["geometry.tiny"])
    ok &= agree
    print(f"  out_of_bounds + tiny: ours {t_bt:.2f} s, shapely vectorized {t_peer_bt:.2f} s, "
          f"ratio {t_peer_bt / t_bt:.1f}x, agree={agree} ({len(peer_out):,} + {len(peer_tiny):,})")
    del boxes, rep, dup_rep, bt_rep

    t = time.perf_counter()
    spans = build_spans(n_spans, 20, args.seed)
    t_build = time.perf_counter() - t
    print(f"workload: {len(spans.records):,} spans in {len(spans.items):,} documents (built in {t_build:.1f} s)")
    t = time.perf_counter()
    rep = run_checks(spans)
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    tok = run_checks(spans, only=["text.span_token_boundary"])
    t_tok = time.perf_counter() - t
    t = time.perf_counter()
    peer = peer_token_cuts(spans)
    t_peer = time.perf_counter() - t
    agree = ids_of(tok, "text.span_token_boundary") == peer
    ok &= agree
    print(f"  all checks: {t_ours:.2f} s, {len(rep.findings):,} findings; token boundary: ours {t_tok:.2f} s, "
          f"Python loop {t_peer:.2f} s, ratio {t_peer / t_tok:.1f}x, agree={agree} ({len(peer):,} cuts)")
    print(f"peak RSS overall: {peak_rss_mib():.0f} MiB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
