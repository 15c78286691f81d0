"""Text span matching (NER): character IoU, exact/overlap matching, span F1, BIO tags.

Spans are :class:`~accord.core.model.Span` values, character offsets
``[start, end)``. Two matching modes:

* ``exact``: a pair matches only when both offsets are equal (CoNLL-2003
  entity-level evaluation);
* ``overlap``: a pair may match when the spans share at least one character
  (or reach ``iou_threshold``); the one-to-one assignment maximises total IoU
  (partial-match evaluation as in SemEval-2013 task 9.1).

Corpus scores are micro-averaged from summed counts (``tp``, reference and
candidate totals), never from averaged ratios, and are kept per label too.

:func:`bio_to_spans` and :func:`bio_span_scores` read token tag sequences
(IOB2/BIO, and IOBES in the default mode) and reproduce seqeval 1.2's chunk
extraction in both its default (conlleval-compatible) mode and its strict IOB2
mode, so that :func:`bio_span_scores` equals ``seqeval.metrics.f1_score`` and
``classification_report``.

References:
    Tjong Kim Sang & De Meulder (2003), "Introduction to the CoNLL-2003 shared
    task: language-independent named entity recognition".
    Segura-Bedmar et al. (2013), "SemEval-2013 task 9".
    Nakayama (2018), seqeval, https://github.com/chakki-works/seqeval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from types import MappingProxyType
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from ..errors import InvalidAnnotationError
from ..model import Span
from .base import MatchResult, match_similarity
from .registry import register_similarity

SpanMatchMode: TypeAlias = Literal["exact", "overlap"]
TagMode: TypeAlias = Literal["default", "strict"]
FloatArray = npt.NDArray[np.float64]

__all__ = [
    "SpanCounts",
    "SpanScores",
    "bio_span_scores",
    "bio_to_spans",
    "match_spans",
    "span_iou_matrix",
    "span_scores",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanCounts:
    """Summed span counts.

    Attributes:
        tp: Matched pairs with equal labels (correct spans).
        n_reference: Reference (gold) spans.
        n_candidate: Candidate spans.
    """

    tp: int
    n_reference: int
    n_candidate: int

    def precision_score(self) -> float:
        """tp / n_candidate in [0, 1]; NaN when there is no candidate span."""
        return self.tp / self.n_candidate if self.n_candidate else float("nan")

    def recall_score(self) -> float:
        """tp / n_reference in [0, 1]; NaN when there is no reference span."""
        return self.tp / self.n_reference if self.n_reference else float("nan")

    def f1_score(self) -> float:
        """2 tp / (n_reference + n_candidate) in [0, 1]; NaN when both are empty.

        Equals the harmonic mean of precision and recall when both are defined,
        and 0.0 when only one side has spans (seqeval gives 0.0 there too).
        """
        denom = self.n_reference + self.n_candidate
        return 2 * self.tp / denom if denom else float("nan")


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanScores:
    """Micro-averaged and per-label span counts over a corpus.

    Attributes:
        micro: Counts summed over every label.
        per_label: Counts per label, for every label seen on either side
            (a matched pair with different labels counts as a miss of the
            reference label and a false alarm of the candidate label).
    """

    micro: SpanCounts
    per_label: Mapping[str, SpanCounts]

    def precision_score(self) -> float:
        """Micro precision (NaN without candidate spans)."""
        return self.micro.precision_score()

    def recall_score(self) -> float:
        """Micro recall (NaN without reference spans)."""
        return self.micro.recall_score()

    def f1_score(self) -> float:
        """Micro F1 (NaN when neither side has spans)."""
        return self.micro.f1_score()

    def macro_f1_score(self) -> float:
        """Unweighted mean of per-label F1; NaN when there are no labels."""
        if not self.per_label:
            return float("nan")
        return float(np.mean([c.f1_score() for c in self.per_label.values()]))

    def weighted_f1_score(self) -> float:
        """Per-label F1 weighted by reference support; NaN without reference spans."""
        support = sum(c.n_reference for c in self.per_label.values())
        if support == 0:
            return float("nan")
        return sum(c.f1_score() * c.n_reference for c in self.per_label.values()) / support


# --------------------------------------------------------------------------- similarity, matching


def _bounds(spans: Sequence[Span], name: str) -> tuple[FloatArray, FloatArray]:
    for s in spans:
        if not isinstance(s, Span):
            raise InvalidAnnotationError(
                f"{name} must hold Span values, got {s!r}; convert records with record.value"
            )
    starts = np.fromiter((s.start for s in spans), dtype=np.float64, count=len(spans))
    ends = np.fromiter((s.end for s in spans), dtype=np.float64, count=len(spans))
    return starts, ends


def span_iou_matrix(reference: Sequence[Span], candidate: Sequence[Span]) -> FloatArray:
    """Character IoU between every reference and candidate span, as (n, m).

    IoU = shared characters / characters covered by either span, in [0, 1];
    symmetric; 1.0 for equal non-empty spans. An empty span (``start == end``)
    has IoU 0 with everything. Labels are ignored.

    >>> span_iou_matrix([Span(label="A", start=0, end=4)], [Span(label="A", start=2, end=6)])
    array([[0.33333333]])
    """
    rs, re_ = _bounds(reference, "reference")
    cs, ce = _bounds(candidate, "candidate")
    inter = np.clip(np.minimum(re_[:, None], ce[None, :]) - np.maximum(rs[:, None], cs[None, :]),
                    0.0, None)
    union = (re_ - rs)[:, None] + (ce - cs)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return out


def match_spans(reference: Sequence[Span], candidate: Sequence[Span], *,
                mode: SpanMatchMode = "exact", iou_threshold: float | None = None,
                label_aware: bool = True) -> MatchResult:
    """One-to-one matching of reference spans to candidate spans.

    Args:
        reference: Gold spans of one document.
        candidate: Spans under review for the same document.
        mode: ``exact`` (equal offsets) or ``overlap`` (IoU above a threshold,
            maximum total IoU assignment).
        iou_threshold: For ``overlap``: minimum IoU; ``None`` accepts any shared
            character. Must be ``None`` for ``exact``.
        label_aware: If true, only equal labels may match; otherwise pairs may
            match across labels and are listed in ``label_mismatches``.

    Returns:
        A :class:`~accord.core.matching.base.MatchResult` (similarity is IoU).

    Raises:
        InvalidAnnotationError: Unknown mode, a threshold outside (0, 1], or a
            threshold given with ``exact``.
    """
    if mode not in ("exact", "overlap"):
        raise InvalidAnnotationError(f"mode must be 'exact' or 'overlap', got {mode!r}")
    iou = span_iou_matrix(reference, candidate)
    if mode == "exact":
        if iou_threshold is not None:
            raise InvalidAnnotationError(
                f"iou_threshold={iou_threshold!r} has no meaning with mode='exact'; drop it or "
                f"use mode='overlap'"
            )
        same = (np.array([(s.start, s.end) for s in reference], dtype=np.int64).reshape(-1, 2)[:, None, :]
                == np.array([(s.start, s.end) for s in candidate],
                            dtype=np.int64).reshape(-1, 2)[None, :, :]).all(axis=2)
        sim = np.where(same, 1.0, 0.0)
        threshold = 1.0
    else:
        if iou_threshold is not None and not 0.0 < iou_threshold <= 1.0:
            raise InvalidAnnotationError(
                f"iou_threshold must be in (0, 1], got {iou_threshold!r}; use None for any overlap"
            )
        sim = iou
        threshold = iou_threshold if iou_threshold is not None else float(np.nextafter(0.0, 1.0))
    res = match_similarity(sim, threshold=threshold,
                           reference_labels=[s.label for s in reference],
                           candidate_labels=[s.label for s in candidate],
                           label_aware=label_aware)
    if mode == "exact":
        # Report IoU (1.0, or 0.0 for two empty spans at the same offset) as the similarity.
        res = MatchResult(pairs=res.pairs, similarity=tuple(float(iou[i, j]) for i, j in res.pairs),
                          unmatched_reference=res.unmatched_reference,
                          unmatched_candidate=res.unmatched_candidate,
                          label_mismatches=res.label_mismatches)
    return res


def _add(table: dict[str, list[int]], label: str, k: int) -> None:
    row = table.get(label)
    if row is None:
        row = table[label] = [0, 0, 0]
    row[k] += 1


def _scores(table: dict[str, list[int]]) -> SpanScores:
    per = {lb: SpanCounts(tp=v[0], n_reference=v[1], n_candidate=v[2])
           for lb, v in sorted(table.items())}
    micro = SpanCounts(tp=sum(c.tp for c in per.values()),
                       n_reference=sum(c.n_reference for c in per.values()),
                       n_candidate=sum(c.n_candidate for c in per.values()))
    return SpanScores(micro=micro, per_label=MappingProxyType(per))


def span_scores(documents: Sequence[tuple[Sequence[Span], Sequence[Span]]], *,
                mode: SpanMatchMode = "exact", iou_threshold: float | None = None,
                label_aware: bool = True) -> SpanScores:
    """Span precision/recall/F1 over a corpus, micro and per label, from summed counts.

    Args:
        documents: ``(reference_spans, candidate_spans)`` per document.
        mode / iou_threshold / label_aware: As in :func:`match_spans`.

    Returns:
        A :class:`SpanScores`. A correct span is a matched pair with equal labels.

    >>> ref = [Span(label="PER", start=0, end=5), Span(label="LOC", start=10, end=16)]
    >>> cand = [Span(label="PER", start=0, end=5), Span(label="ORG", start=10, end=16)]
    >>> s = span_scores([(ref, cand)])
    >>> (s.micro.tp, s.micro.n_reference, s.micro.n_candidate, s.f1_score())
    (1, 2, 2, 0.5)
    """
    table: dict[str, list[int]] = {}
    for pair in documents:
        if len(pair) != 2:
            raise InvalidAnnotationError(
                f"each document must be a (reference_spans, candidate_spans) pair, got {pair!r}"
            )
        ref, cand = pair
        res = match_spans(ref, cand, mode=mode, iou_threshold=iou_threshold,
                          label_aware=label_aware)
        mism = set(res.label_mismatches)
        for k, (i, _j) in enumerate(res.pairs):
            if k not in mism:
                _add(table, ref[i].label, 0)
        for s in ref:
            _add(table, s.label, 1)
        for s in cand:
            _add(table, s.label, 2)
    return _scores(table)


# --------------------------------------------------------------------------- BIO tags


def _default_chunks(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """seqeval 1.2 ``get_entities`` (prefix tags), end exclusive."""
    prev_tag, prev_type, begin = "O", "", 0
    out: list[tuple[str, int, int]] = []
    n = len(tags)
    for i in range(n + 1):
        chunk = tags[i] if i < n else "O"
        tag = chunk[0] if chunk else ""
        type_ = chunk[1:].split("-", maxsplit=1)[-1] or "_"
        # end_of_chunk(prev_tag, tag, prev_type, type_)
        if (prev_tag in ("E", "S")
                or (prev_tag in ("B", "I") and tag in ("B", "S", "O"))
                or (prev_tag not in ("O", ".") and prev_type != type_)):
            out.append((prev_type, begin, i))
        # start_of_chunk(prev_tag, tag, prev_type, type_)
        if (tag in ("B", "S")
                or (prev_tag in ("E", "S", "O") and tag in ("E", "I"))
                or (tag not in ("O", ".") and prev_type != type_)):
            begin = i
        prev_tag, prev_type = tag, type_
    return out


def _strict_iob2_chunks(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """seqeval 1.2 strict IOB2 entities: ``B-X`` followed by any ``I-X``; end exclusive."""
    out: list[tuple[str, int, int]] = []
    n = len(tags)
    i = 0
    for t in tags:
        if not t or t[0] not in "IOB":
            raise InvalidAnnotationError(
                f"strict IOB2 tags must start with 'B', 'I' or 'O', got {t!r}; use "
                f"mode='default' for IOBES or other schemes"
            )
    while i < n:
        t = tags[i]
        if t[0] == "B":
            type_ = t[1:].strip("-") or "_"
            j = i + 1
            while j < n and tags[j][0] == "I" and (tags[j][1:].strip("-") or "_") == type_:
                j += 1
            out.append((type_, i, j))
            i = j
        else:
            i += 1
    return out


def bio_to_spans(tags: Sequence[str], *, mode: TagMode = "default") -> list[Span]:
    """Spans over token indices ``[start, end)`` from one sentence's tags.

    Args:
        tags: One tag per token: ``O``, ``B-X``, ``I-X`` (and ``E-X``, ``S-X`` in
            the default mode).
        mode: ``default`` follows seqeval's conlleval-compatible rules (an ``I-X``
            after ``O`` starts an entity); ``strict`` follows seqeval's strict
            IOB2 mode (only ``B-X`` starts an entity).

    Returns:
        One :class:`~accord.core.model.Span` per entity, labelled with its type
        (``_`` when the tag carries none), in order. The sentence is read on its
        own (seqeval's ``get_entities`` on one list); :func:`bio_span_scores`
        reads a corpus as seqeval does, which differs only for tags outside
        B/I/E/S/O at the start of a sentence.

    >>> [(s.label, s.start, s.end) for s in bio_to_spans(["B-PER", "I-PER", "O", "I-LOC"])]
    [('PER', 0, 2), ('LOC', 3, 4)]
    >>> [(s.label, s.start, s.end) for s in bio_to_spans(["O", "I-LOC"], mode="strict")]
    []
    """
    if mode == "default":
        chunks = _default_chunks(tags)
    elif mode == "strict":
        chunks = _strict_iob2_chunks(tags)
    else:
        raise InvalidAnnotationError(f"mode must be 'default' or 'strict', got {mode!r}")
    return [Span(label=t, start=s, end=e) for t, s, e in chunks]


def _parse_tags(vocab: list[str], mode: TagMode) -> tuple[npt.NDArray[np.int64], list[str]]:
    """Prefix code and type of each distinct tag; types as ids into the returned list."""
    types: dict[str, int] = {"": 0}
    prefix = np.empty(len(vocab), dtype=np.int64)
    type_id = np.empty(len(vocab), dtype=np.int64)
    for k, tag in enumerate(vocab):
        head = tag[:1]
        if mode == "strict":
            if head not in ("I", "O", "B"):
                raise InvalidAnnotationError(
                    f"strict IOB2 tags must start with 'B', 'I' or 'O', got {tag!r}; use "
                    f"mode='default' for IOBES or other schemes"
                )
            t = tag[1:].strip("-") or "_"
        else:
            t = tag[1:].split("-", maxsplit=1)[-1] or "_"
        prefix[k] = _PREFIX_CODES.get(head, len(_PREFIX_CODES))
        type_id[k] = types.setdefault(t, len(types))
    return np.stack([prefix, type_id]), list(types)


_PREFIX_CODES = {"O": 0, "B": 1, "I": 2, "E": 3, "S": 4, ".": 5}


def _chunk_keys(prefix: npt.NDArray[np.int64], typ: npt.NDArray[np.int64], mode: TagMode,
                underscore: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(type, begin, end) arrays of every chunk of a flattened, 'O'-separated corpus."""
    n = prefix.size
    o_, b_, i_, e_, s_, dot = 0, 1, 2, 3, 4, 5
    if mode == "strict":
        prev_p = np.concatenate([[o_], prefix[:-1]])
        prev_t = np.concatenate([[0], typ[:-1]])
        link = (prefix == i_) & (typ == prev_t) & ((prev_p == b_) | (prev_p == i_))
        idx = np.arange(n)
        root = np.maximum.accumulate(np.where(link, -1, idx))
        begins = np.flatnonzero(prefix == b_)
        length = np.bincount(root, minlength=n)[begins]
        return typ[begins], begins, begins + length
    # seqeval get_entities over the corpus plus a final 'O'; the first 'previous' tag is 'O' of type ''.
    p = np.concatenate([prefix, [o_]])
    t = np.concatenate([typ, [underscore]])  # seqeval's final 'O' (type '_')
    prev_p = np.concatenate([[o_], p[:-1]])
    prev_t = np.concatenate([[0], t[:-1]])
    not_o = (prev_p != o_) & (prev_p != dot)
    end = (np.isin(prev_p, (e_, s_)) | (np.isin(prev_p, (b_, i_)) & np.isin(p, (b_, s_, o_)))
           | (not_o & (prev_t != t)))
    start = (np.isin(p, (b_, s_)) | (np.isin(prev_p, (e_, s_, o_)) & np.isin(p, (e_, i_)))
             | ((p != o_) & (p != dot) & (prev_t != t)))
    idx = np.arange(p.size)
    last_start = np.maximum.accumulate(np.where(start, idx, -1))
    ends = np.flatnonzero(end)
    begins = np.where(ends > 0, last_start[np.maximum(ends - 1, 0)], 0)
    begins = np.maximum(begins, 0)
    return prev_t[ends], begins, ends


def bio_span_scores(reference_tags: Sequence[Sequence[str]],
                    candidate_tags: Sequence[Sequence[str]], *,
                    mode: TagMode = "default") -> SpanScores:
    """Entity-level scores of tag sequences, equal to seqeval's.

    Entities are exact (type, start, end) chunks; ``f1_score()`` equals
    ``seqeval.metrics.f1_score`` (micro) and ``per_label`` / ``macro_f1_score()``
    / ``weighted_f1_score()`` the rows of ``classification_report``, wherever
    those are defined (seqeval reports 0.0 where this module returns NaN).
    Like seqeval, the sentences are read as one sequence with an ``O`` between
    sentences; the chunk rules then run on whole arrays at once.

    Args:
        reference_tags: Gold tags, one list per sentence.
        candidate_tags: Candidate tags, same sentences and lengths.
        mode: ``default`` or ``strict`` (seqeval's ``mode="strict",
            scheme=IOB2``); see :func:`bio_to_spans`.

    Raises:
        InvalidAnnotationError: Different numbers of sentences, different
            lengths, or (strict) a tag outside IOB2.

    >>> bio_span_scores([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]]).f1_score()
    0.0
    """
    if mode not in ("default", "strict"):
        raise InvalidAnnotationError(f"mode must be 'default' or 'strict', got {mode!r}")
    if len(reference_tags) != len(candidate_tags):
        raise InvalidAnnotationError(
            f"got {len(reference_tags)} reference and {len(candidate_tags)} candidate sentences; "
            f"pass the same sentences on both sides"
        )
    for k, (rt, ct) in enumerate(zip(reference_tags, candidate_tags, strict=True)):
        if len(rt) != len(ct):
            raise InvalidAnnotationError(
                f"sentence {k} has {len(rt)} reference tags but {len(ct)} candidate tags; "
                f"tag the same tokens on both sides"
            )
    if not reference_tags:
        return _scores({})
    sep = ["O"]
    ref_flat = [t for sent in reference_tags for t in chain(sent, sep)]
    cand_flat = [t for sent in candidate_tags for t in chain(sent, sep)]
    vocab = {t: k for k, t in enumerate(dict.fromkeys(chain(ref_flat, cand_flat)))}
    table, names = _parse_tags(list(vocab), mode)
    get = vocab.__getitem__
    span = len(ref_flat) + 2
    keys = []
    for flat in (ref_flat, cand_flat):
        codes = np.fromiter(map(get, flat), dtype=np.int64, count=len(flat))
        typ, beg, end = _chunk_keys(table[0][codes], table[1][codes], mode, names.index("_"))
        keys.append(((typ + 1) * span + beg) * span + end)
    common = np.intersect1d(keys[0], keys[1], assume_unique=True)
    n_types = len(names) + 1
    counts = [np.bincount(k // (span * span) - 1, minlength=n_types)
              for k in (common, keys[0], keys[1])]
    label = dict(enumerate(names))
    per: dict[str, list[int]] = {}
    for t in np.flatnonzero(counts[1] + counts[2]).tolist():
        row = per.setdefault(label[t], [0, 0, 0])
        for c in range(3):
            row[c] += int(counts[c][t])
    return _scores(per)


register_similarity(Span.kind, span_iou_matrix)
