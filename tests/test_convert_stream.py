"""``accord convert`` of one Label Studio export streams: records go out as tasks are converted.

The streamed output must be byte for byte what the whole-file path writes
(``dumps_dataset(load_dataset(path))``), on the bundled sample's exports, the frozen
benchmark exports and real Label Studio 1.23 payloads; exports it cannot stream (JSON_MIN,
not a list) fall back to the whole-file path with the same result; errors still name the file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from accord.cli import main
from accord.core.errors import ConversionError
from accord.core.formats.jsonl import dumps_dataset
from accord.io import NotStreamableError, load_dataset, stream_label_studio_file

HERE = Path(__file__).parent
SAMPLE = Path(str(resources.files("accord.core") / "data" / "sample"))
CASES = [*(p for p in sorted(SAMPLE.glob("*.json"))),
         HERE / "fixtures" / "frozen" / "choices.json", HERE / "fixtures" / "frozen" / "boxes.json",
         HERE / "fixtures" / "label_studio" / "export_snapshot_full.json",
         HERE / "fixtures" / "label_studio" / "export_as_json_bbox.json"]


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_streamed_convert_equals_the_whole_file_path(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    assert main(["-q", "convert", str(path), "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == dumps_dataset(load_dataset(path))
    first = next(stream_label_studio_file(path))
    assert first is not None  # the schema comes first: the file was streamed


def test_not_a_task_list_is_not_streamed(tmp_path: Path) -> None:
    src = tmp_path / "one.json"
    src.write_text('{"id": 1, "data": {"text": "a"}, "annotations": []}', encoding="utf-8")
    with pytest.raises(NotStreamableError):
        next(stream_label_studio_file(src))


def test_json_min_gives_the_same_bytes(tmp_path: Path) -> None:
    src = HERE / "fixtures" / "third_party" / "label_studio_converter" / "test_export_json_min_data.json"
    cfg = src.with_name("test_export_json_min_label_config.xml")
    out = tmp_path / "out.jsonl"
    assert main(["-q", "convert", str(src), "--label-config", str(cfg), "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == dumps_dataset(load_dataset(src, label_config=cfg))


def test_duplicate_task_id_names_the_file_and_writes_nothing(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "dup.json"
    src.write_text('[{"id": 1, "data": {"text": "a"}, "annotations": []},'
                   ' {"id": 1, "data": {"text": "b"}, "annotations": []}]', encoding="utf-8")
    with pytest.raises(ConversionError, match=r"dup\.json: .*task id 1 appears twice"):
        list(stream_label_studio_file(src))
    out = tmp_path / "out.jsonl"
    assert main(["convert", str(src), "-o", str(out)]) != 0
    assert not out.exists()
    assert "appears twice" in capsys.readouterr().err
