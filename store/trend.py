"""The trend across recorded QA runs: agreement per label set (with intervals) and error counts, oldest first.

One computation serves ``accord runs --trend`` (JSON or a table) and ``accord report --trend`` (a section of
the report, charted in its HTML). Each point names the snapshots its run read by their name/tag
(``guidelines-1.0``, ``v3``), so a change of guideline version shows as a change of tag along the trend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .ledger import Ledger, RunInfo

#: What a point's ``inputs`` holds for the report being built (not yet recorded in the ledger).
CURRENT = "this report"


def snapshot_names(ledger: Ledger) -> dict[str, str]:
    """A display name per snapshot content hash: the name of a snapshot of that content, else the hash's start.

    When several snapshots share content, the first named one wins (their content is the same).
    """
    snaps = ledger.snapshots()
    names = {s.snapshot_hash: s.name for s in reversed(snaps) if s.name}  # reversed: the first named one wins
    return {s.snapshot_hash: names.get(s.snapshot_hash, s.snapshot_hash[:12]) for s in snaps}


def trend(runs: Sequence[RunInfo], names: Mapping[str, str], *,
          current: Mapping[str, Any] | None = None, current_at: str | None = None) -> dict[str, Any]:
    """Per label set, one point per run (oldest first); error counts by category per run.

    Args:
        runs: Recorded runs, in any order (sorted here by their ledger entry).
        names: Display names by snapshot hash (see :func:`snapshot_names`); unknown hashes show their
            first 12 digits.
        current: The headline of a run not recorded yet (the report being built), appended last with
            ``entry`` None, ``current`` True and inputs ``["this report"]``.
        current_at: Its time (the report's ``generated_at``).

    Returns:
        ``{"agreement": {label_set: [point, ...]}, "errors": [{entry, created_at, inputs, by_category}, ...]}``,
        a point being ``{entry, created_at, inputs, current, coefficient, estimate, low, high, n}``.
    """
    per_set: dict[str, list[dict[str, Any]]] = {}
    errors: list[dict[str, Any]] = []

    def add(entry: int | None, created_at: str | None, tags: list[str], headline: Mapping[str, Any]) -> None:
        for ls, a in (headline.get("agreement") or {}).items():
            per_set.setdefault(ls, []).append({"entry": entry, "created_at": created_at, "inputs": tags,
                                               "current": entry is None, "coefficient": a.get("coefficient"),
                                               "estimate": a.get("estimate"), "low": a.get("low"),
                                               "high": a.get("high"), "n": a.get("n")})
        errors.append({"entry": entry, "created_at": created_at, "inputs": tags, "current": entry is None,
                       "by_category": dict(headline.get("errors_by_category") or {})})

    for r in sorted(runs, key=lambda r: r.seq):
        add(r.seq, r.created_at, [names.get(h, h[:12]) for h in r.inputs], r.headline)
    if current is not None:
        add(None, current_at, [CURRENT], current)
    return {"agreement": per_set, "errors": errors}


def ledger_trend(ledger: Ledger, *, limit: int = 0, current: Mapping[str, Any] | None = None,
                 current_at: str | None = None) -> dict[str, Any]:
    """:func:`trend` over the ledger's runs (the newest ``limit``; 0: all), read in one consistent state."""
    with ledger.db.read():
        runs = ledger.runs()
        names = snapshot_names(ledger)
    return trend(runs[:limit] if limit else runs, names, current=current, current_at=current_at)
