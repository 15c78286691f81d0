"""The accord QA panel: error taxonomy and agreement per field, with buttons that open the views."""

from __future__ import annotations

from typing import Any

import fiftyone.operators as foo
import fiftyone.operators.types as types
from fiftyone import ViewField as F

_FRAMES = "frames."


def _summary(ctx: Any, key: str = "accord") -> dict[str, Any]:
    if ctx.dataset is None:
        return {}
    return dict((ctx.dataset.info or {}).get(key) or {})


def taxonomy_markdown(summary: dict[str, Any]) -> str:
    """Markdown tables of agreement per field and counts by category x label x field."""
    dis = summary.get("disagreement")
    if not dis:
        return ("No accord results yet. Run **accord: compute disagreement between label fields** "
                "from the operator browser (backtick key).")
    where = f", {dis['n_frames']} frames" if dis.get("n_frames") is not None else ""
    lines = [f"**Agreement** (reference: `{dis['reference_field']}`, {dis['kind']}{where})", "",
             "| field | mean agreement | tp | reference | candidate |", "|---|---|---|---|---|"]
    for f, a in dis["agreement_by_field"].items():
        shown = "n/a" if a is None else f"{a:.3f}"
        lines.append(f"| `{f}` | {shown} | {dis['tp'].get(f, 0)} | {dis['n_reference'].get(f, 0)} | "
                     f"{dis['n_candidate'].get(f, 0)} |")
    mean = dis.get("agreement_mean")
    lines += ["", f"Mean per-sample agreement: **{'n/a' if mean is None else f'{mean:.3f}'}** over "
              f"{dis['n_scored']} of {dis['n_samples']} samples; {dis['n_tagged']} tagged `{dis['tag']}`.", ""]
    cells = dis["taxonomy"]["cells"]
    if cells:
        lines += ["**Error taxonomy** (category x label x field)", "", "| category | label | field | count |",
                  "|---|---|---|---|"]
        for c in sorted(cells, key=lambda c: (-c["count"], c["category"], c["label"])):
            lines.append(f"| {c['category']} | {c['label']} | `{c['annotator_id']}` | {c['count']} |")
    else:
        lines.append("No discrepancies.")
    le = summary.get("label_errors")
    if le:
        lines += ["", f"**Label errors** ({le['mode']})", "",
                  f"{le['n_issues']} flagged of {le['n_labels']} labels: "
                  + ", ".join(f"{k}: {v}" for k, v in sorted(le["by_issue"].items()))]
    return "\n".join(lines)


def taxonomy_plot(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Plotly traces: one bar series per field, counts by category."""
    dis = summary.get("disagreement") or {}
    cells = (dis.get("taxonomy") or {}).get("cells") or []
    cats = sorted({c["category"] for c in cells})
    traces = []
    for f in sorted({c["annotator_id"] for c in cells}):
        counts = dict.fromkeys(cats, 0)
        for c in cells:
            if c["annotator_id"] == f:
                counts[c["category"]] += c["count"]
        traces.append({"type": "bar", "name": f, "x": cats, "y": [counts[c] for c in cats]})
    return traces


class AccordQAPanel(foo.Panel):  # type: ignore[misc]
    """Error taxonomy and agreement per field, with buttons opening the matching views."""

    @property
    def config(self) -> foo.PanelConfig:
        return foo.PanelConfig(name="accord_qa_panel", label="accord QA", icon="fact_check",
                               help_markdown="Agreement and error taxonomy computed by accord's operators.")

    def on_load(self, ctx: Any) -> None:
        summary = _summary(ctx)
        ctx.panel.state.summary_md = taxonomy_markdown(summary)
        ctx.panel.data.taxonomy_plot = taxonomy_plot(summary)
        dis = summary.get("disagreement") or {}
        cells = (dis.get("taxonomy") or {}).get("cells") or []
        ctx.panel.state.categories = sorted({c["category"] for c in cells})

    def on_change_dataset(self, ctx: Any) -> None:
        self.on_load(ctx)

    def refresh(self, ctx: Any) -> None:
        self.on_load(ctx)

    def open_disagreement(self, ctx: Any) -> None:
        name = (_summary(ctx).get("disagreement") or {}).get("view_name") or "accord_disagreement"
        ctx.ops.set_view(name=name)

    def open_label_errors(self, ctx: Any) -> None:
        name = (_summary(ctx).get("label_errors") or {}).get("view_name") or "accord_label_errors"
        ctx.ops.set_view(name=name)

    def open_category(self, ctx: Any) -> None:
        """Show the labels of one error category (``params.category``) in every compared field.

        Segmentations: the samples whose masks have a class of that category. Video frame
        fields: the frames that have such a label.
        """
        category = ctx.params.get("category")
        dis = _summary(ctx).get("disagreement") or {}
        fields = [dis.get("reference_field"), *dis.get("candidate_fields", [])]
        frames = any(str(f).startswith(_FRAMES) for f in fields)
        view = ctx.dataset.view()
        list_attr = {"detections": "detections", "polylines": "polylines", "keypoints": "keypoints"}.get(dis["kind"])
        matches = []
        for f in fields:
            path = f[len(_FRAMES):] if frames else f  # relative to the frame for frame fields
            if list_attr:
                view = view.filter_labels(f, F("accord_category") == category, only_matches=False)
                matches.append(F(f"{path}.{list_attr}").filter(F("accord_category") == category).length() > 0)
            elif dis["kind"] == "segmentation":
                matches.append(F(f"{path}.accord_categories").filter(F() == category).length() > 0)
            else:
                matches.append(F(f"{path}.accord_category") == category)
        expr = matches[0]
        for m in matches[1:]:
            expr = expr | m
        ctx.ops.set_view(view=view.match_frames(expr) if frames else view.match(expr))

    def render(self, ctx: Any) -> types.Property:
        panel = types.Object()
        row = panel.h_stack("actions", gap=1)
        row.btn("refresh", label="Refresh", on_click=self.refresh, variant="outlined")
        row.btn("open_disagreement", label="Open disagreement view", on_click=self.open_disagreement,
                variant="contained")
        row.btn("open_label_errors", label="Open label errors view", on_click=self.open_label_errors,
                variant="outlined")
        cats = ctx.panel.state.categories or []
        if cats:
            crow = panel.h_stack("categories", gap=1)
            for c in cats:
                crow.btn(f"cat_{c}", label=f"Show {c}", on_click=self.open_category, params={"category": c},
                         variant="outlined")
        panel.plot("taxonomy_plot", layout={"title": "Discrepancies by category and field", "barmode": "group",
                                            "height": 320}, config={"displayModeBar": False})
        panel.md(ctx.panel.state.summary_md or "", name="summary_md")
        return types.Property(panel, view=types.GridView(height=100, width=100, orientation="vertical"))
