"""``accord cost``: pilot analysis, cost and calendar forecast, sourcing comparison, pilot gate."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from ._validate import agreement_arg, float_in, positive_int_arg, seed_arg, unit_interval_arg

logger = logging.getLogger(__name__)

_FORMATS = ["auto", "label-studio", "cvat", "coco", "jsonl", "parquet"]
_HOURS = float_in(0, 24, low_open=True)
_LEVEL = float_in(0, 1, low_open=True, high_open=True)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "cost",
        help="labeling cost: pilot times, forecast with intervals, in-house vs vendor, pilot gate",
        description=(
            "Turn a pilot into a defensible budget: robust time per item and per label from the "
            "pilot's durations, the effect of pre-annotation, a cost and calendar forecast for the "
            "production size with bootstrap intervals, in-house vs vendor vs hybrid, and a go / "
            "revise-guidelines gate."
        ),
        epilog="Example config with every key: accord cost example-config > pricing.toml",
    )
    cs = p.add_subparsers(dest="cost_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda a: _usage(p))

    def common(q: argparse.ArgumentParser, *, pilot_required: bool) -> None:
        q.add_argument("--pilot", nargs="+", type=Path, required=pilot_required, metavar="EXPORT",
                       help="pilot export file(s) (Label Studio JSON, CVAT XML or zip, COCO JSON, accord JSONL)")
        q.add_argument("--format", default="auto", choices=_FORMATS, help="pilot export format (default: auto)")
        q.add_argument("--label-config", type=Path, default=None, help="Label Studio labeling config XML")
        q.add_argument("--config", type=Path, default=None, help="cost config TOML (default: built-in defaults)")
        q.add_argument("--json", action="store_true", dest="as_json", help="print JSON instead of a table")

    def plan(q: argparse.ArgumentParser) -> None:
        q.add_argument("--items", type=positive_int_arg, required=True, help="production dataset size (items)")
        q.add_argument("--team-size", type=positive_int_arg, default=None, help="override team.size")
        q.add_argument("--hours-per-day", type=_HOURS, default=None, help="override team.hours_per_day")
        q.add_argument("--pre-annotation", action=argparse.BooleanOptionalAction, default=None,
                       help="override team.pre_annotation (production items come with predictions)")
        q.add_argument("--overlap", type=positive_int_arg, default=None, help="override qa.annotators_per_item")
        q.add_argument("--boot", type=positive_int_arg, default=2000, help="bootstrap replicates (default 2000)")
        q.add_argument("--confidence", type=_LEVEL, default=0.9, help="interval level (default 0.9)")
        q.add_argument("--seed", type=seed_arg, default=0, help="bootstrap seed (default 0)")

    e = cs.add_parser("estimate", help="forecast cost and calendar time for the production size")
    common(e, pilot_required=False)
    plan(e)
    e.add_argument("--compare", action="store_true", help="also compare in-house, vendor and hybrid")
    e.set_defaults(func=run_estimate)

    pp = cs.add_parser("pilot", help="time per item / label / annotator, conflicts, pre-annotation effect")
    common(pp, pilot_required=True)
    pp.set_defaults(func=run_pilot)

    c = cs.add_parser("compare", help="in-house vs vendor vs hybrid: TCO and weighted decision matrix")
    common(c, pilot_required=False)
    plan(c)
    c.set_defaults(func=run_compare)

    g = cs.add_parser("gate", help="go / revise-guidelines verdict from the pilot (exit 1 on revise)")
    common(g, pilot_required=False)
    g.add_argument("--agreement", type=agreement_arg, default=None, help="the pilot's inter-annotator agreement")
    g.add_argument("--gold-score", type=unit_interval_arg, default=None,
                   help="the pilot's mean score against gold (0..1)")
    g.add_argument("--no-qa", action="store_true",
                   help="do not compute agreement and gold scores with accord's QA report when neither is given")
    g.set_defaults(func=run_gate)

    x = cs.add_parser("example-config", help="print the documented example pricing.toml")
    x.set_defaults(func=run_example)


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return 2


def _config(args: argparse.Namespace) -> Any:
    from accord.core.cost import CostConfig, load_config

    cfg = load_config(args.config) if args.config is not None else CostConfig()
    team: dict[str, Any] = {}
    for flag, key in (("team_size", "size"), ("hours_per_day", "hours_per_day"), ("pre_annotation", "pre_annotation")):
        if getattr(args, flag, None) is not None:
            team[key] = getattr(args, flag)
    if team:
        cfg = dataclasses.replace(cfg, team=dataclasses.replace(cfg.team, **team))
    if getattr(args, "overlap", None) is not None:
        cfg = dataclasses.replace(cfg, qa=dataclasses.replace(cfg.qa, annotators_per_item=args.overlap))
    return cfg


def _pilot(args: argparse.Namespace) -> Any:
    if not args.pilot:
        return None
    from accord.core.cost import analyze_pilot

    from .io import load_dataset

    return analyze_pilot(load_dataset(args.pilot, format=args.format, label_config=args.label_config))


def _dump(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(_clean(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def _clean(o: Any) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_clean(v) for v in o]
    return o


def _money(v: float, cur: str) -> str:
    return f"{v:,.2f} {cur}"


def _n(v: float | None, fmt: str = ".1f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:{fmt}}"


def _print_forecast(fc: Any) -> None:
    w = sys.stdout.write
    cur = fc.currency
    pct = f"{fc.confidence:.0%}"
    w(f"Forecast for {fc.items:,} items ({fc.pricing_model}, {cur})\n  basis: {fc.basis}\n")
    sp = fc.seconds_per_pass
    w(f"  seconds per pass: {sp.estimate:.1f}  [{sp.low:.1f}, {sp.high:.1f}] {pct}\n")
    w(f"  passes (incl. overlap and gold): {fc.passes:,.0f}\n\n")
    w(f"  {'component':<16}{'hours':>12}{'cost':>18}\n")
    for c in fc.components:
        if c.cost or c.hours:
            w(f"  {c.name:<16}{c.hours:>12,.1f}{_money(c.cost, cur):>18}\n")
    tc, th, td = fc.total_cost, fc.total_hours, fc.working_days
    w(f"  {'total':<16}{th.estimate:>12,.1f}{_money(tc.estimate, cur):>18}\n\n")
    w(f"  total cost    {_money(tc.estimate, cur)}  [{tc.low:,.2f}, {tc.high:,.2f}] {pct}\n")
    w(f"  cost per item {_money(fc.cost_per_item, cur)}\n")
    w(f"  working days  {td.estimate:.1f}  [{td.low:.1f}, {td.high:.1f}] {pct}  "
      f"(team of {fc.team_size}, {fc.hours_per_day:g} h/day, {fc.utilization:.0%} utilization)\n")
    if fc.pre_annotation_saving is not None:
        w(f"  pre-annotation saves {_money(fc.pre_annotation_saving, cur)} (cost without - with predictions)\n")
    for n in fc.notes:
        w(f"  note: {n}\n")


def _print_decision(d: Any) -> None:
    w = sys.stdout.write
    w(f"\nSourcing ({d.currency})\n  {'option':<10}{'total':>18}{'days':>8}  "
      + "".join(f"{c:>10}" for c in d.weights) + f"{'weighted':>10}\n")
    for o in d.options:
        sc = d.scores[o.option]
        w(f"  {o.option:<10}{_money(o.total, d.currency):>18}{o.working_days:>8.1f}  "
          + "".join(f"{sc[c]:>10.2f}" for c in d.weights) + f"{d.weighted[o.option]:>10.2f}\n")
    w(f"  verdict: {d.verdict}\n")
    for line in d.explanation:
        w(f"  - {line}\n")


def run_estimate(args: argparse.Namespace) -> int:
    from accord.core.cost import compare_sourcing, forecast

    cfg = _config(args)
    fc = forecast(_pilot(args), cfg, items=args.items, n_boot=args.boot, confidence=args.confidence,
                  seed=args.seed)
    decision = compare_sourcing(fc, cfg) if args.compare else None
    if args.as_json:
        out = {"forecast": fc.to_dict()}
        if decision is not None:
            out["sourcing"] = decision.to_dict()
        _dump(out)
    else:
        _print_forecast(fc)
        if decision is not None:
            _print_decision(decision)
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from accord.core.cost import compare_sourcing, forecast

    cfg = _config(args)
    fc = forecast(_pilot(args), cfg, items=args.items, n_boot=args.boot, confidence=args.confidence,
                  seed=args.seed)
    d = compare_sourcing(fc, cfg)
    if args.as_json:
        _dump(d.to_dict())
    else:
        _print_decision(d)
    return 0


def run_pilot(args: argparse.Namespace) -> int:
    p = _pilot(args)
    if args.as_json:
        _dump(p.to_dict())
        return 0
    w = sys.stdout.write
    o = p.overall
    w(f"Pilot: {len(p.passes)} timed passes ({p.untimed_passes} untimed), {o.n_outliers} outlier(s) trimmed\n")
    w(f"  {'group':<28}{'passes':>8}{'median_s':>10}{'mean_s':>10}{'s/label':>10}{'items/h':>10}\n")
    rows = [("all", o)] + [(f"annotator {k}", v) for k, v in p.by_annotator.items()] \
        + [(f"kind {k}", v) for k, v in p.by_kind.items()]
    if len(p.by_kind) > 1:
        rows += [(f"{a} / {k}", v) for a, m in p.by_annotator_kind.items() for k, v in m.items()]
    for name, s in rows:
        w(f"  {name[:28]:<28}{s.n:>8}{_n(s.median_s):>10}{_n(s.mean_s):>10}{_n(s.seconds_per_label):>10}"
          f"{_n(s.items_per_hour):>10}\n")
    if p.items_with_overlap:
        w(f"  conflicts: {p.conflict_items} of {p.items_with_overlap} overlapping items "
          f"({p.conflict_rate:.1%})\n")
    pa = p.pre_annotation
    if pa.model_regions:
        saving = "n/a (needs passes with and without predictions)" if math.isnan(pa.time_saving_rate) \
            else f"{pa.time_saving_rate:.1%}"
        w(f"  pre-annotation: {pa.acceptance_rate:.1%} of predicted regions accepted unchanged, "
          f"edit rate {pa.edit_rate:.1%}, time saving {saving}\n")
    return 0


def run_gate(args: argparse.Namespace) -> int:
    from accord.core.cost import pilot_gate

    cfg = _config(args)
    agreement, gold = args.agreement, args.gold_score
    pilot = None
    if args.pilot:
        from accord.core.cost import analyze_pilot

        from .io import load_dataset

        dataset = load_dataset(args.pilot, format=args.format, label_config=args.label_config)
        pilot = analyze_pilot(dataset)
        if agreement is None and gold is None and not args.no_qa:
            from accord.core.qa.report import gate_figures

            agreement, gold = gate_figures(dataset)
    res = pilot_gate(pilot, thresholds=cfg.gate, agreement=agreement, gold_score=gold)
    if args.as_json:
        _dump(res.to_dict())
    else:
        sys.stdout.write(f"Pilot gate: {res.verdict.upper()}\n")
        for c in res.checks:
            sys.stdout.write(f"  [{c.status}] {c.message}\n")
    return 0 if res.verdict == "go" else 1


def run_example(args: argparse.Namespace) -> int:
    text = resources.files("accord.core").joinpath("data/pricing.example.toml").read_text(encoding="utf-8")
    sys.stdout.write(text)
    return 0
