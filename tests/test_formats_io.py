"""Loading export files (``accord.io``): namespacing by tool, encodings, and one-line errors (issue 15)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accord.core.errors import ConversionError
from accord.io import load_dataset

LS_TASK = [{"id": 1, "data": {"image": "a.jpg"}, "annotations": [{"id": 1, "completed_by": 3, "result": [
    {"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": ["cat"]}}]}]}]
COCO = {"images": [{"id": 1, "file_name": "b.jpg", "width": 8, "height": 8}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]}],
        "categories": [{"id": 1, "name": "cat"}]}


def _write(tmp_path: Path, name: str, body: bytes | str) -> Path:
    p = tmp_path / name
    p.write_bytes(body.encode("utf-8") if isinstance(body, str) else body)
    return p


def test_inputs_from_different_tools_are_namespaced(tmp_path: Path) -> None:
    # issue 15 item 5: LS task 1 and COCO image 1 are different things and must stay two items.
    ls = _write(tmp_path, "ls.json", json.dumps(LS_TASK))
    coco = _write(tmp_path, "coco.json", json.dumps(COCO))
    ds = load_dataset([ls, coco])
    assert sorted(ds.items) == ["coco:1", "label-studio:1"]
    assert {r.item_id for r in ds.records} == {"coco:1", "label-studio:1"}
    assert {s.item_id for s in ds.submissions} == {"coco:1", "label-studio:1"}
    joined = load_dataset([ls, coco], join_items=True)
    assert sorted(joined.items) == ["1"]


def test_inputs_from_one_tool_are_not_namespaced(tmp_path: Path) -> None:
    a = _write(tmp_path, "a.json", json.dumps(LS_TASK))
    b = _write(tmp_path, "b.json", json.dumps(LS_TASK).replace('"completed_by": 3', '"completed_by": 4'))
    ds = load_dataset([a, b])
    assert list(ds.items) == ["1"]
    assert ds.annotators() == ("user:3", "user:4")


def test_invalid_utf8_is_refused_with_its_byte_offset(tmp_path: Path) -> None:
    # issue 15 item 10: 'al\xe9ce' silently became 'al\ufffdce' and could merge two annotators.
    body = json.dumps(LS_TASK).replace('"completed_by": 3', '"completed_by": {"id": 3, "email": "alXce@x.org"}')
    raw = body.encode("utf-8").replace(b"alXce", b"al\xe9ce")
    p = _write(tmp_path, "ls.json", raw)
    offset = raw.index(b"\xe9")
    with pytest.raises(ConversionError, match=rf"ls.json.*invalid UTF-8 at byte offset {offset}"):
        load_dataset([p])
    with pytest.raises(ConversionError, match=r"invalid UTF-8 at byte offset"):
        load_dataset([p], format="label-studio")


@pytest.mark.parametrize(("body", "pattern"), [
    ('[{"id": 1, "data": {"image": "a.jpg"}, "annotations": [{"id": 1, "res',
     r"looks truncated: the file ends at line 1 column 69"),
    ('[\n  {"id": 1,\n   "data": {"text": "abc"', r"looks truncated: the file ends at line 3 column 25"),
    ("[" * 100_000 + "]" * 100_000, r"nested too deeply"),
    ('[{"id": ' + "9" * 5000 + ', "data": {}}]', r"a number with more than 4300 digits"),
    ('[{"id": 1, "data": {}}] garbage', r"neither XML nor JSON: Extra data at line 1 column 25"),
])
def test_broken_json_is_a_one_line_error_saying_where(tmp_path: Path, body: str, pattern: str) -> None:
    # issue 15 item 11: a truncated file said "neither XML nor JSON (line 1 column 2)" wherever it was cut.
    p = _write(tmp_path, "x.json", body)
    with pytest.raises(ConversionError, match=pattern) as e:
        load_dataset([p])
    assert "\n" not in str(e.value)
    assert len(str(e.value)) < 500
    assert "x.json" in str(e.value)


def test_jsonl_lines_with_deep_nesting_or_huge_numbers_are_errors(tmp_path: Path) -> None:
    head = '{"format": "accord-jsonl", "version": 1}\n'
    for line, pattern in ((("[" * 50_000) + ("]" * 50_000), r"x.jsonl:2.*nested too deeply"),
                          ('{"item_id": "a", "value": ' + "1" * 5000 + "}", r"x.jsonl:2.*4300 digits")):
        p = _write(tmp_path, "x.jsonl", head + line + "\n")
        with pytest.raises(ConversionError, match=pattern):
            load_dataset([p])


def test_cvat_warnings_reach_the_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = _write(tmp_path, "t.xml", '<annotations><image id="0" name="a"><spline label="x"/></image></annotations>')
    with caplog.at_level("WARNING"):
        load_dataset([p])
    assert any("t.xml" in r.getMessage() and "1 <spline> element" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("name", "body", "pattern"), [
    ("t.xml", b'<annotations><image id="0" name="a.jpg" width="eight" height="8"/></annotations>',
     r"t.xml: \[item a.jpg, field 'image.width'\]"),
    ("m.xml", b'<annotations><image id="0" name="a.jpg" width="8" height="8"><mask label="c" rle="1" left="nan" '
     b'top="0" width="1" height="1"/></image></annotations>', r"m.xml: \[item a.jpg, field 'mask.left'\]"),
    ("ls.json", b'[{"id": 3, "data": "a string"}]', r"ls.json: \[item 3, field 'data'\]"),
    ("gt.json", b'[{"id": 3, "data": {}, "annotations": [{"id": 1, "ground_truth": "yes", "result": []}]}]',
     r"gt.json: \[item 3, field 'annotations\[0\].ground_truth'\]"),
    ("cut.json", b'[{"id": 3, "data": {"text": "ab', r"cut.json looks truncated"),
    ("deep.json", b"[" * 100_000, r"deep.json"),
    ("x.zip", b"PK\x03\x04 not really a zip", r"x.zip"),
])
def test_cli_malformed_inputs_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
                                                  body: bytes, pattern: str) -> None:
    # issue 15 item 11: a one-line error naming file, item and field, exit 2; never "internal error"
    from accord.cli import main

    p = _write(tmp_path, name, body)
    assert main(["-q", "report", str(p)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("accord: error: ")
    assert "internal error" not in err
    assert __import__("re").search(pattern, err), err


def test_a_zip_that_is_not_an_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import io
    import zipfile

    from accord.cli import main

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("images/0.jpg", b"\xff\xd8")
    p = _write(tmp_path, "yolo.zip", buf.getvalue())
    assert main(["-q", "report", str(p)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "yolo.zip" in err, err
    assert "annotations.xml" in err, err


def test_join_items_flag_on_the_command_line(tmp_path: Path) -> None:
    from accord.cli import main
    from accord.core.formats.jsonl import loads_dataset

    ls = _write(tmp_path, "ls.json", json.dumps(LS_TASK))
    coco = _write(tmp_path, "coco.json", json.dumps(COCO))
    for flag, items in (([], ["coco:1", "label-studio:1"]), (["--join-items"], ["1"])):
        out = tmp_path / "o.jsonl"
        assert main(["-q", "convert", str(ls), str(coco), *flag, "-o", str(out)]) == 0
        assert sorted(loads_dataset(out.read_text(encoding="utf-8")).items) == items


def test_accord_jsonl_keeps_its_ids_when_merged(tmp_path: Path) -> None:
    # `accord convert ls.json coco.json` wrote namespaced ids; reading that file beside a new LS
    # export joins it by those ids, and a JSONL converted from LS alone joins the raw LS ids.
    from accord.core.formats.jsonl import dumps_dataset

    ls = _write(tmp_path, "ls.json", json.dumps(LS_TASK))
    coco = _write(tmp_path, "coco.json", json.dumps(COCO))
    mixed = _write(tmp_path, "mixed.jsonl", dumps_dataset(load_dataset([ls, coco])))
    assert sorted(load_dataset([mixed, ls, coco]).items) == ["coco:1", "label-studio:1"]
    plain = _write(tmp_path, "plain.jsonl", dumps_dataset(load_dataset([ls])))
    assert sorted(load_dataset([plain, ls]).items) == ["1"]
