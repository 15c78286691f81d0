"""Partitions of a report's inputs: small picklable descriptions that a Dask worker loads.

:func:`plan_partitions` turns the input files into :class:`Partition` objects:

* an accord Parquet file (``accord convert -o x.parquet``) gives one partition per run of row
  groups of about ``target_rows`` rows (a row group never splits an item, so neither does a
  partition). A row group holds its items and submissions beside their records (format 2,
  :mod:`accord.store.parquet`), so a partition parses only its own; a format-1 file (items and
  submissions in the footer) adds one small ``parquet-rest`` partition for the items and
  submissions that have no record (a skipped task), and each of its partitions parses the
  footer's items whole;
* a Label Studio JSON export of more than about two ``target_bytes`` gives one ``json-range``
  partition per byte range of about ``target_bytes``, cut between tasks
  (:func:`~accord.cluster.json_split.array_splits` finds the array's own commas without
  decoding); each range knows the index of its first task, so tasks are numbered, and a task
  id seen twice is reported, as the whole-file reader does;
* every other export file (a smaller Label Studio export, CVAT XML or zip, COCO, accord JSON
  Lines, a JSON_MIN export) is one partition, read by the same loader as ``accord report``
  without ``--dask`` (:mod:`accord.io`).

:func:`load_partition` runs on a worker and returns a :class:`Loaded`: the records with their
place in the file (so the client can put a file back together in its original order), the
items and submissions with their place, the schema and the format it was read as. A failure
is a :class:`~accord.core.errors.ConversionError` whose message starts with
:attr:`Partition.where` (the file, and the row groups).
"""

from __future__ import annotations

import contextlib
import glob
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from accord.core.errors import AccordError, ConversionError
from accord.core.limits import InputLimits, current_limits, input_limits
from accord.core.model import Dataset, Item, Record, Submission
from accord.core.schema import Schema

from ._wire import enable_pickling
from .remote import is_url, open_url, size_of

__all__ = ["Loaded", "Partition", "expand_inputs", "load_partition", "plan_partitions"]

PartitionKind = Literal["file", "row-groups", "parquet-rest", "json-range"]
#: Records per Parquet partition, about (whole row groups are joined up to this many).
DEFAULT_TARGET_ROWS = 65_536
#: Bytes per range of a Label Studio JSON export, about (whole tasks).
DEFAULT_TARGET_BYTES = 32 << 20
#: A task's records are numbered ``task << _TASK_SHIFT | k`` so that ranges sort back into file order.
_TASK_SHIFT = 32
_MAGIC = b"PAR1"
_GLOB_CHARS = frozenset("*?[")


def expand_inputs(inputs: Sequence[Path | str]) -> list[Path | str]:
    """The inputs with shell-style patterns (``shards/*.json``, ``part-[0-9].parquet``) expanded,
    each pattern's matches sorted; a path that exists is kept as it is, even with ``*`` in its name.
    A URL (``s3://bucket/shards/*.json``) stays a string, its pattern expanded by its fsspec
    filesystem (:mod:`.remote`).

    Raises:
        ConversionError: a pattern that matches no file.
    """
    from .remote import expand_url

    out: list[Path | str] = []
    for raw in inputs:
        text = str(raw)
        if is_url(raw):
            out.extend(expand_url(text))
            continue
        if Path(text).exists() or not (_GLOB_CHARS & set(text)):
            out.append(Path(text))
            continue
        found = sorted(p for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not found:
            raise ConversionError(f"no file matches {text!r}; check the pattern (quote it so that accord, not the "
                                  "shell, expands it)", field="paths")
        out.extend(Path(p) for p in found)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Partition:
    """One unit of loading work: a whole file, or some row groups of an accord Parquet file.

    Attributes:
        index: Position in the plan.
        file_index: Position of the file among the inputs (references after the inputs).
        path: The file.
        kind: ``file`` (the whole file), ``row-groups``, ``parquet-rest`` (the items and
            submissions of a Parquet file that have no record) or ``json-range`` (some tasks
            of a Label Studio export).
        format: The ``--format`` asked for (``auto`` detects it).
        row_groups: The row groups, for ``row-groups``.
        n_rows: Records in those row groups (0 when not known); tasks in a ``json-range``.
        byte_range: ``(start, end)`` of a ``json-range``, end exclusive: its tasks, without the commas around them
            (``where`` shows the last byte, inclusive).
        first_task: The index in the export of a ``json-range``'s first task.
        label_config: The Label Studio labeling config (a path or the XML), or None.
        meta_keys: Label Studio ``data`` keys copied into item metadata.
        reference: A gold export: its records become ``source="reference"``.
        limits: The input limits in force where the plan was made (applied on the worker).
    """

    index: int
    file_index: int
    path: str
    kind: PartitionKind
    format: str = "auto"
    row_groups: tuple[int, ...] = ()
    n_rows: int = 0
    byte_range: tuple[int, int] = (0, 0)
    first_task: int = 0
    label_config: str | None = None
    meta_keys: tuple[str, ...] = ()
    reference: bool = False
    limits: InputLimits = field(default_factory=InputLimits)

    @property
    def where(self) -> str:
        """The file and the part of it, for messages: ``x.parquet row groups 4-7``."""
        if self.kind == "row-groups":
            g = self.row_groups
            span = f"row group {g[0]}" if len(g) == 1 else f"row groups {g[0]}-{g[-1]}"
            return f"{self.path} {span}"
        if self.kind == "parquet-rest":
            return f"{self.path} (items without records)"
        if self.kind == "json-range":
            a, z = self.byte_range
            return f"{self.path} bytes {a}-{z - 1} (tasks #{self.first_task}-#{self.first_task + self.n_rows - 1})"
        return self.path


@dataclass(slots=True, kw_only=True)
class Loaded:
    """What a worker read from one partition.

    Attributes:
        partition: The partition.
        fmt: The format it was read as (``parquet`` for row groups).
        name: The dataset name the file gives.
        schema: The file's schema.
        records: Records in file order.
        seq: Each record's place in the file (Parquet: the ``seq`` column; else 0, 1, ...).
        items: ``(place in the file's item list, item)``.
        submissions: ``(place, submission)``; a whole file's are those its Dataset derived.
    """

    partition: Partition
    fmt: str
    name: str
    schema: Schema
    records: list[Record]
    seq: list[int]
    items: list[tuple[int, Item]]
    submissions: list[tuple[int, Submission]]

    def dataset(self) -> Dataset:
        """The partition as a Dataset (whole items)."""
        return Dataset(records=tuple(self.records), schema=self.schema, items={i.item_id: i for _, i in self.items},
                       submissions=tuple(s for _, s in self.submissions), name=self.name)

    def item_ids(self) -> list[str]:
        """Every item id of the partition (items listed, and items of records)."""
        ids = dict.fromkeys(i.item_id for _, i in self.items)
        ids.update(dict.fromkeys(r.item_id for r in self.records))
        return list(ids)


def plan_partitions(paths: Sequence[Path | str], *, format: str = "auto", label_config: Path | str | None = None,
                    meta_keys: Sequence[str] = (), references: Sequence[Path | str] = (),
                    target_rows: int = DEFAULT_TARGET_ROWS, target_bytes: int = DEFAULT_TARGET_BYTES
                    ) -> list[Partition]:
    """Partitions for ``paths`` (already expanded: :func:`expand_inputs`) and gold ``references``.

    Only Parquet footers (row-group sizes) and the brackets and commas of a big Label Studio
    export (its task boundaries, and its first task) are read here; the files themselves are
    read by :func:`load_partition`, on the workers.

    Raises:
        ConversionError: no input; ``--format parquet`` for a file that is not Parquet.
        OSError: a file cannot be opened.
    """
    if not paths:
        raise ConversionError("no input files given; pass at least one export file", field="paths")
    for what, v in (("target_rows", target_rows), ("target_bytes", target_bytes)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConversionError(f"{what} must be a whole number >= 1, got {v!r}", field=what)
    config = str(label_config) if label_config is not None else None
    limits = current_limits()
    out: list[Partition] = []
    todo = [(_source(p), format, False) for p in paths] + [(_source(p), "auto", True) for p in references]
    for file_index, (path, fmt, ref) in enumerate(todo):
        common: dict[str, Any] = {"file_index": file_index, "path": str(path), "format": fmt,
                                  "label_config": _url_config(path, config) if is_url(path) else config,
                                  "meta_keys": () if ref else tuple(meta_keys),
                                  "reference": ref, "limits": limits}
        # A gold file is read whole (as accord report reads it), whatever its format.
        sized = None if ref else _row_group_sizes(path, fmt)
        groups, version = sized if sized is not None else (None, 0)
        ranges = None if ref or groups is not None else _task_ranges(path, fmt, target_bytes)
        if ranges:
            out += [Partition(index=len(out) + k, kind="json-range", byte_range=(r.start, r.end), first_task=r.first,
                              n_rows=r.count, **common) for k, r in enumerate(ranges)]
            continue
        if groups is None:
            out.append(Partition(index=len(out), kind="file", **common))
            continue
        run: list[int] = []
        rows = 0
        for g, n in enumerate(groups):
            if run and rows + n > target_rows:
                out.append(Partition(index=len(out), kind="row-groups", row_groups=tuple(run), n_rows=rows, **common))
                run, rows = [], 0
            run.append(g)
            rows += n
        if run:
            out.append(Partition(index=len(out), kind="row-groups", row_groups=tuple(run), n_rows=rows, **common))
        if version < 2:  # format 2 keeps the items without records in a row group of their own
            out.append(Partition(index=len(out), kind="parquet-rest", **common))
    return out


def _source(p: Path | str) -> Path | str:
    """A local input as a Path; a URL as it is (``Path`` would fold its ``//``)."""
    return p if is_url(p) else Path(p)


def _open(path: Path | str) -> Any:
    """A context manager giving the file opened for binary reading (local or by URL)."""
    return open_url(str(path)) if is_url(path) else Path(path).open("rb")


def _stem(path: Path | str) -> str:
    """The file name without its suffix, of a path or a URL (``s3://b/shards/x.json`` -> ``x``)."""
    return Path(str(path).split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]).stem


def _size(path: Path | str) -> int:
    return size_of(str(path)) if is_url(path) else Path(path).stat().st_size


def _url_config(url: Path | str, config: str | None) -> str | None:
    """The labeling config of a remote export as XML, read here once, so that no worker needs the
    client's files: the ``--label-config`` file, or the config beside the export."""
    from accord.io import _label_config_for

    from .remote import sibling_config

    if config is not None:
        text: str | None = _label_config_for(Path("."), config)
        return text
    return sibling_config(str(url))


def _task_ranges(path: Path | str, fmt: str, target_bytes: int) -> list[Any] | None:
    """Byte ranges of a big Label Studio export, cut between tasks; None to read the file whole
    (small, not one JSON array, or not a plain task list: COCO results, JSON_MIN, a broken first task)."""
    from accord.plugins.label_studio.convert import detect_export_shape

    from .json_split import array_splits

    if fmt not in ("auto", "label-studio") or _size(path) < 2 * target_bytes:
        return None
    with _open(path) as f:  # one open: a remote file is one connection
        if f.read(64).removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\n\r")[:1] != b"[":
            return None
        f.seek(0)
        ranges = array_splits(f, target_bytes=target_bytes)
        if not ranges or len(ranges) < 2:
            return None
        f.seek(ranges[0].start)
        head = f.read(min(ranges[0].end - ranges[0].start, 1 << 24))
    try:
        first, _ = json.JSONDecoder().raw_decode(head.decode("utf-8").lstrip(" \t\n\r"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None  # the whole-file reader says what is wrong with it
    if not isinstance(first, dict) or (fmt == "auto" and "image_id" in first and "category_id" in first):
        return None
    if detect_export_shape([first]) == "json_min":
        return None
    return ranges


def _row_group_sizes(path: Path | str, fmt: str) -> tuple[list[int], int] | None:
    """Records per row group of an accord Parquet file (rows, in format 1) and its format version; None for other files
    (and for a Parquet file whose footer cannot be read: it is then loaded whole, and its error
    names it there)."""
    if fmt not in ("auto", "parquet"):
        return None
    with _open(path) as f:
        head = f.read(4)
    if head != _MAGIC:
        if fmt == "parquet":
            raise ConversionError(f"{path} is not a Parquet file (it does not start with 'PAR1'); pass the file "
                                  "accord convert -o out.parquet wrote, or another --format", field="format")
        return None
    from accord.store.parquet import require_pyarrow

    pa, pq = require_pyarrow()
    try:
        with _open(path) as f, pq.ParquetFile(f) as pf:
            meta = pf.metadata
            kv = meta.metadata or {}
            raw = kv.get(b"accord.version", b"1")
            version = int(raw) if raw.isdigit() else 1
            sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
            if version >= 2:  # records per group (the planner's unit), from the footer's counts
                try:
                    counts = json.loads(kv.get(b"accord.row_groups", b"[]"))
                    if len(counts) == len(sizes):
                        sizes = [int(c[0]) for c in counts]
                except (ValueError, TypeError, IndexError, KeyError):
                    pass  # the loader reports the damaged footer
            return sizes, version
    except (pa.ArrowException, OSError, ValueError):
        return None


# --------------------------------------------------------------------------- on the worker


def load_partition(part: Partition) -> Loaded:
    """Read one partition (on a worker).

    Raises:
        ConversionError: the partition cannot be read; the message starts with ``part.where``.
    """
    enable_pickling()
    try:
        with input_limits(**{f: getattr(part.limits, f) for f in part.limits.__slots__}):
            if part.kind == "file":
                return _load_file(part)
            if part.kind == "json-range":
                return _load_json_range(part)
            return _load_parquet(part)
    except AccordError as e:
        text = " ".join(str(e).split())
        if not text.startswith(part.where):
            text = f"{part.where}: {text.removeprefix(part.path + ': ')}"
        raise ConversionError.reworded(text, e) from None


def _load_file(part: Partition) -> Loaded:
    from accord.io import _as_reference, _load

    if is_url(part.path):
        from .remote import local_copy

        with local_copy(part.path) as copy:
            try:
                ds, fmt = _load(copy, format=part.format, label_config=part.label_config, meta_keys=part.meta_keys)
            except AccordError as e:  # name the URL, not the private copy
                raise ConversionError.reworded(str(e).replace(str(copy), part.path), e) from None
    else:
        ds, fmt = _load(part.path, format=part.format, label_config=part.label_config,
                        meta_keys=part.meta_keys)
    if part.reference:
        ds = _as_reference(ds)
    return Loaded(partition=part, fmt=fmt, name=ds.name, schema=ds.schema, records=list(ds.records),
                  seq=list(range(len(ds.records))), items=list(enumerate(ds.items.values())),
                  submissions=list(enumerate(ds.submissions)))


def _load_json_range(part: Partition) -> Loaded:
    """Some tasks of a Label Studio export, converted as the whole-file reader converts them
    (the same decoder and converter; tasks numbered from the range's first task)."""
    import io
    import logging

    from accord.io import _json_array_elements, _label_config_for, _NotStreamedError
    from accord.plugins.label_studio.convert import _schema_of, iter_tasks

    a, z = part.byte_range
    remote = is_url(part.path)
    if remote:
        from .remote import read_range

        body = read_range(part.path, a, z)
    else:
        with Path(part.path).open("rb") as f:
            f.seek(a)
            body = f.read(z - a)
    warnings: list[str] = []
    # a remote export's config came as XML from the client (None: there is none)
    config = part.label_config if remote else _label_config_for(Path(part.path), part.label_config)
    schema = _schema_of(config, warnings)
    records: list[Record] = []
    seq: list[int] = []
    items: list[tuple[int, Item]] = []
    subs: list[tuple[int, Submission]] = []
    n = part.first_task
    try:
        tasks = _json_array_elements(io.BytesIO(b"[" + body + b"]"))
        for n, (recs, ss, item) in enumerate(iter_tasks(tasks, schema, meta_keys=part.meta_keys, warnings=warnings,
                                                        start=part.first_task), start=part.first_task):
            base = n << _TASK_SHIFT
            seq += range(base, base + len(recs))
            records += recs
            subs += [(base + k, s) for k, s in enumerate(ss)]
            items.append((n, item))
    except _NotStreamedError:
        raise ConversionError(f"{part.where}: not valid JSON after task #{n}; the export is damaged or was cut "
                              "short: export the project again", field="file") from None
    log = logging.getLogger("accord.io")
    for w in warnings:
        log.warning("%s: %s", part.where, w)
    if len(items) != part.n_rows:
        raise ConversionError(f"{part.where}: expected {part.n_rows} tasks, read {len(items)}; the file changed "
                              "while the report ran: run it again", field="file")
    return Loaded(partition=part, fmt="label-studio", name=_stem(part.path), schema=schema, records=records, seq=seq,
                  items=items, submissions=subs)


def _load_parquet(part: Partition) -> Loaded:
    """Row groups of an accord Parquet file read as :func:`accord.store.parquet.read_parquet` does,
    keeping each record's ``seq`` and each item's and submission's place in the file. A format-2
    row group holds its own items and submissions, so only they are parsed; a format-1 file's are
    in its footer, parsed whole by every partition."""
    from accord.core.formats.jsonl import item_from_dict, submission_from_dict
    from accord.store.parquet import _strings, read_header, read_row_groups, require_pyarrow

    pa, pq = require_pyarrow()
    name = part.path
    stack = contextlib.ExitStack()
    try:
        pf = pq.ParquetFile(stack.enter_context(open_url(part.path)) if is_url(part.path) else part.path)
    except (pa.ArrowException, OSError, ValueError) as e:
        stack.close()
        raise ConversionError(f"{part.where}: not a readable Parquet file ({' '.join(str(e).split())[:120]}); the "
                              "file is damaged or truncated: convert the export again", field="file") from None
    with stack, pf:
        header = read_header(pf, name)
        rest = part.kind == "parquet-rest"
        if rest:
            try:
                with_records = set(_strings(pa, pf.read(columns=["item_id"]).column("item_id")))
            except (pa.ArrowException, OSError, ValueError) as e:
                raise ConversionError(f"{part.where}: cannot read the item_id column ({str(e)[:120]}); the file is "
                                      "damaged: convert the export again", field="file") from None
            rows = None
        else:
            rows = read_row_groups(pa, pf, header, part.row_groups, name=name)
            with_records = {r.item_id for _, r in rows.records}
    ds_name = header.name if header.name != "dataset" else _stem(part.path)
    if header.version >= 2 and rows is not None:
        return Loaded(partition=part, fmt="parquet", name=ds_name, schema=header.schema,
                      records=[r for _, r in rows.records], seq=[s for s, _ in rows.records], items=rows.items,
                      submissions=rows.submissions)
    item_ds, sub_ds = header.items or [], header.submissions or []

    def want(item_id: Any) -> bool:
        return (item_id in with_records) != rest
    try:
        items = [(k, item_from_dict(d)) for k, d in enumerate(item_ds)
                 if isinstance(d, dict) and want(d.get("item_id"))]
        subs = [(k, submission_from_dict(d)) for k, d in enumerate(sub_ds)
                if isinstance(d, dict) and want(d.get("item_id"))]
    except (AccordError, TypeError, ValueError, AttributeError) as e:
        raise ConversionError(f"{part.where}: malformed accord Parquet metadata: {str(e)[:160]}",
                              field="items") from e
    bad = [d for d in (*item_ds, *sub_ds) if not isinstance(d, dict)]
    if bad:
        raise ConversionError(f"{part.where}: malformed accord Parquet metadata: expected objects in "
                              f"'accord.items' / 'accord.submissions', got {json.dumps(bad[0])[:60]}", field="items")
    return Loaded(partition=part, fmt="parquet", name=ds_name, schema=header.schema,
                  records=[r for _, r in rows.records] if rows is not None else [],
                  seq=[s for s, _ in rows.records] if rows is not None else [], items=items, submissions=subs)
