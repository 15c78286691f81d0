"""accord datasets as Parquet: converted once, re-read without parsing a tool's export again.

One row per record, item and submission (format version 2), columns

* ``row`` (dictionary string): ``record``, ``item`` or ``submission``;
* ``seq`` (int64): the row's place among its kind in the dataset (the record's place in the
  records, the item's in the items, the submission's in the submissions), so a read gives each
  back in order;
* ``item_id``, ``annotator_id``, ``label_set``, ``source``, ``kind`` (dictionary-encoded strings):
  for filters and column reads that need no JSON (an item row has only its ``item_id``, a
  submission row its ``item_id`` and ``annotator_id``; the others are empty strings);
* ``record`` (string): the row's canonical JSON: a record's as :func:`accord.store.ledger.row_body`
  writes it (the text the ledger stores and hashes, which :func:`accord.core.model.record_from_dict`
  reads back), an item's or a submission's in the shapes of accord JSON Lines' header
  (:mod:`accord.core.formats.jsonl`).

Records are grouped by item (items in order of first appearance) and a row group never splits an
item; **each row group holds its items' records, the items themselves and their submissions**, and
the items and submissions that have no record (a skipped task) are in one last row group of their
own. So a reader may take any subset of row groups and get whole items, parsing only what it
reads: ``read_parquet(path, row_groups=[i])`` is a partition of the dataset, and a Dask worker
reading a few row groups parses a few row groups' worth, however big the file.

The footer's key-value metadata holds the schema and the dataset's name (``accord.schema``,
``accord.name``, beside ``accord.format`` and ``accord.version``) and each row group's counts
(``accord.row_groups``: ``[[records, items, submissions], ...]``). Format version 1 (accord
before issue #17's partitions) kept every item and submission as JSON in the footer
(``accord.items``, ``accord.submissions``); such files are still read.

pyarrow comes with the ``columnar`` extra: ``pip install 'accord[columnar]'``.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
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
from accord.core.model import Dataset, Item, Record, Submission, record_from_dict
from accord.core.schema import Schema, label_set_from_dict, label_set_to_dict

from .ledger import row_body

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "MAGIC", "ROW_KINDS", "ParquetHeader", "RowGroupRows",
           "read_header", "read_parquet", "read_row_groups", "require_pyarrow", "write_parquet"]

FORMAT_NAME = "accord-parquet"
FORMAT_VERSION = 2
#: What the ``row`` column holds.
ROW_KINDS = ("record", "item", "submission")
#: The first (and last) four bytes of every Parquet file.
MAGIC = b"PAR1"
DEFAULT_ROW_GROUP_SIZE = 65_536

_KEY_COLUMNS = ("item_id", "annotator_id", "label_set", "source", "kind")


def require_pyarrow() -> tuple[ModuleType, ModuleType]:
    """``pyarrow`` and ``pyarrow.parquet``, or :class:`MissingExtraError` naming the ``columnar`` extra."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as e:
        raise MissingExtraError("Parquet needs pyarrow, which is not installed; install it with: "
                                "pip install 'accord[columnar]'") from e
    return pa, pq


def _json_text(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _json(obj: Any) -> bytes:
    return _json_text(obj).encode("utf-8")


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


def _layout(dataset: Dataset, row_group_size: int) -> list[tuple[list[int], list[int], list[int]]]:
    """Each row group's (record, item, submission) indices: records cut at item boundaries, each
    group's items and their submissions with it, the items and submissions without a record last."""
    records = dataset.records
    cuts = _row_groups_by_item(records, row_group_size)
    group_of: dict[str, int] = {}
    for g, idx in enumerate(cuts):
        for i in idx:
            group_of.setdefault(records[i].item_id, g)
    rest = len(cuts)
    items: list[list[int]] = [[] for _ in range(rest + 1)]
    subs: list[list[int]] = [[] for _ in range(rest + 1)]
    for k, item_id in enumerate(dataset.items):
        items[group_of.get(item_id, rest)].append(k)
    for k, sub in enumerate(dataset.submissions):
        subs[group_of.get(sub.item_id, rest)].append(k)
    out = [(cuts[g], items[g], subs[g]) for g in range(rest)]
    if items[rest] or subs[rest]:
        out.append(([], items[rest], subs[rest]))
    return out


def write_parquet(dataset: Dataset, path: Path | str | BinaryIO, *,
                  row_group_size: int = DEFAULT_ROW_GROUP_SIZE, format_version: int = FORMAT_VERSION
                  ) -> Path | BinaryIO:
    """Write a dataset as one accord Parquet file (to a path atomically: a reader never sees half a file).

    Args:
        dataset: The dataset; :func:`read_parquet` gives back an equal one.
        path: The file to write (replaced if it exists; a new one gets the umask's mode, a
            replaced one keeps its mode), or a writable binary file object.
        row_group_size: Records per row group, at most; an item with more records than this gets a
            row group of its own (a row group never splits an item). A row group also holds its
            items and their submissions.
        format_version: 2 (the default: items and submissions in the row groups of their records);
            1 writes the older layout (every item and submission in the footer) that accord before
            version 2 of the format reads.

    Returns:
        The path (or file object) written.

    Raises:
        MissingExtraError: pyarrow is not installed.
        ConversionError: a record, item or submission holds something JSON cannot (NaN, an object).
        ValueError: ``row_group_size`` is not positive, or ``format_version`` is not 1 or 2.
    """
    if isinstance(row_group_size, bool) or not isinstance(row_group_size, int) or row_group_size < 1:
        raise ValueError(f"row_group_size must be a positive integer, got {row_group_size!r}")
    if format_version not in (1, 2):
        raise ValueError(f"format_version must be 1 or 2, got {format_version!r}")
    pa, pq = require_pyarrow()
    records = dataset.records
    meta = {b"accord.format": FORMAT_NAME.encode(), b"accord.version": str(format_version).encode(),
            b"accord.name": dataset.name.encode("utf-8")}
    layout: list[tuple[list[int], list[int], list[int]]]
    try:
        bodies = [row_body(r) for r in records]
        meta[b"accord.schema"] = _json({n: label_set_to_dict(ls) for n, ls in dataset.schema.label_sets.items()})
        if format_version == 1:
            layout = [(idx, [], []) for idx in _row_groups_by_item(records, row_group_size)]
            meta[b"accord.items"] = _json([item_to_dict(it) for it in dataset.items.values()])
            meta[b"accord.submissions"] = _json([submission_to_dict(s) for s in dataset.submissions])
        else:
            layout = _layout(dataset, row_group_size)
            meta[b"accord.row_groups"] = _json([[len(r), len(i), len(s)] for r, i, s in layout])
    except (TypeError, ValueError) as e:
        raise ConversionError(f"cannot write the dataset as Parquet: {str(e)[:160]}; accord files hold finite "
                              "numbers, strings, lists and objects only", field="value") from e
    dict_string = pa.dictionary(pa.int32(), pa.string())
    schema = pa.schema([*([("row", dict_string)] if format_version >= 2 else []), ("seq", pa.int64()),
                        *((c, dict_string) for c in _KEY_COLUMNS), ("record", pa.string())])

    def write(sink: Any) -> None:
        _write(pa, pq, sink, schema, dataset, bodies, layout, meta)

    if not isinstance(path, str | Path):
        write(path)
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
        write(tmp)
        if keep_mode is not None:
            os.chmod(tmp, keep_mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _write(pa: ModuleType, pq: ModuleType, sink: Any, schema: Any, dataset: Dataset, bodies: list[str],
           layout: list[tuple[list[int], list[int], list[int]]], meta: dict[bytes, bytes]) -> None:
    """Row groups as laid out (records, then the group's items, then their submissions), then the
    accord metadata in the footer."""
    records = dataset.records
    items = list(dataset.items.values())
    subs = dataset.submissions
    rows = "row" in schema.names
    with pq.ParquetWriter(sink, schema, compression="zstd", use_dictionary=["row", *_KEY_COLUMNS] if rows
                          else list(_KEY_COLUMNS), write_statistics=["seq", "item_id"]) as writer:
        for rec, its, sbs in layout:
            n = len(rec) + len(its) + len(sbs)
            blank = [""] * (len(its) + len(sbs))
            try:
                body = [bodies[i] for i in rec] + [_json_text(item_to_dict(items[k])) for k in its] \
                    + [_json_text(submission_to_dict(subs[k])) for k in sbs]
            except (TypeError, ValueError) as e:
                raise ConversionError(f"cannot write the dataset as Parquet: {str(e)[:160]}; accord files hold "
                                      "finite numbers, strings, lists and objects only", field="value") from e
            cols: dict[str, Any] = {}
            if rows:
                cols["row"] = pa.array(["record"] * len(rec) + ["item"] * len(its) + ["submission"] * len(sbs),
                                       pa.string()).dictionary_encode()
            cols["seq"] = pa.array([*rec, *its, *sbs], pa.int64())
            cols["item_id"] = pa.array([records[i].item_id for i in rec] + [items[k].item_id for k in its]
                                       + [subs[k].item_id for k in sbs], pa.string()).dictionary_encode()
            cols["annotator_id"] = pa.array([records[i].annotator_id for i in rec] + [""] * len(its)
                                            + [subs[k].annotator_id for k in sbs], pa.string()).dictionary_encode()
            cols["label_set"] = pa.array([records[i].label_set for i in rec] + blank, pa.string()).dictionary_encode()
            cols["source"] = pa.array([records[i].source for i in rec] + blank, pa.string()).dictionary_encode()
            cols["kind"] = pa.array([records[i].value.kind for i in rec] + blank, pa.string()).dictionary_encode()
            cols["record"] = pa.array(body, pa.string())
            writer.write_table(pa.table(cols, schema=schema), row_group_size=n)
        if not layout:
            writer.write_table(schema.empty_table())
        # In the file's key-value metadata, not the Arrow schema's: pyarrow stores the schema again in
        # base64 (ARROW:schema), which would repeat everything there.
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


@dataclass(frozen=True, slots=True)
class ParquetHeader:
    """What an accord Parquet file's footer says.

    Attributes:
        name: The dataset's name.
        schema: The labeling schema.
        version: The format version (1 or 2).
        items, submissions: Version 1 only: every item and submission as JSON objects (None in
            version 2, where they are rows).
        row_groups: Version 2 only: each row group's ``(records, items, submissions)`` counts.
    """

    name: str
    schema: Schema
    version: int
    items: list[Any] | None = None
    submissions: list[Any] | None = None
    row_groups: tuple[tuple[int, int, int], ...] = ()

    def rest_groups(self) -> tuple[int, ...]:
        """Version 2: the row groups with no record (the items and submissions without one)."""
        return tuple(g for g, (n, _, _) in enumerate(self.row_groups) if n == 0)


def read_header(pf: Any, name: str) -> ParquetHeader:
    """The footer of an open :class:`pyarrow.parquet.ParquetFile`, checked (format, version,
    columns, the row-group counts against the file's row groups).

    Raises:
        ConversionError: not accord's, of a newer version, or damaged (one line naming ``name``).
    """
    meta = pf.metadata.metadata
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
    schema_d = _meta_json(meta, "schema", name)
    if not isinstance(schema_d, dict):
        raise ConversionError(f"{name}: the accord Parquet metadata needs an object 'accord.schema'; the file is "
                              "damaged: convert the export again", field="schema")
    try:
        schema = Schema({n: label_set_from_dict(d) for n, d in schema_d.items()})
    except (AccordError, TypeError, ValueError, AttributeError, KeyError) as e:
        raise ConversionError(f"{name}: malformed schema in the accord Parquet metadata: {str(e)[:160]}",
                              field="schema") from e
    v = int(version)
    wanted = ("row", "seq", *_KEY_COLUMNS, "record") if v >= 2 else ("seq", *_KEY_COLUMNS, "record")
    missing = [c for c in wanted if c not in pf.schema_arrow.names]
    if missing:
        raise ConversionError(f"{name}: the accord Parquet file lacks columns {missing}; the file is damaged: "
                              "convert the export again", field="columns")
    if v < 2:
        items, subs = (_meta_json(meta, k, name) for k in ("items", "submissions"))
        if not isinstance(items, list) or not isinstance(subs, list):
            raise ConversionError(f"{name}: the accord Parquet metadata needs lists 'accord.items' and "
                                  "'accord.submissions'; the file is damaged: convert the export again",
                                  field="items")
        return ParquetHeader(ds_name, schema, v, items=items, submissions=subs)
    counts = _meta_json(meta, "row_groups", name)
    n_groups = pf.metadata.num_row_groups
    ok = isinstance(counts, list) and all(
        isinstance(c, list) and len(c) == 3 and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0
                                                    for x in c) for c in counts)
    if ok and counts and (len(counts) != n_groups or any(
            sum(c) != pf.metadata.row_group(g).num_rows for g, c in enumerate(counts))):
        ok = False
    if ok and not counts and pf.metadata.num_rows:
        ok = False
    if not ok:
        raise ConversionError(f"{name}: the accord Parquet metadata 'accord.row_groups' does not describe the "
                              f"file's {n_groups} row groups (expected [records, items, submissions] per row "
                              "group); the file is damaged: convert the export again", field="row_groups")
    return ParquetHeader(ds_name, schema, v, row_groups=tuple(tuple(c) for c in counts))


@dataclass(slots=True)
class RowGroupRows:
    """Rows read from some row groups, each with its ``seq`` (its place among its kind)."""

    records: list[tuple[int, Record]] = field(default_factory=list)
    items: list[tuple[int, Item]] = field(default_factory=list)
    submissions: list[tuple[int, Submission]] = field(default_factory=list)


def add_row_group(pa: ModuleType, pf: Any, g: int, out: RowGroupRows, *, where: str, version: int = FORMAT_VERSION
                  ) -> None:
    """Append row group ``g``'s rows to ``out``; its Arrow data is dropped before returning. A
    damaged row group is a :class:`ConversionError` naming ``where``."""
    try:
        table = pf.read_row_group(g, columns=[*(["row"] if version >= 2 else []), "seq", *_KEY_COLUMNS, "record"])
        seq = table.column("seq").to_pylist()
        bodies = table.column("record").to_pylist()
        keys = {c: _strings(pa, table.column(c)) for c in _KEY_COLUMNS}
        kinds = _strings(pa, table.column("row")) if version >= 2 else None
    except (pa.ArrowException, OSError, ValueError, IndexError, KeyError) as e:
        raise ConversionError(f"{where}: cannot read the Parquet data ({str(e)[:120]}); the file is damaged: "
                              "convert the export again", field="file") from None
    del table
    if kinds is None or all(k == "record" for k in kinds):
        _add_records(out.records, where, seq, bodies, keys)
        return
    rows: dict[str, list[int]] = {k: [] for k in ROW_KINDS}
    for j, k in enumerate(kinds):
        if k not in rows:
            raise ConversionError(f"{where} row {j}: expected a row kind of {list(ROW_KINDS)}, got {str(k)[:40]!r}; "
                                  "the file is damaged: convert the export again", field="row")
        rows[k].append(j)
    rec = rows["record"]
    _add_records(out.records, where, [seq[j] for j in rec], [bodies[j] for j in rec],
                 {c: [keys[c][j] for j in rec] for c in _KEY_COLUMNS}, rows=rec)
    for j in rows["item"]:
        it = _header_row(where, j, seq[j], bodies[j], "item", item_from_dict)
        if it.item_id != keys["item_id"][j]:
            raise ConversionError(f"{where} row {j}: the item_id column {keys['item_id'][j]!r} disagrees with the "
                                  f"item's JSON {it.item_id!r}; the file was edited or is damaged: convert the export "
                                  "again", field="item")
        out.items.append((seq[j], it))
    for j in rows["submission"]:
        sub = _header_row(where, j, seq[j], bodies[j], "submission", submission_from_dict)
        if (sub.item_id, sub.annotator_id) != (keys["item_id"][j], keys["annotator_id"][j]):
            raise ConversionError(f"{where} row {j}: the item_id / annotator_id columns disagree with the "
                                  "submission's JSON; the file was edited or is damaged: convert the export again",
                                  field="submission")
        out.submissions.append((seq[j], sub))


def _header_row(where: str, row: int, s: Any, body: Any, what: str, parse: Any) -> Any:
    """One item or submission row's JSON, parsed (a one-line error naming the row otherwise)."""
    if not isinstance(s, int) or not isinstance(body, str):
        raise ConversionError(f"{where} row {row}: expected an integer 'seq' and a JSON {what}, got {s!r} and "
                              f"{str(body)[:40]!r}; the file is damaged: convert the export again", field=what)
    try:
        d = json_loads(body, where=f"{where} row {row}")
        if not isinstance(d, dict):
            raise ConversionError(f"{where} row {row}: expected an {what} (a JSON object), got {body[:40]!r}; the "
                                  "file is damaged: convert the export again", field=what)
        return parse(d)
    except json.JSONDecodeError as e:
        raise ConversionError(f"{where} row {row}: the {what} is not JSON ({e}); the file is damaged: convert the "
                              "export again", field=what) from None
    except ConversionError as e:
        if str(e).startswith(where):
            raise
        raise ConversionError(f"{where} row {row}: malformed {what}: {e}", field=what) from e
    except (AccordError, TypeError, ValueError, AttributeError, KeyError) as e:
        raise ConversionError(f"{where} row {row}: malformed {what}: {str(e)[:160]}", field=what) from e


def read_row_groups(pa: ModuleType, pf: Any, header: ParquetHeader, groups: Sequence[int], *, name: str
                    ) -> RowGroupRows:
    """The rows of ``groups`` of an open file (one row group at a time: its Arrow data is dropped
    before the next is read), each kind sorted by ``seq``."""
    out = RowGroupRows()
    for g in groups:
        add_row_group(pa, pf, g, out, where=f"{name} row group {g}", version=header.version)
    pool = pa.default_memory_pool()
    if hasattr(pool, "release_unused"):  # pyarrow >= 9: hand the freed row-group buffers back to the OS
        pool.release_unused()
    for rows in (out.records, out.items, out.submissions):
        rows.sort(key=lambda p: p[0])
    return out


def _numbering(name: str, seqs: Sequence[int], what: str, whole: int | None) -> None:
    """``seqs`` (sorted) must not repeat, and in a whole-file read must be ``0..whole-1``."""
    if len(set(seqs)) != len(seqs) or (whole is not None and (len(seqs) != whole or (
            seqs and (seqs[0] != 0 or seqs[-1] != len(seqs) - 1)))):
        raise ConversionError(f"{name}: the 'seq' column is not a numbering of the {what} (repeats or gaps); the "
                              "file is damaged: convert the export again", field="seq")


def open_parquet(pa: ModuleType, pq: ModuleType, path: Any, name: str) -> Any:
    """``pq.ParquetFile(path)``, with a one-line error for a file that is not readable Parquet."""
    try:
        return pq.ParquetFile(path)
    except OSError:
        if isinstance(path, str | Path) and not Path(path).exists():
            raise
        raise ConversionError(f"{name} is not a readable Parquet file; the file is damaged or truncated: convert "
                              "the export again", field="file") from None
    except (pa.ArrowException, ValueError) as e:
        raise ConversionError(f"{name} is not a readable Parquet file ({str(e)[:120]}); the file is damaged or "
                              "truncated: convert the export again", field="file") from None


def read_parquet(path: Path | str, *, row_groups: Sequence[int] | None = None) -> Dataset:
    """Read an accord Parquet file written by :func:`write_parquet`.

    Args:
        path: The file.
        row_groups: Read only these row groups (indices from 0): the records of whole items,
            with those items and their submissions. ``None`` reads the whole file. The items
            with no record are in the last row group of a version-2 file (in a version-1
            file only a whole-file read has them).

    Returns:
        The dataset, equal to the one written (records, items and submissions in their order).

    Raises:
        MissingExtraError: pyarrow is not installed.
        ConversionError: the file is not Parquet, not accord's, of a newer version, or damaged
            (the message names what and where).
        OSError: the file cannot be read.
    """
    pa, pq = require_pyarrow()
    name = str(path)
    pf = open_parquet(pa, pq, path, name)
    with pf:
        header = read_header(pf, name)
        n_groups = pf.num_row_groups
        if row_groups is not None:
            bad = [g for g in row_groups if isinstance(g, bool) or not isinstance(g, int) or not 0 <= g < n_groups]
            if bad:
                raise ConversionError(f"{name}: row groups {bad[:5]} do not exist; the file has {n_groups} "
                                      f"(0 to {n_groups - 1})", field="row_groups")
        groups = range(n_groups) if row_groups is None else sorted(set(row_groups))
        rows = read_row_groups(pa, pf, header, groups, name=name)
    whole = row_groups is None
    counts = [sum(c[k] for c in header.row_groups) for k in range(3)] if header.version >= 2 else [None] * 3
    _numbering(name, [s for s, _ in rows.records], "records", counts[0] if whole and header.version >= 2
               else (None if not whole else len(rows.records)))
    records = [r for _, r in rows.records]
    if header.version >= 2:
        _numbering(name, [s for s, _ in rows.items], "items", counts[1] if whole else None)
        _numbering(name, [s for s, _ in rows.submissions], "submissions", counts[2] if whole else None)
        items = {it.item_id: it for _, it in rows.items}
        subs = [s for _, s in rows.submissions]
    else:
        items, subs = _v1_items(name, header)
        if row_groups is not None:
            read = {r.item_id for r in records}
            items = {k: v for k, v in items.items() if k in read}
            subs = [s for s in subs if s.item_id in read]
    return Dataset(records=tuple(records), schema=header.schema, items=items, submissions=tuple(subs),
                   name=header.name)


def _v1_items(name: str, header: ParquetHeader) -> tuple[dict[str, Item], list[Submission]]:
    """A version-1 file's items and submissions, from its footer."""
    try:
        items = {it.item_id: it for it in (item_from_dict(d) for d in header.items or ())}
        subs = [submission_from_dict(d) for d in header.submissions or ()]
    except ConversionError as e:
        raise ConversionError(f"{name}: malformed accord Parquet metadata: {e}", field="items") from e
    except (AccordError, TypeError, ValueError, AttributeError) as e:
        raise ConversionError(f"{name}: malformed accord Parquet metadata: {str(e)[:160]}", field="items") from e
    return items, subs


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
                 keys: dict[str, list[Any]], *, rows: Sequence[int] | None = None) -> None:
    """Append ``(seq, record)`` for each record row of a row group, each checked against its key
    columns (``rows``: their row numbers in the group, for messages; default 0, 1, ...)."""
    key_rows = zip(*(keys[c] for c in _KEY_COLUMNS), strict=True)
    for k, (s, body, want) in enumerate(zip(seq, bodies, key_rows, strict=True)):
        row = rows[k] if rows is not None else k
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
