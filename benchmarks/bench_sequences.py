"""Benchmark: transcript error rates vs jiwer, BIO span F1 vs seqeval.

Workloads (``--scale 1`` = the issue's sizes), all seeded:

* WER: 20,000 reference/candidate sentence pairs, 3-30 words from a 5,000-word
  vocabulary, the candidate made by seeded substitutions, deletions and insertions.
  accord's ``transcript_errors`` vs ``jiwer.process_words`` (rapidfuzz C++ inside).
* CER: the same pairs at character level vs ``jiwer.process_characters``.
* Span F1: 20,000 BIO-tagged sentences (5-40 tokens, 4 entity types), candidate
  tags perturbed; accord's ``bio_span_scores`` vs ``seqeval.metrics.f1_score``, in
  seqeval's default mode and strict IOB2 mode.

Each row prints the workload, our best time, the peer's best time in the same
run, the ratio peer/ours (> 1 means accord is faster) and whether the values agree.

Run: ``.venv/bin/python benchmarks/bench_sequences.py [--scale 1.0] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import random
import time
import warnings
from collections.abc import Callable
from typing import Any

import jiwer
from seqeval.metrics import f1_score
from seqeval.scheme import IOB2

from accord.core.matching.spans import bio_span_scores
from accord.core.matching.transcripts import transcript_errors


def best_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times = []
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def make_transcripts(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    vocab = [f"w{k}" for k in range(5000)]
    refs, cands = [], []
    for _ in range(n):
        words = [rng.choice(vocab) for _ in range(rng.randint(3, 30))]
        out = []
        for w in words:
            u = rng.random()
            if u < 0.05:
                continue  # deletion
            out.append(rng.choice(vocab) if u < 0.15 else w)
            if rng.random() < 0.04:
                out.append(rng.choice(vocab))  # insertion
        refs.append(" ".join(words))
        cands.append(" ".join(out))
    return refs, cands


def make_tags(n: int, seed: int) -> tuple[list[list[str]], list[list[str]]]:
    rng = random.Random(seed)
    types = ["PER", "LOC", "ORG", "MISC"]
    ref, cand = [], []
    for _ in range(n):
        length = rng.randint(5, 40)
        tags: list[str] = []
        while len(tags) < length:
            if rng.random() < 0.7:
                tags.append("O")
            else:
                t = rng.choice(types)
                tags.extend([f"B-{t}"] + [f"I-{t}"] * rng.randint(0, 3))
        tags = tags[:length]
        noisy = []
        for tag in tags:
            u = rng.random()
            if u < 0.05:
                noisy.append("O")
            elif u < 0.08:
                noisy.append(f"I-{rng.choice(types)}")
            elif u < 0.1:
                noisy.append(f"B-{rng.choice(types)}")
            else:
                noisy.append(tag)
        ref.append(tags)
        cand.append(noisy)
    return ref, cand


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = max(10, int(20_000 * args.scale))
    refs, cands = make_transcripts(n, seed=0)
    ref_tags, cand_tags = make_tags(n, seed=1)
    rows = []

    ours_t, e = best_time(lambda: transcript_errors(refs, cands), args.repeat)
    peer_t, o = best_time(lambda: jiwer.process_words(refs, cands), args.repeat)
    agree = ((e.hits, e.substitutions, e.deletions, e.insertions)
             == (o.hits, o.substitutions, o.deletions, o.insertions)
             and abs(e.error_rate - o.wer) < 1e-12 and abs(e.match_error_rate - o.mer) < 1e-12
             and abs(e.word_information_lost_rate - o.wil) < 1e-12)
    rows.append((f"WER+MER+WIL, {n:,} sentence pairs", "jiwer 4", ours_t, peer_t, agree,
                 f"WER {e.error_rate:.6f}"))

    ours_t, e = best_time(lambda: transcript_errors(refs, cands, unit="char"), args.repeat)
    peer_t, o = best_time(lambda: jiwer.process_characters(refs, cands), args.repeat)
    agree = ((e.hits, e.substitutions, e.deletions, e.insertions)
             == (o.hits, o.substitutions, o.deletions, o.insertions) and abs(e.error_rate - o.cer) < 1e-12)
    rows.append((f"CER, {n:,} sentence pairs", "jiwer 4", ours_t, peer_t, agree, f"CER {e.error_rate:.6f}"))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours_t, s = best_time(lambda: bio_span_scores(ref_tags, cand_tags), args.repeat)
        peer_t, f = best_time(lambda: f1_score(ref_tags, cand_tags), args.repeat)
        rows.append((f"span F1 default mode, {n:,} sentences", "seqeval 1.2", ours_t, peer_t,
                     abs(s.f1_score() - f) < 1e-12, f"F1 {f:.6f}"))
        ours_t, s = best_time(lambda: bio_span_scores(ref_tags, cand_tags, mode="strict"), args.repeat)
        peer_t, f = best_time(lambda: f1_score(ref_tags, cand_tags, mode="strict", scheme=IOB2), args.repeat)
        rows.append((f"span F1 strict IOB2, {n:,} sentences", "seqeval 1.2", ours_t, peer_t,
                     abs(s.f1_score() - f) < 1e-12, f"F1 {f:.6f}"))

    head = f"{'workload':<40} {'peer':<12} {'accord s':>9} {'peer s':>9} {'peer/ours':>9}  agree  value"
    print(head)
    print("-" * len(head))
    for name, peer, ours_s, peer_s, ok, value in rows:
        print(f"{name:<40} {peer:<12} {ours_s:9.3f} {peer_s:9.3f} {peer_s / ours_s:9.2f}  "
              f"{'yes' if ok else 'NO':<5}  {value}")


if __name__ == "__main__":
    main()
