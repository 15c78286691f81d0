"""Small, dependency-free SVG charts for the self-contained HTML report.

Each function returns an ``<svg>`` string with inline styles only (no
scripts, no external fonts), so the report opens offline and prints.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac")
FONT = "font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif"


def _fmt(v: float | None, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.{digits}f}"


def _svg(width: float, height: float, body: str, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width:.0f}" '
            f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" style="{FONT};font-size:12px">'
            f"<title>{escape(title)}</title>{body}</svg>")


def interval_bars(rows: Sequence[tuple[str, float | None, float | None, float | None]], *,
                  title: str, lo: float = -0.2, hi: float = 1.0,
                  bands: Sequence[tuple[float, float, str]] = ((0.0, 0.667, "#fdecea"),
                                                                 (0.667, 0.8, "#fff6e0"),
                                                                 (0.8, 1.0, "#eaf6ec"))) -> str:
    """Horizontal point estimates with interval whiskers: (label, estimate, low, high) rows.

    ``bands`` shade the value axis (by default Krippendorff's 0.667 / 0.8 guide lines).
    """
    label_w, plot_w, row_h, top = 230.0, 420.0, 26.0, 28.0
    height = top + row_h * max(1, len(rows)) + 30

    def x(v: float) -> float:
        return label_w + plot_w * (min(max(v, lo), hi) - lo) / (hi - lo)

    parts = [f'<text x="4" y="16" style="font-weight:600">{escape(title)}</text>']
    for a, b, color in bands:
        parts.append(f'<rect x="{x(a):.1f}" y="{top - 4}" width="{x(b) - x(a):.1f}" '
                     f'height="{row_h * max(1, len(rows)) + 4}" fill="{color}"/>')
    for t in (lo, 0.0, 0.5, 0.667, 0.8, hi):
        if lo <= t <= hi:
            parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top - 4}" '
                         f'y2="{top + row_h * max(1, len(rows))}" stroke="#ccc" stroke-width="1"/>'
                         f'<text x="{x(t):.1f}" y="{height - 10}" text-anchor="middle" fill="#555">'
                         f"{t:g}</text>")
    for i, (label, est, low, high) in enumerate(rows):
        y = top + row_h * i + row_h / 2
        parts.append(f'<text x="{label_w - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>')
        if est is None or not math.isfinite(est):
            parts.append(f'<text x="{x(lo) + 4:.1f}" y="{y + 4:.1f}" fill="#888">undefined</text>')
            continue
        if low is not None and high is not None and math.isfinite(low) and math.isfinite(high):
            parts.append(f'<line x1="{x(low):.1f}" x2="{x(high):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                         f'stroke="#333" stroke-width="2"/>')
            for v in (low, high):
                parts.append(f'<line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{y - 5:.1f}" y2="{y + 5:.1f}" '
                             f'stroke="#333" stroke-width="2"/>')
        parts.append(f'<circle cx="{x(est):.1f}" cy="{y:.1f}" r="5" fill="{PALETTE[0]}"/>'
                     f'<text x="{label_w + plot_w + 8}" y="{y + 4:.1f}">{_fmt(est, 3)}</text>')
    return _svg(label_w + plot_w + 60, height, "".join(parts), title)


def _heat_color(v: float, vmin: float, vmax: float) -> str:
    t = 0.0 if vmax <= vmin else (min(max(v, vmin), vmax) - vmin) / (vmax - vmin)
    # white -> blue
    r = int(255 - t * (255 - 33))
    g = int(255 - t * (255 - 102))
    b = int(255 - t * (255 - 172))
    return f"rgb({r},{g},{b})"


def heatmap(row_labels: Sequence[str], col_labels: Sequence[str],
            matrix: Sequence[Sequence[float | None]], *, title: str, vmin: float | None = None,
            vmax: float | None = None, digits: int = 2, xlabel: str = "", ylabel: str = "") -> str:
    """A labelled heat map with the value printed in each cell (None: grey)."""
    finite = [float(v) for row in matrix for v in row if v is not None and math.isfinite(float(v))]
    lo = vmin if vmin is not None else (min(finite) if finite else 0.0)
    hi = vmax if vmax is not None else (max(finite) if finite else 1.0)
    cell = 56.0
    left = 12 + 7.0 * max((len(s) for s in row_labels), default=4)
    top = 40 + 6.5 * min(18, max((len(s) for s in col_labels), default=4))
    parts = [f'<text x="4" y="16" style="font-weight:600">{escape(title)}</text>']
    for j, c in enumerate(col_labels):
        cx = left + cell * j + cell / 2
        parts.append(f'<text transform="translate({cx:.1f},{top - 6}) rotate(-40)">{escape(c[:24])}</text>')
    for i, r in enumerate(row_labels):
        y = top + cell * i
        parts.append(f'<text x="{left - 6}" y="{y + cell / 2 + 4:.1f}" text-anchor="end">{escape(r)}</text>')
        for j in range(len(col_labels)):
            v = matrix[i][j]
            ok = v is not None and math.isfinite(float(v))
            fill = _heat_color(float(v), lo, hi) if ok else "#eee"  # type: ignore[arg-type]
            dark = ok and (float(v) - lo) / ((hi - lo) or 1) > 0.6  # type: ignore[arg-type]
            parts.append(f'<rect x="{left + cell * j:.1f}" y="{y:.1f}" width="{cell - 2}" height="{cell - 2}" '
                         f'fill="{fill}"/><text x="{left + cell * j + cell / 2 - 1:.1f}" '
                         f'y="{y + cell / 2 + 4:.1f}" text-anchor="middle" fill="{"#fff" if dark else "#222"}">'
                         f"{_fmt(float(v), digits) if ok else '–'}</text>")  # type: ignore[arg-type]
    if xlabel:
        parts.append(f'<text x="{left + cell * len(col_labels) / 2:.1f}" y="{top + cell * len(row_labels) + 18}" '
                     f'text-anchor="middle" fill="#555">{escape(xlabel)}</text>')
    if ylabel:
        parts.append(f'<text x="4" y="{top - 8}" fill="#555">{escape(ylabel)}</text>')
    overhang = 5.5 * min(24, max((len(s) for s in col_labels), default=4))
    return _svg(left + cell * len(col_labels) + 20 + overhang, top + cell * len(row_labels) + 28,
                "".join(parts), title)


def stacked_bars(rows: Mapping[str, Mapping[str, float]], *, title: str,
                 order: Sequence[str] | None = None) -> str:
    """Horizontal stacked bars: one bar per row key, one segment per series key, with a legend."""
    series = list(order or sorted({k for r in rows.values() for k in r}))
    total_max = max((sum(r.values()) for r in rows.values()), default=0.0) or 1.0
    label_w, plot_w, row_h, top = 190.0, 420.0, 24.0, 30.0
    legend_h = 18.0 * math.ceil(len(series) / 3)
    height = top + row_h * max(1, len(rows)) + legend_h + 16
    parts = [f'<text x="4" y="16" style="font-weight:600">{escape(title)}</text>']
    for i, (name, r) in enumerate(rows.items()):
        y = top + row_h * i
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{escape(name)}</text>')
        x0 = label_w
        for k, s in enumerate(series):
            v = float(r.get(s, 0))
            if v <= 0:
                continue
            w = plot_w * v / total_max
            parts.append(f'<rect x="{x0:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
                         f'fill="{PALETTE[k % len(PALETTE)]}"><title>{escape(s)}: {v:g}</title></rect>')
            x0 += w
        parts.append(f'<text x="{x0 + 6:.1f}" y="{y + 15}" fill="#333">{sum(r.values()):g}</text>')
    ly = top + row_h * max(1, len(rows)) + 10
    for k, s in enumerate(series):
        lx = label_w + (k % 3) * 150
        yy = ly + 18 * (k // 3)
        parts.append(f'<rect x="{lx}" y="{yy}" width="12" height="12" fill="{PALETTE[k % len(PALETTE)]}"/>'
                     f'<text x="{lx + 16}" y="{yy + 10}">{escape(s)}</text>')
    return _svg(label_w + plot_w + 80, height, "".join(parts), title)


def line_chart(xs: Sequence[float], series: Mapping[str, Sequence[float]], *, title: str,
               xlabel: str, ylabel: str, ymax: float = 1.0,
               marks: Sequence[tuple[float, str]] = ()) -> str:
    """Lines over a shared x axis (e.g. an operating-characteristic curve); vertical ``marks``."""
    left, top, w, h = 56.0, 28.0, 440.0, 220.0
    xmax = max(xs) if xs else 1.0
    xmin = min(xs) if xs else 0.0
    span = (xmax - xmin) or 1.0

    def px(x: float) -> float:
        return left + w * (x - xmin) / span

    def py(y: float) -> float:
        return top + h * (1 - y / ymax)

    parts = [f'<text x="4" y="16" style="font-weight:600">{escape(title)}</text>',
             f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#999"/>']
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{py(t * ymax):.1f}" y2="{py(t * ymax):.1f}" '
                     f'stroke="#eee"/><text x="{left - 6}" y="{py(t * ymax) + 4:.1f}" text-anchor="end">'
                     f"{t * ymax:g}</text>")
    for k in range(5):
        xv = xmin + span * k / 4
        parts.append(f'<text x="{px(xv):.1f}" y="{top + h + 16}" text-anchor="middle">{xv:.3g}</text>')
    for k, (name, ys) in enumerate(series.items()):
        pts = " ".join(f"{px(x):.1f},{py(min(y, ymax)):.1f}" for x, y in zip(xs, ys, strict=False))
        color = PALETTE[k % len(PALETTE)]
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>'
                     f'<text x="{left + w - 4}" y="{top + 14 + 14 * k}" text-anchor="end" fill="{color}">'
                     f"{escape(name)}</text>")
    for xv, label in marks:
        parts.append(f'<line x1="{px(xv):.1f}" x2="{px(xv):.1f}" y1="{top}" y2="{top + h}" stroke="#e15759" '
                     f'stroke-dasharray="4 3"/><text x="{px(xv) + 4:.1f}" y="{top + h - 6}" fill="#e15759">'
                     f"{escape(label)}</text>")
    parts.append(f'<text x="{left + w / 2}" y="{top + h + 34}" text-anchor="middle" fill="#555">{escape(xlabel)}</text>'
                 f'<text transform="translate(14,{top + h / 2}) rotate(-90)" text-anchor="middle" fill="#555">'
                 f"{escape(ylabel)}</text>")
    return _svg(left + w + 20, top + h + 44, "".join(parts), title)


def histogram(values: Sequence[float | None], *, title: str, lo: float = -0.2, hi: float = 1.0,
              bins: int = 24, xlabel: str = "") -> str:
    """Counts of ``values`` in ``bins`` equal bins over ``[lo, hi]`` (values outside are clamped)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    counts = [0] * bins
    for v in finite:
        k = int((min(max(v, lo), hi) - lo) / (hi - lo) * bins) if hi > lo else 0
        counts[min(k, bins - 1)] += 1
    left, plot_w, plot_h, top = 36.0, 420.0, 140.0, 28.0
    peak = max(counts) or 1
    bar_w = plot_w / bins
    parts = [f'<text x="4" y="16" style="font-weight:600">{escape(title)}</text>',
             f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" fill="#555">{peak}</text>',
             f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" fill="#555">0</text>']
    for k, c in enumerate(counts):
        h = plot_h * c / peak
        x0 = left + bar_w * k
        a, b = lo + (hi - lo) * k / bins, lo + (hi - lo) * (k + 1) / bins
        parts.append(f'<rect x="{x0:.1f}" y="{top + plot_h - h:.1f}" width="{max(bar_w - 1, 0.5):.1f}" '
                     f'height="{h:.1f}" fill="{PALETTE[0]}"><title>{a:.2f} to {b:.2f}: {c}</title></rect>')
    for t in (lo, 0.0, 0.5, hi):
        if lo <= t <= hi:
            x = left + plot_w * (t - lo) / (hi - lo)
            parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle" fill="#555">{t:g}</text>')
    if xlabel:
        parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 32}" text-anchor="middle">'
                     f"{escape(xlabel)} (n={len(finite)})</text>")
    return _svg(left + plot_w + 20, top + plot_h + 40, "".join(parts), title)
