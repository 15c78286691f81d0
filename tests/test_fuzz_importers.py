"""Fuzzing every importer and ``accord report`` with mutated real-shaped exports (issue 15).

Valid Label Studio, CVAT XML, COCO and accord JSON Lines exports (the fixtures) are mutated
by hypothesis: wrong types, missing keys, non-finite and huge numbers, truncation, deep
nesting, bad encodings. Every importer must either return a dataset or raise an
:class:`~accord.core.errors.AccordError` with a one-line message; ``accord report`` must exit
0 or 1, or 2 with a one-line ``accord: error:`` on stderr: never a traceback, never
"internal error".
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.cli import main
from accord.core.errors import AccordError
from accord.core.formats.coco import from_coco, from_coco_results
from accord.core.formats.jsonl import dumps_dataset, loads_dataset
from accord.io import load_dataset
from accord.plugins.cvat.convert import from_cvat_xml
from accord.plugins.label_studio.convert import from_label_studio_export

FIX = Path(__file__).parent / "fixtures"
IMPORTERS = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
REPORTS = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))

LS_SEEDS = [json.loads((FIX / "label_studio" / n).read_text(encoding="utf-8"))
            for n in ("export_snapshot_full.json", "export_as_json_bbox.json", "export_download_sync_text.json")]
_LSC = FIX / "third_party" / "label_studio_converter"
#: Label Studio exports with their labeling configs (the config decides how results are read).
LS_CONFIGURED = [(json.loads((_LSC / f"test_export_{d}.json").read_text(encoding="utf-8")),
                  (_LSC / f"test_export_{c}.xml").read_text(encoding="utf-8"))
                 for d, c in (("yolo_data", "yolo_label_config"), ("json_min_data", "json_min_label_config"))]
COCO_SEEDS = [json.loads((FIX / "coco" / n).read_text(encoding="utf-8"))
              for n in ("instances_default.json", "results.json")]
CVAT_SEEDS = [(FIX / "cvat" / n).read_bytes() for n in ("images_train.xml", "video_annotations.xml")]
JSONL_SEEDS = [dumps_dataset(from_coco(COCO_SEEDS[0])), dumps_dataset(from_label_studio_export(LS_SEEDS[0]))]

_BIG = "__accord_fuzz_bigint__"
BAD_VALUES: list[Any] = [
    None, True, False, 0, -1, 1e308, -1e308, 10 ** 30, "", "x", "true", "false", "nan", "inf", "eight", "1e999",
    [], {}, [[]], [None], {"a": None}, math.nan, math.inf, -math.inf, "\ud800", "al\ufffdce", _BIG,
]
XML_BAD = ["", "eight", "nan", "inf", "-inf", "-1", "0", "1e400", "9" * 5000, "1,2;3", "a,b", "true", "\u00e9"]
XML_ATTRS = ["width", "height", "xtl", "ytl", "xbr", "ybr", "points", "rle", "left", "top", "frame", "label", "name",
             "id", "outside", "occluded", "keyframe", "z_order", "group_id", "rotation", "task_id", "subset"]


def _paths(obj: Any, limit: int = 4000) -> list[tuple[Any, Any]]:
    """(container, key) for every value inside a JSON object, breadth first."""
    out: list[tuple[Any, Any]] = []
    todo = [obj]
    while todo and len(out) < limit:
        cur = todo.pop(0)
        keys = list(cur) if isinstance(cur, dict) else range(len(cur)) if isinstance(cur, list) else []
        for k in keys:
            out.append((cur, k))
            if isinstance(cur[k], dict | list):
                todo.append(cur[k])
    return out


def mutate_json(data: st.DataObject, seed: Any) -> bytes:
    obj = copy.deepcopy(seed)
    for _ in range(data.draw(st.integers(1, 4), label="n_mutations")):
        paths = _paths(obj)
        if not paths:
            break
        parent, key = data.draw(st.sampled_from(paths), label="where")
        op = data.draw(st.sampled_from(["replace", "delete", "wrap", "stringify", "duplicate"]), label="op")
        if op == "replace":
            parent[key] = copy.deepcopy(data.draw(st.sampled_from(BAD_VALUES), label="value"))
        elif op == "delete":
            del parent[key]
        elif op == "wrap":
            parent[key] = data.draw(st.sampled_from([[parent[key]], {"value": parent[key]}]), label="wrapped")
        elif op == "stringify":
            parent[key] = json.dumps(parent[key])
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
    text = json.dumps(obj, allow_nan=True).replace(f'"{_BIG}"', "7" * 5000)
    return mutate_bytes(data, text.encode("utf-8", errors="surrogatepass"))


def mutate_xml(data: st.DataObject, seed: bytes) -> bytes:
    root = ET.fromstring(seed)
    for _ in range(data.draw(st.integers(1, 4), label="n_mutations")):
        elements = list(root.iter())
        el = data.draw(st.sampled_from(elements), label="element")
        op = data.draw(st.sampled_from(["set", "delete_attr", "remove", "duplicate", "text"]), label="op")
        if op == "set":
            el.set(data.draw(st.sampled_from(sorted(el.attrib) + XML_ATTRS), label="attr"),
                   data.draw(st.sampled_from(XML_BAD), label="value"))
        elif op == "delete_attr" and el.attrib:
            del el.attrib[data.draw(st.sampled_from(sorted(el.attrib)), label="attr")]
        elif op in ("remove", "duplicate"):
            parent = next((p for p in root.iter() if el in list(p)), None)
            if parent is not None:
                if op == "remove":
                    parent.remove(el)
                else:
                    parent.append(copy.deepcopy(el))
        elif op == "text":
            el.text = data.draw(st.sampled_from(XML_BAD), label="text")
    return mutate_bytes(data, ET.tostring(root, encoding="utf-8"))


def mutate_bytes(data: st.DataObject, raw: bytes) -> bytes:
    op = data.draw(st.sampled_from(["none", "none", "truncate", "bad_byte", "bom", "utf16", "deep", "empty"]),
                   label="bytes_op")
    if op == "truncate":
        return raw[: data.draw(st.integers(0, max(0, len(raw) - 1)), label="cut")]
    if op == "bad_byte":
        at = data.draw(st.integers(0, len(raw)), label="at")
        return raw[:at] + data.draw(st.sampled_from([b"\xff", b"\xe9", b"\xc3", b"\x00"]), label="byte") + raw[at:]
    if op == "bom":
        return b"\xef\xbb\xbf" + raw
    if op == "utf16":
        return raw.decode("utf-8", errors="replace").encode("utf-16")
    if op == "deep":
        n = data.draw(st.sampled_from([50, 5000, 200_000]), label="depth")
        return b"[" * n + raw + b"]" * n
    if op == "empty":
        return b"  \n"
    return raw


def _one_line_or_ok(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except AccordError as e:
        msg = str(e)
        assert "\n" not in msg, msg
        assert len(msg) < 2000, msg[:300]


def _parsed(raw: bytes) -> Any:
    """The JSON in ``raw`` if it parses (else the importer is not reached this way)."""
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return None


def _load_file(raw: bytes, suffix: str, config: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"export{suffix}"
        p.write_bytes(raw)
        if config is not None:
            (Path(d) / "export.label_config.xml").write_text(config, encoding="utf-8")
        _one_line_or_ok(lambda: load_dataset([p]))


# --------------------------------------------------------------------------- importers in-process


@IMPORTERS
@given(st.data())
def test_label_studio_importer_never_crashes(data: st.DataObject) -> None:
    raw = mutate_json(data, data.draw(st.sampled_from(LS_SEEDS), label="seed"))
    obj = _parsed(raw)
    if obj is not None:
        _one_line_or_ok(lambda: from_label_studio_export(obj))
    _load_file(raw, ".json")


@IMPORTERS
@given(st.data())
def test_label_studio_importer_with_a_config_never_crashes(data: st.DataObject) -> None:
    tasks, config = data.draw(st.sampled_from(LS_CONFIGURED), label="seed")
    raw = mutate_json(data, tasks)
    obj = _parsed(raw)
    if obj is not None:
        _one_line_or_ok(lambda: from_label_studio_export(obj, config))
    _load_file(raw, ".json", config)


@IMPORTERS
@given(st.data())
def test_coco_importer_never_crashes(data: st.DataObject) -> None:
    raw = mutate_json(data, data.draw(st.sampled_from(COCO_SEEDS), label="seed"))
    obj = _parsed(raw)
    if isinstance(obj, dict):
        _one_line_or_ok(lambda: from_coco(obj))
    elif isinstance(obj, list):
        _one_line_or_ok(lambda: from_coco_results(obj))
    _load_file(raw, ".json")


@IMPORTERS
@given(st.data())
def test_cvat_importer_never_crashes(data: st.DataObject) -> None:
    raw = mutate_xml(data, data.draw(st.sampled_from(CVAT_SEEDS), label="seed"))
    _one_line_or_ok(lambda: from_cvat_xml(raw))
    _load_file(raw, ".xml")


@IMPORTERS
@given(st.data())
def test_jsonl_importer_never_crashes(data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(JSONL_SEEDS), label="seed")
    lines = seed.splitlines()
    k = data.draw(st.integers(0, len(lines) - 1), label="line")
    raw = mutate_json(data, json.loads(lines[k]))
    text = "\n".join([*lines[:k], raw.decode("utf-8", errors="surrogateescape"), *lines[k + 1:]])
    _one_line_or_ok(lambda: loads_dataset(text))
    _load_file(text.encode("utf-8", errors="surrogateescape"), ".jsonl")


# --------------------------------------------------------------------------- accord report end to end


def _report(raw: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"export{suffix}"
        p.write_bytes(raw)
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            rc = main(["-q", "report", str(p), "--json", str(Path(d) / "r.json")])
        text = err.getvalue()
        assert "internal error" not in text, text[-500:]
        assert "Traceback" not in text, text[-500:]
        assert rc in (0, 1, 2), rc
        if rc == 2:
            errors = [ln for ln in text.splitlines() if ln.startswith("accord: ")]
            assert len(errors) == 1, text[-500:]


@REPORTS
@given(st.data())
@pytest.mark.parametrize("fmt", ["label-studio", "coco", "cvat", "jsonl"])
def test_report_exits_cleanly_on_mutated_exports(fmt: str, data: st.DataObject) -> None:
    if fmt == "label-studio":
        raw, suffix = mutate_json(data, data.draw(st.sampled_from(LS_SEEDS))), ".json"
    elif fmt == "coco":
        raw, suffix = mutate_json(data, data.draw(st.sampled_from(COCO_SEEDS))), ".json"
    elif fmt == "cvat":
        raw, suffix = mutate_xml(data, data.draw(st.sampled_from(CVAT_SEEDS))), ".xml"
    else:
        seed = data.draw(st.sampled_from(JSONL_SEEDS)).splitlines()
        k = data.draw(st.integers(0, len(seed) - 1))
        line = mutate_json(data, json.loads(seed[k]))
        raw, suffix = b"\n".join([*(s.encode() for s in seed[:k]), line, *(s.encode() for s in seed[k + 1:])]), ".jsonl"
    _report(raw, suffix)
