"""Render a QA report (the JSON report dict) as one self-contained HTML page.

No network: inline CSS and SVG only. Each section has a stable ``id`` (summary,
agreement, gold, errors, consensus, conflicts, sampling, bias, checks, cost;
and attributes, tracks, cvat, trend when the report carries them) so tests and links can find it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

from accord.review import render

from . import svg

CSS = """
:root{--fg:#1d2430;--muted:#5b6472;--line:#e3e6ea;--bg:#fafbfc;--ok:#2e7d32;--bad:#c62828;--warn:#b26a00}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;
color:var(--fg);background:var(--bg)}header{background:#1d2430;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#c9d1dc}
nav{position:sticky;top:0;background:#fff;border-bottom:1px solid var(--line);padding:8px 28px;z-index:1}
nav a{margin-right:14px;color:#2f5d8a;text-decoration:none}main{padding:8px 28px 40px;max-width:1200px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin:18px 0}
h2{margin:0 0 10px;font-size:18px}h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}th,td{border-bottom:1px solid var(--line);
padding:4px 10px;text-align:left;vertical-align:top}th{background:#f3f5f7;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}.muted{color:var(--muted)}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid var(--line);border-radius:8px;
padding:10px 14px;min-width:150px}.card b{display:block;font-size:22px}.pass{color:var(--ok);font-weight:600}
.fail{color:var(--bad);font-weight:600}.warn{color:var(--warn);font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}details{margin:6px 0}
ul.headline li{margin:3px 0}code{background:#f3f5f7;padding:1px 4px;border-radius:3px}
""" + render.CSS

SECTIONS = (("summary", "Summary"), ("agreement", "Agreement"), ("gold", "Gold scores"),
            ("errors", "Error taxonomy"), ("consensus", "Consensus"), ("label_errors", "Label errors"),
            ("conflicts", "Conflicts"),
            ("sampling", "Sampling"), ("bias", "Bias"), ("checks", "Automated checks"),
            ("cost", "Cost"))


def _num(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return "–" if not math.isfinite(v) else f"{v:.{digits}f}"
    return escape(str(v))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, numeric: Sequence[int] = ()) -> str:
    h = "".join(f"<th>{escape(c)}</th>" for c in header)
    body = []
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            if isinstance(v, _Raw):
                cells.append(f"<td>{v.html}</td>")
            else:
                cls = ' class="num"' if (i in numeric or isinstance(v, int | float)) and not isinstance(v, bool) else ""
                cells.append(f"<td{cls}>{_num(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{h}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class _Raw:
    """Already-escaped HTML for a table cell."""

    def __init__(self, html: str) -> None:
        self.html = html


def _interval(c: Mapping[str, Any] | None) -> str:
    if not c:
        return "–"
    est, lo, hi = c.get("estimate"), c.get("low"), c.get("high")
    s = _num(est)
    if lo is not None and hi is not None:
        s += f' <span class="muted">[{_num(lo)}, {_num(hi)}]</span>'
    if c.get("n") is not None:
        s += f' <span class="muted">n={_num(c["n"])}</span>'
    return s


def _summary(r: Mapping[str, Any]) -> str:
    s = r.get("summary", {})
    cards = [("items", s.get("n_items")), ("annotators", s.get("n_annotators")),
             ("label sets", len(s.get("label_sets", []))), ("records", s.get("n_records")),
             ("gold items", s.get("n_gold_items")), ("conflicts", s.get("n_conflicts")),
             ("discrepancies", s.get("n_discrepancies")), ("skipped", s.get("cancelled_submissions"))]
    html = '<div class="cards">' + "".join(
        f'<div class="card"><span class="muted">{escape(k)}</span><b>{_num(v)}</b></div>' for k, v in cards
    ) + "</div>"
    if s.get("headline"):
        html += "<h3>What to look at first</h3><ul class='headline'>" + "".join(
            f"<li>{escape(h)}</li>" for h in s["headline"]) + "</ul>"
        more = s.get("headline_more") or []
        if more:
            html += (f"<details><summary>{len(more)} more, by impact</summary><ul class='headline'>"
                     + "".join(f"<li>{escape(h)}</li>" for h in more) + "</ul></details>")
    anns = s.get("annotators", [])
    listing = f'<p class="muted">Annotators: {escape(", ".join(anns))}</p>'
    html += (listing if len(anns) <= MAX_HEATMAP_ANNOTATORS
             else f"<details><summary>{len(anns)} annotators</summary>{listing}</details>")
    return html


def _agreement(r: Mapping[str, Any]) -> str:
    parts = []
    rows = []
    for name, a in r.get("agreement", {}).items():
        main = a.get("primary")
        c = a.get("coefficients", {}).get(main, {}) if main else {}
        rows.append((f"{name} ({main})" if main else name, c.get("estimate"), c.get("low"), c.get("high")))
    if rows:
        parts.append(svg.interval_bars(rows, title="Agreement per label set (95% bootstrap CI)"))
    for name, a in r.get("agreement", {}).items():
        parts.append(f"<h3>{escape(name)} <span class='muted'>({escape(a.get('kind', ''))}, "
                     f"{_num(a.get('n_items'))} items, {_num(a.get('n_annotators'))} annotators)</span></h3>")
        if a.get("note"):
            parts.append(f"<p class='muted'>{escape(a['note'])}</p>")
        coefs = a.get("coefficients", {})
        iv = a.get("intervals") or {}
        if coefs:
            parts.append(_table(["coefficient", "estimate [95% CI]"],
                                [(k, _Raw(_interval(_with_interval(v, (iv.get("coefficients") or {}).get(k)))))
                                 for k, v in coefs.items()]))
        charts = []
        pw = a.get("pairwise")
        rest = a.get("annotator_vs_rest") or {}
        if pw and pw.get("annotators") and len(pw["annotators"]) <= MAX_HEATMAP_ANNOTATORS:
            charts.append(svg.heatmap(pw["annotators"], pw["annotators"], pw["matrix"],
                                      title=f"{name}: {pw.get('metric', '')} per annotator pair",
                                      vmin=0.0, vmax=1.0))
        elif pw and pw.get("annotators"):
            parts.append(_annotators_vs_rest(name, pw, rest))
        per_label = {lb: _with_interval(v, (iv.get("per_label") or {}).get(lb))
                     for lb, v in (a.get("per_label") or {}).items()}
        if per_label:
            charts.append(svg.interval_bars(
                [(lb, v.get("estimate"), v.get("low"), v.get("high")) for lb, v in per_label.items()],
                title=f"{name}: agreement per label ({next(iter(per_label.values())).get('metric', '')})",
                lo=0.0))
        if charts:
            parts.append('<div class="charts">' + "".join(charts) + "</div>")
        parts.append(_pair_intervals(name, pw or {}, iv))
        parts.append(_cpwer(name, a.get("cpwer")))
    return "".join(parts) or "<p class='muted'>No label set with two or more annotators.</p>"


def _with_interval(c: Mapping[str, Any], boot: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A figure with the bootstrap bounds of ``agreement.<set>.intervals`` where it has none of its own."""
    if not boot or c.get("low") is not None or boot.get("low") is None:
        return c
    return {**c, "low": boot.get("low"), "high": boot.get("high")}


def _pair_intervals(name: str, pw: Mapping[str, Any], iv: Mapping[str, Any]) -> str:
    """Each annotator pair's figure with its item-bootstrap interval, in a collapsed table."""
    bounds = iv.get("pairwise") or {}
    anns = bounds.get("annotators") or []
    if not anns or pw.get("annotators") != anns:
        return ""
    rows = [(a, b, _Raw(_interval({"estimate": pw["matrix"][i][j], "low": bounds["low"][i][j],
                                   "high": bounds["high"][i][j], "n": bounds["n_items"][i][j]})))
            for i, a in enumerate(anns) for j, b in enumerate(anns)
            if j > i and bounds["n_items"][i][j] is not None]
    if not rows:
        return ""
    return (f"<details><summary>{escape(name)}: {len(rows)} annotator pairs, "
            f"{escape(str(bounds.get('metric', '')))} with its 95% item-bootstrap interval "
            f"({_num(bounds.get('n_resamples', iv.get('n_resamples')))} resamples, "
            f"seed {_num(bounds.get('seed', iv.get('seed')))})</summary>"
            + _table(["annotator", "annotator", "estimate [95% CI] n items"], rows) + "</details>")


def _cpwer(name: str, cp: Mapping[str, Any] | None) -> str:
    """cpWER rows of a label set of speaker-attributed transcripts."""
    if not cp or not cp.get("rows"):
        return ""
    rows: list[tuple[Any, ...]]
    if cp.get("against") == "gold":
        head, rows = ["annotator"], [(x["annotator_id"],) for x in cp["rows"]]
    else:
        head, rows = ["annotator", "annotator"], [(x["annotator_a"], x["annotator_b"]) for x in cp["rows"]]
    body = [(*who, x.get("n_items"), x.get("errors"), x.get("n_reference_words"), x.get("cpwer"))
            for who, x in zip(rows, cp["rows"], strict=True)]
    return (f"<h4>{escape(name)}: per-speaker word error rate (cpWER) against {escape(str(cp.get('against')))}</h4>"
            f"<p class='muted'>{escape(str(cp.get('method', '')))}.</p>"
            + _table([*head, "items", "word errors", "reference words", "cpWER"], body,
                     numeric=tuple(range(len(head), len(head) + 4))))


#: Pairwise heat maps are drawn up to this many annotators (56 px a cell: about 1,700 px);
#: larger teams get a sorted table of each annotator against the rest and a histogram.
MAX_HEATMAP_ANNOTATORS = 30


def _annotators_vs_rest(name: str, pw: Mapping[str, Any], rest: Mapping[str, Any]) -> str:
    rows = rest.get("rows") or []
    n = len(pw.get("annotators", []))
    head = (f"<p class='muted'>{n} annotators: too many for a readable pairwise heat map. "
            f"{_num(pw.get('n_pairs_shown'))} of {_num(pw.get('n_pairs_sharing_items'))} pairs that share items "
            f"share at least {_num(pw.get('min_items'))} (their figures are in the JSON report). Each annotator "
            "against all the others instead, lowest first:</p>")
    chart = svg.histogram([x.get("cohen_kappa") for x in rows], title=f"{name}: each annotator vs the rest",
                          xlabel="Cohen's kappa against the others' labels")
    table = _table(["annotator", "items", "pairs", "agreement", "Cohen's kappa vs the rest"],
                   [(x["annotator_id"], x.get("n_items"), x.get("n_pairs"), x.get("agreement"),
                     x.get("cohen_kappa")) for x in rows], numeric=(1, 2, 3, 4))
    if len(rows) > 20:
        table = f"<details><summary>All {len(rows)} annotators, lowest first</summary>{table}</details>"
    return head + '<div class="charts">' + chart + "</div>" + table


def _gold(r: Mapping[str, Any]) -> str:
    g = r.get("gold", {})
    if not g.get("annotators"):
        return "<p class='muted'>No gold (reference) items: mark some annotations as ground truth.</p>"
    parts = [f"<p>Threshold <b>{_num(g.get('threshold'))}</b>: {escape(g.get('rule', ''))}. "
             "With few gold items the interval is wide and the verdict stays undecided; the last column "
             "says how many more gold items would decide it if the score held (0: decided; "
             "<i>n/a</i>: the score sits on the threshold).</p>"]
    rows = []
    for ann, sets in g["annotators"].items():
        for ls, m in sets.items():
            verdict = m.get("verdict", "")
            cls = {"pass": "pass", "fail": "fail"}.get(verdict, "warn")
            rows.append((ann, ls, m.get("metric", ""), _Raw(_interval(m.get("score"))),
                         _Raw(f'<span class="{cls}">{escape(verdict)}</span>'),
                         m.get("more_items_needed")))
    parts.append(_table(["annotator", "label set", "metric", "score [95% CI] n", "verdict",
                         "gold items still needed"], rows))
    coco = g.get("coco") or {}
    if coco:
        parts.append("<h3>Each annotator as a detector against gold (COCO)</h3>")
        parts.append(_table(["label set", "annotator", "gold images", "AP", "AP50", "AP75", "AR@100"],
                            [(ls, ann, m.get("n_images"),
                              *([m["note"], "", "", ""] if "note" in m else
                                [m.get(k) for k in ("AP", "AP50", "AP75", "AR_100")]))
                             for ls, by in coco.items() for ann, m in by.items()], numeric=(2, 3, 4, 5, 6)))
    der = g.get("diarization") or {}
    if der:
        parts.append("<h3>Speaker turns against gold (diarization error rate)</h3>")
        parts.append(_table(["label set", "annotator", "gold items", "DER", "missed", "false alarm", "confusion"],
                            [(ls, ann, m.get("n_items"), m.get("der"), m.get("missed"), m.get("false_alarm"),
                              m.get("confusion")) for ls, by in der.items() for ann, m in by.items()],
                            numeric=(2, 3, 4, 5, 6)))
    charts = []
    for ls, cm in (g.get("confusion") or {}).items():
        for ann, mat in cm.get("by_annotator", {}).items():
            charts.append(svg.heatmap(cm["labels"], cm["labels"], mat, digits=0,
                                      title=f"{ls}: {ann} (rows: gold)"))
    if len(charts) > MAX_HEATMAP_ANNOTATORS:
        parts.append(f"<p class='muted'>{len(charts)} confusion matrices (one per annotator and label set) "
                     "are in the JSON report (gold.confusion).</p>")
    elif charts:
        parts.append('<h3>Confusion matrices</h3><div class="charts">' + "".join(charts) + "</div>")
    return "".join(parts)


def _errors(r: Mapping[str, Any]) -> str:
    e = r.get("errors", {})
    counts = e.get("counts", {})
    hints = "".join(f"<p class='warn'>Hint: {escape(str(h.get('message', '')))}</p>" for h in e.get("hints") or [])
    if not counts.get("by_category"):
        return hints + "<p class='muted'>No discrepancies found.</p>"
    cats = list(counts["by_category"])
    parts = [hints, '<div class="charts">',
             svg.stacked_bars(counts.get("by_annotator", {}), title="Discrepancies by annotator and category",
                              order=cats),
             svg.stacked_bars(counts.get("by_label", {}), title="Discrepancies by label and category",
                              order=cats), "</div>"]
    sev = {c["name"]: c.get("severity", "") for c in e.get("taxonomy", [])}
    trend = e.get("trend") or {}
    if trend:
        parts.append(_table(["category", "severity", "previous run", "this run", "change"],
                            [(c, sev.get(c, ""), t["previous"], t["current"], f"{t['change']:+d}")
                             for c, t in trend.items()]))
    else:
        parts.append(_table(["category", "severity", "count"],
                            [(c, sev.get(c, ""), n) for c, n in counts["by_category"].items()]))
    items = e.get("discrepancies", [])
    if items:
        rows = [(d["category"], d["severity"], d["item_id"], d["label_set"], d["annotator_id"],
                 d.get("reference_label"), d.get("candidate_label"),
                 ", ".join(f"{k}={_num(v)}" for k, v in (d.get("evidence") or {}).items()))
                for d in items[:200]]
        parts.append(f"<details><summary>First {len(rows)} of {len(items)} classified discrepancies</summary>"
                     + _table(["category", "severity", "item", "label set", "annotator", "reference",
                               "candidate", "evidence"], rows) + "</details>")
    return "".join(parts)


def _range(est: Any, interval: Sequence[Any] | None) -> _Raw:
    lo, hi = (interval or [None, None])[:2]
    return _Raw(_interval({"estimate": est, "low": lo, "high": hi}))


def _truth_inference(t: Mapping[str, Any] | None) -> str:
    """The geometry EM's per-annotator error parameters (consensus.<set>.truth_inference)."""
    if not t:
        return ""
    if not t.get("annotators"):
        return f"<p class='muted'>Geometry truth inference: {escape(str(t.get('note', '')))}</p>"
    rows = [(a["annotator_id"], a.get("n_views"), a.get("n_boxes"),
             *(_range(a.get(k), a.get(f"{k}_interval")) for k in ("miss_rate", "fp_rate", "sigma")))
            for a in t["annotators"]]
    conv = "" if t.get("converged") else f" (stopped after {_num(t.get('n_iter'))} iterations)"
    return (f"<h4>Geometry truth inference</h4><p>{_num(t.get('n_objects'))} objects inferred from "
            f"{_num(t.get('n_candidates'))} candidates on {_num(t.get('n_items'))} items{escape(conv)}; "
            f"{escape(str(t.get('note', '')))}.</p>"
            + _table(["annotator", "items seen", "boxes", "miss rate [95%]", "false positives per item [95%]",
                      "edge noise sigma [95%]"], rows, numeric=(1, 2)))


def _consensus(r: Mapping[str, Any]) -> str:
    c = r.get("consensus", {})
    if not c:
        return "<p class='muted'>No consensus computed.</p>"
    parts = []
    for ls, v in c.items():
        parts.append(f"<h3>{escape(ls)} <span class='muted'>({escape(v.get('method', ''))})</span></h3>")
        rel = v.get("annotator_reliability") or {}
        skill = v.get("annotator_skill") or {}
        if skill:
            how = v.get("skill") or {}
            level = how.get("confidence")
            parts.append(_table(["annotator", f"estimated skill [{_num(100 * level, 0) if level else ''}% interval]"],
                                [(a, _Raw(_interval(ci))) for a, ci in skill.items()]))
            parts.append(f"<p class='muted'>Skill: {escape(str(how.get('definition', '')))}; interval: "
                         f"{escape(str(how.get('interval', '')))} ({_num(how.get('n_resamples'))} resamples).</p>")
        elif rel:
            parts.append(_table(["annotator", "estimated reliability"], list(rel.items())))
        if v.get("n_regions") is not None:
            parts.append(f"<p>{_num(v.get('n_items'))} items fused into {_num(v.get('n_regions'))} consensus "
                         f"regions; {escape(v.get('note', ''))}.</p>")
            parts.append(_fusion_weights(v))
            parts.append(_truth_inference(v.get("truth_inference")))
        elif v.get("strategy"):
            parts.append(_multilabel_consensus(v))
        elif v.get("n_items") is not None:
            parts.append(f"<p>{_num(v.get('n_items'))} items; {_num(v.get('n_ties', 0))} unresolved ties; "
                         f"{_num(v.get('n_changed_from_majority', 0))} differ from the plain majority.</p>")
            parts.append(_ambiguous(v))
    return "".join(parts)


def _fusion_weights(v: Mapping[str, Any]) -> str:
    """A region or transcript consensus block's weights (with their source) and each annotator vs it."""
    w = v.get("weights") or {}
    if not w:
        return ""
    cls = v.get("weights_class_label_set")
    text = ("<p class='muted'>Fusion weights: gold score where the annotator has gold, else the skill in "
            + (f"the class label set {escape(str(cls))}" if cls else "a class label set") + ", else uniform.</p>")
    iou, wer, found = v.get("annotator_iou") or {}, v.get("annotator_wer") or {}, v.get("annotator_discrepancies")
    heads = ["annotator", "weight", "source"]
    extra: list[Callable[[str], Any]] = []
    if iou:
        heads.append("pooled IoU with the consensus")
        extra.append(lambda a: (iou.get(a) or {}).get("iou"))
    if wer:
        heads.append("WER vs the voted transcript")
        extra.append(lambda a: (wer.get(a) or {}).get("wer"))
    if found is not None:
        heads.append("discrepancies vs the consensus")
        extra.append(lambda a: ", ".join(f"{c} {n}" for c, n in (found.get(a) or {}).items()) or "none")
    rows = [(a, x.get("weight"), x.get("source"), *(f(a) for f in extra)) for a, x in w.items()]
    return text + _table(heads, rows)


def _ambiguous(v: Mapping[str, Any]) -> str:
    """Ambiguous items of a class label set (consensus.<set>.ambiguous): soft labels, not conflicts."""
    how = v.get("ambiguity")
    if not how:
        return ""
    n, listed = v.get("n_ambiguous", 0), v.get("ambiguous") or []
    text = (f"<h4>Ambiguous items</h4><p>{_num(n)} items are ambiguous (difficulty above "
            f"{_num(how.get('threshold'), 2)}): skilled annotators split on them, so they are kept as soft "
            f"labels and left out of the conflict queue. Ambiguous means: {escape(str(how.get('rule', '')))}. "
            f"Difficulty: {escape(str(how.get('difficulty', '')))}; "
            f"soft label: {escape(str(how.get('soft_label', '')))}.</p>")
    if not listed:
        return text
    rows = [(a["item_id"], a.get("difficulty"),
             ", ".join(f"{escape(str(c))} {_num(p, 2)}" for c, p in sorted(
                 (a.get("distribution") or {}).items(), key=lambda cp: -(cp[1] or 0)) if p))
            for a in listed[:200]]
    return text + (f"<details><summary>{len(rows)} of {_num(n)} ambiguous items, most difficult first"
                   "</summary>" + _table(["item", "difficulty", "soft label"], rows) + "</details>")


def _multilabel_consensus(v: Mapping[str, Any]) -> str:
    """Binary-relevance consensus of a multi-select label set: prevalence and agreement per label."""
    per = v.get("per_label") or {}
    labels = list(per)
    agree = (v.get("annotator_agreement") or {}).get("annotators") or {}
    text = (f"<p>{_num(v.get('n_items'))} items; {escape(str(v.get('strategy', '')))}.</p>"
            + _table(["label", "prevalence", "items with it"],
                     [(lab, per[lab].get("prevalence"), per[lab].get("n_items_present")) for lab in labels],
                     numeric=(2,)))
    if agree and labels:
        text += ("<p class='muted'>Agreement with the consensus: share of each annotator's present/absent "
                 "answers equal to it, per label.</p>"
                 + _table(["annotator", *labels], [(a, *((row.get(lab) or {}).get("estimate") for lab in labels))
                                                   for a, row in agree.items()]))
    return text


def _label_errors(r: Mapping[str, Any]) -> str:
    le = r.get("label_errors") or {}
    parts = []
    for name, sec in le.items():
        if "issues" not in sec:
            parts.append(f"<h3>{escape(name)}</h3><p class='muted'>{escape(str(sec.get('note', '')))}</p>")
            continue
        parts.append(f"<h3>{escape(name)}</h3><p>{_num(sec.get('n_issues'))} of {_num(sec.get('n_items'))} "
                     f"consensus labels are likely wrong ({escape(str(sec.get('method', '')))}; "
                     f"{escape(str(sec.get('probabilities', '')))}). Most likely first:</p>")
        parts.append(_table(["rank", "item", "given", "suggested", "p(given)"],
                            [(x["rank"], x["item_id"], x["given"], x["suggested"], x["self_confidence"])
                             for x in sec["issues"][:50]], numeric=(0, 4)))
        cj = sec.get("confident_joint") or {}
        if cj.get("counts"):
            parts.append(svg.heatmap(cj["classes"], cj["classes"], cj["counts"],
                                     title="Confident joint (given label x likely true label)", digits=0))
    return "".join(parts) or ("<p class='muted'>No model probabilities: pass <code>--pred-probs</code> "
                              "(or predictions with scores) to find likely label errors.</p>")


def _conflict_versions(x: Mapping[str, Any]) -> str:
    """Every annotator's version of a conflict drawn for its data type, the descriptions folded below.

    Drawn from the conflict's ``versions`` (annotator -> value dicts) and ``item`` (``width``,
    ``height``, ``duration_s``, ``text``) when the report carries them; otherwise from the
    one-line ``annotations`` descriptions (boxes, spans, segments, classes, transcripts) on
    a canvas the extent of the shapes.
    """
    described = x.get("annotations") or {}
    item_raw = x.get("item")
    item: Mapping[str, Any] = item_raw if isinstance(item_raw, Mapping) else {}
    raw = x.get("versions")
    text_html = "<br>".join(f"<b>{escape(str(a))}</b>: {escape(str(v))}" for a, v in described.items())
    text = item.get("text") if isinstance(item.get("text"), str) else None
    try:
        if isinstance(raw, Mapping):
            versions = {str(a): list(vs) for a, vs in raw.items()}
        else:
            versions = {str(a): render.parse_description(str(v)) for a, v in described.items()}
        drawn = render.render_versions(
            versions, width=item.get("width"), height=item.get("height"), text=text,
            duration=item.get("duration_s"), size_px=180 if len(versions) <= 6 else 120)
    except (ValueError, TypeError, KeyError) as e:  # a malformed value: keep the text, say why
        return f"{text_html}<br><span class='muted'>(not drawn: {escape(str(e)[:120])})</span>"
    context = (f"<div class='rr-text muted'>{escape(text[:300])}</div>"
               if text and not any(v.get("kind") == "span" for vs in versions.values()
                                         for v in render.to_value_dicts(vs)) else "")
    return f"{context}{drawn}<details><summary class='muted'>as text</summary>{text_html}</details>"


def _conflicts(r: Mapping[str, Any]) -> str:
    c = r.get("conflicts", {})
    items = c.get("items", [])
    parts = [f"<p><b>{len(items)}</b> items need adjudication (agreement below "
             f"{_num(c.get('threshold'))} or disagreeing with gold)"
             + (f"; {_num(c['n_resolved'])} resolved items left the queue" if c.get("n_resolved") else "")
             + ".</p>"]
    unknown = c.get("unknown_resolutions") or {}
    if unknown.get("n"):
        parts.append(f"<p class='warn'>{_num(unknown['n'])} resolution(s) name items or label sets that are not "
                     "in the data and were not applied: " + escape(", ".join(
                         f"{x['item_id']} ({x['label_set']})" for x in unknown.get("items", [])[:20])) + "</p>")
    if items:
        rows = [(x["item_id"], x["label_set"], x.get("reason", ""), x.get("agreement"), _Raw(_conflict_versions(x)))
                for x in items[:100]]
        parts.append(_table(["item", "label set", "reason", "agreement", "annotations side by side"], rows))
    hs = c.get("hot_spots") or []
    if hs:
        parts.append("<h3>Guideline hot spots</h3><p class='muted'>Labels and guideline rules that keep needing "
                     f"adjudication ({_num(c.get('n_resolutions', 0))} resolutions logged).</p>" + _table(
            ["kind", "name", "conflicts", "resolutions", "total"],
            [(h.get("kind"), h.get("name"), h.get("conflicts"), h.get("resolutions"), h.get("total")) for h in hs]))
    return "".join(parts)


def _sampling(r: Mapping[str, Any]) -> str:
    s = r.get("sampling", {})
    parts = []
    sc = s.get("spot_check")
    if sc:
        parts.append(f"<h3>Spot check</h3><p>{_num(sc.get('size'))} of {_num(sc.get('population'))} "
                     f"{escape(sc.get('unit', 'items'))}s, {escape(sc.get('method', ''))}, "
                     f"seed {_num(sc.get('seed'))}. For a ±{_num(sc.get('margin'))} margin on the error "
                     f"rate at 95%, review <b>{_num(sc.get('needed_for_margin'))}</b> items.</p>")
    gr = s.get("spot_check_grades")
    if gr:
        est = gr.get("estimate")
        parts.append(f"<h3>Spot-check grades</h3><p>{_num(gr.get('n_used'))} graded submissions "
                     f"({_num(gr.get('n_grades'))} grades, {_num(gr.get('n_duplicates'))} regraded, "
                     f"{_num(gr.get('n_unknown'))} naming no submission). Batch error rate: "
                     f"<b>{_interval(est) if est else '–'}</b> "
                     f"<span class='muted'>{escape(str((est or {}).get('method', '')))}</span>.</p>")
        if gr.get("note"):
            parts.append(f"<p class='warn'>{escape(str(gr['note']))}</p>")
        parts.append(_table(["annotator", "error rate [95%]", "errors", "graded", "submissions"],
                            [(a, _Raw(_interval(e)), e.get("errors"), e.get("n"), e.get("population"))
                             for a, e in (gr.get("by_annotator") or {}).items()], numeric=(2, 3, 4)))
    ac = s.get("acceptance")
    if ac:
        plan = ac.get("plan", {})
        sev = str(ac.get("severity", "normal"))
        parts.append(f"<h3>Acceptance sampling (ISO 2859-1)</h3><p>Lot of {_num(ac.get('lot_size'))} items, "
                     f"inspection level {escape(str(ac.get('level', '')))}, AQL {_num(ac.get('aql'))}%, "
                     f"<b>{escape(sev)}</b> inspection: code letter "
                     f"<b>{escape(str(plan.get('code_letter', '')))}</b>, sample "
                     f"<b>{_num(plan.get('sample_size'))}</b>, accept with ≤ {_num(plan.get('accept'))} "
                     f"defects, reject with ≥ {_num(plan.get('reject'))}.</p>")
        plans = ac.get("plans") or {}
        if plans:
            parts.append(_table(["severity", "code letter", "sample", "accept ≤", "reject ≥"],
                                [(k, v.get("code_letter"), v.get("sample_size"), v.get("accept"), v.get("reject"))
                                 for k, v in plans.items()], numeric=(2, 3, 4)))
        if ac.get("switching_rules"):
            parts.append(f"<p class='muted'>Switching rules: {escape(str(ac['switching_rules']))}.</p>")
        oc = ac.get("oc_curve")
        if oc:
            series = oc.get("by_severity") or {"P(accept)": oc["p_accept"]}
            parts.append(svg.line_chart(oc["p"], series,
                                        title="Operating-characteristic curves",
                                        xlabel="lot fraction defective", ylabel="probability of acceptance",
                                        marks=[(float(ac.get("aql", 0)) / 100, "AQL")]))
    ds_ = s.get("disagreement_sample")
    if ds_:
        parts.append(f"<h3>Review sample weighted by disagreement</h3><p>{len(ds_.get('items', []))} items "
                     f"({escape(ds_.get('method', ''))}, seed {_num(ds_.get('seed'))}): "
                     f"{escape(', '.join(ds_.get('items', [])))}</p>")
    al = s.get("active_learning")
    if al:
        parts.append(f"<h3>Review next (active learning: {escape(al.get('strategy', ''))})</h3>"
                     + _table(["item", "score"], [(x["item_id"], x["score"]) for x in al.get("items", [])[:20]]))
        orders = al.get("orders") or []
        if orders:
            parts.append("<p class='muted'>Every order the model predictions support (the top of each):</p>"
                         + _table(["method", "label set", "basis", "ranked", "of", "first items"],
                                  [(o.get("method"), o.get("label_set") or "all", o.get("basis"), o.get("n_ranked"),
                                    o.get("n_candidates"),
                                    ", ".join(x["item_id"] for x in (o.get("items") or [])[:5]))
                                   for o in orders], numeric=(3, 4)))
    return "".join(parts) or "<p class='muted'>No sampling computed.</p>"


def _generic(key: str) -> Callable[[Mapping[str, Any]], str]:
    def render(r: Mapping[str, Any]) -> str:
        v = r.get(key)
        if not v:
            return "<p class='muted'>Nothing to report.</p>"
        html = v.get("html") if isinstance(v, Mapping) else None
        if html:
            return str(html)
        return _mapping_html(v)
    return render


def _mapping_html(v: Any, depth: int = 0) -> str:
    if isinstance(v, Mapping):
        if depth > 2:
            return escape(str(v)[:300])
        rows = [(k, _Raw(_mapping_html(x, depth + 1))) for k, x in v.items() if k != "html"]
        return _table(["", ""], rows)
    if isinstance(v, list):
        if v and all(isinstance(x, Mapping) for x in v[:50]):
            keys = list(dict.fromkeys(k for x in v[:50] for k in x))[:8]
            return _table(keys, [tuple(x.get(k) if not isinstance(x.get(k), Mapping | list)
                                       else str(x.get(k))[:80] for k in keys) for x in v[:50]])
        return escape(", ".join(str(x) for x in v[:50]))
    return _num(v)


def _bias(r: Mapping[str, Any]) -> str:
    b = r.get("bias", {})
    tests = b.get("tests", [])
    if not tests:
        return "<p class='muted'>No item metadata groups to compare (add metadata such as language or site).</p>"
    rows = [(t.get("label_set"), t.get("group_key"), t.get("test"), t.get("statistic"), t.get("p_value"),
             t.get("q_value"), _Raw('<span class="fail">flagged</span>' if t.get("flagged") else "ok"))
            for t in tests]
    html = (f"<p>Tests corrected with Benjamini–Hochberg at FDR {_num(b.get('fdr'))}.</p>"
            + _table(["label set", "group by", "test", "statistic", "p", "q (BH)", ""], rows))
    for d in b.get("distributions", [])[:6]:
        html += svg.heatmap(d["groups"], d["labels"], d["shares"], vmin=0, vmax=1,
                            title=f"{d['label_set']}: label share by {d['group_key']}")
    for a in b.get("agreement_by_group", [])[:6]:
        html += svg.interval_bars(
            [(str(g["group"]), g.get("agreement"), g.get("low"), g.get("high")) for g in a["groups"]],
            title=f"{a['label_set']}: pairwise agreement by {a['group_key']} (95% Wilson)", lo=0.0, bands=())
        html += _table(["group", "pairs", "percent agreement", "Krippendorff's alpha", "q (BH)", ""],
                       [(g["group"], g["n_pairs"], g.get("agreement"), g.get("alpha"), g.get("q_value"),
                         _Raw('<span class="fail">differs</span>' if g.get("flagged") else "ok"))
                        for g in a["groups"]], numeric=(1, 2, 3, 4))
    return html


def _checks(r: Mapping[str, Any]) -> str:
    c = r.get("checks") or {}
    if not c:
        return "<p class='muted'>Checks were not run.</p>"
    by_check = c.get("by_check", {})
    sev_order = ["critical", "major", "minor", "info"]
    rows = [(name, *[counts.get(sv, 0) for sv in sev_order], sum(counts.values()))
            for name, counts in sorted(by_check.items(), key=lambda kv: -sum(kv[1].values()))]
    html = (f"<p>{_num(c.get('n_findings'))} findings from {len(c.get('checks_run', []))} checks over "
            f"{_num(c.get('n_records'))} records.</p>")
    hit = {k: v for k, v in by_check.items() if sum(v.values())}
    if hit:
        html += svg.stacked_bars(hit, title="Findings per check and severity", order=sev_order)
    html += _table(["check", *sev_order, "total"], rows)
    f = c.get("findings", [])
    if f:
        html += (f"<details><summary>First {min(len(f), 200)} findings</summary>" + _table(
            ["severity", "check", "item", "annotator", "label", "message"],
            [(x["severity"], x["check"], x.get("item_id"), x.get("annotator_id"), x.get("label"),
              x.get("message")) for x in f[:200]]) + "</details>")
    return html


def _cost(r: Mapping[str, Any]) -> str:
    from .report_cost import render_cost_section

    c = r.get("cost") or {}
    if not c.get("forecast"):
        return "<p class='muted'>No cost forecast.</p>"
    html = render_cost_section(c)
    gate = c.get("gate") or {}
    if gate:
        verdict = gate.get("verdict", "")
        cls = "pass" if verdict == "go" else "fail"
        html += (f"<h3>Pilot gate: <span class='{cls}'>{escape(verdict)}</span></h3>" + _table(
            ["check", "value", "threshold", "status", ""],
            [(g.get("name"), g.get("value"), g.get("threshold"), g.get("status"), g.get("message"))
             for g in gate.get("checks", [])]))
    return html


def _rate_cell(c: Mapping[str, Any] | None) -> _Raw:
    return _Raw(_interval(c))


def _attributes_section(r: Mapping[str, Any]) -> str:
    a = r.get("attributes") or {}
    parts = [f"<p>Attributes of regions two sides matched (labels equal) are compared: exact match with a 95% "
             f"Wilson interval for every attribute, mean normalized Levenshtein similarity for text, mean and "
             f"largest absolute difference for numbers. Not compared: "
             f"{escape(', '.join(a.get('ignored', [])))}.</p>"]
    for name, ls in (a.get("label_sets") or {}).items():
        parts.append(f"<h3>{escape(name)} <span class='muted'>({_num(ls.get('n_region_pairs'))} matched region "
                     f"pairs, {_num(ls.get('n_label_mismatches'))} skipped for differing labels)</span></h3>")
        pooled = ls.get("pooled") or []
        bars = [(f"{x['label']}.{x['attribute']} ({'gold' if x['comparison'] == 'reference' else 'pairs'})",
                 x["exact_match"].get("estimate"), x["exact_match"].get("low"), x["exact_match"].get("high"))
                for x in pooled]
        if bars:
            parts.append(svg.interval_bars(bars, title=f"{name}: exact attribute match (95% Wilson CI)", lo=0.0))

        def rows(xs: Sequence[Mapping[str, Any]], with_ids: bool) -> list[tuple[Any, ...]]:
            out = []
            for x in xs:
                ts, nd = x.get("text_similarity") or {}, x.get("numeric_difference") or {}
                ids = (x["reference_id"], x["candidate_id"]) if with_ids else ()
                out.append((x["label"], x["attribute"], x["kind"], x["comparison"], *ids,
                            _rate_cell(x["exact_match"]), x.get("n_one_sided"), ts.get("mean"),
                            nd.get("mean_absolute"), nd.get("max_absolute")))
            return out

        head = ["label", "attribute", "kind", "compared", "exact match [95% CI] n", "one-sided",
                "text similarity", "mean |diff|", "max |diff|"]
        parts.append(_table(head, rows(pooled, False)))
        per_pair = ls.get("rows") or []
        if per_pair:
            parts.append("<details><summary>Per annotator pair</summary>" + _table(
                [*head[:4], "reference", "candidate", *head[4:]], rows(per_pair, True)) + "</details>")
        mm = ls.get("mismatches") or []
        if mm:
            parts.append(f"<details><summary>First {len(mm)} of {_num(ls.get('n_mismatches'))} differing values"
                         "</summary>" + _table(
                             ["item", "label", "attribute", "reference", "value", "candidate", "value"],
                             [(m["item_id"], m["label"], m["attribute"], m["reference_id"], m["reference_value"],
                               m["candidate_id"], m["candidate_value"]) for m in mm]) + "</details>")
    return "".join(parts)


def _tracks_section(r: Mapping[str, Any]) -> str:
    t = r.get("tracks") or {}
    parts = [f"<p>Tracks compared frame by frame (CLEAR MOT matching, box IoU ≥ {_num(t.get('iou_threshold'))}): "
             "frame-level precision and recall, mean IoU of matched boxes, MOTA, IDF1, identity switches, and "
             "missed frames (frames where one side's track is visible and the other side has no box on it).</p>"]
    for name, ls in (t.get("label_sets") or {}).items():
        parts.append(f"<h3>{escape(name)}</h3>")
        pairs = ls.get("pairs") or []
        if pairs:
            def who(p: Mapping[str, Any]) -> str:
                return f"{p['reference_id']} vs {p['candidate_id']}"
            parts.append('<div class="charts">' + svg.stacked_bars(
                {who(p): {"identity switches": p["id_switches"], "missed frames": p["missed_frames"],
                          "extra boxes": p["false_positives"]} for p in pairs},
                title=f"{name}: track errors per comparison",
                order=["identity switches", "missed frames", "extra boxes"]) + svg.interval_bars(
                [row for p in pairs for row in (
                    (f"{who(p)}: precision", p["precision"].get("estimate"), p["precision"].get("low"),
                     p["precision"].get("high")),
                    (f"{who(p)}: recall", p["recall"].get("estimate"), p["recall"].get("low"),
                     p["recall"].get("high")))],
                title=f"{name}: frame-level precision and recall (95% Wilson CI)", lo=0.0) + "</div>")
            parts.append(_table(
                ["compared", "reference", "candidate", "frames", "precision [95% CI] n", "recall [95% CI] n",
                 "mean IoU", "MOTA", "IDF1", "ID switches", "missed frames"],
                [(p["comparison"], p["reference_id"], p["candidate_id"], p["n_frames"], _rate_cell(p["precision"]),
                  _rate_cell(p["recall"]), p["mean_iou"], p["mota"], p["idf1"], p["id_switches"],
                  p["missed_frames"]) for p in pairs]))
            sw = [(p["reference_id"], p["candidate_id"], s["item_id"], s["frame"], s["reference_track_id"],
                   s["previous_candidate_track_id"], s["candidate_track_id"]) for p in pairs for s in p["switches"]]
            if sw:
                parts.append("<h3>Identity switches</h3>" + _table(
                    ["reference", "candidate", "item", "frame", "reference track", "candidate track before",
                     "candidate track after"], sw[:200]))
            mf = [(m["item_id"], m["annotator_id"], m["track_id"], m["partner_track_id"], m["n_frames"],
                   ", ".join(f"{a}–{b}" if a != b else str(a) for a, b in m["runs"]))
                  for p in pairs for m in p["missed"]]
            if mf:
                parts.append("<h3>Missed frames</h3>" + _table(
                    ["item", "annotator lacking boxes", "track", "their track", "frames", "runs"], mf[:200]))
        for s in ls.get("skipped") or []:
            parts.append(f"<p class='warn'>{escape(s['item_id'])}: {escape(s['reference_id'])} vs "
                         f"{escape(s['candidate_id'])} not compared: {escape(s['reason'])}</p>")
    return "".join(parts)


def _cvat_section(r: Mapping[str, Any]) -> str:
    c = r.get("cvat") or {}
    parts = ["<p>The error taxonomy's discrepancies counted per CVAT job, assignee, label and frame, and in the "
             f"terms of CVAT's quality reports ({escape(c.get('note', ''))}).</p>"]
    terms = c.get("by_cvat_term") or {}
    if terms:
        sev = ["critical", "major", "minor", "info"]
        parts.append("<h3>In CVAT's vocabulary</h3>" + _table(
            ["CVAT term", "accord category", *sev, "total"],
            [(term, (c.get("vocabulary") or {}).get(term, ""), *[n.get(s, 0) for s in sev], sum(n.values()))
             for term, n in terms.items()]))
    for key, title, what in (("by_job", "Per job", "job"), ("by_assignee", "Per assignee", "assignee"),
                             ("by_label", "Per label", "label"), ("by_frame", "Per frame", "frame")):
        d = c.get(key) or {}
        if not d:
            continue
        cats = sorted({k for v in d.values() for k in v})
        rows = sorted(d.items(), key=lambda kv: -sum(kv[1].values()))
        html = _table([what, *[x.replace("_", " ") for x in cats], "total"],
                      [(k, *[v.get(x, 0) for x in cats], sum(v.values())) for k, v in rows[:100]])
        if key in ("by_job", "by_assignee"):
            html = svg.stacked_bars(dict(rows[:25]), title=f"Discrepancies per {what}", order=cats) + html
        parts.append(f"<h3>{title}</h3>{html}")
    wb = c.get("writeback")
    if wb:
        parts.append(f"<h3>Written back</h3><p>{_num(wb.get('planned'))} issues planned, {_num(wb.get('created'))} "
                     f"{'would be created (dry run)' if wb.get('dry_run') else 'created'}, "
                     f"{_num(wb.get('skipped_existing'))} already in CVAT; jobs moved: "
                     f"{escape(', '.join(str(j) for j in wb.get('jobs_moved', [])) or 'none')}.</p>")
    return "".join(parts)


#: Sections shown only when the report carries them (data- or tool-specific).
def _model_vs_human_section(r: Mapping[str, Any]) -> str:
    """Each model's predictions scored against the humans (accuracy/F1/calibration, or P/R/F1 and COCO AP)."""
    parts = []
    for name, entry in (r.get("model_vs_human") or {}).items():
        parts.append(f"<h3>{escape(name)} <span class='muted'>({escape(str(entry.get('kind', '')))}, "
                     f"{_num(entry.get('n_human_annotators'))} human annotator(s))</span></h3>")
        for key in ("note", "undefined"):
            if entry.get(key):
                parts.append(f"<p class='muted'>{escape(str(entry[key]))}</p>")
        for model, s in (entry.get("models") or {}).items():
            if "accuracy" in s:
                parts.append(f"<p><b>{escape(model)}</b>: accuracy {_interval(s['accuracy'])}, macro-F1 "
                             f"{_num(s.get('macro_f1'))}; {_num(s.get('n_unpredicted'))} human-labelled items "
                             "without a prediction.</p>")
                rows = [(lab, c["precision"], c["recall"], c["f1"], c["n_reference"])
                        for lab, c in s["per_class"].items()]
                cal = s.get("calibration")
                if cal:
                    parts.append(f"<p>Calibration of the top-class score: ECE {_num(cal['ece'])} "
                                 f"({_num(cal['n_bins'])} equal-width bins), Brier {_num(cal['brier'])} "
                                 f"(n={_num(cal['n'])}).</p>")
                    bins = [(f"({_num(b['low'], 1)}, {_num(b['high'], 1)}]", b["n"], b["mean_confidence"],
                             b["accuracy"]) for b in cal["bins"] if b["n"]]
                    parts.append("<details><summary>Reliability bins</summary>"
                                 + _table(["score bin", "predictions", "mean score", "accuracy"], bins) + "</details>")
                parts.append(_table(["class", "precision", "recall", "F1", "human support"], rows))
            else:
                coco = s.get("coco") or {}
                ap = (f", COCO AP {_num(coco.get('AP'))}, AP50 {_num(coco.get('AP50'))}, AR@100 "
                      f"{_num(coco.get('AR_100'))}") if coco else ""
                thr = f" at IoU {_num(s['iou_threshold'], 2)}" if s.get("iou_threshold") is not None else ""
                parts.append(f"<p><b>{escape(model)}</b>: precision {_num(s.get('precision'))}, recall "
                             f"{_num(s.get('recall'))}, F1 {_num(s.get('f1'))}{thr}{ap}.</p>")
                if s.get("coco_note"):
                    parts.append(f"<p class='muted'>{escape(str(s['coco_note']))}</p>")
                rows = [(lab, c["precision"], c["recall"], c["f1"], c["n_reference"])
                        for lab, c in s["per_label"].items()]
                parts.append(_table(["label", "precision", "recall", "F1", "human regions"], rows))
    return "".join(parts)


OPTIONAL_SECTIONS = (("attributes", "Attribute agreement"), ("tracks", "Tracks"), ("cvat", "CVAT"),
                     ("trend", "Trend across runs"), ("model_vs_human", "Model vs human"),
                     ("review", "Review (adjudication)"))


def _review_section(r: Mapping[str, Any]) -> str:
    """Adjudication in the review app: decision counts and each reviewer's agreement with second
    passes and experts (Wilson 95 % intervals)."""
    v = r.get("review") or {}
    parts = [f"<p>{_num(v.get('n_decisions'))} decisions on {_num(v.get('n_conflicts'))} conflicts: "
             f"{_num(v.get('n_second_passes'))} second passes, {_num(v.get('n_expert_decisions'))} expert "
             f"decisions, {_num(v.get('n_escalations'))} escalations, {_num(v.get('n_ambiguous'))} marked "
             "ambiguous.</p>"]

    def cell(c: Mapping[str, Any] | None) -> str:
        if not c or not c.get("n"):
            return "-"
        return f"{_num(c.get('estimate'))} [{_num(c.get('low'))}, {_num(c.get('high'))}] ({c['agreements']}/{c['n']})"

    rows = [(who, _Raw(escape(cell(sc.get("second_pass")))), _Raw(escape(cell(sc.get("expert")))))
            for who, sc in sorted((v.get("reviewers") or {}).items())]
    if rows:
        parts.append(_table(["first-pass reviewer", "agrees with second pass [95% CI] (k/n)",
                             "agrees with expert [95% CI] (k/n)"], rows))
    else:
        parts.append("<p class='muted'>No second pass or expert decision yet: reviewer agreement needs one.</p>")
    return "".join(parts)


def _trend_section(r: Mapping[str, Any]) -> str:
    from .ledger_html import render_trend_html  # lazy: ledger_html imports this module

    return render_trend_html(r["trend"])


def _sections(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [*SECTIONS, *((k, t) for k, t in OPTIONAL_SECTIONS if report.get(k))]


RENDERERS: Mapping[str, Callable[[Mapping[str, Any]], str]] = {
    "summary": _summary, "agreement": _agreement, "gold": _gold, "errors": _errors,
    "consensus": _consensus, "label_errors": _label_errors,
    "conflicts": _conflicts, "sampling": _sampling, "bias": _bias,
    "checks": _checks, "cost": _cost,
    "attributes": _attributes_section, "tracks": _tracks_section, "cvat": _cvat_section,
    "trend": _trend_section, "model_vs_human": _model_vs_human_section, "review": _review_section,
}


def render_html(report: Mapping[str, Any]) -> str:
    """The whole report as one HTML document (no external resources)."""
    s = report.get("summary", {})
    title = f"accord QA report: {s.get('dataset', 'dataset')}"
    nav = "".join(f'<a href="#{k}">{escape(t)}</a>' for k, t in _sections(report))
    body = "".join(f'<section id="{k}"><h2>{escape(t)}</h2>{RENDERERS[k](report)}</section>'
                   for k, t in _sections(report))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>accord {escape(str(report.get('accord_version', '')))} · "
        f"report schema {escape(str(report.get('schema_version', '')))} · generated "
        f"{escape(str(report.get('generated_at', '')))}</p></header><nav>{nav}</nav><main>{body}</main>"
        "</body></html>"
    )
