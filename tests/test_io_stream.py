"""Label Studio exports read task by task (``accord.io``'s streaming path) equal the whole-file path."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import accord.io as aio
from accord.core.errors import ConversionError
from accord.io import load_one
from accord.plugins.label_studio.convert import from_label_studio_export

FROZEN = Path(__file__).resolve().parent / "fixtures" / "frozen"

VALID = ["[]", " [ ] ", "[1,2,3]", '[{"a": "x\\u00e9"}, [1, 2.5e3], "s", null, true, 123456789]',
         '\ufeff[ {"k": "\u00fc"} ]\n', "[NaN, -Infinity]", '[{"deep": [[[{"x": [1, {"y": "]"}]}]]]}, 7]']
BROKEN = ["[1,]", "[1 2]", "[1] x", '[{"a": 1}', '{"a": 1}', "[12", '["unterminated]', "[,1]"]


@pytest.mark.parametrize("chunk", [16, 64, 1 << 24])  # elements here are shorter than 16 chunks
@pytest.mark.parametrize("text", VALID)
def test_elements_equal_json_loads_at_any_chunk_size(text: str, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aio, "_CHUNK_BYTES", chunk)
    got = list(aio._json_array_elements(io.BytesIO(text.encode())))
    want = json.loads(text.lstrip("\ufeff"))
    assert json.dumps(got) == json.dumps(want)


@pytest.mark.parametrize("chunk", [2, 1 << 24])
@pytest.mark.parametrize("text", BROKEN)
def test_broken_json_is_left_to_the_whole_file_reader(text: str, chunk: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aio, "_CHUNK_BYTES", chunk)
    with pytest.raises(aio._NotStreamedError):
        list(aio._json_array_elements(io.BytesIO(text.encode())))


@pytest.mark.parametrize("kind", ["choices", "boxes"])
def test_streamed_dataset_equals_whole_file_dataset(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aio, "_CHUNK_BYTES", 4096)  # many chunk boundaries inside tasks
    path, config = FROZEN / f"{kind}.json", (FROZEN / f"{kind}.label_config.xml").read_text(encoding="utf-8")
    streamed = load_one(path, label_config=config)
    whole = from_label_studio_export(json.loads(path.read_text(encoding="utf-8")), config, name=path.stem)
    assert streamed.records == whole.records
    assert streamed.submissions == whole.submissions
    assert dict(streamed.items) == dict(whole.items)
    assert streamed.schema == whole.schema


def test_truncated_export_still_says_it_is_truncated(tmp_path: Path) -> None:
    text = (FROZEN / "choices.json").read_text(encoding="utf-8")
    cut = tmp_path / "cut.json"
    cut.write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(ConversionError, match="looks truncated"):
        load_one(cut, label_config=FROZEN / "choices.label_config.xml")


def test_coco_results_list_is_not_taken_for_label_studio(tmp_path: Path) -> None:
    p = tmp_path / "results.json"
    p.write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2], "score": 0.9}]),
                 encoding="utf-8")
    assert aio._stream_label_studio(p, explicit=False, label_config=None, meta_keys=()) is None
