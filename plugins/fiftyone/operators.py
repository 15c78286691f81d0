"""FiftyOne operators: thin wrappers over :mod:`.qa` (inputs -> call -> reload the App)."""

from __future__ import annotations

from typing import Any

import fiftyone.operators as foo
import fiftyone.operators.types as types

from .qa import (
    PRICING_FIELDS,
    compute_consensus,
    compute_disagreement,
    estimate_review_cost,
    find_label_errors,
    review_cost_config,
    sample_for_review,
)

_SUPPORTED = ("Classification", "Detections", "Polylines", "Keypoints", "Segmentation")


def _label_fields(ctx: Any) -> list[str]:
    """Top-level label fields of supported kinds in the current dataset (``frames.*`` ones of a video)."""
    if ctx.dataset is None:
        return []
    schemas = [("", ctx.dataset.get_field_schema())]
    if ctx.dataset._has_frame_fields():
        schemas.append(("frames.", ctx.dataset.get_frame_field_schema()))
    out = []
    for prefix, schema in schemas:
        for name, f in schema.items():
            doc = getattr(getattr(f, "document_type", None), "__name__", "")
            if doc in _SUPPORTED:
                out.append(prefix + name)
    return out


def _choices(names: list[str]) -> types.Choices:
    ch = types.Dropdown()
    for n in names:
        ch.add_choice(n, label=n)
    return ch


def _reload(ctx: Any) -> None:
    """Ask the App (if any) to reload; a no-op when the operator runs from Python."""
    ctx.ops.reload_dataset()


def _params(ctx: Any, **defaults: Any) -> dict[str, Any]:
    """The operator's params over its defaults (programmatic calls may omit any of them)."""
    return {**defaults, **{k: v for k, v in (ctx.params or {}).items() if v is not None and v != ""}}


def _target(ctx: Any) -> Any:
    return ctx.target_view() if hasattr(ctx, "target_view") else ctx.view


class ComputeDisagreement(foo.Operator):  # type: ignore[misc]
    """Agreement between two or more label fields, per sample and per label."""

    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(
            name="compute_disagreement", allow_delegated_execution=True, allow_immediate_execution=True,
            label="accord: compute disagreement between label fields",
            dynamic=True, icon="compare",
        )

    def resolve_input(self, ctx: Any) -> types.Property:
        inputs = types.Object()
        fields = _label_fields(ctx)
        inputs.list("fields", types.String(), required=True, default=fields[:2],
                    label="Label fields (first = reference)",
                    description=f"two or more of: {', '.join(fields) or 'no label fields found'}")
        inputs.float("iou_threshold", default=0.5, min=0.0, max=1.0, label="IoU / OKS threshold")
        inputs.float("localization_threshold", default=0.75, min=0.0, max=1.0,
                     label="Poor localization below")
        inputs.float("agreement_threshold", default=0.8, min=0.0, max=1.0, label="Tag samples below")
        inputs.bool("compute_metadata", default=True, label="Compute missing image sizes",
                    description="keypoint OKS and open polylines are compared in pixels")
        inputs.str("key", default="accord", label="Field prefix")
        inputs.str("tag", default="accord:disagreement", label="Tag")
        inputs.str("view_name", default="accord_disagreement", label="Saved view")
        return types.Property(inputs, view=types.View(label="accord: disagreement"))

    def execute(self, ctx: Any) -> dict[str, Any]:
        p = _params(ctx, key="accord", tag="accord:disagreement", view_name="accord_disagreement")
        res = compute_disagreement(
            _target(ctx), list(p["fields"]), iou_threshold=float(p.get("iou_threshold", 0.5)),
            localization_threshold=float(p.get("localization_threshold", 0.75)),
            agreement_threshold=float(p.get("agreement_threshold", 0.8)), key=p["key"], tag=p["tag"],
            view_name=p["view_name"], compute_metadata=bool(p.get("compute_metadata", True)),
        )
        _reload(ctx)
        return res.to_dict()

    def resolve_output(self, ctx: Any) -> types.Property:
        outputs = types.Object()
        outputs.float("agreement_mean", label="Mean agreement")
        outputs.int("n_frames", label="Frames compared")
        outputs.int("n_tagged", label="Samples tagged")
        outputs.obj("agreement_by_field", label="Agreement by field", view=types.JSONView())
        return types.Property(outputs)


class ComputeConsensus(foo.Operator):  # type: ignore[misc]
    """Skill-weighted consensus of annotator label fields, written as a new label field."""

    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(
            name="compute_consensus", allow_delegated_execution=True, allow_immediate_execution=True,
            label="accord: compute weighted consensus of label fields", dynamic=True, icon="merge",
        )

    def resolve_input(self, ctx: Any) -> types.Property:
        inputs = types.Object()
        fields = [f for f in _label_fields(ctx) if not f.startswith("frames.")]
        inputs.list("fields", types.String(), required=True, default=fields[:3], label="Annotator fields",
                    description=f"two or more fields of one type, one per annotator: {', '.join(fields) or 'none'}")
        inputs.str("out_field", default="accord_consensus", label="Consensus field (written)")
        inputs.str("gold_field", label="Gold field (optional)",
                   description="annotators are weighted by their score on the samples it labels")
        inputs.list("skill_fields", types.String(), label="Skill fields (optional, boxes and keypoints)",
                    description="one Classification field per annotator field: their class skill weighs them")
        inputs.float("iou_threshold", default=0.5, min=0.0, max=1.0, label="IoU / OKS threshold")
        inputs.int("min_annotators", default=2, min=2, label="Annotators a sample needs")
        inputs.str("key", default="accord", label="dataset.info key")
        return types.Property(inputs, view=types.View(label="accord: weighted consensus"))

    def execute(self, ctx: Any) -> dict[str, Any]:
        p = _params(ctx, out_field="accord_consensus", key="accord")
        res = compute_consensus(
            _target(ctx), list(p["fields"]), out_field=p["out_field"], gold_field=p.get("gold_field"),
            skill_fields=list(p["skill_fields"]) if p.get("skill_fields") else None,
            iou_threshold=float(p.get("iou_threshold", 0.5)), min_annotators=int(p.get("min_annotators", 2)),
            key=p["key"],
        )
        _reload(ctx)
        return res.to_dict()

    def resolve_output(self, ctx: Any) -> types.Property:
        outputs = types.Object()
        outputs.int("n_written", label="Samples written")
        outputs.int("n_labels", label="Consensus labels")
        outputs.str("method", label="Method")
        outputs.obj("weights", label="Annotator weights", view=types.JSONView())
        return types.Property(outputs)


class FindLabelErrors(foo.Operator):  # type: ignore[misc]
    """Label errors from predictions: confident learning or matching-based flags."""

    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(
            name="find_label_errors", allow_delegated_execution=True, allow_immediate_execution=True,
            label="accord: find label errors", dynamic=True, icon="bug_report",
        )

    def resolve_input(self, ctx: Any) -> types.Property:
        inputs = types.Object()
        fields = _label_fields(ctx)
        inputs.enum("label_field", fields, required=True, label="Labels", view=_choices(fields))
        inputs.enum("pred_field", fields, required=True, label="Predictions", view=_choices(fields))
        inputs.float("iou_threshold", default=0.5, min=0.0, max=1.0, label="IoU threshold (detections)")
        inputs.float("min_confidence", default=0.5, min=0.0, max=1.0, label="Min confidence (detections)")
        inputs.str("key", default="accord", label="Field prefix")
        return types.Property(inputs, view=types.View(label="accord: label errors"))

    def execute(self, ctx: Any) -> dict[str, Any]:
        p = _params(ctx, key="accord", tag="accord:label_error", view_name="accord_label_errors")
        res = find_label_errors(
            _target(ctx), p["label_field"], p["pred_field"], iou_threshold=float(p.get("iou_threshold", 0.5)),
            min_confidence=float(p.get("min_confidence", 0.5)), key=p["key"], tag=p["tag"],
            view_name=p["view_name"],
        )
        _reload(ctx)
        return res.to_dict()


class SampleForReview(foo.Operator):  # type: ignore[misc]
    """Choose samples for review: random, stratified, disagreement-weighted, uncertainty, acceptance."""

    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(name="sample_for_review", label="accord: sample for review",
                                  dynamic=True, icon="fact_check")

    def resolve_input(self, ctx: Any) -> types.Property:
        inputs = types.Object()
        methods = ["random", "stratified", "disagreement", "uncertainty", "acceptance"]
        inputs.enum("method", methods, default="random", required=True, label="Method", view=_choices(methods))
        inputs.int("size", default=50, min=0, required=True, label="Samples")
        inputs.int("seed", default=0, label="Seed")
        inputs.str("stratify_field", label="Stratify by (stratified)")
        inputs.str("score_field", default="accord_agreement", label="Score field (disagreement, uncertainty)")
        inputs.str("tag", default="accord:review", label="Tag")
        inputs.str("view_name", default="accord_review", label="Saved view")
        return types.Property(inputs, view=types.View(label="accord: sample for review"))

    def execute(self, ctx: Any) -> dict[str, Any]:
        p = _params(ctx, tag="accord:review", view_name="accord_review", score_field="accord_agreement")
        res = sample_for_review(
            _target(ctx), int(p.get("size", 50)), method=p.get("method", "random"), seed=int(p.get("seed", 0)),
            stratify_field=p.get("stratify_field"), score_field=p["score_field"], tag=p["tag"],
            view_name=p["view_name"],
        )
        _reload(ctx)
        return {"method": res.method, "n_selected": len(res.sample_ids), "n_population": res.n_population,
                "sample_ids": list(res.sample_ids), "view_name": res.view_name}


class EstimateReviewCost(foo.Operator):  # type: ignore[misc]
    """Review time and cost of the current view."""

    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(name="estimate_review_cost", label="accord: estimate review cost",
                                  dynamic=True, icon="payments")

    def resolve_input(self, ctx: Any) -> types.Property:
        inputs = types.Object()
        fields = _label_fields(ctx)
        inputs.list("fields", types.String(), default=fields[:1], required=True, label="Label fields to review")
        inputs.str("pricing_config", label="Cost config (TOML path)",
                   description="accord's cost config (see pricing.example.toml); uses accord.core.cost")
        models = ["per_label", "per_hour", "per_task", "per_project"]
        inputs.enum("pricing_model", models, label="Pricing model (overrides the config's)", view=_choices(models))
        for name, label in (("rate_per_label", "Rate per label"), ("rate_per_hour", "Rate per hour"),
                            ("rate_per_task", "Rate per item reviewed"), ("rate_per_item", "Rate per item (project)"),
                            ("fixed_fee", "Fixed fee"), ("minimum_charge", "Minimum charge")):
            inputs.float(name, min=0.0, label=label)
        inputs.str("currency", label="Currency (with a pricing config)")
        inputs.float("seconds_per_label", default=4.0, min=0.0, label="Seconds per label (without pricing)")
        inputs.float("seconds_per_sample", default=2.0, min=0.0, label="Seconds per sample (without pricing)")
        inputs.float("hourly_rate_usd", label="Hourly rate in USD (without pricing)")
        return types.Property(inputs, view=types.View(label="accord: review cost"))

    def execute(self, ctx: Any) -> dict[str, Any]:
        p = _params(ctx)
        inline = {f: p[f] for f in PRICING_FIELDS if f != "model" and f in p}
        if "pricing_model" in p:
            inline["model"] = p["pricing_model"]
        pricing = None
        if p.get("pricing_config") or inline:
            pricing = review_cost_config(p.get("pricing_config"), currency=p.get("currency"),
                                         **{k: v if k == "model" else float(v) for k, v in inline.items()})
        rate = p.get("hourly_rate_usd")
        res = estimate_review_cost(
            _target(ctx), list(p["fields"]), seconds_per_label=float(p.get("seconds_per_label", 4.0)),
            seconds_per_sample=float(p.get("seconds_per_sample", 2.0)),
            hourly_rate_usd=None if rate is None else float(rate), pricing=pricing,
        )
        return res.to_dict()

    def resolve_output(self, ctx: Any) -> types.Property:
        outputs = types.Object()
        outputs.int("n_samples", label="Items")
        outputs.int("n_labels", label="Labels")
        outputs.float("duration_h", label="Hours")
        outputs.float("cost", label="Cost")
        outputs.str("currency", label="Currency")
        outputs.str("pricing_model", label="Pricing model")
        outputs.obj("labels_by_kind", label="Labels by kind", view=types.JSONView())
        return types.Property(outputs)
