"""``accord report``: the QA report for one or more exports."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from pathlib import Path
from typing import Any

from accord.core.errors import ConversionError

from ._validate import agreement_arg, positive_int_arg, read_previous_report, read_text, seed_arg, unit_interval_arg
from .atomic import write_atomic, write_text_atomic

logger = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report",
        help="QA report (agreement, gold, taxonomy, consensus, conflicts, sampling, bias, checks)",
        description=(
            "Build the QA report for annotation exports: agreement per label set with intervals, "
            "gold scores per annotator, every discrepancy classified into the error taxonomy, "
            "consensus labels, the conflict queue, spot-check and acceptance sampling, bias across "
            "metadata groups and rule-based checks. Writes JSON for machines and a self-contained "
            "HTML page for people."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", type=_input, metavar="INPUT",
                   help="export files (Label Studio JSON, CVAT XML or zip, COCO JSON, accord JSONL, accord "
                        "Parquet); a quoted pattern such as 'shards/*.json' is expanded; with --dask, also URLs "
                        "that fsspec reads ('s3://bucket/shards/*.json', with s3fs installed)")
    p.add_argument("--format", default="auto",
                   choices=["auto", "label-studio", "cvat", "coco", "jsonl", "parquet"], help="input format")
    p.add_argument("--label-config", type=Path, default=None,
                   help="Label Studio labeling config XML (else looked for beside the export)")
    p.add_argument("--reference", type=Path, default=None,
                   help="a gold export whose annotations are the reference (CVAT, COCO)")
    p.add_argument("--join-items", action="store_true",
                   help="join items with equal ids across inputs from different tools (by default item ids are "
                        "namespaced by tool, e.g. 'label-studio:1' and 'coco:1', as tools number items "
                        "independently)")
    p.add_argument("--json", type=Path, default=None, dest="json_path", help="write the JSON report here")
    p.add_argument("--html", type=Path, default=None, help="write the HTML report here")
    p.add_argument("--config", type=Path, default=None,
                   help="TOML with [report] thresholds and a [taxonomy] extension")
    p.add_argument("--no-checks", action="store_true", help="skip the rule-based checks")
    p.add_argument("--cost-config", type=Path, default=None,
                   help="pricing and plan TOML for the cost section (see 'accord cost example-config')")
    p.add_argument("--items", type=positive_int_arg, default=None,
                   help="production dataset size to forecast the cost of (default: the input's items)")
    p.add_argument("--previous", type=Path, default=None,
                   help="an earlier report.json: show how each error category changed since")
    p.add_argument("--resolutions", type=Path, default=None,
                   help="the 'accord resolve' log, for guideline hot spots")
    p.add_argument("--grades", type=Path, default=None, metavar="CSV",
                   help="reviewers' grades of the spot-check sample (columns item_id, annotator_id, grade "
                        "pass/fail): the batch's and each annotator's error rate with intervals")
    p.add_argument("--pred-probs", type=Path, default=None, metavar="FILE",
                   help="model class probabilities (out-of-sample) for label-error detection: JSON Lines "
                        "rows {item_id, label_set, probabilities: {class: p}}, or CSV item_id[,label_set],"
                        "<one column per class>")
    p.add_argument("--keypoint-sigma", action="append", default=None, metavar="[NAME=]SIGMA",
                   help="OKS falloff for keypoints: a number sets it for every keypoint without one (default "
                        "0.05; CVAT names points 0, 1, ...), NAME=SIGMA for one name; repeatable. Overrides "
                        "[report] default_keypoint_sigma / keypoint_sigmas in --config")
    p.add_argument("--ambiguity-threshold", type=unit_interval_arg, default=None, metavar="H",
                   help="classification items whose difficulty (a normalised entropy in [0, 1]) is above H are "
                        "ambiguous: listed with their soft label and left out of the conflict queue (default 0.8; "
                        "1 turns it off). Overrides [report] ambiguity_threshold in --config")
    p.add_argument("--segmentation-method", choices=["vote", "em"], default=None,
                   help="how masks and polygons are fused into the consensus: vote (the pixel-wise weighted vote, "
                        "default) or em (SegmentationEM, which learns each annotator's skill from the masks). "
                        "Overrides [report] segmentation_method in --config")
    p.add_argument("--soft-labels", type=Path, default=None, metavar="JSONL",
                   help="write every classification item's soft label here for training: one JSON object a line, "
                        "{item, label_set, distribution: {class: share}, ambiguous}")
    p.add_argument("--seed", type=seed_arg, default=0, help="seed for bootstrap and samples")
    p.add_argument("--dask", nargs="?", const="", default=None, metavar="SPEC",
                   help="read the inputs and compute class agreement on a Dask cluster (needs accord[dask]; same "
                        "report): local[:N] starts N worker processes here, tcp://HOST:PORT uses a running "
                        "scheduler, --dask alone reads $DASK_SCHEDULER_ADDRESS")
    p.add_argument("--skip-bad-partitions", action="store_true",
                   help="with --dask: leave out input partitions that fail to parse and say so in the report "
                        "(cluster.skipped), instead of stopping")
    p.add_argument("--fail-under", type=agreement_arg, default=None,
                   help="exit 1 when any label set's primary agreement is below this")
    p.add_argument("--ledger", action=argparse.BooleanOptionalAction, default=None,
                   help="record this run (input snapshot, config, seed, headline figures, report file hashes) in "
                        "the ledger; default: when a ledger exists (--db, $ACCORD_DB or .accord/ledger.db)")
    p.add_argument("--db", metavar="URL", default=None, help="the ledger database URL (see 'accord ledger')")
    p.add_argument("--trend", action="store_true",
                   help="add a trend section: agreement (with intervals) and error counts per label set across the "
                        "QA runs recorded in the ledger and their snapshot tags, this report last (needs a ledger)")
    p.set_defaults(func=run)


def _input(text: str) -> Path | str:
    """An INPUT argument: a URL stays a string (a Path would fold its '//')."""
    from accord.cluster.remote import is_url

    return text if is_url(text) else Path(text)


def report_json(report: dict[str, Any]) -> bytes:
    """The report as indented UTF-8 JSON. With orjson installed (``accord[cli]``) it is encoded
    about 30x faster than by the standard library, whose indenting encoder is pure Python (about
    1 s per 15 MB of report, 100,000 annotations): the same document, parsed; numbers may be
    spelled differently (``8.8e-05`` against ``0.000088``)."""
    try:
        import orjson

        return orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
                            | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE)
    except ImportError:
        pass
    except TypeError:  # orjson.JSONEncodeError: a value orjson does not take (an int past 64 bits)
        pass
    return (json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def write_outputs(report: dict[str, Any], *, json_path: Path | None, html_path: Path | None) -> None:
    from .report_html import render_html

    if json_path is not None:
        write_atomic(json_path, [report_json(report)])
        logger.info("wrote %s", json_path)
    if html_path is not None:
        write_text_atomic(html_path, render_html(report))
        logger.info("wrote %s", html_path)


def print_summary(report: dict[str, Any]) -> None:
    s = report["summary"]
    out = sys.stdout
    out.write(f"{s['dataset']}: {s['n_items']} items, {s['n_annotators']} annotators, "
              f"{len(s['label_sets'])} label sets, {s['n_conflicts']} conflicts, "
              f"{s['n_discrepancies']} classified discrepancies\n")
    for name, a in report["agreement"].items():
        main = a.get("primary")
        c = a["coefficients"].get(main) if main else None
        if not c:
            continue
        est, lo, hi = c.get("estimate"), c.get("low"), c.get("high")
        value = "undefined" if est is None else f"{est:.3f}"
        if est is not None and lo is not None and hi is not None:
            value += f" [{lo:.3f}, {hi:.3f}]"
        out.write(f"  {name:<24} {main:<22} {value}\n")
    for h in s.get("headline", []):
        out.write(f"  - {h}\n")
    if s.get("headline_more"):
        out.write(f"  ... and {len(s['headline_more'])} more, lower impact (summary.headline_more in the JSON, "
                  "or the HTML report)\n")


def below_threshold(report: dict[str, Any], threshold: float | None) -> list[str]:
    if threshold is None:
        return []
    bad = []
    for name, a in report["agreement"].items():
        c = a["coefficients"].get(a.get("primary") or "", {})
        if c.get("estimate") is not None and c["estimate"] < threshold:
            bad.append(name)
    return bad


def exit_code(report: dict[str, Any], fail_under: float | None) -> int:
    """1 (and a line on stderr) when a label set's primary agreement is below ``fail_under``, else 0."""
    bad = below_threshold(report, fail_under)
    if bad:
        sys.stderr.write(f"accord: agreement below {fail_under} for: {', '.join(bad)}\n")
        return 1
    return 0


def _prob_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """Rows ``{item_id, label_set?, probabilities}`` from JSON Lines, JSON or CSV."""
    text = read_text(path, what="--pred-probs file")
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        fields = reader.fieldnames or []
        if "item_id" not in fields:
            raise ConversionError(f"{path}: the CSV needs an item_id column and one column per class, "
                                  f"got columns {fields!r}")
        classes = [f for f in fields if f not in ("item_id", "label_set")]
        rows = []
        for n, row in enumerate(reader, start=2):
            try:
                probs = {c: float(row[c]) for c in classes if row.get(c) not in (None, "")}
            except ValueError as e:
                raise ConversionError(f"{path}, line {n}: probabilities must be numbers ({e})") from e
            rows.append((n, {"item_id": row["item_id"], "label_set": row.get("label_set"), "probabilities": probs}))
        return rows
    try:
        if path.suffix.lower() == ".jsonl":
            return [(n, json.loads(line)) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConversionError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from e
    if isinstance(data, dict):  # {label_set: {item_id: {class: p}}}
        return [(0, {"item_id": i, "label_set": ls, "probabilities": p})
                for ls, per_item in data.items() for i, p in (per_item or {}).items()]
    return list(enumerate(data, start=1))


def load_pred_probs(path: Path, dataset: Any) -> dict[str, dict[str, dict[str, float]]]:
    """``{label_set: {item_id: {class: p}}}`` from a file; rows without a label set go to the
    dataset's only classification label set."""
    class_sets = [n for n, ls in dataset.schema.label_sets.items() if ls.kind == "classification"]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for n, row in _prob_rows(path):
        where = f"{path}" + (f", row {n}" if n else "")
        if not isinstance(row, dict) or "item_id" not in row or not isinstance(row.get("probabilities"), dict):
            raise ConversionError(f"{where}: expected {{'item_id': ..., 'label_set': ..., "
                                  f"'probabilities': {{class: p}}}}, got {str(row)[:120]!r}")
        ls = row.get("label_set") or (class_sets[0] if len(class_sets) == 1 else None)
        if ls is None:
            raise ConversionError(f"{where}: no label_set, and the dataset has {len(class_sets)} classification "
                                  f"label sets {class_sets!r}; add a label_set to each row")
        try:
            out.setdefault(str(ls), {})[str(row["item_id"])] = {str(c): float(p)
                                                                 for c, p in row["probabilities"].items()}
        except (TypeError, ValueError) as e:
            raise ConversionError(f"{where}: probabilities must be numbers ({e})") from e
        bad = [(c, p) for c, p in out[str(ls)][str(row["item_id"])].items() if not 0.0 <= p <= 1.0]
        if bad:
            raise ConversionError(f"{where}: probabilities must be in [0, 1], got {bad[0][0]}={bad[0][1]!r}")
    return out


def with_keypoint_sigmas(config: Any, values: list[str] | None) -> Any:
    """The report config with ``--keypoint-sigma [NAME=]SIGMA`` values applied."""
    from dataclasses import replace

    from accord.core.errors import ConfigError
    from accord.core.qa.report import ReportConfig

    if not values:
        return config
    cfg = config or ReportConfig()
    sigmas = dict(cfg.keypoint_sigmas)
    default = cfg.default_keypoint_sigma
    for v in values:
        name, _, num = v.rpartition("=")
        try:
            sigma = float(num)
        except ValueError:
            sigma = float("nan")
        if not sigma > 0 or sigma == float("inf"):
            raise ConfigError(f"--keypoint-sigma expects SIGMA or NAME=SIGMA with SIGMA a number > 0 "
                              f"(e.g. --keypoint-sigma 0.05 or --keypoint-sigma 0=0.03), got {v!r}")
        if name:
            sigmas[name] = sigma
        else:
            default = sigma
    return replace(cfg, keypoint_sigmas=sigmas, default_keypoint_sigma=default)


def with_ambiguity_threshold(config: Any, value: float | None) -> Any:
    """The report config with ``--ambiguity-threshold`` applied (unchanged without it)."""
    from dataclasses import replace

    from accord.core.qa.report import ReportConfig

    return config if value is None else replace(config or ReportConfig(), ambiguity_threshold=value)


def with_segmentation_method(config: Any, value: str | None) -> Any:
    """The report config with ``--segmentation-method`` applied (unchanged without it)."""
    from dataclasses import replace

    from accord.core.qa.report import ReportConfig

    return config if value is None else replace(config or ReportConfig(), segmentation_method=value)


def write_soft_labels(report: Any, path: Path) -> int:
    """Write each classification item's soft label to ``path`` as JSON Lines; returns the rows written."""
    from accord.core.qa.ambiguity import soft_label_rows

    written = 0

    def lines() -> Any:
        nonlocal written
        for row in soft_label_rows(getattr(report, "ambiguity", {})):
            written += 1
            yield json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n"

    write_atomic(path, lines())  # streamed: the rows are never all in memory
    logger.info("wrote %d soft labels to %s", written, path)
    return written


def ledger_decisions(args: argparse.Namespace) -> list[Any]:
    """The reviewers' latest decisions in the ledger (``accord review``), when the ledger is in use
    (``--db``, ``$ACCORD_DB`` or an existing ``.accord/ledger.db``; not with ``--no-ledger``).
    An escalation still waiting for an expert is not a decision: its item stays in the queue."""
    if getattr(args, "ledger", None) is False:
        return []
    from .cmd_ledger import existing_ledger

    ledger = existing_ledger(getattr(args, "db", None))
    if ledger is None:
        return []
    with ledger:
        found = [r for r in ledger.latest_decisions().values()
                 if not (isinstance(r.chosen, dict) and r.chosen.get("status") == "escalated")]
    if found:
        logger.info("applying %d reviewer decision(s) from the ledger (%s)", len(found), ledger.where)
    return found


def review_section(args: argparse.Namespace) -> dict[str, Any] | None:
    """The review app's adjudication in the ledger (``accord review``): decision counts and each
    first-pass reviewer's agreement with second passes and with experts, with Wilson 95 %
    intervals; None when the ledger is off or holds no decision."""
    if getattr(args, "ledger", None) is False:
        return None
    from .cmd_ledger import existing_ledger

    ledger = existing_ledger(getattr(args, "db", None))
    if ledger is None:
        return None
    from accord.review.queue import decisions_by_key, reviewer_scores

    with ledger:
        by_key = decisions_by_key(ledger.decisions())
    every = [d for ds in by_key.values() for d in ds]
    if not every:
        return None
    return {
        "n_decisions": len(every), "n_conflicts": len(by_key),
        "n_second_passes": sum(d.second_pass for d in every),
        "n_expert_decisions": sum(d.role.startswith("expert") and d.status != "escalated" for d in every),
        "n_escalations": sum(d.status == "escalated" for d in every),
        "n_ambiguous": sum(d.status == "ambiguous" for d in every),
        "reviewers": reviewer_scores(by_key),
        "note": "agreement of each first-pass reviewer's decision with the blind second pass and with the expert "
                "on the same conflict (Wilson 95 % intervals)",
    }


def run(args: argparse.Namespace) -> int:
    from accord.core.qa.report import config_from_toml

    from .io import load_dataset

    config = config_from_toml(read_text(args.config, what="--config file")) if args.config else None
    config = with_keypoint_sigmas(config, args.keypoint_sigma)
    config = with_ambiguity_threshold(config, getattr(args, "ambiguity_threshold", None))
    config = with_segmentation_method(config, getattr(args, "segmentation_method", None))
    from accord.cluster.partitions import expand_inputs

    inputs = expand_inputs(args.inputs)
    if getattr(args, "dask", None) is not None:
        from accord.cluster.connect import connect
        from accord.cluster.report import cluster_dataset

        with connect(args.dask) as client:
            # The records stay on the workers unless the ledger records the dataset (or they must come:
            # inputs sharing items, records that interleave items; cluster_dataset says why in -v).
            dataset, sections, cluster_run = cluster_dataset(
                client, inputs, format=args.format, reference=args.reference, label_config=args.label_config,
                join_items=args.join_items, config=config, seed=args.seed,
                skip_bad_partitions=args.skip_bad_partitions, keep_groups=True,
                gather=True if _records_for_ledger(args) else "auto")
            if cluster_run.gathered:
                logger.info("the records were gathered to this machine: %s", cluster_run.gather_reason)
            try:  # the report's mergeable sections fold on the workers, over the groups they hold
                return _report(args, dataset, config, sections=sections, runner=cluster_run.runner(client),
                               cluster_run=cluster_run)
            finally:
                cluster_run.release(client)
    else:
        if getattr(args, "skip_bad_partitions", False):
            from accord.core.errors import ConfigError

            raise ConfigError("--skip-bad-partitions works with --dask only; add --dask local:N, or drop it")
        remote = [str(p) for p in inputs if isinstance(p, str)]
        if remote:
            from accord.core.errors import ConfigError

            raise ConfigError(f"{remote[0]} is a URL: URLs are read with --dask (add --dask local:2 to read it on "
                              "this machine), or copy the file to a local path")
        dataset = load_dataset(inputs, format=args.format, reference=args.reference,
                               label_config=args.label_config, join_items=args.join_items)
    return _report(args, dataset, config)


def _records_for_ledger(args: argparse.Namespace) -> bool:
    """Whether this run records the dataset in a ledger (which needs its records on this machine)."""
    if getattr(args, "ledger", None) is False:
        return False
    if getattr(args, "ledger", None) or getattr(args, "db", None):
        return True
    import os

    from accord.store.db import default_url, sqlite_path

    if os.environ.get("ACCORD_DB"):
        return True
    path = sqlite_path(default_url())  # as cmd_ledger.existing_ledger finds the default ledger
    return path is not None and path.exists()


def _report(args: argparse.Namespace, dataset: Any, config: Any, *, sections: dict[str, Any] | None = None,
            runner: Any = None, cluster_run: Any = None) -> int:
    """Build, write and print the report of ``dataset`` (on a cluster: with its sections and runner)."""
    from accord.core.qa.report import build_report

    cost = None
    if args.cost_config:
        from accord.core.cost import load_config

        cost = load_config(args.cost_config)
    resolutions = ()
    if args.resolutions:
        from accord.store import ResolutionLog

        log_contents = ResolutionLog(args.resolutions).read()
        for warning in log_contents.warnings(str(args.resolutions)):
            logger.warning("%s", warning)
        resolutions = log_contents.resolutions
    resolutions = (*resolutions, *ledger_decisions(args))
    grades = ()
    if args.grades:
        from .grades_io import read_grades

        grades = tuple(read_grades(args.grades))
    previous = read_previous_report(args.previous) if args.previous else None
    pred_probs = load_pred_probs(args.pred_probs, dataset) if args.pred_probs else None
    report = build_report(dataset, config=config, seed=args.seed, checks=not args.no_checks, cost=cost,
                          cost_items=args.items, resolutions=resolutions, previous=previous,
                          pred_probs=pred_probs, sections=sections, grades=grades,
                          **({"runner": runner} if runner is not None else {}))
    if cluster_run is not None:
        from accord.cluster.report import note_skipped

        note_skipped(report, cluster_run)
    review = review_section(args)
    if review is not None:
        report["review"] = review
    if args.trend:
        from .cmd_runs import report_trend

        report["trend"] = report_trend(args, report)
    write_outputs(report, json_path=args.json_path, html_path=args.html)
    if getattr(args, "soft_labels", None) is not None:
        write_soft_labels(report, args.soft_labels)
    print_summary(report)
    from .cmd_runs import record_if_ledger

    record_if_ledger(args, dataset=dataset, report=report)
    return exit_code(report, args.fail_under)
