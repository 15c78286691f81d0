"""Load annotation exports from files: format detection by content, then the right converter.

``load_dataset`` is what every subcommand uses to read its inputs. The format is found
from the bytes, not the file name: a zip or XML is CVAT, a JSON object with
``images``/``annotations`` is COCO, the accord-jsonl header (or record lines) is accord
JSON Lines, a file starting ``PAR1`` is accord Parquet (``accord convert -o out.parquet``,
needs the ``columnar`` extra), and a list of tasks, one task or JSON_MIN rows is Label Studio.
"""

from __future__ import annotations

import codecs
import itertools
import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO, Literal

from accord.core.errors import ConversionError
from accord.core.formats.coco import from_coco, from_coco_results
from accord.core.formats.jsonl import is_header, json_loads, loads_dataset
from accord.core.model import Dataset, Item, Record, Submission
from accord.core.schema import Schema

logger = logging.getLogger(__name__)

Format = Literal["auto", "label-studio", "cvat", "coco", "jsonl", "parquet"]
FORMATS: tuple[str, ...] = ("auto", "label-studio", "cvat", "coco", "jsonl", "parquet")
#: Formats accord writes itself: their item ids are kept as written, never namespaced by tool.
_ACCORD_FORMATS = frozenset({"jsonl", "parquet"})
# accord.store.parquet.MAGIC, repeated here so that detecting a format does not import accord.store
# (and its ledger) into every command that reads a JSON export
_PARQUET_MAGIC = b"PAR1"


def decode_text(data: bytes, *, name: str) -> str:
    """UTF-8 text of an export (a BOM dropped); an invalid byte is an error naming its offset.

    Never U+FFFD: a replaced byte can turn one annotator's e-mail into another's.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConversionError(
            f"{name}: invalid UTF-8 at byte offset {e.start} (byte 0x{data[e.start]:02x}); exports are UTF-8: the "
            "file is damaged or was saved in another encoding, re-export it or convert it to UTF-8",
            field="encoding") from None


def _json_error(name: str, text: str, e: json.JSONDecodeError) -> ConversionError:
    rest = text[e.pos:].strip()
    if e.msg.startswith("Unterminated string") or not rest:
        lines = text.rstrip().split("\n")
        return ConversionError(
            f"{name} looks truncated: the file ends at line {len(lines)} column {len(lines[-1])} in the middle "
            f"of the JSON ({e.msg}); download the export again", field="file")
    return ConversionError(
        f"{name} is neither XML nor JSON: {e.msg} at line {e.lineno} column {e.colno}; expected a Label Studio JSON "
        "export, CVAT XML or zip, COCO JSON, or accord JSON Lines", field="file")


def detect_format(data: bytes, *, name: str = "<input>") -> tuple[str, Any]:
    """The format of an export's bytes, and the parsed JSON when it is JSON.

    Raises:
        ConversionError: the bytes match no supported format (the message lists them), the
            text is not UTF-8 (naming the byte offset), or the JSON is broken (saying where,
            and whether the file looks truncated).
    """
    if data[:4] == _PARQUET_MAGIC:
        return "parquet", None
    if data[:2] == b"PK":
        return "cvat", None
    if data.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] == b"<":
        return "cvat", None  # the XML parser reads the encoding the file declares
    text = decode_text(data, name=name).lstrip()
    if not text:
        raise ConversionError(f"{name} is empty; expected a Label Studio, CVAT, COCO or accord JSONL export",
                              field="file")
    try:
        obj = json_loads(text, where=name)
    except json.JSONDecodeError as whole:
        first = text.split("\n", 1)[0]
        try:
            head = json_loads(first, where=name)
        except json.JSONDecodeError:
            raise _json_error(name, text, whole) from None
        if isinstance(head, dict):
            return "jsonl", None
        raise _json_error(name, text, whole) from None
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
    return _load(path, format=format, label_config=label_config, meta_keys=meta_keys)[0]


def _load(path: Path | str, *, format: Format = "auto", label_config: Path | str | None = None,
          meta_keys: Sequence[str] = ()) -> tuple[Dataset, str]:
    """The dataset of one file and the format it was read as; errors name the file."""
    try:
        return _load_file(Path(path), format=format, label_config=label_config, meta_keys=meta_keys)
    except ConversionError as e:
        if str(path) in str(e):
            raise
        raise ConversionError.reworded(f"{path}: {e}", e) from e


def _read_parquet(path: Path) -> Dataset:
    from accord.store.parquet import read_parquet

    ds = read_parquet(path)
    return ds if ds.name != "dataset" else replace(ds, name=path.stem)


def _load_file(path: Path, *, format: Format, label_config: Path | str | None,
               meta_keys: Sequence[str]) -> tuple[Dataset, str]:
    if format in ("auto", "parquet"):
        with path.open("rb") as f:  # Parquet is read by pyarrow from the file, not from the bytes in memory
            head = f.read(4)
        if head == _PARQUET_MAGIC or format == "parquet":
            if head != _PARQUET_MAGIC:
                raise ConversionError(f"{path} is not a Parquet file (it does not start with 'PAR1'); pass the "
                                      "file accord convert -o out.parquet wrote, or another --format",
                                      field="format")
            return _read_parquet(path), "parquet"
    if format in ("auto", "label-studio"):
        streamed = _stream_label_studio(path, explicit=format == "label-studio", label_config=label_config,
                                        meta_keys=meta_keys)
        if streamed is not None:
            return streamed, "label-studio"
    data = path.read_bytes()
    fmt, obj = detect_format(data, name=str(path)) if format == "auto" else (format, None)
    if fmt not in FORMATS[1:]:
        raise ConversionError(f"unknown format {fmt!r}; expected one of {list(FORMATS)}", field="format")
    if fmt == "cvat":
        from accord.plugins.cvat.convert import from_cvat_xml

        cvat_warnings: list[str] = []
        cvat = from_cvat_xml(data, name=path.stem, warnings=cvat_warnings)
        for w in cvat_warnings:
            logger.warning("%s: %s", path, w)
        return cvat, fmt
    if fmt == "jsonl":
        ds = loads_dataset(decode_text(data, name=str(path)), source_name=str(path))
        return (ds if ds.name != "dataset" else replace(ds, name=path.stem)), fmt
    if obj is None:
        text = decode_text(data, name=str(path))
        try:
            obj = json_loads(text, where=str(path))
        except json.JSONDecodeError as e:
            raise _json_error(str(path), text, e) from None
    if fmt == "coco":
        if isinstance(obj, list):
            return from_coco_results(obj, name=path.stem), fmt
        return from_coco(obj, name=path.stem), fmt
    from accord.plugins.label_studio.convert import from_label_studio_export

    warnings: list[str] = []
    ds = from_label_studio_export(obj, _label_config_for(path, label_config), meta_keys=meta_keys,
                                  warnings=warnings, name=path.stem)
    for w in warnings:
        logger.warning("%s: %s", path, w)
    return ds, fmt


class _NotStreamedError(Exception):
    """The file is not a plain JSON list of Label Studio tasks: read it whole, as before."""


_JSON_SPACE = re.compile(r"[ \t\n\r]*")  # the whitespace json allows between tokens
_CHUNK_BYTES = 1 << 24
_SHORT_PREFIX = 64


def _json_array_elements(f: BinaryIO) -> Iterator[Any]:
    """The elements of the JSON array in a binary file, decoded one at a time, a chunk of the file in memory.

    Each element is decoded by the same scanner as ``json.loads`` (``JSONDecoder.raw_decode``), so
    the values are the ones ``json.loads`` of the whole file gives. Anything unusual (broken JSON,
    invalid UTF-8, data after the array, an element too long to find its end in a few chunks)
    raises :class:`_NotStreamedError`, and the caller reads the file whole, which then says exactly
    what is wrong, as it always did.
    """
    utf8 = codecs.getincrementaldecoder("utf-8-sig")("strict")
    decoder = json.JSONDecoder()
    buf, pos, eof, read_size = "", 0, False, _CHUNK_BYTES

    def more() -> None:
        nonlocal buf, pos, eof
        chunk = f.read(read_size)
        try:
            text = utf8.decode(chunk, final=not chunk)
        except UnicodeDecodeError:
            raise _NotStreamedError from None
        eof = not chunk
        buf, pos = buf[pos:] + text, 0

    def skip_space() -> str:
        """The next non-space character ('' at the end of the file); ``pos`` points at it."""
        nonlocal pos
        while True:
            pos = _JSON_SPACE.match(buf, pos).end()  # type: ignore[union-attr]
            if pos < len(buf) or eof:
                return buf[pos:pos + 1]
            more()

    more()
    if skip_space() != "[":
        raise _NotStreamedError
    pos += 1
    if skip_space() == "]":
        pos += 1
    else:
        while True:
            while True:
                try:
                    value, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as e:
                    if eof or e.pos < len(buf) - _CHUNK_BYTES:  # a real error, not the end of the chunk
                        raise _NotStreamedError from None
                    value, end = None, -1
                except (RecursionError, ValueError):
                    raise _NotStreamedError from None
                if end != -1 and (end < len(buf) or eof):  # ended before the chunk did: complete
                    break
                if read_size >= 16 * _CHUNK_BYTES:
                    raise _NotStreamedError  # one element of hundreds of MiB: json.loads reads it as well
                read_size *= 2
                more()
            read_size = _CHUNK_BYTES
            pos = end
            yield value
            c = skip_space()
            pos += 1
            if c == "]":
                break
            if c != "," or skip_space() in ("", "]"):
                raise _NotStreamedError
    if skip_space() != "":
        raise _NotStreamedError  # data after the array: json.loads says where


def _task_elements(f: BinaryIO, *, explicit: bool) -> Iterator[Any] | None:
    """The elements of the file's top-level JSON list, decoded one at a time; None when the file
    is not a list, or is COCO results (unless ``explicit``: the user said it is Label Studio).

    Raises:
        _NotStreamedError: JSON the streaming decoder leaves to the whole-file path.
    """
    head = f.read(_SHORT_PREFIX).removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\n\r")
    if head[:1] != b"[":
        return None
    f.seek(0)
    elements = _json_array_elements(f)
    head_values = list(itertools.islice(elements, 1))
    first = head_values[0] if head_values else None
    if not explicit and isinstance(first, dict) and "image_id" in first and "category_id" in first:
        return None  # COCO results
    return itertools.chain(head_values, elements)


def _stream_label_studio(path: Path, *, explicit: bool, label_config: Path | str | None,
                         meta_keys: Sequence[str]) -> Dataset | None:
    """A Label Studio export converted while it is read, task by task; ``None`` when it is not a list of
    tasks (or not plain enough to stream), for the whole-file path to read.

    The dataset equals the whole-file path's (same decoder, same converter); only the peak memory
    differs: the parsed JSON of one task at a time instead of the whole export's.
    """
    from accord.plugins.label_studio.convert import from_label_studio_stream

    with path.open("rb") as f:
        try:
            tasks = _task_elements(f, explicit=explicit)
            if tasks is None:
                return None
            warnings: list[str] = []
            ds = from_label_studio_stream(tasks, _label_config_for(path, label_config), meta_keys=meta_keys,
                                          warnings=warnings, name=path.stem)
        except _NotStreamedError:
            return None
    for w in warnings:
        logger.warning("%s: %s", path, w)
    return ds


class NotStreamableError(Exception):
    """The file is not a plain Label Studio task list that can be converted while it is read."""


def stream_label_studio_file(path: Path, *, explicit: bool = False, label_config: Path | str | None = None,
                             meta_keys: Sequence[str] = (), warnings: list[str] | None = None
                             ) -> Iterator[Schema | tuple[list[Record], list[Submission], Item]]:
    """A Label Studio export converted task by task while it is read: first its :class:`Schema`,
    then each task's ``(records, submissions, item)``; the warnings are appended at the end.

    The same conversion as :func:`load_dataset` on this one file (same decoder, converter and
    item ids), for writers that stream (``accord convert``). Raises :class:`NotStreamableError`
    (possibly after some tasks were yielded) where the whole-file path must read it instead: not
    a list of tasks, COCO results, a JSON_MIN export, or JSON the streaming decoder leaves to
    ``json.loads``.
    """
    from accord.plugins.label_studio.convert import label_studio_task_stream

    with path.open("rb") as f:
        try:
            elements = _task_elements(f, explicit=explicit)
            if elements is None:
                raise NotStreamableError
            found = label_studio_task_stream(elements, _label_config_for(path, label_config), meta_keys=meta_keys,
                                             warnings=warnings)
            if found is None:
                raise NotStreamableError
            schema, tasks = found
            yield schema
            yield from tasks
        except _NotStreamedError:
            raise NotStreamableError from None
        except ConversionError as e:  # named after the file, as load_dataset's errors are
            if str(path) in str(e):
                raise
            raise ConversionError.reworded(f"{path}: {e}", e) from e


def merge(datasets: Sequence[Dataset], *, name: str | None = None) -> Dataset:
    """One dataset from several: records and submissions concatenated, schemas and items merged."""
    if len(datasets) == 1 and name in (None, datasets[0].name):
        return datasets[0]  # nothing to merge: not rebuilt (at 1M records a rebuild costs seconds)
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


def namespaced(ds: Dataset, prefix: str) -> Dataset:
    """The dataset with every item id written ``"<prefix>:<id>"`` (records, submissions, items)."""
    def nid(i: str) -> str:
        return f"{prefix}:{i}"
    return Dataset(records=tuple(replace(r, item_id=nid(r.item_id)) for r in ds.records), schema=ds.schema,
                   items={nid(k): replace(v, item_id=nid(k)) for k, v in ds.items.items()},
                   submissions=tuple(replace(s, item_id=nid(s.item_id)) for s in ds.submissions), name=ds.name)


def _as_reference(ds: Dataset) -> Dataset:
    return Dataset(records=tuple(replace(r, source="reference") for r in ds.records), schema=ds.schema,
                   items=ds.items, submissions=tuple(replace(s, source="reference") for s in ds.submissions),
                   name=ds.name)


def load_dataset(paths: Sequence[Path | str] | Path | str, *, format: Format = "auto",
                 reference: Path | str | Sequence[Path | str] | None = None,
                 label_config: Path | str | None = None, meta_keys: Sequence[str] = (),
                 join_items: bool = False) -> Dataset:
    """Read export files (any mix of supported formats) into one :class:`Dataset`.

    Args:
        paths: One or more export files.
        format: ``auto`` (detect from content), ``label-studio``, ``cvat``, ``coco``, ``jsonl`` or
            ``parquet`` (accord Parquet, needs the ``columnar`` extra).
        reference: Gold export file(s); their records and submissions get source ``reference``.
        label_config: Label Studio labeling config (a path or the XML); else a
            ``<stem>.label_config.xml`` or ``label_config.xml`` beside the export is used.
        meta_keys: Label Studio ``data`` keys copied into item metadata.
        join_items: Inputs from different tools (say a Label Studio export and a COCO file)
            name their items independently, so task 1 and image 1 are different things: their
            item ids are namespaced ``"<format>:<id>"`` (``label-studio:1``, ``coco:1``) unless
            this is true, which joins items with equal ids across tools. accord JSON Lines
            and Parquet inputs keep their ids (they are already accord's, namespaced or not).

    Raises:
        ConversionError: no input, an unknown format, or a malformed file (message names it).
        OSError: a file cannot be read.
    """
    plist = [paths] if isinstance(paths, str | Path) else list(paths)
    if not plist:
        raise ConversionError("no input files given; pass at least one export file", field="paths")
    loaded = [_load(p, format=format, label_config=label_config, meta_keys=meta_keys) for p in plist]
    if reference is not None:
        refs = [reference] if isinstance(reference, str | Path) else list(reference)
        loaded += [(_as_reference(d), f) for d, f in (_load(p, format="auto", label_config=label_config)
                                                      for p in refs)]
    parts = [d for d, _ in loaded]
    formats = [f for _, f in loaded]
    tools = sorted(set(formats) - _ACCORD_FORMATS)  # accord's own files keep the ids they were written with
    if len(tools) > 1 and not join_items:
        logger.info("inputs come from different tools (%s): item ids are namespaced '<format>:<id>'; pass "
                    "--join-items to join items with equal ids across tools", ", ".join(tools))
        parts = [d if f in _ACCORD_FORMATS else namespaced(d, f) for d, f in zip(parts, formats, strict=True)]
    return merge(parts, name=parts[0].name if len(plist) == 1 else "merged")
