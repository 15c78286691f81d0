"""The QA report: one call from a dataset to everything a lead needs to act on.

:func:`build_report` returns a JSON-ready dict (described by
``accord/core/data/report.schema.json``, version :data:`SCHEMA_VERSION`):
``summary``, ``agreement`` (per label set: coefficients with bootstrap
intervals, the annotator x annotator matrix, per-label values), ``gold`` (per
annotator), ``errors`` (taxonomy counts and every classified discrepancy),
``consensus``, ``conflicts``, ``sampling``, ``bias``, ``checks``; and, only
when they apply, ``attributes`` (attribute agreement on matched regions,
:mod:`accord.core.qa.attributes`) and ``tracks`` (frame-by-frame track
comparison with identity switches and missed frames, :mod:`accord.core.qa.track_qa`) and
``model_vs_human`` (each model's predictions scored against the humans: accuracy, F1,
calibration, COCO AP; :mod:`accord.core.qa.model_eval`), which the headline points to
where agreement is undefined for want of a second human.

Label sets are handled by the family of their value kind:

* classes and numbers (``classification``, ``numeric``): chance-corrected
  coefficients on the items x annotators matrix (Fleiss' kappa whenever every item
  has the same number of ratings); pairwise Cohen's kappa for every annotator pair
  sharing at least ``min_pair_items`` items, all from one contingency pass, and each
  annotator's kappa against the rest (what large teams read instead of a heat map);
  labels outside the labeling config join the categories and become a finding;
* multi-select classes (``multilabel``): label sets compared as sets (Krippendorff's
  alpha with the MASI distance, exact-set agreement) and, per label, alpha on
  present / absent;
* regions (boxes, polygons, masks, keypoints, spans, segments, tracks,
  cuboids): one-to-one matching per item and annotator pair; Krippendorff's
  alpha with an item-level distance between annotation sets;
* free text (transcripts): word error rates between annotators.

Figures that are ratios of per-item counts (regions' matched F1, mean matched similarity,
per-label and pairwise cells; classes' per-label specific agreement) get a seeded
item-bootstrap interval under ``agreement.<label set>.intervals``
(:mod:`accord.core.qa.region_intervals`), and so do the Cohen's kappa cells of class and
multi-select sets (each pair's contingency table re-summed per resample, ``intervals.pairwise``,
:func:`_kappa_cell_bootstrap`); segment label sets whose segments carry a speaker
and text get cpWER under ``agreement.<label set>.cpwer`` (:mod:`accord.core.qa.cpwer`); and
``sampling.active_learning.orders`` lists least-confidence, committee (vote entropy) and
k-center orders (:mod:`accord.core.qa.active_learning_orders`).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from .. import agreement as ag
from .._toml import loads_toml
from ..cost import CostConfig, qa_from_report
from ..errors import ConfigError, UndefinedAgreementError
from ..limits import check_limit
from ..matching.base import MatchResult
from ..matching.keypoints import COCO_PERSON_SIGMAS, DEFAULT_KEYPOINT_SIGMA
from ..model import REGION_KINDS, Dataset, DatasetOutline, Keypoints, Record
from ..report.bias import BiasSection
from ..report.checks import ChecksSection
from ..report.class_agreement import ClassAgreementBlockSection
from ..report.classes import ClassAgreement, ClassAgreementSection, ClassRatings
from ..report.conflicts import ConflictInputs, ConflictQueue, ConflictsSection
from ..report.cost import CostReport, CostSection
from ..report.discrepancies import ConsensusMismatchSection, DatasetSummary, SummarySection
from ..report.engine import Context, ItemOrder, Runner, json_float
from ..report.gold import GoldSection
from ..report.regions import (
    CpwerSection,
    GoldCocoSection,
    GoldDerSection,
    RegionAgreementSection,
    TextAgreementSection,
    agreement_of,
    result_of,
)
from ..report.sampling import SamplingReport, SamplingSection
from ..schema import LabelSet, Schema
from . import gold as gold_mod
from . import model_eval
from .acceptance import _LEVELS, _SEVERITIES, AQLS, InspectionLevel, Severity
from .ambiguity import DEFAULT_AMBIGUITY_THRESHOLD, Ambiguity
from .conflicts import Conflict, Resolution, guideline_hot_spots
from .consensus import CONSENSUS_METHODS, ClassConsensus, ConsensusMethod, _encode_strings
from .grades import Grade, grade_estimate
from .region_consensus import KINDS as REGION_CONSENSUS_KINDS
from .region_intervals import RatioStats, ratio_bootstrap
from .segmentation_em import SEGMENTATION_METHODS, SegmentationMethod
from .taxonomy import (
    DEFAULT_TAXONOMY,
    Discrepancy,
    Taxonomy,
    case_mismatches,
    compare_counts,
    count_discrepancies,
    taxonomy_from_mapping,
)

SCHEMA_VERSION = "1.0"
# Structured alpha: at most this many cross-item pairs are matched for the expected distance.
_EXPECTED_PAIRS = 3000
# The class section keeps an annotators^2 x categories^2 table (pairwise kappa); above this many
# cells the report takes the per-coefficient path instead (a 200-annotator team with 40 classes).
_SECTION_PAIR_CELLS = 20_000_000
CLASS_KINDS = frozenset({"classification", "multilabel", "numeric"})
#: Default minimum of shared items for a pairwise figure (:attr:`ReportConfig.min_pair_items`).
MIN_PAIR_ITEMS = 10
# A bootstrap resample costs O(cells); resamples are capped so one coefficient's interval
# touches at most this many ratings in all (never fewer than 100 resamples).
_BOOTSTRAP_CELLS = 60_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportConfig:
    """Thresholds and options of the report (all have sensible defaults).

    Attributes:
        conflict_threshold: Items whose agreement is below it become conflicts.
        gold_threshold: Gold score an annotator must reach (lower CI end) to pass.
        gold_target_width: Wanted 95% interval width, for the gold planner.
        iou_threshold: Minimum similarity for two regions to match.
        n_bootstrap: Bootstrap resamples for agreement intervals.
        spot_check_margin: Margin of error wanted for the spot-check error rate.
        aql / inspection_level / inspection_severity: ISO 2859-1 acceptance plan for the
            batch (severity ``normal``, ``tightened`` or ``reduced``, as the switching rules
            put the team).
        fdr: False discovery rate for bias tests (Benjamini–Hochberg).
        group_keys: Item metadata keys to monitor for bias (None: every key with 2-20 values).
        bias_fields: Keys of each item's ``meta`` or ``data`` (a Label Studio task's ``data``)
            to monitor for bias; when given it replaces ``group_keys``. Without either, every
            metadata key with 2-20 values is monitored, and so is every low-cardinality string
            field of ``data`` (2-20 values, each shared by at least two items).
        max_discrepancies: How many discrepancies the JSON lists (most severe first); counts,
            breakdowns and write-backs always use all of them (``errors.n_listed`` of
            ``errors.n_discrepancies``).
        min_pair_items: Minimum items two annotators must share for their pairwise
            figure (Cohen's kappa, alpha): with fewer, a kappa's standard error is near
            0.3 and the cell is left empty. Default :data:`MIN_PAIR_ITEMS`.
        max_headlines: "What to look at first" keeps this many lines, ranked by impact;
            the rest are listed under ``summary.headline_more``.
        keypoint_sigmas: OKS falloff per keypoint name (``{"0": 0.05, "nose": 0.026}``),
            extending COCO's 17 person keypoints.
        default_keypoint_sigma: OKS falloff for every other keypoint name (CVAT names its
            points "0", "1", ...). Default
            :data:`~accord.core.matching.keypoints.DEFAULT_KEYPOINT_SIGMA`.
        consensus_method: Truth inference for classification label sets, one of
            :data:`~accord.core.qa.consensus.CONSENSUS_METHODS` (default ``"dawid_skene"``);
            the consensus section names the method and gives each annotator's skill with a
            seeded item-bootstrap interval (:func:`~accord.core.qa.consensus.skill_intervals`).
            Multi-select label sets get a binary-relevance consensus
            (:mod:`accord.core.qa.multilabel_consensus`): per-label majority under
            ``"majority_vote"``, per-label two-class Dawid-Skene under every other method.
        ambiguity_threshold: A classification item whose difficulty (a normalised entropy in
            [0, 1], :mod:`accord.core.qa.ambiguity`) is above it is *ambiguous*: listed under
            ``consensus.<label set>.ambiguous`` with its soft label and left out of the conflict
            queue, provided it stays above it when any one judgment is removed (one slip is an
            error: a 2-1 split of three annotators never is ambiguous). Default
            :data:`~accord.core.qa.ambiguity.DEFAULT_AMBIGUITY_THRESHOLD` (0.8: a 70/30 split of
            the weighted votes over two classes has 0.88, an 80/20 split 0.72); 1.0 turns it off.
        segmentation_method: How masks and polygons are fused into the consensus: ``"vote"`` (default,
            the pixel-wise weighted vote, :func:`~accord.core.qa.region_consensus.vote_rasters`) or
            ``"em"`` (SegmentationEM per label, :func:`~accord.core.qa.segmentation_em.segmentation_em`,
            which learns each annotator's skill); the consensus block names the method.
        taxonomy: The error taxonomy.
    """

    conflict_threshold: float = 0.667
    gold_threshold: float = 0.8
    gold_target_width: float = 0.2
    iou_threshold: float = 0.5
    n_bootstrap: int = 300
    spot_check_margin: float = 0.05
    aql: float = 2.5
    inspection_level: InspectionLevel = "II"
    inspection_severity: Severity = "normal"
    fdr: float = 0.05
    group_keys: tuple[str, ...] | None = None
    bias_fields: tuple[str, ...] | None = None
    numeric_tolerance: float = 0.0
    max_discrepancies: int = 5000
    min_pair_items: int = MIN_PAIR_ITEMS
    max_headlines: int = 10
    keypoint_sigmas: Mapping[str, float] = field(default_factory=dict)
    default_keypoint_sigma: float | None = DEFAULT_KEYPOINT_SIGMA
    consensus_method: ConsensusMethod = "dawid_skene"
    segmentation_method: SegmentationMethod = "vote"
    ambiguity_threshold: float = DEFAULT_AMBIGUITY_THRESHOLD
    taxonomy: Taxonomy = field(default_factory=lambda: DEFAULT_TAXONOMY)

    def __post_init__(self) -> None:
        if self.segmentation_method not in SEGMENTATION_METHODS:
            raise ConfigError(f"[report] segmentation_method must be one of {', '.join(SEGMENTATION_METHODS)} "
                              f"(the pixel vote or SegmentationEM for masks and polygons); "
                              f"got {self.segmentation_method!r}")
        if self.consensus_method not in CONSENSUS_METHODS:
            raise ConfigError(f"[report] consensus_method must be one of {', '.join(CONSENSUS_METHODS)}; "
                              f"got {self.consensus_method!r}")
        if self.inspection_severity not in _SEVERITIES:
            raise ConfigError(f"inspection_severity must be one of {list(_SEVERITIES)}, "
                              f"got {self.inspection_severity!r}")
        if self.inspection_level not in _LEVELS:
            raise ConfigError(f"inspection_level must be one of {list(_LEVELS)}, got {self.inspection_level!r}")
        if not any(abs(self.aql - a) < 1e-9 for a in AQLS):
            raise ConfigError(f"aql must be one of the ISO 2859-1 preferred values {list(AQLS)}, got {self.aql!r}")
        if not isinstance(self.keypoint_sigmas, Mapping) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0
                for v in self.keypoint_sigmas.values()):
            raise ConfigError("[report] keypoint_sigmas must map keypoint names to numbers > 0, e.g. "
                              f"keypoint_sigmas = {{\"0\" = 0.05}}, got {self.keypoint_sigmas!r}")
        d = self.default_keypoint_sigma
        if d is not None and (isinstance(d, bool) or not isinstance(d, int | float) or not math.isfinite(d)
                              or d <= 0):
            raise ConfigError(f"[report] default_keypoint_sigma must be a number > 0 (COCO's sigmas are "
                              f"0.025-0.107), got {d!r}")
        t = self.ambiguity_threshold
        if isinstance(t, bool) or not isinstance(t, int | float) or not 0 <= t <= 1:
            raise ConfigError(f"[report] ambiguity_threshold is a normalised entropy in [0, 1] (default "
                              f"{DEFAULT_AMBIGUITY_THRESHOLD}; 1 turns ambiguity off), got {t!r}")
        for name in ("min_pair_items", "max_headlines", "n_bootstrap"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"[report] {name} must be an integer >= 1, got {v!r}")
        check_limit("max_bootstrap", self.n_bootstrap, "[report] n_bootstrap asks for", unit=" resamples")


def config_from_toml(text: str) -> ReportConfig:
    """A :class:`ReportConfig` from TOML: a ``[report]`` table and an optional ``[taxonomy]``."""
    data = loads_toml(text, what="report config")
    known = set(ReportConfig.__dataclass_fields__) - {"taxonomy"}
    table = data.get("report", {})
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"[report]: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    kw: dict[str, Any] = dict(table)
    for key in ("group_keys", "bias_fields"):
        if key in kw:
            if not isinstance(kw[key], list) or not all(isinstance(k, str) for k in kw[key]):
                raise ConfigError(f"[report] {key} must be a list of field names, e.g. {key} = "
                                  f"[\"language\", \"source\"], got {kw[key]!r}")
            kw[key] = tuple(kw[key])
    if "taxonomy" in data:
        kw["taxonomy"] = taxonomy_from_mapping(data)
    try:
        return ReportConfig(**kw)
    except TypeError as e:
        raise ConfigError(f"[report]: {e}") from e


# --------------------------------------------------------------------------- helpers


_f = json_float


def _ci_dict(est: float | None, low: float | None, high: float | None, n: int) -> dict[str, Any]:
    return {"estimate": _f(est), "low": _f(low), "high": _f(high), "n": n}


def _with_ci(fn: Callable[..., float], ratings: npt.NDArray[Any], config: ReportConfig, seed: int,
             **kw: Any) -> dict[str, Any]:
    """Point estimate plus seeded item-bootstrap interval; undefined -> estimate None and reason."""
    try:
        est = fn(ratings, **kw)
    except UndefinedAgreementError as e:
        return {**_ci_dict(None, None, None, int(ratings.shape[0])), "undefined": str(e)}
    try:
        ci = ag.bootstrap_ci(fn, ratings, n_resamples=config.n_bootstrap, seed=seed, **kw)
    except UndefinedAgreementError:
        return _ci_dict(est, None, None, int(ratings.shape[0]))
    return _ci_dict(est, ci.low, ci.high, int(ratings.shape[0]))


# --------------------------------------------------------------------------- classes


def _boot_cfg(config: ReportConfig, cells: int) -> ReportConfig:
    """The config with its bootstrap bounded: at most ``_BOOTSTRAP_CELLS`` ratings touched in all."""
    cap = max(100, _BOOTSTRAP_CELLS // max(cells, 1))
    return config if config.n_bootstrap <= cap else replace(config, n_bootstrap=cap)


# A block of kappa resamples holds at most this many weighted contingency cells (64 MiB of float64).
_KAPPA_BLOCK_CELLS = 1 << 23


def _pair_entries(codes: npt.NDArray[np.int64], pair_id: npt.NDArray[np.int64], k: int
                  ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Each (item, wanted pair) a rated: its item row and its cell ``pair * k * k + code_a * k + code_b``.

    ``pair_id[a, b]`` (``a < b``) numbers the wanted pairs, ``-1`` elsewhere. Each row's ratings
    are moved left in column order (as :func:`_compact` does), so the loop runs over pairs of
    rating slots (45 for ten ratings an item), never over annotator pairs.
    """
    present = codes >= 0
    width = int(present.sum(axis=1).max(initial=0))
    order = np.argsort(~present, axis=1, kind="stable")[:, :width]
    filled = np.take_along_axis(present, order, axis=1)
    code = np.take_along_axis(codes, order, axis=1)
    items: list[npt.NDArray[np.int64]] = []
    cells: list[npt.NDArray[np.int64]] = []
    for s, t in itertools.combinations(range(width), 2):
        rows = np.flatnonzero(filled[:, s] & filled[:, t])
        pid = pair_id[order[rows, s], order[rows, t]]
        keep = pid >= 0
        rows, pid = rows[keep], pid[keep]
        items.append(rows)
        cells.append(pid * (k * k) + code[rows, s] * k + code[rows, t])
    if not items:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(items).astype(np.int64), np.concatenate(cells).astype(np.int64)


def _kappa_of_tables(tables: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Cohen's kappa of each ``(..., k, k)`` contingency table, ``1 - sum(w O) / sum(w E)`` with ``w = 1 - I``.

    The formula of :func:`~accord.core.agreement.pairwise_cohen_kappa`; NaN for an empty table or one
    whose expected disagreement is 0 (both raters used one and the same category).
    """
    n = tables.sum(axis=(-2, -1))
    agree = np.trace(tables, axis1=-2, axis2=-1)
    rc = (tables.sum(axis=-1) * tables.sum(axis=-2)).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected_dis = n - rc / n
        out: npt.NDArray[np.float64] = np.where(expected_dis > 0, 1.0 - (n - agree) / expected_dis, np.nan)
    return out


def _kappa_cell_bootstrap(codes: npt.NDArray[np.int64], k: int, wanted: npt.NDArray[np.bool_], *,
                          n_resamples: int, seed: int, confidence: float = 0.95
                          ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Percentile item-bootstrap bounds of Cohen's kappa for the annotator pairs in ``wanted``.

    Items with at least two ratings are drawn with replacement, as many as there are, and the
    generator is drawn as :func:`~accord.core.qa.region_intervals.ratio_bootstrap` draws it
    (``default_rng(seed).integers(0, n, (block, n))``), so a seed gives the same resamples as
    the specific-agreement intervals of the same label set. A pair's table is a sum over items,
    so the (item, pair) cells are gathered once (:func:`_pair_entries`) into a sparse ``(items,
    pairs * k * k)`` count matrix and a block of resamples' tables is one product of it with the
    items' draw counts (integers: the sums are exact); kappa follows per table
    (:func:`_kappa_of_tables`). A pair
    whose kappa is undefined in a resample (no shared item drawn, one category) is left out of
    that resample's percentile.

    Args:
        codes: ``(n_items, r)`` category codes ``0..k-1``, ``-1`` for a missing rating.
        k: Number of categories.
        wanted: ``(r, r)`` bool; pairs ``a < b`` to bound (the upper triangle is read).
        n_resamples: Resamples, >= 1.
        seed: Seed of the resampling.
        confidence: Two-sided level in (0, 1).

    Returns:
        ``(low, high)``: ``(r, r)`` symmetric arrays, NaN outside ``wanted`` and where a pair's
        kappa is never defined.
    """
    r = codes.shape[1]
    low = np.full((r, r), np.nan)
    high = np.full((r, r), np.nan)
    a_idx, b_idx = np.nonzero(np.triu(wanted, 1))
    pairable = codes[(codes >= 0).sum(axis=1) >= 2]
    n, n_pairs, kk = pairable.shape[0], a_idx.size, max(k, 1) ** 2
    if n == 0 or n_pairs == 0:
        return low, high
    pair_id = np.full((r, r), -1, dtype=np.int64)
    pair_id[a_idx, b_idx] = np.arange(n_pairs)
    item, cell = _pair_entries(pairable, pair_id, max(k, 1))
    cells = sparse.csr_matrix((np.ones(item.size), (item, cell)), shape=(n, n_pairs * kk)).T.tocsr()
    rng = np.random.default_rng(seed)
    kappas = np.empty((n_resamples, n_pairs))
    block = max(1, _KAPPA_BLOCK_CELLS // max(n, n_pairs * kk))
    for start in range(0, n_resamples, block):
        b = min(block, n_resamples - start)
        pick = rng.integers(0, n, (b, n))
        # How often each item is drawn in each resample (the resample's weights), laid out (items, b).
        w = np.bincount((pick * b + np.arange(b)[:, None]).ravel(), minlength=n * b).reshape(n, b)
        tables = np.asarray(cells @ w.astype(np.float64), dtype=np.float64).T  # (b, pairs * k * k)
        kappas[start:start + b] = _kappa_of_tables(tables.reshape(b, n_pairs, max(k, 1), max(k, 1)))
    defined = np.isfinite(kappas).any(axis=0)
    if defined.any():
        tail = 50.0 * (1.0 - confidence)
        q = np.nanpercentile(kappas[:, defined], [tail, 100.0 - tail], axis=0)
        sel = np.flatnonzero(defined)
        low[a_idx[sel], b_idx[sel]] = low[b_idx[sel], a_idx[sel]] = q[0]
        high[a_idx[sel], b_idx[sel]] = high[b_idx[sel], a_idx[sel]] = q[1]
    return low, high


def _kappa_cell_intervals(codes: npt.NDArray[np.int64], k: int, annotators: Sequence[str], pk: ag.PairwiseKappa,
                          config: ReportConfig, seed: int, metric: str) -> dict[str, Any]:
    """The ``intervals.pairwise`` block of the kappa matrix: each shown cell's item-bootstrap bounds."""
    r = len(annotators)
    shown = np.isfinite(pk.kappa) & ~np.eye(r, dtype=bool)
    rated = (codes >= 0).sum(axis=1)
    entries = int((rated * (rated - 1) // 2).sum())  # (item, pair) cells one resample touches
    n_boot = min(_boot_cfg(config, max(entries, 1)).n_bootstrap, 1000)
    low, high = _kappa_cell_bootstrap(codes, k, shown, n_resamples=n_boot, seed=seed)

    def cell(a: int, b: int, bound: npt.NDArray[Any]) -> Any:
        if not shown[a, b]:
            return None
        return int(pk.n_shared[a, b]) if bound is pk.n_shared else _f(bound[a, b])

    return {"annotators": list(annotators), "metric": metric,
            "method": "percentile bootstrap over items (drawn with replacement) of each pair's contingency table, "
                      "Cohen's kappa per resampled table",
            "n_resamples": n_boot, "seed": seed, "confidence": 0.95,
            "low": [[cell(a, b, low) for b in range(r)] for a in range(r)],
            "high": [[cell(a, b, high) for b in range(r)] for a in range(r)],
            "n_items": [[cell(a, b, pk.n_shared) for b in range(r)] for a in range(r)]}


def _pairwise_block(codes: npt.NDArray[np.int64], k: int, annotators: Sequence[str], config: ReportConfig,
                    metric: str, *, seed: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The pairwise matrix, each annotator's agreement with the rest, and the matrix cells' intervals.

    The matrix and the rest come from one contingency pass; the third value is the
    ``intervals.pairwise`` block (:func:`_kappa_cell_intervals`), in the shape of the region cells'.
    """
    pk = ag.pairwise_cohen_kappa(codes, n_categories=k, min_items=config.min_pair_items)
    r = len(annotators)
    mat = [[1.0 if a == b else _f(pk.kappa[a, b]) for b in range(r)] for a in range(r)]
    n_pairs = int(np.triu(pk.n_shared, 1).astype(bool).sum())
    enough = int(np.triu(pk.n_shared >= config.min_pair_items, 1).sum())
    pairwise = {"annotators": list(annotators), "metric": metric, "matrix": mat,
                "min_items": config.min_pair_items, "n_pairs_sharing_items": n_pairs,
                "n_pairs_shown": enough}
    rated = np.diag(pk.n_shared)
    rows = [{"annotator_id": annotators[a], "n_items": int(rated[a]), "n_pairs": int(pk.rest_n[a]),
             "agreement": _f(pk.rest_agreement[a]), "cohen_kappa": _f(pk.rest_kappa[a])}
            for a in range(r) if pk.rest_n[a] > 0]
    rows.sort(key=lambda x: (x["cohen_kappa"] is None, x["cohen_kappa"] if x["cohen_kappa"] is not None else 0.0,
                             x["annotator_id"]))
    rest = {"metric": "Cohen's kappa of the annotator's labels against every other label on the same items "
                      "(pooled table), and the share of those pairs that agree; lowest first", "rows": rows}
    return pairwise, rest, _kappa_cell_intervals(codes, k, annotators, pk, config, seed, metric)


def _compact(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Each item's ratings moved to the left, as wide as the most ratings an item has.

    Every multi-rater coefficient here (alpha, percent agreement, AC1, Brennan-Prediger,
    Fleiss) reads only each item's values, never which rater gave them, so this gives the
    same numbers; with 164 annotators and 10 ratings an item it is 16 times fewer cells
    for every bootstrap resample.
    """
    present = ~np.isnan(values)
    width = max(int(present.sum(axis=1).max(initial=0)), 2)
    order = np.argsort(~present, axis=1, kind="stable")
    return np.take_along_axis(values, order, axis=1)[:, :width]


def _off_schema(ls: Any, m: npt.NDArray[Any], items: Sequence[str]) -> list[dict[str, Any]]:
    """Labels rated but not declared in the label set (a finding, not a crash)."""
    declared = set(ls.labels) if ls is not None and ls.labels else set()
    if not declared:
        return []
    where: dict[str, list[str]] = defaultdict(list)
    flat = m.reshape(-1).tolist()
    if not set(flat) - declared - {None}:
        return []
    width = max(m.shape[1], 1)
    for k, v in enumerate(flat):
        if v is not None and v not in declared:
            where[str(v)].append(items[k // width])
    folded = {d.casefold(): d for d in sorted(declared)}
    return [{"label": lab, "n_ratings": len(ids), "item_ids": sorted(set(ids))[:20],
             **({"case_of": folded[lab.casefold()]} if lab.casefold() in folded else {})}
            for lab, ids in sorted(where.items())]


def _class_agreement(ds: Dataset | DatasetOutline, name: str, kind: str, config: ReportConfig, seed: int, *,
                     sections: Mapping[str, Any] | None = None, runner: Runner | None = None,
                     ctx: Context | None = None) -> tuple[dict[str, Any], dict[str, float]]:
    """Agreement and per-item scores of a class label set (``classification``, ``numeric``,
    ``multilabel``), folded over ``runner``'s partitions (default: ``ds`` as one) by
    :class:`~accord.core.report.class_agreement.ClassAgreementBlockSection` (``ctx``: the
    report's context). A nominal :class:`~accord.core.report.classes.ClassAgreement` computed
    elsewhere (``sections["agreement:<set>"]``) replaces the coefficients computed here."""
    section = ClassAgreementBlockSection(name, kind)
    base = ctx if ctx is not None else Context(config=config, seed=seed, schema=ds.schema, order=_order_of(ds))
    pre = (sections or {}).get(f"agreement:{name}")
    result: tuple[dict[str, Any], dict[str, float]] = (runner or Runner((ds,))).run(
        [section], replace(base, config=config, seed=seed, options={section.name: pre}))[section.name]
    return result


def _class_agreement_of(kind: str, name: str, ls: LabelSet | None, annotators: Sequence[str], items: Sequence[str],
                        m: npt.NDArray[Any], scores: npt.NDArray[np.float64], config: ReportConfig, seed: int, *,
                        precomputed: Any = None) -> tuple[dict[str, Any], dict[str, float]]:
    """Agreement of a classification or numeric label set, and its per-item scores, from its ratings.

    What :class:`~accord.core.report.class_agreement.ClassAgreementBlockSection` computes at
    ``finish``. ``m`` is items x annotators (rows ``items``, sorted; columns ``annotators``, the
    dataset's human annotators), each cell the first rating's label (``None``: none) or number
    (NaN: none); ``scores`` is each row's item-local score from the partitions (share of agreeing
    pairs, or the spread of its numbers; NaN with fewer than two ratings). ``precomputed``: the
    nominal section's result computed elsewhere (:func:`_nominal_section`).
    """
    numeric = kind == "numeric"
    out: dict[str, Any] = {"kind": kind, "n_items": len(items), "n_annotators": len(annotators),
                           "coefficients": {}, "per_label": {}}
    item_scores: dict[str, float] = {}
    if len(annotators) < 2 or not items:
        out["note"] = "fewer than two annotators: agreement is undefined"
        out["primary"] = None
        return out, item_scores
    scale = ls.scale if ls else "nominal"
    level = "interval" if numeric and scale == "nominal" else scale
    coefs: dict[str, Any] = {}
    if numeric:
        dense = _compact(m.astype(np.float64))
        coefs["krippendorff_alpha"] = _with_ci(ag.krippendorff_alpha, dense, _boot_cfg(config, dense.size), seed,
                                               level=level)
        present = ~np.isnan(m)
    else:
        # Code labels once (sorted label order, so ordinal ranks are unchanged); every coefficient
        # then sees float codes, and labels outside the schema join the categories (and a finding).
        off = _off_schema(ls, m, items)
        if off:
            out["off_schema_labels"] = off
        declared = list(ls.labels) if ls and ls.labels else []
        flat = m.reshape(-1).tolist()
        observed = set(flat) - {None}
        cats = sorted(set(declared) | observed)
        index: dict[Any, int] = {c: k for k, c in enumerate(cats)}
        index[None] = -1
        codes = np.fromiter(map(index.__getitem__, flat), dtype=np.int64, count=len(flat)).reshape(m.shape)
        coded = _compact(np.where(codes >= 0, codes.astype(np.float64), np.nan))
        bcfg = _boot_cfg(config, coded.size)
        categories = ([float(index[c]) for c in declared] + [float(index[c]) for c in sorted(observed)
                                                             if c not in set(declared)]) if declared else None
        present = codes >= 0
        sizes = present.sum(axis=1)
        full = present.all(axis=1)
        full_coded = np.where(codes >= 0, codes.astype(np.float64), np.nan)[full]
        fast = _nominal_section(name, cats, annotators, items, codes, present, bcfg, seed,
                                precomputed=precomputed) \
            if level == "nominal" and (len(annotators) * len(cats)) ** 2 <= _SECTION_PAIR_CELLS else None
        if fast is not None:
            # Nominal: one pass of integer sums gives every coefficient and its Poisson-bootstrap
            # interval (accord.core.report.classes; the same estimates as accord.core.agreement).
            for key in ("krippendorff_alpha", "percent_agreement", "gwet_ac1", "brennan_prediger"):
                coefs[key] = _section_ci(fast, key, int(coded.shape[0]))
        else:
            coefs["krippendorff_alpha"] = _with_ci(ag.krippendorff_alpha, coded if level in ("nominal", "ordinal")
                                                   else m, bcfg, seed, level=level)
            coefs["percent_agreement"] = _with_ci(ag.percent_agreement, coded, bcfg, seed)
            coefs["gwet_ac1"] = _with_ci(ag.gwet_ac1, coded, bcfg, seed, categories=categories)
            coefs["brennan_prediger"] = _with_ci(ag.brennan_prediger, coded, bcfg, seed, categories=categories)
        if fast is not None and fast.ratings_per_item is not None and fast.ratings_per_item >= 2:
            coefs["fleiss_kappa"] = {**_section_ci(fast, "fleiss_kappa", int(coded.shape[0])),
                                     "ratings_per_item": int(sizes[0])}
        elif sizes.min() >= 2 and sizes.min() == sizes.max():
            # Fleiss (1971) as defined: every item has the same number of ratings (any raters).
            # The count table is built once; the bootstrap resamples its rows (the same items).
            coefs["fleiss_kappa"] = {**_with_ci(
                ag.fleiss_kappa, ag.counts_from_ratings(coded, categories=categories), bcfg, seed),
                "ratings_per_item": int(sizes[0])}
        elif full.sum() >= 2:
            coefs["fleiss_kappa"] = {**_with_ci(
                ag.fleiss_kappa, ag.counts_from_ratings(full_coded, categories=categories), bcfg,
                seed), "note": "items rated by every annotator only"}
    out["coefficients"] = coefs
    out["primary"] = "krippendorff_alpha"
    out["level"] = level
    if numeric:
        # annotator x annotator alpha on the items both rated, for pairs sharing enough items.
        p = present.astype(np.int64)
        shared = p.T @ p
        mat: list[list[float | None]] = []
        for a in range(len(annotators)):
            row: list[float | None] = []
            for b in range(len(annotators)):
                if a == b:
                    row.append(1.0)
                    continue
                v: float | None = None
                if shared[a, b] >= config.min_pair_items:
                    both = present[:, a] & present[:, b]
                    try:
                        v = ag.krippendorff_alpha(m[both][:, [a, b]], level=level)
                    except (UndefinedAgreementError, ValueError):
                        v = None
                row.append(_f(v))
            mat.append(row)
        out["pairwise"] = {"annotators": list(annotators), "metric": "alpha", "matrix": mat,
                           "min_items": config.min_pair_items}
        # 1 - spread / range: each item's spread came from its partition, the range is the whole matrix's.
        scored = np.flatnonzero(np.isfinite(scores))
        if scored.size:
            rng = float(np.nanmax(m.astype(float)) - np.nanmin(m.astype(float))) or 1.0
            for i in scored.tolist():
                item_scores[items[i]] = 1.0 - float(scores[i]) / rng
        return out, item_scores
    out["pairwise"], out["annotator_vs_rest"], pair_iv = _pairwise_block(codes, len(cats), annotators, config,
                                                                         "cohen_kappa", seed=seed)
    # per item: share of agreeing pairs, sum_k c_k (c_k - 1) / (n (n - 1)), computed in its partition.
    for i in np.flatnonzero(np.isfinite(scores)).tolist():
        item_scores[items[i]] = float(scores[i])
    counts = np.zeros((len(items), max(len(cats), 1)), dtype=np.int64)
    rows_i, cols_i = np.nonzero(present)
    np.add.at(counts, (rows_i, codes[rows_i, cols_i]), 1)
    n_i = counts.sum(axis=1)
    # Specific (positive) agreement per label: sum n_ik(n_ik-1) / sum n_ik(n_i-1).
    pairable = n_i >= 2
    num = (counts[pairable] * (counts[pairable] - 1)).sum(axis=0)
    den = (counts[pairable] * (n_i[pairable, None] - 1)).sum(axis=0)
    seen = counts[pairable].sum(axis=0) > 0
    out["per_label"] = {cats[k]: {"metric": "specific_agreement", "estimate": _f(num[k] / den[k] if den[k] else None),
                                  "low": None, "high": None, "n": int(den[k])}
                        for k in sorted(np.flatnonzero(seen), key=lambda k: cats[k])}
    out["intervals"] = {**_specific_agreement_intervals(counts[pairable], n_i[pairable], cats, seen, config, seed),
                        "pairwise": pair_iv}
    return out, item_scores


def _specific_agreement_intervals(counts: npt.NDArray[np.int64], n_i: npt.NDArray[np.int64], cats: Sequence[str],
                                  seen: npt.NDArray[np.bool_], config: ReportConfig, seed: int) -> dict[str, Any]:
    """Item-bootstrap intervals of each label's specific agreement, from each item's label counts.

    Per item the numerator is ``c_k (c_k - 1)`` and the denominator ``c_k (n_i - 1)``; a resample
    re-sums them (:func:`~accord.core.qa.region_intervals.ratio_bootstrap`).
    """
    cols = sorted(np.flatnonzero(seen), key=lambda k: cats[k])
    c = counts[:, cols].astype(np.float64)
    n_boot = min(_boot_cfg(config, max(int(np.count_nonzero(c)), 1)).n_bootstrap, 1000)
    res = ratio_bootstrap(c * (c - 1), c * (n_i[:, None] - 1), n_resamples=n_boot, seed=seed,
                          keys=tuple(cats[k] for k in cols))
    return {"method": "percentile bootstrap over items (drawn with replacement) of each item's label counts",
            "n_resamples": n_boot, "seed": seed, "confidence": 0.95,
            "per_label": {lab: _ci_dict(res.estimate[j], res.low[j], res.high[j], int(res.n_items[j]))
                          for j, lab in enumerate(res.keys)}}


def _nominal_section(name: str, cats: Sequence[str], annotators: Sequence[str], items: Sequence[str],
                     codes: npt.NDArray[np.int64], present: npt.NDArray[np.bool_], config: ReportConfig,
                     seed: int, *, precomputed: Any = None) -> ClassAgreement:
    """Nominal coefficients and intervals from the mergeable class section, on this dataset.

    ``precomputed``: the section's result for this label set computed elsewhere (merged from the
    partitions of a Dask run, :mod:`accord.cluster.report`); used when it was computed for the
    same categories, annotators, rated items and resamples, else a :class:`ConfigError`.
    """
    if precomputed is not None:
        n_rated = int(present.any(axis=1).sum())
        resamples = {c.n_resamples for c in getattr(precomputed, "coefficients", {}).values()}
        if not isinstance(precomputed, ClassAgreement) or precomputed.categories != tuple(cats) \
                or precomputed.annotators != tuple(annotators) or precomputed.n_items != n_rated \
                or not resamples <= {config.n_bootstrap}:
            raise ConfigError(
                f"the precomputed agreement of label set {name!r} does not fit this dataset: expected a "
                f"ClassAgreement of categories {list(cats)!r}, {len(annotators)} annotators, {n_rated} rated items "
                f"and {config.n_bootstrap} resamples; compute it on the same inputs, or leave it out")
        return precomputed
    rows, cols = np.nonzero(present)
    section = ClassAgreementSection(name, cats, annotators, config.n_bootstrap)
    ctx = Context(config=config, seed=seed, schema=Schema())
    ratings = ClassRatings(item_ids=list(items), item=rows.astype(np.int64), annotator=cols.astype(np.int64),
                           code=codes[rows, cols])
    return section.finish(section.add(section.create(ctx), ratings, ctx), ctx)


def _section_ci(result: ClassAgreement, key: str, n: int) -> dict[str, Any]:
    r = result.coefficients.get(key)
    if r is None:
        return {**_ci_dict(None, None, None, n), "undefined": result.undefined.get(key, "undefined")}
    return _ci_dict(r.estimate, r.low, r.high, n)


def masi_distance(a: frozenset[str], b: frozenset[str]) -> float:
    """MASI distance between two label sets (Passonneau 2006): ``1 - J * M``.

    ``J`` is the Jaccard index and ``M`` is 1 for equal sets, 2/3 when one contains the
    other, 1/3 when they overlap otherwise and 0 when disjoint; two empty sets are equal.

    >>> round(masi_distance(frozenset({"a"}), frozenset({"a", "b"})), 4)  # 1 - 1/2 * 2/3
    0.6667
    """
    if a == b:
        return 0.0
    inter, union = len(a & b), len(a | b)
    m = 2 / 3 if (a <= b or b <= a) else (1 / 3 if inter else 0.0)
    return 1.0 - (inter / union) * m


def _multilabel_of(name: str, ls: LabelSet | None, annotators: Sequence[str], items: Sequence[str],
                   sets: Sequence[Sequence[frozenset[str] | None]], scores: npt.NDArray[np.float64],
                   config: ReportConfig, seed: int) -> tuple[dict[str, Any], dict[str, float]]:
    """Multi-select classes treated as sets: MASI alpha, exact-set agreement, per-label binary alpha.

    What :class:`~accord.core.report.class_agreement.ClassAgreementBlockSection` computes at
    ``finish``: ``sets`` is items x annotators (rows ``items``, sorted; columns ``annotators``),
    each cell an annotator's label set (a submission that chose nothing in the label set counts
    as the empty set; ``None``: no submission); ``scores`` each row's mean Jaccard similarity of
    its pairs of sets, from the partitions (NaN with fewer than two sets).
    """
    out: dict[str, Any] = {"kind": "multilabel", "n_items": len(items), "n_annotators": len(annotators),
                           "coefficients": {}, "per_label": {}, "primary": None}
    item_scores: dict[str, float] = {}
    distinct = sorted({s for row in sets for s in row if s is not None}, key=lambda s: sorted(s))
    if len(annotators) < 2 or not items:
        out["note"] = "fewer than two annotators: agreement is undefined"
        return out, item_scores
    declared = list(ls.labels) if ls and ls.labels else []
    observed = sorted({lab for s in distinct for lab in s})
    off = [lab for lab in observed if declared and lab not in declared]
    if off:
        out["off_schema_labels"] = [{"label": lab, "n_ratings": sum(lab in s for row in sets for s in row if s),
                                     "item_ids": [items[i] for i, row in enumerate(sets)
                                                  if any(s and lab in s for s in row)][:20]} for lab in off]
    index = {s: k for k, s in enumerate(distinct)}
    codes = np.array([[index[s] if s is not None else -1 for s in row] for row in sets], dtype=np.int64)
    coded = _compact(np.where(codes >= 0, codes.astype(np.float64), np.nan))
    bcfg = _boot_cfg(config, coded.size)
    if len(distinct) <= 64:  # the distance is called once per pair of distinct sets and resample

        def masi(x: float, y: float) -> float:
            return masi_distance(distinct[int(x)], distinct[int(y)])
        out["coefficients"]["krippendorff_alpha"] = _with_ci(ag.krippendorff_alpha, coded,
                                                             replace(bcfg, n_bootstrap=min(bcfg.n_bootstrap, 200)),
                                                             seed, level=masi)
        out["primary"] = "krippendorff_alpha"
        out["level"] = "MASI distance between label sets (Passonneau 2006)"
    out["coefficients"]["exact_set_agreement"] = _with_ci(ag.percent_agreement, coded, bcfg, seed)
    if out["primary"] is None:
        out["primary"] = "exact_set_agreement"
    for lab in [*declared, *(x for x in observed if x not in declared)]:
        binary = _compact(np.array([[np.nan if s is None else float(lab in s) for s in row] for row in sets]))
        res = _with_ci(ag.krippendorff_alpha, binary, bcfg, seed, level="nominal")
        res["metric"] = "krippendorff_alpha (label present / absent)"
        res["prevalence"] = _f(np.nanmean(binary)) if np.isfinite(binary).any() else None
        out["per_label"][lab] = res
    out["pairwise"], out["annotator_vs_rest"], pair_iv = _pairwise_block(
        codes, len(distinct), annotators, config, "cohen_kappa (exact label set)", seed=seed)
    out["intervals"] = {**{key: pair_iv[key] for key in ("method", "n_resamples", "seed", "confidence")},
                        "pairwise": pair_iv}
    for i in np.flatnonzero(np.isfinite(scores)).tolist():
        item_scores[items[i]] = float(scores[i])
    return out, item_scores


# --------------------------------------------------------------------------- regions


def _region_matcher(config: ReportConfig) -> Callable[[Sequence[Any], Sequence[Any]], MatchResult]:
    from ..errors import InvalidAnnotationError
    from ..matching.geometry import match_regions

    sigmas = {"sigmas": dict(config.keypoint_sigmas), "default_sigma": config.default_keypoint_sigma}

    def match(ref: Sequence[Any], cand: Sequence[Any]) -> MatchResult:
        if not any(isinstance(v, Keypoints) for v in (*ref, *cand)):
            return match_regions(list(ref), list(cand), iou_threshold=config.iou_threshold, label_aware=False)
        try:
            return match_regions(list(ref), list(cand), iou_threshold=config.iou_threshold, label_aware=False,
                                 options=sigmas)
        except InvalidAnnotationError as e:
            if "no sigma for keypoint" not in str(e):
                raise
            names = sorted({p.name for v in (*ref, *cand) if isinstance(v, Keypoints) for p in v.points
                            if p.name not in COCO_PERSON_SIGMAS and p.name not in config.keypoint_sigmas})
            raise ConfigError(
                f"no OKS sigma for keypoint(s) {names!r}: set default_keypoint_sigma = 0.05 or keypoint_sigmas = "
                f"{{\"{names[0] if names else 'name'}\" = 0.05}} under [report] in the report config "
                "(accord report --config), or pass --keypoint-sigma 0.05") from e
    return match


Matcher = Callable[[Sequence[Any], Sequence[Any]], MatchResult]


def _set_distance(match: Matcher) -> Callable[[Sequence[Record], Sequence[Record]], float]:
    """1 - soft F1 between two annotation sets: matched same-label similarity counts, rest 0."""
    def distance(a: Sequence[Record], b: Sequence[Record]) -> float:
        if not a and not b:
            return 0.0
        if not a or not b:
            return 1.0
        m = match([r.value for r in a], [r.value for r in b])
        bad = set(m.label_mismatches)
        s = sum(sim for k, sim in enumerate(m.similarity) if k not in bad)
        return 1.0 - 2.0 * s / (len(a) + len(b))
    return distance


def _region_intervals(stats: RatioStats, annotators: Sequence[str], labels: Sequence[str], config: ReportConfig,
                      seed: int) -> dict[str, Any]:
    """Item-bootstrap intervals of matched F1, mean matched similarity, each label and each pair cell.

    The matcher ran once per item and pair; each resample re-weights those per-item counts
    (:func:`~accord.core.qa.region_intervals.ratio_bootstrap`), capped like alpha's.
    """
    num, den, keys = stats.matrices()
    pairs = [k for k in keys if isinstance(k, tuple) and k[0] == "pair"]
    n_boot = min(_boot_cfg(config, max(num.nnz, 1)).n_bootstrap, 1000)
    res = ratio_bootstrap(num, den, n_resamples=n_boot, seed=seed, keys=keys)

    def ci(key: Any) -> dict[str, Any]:
        j = res.index(key)
        return _ci_dict(res.estimate[j], res.low[j], res.high[j], int(res.n_items[j]))

    where = {(a, b): res.index(("pair", a, b)) for _, a, b in pairs}

    def cell(a: str, b: str, bound: Any) -> Any:
        j = where.get((a, b), where.get((b, a)))
        return None if j is None or a == b else (int(bound[j]) if bound is res.n_items else _f(bound[j]))

    return {"method": "percentile bootstrap over items (drawn with replacement); each resample re-sums the "
                      "per-item counts of the matches computed once",
            "n_resamples": n_boot, "seed": seed, "confidence": 0.95,
            "coefficients": {k: ci(k) for k in ("matched_f1", "mean_matched_similarity") if k in keys},
            "per_label": {lab: ci(("label", lab)) for lab in labels if ("label", lab) in keys},
            "pairwise": {"annotators": list(annotators), "metric": "matched_f1",
                         "low": [[cell(a, b, res.low) for b in annotators] for a in annotators],
                         "high": [[cell(a, b, res.high) for b in annotators] for a in annotators],
                         "n_items": [[cell(a, b, res.n_items) for b in annotators] for a in annotators]}}


# --------------------------------------------------------------------------- text


def word_error_counts(reference: str, candidate: str) -> tuple[int, int, int, int]:
    """(word errors, reference words, character errors, reference characters) of one pair."""
    from ..matching.transcripts import transcript_errors

    w = transcript_errors(reference, candidate, unit="word")
    c = transcript_errors(reference, candidate, unit="char")
    return (w.substitutions + w.deletions + w.insertions, w.n_reference,
            c.substitutions + c.deletions + c.insertions, c.n_reference)


# --------------------------------------------------------------------------- consensus


# Skill intervals refit the consensus model on item resamples; at most this many judgments in all.
_SKILL_BOOTSTRAP_JUDGMENTS = 1_000_000


def _decode_labels(codes: Sequence[Any], classes: npt.NDArray[Any]) -> npt.NDArray[Any]:
    out = np.empty(len(codes), dtype=object)
    out[:] = [None if c is None else classes[c] for c in codes]
    return out


def _decoded(cc: ClassConsensus, item_u: npt.NDArray[Any], ann_u: npt.NDArray[Any], cls_u: npt.NDArray[Any]
             ) -> ClassConsensus:
    """A consensus fitted on codes (:func:`~accord.core.qa.consensus._encode_strings`'s, sorted
    like the strings) with its ids, classes and labels, and its fit's, turned back into the strings."""
    tables = {"item_ids": item_u, "annotator_ids": ann_u, "classes": cls_u}
    fit = cc.fit
    names = {f.name for f in fields(fit)}
    changes: dict[str, Any] = {f: t[np.asarray(getattr(fit, f)).astype(np.intp)] for f, t in tables.items()
                               if f in names}
    if "labels" in names:
        changes["labels"] = _decode_labels(list(fit.labels), cls_u)
    return replace(cc, item_ids=item_u[np.asarray(cc.item_ids).astype(np.intp)],
                   annotator_ids=ann_u[np.asarray(cc.annotator_ids).astype(np.intp)],
                   labels=_decode_labels(list(cc.labels), cls_u), fit=replace(fit, **changes))


def _class_consensus(ds: Dataset | DatasetOutline, name: str, cfg: ReportConfig, seed: int,
                     sections: Mapping[str, Any] | None = None, *, runner: Runner | None = None,
                     ctx: Context | None = None
                     ) -> tuple[dict[str, Any], dict[str, str], Ambiguity | None]:
    """Consensus labels of a class label set by ``cfg.consensus_method``, with annotator skills,
    and each item's soft label and difficulty (:mod:`accord.core.qa.ambiguity`), folded over
    ``runner``'s partitions (default: ``ds`` as one) by
    :class:`~accord.core.report.consensus.ClassConsensusSection` (``ctx``: the report's context).
    A Dawid-Skene fit computed elsewhere (``sections["consensus:<set>"]``, the map-reduce rounds
    of :mod:`accord.core.report.truth`) is used instead of fitting here."""
    from ..report.consensus import ClassConsensusResult, ClassConsensusSection

    section = ClassConsensusSection(name)
    pre = (sections or {}).get(f"consensus:{name}") if cfg.consensus_method == "dawid_skene" else None
    base = ctx if ctx is not None else Context(config=cfg, seed=seed, schema=ds.schema, order=_order_of(ds))
    out: ClassConsensusResult = (runner or Runner((ds,))).run(
        [section], replace(base, options={section.name: pre}))[section.name]
    return out.block, out.labels, out.ambiguity


def _class_consensus_of(item_col: list[str], ann_col: list[str], label_col: list[str], cfg: ReportConfig,
                        seed: int, *, pre: Any = None
                        ) -> tuple[dict[str, Any], dict[str, str], Ambiguity | None]:
    """:func:`_class_consensus` of judgments given as columns (at least one; one entry per
    judgment, in the dataset's record order): what
    :class:`~accord.core.report.consensus.ClassConsensusSection` computes at ``finish``."""
    from .ambiguity import ambiguity
    from .consensus import (
        SKILL_DEFINITIONS,
        DawidSkeneResult,
        GladResult,
        OneCoinResult,
        class_consensus,
        majority_vote,
        skill_intervals,
    )

    method = cfg.consensus_method
    items: npt.ArrayLike
    anns: npt.ArrayLike
    labels: npt.ArrayLike
    if isinstance(pre, DawidSkeneResult):  # fitted on the strings elsewhere: every step here reads them too
        items, anns, labels = list(item_col), list(ann_col), list(label_col)
        item_u = ann_u = cls_u = None
        res = ClassConsensus(method=method, item_ids=pre.item_ids, labels=pre.labels, annotator_ids=pre.annotator_ids,
                             skills=pre.accuracy_score(), fit=pre)
    else:
        # The strings are coded once, in sorted order (the order every fit sorts them in), and
        # every fit below reads the codes; the results are decoded back before anything reads them.
        item_u, ii = _encode_strings(item_col)
        ann_u, aa = _encode_strings(ann_col)
        cls_u, ll = _encode_strings(label_col)
        items, anns, labels = ii, aa, ll
        res = _decoded(class_consensus(ii, aa, ll, method=method, seed=seed), item_u, ann_u, cls_u)
    mv = majority_vote(items, anns, labels)
    if item_u is not None and cls_u is not None:
        mv = replace(mv, item_ids=item_u[mv.item_ids.astype(np.intp)], labels=_decode_labels(list(mv.labels), cls_u))
    fit = res.fit
    labels_by_item = {str(i): str(lab) for i, lab in zip(res.item_ids, res.labels, strict=True) if lab is not None}
    mv_by_item = {str(i): lab for i, lab in zip(mv.item_ids, mv.labels, strict=True)}
    changed = sum(1 for i, lab in labels_by_item.items() if mv_by_item.get(i) not in (None, lab))
    reliability = {str(a): _f(acc) for a, acc in zip(res.annotator_ids, res.skills, strict=True)}
    out: dict[str, Any] = {"method": method, "n_items": len(labels_by_item)}
    em = fit if isinstance(fit, DawidSkeneResult | OneCoinResult | GladResult) else None
    if em is not None:
        out["n_iterations"] = em.n_iter
        out["converged"] = bool(em.converged)
    out.update({"n_ties": int(mv.tied.sum()), "n_changed_from_majority": changed,
                "annotator_reliability": reliability})
    if em is not None and not isinstance(em, GladResult):  # GLAD's prior is fixed, not estimated
        out["class_priors"] = {str(c): _f(p) for c, p in zip(em.classes, em.priors, strict=True)}
    ci = skill_intervals(items, anns, labels, method=method, n_resamples=cfg.n_bootstrap, seed=seed,
                         max_judgments=_SKILL_BOOTSTRAP_JUDGMENTS)
    if ann_u is not None:
        ci = replace(ci, annotator_ids=ann_u[ci.annotator_ids.astype(np.intp)])
    out["annotator_skill"] = {str(a): _ci_dict(est, lo, hi, int(n)) for a, est, lo, hi, n in zip(
        ci.annotator_ids, ci.skills, ci.low, ci.high, ci.n_judgments, strict=True)}
    out["skill"] = {"definition": SKILL_DEFINITIONS[method], "confidence": ci.confidence,
                    "n_resamples": ci.n_resamples, "seed": seed,
                    "interval": "percentile bootstrap over items, the model refitted on each resample"}
    out["labels"] = dict(sorted(labels_by_item.items()))
    if item_u is not None and ann_u is not None and cls_u is not None:
        coded = replace(res, item_ids=np.arange(len(item_u)).astype(object),
                        annotator_ids=np.arange(len(ann_u)).astype(object))
        amb = ambiguity(coded, items, anns, labels, threshold=cfg.ambiguity_threshold)
        amb = replace(amb, item_ids=item_u[amb.item_ids.astype(np.intp)], classes=cls_u[amb.classes.astype(np.intp)],
                      annotator_ids=ann_u[amb.annotator_ids.astype(np.intp)])
    else:
        amb = ambiguity(res, items, anns, labels, threshold=cfg.ambiguity_threshold)
    out.update(_ambiguity_dict(amb))
    return out, labels_by_item, amb


# The report lists at most this many ambiguous items per label set (most difficult first);
# n_ambiguous counts all of them and ``accord report --soft-labels`` exports every item.
_AMBIGUOUS_LISTED = 1000


def _ambiguity_dict(amb: Ambiguity) -> dict[str, Any]:
    """The consensus section's ambiguity keys: definitions, counts and the capped listing."""
    from .ambiguity import AMBIGUITY_RULE, DIFFICULTY_DEFINITIONS, SOFT_LABEL_DEFINITION

    idx = np.flatnonzero(amb.ambiguous)
    idx = idx[np.lexsort((amb.item_ids[idx].astype(str), -amb.difficulty[idx]))][:_AMBIGUOUS_LISTED]
    classes = [str(c) for c in amb.classes]
    return {
        "ambiguity": {"threshold": amb.threshold, "rule": AMBIGUITY_RULE,
                      "difficulty": DIFFICULTY_DEFINITIONS[amb.source],
                      "soft_label": SOFT_LABEL_DEFINITION,
                      "conflict_queue": "ambiguous items are kept as soft labels, not listed as conflicts to fix "
                                        "(conflicts.n_ambiguous_left_out counts those the queue would have held), "
                                        "and disagreeing with their consensus label is not a discrepancy"},
        "n_ambiguous": amb.n_ambiguous,
        "n_ambiguous_listed": len(idx),
        "ambiguous": [{"item_id": str(amb.item_ids[i]), "difficulty": _f(amb.difficulty[i]),
                       "distribution": {c: _f(p) for c, p in zip(classes, amb.distribution[i], strict=True)}}
                      for i in idx],
    }


def _multilabel_consensus(ds: Dataset | DatasetOutline, name: str, cfg: ReportConfig, *, runner: Runner | None = None,
                          ctx: Context | None = None) -> dict[str, Any]:
    """Binary-relevance consensus of a multi-select label set (:mod:`accord.core.qa.multilabel_consensus`),
    folded over ``runner``'s partitions (default: ``ds`` as one) by
    :class:`~accord.core.report.consensus.MultilabelConsensusSection`."""
    from ..report.consensus import MultilabelConsensusSection

    section = MultilabelConsensusSection(name)
    base = ctx if ctx is not None else Context(config=cfg, seed=0, schema=ds.schema, order=_order_of(ds))
    out: dict[str, Any] = (runner or Runner((ds,))).run([section], replace(base, config=cfg))[section.name]
    return out


def _multilabel_consensus_of(items: list[str], anns: list[str], chosen: list[frozenset[str]], *,
                             labels: list[str] | None, cfg: ReportConfig) -> dict[str, Any]:
    """:func:`_multilabel_consensus` of submissions given as columns (at least one; ``labels``:
    the schema's label order): what the section computes at ``finish``."""
    from .multilabel_consensus import MultilabelMethod, multilabel_consensus

    method: MultilabelMethod = "majority_vote" if cfg.consensus_method == "majority_vote" else "dawid_skene"
    res = multilabel_consensus(items, anns, chosen, labels=labels, method=method)
    prevalence, score = res.prevalence, res.agreement_score
    n_present = res.present.sum(axis=0)
    return {
        "method": method, "strategy": "binary relevance: one present/absent consensus per label "
                                      + ("(majority of the submissions; a tie is absent)" if method == "majority_vote"
                                         else "(two-class Dawid-Skene per label; present when P > 0.5)"),
        "n_items": len(res.item_ids),
        "per_label": {lab: {"prevalence": _f(prevalence[j]), "n_items_present": int(n_present[j])}
                      for j, lab in enumerate(res.labels)},
        "annotator_agreement": {
            "metric": "share of the annotator's present/absent answers equal to the consensus, per label",
            "annotators": {str(a): {lab: {"estimate": _f(score[k, j]), "n": int(res.n_judged[k])}
                                    for j, lab in enumerate(res.labels)}
                           for k, a in enumerate(res.annotator_ids)}},
        "labels": {i: list(s) for i, s in sorted(res.sets().items())},
    }


def _region_consensus_blocks(pending: Sequence[tuple[str, str, gold_mod.GoldOutcome]], consensus: dict[str, Any],
                             *, runner: Runner, ctx: Context) -> list[Discrepancy]:
    """Weighted consensus of every region and text label set, after the loop so each weight can
    read every class label set's skills (:class:`~accord.core.report.region_consensus.RegionConsensusSection`,
    folded over the runner's partitions); fills ``consensus`` in place (a box block keeps its
    ``truth_inference``). Returns the box comparisons' discrepancies; the other kinds' stay
    counted in their block (``annotator_discrepancies``)."""
    from ..report.region_consensus import RegionConsensusInputs, RegionConsensusSection
    from .region_consensus import class_skills_of, gold_weight_scores

    found: list[Discrepancy] = []
    for name, kind, g in pending:
        section = RegionConsensusSection(name)
        inputs = RegionConsensusInputs(kind=kind, gold_items=g.gold_items, gold_scores=gold_weight_scores(g.scores),
                                       class_skills=class_skills_of(consensus))
        block, box_found = runner.run([section], replace(ctx, options={section.name: inputs}))[section.name]
        consensus[name] = {**block, **consensus.get(name, {})} if kind == "box" else block
        found.extend(box_found)
    return found


def _box_truth(name: str, *, runner: Runner, ctx: Context) -> dict[str, Any] | None:
    """The geometry EM (:func:`accord.core.qa.geometry_truth.box_truth_em`) over every item's
    boxes (:class:`~accord.core.report.region_consensus.BoxTruthSection`): each annotator's miss
    rate, false-positive rate and edge noise with intervals, and the number of objects it
    infers; None with fewer than two annotators or no boxes.

    The per-object list stays out of the report (it grows with the data); the model's
    summary and the annotators' parameters go in."""
    from ..report.region_consensus import BoxTruthSection

    section = BoxTruthSection(name)
    truth: dict[str, Any] | None = runner.run([section], ctx)[section.name]
    return truth


# --------------------------------------------------------------------------- attributes and tracks


def _attribute_and_track_sections(label_sets: Sequence[str], discrepancies: list[Discrepancy], *,
                                  runner: Runner, ctx: Context) -> dict[str, Any]:
    """The ``attributes`` and ``tracks`` sections, each present only when it applies, folded over the
    runner's partitions (:mod:`accord.core.report.attributes`).

    Track identity switches and missed frames join ``discrepancies`` (so they reach ``errors``).
    """
    from ..report.attributes import AttributeScopeSection, AttributesSection, TracksSection

    sections = [TracksSection(label_sets), AttributeScopeSection(label_sets), AttributesSection()]
    done = runner.run(sections, ctx)
    tracks, found = done[TracksSection.name]
    discrepancies.extend(found)
    attributes = done[AttributesSection.name]
    return {**({"attributes": attributes} if attributes else {}), **({"tracks": tracks} if tracks else {})}


def _model_vs_human(label_sets: Sequence[str], class_labels: Mapping[str, Mapping[str, str]], cfg: ReportConfig, *,
                    runner: Runner, ctx: Context) -> dict[str, Any]:
    """The ``model_vs_human`` section (:func:`accord.core.qa.model_eval.model_vs_human`), folded over the
    runner's partitions (:class:`~accord.core.report.model_eval.ModelVsHumanSection`)."""
    from ..report.model_eval import ModelKindsSection, ModelVsHumanInputs, ModelVsHumanSection

    section = ModelVsHumanSection()
    inputs = ModelVsHumanInputs(consensus=class_labels, iou_threshold=cfg.iou_threshold,
                                options={"sigmas": dict(cfg.keypoint_sigmas),
                                         "default_sigma": cfg.default_keypoint_sigma})
    out: dict[str, Any] = runner.run([ModelKindsSection(label_sets), section],
                                     replace(ctx, options={section.name: inputs}))[section.name]
    return out


# --------------------------------------------------------------------------- the report


def _order_of(ds: Dataset | DatasetOutline) -> ItemOrder:
    """The item order of a dataset or of its outline."""
    return ItemOrder(ds.item_ids if isinstance(ds, DatasetOutline) else ds.items)


def _agreement_and_gold(ds: Dataset | DatasetOutline, name: str, kind: str, cfg: ReportConfig, seed: int, *,
                        sections: Mapping[str, Any] | None = None, runner: Runner | None = None,
                        ctx: Context | None = None
                        ) -> tuple[dict[str, Any], dict[str, float], gold_mod.GoldOutcome] | None:
    """Agreement (with per-item scores) and gold scoring of one label set, by its kind's family;
    None for kinds the report does not measure. Gold scoring is the mergeable
    :class:`~accord.core.report.gold.GoldSection`, over the runner's partitions."""
    if kind in CLASS_KINDS:
        agreement, scores = _class_agreement(ds, name, kind, cfg, seed, sections=sections, runner=runner, ctx=ctx)
    elif kind in REGION_KINDS:
        on, at = runner or Runner((ds,)), ctx or Context(config=cfg, seed=seed, schema=ds.schema)
        agreement, scores = agreement_of(RegionAgreementSection(name, kind), ds, on, at)
        if kind == "segment" and (cp := result_of(CpwerSection(name), on, at)) is not None:
            agreement["cpwer"] = cp
    elif kind == "text":
        agreement, scores = agreement_of(TextAgreementSection(name), ds, runner or Runner((ds,)),
                                         ctx or Context(config=cfg, seed=seed, schema=ds.schema))
    else:
        return None
    section = GoldSection(name, kind)
    gold: gold_mod.GoldOutcome = (runner or Runner((ds,))).run(
        [section], ctx or Context(config=cfg, seed=seed, schema=ds.schema, order=_order_of(ds)))[section.name]
    return agreement, scores, gold


class QAReport(dict[str, Any]):
    """:func:`build_report`'s result: the JSON-ready report dict, plus :attr:`discrepancies`.

    The JSON lists at most ``max_discrepancies`` discrepancies (``errors.n_listed`` of
    ``errors.n_discrepancies``); every count and breakdown is computed from all of them, and
    :attr:`discrepancies` keeps all of them, most severe first, for the tools' write-backs
    (read them with :func:`all_discrepancies`).
    """

    __slots__ = ("ambiguity", "discrepancies")

    def __init__(self, data: Mapping[str, Any], discrepancies: Sequence[Discrepancy] = (),
                 ambiguity: Mapping[str, Ambiguity] | None = None) -> None:
        super().__init__(data)
        self.discrepancies: tuple[Discrepancy, ...] = tuple(discrepancies)
        #: Each classification label set's soft labels and difficulties, every item
        #: (:func:`~accord.core.qa.ambiguity.soft_label_rows` writes them out).
        self.ambiguity: dict[str, Ambiguity] = dict(ambiguity or {})


def all_discrepancies(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every discrepancy of a report as JSON dicts: all of them for a :class:`QAReport`, the
    JSON listing (which may be truncated: see ``errors.n_listed``) for a report read back
    from a file."""
    if isinstance(report, QAReport):
        return [d.to_dict() for d in report.discrepancies]
    return list((report.get("errors") or {}).get("discrepancies") or [])


def build_report(dataset: Dataset | DatasetOutline, *, config: ReportConfig | None = None, seed: int = 0,
                 checks: bool = True, cost: CostConfig | None = None, cost_items: int | None = None,
                 resolutions: Sequence[Resolution] = (), previous: Mapping[str, Any] | None = None,
                 pred_probs: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
                 progress: Callable[[str], None] | None = None,
                 sections: Mapping[str, Any] | None = None, grades: Sequence[Grade] = (),
                 runner: Runner | None = None) -> QAReport:
    """The full QA report for a dataset as a JSON-ready dict (see the module docstring).

    Every count, breakdown and hint is computed from all discrepancies; only the JSON listing
    ``errors.discrepancies`` stops at ``config.max_discrepancies`` (``errors.n_listed`` says
    how many are listed); the returned :class:`QAReport` keeps them all.

    Args:
        dataset: The records, submissions, items and schema; or, with a ``runner`` whose
            partitions hold the records, only the dataset's
            :class:`~accord.core.model.DatasetOutline` (a Dask run whose records stay on the
            workers: every section of the report folds over the runner's partitions).
        config: Thresholds and options (defaults: :class:`ReportConfig`).
        seed: Seed for bootstrap intervals and samples; the report is reproducible.
        checks: Include the rule-based checks.
        cost: Pricing and plan for the cost section (defaults: :mod:`accord.core.cost`'s).
        cost_items: Dataset size to forecast the cost of (default: this dataset's items).
        resolutions: Adjudications so far (the resolution log's entries, oldest first; the
            last one per item and label set counts). A resolved item leaves the conflict
            queue (``conflicts.n_resolved`` counts them); a resolved class label replaces
            the consensus label of that item (``consensus.<label set>.n_resolved``); all
            feed the guideline hot spots. Resolutions naming items or label sets that are
            not in the data are reported (``conflicts.unknown_resolutions``), not applied.
        previous: An earlier report (its JSON): the error counts gain a per-category trend.
        pred_probs: Model probabilities per class label set, item and class
            (``{label_set: {item_id: {class: p}}}``, out-of-sample): the ``label_errors``
            section flags consensus labels that are probably wrong (confident learning).
            Without them, model predictions in the dataset that carry a score are used,
            approximately (the top class's score, the rest spread evenly).
        progress: Called with the name of each step (for a progress display).
        grades: Reviewers' pass/fail grades of sampled submissions (``accord report --grades``):
            ``sampling.spot_check_grades`` gives the batch's and each annotator's error rate
            with intervals (:func:`accord.core.qa.grades.grade_estimate`).
        sections: Results of mergeable sections computed elsewhere, by section name: a
            :class:`~accord.core.report.classes.ClassAgreement` under ``"agreement:<label set>"``
            replaces the nominal class agreement (coefficients and intervals) this call would
            compute for that label set (a Dask run merges it from the partitions:
            :mod:`accord.cluster.report`). It must fit the dataset (same categories, annotators,
            rated items and resamples), else :class:`ConfigError`.
        runner: Where the mergeable sections run (:class:`~accord.core.report.engine.Runner`):
            its partitions must be the dataset's items, cut into groups of whole items (a Dask
            run gives the groups on its workers). Default: the dataset as one partition.
    """
    cfg = config or ReportConfig()
    if isinstance(dataset, DatasetOutline):
        if runner is None:
            raise ConfigError("build_report of a DatasetOutline needs the runner whose partitions hold its records "
                              "(accord.cluster.report: runner=run.runner(client))")
        outline = dataset
    else:
        outline = dataset.outline()
    runner = runner or Runner((dataset,))
    base = Context(config=cfg, seed=seed, schema=outline.schema, order=ItemOrder(outline.item_ids))
    known_items = frozenset(outline.item_ids)
    step = progress or (lambda _s: None)
    tax = cfg.taxonomy
    agreement: dict[str, Any] = {}
    gold_outcomes: dict[str, gold_mod.GoldOutcome] = {}
    consensus: dict[str, Any] = {}
    conflicts: list[dict[str, Any]] = []
    conflict_objs: list[Conflict] = []
    discrepancies: list[Discrepancy] = []
    item_scores_all: dict[str, dict[str, float]] = {}
    class_labels: dict[str, dict[str, str]] = {}
    ambiguities: dict[str, Ambiguity] = {}
    ambiguous_left_out: dict[str, int] = {}
    latest: dict[tuple[str, str], Resolution] = {}
    for res in resolutions:
        latest[(res.item_id, res.label_set)] = res
    unknown_res = [r for r in latest.values() if r.item_id not in known_items
                   or r.label_set not in outline.label_sets]
    resolved: dict[str, dict[str, Any]] = defaultdict(dict)
    for (item, ls_name), res in latest.items():
        if item in known_items and ls_name in outline.label_sets:
            resolved[ls_name][item] = res.chosen
    n_resolved = 0
    gold_coco: dict[str, dict[str, Any]] = {}
    gold_der: dict[str, dict[str, Any]] = {}
    pending_consensus: list[tuple[str, str, gold_mod.GoldOutcome]] = []
    for name in outline.label_sets:
        step(f"label set {name}")
        kind = outline.kind_of(name)
        measured = (_agreement_and_gold(dataset, name, kind, cfg, seed, sections=sections, runner=runner, ctx=base)
                    if kind else None)
        if measured is None:
            continue
        agreement[name], scores, g = measured
        if kind == "classification":
            consensus[name], labels, amb = _class_consensus(dataset, name, cfg, seed, sections=sections,
                                                            runner=runner, ctx=base)
            if amb is not None:
                ambiguities[name] = amb
            chosen = {i: c for i, c in resolved.get(name, {}).items() if isinstance(c, str)}
            if consensus[name] and chosen:
                labels = {**labels, **chosen}
                consensus[name]["labels"] = dict(sorted(labels.items()))
                consensus[name]["n_resolved"] = len(chosen)
                consensus[name]["resolved_items"] = sorted(chosen)
            class_labels[name] = labels
            # an ambiguous item has no wrong answer: no label mismatch against its consensus either
            mismatch = ConsensusMismatchSection(name)
            discrepancies.extend(runner.run([mismatch], replace(
                base, options={mismatch.name: (labels, g.gold_items | _ambiguous_items(amb))}))[mismatch.name])
        elif kind == "multilabel":
            consensus[name] = _multilabel_consensus(dataset, name, cfg, runner=runner, ctx=base)
        elif kind == "box":
            consensus[name] = {}  # the fused boxes come after the loop (their weights read every class set)
            pending_consensus.append((name, kind, g))
            step(f"truth inference {name}")
            truth = _box_truth(name, runner=runner, ctx=base)
            if truth:
                consensus[name]["truth_inference"] = truth
        elif kind in REGION_CONSENSUS_KINDS:
            consensus[name] = {}  # keeps the label set's place; filled after the loop
            pending_consensus.append((name, kind, g))
        if kind in ("box", "mask") and g.gold_items:
            coco_rows = result_of(GoldCocoSection(name), runner, base)
            if coco_rows:
                gold_coco[name] = coco_rows
        if kind == "segment" and g.gold_items:
            der_rows = result_of(GoldDerSection(name), runner, base)
            if der_rows:
                gold_der[name] = der_rows
        gold_outcomes[name] = g
        discrepancies.extend(g.discrepancies)
        item_scores_all[name] = scores
        per_item_gold = Counter(d.item_id for d in g.discrepancies)
        unclear = _ambiguous_items(ambiguities.get(name))
        if unclear:  # ambiguous items are soft labels, not conflicts to fix (gold disagreements stay)
            left_out = sum(1 for i in unclear if i in scores and scores[i] < cfg.conflict_threshold)
            if left_out:
                ambiguous_left_out[name] = left_out
        queue_section = ConflictsSection(name)
        inputs = ConflictInputs(scores={i: v for i, v in scores.items() if i not in unclear} if unclear else scores,
                                threshold=cfg.conflict_threshold, gold_disagreements=per_item_gold,
                                resolved=frozenset(resolved.get(name, {})))
        queue: ConflictQueue = runner.run([queue_section], replace(
            base, options={queue_section.name: inputs}))[queue_section.name]
        conflict_objs.extend(queue.conflicts)
        n_resolved += queue.n_resolved
        conflicts.extend(queue.open_entries)
    step("region consensus")
    discrepancies.extend(_region_consensus_blocks(pending_consensus, consensus, runner=runner, ctx=base))
    for name in [n for n, block in consensus.items() if block == {}]:
        del consensus[name]  # a placeholder no consensus filled

    step("label errors")
    label_errors = _label_errors(class_labels, pred_probs, runner=runner, ctx=base)
    step("model vs human")
    model_scores = _model_vs_human(outline.label_sets, class_labels, cfg, runner=runner, ctx=base)
    step("sampling")
    drawn_sample: SamplingReport = runner.run([SamplingSection()], replace(
        base, results={"report:item_scores": item_scores_all},
        options={"pred_probs": pred_probs}))["sampling"]
    sampling = drawn_sample.to_dict()
    if grades:
        drawn = [(x["item_id"], x["annotator_id"]) for x in (sampling.get("spot_check") or {}).get("items", [])]
        sampling["spot_check_grades"] = grade_estimate(grades, drawn_sample.submissions(), sample=drawn)
    step("bias")
    bias = _bias(outline, cfg, gold_outcomes, runner=runner, order=base.order)
    checks_out: dict[str, Any] = {}
    if checks:
        step("checks")
        checks_out, automated = runner.run([ChecksSection()], base)["checks"]
        discrepancies.extend(automated)
    step("cost")
    pilot_cost: CostReport = runner.run([CostSection()], replace(
        base, results={"report:agreement": agreement, "report:gold": gold_mod.summarize(gold_outcomes)},
        options={"cost": cost, "cost_items": cost_items}))["cost"]
    cost_out = pilot_cost.to_dict()
    extra_sections = _attribute_and_track_sections(outline.label_sets, discrepancies, runner=runner, ctx=base)
    totals: DatasetSummary = runner.run([SummarySection()], base)["summary"]
    counts = count_discrepancies(discrepancies)
    discrepancies.sort(key=lambda d: (-_sev(d.severity), d.label_set, d.item_id, d.annotator_id))
    gold_summary = gold_mod.summarize(gold_outcomes)
    summary = {
        "dataset": outline.name,
        "n_items": totals.n_items,
        "n_records": totals.n_records,
        "n_annotators": len(totals.annotators),
        "annotators": list(totals.annotators),
        "label_sets": [n for n in outline.label_sets if n in agreement],
        "n_gold_items": gold_mod.gold_item_count(gold_outcomes),
        "n_conflicts": len(conflicts),
        "n_discrepancies": len(discrepancies),
        "cancelled_submissions": totals.n_cancelled,
        "n_model_records": totals.n_model_records,
    }
    hints = _hints(agreement, discrepancies)
    extra: list[tuple[float, str]] = [(float(h["n"]), h["message"]) for h in hints]
    if unknown_res:
        ids = sorted({r.item_id for r in unknown_res})
        extra.append((float(len(unknown_res)),
                      f"{len(unknown_res)} resolution(s) name items or label sets not in the data (e.g. "
                      f"{', '.join(repr(i) for i in ids[:3])}); they were not applied: check the log "
                      "belongs to this export."))
    work = Counter({(a, ls): n for ls in agreement for a, n in totals.submissions.items()})
    extra.extend(model_eval.headline_lines(model_scores, agreement))
    ranked = _headline(agreement, gold_summary, counts.by_annotator, conflicts, cfg, work=work, extra=extra)
    summary["headline"] = ranked[:cfg.max_headlines]
    summary["headline_more"] = ranked[cfg.max_headlines:]
    hot = guideline_hot_spots(conflict_objs, list(resolutions), top=15)
    return QAReport({
        "schema_version": SCHEMA_VERSION,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "accord_version": _version(),
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.__dict__.items()
                   if k != "taxonomy"} if hasattr(cfg, "__dict__") else _config_dict(cfg),
        "summary": summary,
        "agreement": agreement,
        "item_scores": {ls: {i: _f(v) for i, v in sorted(sc.items())} for ls, sc in item_scores_all.items()},
        "gold": {"threshold": cfg.gold_threshold,
                 "rule": "pass when the 95% interval's lower end reaches the threshold, fail when its "
                         "upper end is below it, undecided otherwise",
                 "annotators": gold_summary,
                 "confusion": {ls: o.confusion for ls, o in gold_outcomes.items() if o.confusion},
                 **({"coco": gold_coco} if gold_coco else {}),
                 **({"diarization": gold_der} if gold_der else {})},
        "errors": {"taxonomy": [{"name": c.name, "description": c.description, "severity": c.severity}
                                for c in tax.categories.values()],
                   "counts": counts.to_dict(),
                   "discrepancies": [d.to_dict() for d in discrepancies[:cfg.max_discrepancies]],
                   "n_discrepancies": len(discrepancies),
                   "n_listed": min(len(discrepancies), cfg.max_discrepancies),
                   "hints": hints,
                   **({"trend": compare_counts(
                       ((previous.get("errors") or {}).get("counts") or {}).get("by_category") or {},
                       counts.by_category)} if previous is not None else {})},
        "consensus": consensus,
        "conflicts": {"threshold": cfg.conflict_threshold, "items": conflicts,
                      "n_resolutions": len(resolutions), "n_resolved": n_resolved,
                      **({"n_ambiguous_left_out": ambiguous_left_out} if ambiguous_left_out else {}),
                      "unknown_resolutions": {
                          "n": len(unknown_res),
                          "items": [{"item_id": r.item_id, "label_set": r.label_set} for r in unknown_res[:50]]},
                      "hot_spots": [{"kind": h.kind, "name": h.name, "conflicts": h.conflicts,
                                     "resolutions": h.resolutions, "total": h.total} for h in hot]},
        "label_errors": label_errors,
        **({"model_vs_human": model_scores} if model_scores else {}),
        "sampling": sampling,
        "bias": bias,
        "checks": checks_out,
        "cost": cost_out,
        **extra_sections,
    }, discrepancies, ambiguities)


def _ambiguous_items(amb: Ambiguity | None) -> frozenset[str]:
    if amb is None or not amb.ambiguous.any():
        return frozenset()
    return frozenset(str(i) for i in amb.item_ids[amb.ambiguous])


def gate_figures(dataset: Dataset, *, config: ReportConfig | None = None, seed: int = 0
                 ) -> tuple[float | None, float | None]:
    """The pilot gate's two figures without the rest of the report.

    Returns what :func:`~accord.core.cost.qa_from_report` reads off a full
    :func:`build_report`: the lowest primary agreement coefficient over label sets and the
    mean gold score estimate over annotators and label sets (either ``None`` when there is
    none). Only agreement point estimates and gold scores are computed (one bootstrap
    resample, whose interval nobody reads; no consensus, conflicts, sampling, bias, checks or
    cost), so ``accord cost gate`` does not build a report to read two numbers.
    """
    cfg = replace(config or ReportConfig(), n_bootstrap=1)
    agreement: dict[str, Any] = {}
    gold_outcomes: dict[str, gold_mod.GoldOutcome] = {}
    outline = dataset.outline()
    for name in outline.label_sets:
        kind = outline.kind_of(name)
        measured = _agreement_and_gold(dataset, name, kind, cfg, seed) if kind else None
        if measured is not None:
            agreement[name], _, gold_outcomes[name] = measured
    # the two report sections the gate reads, read the way it reads a full report
    return qa_from_report({"agreement": agreement, "gold": {"annotators": gold_mod.summarize(gold_outcomes)}})


def _hints(agreement: Mapping[str, Any], discrepancies: Sequence[Discrepancy]) -> list[dict[str, Any]]:
    """Findings about the data's shape: labels outside the schema, labels that differ only in case."""
    out: list[dict[str, Any]] = []
    for cm in case_mismatches(discrepancies):
        out.append({"kind": "case_mismatch", "label_set": cm.label_set, "labels": list(cm.labels),
                    "n": cm.n_discrepancies, "message": cm.message()})
    for name, a in agreement.items():
        for off in a.get("off_schema_labels", []):
            ids = off["item_ids"]
            pair = sorted([off.get("case_of", ""), off["label"]])
            if "case_of" in off and not any(h["label_set"] == name and h["labels"] == pair for h in out):
                out.append({"kind": "case_mismatch", "label_set": name, "labels": pair, "n": off["n_ratings"],
                            "message": f"{name}: labels differ only in case: {pair[0]!r} vs {pair[1]!r} "
                                       f"({off['case_of']!r} is in the labeling config, {off['n_ratings']} "
                                       f"rating(s) use {off['label']!r}); use one spelling in the config and "
                                       "the data"})
            out.append({"kind": "off_schema_label", "label_set": name, "labels": [off["label"]],
                        "n": off["n_ratings"], "item_ids": ids,
                        "message": f"{name}: {off['n_ratings']} rating(s) use label {off['label']!r}, which the "
                                   f"labeling config does not declare (task(s) {', '.join(ids[:5])}"
                                   f"{', ...' if len(ids) > 5 else ''}); add it to the config or fix the "
                                   "annotations."})
    return out


def _config_dict(cfg: ReportConfig) -> dict[str, Any]:
    return {k: (list(getattr(cfg, k)) if isinstance(getattr(cfg, k), tuple) else getattr(cfg, k))
            for k in ReportConfig.__dataclass_fields__ if k != "taxonomy"}


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("accord")
    except Exception:  # noqa: BLE001 - not installed (running from a checkout)
        return "unknown"


def _sev(s: str) -> int:
    return ("info", "minor", "major", "critical").index(s)


def _headline(agreement: Mapping[str, Any], gold: Mapping[str, Mapping[str, Any]],
              by_annotator: Mapping[str, Mapping[str, int]], conflicts: Sequence[Any],
              cfg: ReportConfig, *, work: Mapping[tuple[str, str], int] | None = None,
              extra: Sequence[tuple[float, str]] = ()) -> list[str]:
    """"What to look at first", ranked by impact: how many judgments each line puts in doubt.

    Impact is a label set's items for agreement below the threshold, the annotator's
    judgments in the label set for a failed gold test, the number of errors for an
    annotator's most frequent error, the queued items for the conflict queue, and the
    affected ratings for ``extra`` lines (labels outside the schema, case-only label
    mismatches, resolutions naming unknown items). Ties keep this order.
    """
    ranked: list[tuple[float, str]] = []
    for name, a in agreement.items():
        c = a.get("coefficients", {}).get(a.get("primary") or "", {})
        est = c.get("estimate")
        if est is not None and est < cfg.conflict_threshold:
            ranked.append((float(a.get("n_items") or 0),
                           f"{name}: {a['primary']} is {est:.2f}, below {cfg.conflict_threshold}; "
                           "review the guideline for this label set."))
    for ann, sets in gold.items():
        for ls, s in sets.items():
            if s.get("verdict") == "fail":
                est = s["score"]["estimate"]
                ranked.append((float((work or {}).get((ann, ls), s["n_items"])),
                               f"{ann} fails gold on {ls}: {s['metric']} {est:.2f} (n={s['n_items']})."))
    for ann, cats in by_annotator.items():
        if cats:
            top, n = max(cats.items(), key=lambda kv: kv[1])
            ranked.append((float(n), f"{ann}: most frequent error is {top.replace('_', ' ')} ({n})."))
    if conflicts:
        ranked.append((float(len(conflicts)), f"{len(conflicts)} items wait for adjudication in the conflict queue."))
    ranked.extend(extra)
    order = sorted(range(len(ranked)), key=lambda k: (-ranked[k][0], k))
    return [ranked[k][1] for k in order]


# --------------------------------------------------------------------------- bias


def _bias(ds: Dataset | DatasetOutline, cfg: ReportConfig, gold: Mapping[str, gold_mod.GoldOutcome], *,
          runner: Runner | None = None, order: ItemOrder | None = None) -> dict[str, Any]:
    """Label distribution, agreement and gold error rate per metadata group, BH-corrected
    (:class:`~accord.core.report.bias.BiasSection` over the runner's partitions, by default
    the dataset as one)."""
    section = BiasSection(ds.label_sets)
    ctx = Context(config=cfg, seed=0, schema=ds.schema, results={f"gold:{n}": o for n, o in gold.items()},
                  order=order or _order_of(ds))
    result: dict[str, Any] = (runner or Runner((ds,))).run([section], ctx)[section.name]
    return result


# --------------------------------------------------------------------------- label errors


def _label_errors(class_labels: Mapping[str, Mapping[str, str]],
                  pred_probs: Mapping[str, Mapping[str, Mapping[str, float]]] | None, *,
                  runner: Runner, ctx: Context) -> dict[str, Any]:
    """Confident learning over each class label set's consensus labels (Northcutt et al., JAIR 2021),
    folded over the runner's partitions (:class:`~accord.core.report.label_errors.LabelErrorsSection`)."""
    from ..report.label_errors import LabelErrorInputs, LabelErrorsSection

    section = LabelErrorsSection()
    inputs = LabelErrorInputs(class_labels=class_labels, pred_probs=pred_probs)
    out: dict[str, Any] = runner.run([section], replace(ctx, options={section.name: inputs}))[section.name]
    return out
