"""HTML pages for the ledger: ``accord diff --html`` and the ``accord audit-pack`` datasheet.

Self-contained (no external resources), in the QA report's visual style (its CSS).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from .report_html import CSS


def _cell(v: Any) -> str:
    if v is None:
        return "<span class='muted'>–</span>"
    if isinstance(v, float):
        return f"{v:.3f}"
    return escape(str(v))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    h = "".join(f"<th>{escape(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def _page(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]]) -> str:
    nav = "".join(f'<a href="#{k}">{escape(t)}</a>' for k, t, _ in sections)
    body = "".join(f'<section id="{k}"><h2>{escape(t)}</h2>{html}</section>' for k, t, html in sections)
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header><nav>{nav}</nav>"
            f"<main>{body}</main></body></html>\n")


def format_interval(a: Mapping[str, Any]) -> str:
    """``0.812 [0.790, 0.833]`` from an estimate with low/high; ``undefined`` without an estimate (plain text)."""
    if a.get("estimate") is None:
        return "undefined"
    out = f"{a['estimate']:.3f}"
    if a.get("low") is not None and a.get("high") is not None:
        out += f" [{a['low']:.3f}, {a['high']:.3f}]"
    return out


def render_diff_html(d: Mapping[str, Any], *, limit: int = 5000) -> str:
    """The diff of two snapshots (``accord diff --html``)."""
    a, b = d["a"], d["b"]
    name = f"{a['name'] or a['snapshot_hash'][:12]} → {b['name'] or b['snapshot_hash'][:12]}"
    cards = "".join(f'<div class="card"><span class="muted">{escape(k)}</span><b>{v}</b></div>'
                    for k, v in d["counts"].items())
    snaps = _table(["", "name", "hash", "rows", "source", "pulled at", "by"],
                   [[side, s["name"], s["snapshot_hash"], s["n_rows"], s["source"], s["pulled_at"], s["pulled_by"]]
                    for side, s in (("A", a), ("B", b))])
    changes = d["changes"]
    rows = [[c["change"], c["item_id"], c["label_set"], c["annotator_id"], c["old_label"], c["new_label"],
             c["iou"], ", ".join(c["fields"]), c["when"]] for c in changes[:limit]]
    more = f"<p class='muted'>{len(changes) - limit} more in the JSON.</p>" if len(changes) > limit else ""
    return _page(f"accord diff: {name}", "what changed between two snapshots", [
        ("summary", "Summary", f"<div class='cards'>{cards}</div>{snaps}"),
        ("changes", "Changes", _table(["change", "item", "label set", "annotator", "old", "new", "IoU", "fields",
                                       "when"], rows) + more if changes else "<p>No changes.</p>"),
    ])


def render_audit_html(p: Mapping[str, Any]) -> str:
    """The datasheet of one dataset version (``accord audit-pack``)."""
    s = p["snapshot"]
    chain = p["chain"]
    status = ("<span class='pass'>verifies</span>" if chain["ok"]
              else f"<span class='fail'>{escape(str(chain['problem']))}</span>")
    cards = "".join(f'<div class="card"><span class="muted">{escape(k)}</span><b>{_cell(v)}</b></div>' for k, v in (
        ("annotation rows", s["n_rows"]), ("items", p["n_items"]), ("annotators", p["n_annotators"]),
        ("label sets", len(p["label_distribution"])), ("QA runs", len(p["runs"])), ("decisions", len(p["decisions"]))))
    source = _table(["field", "value"], [["name", s["name"]], ["snapshot hash", s["snapshot_hash"]],
                                         ["source", s["source"]], ["pulled at", s["pulled_at"]],
                                         ["pulled by", s["pulled_by"]], ["ledger entry", s["entry"]]])
    dist = "".join(f"<h3>{escape(ls)}</h3>" + _table(["label", "annotations"], sorted(
        counts.items(), key=lambda kv: (-kv[1], kv[0]))) for ls, counts in p["label_distribution"].items())
    qa = []
    for r in p["runs"]:
        qa.append(f"<h3>run {r['created_at']} <span class='muted'>(entry {r['entry']}, accord "
                  f"{escape(r['accord_version'])}, seed {r['seed']}, config {r['config_hash'][:12]})</span></h3>")
        qa.append(_table(["label set", "coefficient", "estimate [interval]", "n"],
                         [[ls, a.get("coefficient"), format_interval(a), a.get("n")]
                          for ls, a in r["headline"].get("agreement", {}).items()]))
        errs = r["headline"].get("errors_by_category") or {}
        if errs:
            qa.append(_table(["error category", "count"], sorted(errs.items(), key=lambda kv: -kv[1])))
    decisions = _table(["entry", "item", "label set", "decision", "by", "role", "rule", "rationale", "when", "status"],
                       [[d["entry"], d["item_id"], d["label_set"], d["decision"], d["reviewer"], d["role"],
                         d["guideline_rule"], d["rationale"], d["decided_at"],
                         "in force" if d["in_force"] else "superseded"] for d in p["decisions"]])
    rules = (_table(["guideline rule", "decisions citing it"], sorted(p["guideline_rules"].items()))
             if p["guideline_rules"] else "<p class='muted'>No decision cites a guideline rule.</p>")
    tags = _table(["snapshot tag", "hash", "pulled at"], [[t["name"], t["snapshot_hash"][:12], t["pulled_at"]]
                                                         for t in p["tags_so_far"]])
    return _page(f"accord audit pack: {s['name'] or s['snapshot_hash'][:12]}",
                 f"dataset version datasheet · generated {p['generated_at']} · accord {p['accord_version']}", [
                     ("summary", "Summary", f"<div class='cards'>{cards}</div>"),
                     ("source", "Source and hashes", source),
                     ("labels", "Label distribution", dist or "<p>No annotations.</p>"),
                     ("qa", "QA figures", "".join(qa) or "<p class='muted'>No QA run recorded on this version.</p>"),
                     ("decisions", "Decisions", decisions if p["decisions"] else "<p>No decisions.</p>"),
                     ("guidelines", "Guideline versions", rules + tags),
                     ("chain", "Ledger chain", f"<p>{status}: {chain['entries']} entries; head hash "
                                               f"<code>{escape(chain['head_hash'])}</code></p>"),
                 ])


def _tags(p: Mapping[str, Any]) -> str:
    return ", ".join(p.get("inputs") or [])


def _run_label(p: Mapping[str, Any]) -> str:
    return "this report" if p.get("entry") is None else f"entry {p['entry']}"


def render_trend_html(t: Mapping[str, Any]) -> str:
    """The trend section of the QA report (``accord report --trend``): per label set a line chart of the
    primary agreement and its interval across runs (oldest to newest; a dashed mark where the snapshot tag
    changes, e.g. a new guideline version) and a table; then error counts by category per run."""
    from . import svg

    parts = ["<p class='muted'>QA runs recorded in the ledger, oldest to newest, with the snapshots each read "
             "(by name/tag); the last point is this report. Charts draw values below 0 at 0.</p>"]
    for ls, points in (t.get("agreement") or {}).items():
        parts.append(f"<h3>{escape(ls)}</h3>")
        defined = [(k + 1, p) for k, p in enumerate(points) if p.get("estimate") is not None]
        if len(defined) >= 2:
            xs = [float(k) for k, _ in defined]

            def ys(key: str, defined: list[tuple[int, Any]] = defined) -> list[float]:
                return [max(0.0, float(p[key] if p.get(key) is not None else p["estimate"])) for _, p in defined]

            marks, prev = [], None
            for k, p in defined:
                if prev is not None and _tags(p) != prev:
                    marks.append((k - 0.5, _tags(p)[:24]))  # between the runs, where the tag changed
                prev = _tags(p)
            coef = next((p.get("coefficient") for _, p in defined if p.get("coefficient")), "agreement")
            parts.append("<div class='charts'>" + svg.line_chart(
                xs, {"estimate": ys("estimate"), "interval low": ys("low"), "interval high": ys("high")},
                title=f"{ls}: {coef} across runs", xlabel="run (oldest to newest)", ylabel=str(coef),
                marks=marks) + "</div>")
        rows = [[k + 1, _run_label(p), (p.get("created_at") or "")[:19], _tags(p), p.get("coefficient"),
                 format_interval(p), p.get("n")] for k, p in enumerate(points)]
        parts.append(_table(["#", "run", "at", "snapshots", "coefficient", "estimate [interval]", "n"], rows))
    errors = t.get("errors") or []
    categories = sorted({c for e in errors for c in (e.get("by_category") or {})})
    if categories:
        parts.append("<h3>Errors by category</h3>")
        bars = {f"{k + 1}. {_run_label(e)}" + ("" if e.get("entry") is None else f" ({_tags(e)[:20]})"):
                {c: float(v) for c, v in e["by_category"].items()} for k, e in enumerate(errors)}
        parts.append("<div class='charts'>" + svg.stacked_bars(bars, title="errors by category per run",
                                                              order=categories) + "</div>")
        parts.append(_table(["#", "run", "snapshots", *categories],
                            [[k + 1, _run_label(e), _tags(e), *((e.get("by_category") or {}).get(c, 0)
                                                                for c in categories)]
                             for k, e in enumerate(errors)]))
    elif errors:
        parts.append("<p class='muted'>No classified errors in any run.</p>")
    return "".join(parts)
