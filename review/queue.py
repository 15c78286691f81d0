"""The conflict queue: the report's conflicts, the ledger's decisions, multi-pass policy, reviewer scores.

A conflict's **stage** follows from its decisions (oldest first):

* none → ``first`` (any reviewer, expert or admin adjudicates);
* the latest is an escalation (``chosen = {"status": "escalated", ...}``) → ``expert``;
* the latest is a first-pass decision and the label set's policy samples the item for a
  second pass → ``second`` (blind: another reviewer or an expert, never the first reviewer);
* a second pass that disagrees is followed by an escalation (recorded by the app) → ``expert``;
* otherwise → ``resolved`` (it leaves the queue).

Decision values (the ledger's ``chosen``): for a classification label set the chosen label as a
string (so ``build_report(resolutions=...)`` lets it override consensus); otherwise
``{"accept": annotator | "consensus", "values": [...]}``; an edit ``{"accept": "edit", "from":
annotator, "values": [...]}`` (the kept regions, relabelled or moved; ``"label"`` too when every
region got one class); ``{"status": "ambiguous", "soft": {label:
share}}`` keeps a soft label; ``{"status": "escalated", "proposed": ...}`` waits for an expert.
Second passes are recorded with role ``"<role>/second-pass"``.

The second-pass sample is seeded and stable: an item is drawn when
``sha256(seed, label_set, item_id)`` read as a number in [0, 1) is below ``second_pass_share``,
so each item is in or out independently of the order decisions are taken in.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from accord.core.errors import AccordError
from accord.core.qa.intervals import rate
from accord.store.db import Database

Stage = Literal["first", "second", "expert", "resolved"]
SECOND = "/second-pass"


class QueueError(AccordError, ValueError):  # type: ignore[misc]
    """A report or policy the queue cannot use (the message says what to fix)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """A label set's review policy: ``passes`` (1 or 2) and the share of first passes checked again."""

    passes: int = 1
    second_pass_share: float = 0.0

    @classmethod
    def parse(cls, passes: str | int, share: str | float) -> Policy:
        try:
            p = int(passes)
        except (TypeError, ValueError) as e:
            raise QueueError(f"passes must be 1 or 2; got {passes!r}") from e
        if p not in (1, 2):
            raise QueueError(f"passes must be 1 or 2; got {p}")
        if isinstance(share, str) and share.strip().lower() == "all":
            s = 1.0
        else:
            try:
                s = float(share)
            except (TypeError, ValueError) as e:
                raise QueueError(f"second_pass_share must be a number in [0, 1] or 'all'; got {share!r}") from e
        if not 0.0 <= s <= 1.0:
            raise QueueError(f"second_pass_share must be in [0, 1] or 'all'; got {s}")
        return cls(passes=p, second_pass_share=s if p == 2 else 0.0)


def read_policies(db: Database) -> dict[str, Policy]:
    return {str(r[0]): Policy(passes=int(r[1]), second_pass_share=float(r[2]))
            for r in db.execute("SELECT label_set, passes, second_pass_share FROM review_policies")}


def write_policy(db: Database, label_set: str, policy: Policy, *, by: str) -> None:
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with db.write():
        db.execute("DELETE FROM review_policies WHERE label_set = ?", (label_set,))
        db.execute("INSERT INTO review_policies (label_set, passes, second_pass_share, updated_by, updated_at) "
                   "VALUES (?, ?, ?, ?, ?)", (label_set, policy.passes, policy.second_pass_share, by, now))


def sampled(seed: int, label_set: str, item_id: str, share: float) -> bool:
    """Whether the seeded second-pass sample draws this item."""
    if share >= 1.0:
        return True
    h = hashlib.sha256(f"{seed}\x1f{label_set}\x1f{item_id}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64 < share


@dataclass(frozen=True, slots=True, kw_only=True)
class Conflict:
    """One conflict of the report, as the app shows it."""

    index: int
    item_id: str
    label_set: str
    kind: str
    reason: str
    agreement: float | None
    labels: tuple[str, ...]
    versions: Mapping[str, Sequence[Mapping[str, Any]]]
    item: Mapping[str, Any]
    suggestion: Any = None
    suggestion_note: str = ""
    annotator_scores: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """A ledger decision as the queue reads it."""

    item_id: str
    label_set: str
    reviewer: str
    role: str
    chosen: Any
    rationale: str
    guideline_rule: str | None
    decided_at: str

    @property
    def status(self) -> str | None:
        return self.chosen.get("status") if isinstance(self.chosen, dict) else None

    @property
    def second_pass(self) -> bool:
        return self.role.endswith(SECOND)


def _kind(versions: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    kinds = [str(v.get("kind")) for vs in versions.values() for v in vs if isinstance(v, Mapping)]
    image = ("box", "polygon", "polyline", "keypoints", "mask")
    for k in kinds:
        if k in image:
            return k
    return Counter(kinds).most_common(1)[0][0] if kinds else "classification"


def _scores(report: Mapping[str, Any], label_set: str, annotators: Iterable[str]) -> dict[str, dict[str, Any]]:
    gold = (report.get("gold") or {}).get("annotators") or {}
    cons = (report.get("consensus") or {}).get(label_set) or {}
    rel = cons.get("annotator_reliability") or {}
    out: dict[str, dict[str, Any]] = {}
    for a in annotators:
        g = (gold.get(a) or {}).get(label_set) or {}
        score = g.get("score") or {}
        out[a] = {"gold_metric": g.get("metric"), "gold_score": score.get("estimate"),
                  "gold_low": score.get("low"), "gold_high": score.get("high"), "gold_n": score.get("n"),
                  "reliability": rel.get(a)}
    return out


def _suggest(report: Mapping[str, Any], c: Mapping[str, Any], kind: str,
             scores: Mapping[str, Mapping[str, Any]]) -> tuple[Any, str]:
    """The consensus suggestion: the consensus label (classes), else the version most others agree with."""
    ls, item = str(c["label_set"]), str(c["item_id"])
    cons = (report.get("consensus") or {}).get(ls) or {}
    label = (cons.get("labels") or {}).get(item)
    if kind in ("classification", "multilabel") and isinstance(label, str):
        return label, f"consensus label ({cons.get('method', 'consensus')})"
    versions: Mapping[str, Sequence[Any]] = c.get("versions") or {}
    if not versions:
        return None, ""
    texts = {a: json.dumps(v, sort_keys=True) for a, v in versions.items()}
    counts = Counter(texts.values())

    def key(a: str) -> tuple[int, float, str]:
        g = scores.get(a, {}).get("gold_score")
        return (counts[texts[a]], g if isinstance(g, (int, float)) else -1.0, a)

    best = max(versions, key=key)
    n_same = counts[texts[best]]
    if n_same == 1 and key(best)[1] < 0:  # no two agree, no gold score: no basis for a suggestion
        return None, ""
    why = (f"the version {n_same} of {len(versions)} annotators gave" if n_same > 1
           else "the version of the annotator with the best gold score")
    return {"accept": "consensus", "from": best, "values": list(versions[best])}, why


def load_report(path: Path) -> dict[str, Any]:
    """A report JSON (``accord report -o``) with a conflict queue."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise QueueError(f"cannot read the report {path} ({e.strerror}); pass --report report.json "
                         "written by 'accord report'") from e
    except json.JSONDecodeError as e:
        raise QueueError(f"{path} is not JSON ({e.msg}, line {e.lineno}); pass the report.json "
                         "written by 'accord report'") from e
    if not isinstance(data, dict) or not isinstance((data.get("conflicts") or {}).get("items"), list):
        raise QueueError(f"{path} has no conflicts.items; pass the report.json written by 'accord report'")
    return data


def conflicts_of(report: Mapping[str, Any]) -> list[Conflict]:
    """The report's conflicts, numbered in queue order."""
    out = []
    for i, c in enumerate(report["conflicts"]["items"]):
        if not isinstance(c, Mapping) or "item_id" not in c or "label_set" not in c:
            raise QueueError(f"conflict {i} of the report has no item_id / label_set; regenerate the report")
        versions = {str(a): [v for v in vs if isinstance(v, Mapping)]
                    for a, vs in (c.get("versions") or {}).items() if isinstance(vs, list)}
        kind = _kind(versions)
        scores = _scores(report, str(c["label_set"]), versions)
        sug, note = _suggest(report, c, kind, scores)
        out.append(Conflict(index=i, item_id=str(c["item_id"]), label_set=str(c["label_set"]), kind=kind,
                            reason=str(c.get("reason", "")), agreement=c.get("agreement"),
                            labels=tuple(str(x) for x in c.get("labels") or ()), versions=versions,
                            item=dict(c.get("item") or {}), suggestion=sug, suggestion_note=note,
                            annotator_scores=scores))
    return out


def decisions_by_key(rows: Iterable[Any]) -> dict[tuple[str, str], list[Decision]]:
    """Ledger ``DecisionInfo`` rows grouped per (item, label set), oldest first."""
    out: dict[tuple[str, str], list[Decision]] = {}
    for d in rows:
        out.setdefault((d.item_id, d.label_set), []).append(Decision(
            item_id=d.item_id, label_set=d.label_set, reviewer=d.reviewer, role=d.role, chosen=d.decision,
            rationale=d.rationale, guideline_rule=d.guideline_rule, decided_at=d.decided_at))
    return out


def last_first_pass(ds: Sequence[Decision]) -> Decision | None:
    for d in reversed(ds):
        if d.status != "escalated" and not d.second_pass and not d.role.startswith("expert"):
            return d
    return None


def stage_of(c: Conflict, ds: Sequence[Decision], policies: Mapping[str, Policy], seed: int) -> Stage:
    if not ds:
        return "first"
    last = ds[-1]
    if last.status == "escalated":
        return "expert"
    if last.second_pass or last.role.startswith("expert"):
        return "resolved"
    pol = policies.get(c.label_set, Policy())
    if pol.passes >= 2 and sampled(seed, c.label_set, c.item_id, pol.second_pass_share):
        return "second"
    return "resolved"


def may_act(role: str, user: str, stage: Stage, ds: Sequence[Decision]) -> bool:
    """Whether this user may decide at this stage (server-side rule)."""
    if stage == "first":
        return role in ("reviewer", "expert", "admin")
    if stage == "second":
        first = last_first_pass(ds)
        return role in ("reviewer", "expert", "admin") and (first is None or first.reviewer != user)
    if stage == "expert":
        return role in ("expert", "admin")
    return False


def same_decision(a: Any, b: Any) -> bool:
    """Whether two decisions choose the same thing (accepted values compared, not who gave them)."""
    def norm(x: Any) -> str:
        if isinstance(x, dict) and "values" in x:
            return json.dumps(x["values"], sort_keys=True)
        if isinstance(x, dict) and x.get("status") == "ambiguous":
            return "ambiguous"
        return json.dumps(x, sort_keys=True)
    return norm(a) == norm(b)


def reviewer_scores(by_key: Mapping[tuple[str, str], Sequence[Decision]]) -> dict[str, dict[str, Any]]:
    """Each first-pass reviewer's agreement with second passes and with experts (Wilson 95 %)."""
    sec: dict[str, list[int]] = {}
    exp: dict[str, list[int]] = {}
    for ds in by_key.values():
        first: Decision | None = None
        for d in ds:
            if d.status == "escalated":
                continue
            if d.second_pass and first is not None:
                sec.setdefault(first.reviewer, []).append(int(same_decision(first.chosen, d.chosen)))
            elif d.role.startswith("expert") and first is not None and first.reviewer != d.reviewer:
                exp.setdefault(first.reviewer, []).append(int(same_decision(first.chosen, d.chosen)))
            if not d.second_pass and not d.role.startswith("expert"):
                first = d
        # an expert's second pass also counts as agreement with an expert
        firsts = [d for d in ds if not d.second_pass and d.status != "escalated" and not d.role.startswith("expert")]
        for d in ds:
            if d.second_pass and d.role.startswith("expert") and firsts:
                exp.setdefault(firsts[-1].reviewer, []).append(int(same_decision(firsts[-1].chosen, d.chosen)))
    out: dict[str, dict[str, Any]] = {}
    for who in sorted(set(sec) | set(exp)):
        row: dict[str, Any] = {}
        for name, src in (("second_pass", sec), ("expert", exp)):
            xs = src.get(who, [])
            r = rate(sum(xs), len(xs))
            row[name] = {"agreements": r.successes, "n": r.n,
                         "estimate": None if not r.defined else round(r.estimate, 6),
                         "low": None if not r.defined else round(r.low, 6),
                         "high": None if not r.defined else round(r.high, 6), "method": "wilson", "confidence": 0.95}
        out[who] = row
    return out


def label_vocabulary(report: Mapping[str, Any], conflicts: Iterable[Conflict]) -> dict[str, frozenset[str]]:
    """Per label set, every class the report knows: its conflicts' labels and versions, the agreement's
    per-label rows and the consensus' class priors (the report carries no schema; this is what it saw)."""
    out: dict[str, set[str]] = {}
    for k in conflicts:
        s = out.setdefault(k.label_set, set())
        s.update(k.labels)
        s.update(lab for vs in k.versions.values() for v in vs if isinstance(lab := v.get("label"), str))
    for ls, sec in (report.get("agreement") or {}).items():
        if isinstance(sec, Mapping) and isinstance(sec.get("per_label"), Mapping):
            out.setdefault(str(ls), set()).update(str(x) for x in sec["per_label"])
    for ls, sec in (report.get("consensus") or {}).items():
        if isinstance(sec, Mapping) and isinstance(sec.get("class_priors"), Mapping):
            out.setdefault(str(ls), set()).update(str(x) for x in sec["class_priors"])
    return {ls: frozenset(s) for ls, s in out.items()}


#: Value kinds whose boundaries an edit may move: spans in characters, segments in seconds (or frames).
MOVABLE = ("span", "segment")
EDIT_FIELDS = ("keep", "label", "start", "end")
MAX_LABEL = 200


def _bound(k: Conflict, v: Mapping[str, Any], i: int, start: str, end: str) -> tuple[float, float]:
    kind = v.get("kind")
    s0, e0 = v.get("start"), v.get("end")
    try:
        s = (int(start) if kind == "span" else float(start)) if start else s0
        e = (int(end) if kind == "span" else float(end)) if end else e0
    except ValueError as err:
        what = "whole characters" if kind == "span" else "numbers of seconds"
        raise QueueError(f"region {i}: start and end must be {what}; got {start!r} / {end!r}") from err
    if not isinstance(s, (int, float)) or not isinstance(e, (int, float)) or not (math.isfinite(s) and
                                                                                    math.isfinite(e)):
        raise QueueError(f"region {i}: start and end must be finite numbers; got {start!r} / {end!r}")
    if kind == "span":
        text = k.item.get("text")
        limit: float | None = len(text) if isinstance(text, str) else None
        unit = "characters"
    else:
        dur = k.item.get("duration_s")
        limit = float(dur) if isinstance(dur, (int, float)) and v.get("unit", "s") == "s" else None
        unit = "frames" if v.get("unit") == "frame" else "s"
    if s < 0 or (limit is not None and e > limit):
        top = f"{limit:g}" if limit is not None else "the end"
        raise QueueError(f"region {i}: start and end must lie in 0..{top} {unit}; got {s:g}..{e:g}")
    if not s < e:
        raise QueueError(f"region {i}: start must be before end; got {s:g}..{e:g}")
    return s, e


def apply_edit(k: Conflict, annotator: str, form: Mapping[str, str], labels: frozenset[str], *,
               relabel_all: str = "") -> list[dict[str, Any]]:
    """An annotator's version of a conflict edited region by region, every field validated.

    ``form`` holds the edit panel of annotator number ``a`` (their position in ``k.versions``):
    ``e{a}-n`` the region count the page showed, and per region ``i`` ``e{a}-keep-{i}`` (present:
    kept; absent: dropped), ``e{a}-label-{i}`` (a new class, from ``labels``), ``e{a}-start-{i}`` /
    ``e{a}-end-{i}`` (spans: character offsets within the item text; segments: seconds within the
    duration; start < end). ``relabel_all``, when given, is the new class of every kept region.
    Without ``e{a}-n`` (an older form) every region is kept and relabelled with ``relabel_all``.

    Raises:
        QueueError: a one-line message naming the region and the field that does not fit.
    """
    if annotator not in k.versions:
        raise QueueError(f"edit_from must be one of this conflict's annotators: {', '.join(k.versions)}")
    for lab in (relabel_all, *(form[f] for f in form if "-label-" in f)):
        if lab and (len(lab) > MAX_LABEL or lab.strip() not in labels):
            raise QueueError(f"class {lab[:60]!r} is not a class of label set {k.label_set!r}; pick one of "
                             f"{', '.join(sorted(labels)) or '(none seen in the report)'}")
    values = [dict(v) for v in k.versions[annotator]]
    pre = f"e{list(k.versions).index(annotator)}-"
    if pre + "n" not in form:
        if not relabel_all:
            raise QueueError("editing needs the new class in the label field, or the edit panel's regions")
        return [{**v, "label": relabel_all.strip()} if "label" in v else v for v in values]
    if form[pre + "n"] != str(len(values)):
        raise QueueError(f"the edit form shows {form[pre + 'n'][:10]!r} regions but {annotator}'s version has "
                         f"{len(values)}; reload the page")
    for name in form:
        if not name.startswith(pre) or name == pre + "n":
            continue
        what, _, idx = name[len(pre):].rpartition("-")
        if what not in EDIT_FIELDS or not idx.isdigit() or not int(idx) < len(values):
            raise QueueError(f"edit field {name[:60]!r} names no region of {annotator}'s version (regions "
                             f"0..{len(values) - 1}, fields {', '.join(EDIT_FIELDS)})")
    out = []
    for i, v in enumerate(values):
        if pre + f"keep-{i}" not in form:
            continue  # dropped
        lab = (form.get(pre + f"label-{i}") or relabel_all).strip()
        if lab:
            if "label" not in v:
                raise QueueError(f"region {i} of {annotator}'s version ({v.get('kind')}) has no class to change")
            v["label"] = lab
        start, end = (form.get(pre + f"{f}-{i}", "").strip() for f in ("start", "end"))
        if start or end:
            if v.get("kind") not in MOVABLE:
                raise QueueError(f"region {i} is a {v.get('kind')}: only spans and segments have a start and end")
            s, e = _bound(k, v, i, start, end)
            if (s, e) != (v.get("start"), v.get("end")):
                v["start"], v["end"] = s, e
                text = k.item.get("text")
                if v.get("kind") == "span" and isinstance(text, str) and "text" in v:
                    v["text"] = text[int(s):int(e)]
        out.append(v)
    return out
