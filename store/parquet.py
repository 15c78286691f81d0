"""accord datasets as Parquet: converted once, re-read without parsing a tool's export again.

One row per record, columns

* ``seq`` (int64): the record's place in the dataset, so a read gives the records back in order;
* ``item_id``, ``annotator_id``, ``label_set``, ``source``, ``kind`` (dictionary-encoded strings):
  for filters and column reads that need no JSON;
* ``record`` (string): the record's canonical JSON (:func:`accord.store.ledger.row_body`, the text the
  ledger stores and hashes), which :func:`accord.core.model.record_from_dict` reads back.

The schema, items, submissions and the dataset's name are JSON in the file's key-value metadata
(``accord.schema``, ``accord.items``, ``accord.submissions``, ``accord.name``, beside
``accord.format`` and ``accord.version``), in the shapes of accord JSON Lines' header
(:mod:`accord.core.formats.jsonl`). Rows are grouped by item (items in order of first appearance)
and a row group never splits an item, so a reader may take any subset of row groups and get whole
items: ``read_parquet(path, row_groups=[i])`` is a partition of the dataset.

pyarrow comes with the ``columnar`` extra: ``pip install 'accord[columnar]'``.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from accord.core.errors import AccordError, ConversionError, MissingExtraError
from accord.core.formats.jsonl import (
    item_from_dict,
    item_to_dict,
    json_loads,
    submission_from_dict,
    submission_to_dict,
)
from accord.core.model import Dataset, Record, record_from_dict
from accord.core.schema import Schema, label_set_from_dict, label_set_to_dict

from .ledger import row_body

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "MAGIC", "read_parquet", "require_pyarrow",
           "write_parquet"]

FORMAT_NAME = "accord-parquet"
FORMAT_VERSION = 1
#: The first (and last) four bytes of every Parquet file.
MAGIC = b"PAR1"
DEFAULT_ROW_GROUP_SIZE = 65_536

_KEY_COLUMNS = ("item_id", "annotator_id", "label_set", "source", "kind")
_META_KEYS = ("format", "version", "name", "schema", "items", "submissions")


def require_pyarrow() -> tuple[ModuleType, ModuleType]:
    """``pyarrow`` and ``pyarrow.parquet``, or :class:`MissingExtraError` naming the ``columnar`` extra."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as e:
        raise MissingExtraError("Parquet needs pyarrow, which is not installed; install it with: "
                                "pip install 'accord[columnar]'") from e
    return pa, pq


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _row_groups_by_item(records: Sequence[Record], row_group_size: int) -> list[list[int]]:
    """Record indices grouped by item (first-appearance order), cut into row groups at item boundaries."""
    by_item: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_item.setdefault(r.item_id, []).append(i)
    cuts: list[list[int]] = []
    group: list[int] = []
    for idx in by_item.values():
        if group and len(group) + len(idx) > row_group_size:
            cuts.append(group)
            group = []
        group.extend(idx)
    if group:
        cuts.append(group)
    return cuts


def write_parquet(dataset: Dataset, path: Path | str | BinaryIO, *,
                  row_group_size: int = DEFAULT_ROW_GROUP_SIZE) -> Path | BinaryIO:
    """Write a dataset as one accord Parquet file (to a path atomically: a reader never sees half a file).

    Args:
        dataset: The dataset; :func:`read_parquet` gives back an equal one.
        path: The file to write (replaced if it exists; a new one gets the umask's mode, a
            replaced one keeps its mode), or a writable binary file object.
        row_group_size: Rows per row group, at most; an item with more records than this gets a
            row group of its own (a row group never splits an item).

    Returns:
        The path (or file object) written.

    Raises:
        MissingExtraError: pyarrow is not installed.
        ConversionError: a record, item or submission holds something JSON cannot (NaN, an object).
        ValueError: ``row_group_size`` is not positive.
    """
    if isinstance(row_group_size, bool) or not isinstance(row_group_size, int) or row_group_size < 1:
        raise ValueError(f"row_group_size must be a positive integer, got {row_group_size!r}")
    pa, pq = require_pyarrow()
    records = dataset.records
    try:
        bodies = [row_body(r) for r in records]
        meta = {
            b"accord.format": FORMAT_NAME.encode(), b"accord.version": str(FORMAT_VERSION).encode(),
            b"accord.name": dataset.name.encode("utf-8"),
            b"accord.schema": _json({n: label_set_to_dict(ls) for n, ls in dataset.schema.label_sets.items()}),
            b"accord.items": _json([item_to_dict(it) for it in dataset.items.values()]),
            b"accord.submissions": _json([submission_to_dict(s) for s in dataset.submissions]),
        }
    except (TypeError, ValueError) as e:
        raise ConversionError(f"cannot write the dataset as Parquet: {str(e)[:160]}; accord files hold finite "
                              "numbers, strings, lists and objects only", field="value") from e
    cuts = _row_groups_by_item(records, row_group_size)
    dict_string = pa.dictionary(pa.int32(), pa.string())
    schema = pa.schema([("seq", pa.int64()), *((c, dict_string) for c in _KEY_COLUMNS),
                        ("record", pa.string())])
    if not isinstance(path, str | Path):
        _write(pa, pq, path, schema, records, bodies, cuts, meta)
        return path
    target = Path(path)
    try:
        keep_mode: int | None = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        keep_mode = None
    tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    # A new file is created 0666 and the kernel applies the umask; a replaced one keeps its mode.
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if keep_mode is None else 0o600))
    try:
        _write(pa, pq, tmp, schema, records, bodies, cuts, meta)
        if keep_mode is not None:
            os.chmod(tmp, keep_mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _write(pa: ModuleType, pq: ModuleType, sink: Any, schema: Any, records: Sequence[Record], bodies: list[str],
           cuts: list[list[int]], meta: dict[bytes, bytes]) -> None:
    """Rows in row groups cut at item boundaries, then the accord metadata in the footer."""
    with pq.ParquetWriter(sink, schema, compression="zstd", use_dictionary=list(_KEY_COLUMNS),
                          write_statistics=["seq", "item_id"]) as writer:
        for group in cuts:
            cols: dict[str, Any] = {"seq": pa.array(group, pa.int64())}
            cols["item_id"] = pa.array([records[i].item_id for i in group], pa.string()).dictionary_encode()
            cols["annotator_id"] = pa.array([records[i].annotator_id for i in group],
                                            pa.string()).dictionary_encode()
            cols["label_set"] = pa.array([records[i].label_set for i in group], pa.string()).dictionary_encode()
            cols["source"] = pa.array([records[i].source for i in group], pa.string()).dictionary_encode()
            cols["kind"] = pa.array([records[i].value.kind for i in group], pa.string()).dictionary_encode()
            cols["record"] = pa.array([bodies[i] for i in group], pa.string())
            writer.write_table(pa.table(cols, schema=schema), row_group_size=len(group))
        if not cuts:
            writer.write_table(schema.empty_table())
        # In the file's key-value metadata, not the Arrow schema's: pyarrow stores the schema again in
        # base64 (ARROW:schema), which would repeat all the items and submissions.
        writer.add_key_value_metadata(meta)


def _meta_json(meta: dict[bytes, bytes], key: str, name: str) -> Any:
    raw = meta.get(f"accord.{key}".encode())
    if raw is None:
        raise ConversionError(f"{name}: the accord Parquet metadata has no 'accord.{key}'; the file is damaged or "
                              "was not written by accord convert: convert the export again", field=f"accord.{key}")
    try:
        return json_loads(raw.decode("utf-8"), where=f"{name} (accord.{key})")
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConversionError(f"{name}: the Parquet metadata 'accord.{key}' is not JSON ({str(e)[:80]}); the file "
                              "is damaged: convert the export again", field=f"accord.{key}") from None


def _header(meta: dict[bytes, bytes] | None, name: str) -> tuple[str, Schema, list[Any], list[Any]]:
    if not meta or meta.get(b"accord.format") != FORMAT_NAME.encode():
        raise ConversionError(f"{name} is a Parquet file but not an accord one (no accord.format={FORMAT_NAME!r} "
                              "in its metadata); write it with: accord convert EXPORT -o out.parquet",
                              field="format")
    version = meta.get(b"accord.version", b"")
    if not version.isdigit():
        raise ConversionError(f"{name}: the accord Parquet metadata needs an integer 'accord.version', got "
                              f"{version[:40]!r}", field="version")
    if int(version) > FORMAT_VERSION:
        raise ConversionError(f"{name}: accord Parquet version {int(version)} is newer than this accord reads "
                              f"({FORMAT_VERSION}); upgrade accord", field="version")
    try:
        ds_name = meta.get(b"accord.name", b"dataset").decode("utf-8")
    except UnicodeDecodeError:
        raise ConversionError(f"{name}: the accord Parquet metadata 'accord.name' is not UTF-8; the file is "
                              "damaged: convert the export again", field="accord.name") from None
    schema_d, items, subs = (_meta_json(meta, k, name) for k in ("schema", "items", "submissions"))
    if not isinstance(schema_d, dict) or not isinstance(items, list) or not isinstance(subs, list):
        raise ConversionError(f"{name}: the accord Parquet metadata needs an object 'accord.schema' and lists "
                              "'accord.items' and 'accord.submissions'; the file is damaged: convert the export "
                              "again", field="schema")
    try:
        schema = Schema({n: label_set_from_dict(d) for n, d in schema_d.items()})
    except (AccordError, TypeError, ValueError, AttributeError, KeyError) as e:
        raise ConversionError(f"{name}: malformed schema in the accord Parquet metadata: {str(e)[:160]}",
                              field="schema") from e
    return ds_name, schema, items, subs


def add_row_group(pa: ModuleType, pf: Any, g: int, numbered: list[tuple[int, Record]], *, where: str) -> None:
    """Append row group ``g``'s records to ``numbered`` as ``(seq, record)``; its Arrow data is
    dropped before returning. A damaged row group is a :class:`ConversionError` naming ``where``."""
    try:
        table = pf.read_row_group(g, columns=["seq", *_KEY_COLUMNS, "record"])
        seq = table.column("seq").to_pylist()
        bodies = table.column("record").to_pylist()
        keys = {c: _strings(pa, table.column(c)) for c in _KEY_COLUMNS}
    except (pa.ArrowException, OSError, ValueError, IndexError, KeyError) as e:
        raise ConversionError(f"{where}: cannot read the Parquet data ({str(e)[:120]}); the file is damaged: "
                              "convert the export again", field="file") from None
    del table
    _add_records(numbered, where, seq, bodies, keys)


def read_parquet(path: Path | str, *, row_groups: Sequence[int] | None = None) -> Dataset:
    """Read an accord Parquet file written by :func:`write_parquet`.

    Args:
        path: The file.
        row_groups: Read only these row groups (indices from 0): the records of whole items,
            with those items and their submissions. ``None`` reads the whole file; items with
            no record are only in a whole-file read.

    Returns:
        The dataset, equal to the one written (records in their original order).

    Raises:
        MissingExtraError: pyarrow is not installed.
        ConversionError: the file is not Parquet, not accord's, of a newer version, or damaged
            (the message names what and where).
        OSError: the file cannot be read.
    """
    pa, pq = require_pyarrow()
    name = str(path)
    try:
        pf = pq.ParquetFile(path)
    except OSError:
        if not Path(path).exists():
            raise
        raise ConversionError(f"{name} is not a readable Parquet file; the file is damaged or truncated: convert "
                              "the export again", field="file") from None
    except (pa.ArrowException, ValueError) as e:
        raise ConversionError(f"{name} is not a readable Parquet file ({str(e)[:120]}); the file is damaged or "
                              "truncated: convert the export again", field="file") from None
    with pf:
        ds_name, schema, item_ds, sub_ds = _header(pf.metadata.metadata, name)
        missing = [c for c in ("seq", *_KEY_COLUMNS, "record") if c not in pf.schema_arrow.names]
        if missing:
            raise ConversionError(f"{name}: the accord Parquet file lacks columns {missing}; the file is damaged: "
                                  "convert the export again", field="columns")
        n_groups = pf.num_row_groups
        if row_groups is not None:
            bad = [g for g in row_groups if isinstance(g, bool) or not isinstance(g, int) or not 0 <= g < n_groups]
            if bad:
                raise ConversionError(f"{name}: row groups {bad[:5]} do not exist; the file has {n_groups} "
                                      f"(0 to {n_groups - 1})", field="row_groups")
        numbered: list[tuple[int, Record]] = []
        # One row group at a time: its Arrow data is dropped before the next is read.
        for g in range(n_groups) if row_groups is None else sorted(set(row_groups)):
            add_row_group(pa, pf, g, numbered, where=f"{name} row group {g}")
    pool = pa.default_memory_pool()
    if hasattr(pool, "release_unused"):  # pyarrow >= 9: hand the freed row-group buffers back to the OS
        pool.release_unused()
    numbered.sort(key=lambda p: p[0])
    order = [s for s, _ in numbered]
    if len(set(order)) != len(order) or (row_groups is None and order and (order[0] != 0
                                                                             or order[-1] != len(order) - 1)):
        raise ConversionError(f"{name}: the 'seq' column is not a numbering of the records (repeats or gaps); the "
                              "file is damaged: convert the export again", field="seq")
    records = [r for _, r in numbered]
    del numbered
    try:
        items = {it.item_id: it for it in (item_from_dict(d) for d in item_ds)}
        subs = [submission_from_dict(d) for d in sub_ds]
    except ConversionError as e:
        raise ConversionError(f"{name}: malformed accord Parquet metadata: {e}", field="items") from e
    except (AccordError, TypeError, ValueError, AttributeError) as e:
        raise ConversionError(f"{name}: malformed accord Parquet metadata: {str(e)[:160]}", field="items") from e
    if row_groups is not None:
        read = {r.item_id for r in records}
        items = {k: v for k, v in items.items() if k in read}
        subs = [s for s in subs if s.item_id in read]
    return Dataset(records=tuple(records), schema=schema, items=items, submissions=tuple(subs), name=ds_name)


def _strings(pa: ModuleType, column: Any) -> list[Any]:
    """A column's values as a list; a dictionary column decoded through its dictionary (each distinct
    string made once: five times faster than ``to_pylist()`` on 100k rows)."""
    if not pa.types.is_dictionary(column.type) or column.null_count:
        return list(column.to_pylist())
    out: list[Any] = []
    for chunk in column.chunks:
        values = chunk.dictionary.to_pylist()
        out.extend([values[i] for i in chunk.indices.to_pylist()])  # (to_numpy imports pandas)
    return out


def _add_records(out: list[tuple[int, Record]], name: str, seq: list[Any], bodies: list[Any],
                 keys: dict[str, list[Any]]) -> None:
    """Append ``(seq, record)`` for each row of a row group, each record checked against its key columns."""
    key_rows = zip(*(keys[c] for c in _KEY_COLUMNS), strict=True)
    for row, (s, body, want) in enumerate(zip(seq, bodies, key_rows, strict=True)):
        if not isinstance(s, int) or not isinstance(body, str):
            raise ConversionError(f"{name} row {row}: expected an integer 'seq' and a JSON 'record', got {s!r} and "
                                  f"{str(body)[:40]!r}; the file is damaged: convert the export again",
                                  field="record")
        try:
            d = json_loads(body, where=f"{name} row {row}") if body[:1] == "{" else None
            r = record_from_dict(d) if isinstance(d, dict) else None
        except json.JSONDecodeError as e:
            raise ConversionError(f"{name} row {row}: the record is not JSON ({e}); the file is damaged: convert "
                                  "the export again", field="record") from None
        except (AccordError, TypeError, ValueError, AttributeError, KeyError) as e:
            rid = d.get("item_id") if isinstance(d, dict) else None
            raise ConversionError(f"{name} row {row}: malformed record: {str(e)[:160]}",
                                  item_id=rid[:80] if isinstance(rid, str) else None, field="record") from e
        if r is None:
            raise ConversionError(f"{name} row {row}: expected a record (a JSON object), got {body[:40]!r}; the "
                                  "file is damaged: convert the export again", field="record")
        got = (r.item_id, r.annotator_id, r.label_set, r.source, r.value.kind)
        if got != want:
            raise ConversionError(f"{name} row {row}: the columns {dict(zip(_KEY_COLUMNS, want, strict=True))} "
                                  f"disagree with the record's JSON {dict(zip(_KEY_COLUMNS, got, strict=True))}; "
                                  "the file was edited or is damaged: convert the export again", field="record")
        out.append((s, r))
