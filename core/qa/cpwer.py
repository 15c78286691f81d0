"""Concatenated minimum-permutation word error rate (cpWER) of speaker-attributed transcripts.

cpWER, as CHiME-6 defines it (Watanabe et al. 2020, section 4.1): concatenate each
speaker's utterances of a recording (in time order) into one transcript per speaker,
score every mapping of candidate speakers onto reference speakers, and keep the one
with the fewest word errors; cpWER is those errors over the reference words. Speakers
that the mapping leaves without a partner are scored against an empty transcript: a
reference speaker's words all count as deletions, a candidate speaker's as insertions.

The best mapping is an assignment problem: the ``(reference speaker x candidate
speaker)`` word-error matrix, padded to a square with each speaker's word count against
"nobody", solved by the Hungarian method (:func:`scipy.optimize.linear_sum_assignment`),
which gives the same minimum as CHiME-6's search over all permutations. Word errors
are :mod:`accord.core.matching.transcripts`'s (jiwer's normalisation and counts).

Reference:
    Watanabe, S., Mandel, M., Barker, J., Vincent, E., et al. (2020). CHiME-6 Challenge:
    Tackling multispeaker speech recognition for unsegmented recordings. Proc. CHiME 2020
    workshop, arXiv:2004.09249.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..errors import InvalidAnnotationError
from ..matching.transcripts import _align_all, _encode
from ..model import Dataset, Record, Segment

__all__ = ["SpeakerWordErrors", "annotators_cpwer", "cp_word_errors", "speaker_transcripts"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeakerWordErrors:
    """cpWER components of one recording (or a sum of recordings).

    Attributes:
        errors: Word errors under the best speaker mapping (substitutions + deletions + insertions).
        n_reference: Reference words.
        mapping: ``(reference_speaker, candidate_speaker)`` pairs of the best mapping; a side
            is ``None`` where a speaker has no partner (empty for sums).
        n_recordings: Recordings summed.
    """

    errors: int
    n_reference: int
    mapping: tuple[tuple[str | None, str | None], ...] = ()
    n_recordings: int = 1

    @property
    def error_rate(self) -> float:
        """``errors / n_reference`` (>= 0, may exceed 1); ``nan`` without reference words."""
        return self.errors / self.n_reference if self.n_reference else float("nan")

    def __add__(self, other: SpeakerWordErrors) -> SpeakerWordErrors:
        return SpeakerWordErrors(errors=self.errors + other.errors, n_reference=self.n_reference + other.n_reference,
                                 n_recordings=self.n_recordings + other.n_recordings)


def speaker_transcripts(segments: Iterable[Segment]) -> dict[str, str]:
    """Each speaker's text, its segments joined in time order (start, then end); segments
    without a speaker or without text are left out."""
    by: dict[str, list[tuple[float, float, str]]] = {}
    for seg in segments:
        if seg.speaker and seg.text:
            by.setdefault(seg.speaker, []).append((seg.start, seg.end, seg.text))
    return {spk: " ".join(t for _, _, t in sorted(parts, key=lambda p: (p[0], p[1])))
            for spk, parts in sorted(by.items())}


def cp_word_errors(reference: Mapping[str, str], candidate: Mapping[str, str]) -> SpeakerWordErrors:
    """cpWER components of one recording: per-speaker transcripts, reference vs candidate.

    Args:
        reference: ``{speaker: transcript}`` of the reference (gold) side.
        candidate: ``{speaker: transcript}`` of the side under review; its speaker names
            need not match the reference's (the best mapping is searched).

    Returns:
        :class:`SpeakerWordErrors` with the minimum total word errors and its mapping.

    Raises:
        InvalidAnnotationError: a transcript that is not a string.

    Example (2 speakers; the candidate swapped the names and made one substitution):
        >>> e = cp_word_errors({"A": "hello there", "B": "good morning"},
        ...                    {"s1": "good evening", "s2": "hello there"})
        >>> e.errors, e.n_reference, e.mapping
        (1, 4, (('A', 's2'), ('B', 's1')))
    """
    for side, texts in (("reference", reference), ("candidate", candidate)):
        for spk, t in texts.items():
            if not isinstance(t, str):
                raise InvalidAnnotationError(f"{side} transcript of speaker {spk!r} must be a string, got "
                                             f"{type(t).__name__}")
    refs, cands = sorted(reference), sorted(candidate)
    r, c = len(refs), len(cands)
    # Word errors of every (reference, candidate) pair, and each side against an empty text, in one batch.
    ref_texts = [reference[a] for a in refs for _ in cands] + [reference[a] for a in refs] + ["" for _ in cands]
    cand_texts = [candidate[b] for _ in refs for b in cands] + ["" for _ in refs] + [candidate[b] for b in cands]
    _rt, _ct, rf, cf, n, m = _encode(ref_texts, cand_texts, "word")
    counts, _ = _align_all(rf, cf, n, m, record=False)
    errs = counts[:, 1:].sum(axis=1)
    pair = errs[:r * c].reshape(r, c)
    alone_ref = errs[r * c:r * c + r]  # every reference word deleted
    alone_cand = errs[r * c + r:]  # every candidate word inserted
    n_ref = int(n[r * c:r * c + r].sum())
    size = r + c
    # Square (r + c) matrix: real pairs top-left, "nobody" columns/rows padded; a dummy-dummy
    # pair costs 0, so any number of speakers may stay unmatched on either side.
    cost = np.zeros((size, size), dtype=np.int64)
    big = int(errs.sum()) + 1
    cost[:r, :c] = pair
    cost[:r, c:] = big
    cost[np.arange(r), c + np.arange(r)] = alone_ref
    cost[r:, :c] = big
    cost[r + np.arange(c), np.arange(c)] = alone_cand
    rows, cols = linear_sum_assignment(cost)
    total = int(cost[rows, cols].sum())
    mapping: list[tuple[str | None, str | None]] = []
    for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
        if i < r and j < c:
            mapping.append((refs[i], cands[j]))
        elif i < r:
            mapping.append((refs[i], None))
        elif j < c:
            mapping.append((None, cands[j]))
    mapping.sort(key=lambda p: (p[0] is None, p[0] or "", p[1] or ""))
    return SpeakerWordErrors(errors=total, n_reference=n_ref, mapping=tuple(mapping))


def _by_item(records: Iterable[Record]) -> dict[str, str]:
    return speaker_transcripts(r.value for r in records if isinstance(r.value, Segment))


def annotators_cpwer(dataset: Dataset, label_set: str) -> dict[str, Any] | None:
    """cpWER of each annotator against gold, or of each annotator pair without gold.

    Only segments carrying both a speaker and text count. Against gold: on every gold item
    with speaker transcripts that the annotator submitted, the annotator's errors summed
    over the gold words (an annotator's item with no speaker text counts every gold word
    deleted). Without gold: for each pair, on the items both transcribed, the errors of
    each side scored against the other, summed over both sides' words (symmetric, as the
    report's pairwise WER). None where no segment has a speaker and text.

    Returns:
        ``{"method", "against": "gold" | "each other", "rows": [...]}``; rows of
        ``annotator_id`` (or ``annotator_a`` / ``annotator_b``), ``n_items``, ``errors``,
        ``n_reference_words`` and ``cpwer`` (``None`` without words), worst first.
    """
    from .gold import reference_by_item

    human = dataset.grouped(label_set, source="human")
    texts = {item: {a: _by_item(rs) for a, rs in per.items()} for item, per in human.items()}
    gold = {item: t for item, recs in reference_by_item(dataset, label_set).items() if (t := _by_item(recs))}
    if not gold and not any(t for per in texts.values() for t in per.values()):
        return None
    method = ("cpWER (CHiME-6, Watanabe et al. 2020): each speaker's segments concatenated in time order, "
              "speakers mapped one-to-one to minimise word errors (Hungarian method), unmatched speakers' "
              "words all errors; errors over reference words")
    rows: list[dict[str, Any]] = []
    if gold:
        for ann in dataset.annotators():
            items = [i for i in sorted(gold) if ann in texts.get(i, {})]
            if not items:
                continue
            tot = SpeakerWordErrors(errors=0, n_reference=0, n_recordings=0)
            for i in items:
                tot = tot + cp_word_errors(gold[i], texts[i][ann])
            rows.append({"annotator_id": ann, "n_items": len(items), "errors": tot.errors,
                         "n_reference_words": tot.n_reference, "cpwer": _rate(tot)})
        against = "gold"
    else:
        anns = dataset.annotators()
        for a_ix, a in enumerate(anns):
            for b in anns[a_ix + 1:]:
                items = [i for i in sorted(texts) if texts[i].get(a) and texts[i].get(b)]
                if not items:
                    continue
                tot = SpeakerWordErrors(errors=0, n_reference=0, n_recordings=0)
                for i in items:
                    tot = tot + cp_word_errors(texts[i][a], texts[i][b]) + cp_word_errors(texts[i][b], texts[i][a])
                rows.append({"annotator_a": a, "annotator_b": b, "n_items": len(items), "errors": tot.errors,
                             "n_reference_words": tot.n_reference, "cpwer": _rate(tot)})
        against = "each other"
    rows.sort(key=lambda x: (-(x["cpwer"] if x["cpwer"] is not None else -1.0),
                             x.get("annotator_id") or x.get("annotator_a", "")))
    return {"method": method, "against": against, "rows": rows}


def _rate(e: SpeakerWordErrors) -> float | None:
    return round(e.error_rate, 6) if e.n_reference else None
