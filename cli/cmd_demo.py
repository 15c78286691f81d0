"""``accord demo``: the full QA report on the bundled sample project."""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from importlib import resources
from pathlib import Path

from accord.core.model import Dataset, Item, Submission

from ._validate import seed_arg

logger = logging.getLogger(__name__)

SAMPLE_PROJECTS = ("images_boxes", "text_sentiment", "text_ner", "audio_transcripts")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run the full QA report on the bundled sample project",
        description=(
            "Load the bundled sample (four small Label Studio projects: image boxes, text "
            "sentiment, NER spans, audio speaker turns and transcripts; three annotators with "
            "planted habits, gold items, lead times) and write the QA report as HTML and JSON."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", type=Path, default=Path("accord-demo"), help="folder for report.html/report.json")
    p.add_argument("--seed", type=seed_arg, default=0, help="seed for bootstrap and samples")
    p.set_defaults(func=run)


def _prefixed(ds: Dataset, prefix: str) -> Dataset:
    """The dataset with item ids made unique across projects: ``<prefix>/<id>``."""
    def pid(i: str) -> str:
        return f"{prefix}/{i}"
    return Dataset(
        records=tuple(replace(r, item_id=pid(r.item_id)) for r in ds.records),
        schema=ds.schema,
        items={pid(k): replace(v, item_id=pid(k), label_sets=frozenset(ds.schema.label_sets))
               for k, v in ds.items.items()},
        submissions=tuple(replace(s, item_id=pid(s.item_id)) for s in ds.submissions),
        name=prefix,
    )


def merge(datasets: list[Dataset], *, name: str) -> Dataset:
    """One dataset from several with disjoint item ids and label-set names."""
    schema = datasets[0].schema
    items: dict[str, Item] = {}
    subs: list[Submission] = []
    for d in datasets[1:]:
        schema = schema.merged(d.schema)
    for d in datasets:
        items.update(d.items)
        subs.extend(d.submissions)
    return Dataset(records=tuple(r for d in datasets for r in d.records), schema=schema, items=items,
                   submissions=tuple(subs), name=name)


def load_sample() -> Dataset:
    """The bundled sample project as one dataset."""
    from accord.plugins.label_studio.convert import from_label_studio_export

    root = resources.files("accord.core") / "data" / "sample"
    parts = []
    for name in SAMPLE_PROJECTS:
        tasks = json.loads((root / f"{name}.json").read_text(encoding="utf-8"))
        config = (root / f"{name}.label_config.xml").read_text(encoding="utf-8")
        parts.append(_prefixed(from_label_studio_export(tasks, config), name))
    return merge(parts, name="accord sample project")


def run(args: argparse.Namespace) -> int:
    from accord.core.qa.report import build_report

    from .cmd_report import print_summary, write_outputs

    # The cost section forecasts a 20,000-item production run from the sample's lead times.
    report = build_report(load_sample(), seed=args.seed, cost_items=20_000)
    out: Path = args.out
    write_outputs(report, json_path=out / "report.json", html_path=out / "report.html")
    print_summary(report)
    print(f"\nwrote {out / 'report.html'} and {out / 'report.json'}")  # noqa: T201
    return 0
