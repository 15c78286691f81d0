"""Load annotation exports from files: format detection by content, then the right converter.

``load_dataset`` is what every subcommand uses to read its inputs. The format is found
from the bytes, not the file name: a zip or XML is CVAT, a JSON object with
``images``/``annotations`` is COCO, the accord-jsonl header (or record lines) is accord
JSON Lines, and a list of tasks, one task or JSON_MIN rows is Label Studio.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from accord.core.errors import ConversionError
from accord.core.formats.coco import from_coco, from_coco_results
from accord.core.formats.jsonl import is_header, loads_dataset
from accord.core.model import Dataset, Item, Record, Submission
from accord.core.schema import Schema

logger = logging.getLogger(__name__)

Format = Literal["auto", "label-studio", "cvat", "coco", "jsonl"]
FORMATS: tuple[str, ...] = ("auto", "label-studio", "cvat", "coco", "jsonl")


def detect_format(data: bytes, *, name: str = "<input>") -> tuple[str, Any]:
    """The format of an export's bytes, and the parsed JSON when it is JSON.

    Raises:
        ConversionError: the bytes match no supported format (the message lists them).
    """
    if data[:2] == b"PK":
        return "cvat", None
    text = data.decode("utf-8-sig", errors="replace").lstrip()
    if text.startswith("<"):
        return "cvat", None
    if not text:
        raise ConversionError(f"{name} is empty; expected a Label Studio, CVAT, COCO or accord JSONL export",
                              field="file")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        first = text.split("\n", 1)[0]
        try:
            head = json.loads(first)
        except json.JSONDecodeError as e:
            raise ConversionError(
                f"{name} is neither XML nor JSON ({e}); expected a Label Studio JSON export, CVAT XML or zip, "
                "COCO JSON, or accord JSON Lines", field="file") from e
        if isinstance(head, dict):
            return "jsonl", None
        raise ConversionError(f"{name}: the first line is JSON but not an object", field="file") from None
    if is_header(obj):
        return "jsonl", None
    if isinstance(obj, dict) and "images" in obj and "annotations" in obj:
        return "coco", obj
    if isinstance(obj, dict) and "item_id" in obj and "value" in obj:
        return "jsonl", None
    if isinstance(obj, list) and obj and isinstance(obj[0], dict) and "image_id" in obj[0] \
            and "category_id" in obj[0]:
        return "coco", obj
    if isinstance(obj, list) or (isinstance(obj, dict) and "data" in obj):
        return "label-studio", obj
    keys = sorted(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
    raise ConversionError(
        f"{name}: cannot tell the format of this JSON ({keys}); expected a Label Studio export (a list of "
        "tasks), COCO (an object with 'images' and 'annotations') or accord JSON Lines; pass --format",
        field="format")


def _label_config_for(path: Path, given: Path | str | None) -> str | None:
    if given is not None:
        p = Path(given)
        if p.exists():
            return p.read_text(encoding="utf-8")
        if str(given).lstrip().startswith("<"):
            return str(given)
        raise ConversionError(f"label config {str(given)!r} does not exist; pass the path of the project's "
                              "labeling config XML", field="label_config")
    for cand in (path.with_name(path.stem + ".label_config.xml"), path.with_name("label_config.xml")):
        if cand.exists():
            return cand.read_text(encoding="utf-8")
    return None


def load_one(path: Path | str, *, format: Format = "auto", label_config: Path | str | None = None,
             meta_keys: Sequence[str] = ()) -> Dataset:
    """Read one export file into a :class:`Dataset` (see :func:`load_dataset`)."""
    path = Path(path)
    data = path.read_bytes()
    fmt, obj = detect_format(data, name=str(path)) if format == "auto" else (format, None)
    if fmt not in FORMATS[1:]:
        raise ConversionError(f"unknown format {fmt!r}; expected one of {list(FORMATS)}", field="format")
    if fmt == "cvat":
        from accord.plugins.cvat.convert import from_cvat_xml

        return from_cvat_xml(data, name=path.stem)
    if fmt == "jsonl":
        ds = loads_dataset(data.decode("utf-8-sig"), source_name=str(path))
        return ds if ds.name != "dataset" else replace(ds, name=path.stem)
    if obj is None:
        try:
            obj = json.loads(data.decode("utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConversionError(f"{path} is not valid JSON: {e}; a {fmt} export is JSON", field="file") from e
    if fmt == "coco":
        if isinstance(obj, list):
            return from_coco_results(obj, name=path.stem)
        return from_coco(obj, name=path.stem)
    from accord.plugins.label_studio.convert import from_label_studio_export

    warnings: list[str] = []
    ds = from_label_studio_export(obj, _label_config_for(path, label_config), meta_keys=meta_keys,
                                  warnings=warnings, name=path.stem)
    for w in warnings:
        logger.warning("%s: %s", path, w)
    return ds


def merge(datasets: Sequence[Dataset], *, name: str | None = None) -> Dataset:
    """One dataset from several: records and submissions concatenated, schemas and items merged."""
    if len(datasets) == 1 and name is None:
        return datasets[0]
    schema = Schema()
    items: dict[str, Item] = {}
    records: list[Record] = []
    subs: list[Submission] = []
    for d in datasets:
        schema = schema.merged(d.schema)
        clash = sorted(k for k in d.items if k in items and items[k] != d.items[k])
        if clash:
            logger.warning("%s: %d item ids also name a different item in an earlier input (e.g. %r); the later "
                           "one's data and metadata are kept", d.name, len(clash), clash[0])
        items.update(d.items)
        records += d.records
        subs += d.submissions
    return Dataset(records=tuple(records), schema=schema, items=items, submissions=tuple(subs),
                   name=name or (datasets[0].name if datasets else "dataset"))


def _as_reference(ds: Dataset) -> Dataset:
    return Dataset(records=tuple(replace(r, source="reference") for r in ds.records), schema=ds.schema,
                   items=ds.items, submissions=tuple(replace(s, source="reference") for s in ds.submissions),
                   name=ds.name)


def load_dataset(paths: Sequence[Path | str] | Path | str, *, format: Format = "auto",
                 reference: Path | str | Sequence[Path | str] | None = None,
                 label_config: Path | str | None = None, meta_keys: Sequence[str] = ()) -> Dataset:
    """Read export files (any mix of supported formats) into one :class:`Dataset`.

    Args:
        paths: One or more export files.
        format: ``auto`` (detect from content), ``label-studio``, ``cvat``, ``coco`` or ``jsonl``.
        reference: Gold export file(s); their records and submissions get source ``reference``.
        label_config: Label Studio labeling config (a path or the XML); else a
            ``<stem>.label_config.xml`` or ``label_config.xml`` beside the export is used.
        meta_keys: Label Studio ``data`` keys copied into item metadata.

    Raises:
        ConversionError: no input, an unknown format, or a malformed file (message names it).
        OSError: a file cannot be read.
    """
    plist = [paths] if isinstance(paths, str | Path) else list(paths)
    if not plist:
        raise ConversionError("no input files given; pass at least one export file", field="paths")
    parts = [load_one(p, format=format, label_config=label_config, meta_keys=meta_keys) for p in plist]
    if reference is not None:
        refs = [reference] if isinstance(reference, str | Path) else list(reference)
        parts += [_as_reference(load_one(p, format="auto", label_config=label_config)) for p in refs]
    return merge(parts, name=parts[0].name if len(plist) == 1 else "merged")
