"""Transcript error rates (WER, CER, MER, WIL, WIP), compatible with jiwer 4.

A reference transcript (gold) is compared with a candidate transcript by the
Levenshtein alignment of their tokens (words or characters). Corpus totals are
computed from the summed hits, substitutions, deletions and insertions, never by
averaging per-sentence ratios (as jiwer and NIST sclite do).

Normalisation mirrors jiwer 4's defaults exactly:

* words (``wer_default``): runs of two or more whitespace characters become one
  space (``re.sub(r"\\s\\s+", " ", s)``), the text is stripped, then split on
  ``" "`` dropping empty pieces;
* characters (``cer_default``): the text is stripped, then every character
  (spaces included) is a token.

The substitution/deletion/insertion split of an alignment is not unique (two
substitutions cost the same as one deletion, one hit and one insertion); this
module reproduces rapidfuzz's choice (the one jiwer reports): the common prefix
and suffix are matched first, then the Hyyrö (2004) backtrace order prefers a
deletion, then an insertion, then the diagonal. Hence MER, WIL and WIP agree
with jiwer, not only WER.

The distance is computed for many pairs at once: tokens are encoded as
integers, common prefixes and suffixes are found on the flat token arrays,
pairs are bucketed by length, and each bucket runs the dynamic programme row by
row with the pairs on the contiguous axis, resolving the in-row dependency with
a cumulative minimum; the backtrace then walks all pairs of the bucket in step.
Memory is the full ``(n + 1) x (m + 1)`` matrix of each pair in a bucket (int16,
buckets capped near 16 million cells); a single pair of two 10,000-token texts
needs 200 MB.

References:
    Morris, Maier & Green (2004), "From WER and RIL to MER and WIL: improved
    evaluation measures for connected speech recognition", Interspeech.
    Hyyrö (2004), "A Note on Bit-Parallel Alignment Computation", Stringology.
    jiwer 4 (https://github.com/jitsi/jiwer), ``jiwer.process_words``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from ..errors import InvalidAnnotationError

TokenUnit: TypeAlias = Literal["word", "char"]
OpKind: TypeAlias = Literal["equal", "substitute", "delete", "insert"]
IntArray = npt.NDArray[np.int64]

__all__ = [
    "AlignmentOp",
    "TranscriptErrors",
    "align_transcripts",
    "character_error_rate",
    "match_error_rate",
    "tokenize",
    "transcript_errors",
    "word_error_rate",
    "word_information_lost_rate",
    "word_information_preserved_score",
]

_MULTISPACE = re.compile(r"\s\s+")
# Cells (pairs x rows x columns) of one bucket's dynamic-programming matrix.
_CELLS_PER_BUCKET = 16_000_000

_EQUAL, _SUB, _DEL, _INS = 0, 1, 2, 3
_OP_NAMES: tuple[OpKind, ...] = ("equal", "substitute", "delete", "insert")


@dataclass(frozen=True, slots=True, kw_only=True)
class AlignmentOp:
    """One step of an alignment from reference tokens to candidate tokens.

    Attributes:
        kind: ``equal`` (hit), ``substitute``, ``delete`` (reference token missing
            from the candidate) or ``insert`` (extra candidate token).
        reference_index: Index of the reference token (``None`` for an insertion).
        candidate_index: Index of the candidate token (``None`` for a deletion).
        reference_token: The reference token, or ``None``.
        candidate_token: The candidate token, or ``None``.
    """

    kind: OpKind
    reference_index: int | None
    candidate_index: int | None
    reference_token: str | None
    candidate_token: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptErrors:
    """Summed alignment counts of one or many transcript pairs, and the rates.

    Attributes:
        unit: ``word`` or ``char``: what a token is.
        hits: Tokens aligned to an equal token.
        substitutions: Tokens aligned to a different token.
        deletions: Reference tokens with no candidate counterpart.
        insertions: Candidate tokens with no reference counterpart.
        n_pairs: How many transcript pairs were summed.
    """

    unit: TokenUnit
    hits: int
    substitutions: int
    deletions: int
    insertions: int
    n_pairs: int

    @property
    def n_reference(self) -> int:
        """Reference tokens: hits + substitutions + deletions."""
        return self.hits + self.substitutions + self.deletions

    @property
    def n_candidate(self) -> int:
        """Candidate tokens: hits + substitutions + insertions."""
        return self.hits + self.substitutions + self.insertions

    @property
    def error_rate(self) -> float:
        """WER (or CER for characters): (S + D + I) / N_reference, in [0, inf).

        With no reference tokens it is the number of insertions (jiwer 4's
        convention: 0.0 when both sides are empty).
        """
        errors = self.substitutions + self.deletions + self.insertions
        if self.n_reference == 0:
            return float(self.insertions)
        return errors / self.n_reference

    @property
    def match_error_rate(self) -> float:
        """MER: (S + D + I) / (H + S + D + I), in [0, 1]; jiwer's 0/1 when the reference is empty."""
        if self.n_reference == 0:
            return 0.0 if self.n_candidate == 0 else 1.0
        return (self.substitutions + self.deletions + self.insertions) / (
            self.hits + self.substitutions + self.deletions + self.insertions
        )

    @property
    def word_information_preserved_score(self) -> float:
        """WIP: (H / N_reference) * (H / N_candidate), in [0, 1].

        1.0 when both sides are empty, 0.0 when only one is (jiwer 4).
        """
        if self.n_reference == 0:
            return 1.0 if self.n_candidate == 0 else 0.0
        if self.n_candidate == 0:
            return 0.0
        return (self.hits / self.n_reference) * (self.hits / self.n_candidate)

    @property
    def word_information_lost_rate(self) -> float:
        """WIL: 1 - WIP, in [0, 1]."""
        return 1.0 - self.word_information_preserved_score

    def __add__(self, other: TranscriptErrors) -> TranscriptErrors:
        """Sum the counts of two results of the same unit (corpus totals)."""
        if not isinstance(other, TranscriptErrors):
            return NotImplemented
        if other.unit != self.unit:
            raise InvalidAnnotationError(
                f"cannot add {self.unit!r} counts to {other.unit!r} counts; compute both "
                f"with the same unit"
            )
        return TranscriptErrors(
            unit=self.unit, hits=self.hits + other.hits,
            substitutions=self.substitutions + other.substitutions,
            deletions=self.deletions + other.deletions,
            insertions=self.insertions + other.insertions,
            n_pairs=self.n_pairs + other.n_pairs,
        )


# --------------------------------------------------------------------------- tokens


def tokenize(text: str, *, unit: TokenUnit = "word") -> list[str]:
    """Split a transcript into tokens with jiwer 4's default normalisation.

    Args:
        text: The transcript.
        unit: ``word`` (``wer_default``) or ``char`` (``cer_default``).

    Returns:
        The tokens.

    >>> tokenize("  hello   big world ")
    ['hello', 'big', 'world']
    >>> tokenize(" a b ", unit="char")
    ['a', ' ', 'b']
    """
    if not isinstance(text, str):
        raise InvalidAnnotationError(f"a transcript must be a string, got {text!r}")
    if unit == "word":
        return [w for w in _MULTISPACE.sub(" ", text).strip().split(" ") if w]
    if unit == "char":
        return list(text.strip())
    raise InvalidAnnotationError(f"unit must be 'word' or 'char', got {unit!r}")


def _as_list(texts: str | Sequence[str], name: str) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    out = list(texts)
    for t in out:
        if not isinstance(t, str):
            raise InvalidAnnotationError(
                f"{name} transcripts must be strings, got {t!r}; pass str or a sequence of str"
            )
    return out


def _normalized(texts: list[str], unit: TokenUnit) -> list[str]:
    if unit == "char":
        return [t.strip() for t in texts]
    # One regex pass over the whole corpus: "\x00" is not whitespace, so no run of
    # whitespace crosses from one text into the next.
    if texts and not any("\x00" in t for t in texts):
        return [t.strip() for t in _MULTISPACE.sub(" ", "\x00".join(texts)).split("\x00")]
    return [_MULTISPACE.sub(" ", t).strip() for t in texts]


def _encode(reference: list[str], candidate: list[str], unit: TokenUnit
            ) -> tuple[list[str], list[str], IntArray, IntArray, IntArray, IntArray]:
    """Flat integer codes and lengths of both sides' tokens, plus the flat tokens.

    After jiwer's word normalisation a non-empty text has no leading, trailing
    or doubled space, so splitting the space-joined corpus once gives every
    token in order; ``count(" ") + 1`` is a text's number of words.
    """
    ref_norm, cand_norm = _normalized(reference, unit), _normalized(candidate, unit)
    if unit == "char":
        def codes(texts: list[str]) -> tuple[list[str], IntArray, IntArray]:
            joined = "".join(texts)
            flat = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
            lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
            return list(joined), flat, lengths
        rt, rf, n = codes(ref_norm)
        ct, cf, m = codes(cand_norm)
        return rt, ct, rf, cf, n, m

    def words(texts: list[str]) -> tuple[list[str], IntArray]:
        flat = " ".join([t for t in texts if t]).split(" ") if any(texts) else []
        lengths = np.fromiter((t.count(" ") + 1 if t else 0 for t in texts), dtype=np.int64,
                              count=len(texts))
        return flat, lengths

    rt, n = words(ref_norm)
    ct, m = words(cand_norm)
    unique = dict.fromkeys(chain(rt, ct))
    vocab = dict(zip(unique, range(len(unique)), strict=True))
    rf = _lookup(vocab, rt)
    cf = _lookup(vocab, ct)
    return rt, ct, rf, cf, n, m


def _lookup(vocab: dict[str, int], tokens: list[str]) -> IntArray:
    if len(tokens) > 1:
        return np.array(operator.itemgetter(*tokens)(vocab), dtype=np.int64)
    return np.array([vocab[t] for t in tokens], dtype=np.int64)


# --------------------------------------------------------------------------- batched alignment


def _first_mismatch(ref_flat: IntArray, cand_flat: IntArray, r_pos: IntArray, c_pos: IntArray,
                    limit: IntArray, step: int) -> IntArray:
    """Per pair, how many tokens match walking from ``r_pos``/``c_pos`` by ``step`` (at most ``limit``).

    Works on the flat token arrays (memory is the number of tokens compared), not
    on a padded matrix, so one very long transcript does not inflate the others.
    """
    total = int(limit.sum())
    out = limit.copy()
    if total == 0:
        return out
    pair = np.repeat(np.arange(limit.size), limit)
    k = np.arange(total) - np.repeat(np.cumsum(limit) - limit, limit)
    differs = ref_flat[r_pos[pair] + step * k] != cand_flat[c_pos[pair] + step * k]
    where = np.flatnonzero(differs)
    if where.size:
        owner = pair[where]
        first = np.concatenate([[True], owner[1:] != owner[:-1]])
        out[owner[first]] = k[where[first]]
    return out


def _common_affix(ref_flat: IntArray, cand_flat: IntArray, n: IntArray, m: IntArray
                  ) -> tuple[IntArray, IntArray]:
    """Common prefix and suffix lengths of every pair (suffix taken after the prefix)."""
    r_start, c_start = np.cumsum(n) - n, np.cumsum(m) - m
    shortest = np.minimum(n, m)
    prefix = _first_mismatch(ref_flat, cand_flat, r_start, c_start, shortest, 1)
    suffix = _first_mismatch(ref_flat, cand_flat, r_start + n - 1, c_start + m - 1,
                             shortest - prefix, -1)
    return prefix, suffix


def _middle(flat: IntArray, lengths: IntArray, prefix: IntArray, new_len: IntArray,
            rows: IntArray, fill: int) -> IntArray:
    """(len(rows), max new_len) array of ``seq[prefix : prefix + new_len]`` for the rows."""
    starts = np.cumsum(lengths) - lengths
    nl = new_len[rows]
    width = max(int(nl.max()) if nl.size else 0, 1)
    k = np.arange(width)[None, :]
    idx = (starts[rows] + prefix[rows])[:, None] + k
    valid = k < nl[:, None]
    out = np.full((rows.size, width), fill, dtype=np.int64)
    if flat.size:
        out[valid] = flat[idx[valid]]
    return out


def _bucket_counts(r2: IntArray, c2: IntArray, n2: IntArray, m2: IntArray, *, record: bool
                   ) -> tuple[IntArray, IntArray, IntArray, IntArray, list[IntArray]]:
    """Hits, substitutions, deletions, insertions of one bucket (after the affixes)."""
    b, n_max = r2.shape[0], int(n2.max()) if n2.size else 0
    m_max = int(m2.max()) if m2.size else 0
    dtype = np.int16 if max(n_max, m_max) < 2 ** 14 else np.int32
    # Pairs on the last (contiguous) axis: every row operation, the in-row cumulative
    # minimum included, is a vector operation across the pairs.
    dist = np.empty((n_max + 1, m_max + 1, b), dtype=dtype)
    ar = np.arange(m_max + 1, dtype=dtype)[:, None]
    dist[0] = ar
    r2t = np.ascontiguousarray(r2.T)
    c2t = np.ascontiguousarray(c2[:, :m_max].T)
    cost = np.empty((m_max, b), dtype=dtype)
    for i in range(1, n_max + 1):
        prev = dist[i - 1]
        t = dist[i]
        t[0] = i
        if m_max:
            np.not_equal(r2t[i - 1][None, :], c2t, out=cost, casting="unsafe")
            np.add(prev[:-1], cost, out=t[1:])
            np.minimum(t[1:], prev[1:] + 1, out=t[1:])
        t -= ar
        np.minimum.accumulate(t, axis=0, out=t)
        t += ar
    # Backtrace in rapidfuzz's order, all pairs at once; only hits need counting since
    # S = n + m - 2H - d, D = n - S - H, I = m - S - H for edit distance d.
    flat = dist.reshape(-1)
    r_flat, c_flat = r2t.reshape(-1), c2t.reshape(-1)
    s_i, s_j = (m_max + 1) * b, b
    i_pos, j_pos = n2.copy(), m2.copy()
    hits = np.zeros(b, dtype=np.int64)
    steps: list[IntArray] = []
    act = np.flatnonzero((i_pos > 0) & (j_pos > 0))
    while act.size:
        ia, ja = i_pos[act], j_pos[act]
        base = ia * s_i + ja * s_j + act
        is_del = flat[base] - flat[base - s_i] == 1
        is_ins = ~is_del & (flat[base - s_j] - flat[base - s_i - s_j] == -1)
        is_diag = ~is_del & ~is_ins
        is_hit = is_diag & (r_flat[(ia - 1) * b + act] == c_flat[(ja - 1) * b + act])
        hits[act] += is_hit
        i_pos[act] = ia - (is_del | is_diag)
        j_pos[act] = ja - ~is_del
        if record:
            code = np.where(is_del, _DEL, np.where(is_ins, _INS, np.where(is_hit, _EQUAL, _SUB)))
            steps.append(np.stack([act, code, i_pos[act], j_pos[act]], axis=1))
        act = act[(i_pos[act] > 0) & (j_pos[act] > 0)]
    if record:
        steps.append(np.stack([np.arange(b), np.full(b, _DEL), i_pos, j_pos], axis=1))
    d = flat[n2 * s_i + m2 * s_j + np.arange(b)].astype(np.int64)
    subs = n2 + m2 - 2 * hits - d
    dels = n2 - subs - hits
    ins = m2 - subs - hits
    return hits, subs, dels, ins, steps


def _align_all(ref_flat: IntArray, cand_flat: IntArray, n: IntArray, m: IntArray, *,
               record: bool) -> tuple[IntArray, list[list[tuple[int, int, int]]] | None]:
    """Per-pair counts (B, 4: H, S, D, I) and optionally per-pair op lists.

    Op lists hold ``(code, i, j)`` in the middle part's coordinates plus the prefix.
    """
    b = n.size
    counts = np.zeros((b, 4), dtype=np.int64)
    ops: list[list[tuple[int, int, int]]] | None = [[] for _ in range(b)] if record else None
    if b == 0:
        return counts, ops
    prefix, suffix = _common_affix(ref_flat, cand_flat, n, m)
    n2, m2 = n - prefix - suffix, m - prefix - suffix
    counts[:, 0] = prefix + suffix
    side = np.maximum(n2, m2)
    order = np.lexsort((m2, n2, side))
    side_sorted = side[order]
    start = 0
    while start < b:
        # The bucket's padded matrix is (pairs, side + 1, side + 1) with side growing along
        # the sorted order: take as many pairs as fit in the cell budget (at least one).
        window = min(b - start, max(1, _CELLS_PER_BUCKET // int(side_sorted[start] + 1) ** 2))
        size = np.arange(1, window + 1) * (side_sorted[start:start + window] + 1) ** 2
        stop = start + max(1, int(np.searchsorted(size, _CELLS_PER_BUCKET, side="right")))
        rows = order[start:stop]
        r2 = _middle(ref_flat, n, prefix, n2, rows, -1)
        c2 = _middle(cand_flat, m, prefix, m2, rows, -2)
        h, s, d, i, steps = _bucket_counts(r2, c2, n2[rows], m2[rows], record=record)
        counts[rows, 0] += h
        counts[rows, 1] += s
        counts[rows, 2] += d
        counts[rows, 3] += i
        if ops is not None:
            for step in steps:
                for local, code, ii, jj in step.tolist():
                    pair = int(rows[local])
                    ops[pair].append((code, ii, jj))
        start = stop
    if ops is not None:
        _finish_ops(ops, prefix, suffix, n2, m2)
    return counts, ops


def _finish_ops(ops: list[list[tuple[int, int, int]]], prefix: IntArray, suffix: IntArray,
                n2: IntArray, m2: IntArray) -> None:
    """Turn backtrace steps into forward ``(code, ref_index, cand_index)`` ops, affixes included.

    Each backtrace step holds the position after it, which is the index of the
    token(s) it consumed; the last step of a pair holds the leftover position
    (that many leading deletions or insertions).
    """
    for k, steps in enumerate(ops):
        p, s = int(prefix[k]), int(suffix[k])
        tail_i, tail_j = steps[-1][1], steps[-1][2]
        out: list[tuple[int, int, int]] = [(_EQUAL, q, q) for q in range(p)]
        out.extend((_DEL, p + q, -1) for q in range(tail_i))
        out.extend((_INS, -1, p + q) for q in range(tail_j))
        for code, ii, jj in reversed(steps[:-1]):
            if code == _DEL:
                out.append((_DEL, p + ii, -1))
            elif code == _INS:
                out.append((_INS, -1, p + jj))
            else:
                out.append((code, p + ii, p + jj))
        n_end, m_end = p + int(n2[k]), p + int(m2[k])
        out.extend((_EQUAL, n_end + q, m_end + q) for q in range(s))
        ops[k] = out


# --------------------------------------------------------------------------- public API


def _prepare(reference: str | Sequence[str], candidate: str | Sequence[str]
             ) -> tuple[list[str], list[str]]:
    ref, cand = _as_list(reference, "reference"), _as_list(candidate, "candidate")
    if len(ref) != len(cand):
        raise InvalidAnnotationError(
            f"got {len(ref)} reference and {len(cand)} candidate transcripts; pass one "
            f"candidate per reference, in the same order"
        )
    return ref, cand


def transcript_errors(reference: str | Sequence[str], candidate: str | Sequence[str], *,
                      unit: TokenUnit = "word") -> TranscriptErrors:
    """Corpus-level alignment counts of reference vs candidate transcripts.

    Args:
        reference: One reference transcript, or a sequence of them.
        candidate: The candidate transcript(s), one per reference, same order.
        unit: ``word`` (WER family) or ``char`` (CER).

    Returns:
        A :class:`TranscriptErrors` with the summed counts; its rates equal
        jiwer 4's ``process_words`` / ``process_characters`` on the same input.

    Raises:
        InvalidAnnotationError: Different numbers of references and candidates,
            or a transcript that is not a string.

    >>> e = transcript_errors(["the cat sat"], ["the cat sit down"])
    >>> (e.hits, e.substitutions, e.deletions, e.insertions)
    (2, 1, 0, 1)
    >>> round(e.error_rate, 4)
    0.6667
    """
    if unit not in ("word", "char"):
        raise InvalidAnnotationError(f"unit must be 'word' or 'char', got {unit!r}")
    ref, cand = _prepare(reference, candidate)
    _rt, _ct, rf, cf, n, m = _encode(ref, cand, unit)
    counts, _ = _align_all(rf, cf, n, m, record=False)
    h, s, d, i = (int(v) for v in counts.sum(axis=0))
    return TranscriptErrors(unit=unit, hits=h, substitutions=s, deletions=d, insertions=i,
                            n_pairs=len(ref))


def align_transcripts(reference: str | Sequence[str], candidate: str | Sequence[str], *,
                      unit: TokenUnit = "word") -> tuple[tuple[AlignmentOp, ...], ...]:
    """The token alignment of every pair (which words were substituted, dropped, added).

    The alignment is the one jiwer 4 reports (rapidfuzz's), in reading order.

    Args:
        reference: One reference transcript, or a sequence of them.
        candidate: The candidate transcript(s), one per reference.
        unit: ``word`` or ``char``.

    Returns:
        One tuple of :class:`AlignmentOp` per pair.

    >>> [op.kind for op in align_transcripts("a b c", "a x c d")[0]]
    ['equal', 'substitute', 'equal', 'insert']
    """
    if unit not in ("word", "char"):
        raise InvalidAnnotationError(f"unit must be 'word' or 'char', got {unit!r}")
    ref, cand = _prepare(reference, candidate)
    rt, ct, rf, cf, n, m = _encode(ref, cand, unit)
    _, ops = _align_all(rf, cf, n, m, record=True)
    if ops is None:  # pragma: no cover - record=True always returns ops
        raise AssertionError("alignment ops missing")
    r_start = np.cumsum(n) - n
    c_start = np.cumsum(m) - m
    out: list[tuple[AlignmentOp, ...]] = []
    for k, pair_ops in enumerate(ops):
        r0, c0 = int(r_start[k]), int(c_start[k])
        out.append(tuple(
            AlignmentOp(kind=_OP_NAMES[c], reference_index=i if i >= 0 else None,
                        candidate_index=j if j >= 0 else None,
                        reference_token=rt[r0 + i] if i >= 0 else None,
                        candidate_token=ct[c0 + j] if j >= 0 else None)
            for c, i, j in pair_ops))
    return tuple(out)


def word_error_rate(reference: str | Sequence[str], candidate: str | Sequence[str]) -> float:
    """WER = (S + D + I) / N over the corpus (jiwer 4's ``wer``); see :class:`TranscriptErrors`.

    >>> word_error_rate("hello world", "hello")
    0.5
    """
    return transcript_errors(reference, candidate, unit="word").error_rate


def character_error_rate(reference: str | Sequence[str], candidate: str | Sequence[str]) -> float:
    """CER over the corpus (jiwer 4's ``cer``: spaces count as characters).

    >>> character_error_rate("abcd", "abed")
    0.25
    """
    return transcript_errors(reference, candidate, unit="char").error_rate


def match_error_rate(reference: str | Sequence[str], candidate: str | Sequence[str]) -> float:
    """MER over the corpus (jiwer 4's ``mer``), in [0, 1]."""
    return transcript_errors(reference, candidate, unit="word").match_error_rate


def word_information_lost_rate(reference: str | Sequence[str],
                               candidate: str | Sequence[str]) -> float:
    """WIL over the corpus (jiwer 4's ``wil``), in [0, 1]."""
    return transcript_errors(reference, candidate, unit="word").word_information_lost_rate


def word_information_preserved_score(reference: str | Sequence[str],
                                     candidate: str | Sequence[str]) -> float:
    """WIP over the corpus (jiwer 4's ``wip``), in [0, 1]."""
    return transcript_errors(reference, candidate, unit="word").word_information_preserved_score
