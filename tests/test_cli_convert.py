"""``accord convert`` end to end, and format detection in ``accord.io.load_dataset``."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from accord.cli import main
from accord.core.errors import ConversionError
from accord.core.formats.jsonl import loads_dataset
from accord.io import detect_format, load_dataset

TESTS = Path(__file__).parent
SAMPLE = TESTS.parent / "core" / "data" / "sample"
SENTIMENT_CONFIG = ('<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text">'
                    '<Choice value="Positive"/><Choice value="Negative"/></Choices></View>')


def test_convert_mixed_inputs_writes_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    rc = main(["convert", str(TESTS / "fixtures" / "label_studio" / "export_snapshot_full.json"),
               str(TESTS / "fixtures" / "cvat" / "images_train.xml"),
               str(TESTS / "fixtures" / "coco" / "instances_default.json"), "-o", str(out)])
    assert rc == 0
    ds = loads_dataset(out.read_text(encoding="utf-8"))
    assert {"admin@example.com", "model:manual-v1", "cvat:annotator1", "coco"} <= set(ds.annotators(source=None))
    assert len(ds.records) == 9 + 8 + 4
    assert {"boxes", "masks", "keypoints", "label"} <= set(ds.label_sets)


def test_convert_sample_with_config_beside_and_reference(tmp_path: Path) -> None:
    export = tmp_path / "text_sentiment.json"
    shutil.copy(SAMPLE / "text_sentiment.json", export)
    shutil.copy(SAMPLE / "text_sentiment.label_config.xml", tmp_path / "text_sentiment.label_config.xml")
    gold = tmp_path / "gold.xml"
    shutil.copy(TESTS / "fixtures" / "cvat" / "images_train.xml", gold)
    out = tmp_path / "o.jsonl"
    assert main(["convert", str(export), "--reference", str(gold), "--meta-key", "text", "-o", str(out)]) == 0
    ds = loads_dataset(out.read_text(encoding="utf-8"))
    assert ds.schema["sentiment"].labels == ("Positive", "Negative", "Neutral")  # from the config beside it
    assert set(ds.annotators(source="reference")) == {"cvat:annotator1", "lead@example.com"}
    # two tools: item ids are namespaced by tool (issue 15 item 5)
    assert {r.source for r in ds.records if r.item_id.startswith("cvat:img")} == {"reference"}
    assert ds.items["label-studio:1"].meta["text"] == "The parcel is at the post office."
    # converting our own output again is the identity
    out2 = tmp_path / "o2.jsonl"
    assert main(["convert", str(out), "-o", str(out2)]) == 0
    assert out2.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")


def test_json_min_needs_label_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "min.json"
    shutil.copy(TESTS / "fixtures" / "label_studio" / "export_json_min_text.json", src)
    out = tmp_path / "o.jsonl"
    assert main(["convert", str(src), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("accord: error: ")
    assert "JSON_MIN" in err
    assert err.count("\n") == 1
    assert not out.exists()
    cfg = tmp_path / "cfg.xml"
    cfg.write_text(SENTIMENT_CONFIG)
    assert main(["convert", str(src), "--label-config", str(cfg), "-o", str(out)]) == 0
    assert len(loads_dataset(out.read_text()).records) == 6


def test_detects_formats_by_content(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("task/annotations.xml", (TESTS / "fixtures" / "cvat" / "video_annotations.xml").read_bytes())
    zpath = tmp_path / "export.bin"  # the name says nothing; the content decides
    zpath.write_bytes(buf.getvalue())
    assert detect_format(zpath.read_bytes())[0] == "cvat"
    assert len(load_dataset(zpath).select(label_set="tracks")) == 2
    assert detect_format(b'{"images": [], "annotations": [], "categories": []}')[0] == "coco"
    assert detect_format(b'[{"image_id": 1, "category_id": 2, "bbox": [0, 0, 1, 1], "score": 0.5}]')[0] == "coco"
    assert detect_format(b'{"format": "accord-jsonl"}\n')[0] == "jsonl"
    assert detect_format(b'[{"id": 1, "data": {}}]')[0] == "label-studio"
    assert detect_format(b'\xef\xbb\xbf  <annotations/>')[0] == "cvat"


@pytest.mark.parametrize(("body", "pattern"), [
    (b"", r"is empty"),
    (b"hello", r"neither XML nor JSON"),
    (b'{"foo": 1}', r"cannot tell the format"),
    (b"42", r"cannot tell the format"),
])
def test_detection_errors(tmp_path: Path, body: bytes, pattern: str) -> None:
    p = tmp_path / "x.json"
    p.write_bytes(body)
    with pytest.raises(ConversionError, match=pattern):
        load_dataset([p])


def test_forced_format_and_missing_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(ConversionError, match="not a Label Studio export"):
        load_dataset(p, format="label-studio")
    with pytest.raises(ConversionError, match="no input files"):
        load_dataset([])
    assert main(["convert", str(tmp_path / "missing.json"), "-o", str(tmp_path / "o.jsonl")]) == 2
    assert "No such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["convert", str(p)])  # -o is required
