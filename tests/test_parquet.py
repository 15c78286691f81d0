"""accord Parquet (``accord.store.parquet``, ``accord convert -o out.parquet``): exact round trips, reads by
row group, and one-line errors for files that are not accord's or are damaged."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from accord.cli import main  # noqa: E402
from accord.cmd_demo import load_sample  # noqa: E402
from accord.core.errors import ConversionError, MissingExtraError  # noqa: E402
from accord.core.formats.jsonl import dumps_dataset, loads_dataset  # noqa: E402
from accord.core.model import Dataset  # noqa: E402
from accord.io import detect_format, load_dataset  # noqa: E402
from accord.store.ledger import row_body  # noqa: E402
from accord.store.parquet import read_parquet, write_parquet  # noqa: E402

TESTS = Path(__file__).parent
SAMPLE = TESTS.parent / "core" / "data" / "sample"
TP = TESTS / "fixtures" / "third_party"
# The third-party exports tests/test_real_exports.py loads with load_dataset (configs found beside them).
REAL_EXPORTS = [TP / "datumaro" / "export_project_annotations.xml", TP / "datumaro" / "export_task_train.xml",
                TP / "datumaro" / "for_video_annotations.xml",
                TP / "label_studio_converter" / "test_export_csv_csv_test.json",
                TP / "label_studio_converter" / "test_export_yolo_data.json",
                TESTS / "fixtures" / "cvat" / "images_train.xml",
                TESTS / "fixtures" / "coco" / "instances_default.json",
                TESTS / "fixtures" / "label_studio" / "export_snapshot_full.json"]


def _assert_same(back: Dataset, ds: Dataset) -> None:
    # Field by field first, so a failure says which part differs; then the dataclass equality itself.
    assert back.name == ds.name
    assert back.schema == ds.schema
    assert back.records == ds.records
    assert dict(back.items) == dict(ds.items)
    assert back.submissions == ds.submissions
    assert back == ds


def test_round_trip_of_the_bundled_sample(tmp_path: Path) -> None:
    ds = load_sample()
    assert len({r.value.kind for r in ds.records}) >= 4  # boxes, classes, spans, segments...
    path = write_parquet(ds, tmp_path / "sample.parquet")
    _assert_same(read_parquet(path), ds)
    # And the same dataset as accord JSON Lines gives: the two formats hold the same thing.
    _assert_same(read_parquet(path), loads_dataset(dumps_dataset(ds)))


@pytest.mark.parametrize("export", REAL_EXPORTS, ids=lambda p: p.name)
def test_round_trip_of_real_exports(export: Path, tmp_path: Path) -> None:
    ds = load_dataset([export])
    assert ds.records
    _assert_same(read_parquet(write_parquet(ds, tmp_path / "x.parquet")), ds)


def test_round_trip_keeps_items_without_records_and_explicit_empty_submissions(tmp_path: Path) -> None:
    # The sample's Label Studio tasks include ones nobody labelled; its submissions include skips.
    ds = load_sample()
    recorded = {r.item_id for r in ds.records}
    ds2 = Dataset(records=ds.records[:50], schema=ds.schema, items=ds.items, submissions=ds.submissions,
                  name="part")
    assert set(ds2.items) - {r.item_id for r in ds2.records}  # items with no record
    back = read_parquet(write_parquet(ds2, tmp_path / "p.parquet"))
    _assert_same(back, ds2)
    assert recorded  # (the full sample is covered above)


def test_interleaved_records_are_stored_by_item_and_read_back_in_their_order(tmp_path: Path) -> None:
    import random

    sample = load_sample()
    records = list(sample.records)
    random.Random(0).shuffle(records)  # an item's records scattered over the dataset
    ds = Dataset(records=tuple(records), schema=sample.schema, items=sample.items, submissions=sample.submissions,
                 name="shuffled")
    path = write_parquet(ds, tmp_path / "s.parquet", row_group_size=50)
    stored = pq.read_table(path, columns=["row", "seq", "item_id"], filters=[("row", "==", "record")])
    ids = stored.column("item_id").to_pylist()
    assert stored.column("seq").to_pylist() != sorted(stored.column("seq").to_pylist())  # rows moved...
    runs = [a for a, b in zip(ids, [None, *ids[:-1]], strict=True) if a != b]
    assert len(runs) == len(set(ids))  # ...so that each item's rows are one run
    _assert_same(read_parquet(path), ds)  # and the records come back in the dataset's order


def test_empty_dataset_round_trips(tmp_path: Path) -> None:
    ds = Dataset(records=(), name="empty")
    _assert_same(read_parquet(write_parquet(ds, tmp_path / "e.parquet")), ds)


def test_columns_are_dictionary_encoded_and_rows_hold_the_canonical_json(tmp_path: Path) -> None:
    ds = load_sample()
    path = write_parquet(ds, tmp_path / "s.parquet")
    pf = pq.ParquetFile(path)
    meta = pf.metadata.metadata
    assert set(meta) >= {b"accord.format", b"accord.version", b"accord.schema", b"accord.row_groups", b"accord.name"}
    assert b"accord.items" not in meta  # rows now, not footer JSON
    assert b"accord.submissions" not in meta
    assert meta[b"accord.version"] == b"2"
    rg = pf.metadata.row_group(0)
    names = pf.schema_arrow.names
    for col in ("row", "item_id", "annotator_id", "label_set", "source", "kind"):
        assert "RLE_DICTIONARY" in rg.column(names.index(col)).encodings, col
        assert pa.types.is_dictionary(pf.schema_arrow.field(col).type), col
    table = pf.read()
    rows = list(zip(table.column("row").to_pylist(), table.column("seq").to_pylist(),
                    table.column("record").to_pylist(), strict=True))
    by_seq = {q: body for kind, q, body in rows if kind == "record"}
    assert [by_seq[i] for i in range(len(ds.records))] == [row_body(r) for r in ds.records]
    items = {q: json.loads(body) for kind, q, body in rows if kind == "item"}
    assert [items[i]["item_id"] for i in range(len(ds.items))] == list(ds.items)
    subs = {q: json.loads(body) for kind, q, body in rows if kind == "submission"}
    assert [(subs[i]["item_id"], subs[i]["annotator_id"]) for i in range(len(ds.submissions))] == [
        (x.item_id, x.annotator_id) for x in ds.submissions]
    counts = json.loads(meta[b"accord.row_groups"])
    assert [sum(c) for c in counts] == [pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)]
    assert [sum(c[k] for c in counts) for k in range(3)] == [len(ds.records), len(ds.items), len(ds.submissions)]


def test_row_groups_never_split_an_item(tmp_path: Path) -> None:
    sample = load_sample()
    unlabelled = set(list(sample.items)[3:8])  # five items nobody labelled, whose submissions stay
    ds = Dataset(records=tuple(r for r in sample.records if r.item_id not in unlabelled), schema=sample.schema,
                 items=sample.items, submissions=sample.submissions, name=sample.name)
    per_item = Counter(r.item_id for r in ds.records)
    size = 7
    assert max(per_item.values()) > size  # some item must get a row group of its own, over the size
    path = write_parquet(ds, tmp_path / "s.parquet", row_group_size=size)
    pf = pq.ParquetFile(path)
    assert pf.num_row_groups > 10
    seen: set[str] = set()
    n_record_groups = len(json.loads(pf.metadata.metadata[b"accord.row_groups"])) - 1  # the last: no records
    assert any(s.item_id in unlabelled for s in ds.submissions)
    for g in range(n_record_groups):
        table = pf.read_row_group(g, columns=["row", "item_id"])
        ids = [i for k, i in zip(table.column("row").to_pylist(), table.column("item_id").to_pylist(), strict=True)
               if k == "record"]
        group_items = set(ids)
        assert not group_items & seen, f"row group {g} repeats an item of an earlier one"
        seen |= group_items
        assert len(ids) == sum(per_item[i] for i in group_items)  # every row of its items, none elsewhere
        assert len(ids) <= size or len(group_items) == 1  # over the size only for one big item
    assert seen == set(per_item)
    # Reading row groups apart gives a partition of the dataset: whole items, their submissions.
    parts = [read_parquet(path, row_groups=[g]) for g in range(pf.num_row_groups)]
    assert Counter(row_body(r) for p in parts for r in p.records) == Counter(row_body(r) for r in ds.records)
    for p in parts[:n_record_groups]:
        assert set(p.items) == {r.item_id for r in p.records}
        assert all(p.items[k] == ds.items[k] for k in p.items)
        assert set(p.submissions) == {s for s in ds.submissions if s.item_id in p.items}
    rest = parts[-1]  # the items nobody labelled (and their skips), in their own row group
    assert not rest.records
    assert set(rest.items) == unlabelled
    assert set(rest.submissions) == {s for s in ds.submissions if s.item_id in rest.items}
    # Every item and submission once over the parts, as the whole has them.
    assert sorted(k for p in parts for k in p.items) == sorted(ds.items)
    assert Counter(s for p in parts for s in p.submissions) == Counter(ds.submissions)
    two = read_parquet(path, row_groups=[1, 0])
    first_two = set(parts[0].items) | set(parts[1].items)
    assert two.records == tuple(r for r in ds.records if r.item_id in first_two)  # in the dataset's order


def test_row_groups_that_do_not_exist(tmp_path: Path) -> None:
    path = write_parquet(load_sample(), tmp_path / "s.parquet")
    with pytest.raises(ConversionError, match=r"row groups \[5\] do not exist; the file has 1 \(0 to 0\)"):
        read_parquet(path, row_groups=[5])


def test_bad_row_group_size() -> None:
    with pytest.raises(ValueError, match="row_group_size must be a positive integer, got 0"):
        write_parquet(load_sample(), "unused.parquet", row_group_size=0)


def test_detect_format_and_load_dataset_read_parquet(tmp_path: Path) -> None:
    ds = load_dataset([SAMPLE / "text_sentiment.json"])
    path = write_parquet(ds, tmp_path / "any-name.bin")  # found by content, not by suffix
    assert detect_format(path.read_bytes())[0] == "parquet"
    _assert_same(load_dataset([path]), ds)
    _assert_same(load_dataset([path], format="parquet"), ds)
    with pytest.raises(ConversionError, match="is not a Parquet file"):
        load_dataset([SAMPLE / "text_sentiment.json"], format="parquet")
    # Parquet is accord's own format: when two tools' exports are namespaced, its ids are kept as written.
    merged = load_dataset([path, SAMPLE / "images_boxes.json", TESTS / "fixtures" / "cvat" / "images_train.xml"])
    assert set(ds.items) <= set(merged.items)
    assert {k.split(":")[0] for k in set(merged.items) - set(ds.items)} == {"label-studio", "cvat"}


def _report(args: list[str], out: Path) -> dict[str, object]:
    assert main(["-q", "report", *args, "--no-ledger", "--json", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    del report["generated_at"]
    report["checks"].pop("durations_s", None)  # wall-clock timings of each check
    return report


def test_cli_convert_to_parquet_then_report_equals_report_of_the_export(tmp_path: Path) -> None:
    exports = [SAMPLE / f"{n}.json" for n in ("text_sentiment", "images_boxes", "text_ner")]
    out = tmp_path / "project.parquet"
    assert main(["-q", "convert", *map(str, exports), "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == b"PAR1"
    _assert_same(read_parquet(out), load_dataset(exports))
    from_export = _report(list(map(str, exports)), tmp_path / "a.json")
    from_parquet = _report([str(out)], tmp_path / "b.json")
    assert from_parquet == from_export
    assert from_export["summary"]["n_items"] > 0  # type: ignore[index]


def test_cli_convert_to_option_and_back_to_jsonl(tmp_path: Path) -> None:
    export = SAMPLE / "audio_transcripts.json"
    pq_out = tmp_path / "odd-suffix.data"
    assert main(["-q", "convert", str(export), "--to", "parquet", "--row-group-size", "4", "-o", str(pq_out)]) == 0
    assert pq.ParquetFile(pq_out).num_row_groups > 1
    jl = tmp_path / "back.jsonl"
    assert main(["-q", "convert", str(pq_out), "-o", str(jl)]) == 0
    direct = tmp_path / "direct.jsonl"
    assert main(["-q", "convert", str(export), "-o", str(direct)]) == 0
    # Parquet in between changes nothing but the dataset's name (the file's stem when it had none).
    a = loads_dataset(jl.read_text(encoding="utf-8"))
    b = loads_dataset(direct.read_text(encoding="utf-8"))
    assert a.records == b.records
    assert dict(a.items) == dict(b.items)
    assert a.submissions == b.submissions
    assert a.schema == b.schema


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_corrupt_files_give_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_parquet(load_sample(), tmp_path / "good.parquet")
    data = good.read_bytes()
    cases = {
        "truncated.parquet": (data[: len(data) // 2], "is not a readable Parquet file"),
        "magic-only.parquet": (b"PAR1" + b"\0" * 64, "is not a readable Parquet file"),
        "tail-damaged.parquet": (data[:-12] + b"\xff" * 8 + data[-4:], "is not a readable Parquet file"),
    }
    for name, (content, message) in cases.items():
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(ConversionError, match=message):
            read_parquet(bad)
        err = _one_line_error(capsys, ["report", str(bad), "--no-ledger"])
        assert name in err
        assert message in err


def test_a_parquet_file_that_is_not_accords(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"x": [1, 2, 3]}), other)
    with pytest.raises(ConversionError, match="is a Parquet file but not an accord one"):
        read_parquet(other)
    err = _one_line_error(capsys, ["convert", str(other), "-o", str(tmp_path / "o.jsonl")])
    assert "accord convert EXPORT -o out.parquet" in err


def _rewrite(src: Path, dst: Path, *, meta: dict[bytes, bytes] | None = None,
             record: tuple[int, str] | None = None, drop: str | None = None, seq_zero: bool = False) -> Path:
    """A copy of an accord Parquet file with some metadata, one record's JSON or a column changed."""
    pf = pq.ParquetFile(src)
    table = pf.read()
    if record is not None:
        row, text = record
        bodies = table.column("record").to_pylist()
        bodies[row] = text
        table = table.set_column(table.schema.get_field_index("record"), "record", pa.array(bodies, pa.string()))
    if drop is not None:
        table = table.drop_columns([drop])
    if seq_zero:
        table = table.set_column(table.schema.get_field_index("seq"), "seq", pa.array([0] * table.num_rows, pa.int64()))
    with pq.ParquetWriter(dst, table.schema) as w:
        w.write_table(table)
        w.add_key_value_metadata({**pf.metadata.metadata, **(meta or {})})
    return dst


@pytest.mark.parametrize(("change", "message"), [
    ({"meta": {b"accord.version": b"9"}}, "accord Parquet version 9 is newer than this accord reads"),
    ({"meta": {b"accord.version": b"one"}}, "needs an integer 'accord.version', got b'one'"),
    ({"meta": {b"accord.row_groups": b"[[1, 2]]"}}, "'accord.row_groups' does not describe the file's 1 row groups"),
    ({"meta": {b"accord.row_groups": b"[[1, 0, 0]]"}}, "'accord.row_groups' does not describe the file's 1 row groups"),
    ({"meta": {b"accord.schema": b'{"s": {"kind": "nonsense"}}'}}, "malformed schema"),
    ({"record": (3, '{"item_id": "x"')}, "row 3: the record is not JSON"),
    ({"record": (2, '{"item_id": "x", "annotator_id": "a", "label_set": "s"}')}, "row 2: malformed record"),
    ({"record": (1, "[1, 2]")}, r"row 1: expected a record \(a JSON object\), got .\[1, 2\]."),
    ({"drop": "label_set"}, r"lacks columns \['label_set'\]"),
    ({"seq_zero": True}, "the 'seq' column is not a numbering of the records"),
], ids=["newer", "version", "counts-shape", "counts-sum", "schema", "record-json", "record", "record-list",
        "column", "seq"])
def test_damaged_accord_parquet(tmp_path: Path, change: dict[str, object], message: str) -> None:
    good = write_parquet(load_sample(), tmp_path / "good.parquet")
    bad = _rewrite(good, tmp_path / "bad.parquet", **change)  # type: ignore[arg-type]
    with pytest.raises(ConversionError, match=message):
        read_parquet(bad)


def _body_of(path: Path, kind: str) -> tuple[int, str]:
    """The row number and JSON of the first row of ``kind`` (item, submission) in a one-group file."""
    table = pq.ParquetFile(path).read(columns=["row", "record"])
    row = table.column("row").to_pylist().index(kind)
    return row, table.column("record")[row].as_py()


@pytest.mark.parametrize(("kind", "edit", "message"), [
    ("item", lambda b: b[:-1], "the item is not JSON"),
    ("item", lambda b: "[1]", r"expected an item \(a JSON object\)"),
    ("item", lambda b: json.dumps({**json.loads(b), "item_id": "elsewhere"}), "the item_id column .* disagrees"),
    ("item", lambda b: json.dumps({"data": {}}), "malformed item: .*an item needs a string 'item_id'"),
    ("submission", lambda b: json.dumps({**json.loads(b), "annotator_id": "mallory"}), "columns disagree"),
], ids=["item-json", "item-list", "item-id", "item-shape", "submission-annotator"])
def test_damaged_item_and_submission_rows(tmp_path: Path, kind: str, edit: object, message: str) -> None:
    good = write_parquet(load_sample(), tmp_path / "good.parquet")
    row, body = _body_of(good, kind)
    bad = _rewrite(good, tmp_path / "bad.parquet", record=(row, edit(body)))  # type: ignore[operator]
    with pytest.raises(ConversionError, match=f"row group 0 row {row}: .*{message}"):
        read_parquet(bad)


def test_format_version_1_files_are_still_read(tmp_path: Path) -> None:
    """Files written before items and submissions became rows (their JSON in the footer) read the same."""
    ds = load_sample()
    old = write_parquet(ds, tmp_path / "v1.parquet", format_version=1, row_group_size=40)
    meta = pq.ParquetFile(old).metadata.metadata
    assert meta[b"accord.version"] == b"1"
    assert b"accord.items" in meta
    assert "row" not in pq.ParquetFile(old).schema_arrow.names
    _assert_same(read_parquet(old), ds)
    part = read_parquet(old, row_groups=[0])  # version 1: a part has the items of its records only
    assert part.records
    assert set(part.items) == {r.item_id for r in part.records}
    with pytest.raises(ValueError, match="format_version must be 1 or 2"):
        write_parquet(ds, tmp_path / "v3.parquet", format_version=3)


@pytest.mark.parametrize(("change", "message"), [
    ({b"accord.items": b"[{"}, "the Parquet metadata 'accord.items' is not JSON"),
    ({b"accord.items": b'{"a": 1}'}, "lists 'accord.items' and 'accord.submissions'"),
    ({b"accord.items": b'[{"data": {}}]'}, "an item needs a string 'item_id'"),
], ids=["items-json", "items-shape", "item"])
def test_damaged_version_1_footer(tmp_path: Path, change: dict[bytes, bytes], message: str) -> None:
    good = write_parquet(load_sample(), tmp_path / "good.parquet", format_version=1)
    with pytest.raises(ConversionError, match=message):
        read_parquet(_rewrite(good, tmp_path / "bad.parquet", meta=change))


def test_a_record_that_disagrees_with_its_columns(tmp_path: Path) -> None:
    ds = load_sample()
    good = write_parquet(ds, tmp_path / "good.parquet")
    row0 = json.loads(pq.ParquetFile(good).read().column("record")[0].as_py())
    row0["annotator_id"] = "mallory@example.com"
    bad = _rewrite(good, tmp_path / "bad.parquet", record=(0, json.dumps(row0)))
    with pytest.raises(ConversionError, match=r"row 0: the columns .* disagree with the record's JSON"):
        read_parquet(bad)


def test_missing_pyarrow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    existing = write_parquet(load_sample(), tmp_path / "existing.parquet")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'accord\[columnar\]'"):
        write_parquet(load_sample(), tmp_path / "x.parquet")
    err = _one_line_error(capsys, ["convert", str(SAMPLE / "text_sentiment.json"), "-o", str(tmp_path / "x.parquet")])
    assert "pip install 'accord[columnar]'" in err
    assert not (tmp_path / "x.parquet").exists()
    err = _one_line_error(capsys, ["report", str(existing), "--no-ledger"])  # read: found by content, then said
    assert "Parquet needs pyarrow" in err


def test_write_to_a_file_object_and_file_modes(tmp_path: Path) -> None:
    import io
    import os
    import stat

    ds = load_sample()
    buf = io.BytesIO()
    write_parquet(ds, buf)
    (tmp_path / "buf.parquet").write_bytes(buf.getvalue())
    _assert_same(read_parquet(tmp_path / "buf.parquet"), ds)
    umask = os.umask(0o022)
    try:
        new = write_parquet(ds, tmp_path / "new.parquet")
        assert stat.S_IMODE(new.stat().st_mode) == 0o644  # 0666 less the umask, not mkstemp's 0600
        os.chmod(new, 0o640)
        write_parquet(ds, new)
        assert stat.S_IMODE(new.stat().st_mode) == 0o640  # a replaced file keeps its mode
    finally:
        os.umask(umask)


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    from accord.core.model import Classification, Record

    ds = Dataset(records=(Record(item_id="t", annotator_id="a", label_set="s", value=Classification(label="x"),
                                 meta={"bad": float("nan")}),))
    target = tmp_path / "nan.parquet"
    with pytest.raises(ConversionError, match="cannot write the dataset as Parquet"):
        write_parquet(ds, target)
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary
