"""accord's normalized JSON Lines: one header line, then one record per line.

The header is a JSON object ``{"format": "accord-jsonl", "version": 1, "name": ...,
"schema": {...}, "items": [...], "submissions": [...]}``; every following line is
one :func:`accord.core.model.record_to_dict` object. A file without a header (bare
record lines) is also read. Items and submissions that are not listed are derived
from the records by :class:`~accord.core.model.Dataset`.

The functions here turn text into a dataset and back; opening files is the
caller's business.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import AccordError, ConversionError
from ..model import Dataset, Item, Record, Submission, record_from_dict, record_to_dict
from ..schema import Schema, label_set_from_dict, label_set_to_dict

FORMAT_NAME = "accord-jsonl"
FORMAT_VERSION = 1

_SUB_FIELDS = ("item_id", "annotator_id", "source", "annotation_id", "created_at", "updated_at",
               "duration_s", "was_cancelled")


def item_to_dict(item: Item) -> dict[str, Any]:
    """A JSON-ready dict for an item (``None`` fields left out)."""
    out: dict[str, Any] = {"item_id": item.item_id, "data": dict(item.data), "width": item.width,
                           "height": item.height, "duration_s": item.duration_s, "meta": dict(item.meta),
                           "label_sets": sorted(item.label_sets)}
    return {k: v for k, v in out.items() if v is not None and v != {} and v != []}


def item_from_dict(d: Mapping[str, Any]) -> Item:
    """Inverse of :func:`item_to_dict`."""
    if not isinstance(d.get("item_id"), str):
        raise ConversionError(f"an item needs a string 'item_id', got keys {sorted(d)}", field="items")
    return Item(item_id=d["item_id"], data=d.get("data") or {}, width=d.get("width"),
                height=d.get("height"), duration_s=d.get("duration_s"), meta=d.get("meta") or {},
                label_sets=frozenset(d.get("label_sets") or ()))


def submission_to_dict(s: Submission) -> dict[str, Any]:
    """A JSON-ready dict for a submission (``None`` and ``False`` fields left out)."""
    out = {k: getattr(s, k) for k in _SUB_FIELDS if getattr(s, k) is not None}
    if not s.was_cancelled:
        del out["was_cancelled"]
    return out


def submission_from_dict(d: Mapping[str, Any]) -> Submission:
    """Inverse of :func:`submission_to_dict`."""
    missing = [k for k in ("item_id", "annotator_id") if not isinstance(d.get(k), str)]
    if missing:
        raise ConversionError(f"a submission needs string {missing}, got {dict(d)!r}", field="submissions")
    return Submission(**{k: d[k] for k in _SUB_FIELDS if k in d})


def _dumps(obj: Any) -> str:
    try:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError) as e:
        raise ConversionError(f"cannot write {str(obj)[:80]!r} as JSON: {e}; accord JSON Lines holds finite "
                              "numbers, strings, lists and objects only", item_id=obj.get("item_id")
                              if isinstance(obj, dict) else None) from e


def dumps_dataset(dataset: Dataset) -> str:
    """The whole dataset as accord JSON Lines text (header line, then one record per line).

    Example:
        >>> from accord.core.model import Classification
        >>> ds = Dataset(records=(Record(item_id="t1", annotator_id="a", label_set="s",
        ...                              value=Classification(label="x")),))
        >>> len(dumps_dataset(ds).splitlines())
        2
        >>> loads_dataset(dumps_dataset(ds)).records[0].label
        'x'
    """
    lines = [header_line(name=dataset.name, schema=dataset.schema, items=dataset.items.values(),
                         submissions=dataset.submissions)]
    lines.extend(record_line(r) for r in dataset.records)
    return "\n".join(lines) + "\n"


def header_line(*, name: str, schema: Schema, items: Iterable[Item], submissions: Iterable[Submission]) -> str:
    """The header line of accord JSON Lines (no newline): format, version, name, schema, items, submissions.

    With :func:`record_line`, a writer can stream a dataset: ``header + "\\n"``, then each record's
    line and ``"\\n"``; the bytes equal :func:`dumps_dataset`'s.
    """
    return _dumps({
        "format": FORMAT_NAME, "version": FORMAT_VERSION, "name": name,
        "schema": {n: label_set_to_dict(ls) for n, ls in schema.label_sets.items()},
        "items": [item_to_dict(it) for it in items],
        "submissions": [submission_to_dict(s) for s in submissions],
    })


def record_line(record: Record) -> str:
    """One record as its accord JSON Lines line (no newline)."""
    return _dumps(record_to_dict(record))


def json_loads(text: str, *, where: str = "<string>") -> Any:
    """``json.loads``, with input too deep or numbers too long as :class:`ConversionError`.

    :class:`json.JSONDecodeError` (broken syntax) propagates, for the caller to say where.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise ConversionError(f"{where}: the JSON is nested too deeply to read (thousands of levels of [ or {{); "
                              "no real export is: the file is damaged", field="file") from None
    except ValueError as e:  # Python refuses integer literals of more than 4300 digits
        raise ConversionError(f"{where}: the JSON holds a number with more than "
                              f"{sys.get_int_max_str_digits() or 4300} digits ({str(e)[:80]}); no real export "
                              "does: the file is damaged", field="file") from None


def is_header(obj: Any) -> bool:
    """Whether a parsed JSON line is an accord JSON Lines header."""
    return isinstance(obj, dict) and obj.get("format") == FORMAT_NAME


def loads_dataset(text: str | Iterable[str], *, source_name: str = "<string>") -> Dataset:
    """Parse accord JSON Lines text (or an iterable of lines) into a :class:`Dataset`.

    Raises:
        ConversionError: naming the line number when a line is not JSON, the header has a
            newer version, or a record is malformed.
    """
    # Split on "\n" only: str.splitlines() also breaks on U+0085 and U+2028, which JSON strings may hold.
    lines = text.split("\n") if isinstance(text, str) else text
    header: dict[str, Any] | None = None
    records: list[Record] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{source_name}:{n}"
        try:
            obj = json_loads(line, where=where)
        except json.JSONDecodeError as e:
            raise ConversionError(f"{where}: expected one JSON object per line, got invalid JSON: {e}",
                                  field="line") from e
        if is_header(obj):
            if header is not None or records:
                raise ConversionError(f"{where}: the accord-jsonl header must be the first line, and only once",
                                      field="format")
            version = obj.get("version", 1)
            if isinstance(version, bool) or not isinstance(version, int):
                raise ConversionError(f"{where}: the accord-jsonl header needs an integer 'version', got "
                                      f"{str(version)[:40]!r}", field="version")
            if version > FORMAT_VERSION:
                raise ConversionError(
                    f"{where}: accord-jsonl version {obj.get('version')!r} is newer than this accord reads "
                    f"({FORMAT_VERSION}); upgrade accord", field="version")
            header = obj
            continue
        if not isinstance(obj, dict):
            raise ConversionError(f"{where}: expected a JSON object (a record), got {type(obj).__name__}",
                                  field="line")
        rid = obj.get("item_id")
        rid = rid[:80] if isinstance(rid, str) else None
        try:
            records.append(record_from_dict(obj))
        except AccordError as e:
            raise ConversionError(f"{where}: malformed record: {e}", item_id=rid, field="value") from e
        except (TypeError, ValueError) as e:
            raise ConversionError(f"{where}: malformed record {str(obj)[:120]!r}: {str(e)[:120]}", item_id=rid) from e
    if header is None:
        return Dataset(records=tuple(records))
    try:
        schema = Schema({n: label_set_from_dict(d) for n, d in (header.get("schema") or {}).items()})
        items = {it.item_id: it for it in (item_from_dict(d) for d in header.get("items") or ())}
        subs = tuple(submission_from_dict(d) for d in header.get("submissions") or ())
    except ConversionError:
        raise
    except (AccordError, TypeError, ValueError, AttributeError) as e:
        raise ConversionError(f"{source_name}:1: malformed accord-jsonl header: {e}", field="schema") from e
    return Dataset(records=tuple(records), schema=schema, items=items, submissions=subs,
                   name=str(header.get("name") or "dataset"))
