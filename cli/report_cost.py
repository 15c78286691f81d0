"""The cost section of the HTML QA report: a breakdown chart (inline SVG) and tables.

``render_cost_section(result)`` takes a :class:`~accord.core.cost.Forecast`, its
``to_dict()``, or ``{"forecast": ..., "sourcing": ...}`` as ``accord cost estimate
--json --compare`` prints, and returns an HTML fragment with no external resources.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from html import escape
from typing import Any

_COLORS = {"annotation": "#4e79a7", "gold": "#edc948", "review": "#f28e2b", "spot_check": "#76b7b2",
           "adjudication": "#e15759", "fixed_fee": "#9c755f", "minimum_topup": "#bab0ac"}
_FONT = "font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;font-size:12px"


def _as_dict(x: Any) -> dict[str, Any]:
    if x is None:
        return {}
    if hasattr(x, "to_dict"):
        out: dict[str, Any] = x.to_dict()
        return out
    return dict(x)


def _num(v: Any, fmt: str = ",.2f") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return format(v, fmt)


def breakdown_svg(components: list[Mapping[str, Any]], *, currency: str, title: str = "Cost breakdown") -> str:
    """A horizontal stacked bar of the cost components with a legend (inline SVG)."""
    parts = [c for c in components if (c.get("cost") or 0) > 0]
    total = sum(float(c["cost"]) for c in parts)
    width, bar_w, left = 640.0, 600.0, 20.0
    height = 70 + 20 * max(1, len(parts))
    body = [f'<text x="{left}" y="18" style="font-weight:600">{escape(title)} '
            f"({escape(_num(total))} {escape(currency)})</text>"]
    x = left
    for c in parts:
        w = bar_w * float(c["cost"]) / total if total > 0 else 0.0
        color = _COLORS.get(str(c["name"]), "#b07aa1")
        share = float(c["cost"]) / total
        body.append(f'<rect x="{x:.1f}" y="28" width="{max(w, 0.5):.1f}" height="24" fill="{color}">'
                    f"<title>{escape(str(c['name']))}: {escape(_num(c['cost']))} {escape(currency)} "
                    f"({share:.1%})</title></rect>")
        x += w
    if not parts:
        body.append(f'<text x="{left}" y="44" fill="#888">no cost</text>')
    for i, c in enumerate(parts):
        y = 70 + 20 * i
        color = _COLORS.get(str(c["name"]), "#b07aa1")
        body.append(f'<rect x="{left}" y="{y - 10}" width="12" height="12" fill="{color}"/>'
                    f'<text x="{left + 18}" y="{y}">{escape(str(c["name"]).replace("_", " "))}: '
                    f"{escape(_num(c['cost']))} {escape(currency)} ({float(c['cost']) / total:.1%}), "
                    f"{escape(_num(c.get('hours'), ',.1f'))} h</text>")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" style="{_FONT}"><title>{escape(title)}</title>'
            + "".join(body) + "</svg>")


def _interval(d: Mapping[str, Any], fmt: str) -> str:
    est, lo, hi = d.get("estimate"), d.get("low"), d.get("high")
    if lo == hi == est:
        return escape(_num(est, fmt))
    return f"{escape(_num(est, fmt))} <small>[{escape(_num(lo, fmt))}, {escape(_num(hi, fmt))}]</small>"


def render_cost_section(result: Any, *, sourcing: Any = None) -> str:
    """An HTML ``<section>`` for the report's cost part.

    Args:
        result: A ``Forecast``, its ``to_dict()``, or ``{"forecast": ..., "sourcing": ...}``.
        sourcing: A ``SourcingDecision`` (or its dict), when not inside ``result``.

    Returns:
        Self-contained HTML (inline SVG, no scripts or external resources).
    """
    d = _as_dict(result)
    if "forecast" in d:
        sourcing = sourcing if sourcing is not None else d.get("sourcing")
        d = _as_dict(d["forecast"])
    s = _as_dict(sourcing)
    cur = str(d.get("currency", ""))
    pct = f"{float(d.get('confidence', 0.9)):.0%}"
    rows = [
        ("Production items", escape(_num(d.get("items"), ",d"))),
        ("Pricing model", escape(str(d.get("pricing_model", "")))),
        ("Time basis", escape(str(d.get("basis", "")))),
        (f"Seconds per pass ({pct} interval)", _interval(d.get("seconds_per_pass", {}), ",.1f")),
        (f"Total cost, {escape(cur)} ({pct} interval)", _interval(d.get("total_cost", {}), ",.2f")),
        (f"Cost per item, {escape(cur)}", escape(_num(d.get("cost_per_item"), ",.3f"))),
        (f"Total hours ({pct} interval)", _interval(d.get("total_hours", {}), ",.1f")),
        (f"Working days ({pct} interval)", _interval(d.get("working_days", {}), ",.1f")
         + f" <small>team of {escape(str(d.get('team_size')))}, {escape(_num(d.get('hours_per_day'), 'g'))} "
           f"h/day, {escape(_num(d.get('utilization'), '.0%'))} utilization</small>"),
    ]
    if d.get("pre_annotation_saving") is not None:
        rows.append((f"Pre-annotation saving, {escape(cur)}", escape(_num(d["pre_annotation_saving"]))))
    html = ['<section class="cost" id="cost"><h2>Cost and schedule</h2>',
            breakdown_svg(list(d.get("components", [])), currency=cur),
            "<table><tbody>"]
    html += [f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows]
    html.append("</tbody></table>")
    notes = d.get("notes") or []
    if notes:
        html.append("<ul>" + "".join(f"<li>{escape(str(n))}</li>" for n in notes) + "</ul>")
    if s:
        crit = list(s.get("weights", {}))
        html.append(f"<h3>In-house vs vendor vs hybrid: {escape(str(s.get('verdict', '')))}</h3>")
        html.append("<table><thead><tr><th>option</th><th>total cost</th><th>working days</th>"
                    + "".join(f"<th>{escape(c)} (w={escape(_num(s['weights'][c], 'g'))})</th>" for c in crit)
                    + "<th>weighted</th></tr></thead><tbody>")
        for o in s.get("options", []):
            name = str(o["option"])
            sc = s.get("scores", {}).get(name, {})
            html.append(f"<tr><td>{escape(name)}</td><td>{escape(_num(o['total']))} {escape(cur)}</td>"
                        f"<td>{escape(_num(o['working_days'], ',.1f'))}</td>"
                        + "".join(f"<td>{escape(_num(sc.get(c), '.2f'))}</td>" for c in crit)
                        + f"<td>{escape(_num(s.get('weighted', {}).get(name), '.2f'))}</td></tr>")
        html.append("</tbody></table><ul>"
                    + "".join(f"<li>{escape(str(x))}</li>" for x in s.get("explanation", [])) + "</ul>")
    html.append("</section>")
    return "".join(html)
