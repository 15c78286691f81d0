"""The ledger: content-addressed snapshots, QA runs and decisions, every entry hash-chained.

* A **row** is one annotation record, stored once as its canonical JSON; its hash is the
  SHA-256 of that JSON (item, annotator, label set, value, region id, source, timestamps).
* A **snapshot** is a dataset version: the multiset of its rows. Its hash is the SHA-256 of
  its sorted row hashes, so the same rows give the same hash wherever they were pulled from;
  a content already stored is not stored again (a second snapshot of an unchanged export
  adds one small row).
* A **run** is one ``accord report``: input snapshot hashes, config (hash and text), accord
  version, seed, headline figures, hashes of the files it wrote.
* A **decision** is a conflict resolution or reviewer verdict; a later decision on the same
  item and label set supersedes the earlier one (``supersedes`` names it).
* Every snapshot, run and decision is also an **entry** ``(seq, kind, created_at, body)``
  whose hash covers the previous entry's hash: :meth:`Ledger.verify` recomputes the chain,
  checks the tables against their entries, and names the first entry that does not match.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import datetime, timezone
from typing import Any

from accord.core.model import Record, record_from_dict, record_to_dict
from accord.core.qa.conflicts import Resolution

from .db import Database, redact
from .errors import SnapshotNotFoundError, StoreError
from .schema import check_version, migrate

logger = logging.getLogger(__name__)

GENESIS = "0" * 64

__all__ = ["GENESIS", "DecisionInfo", "Ledger", "RunInfo", "SnapshotInfo", "VerifyResult", "canonical_json",
           "row_body", "snapshot_hash"]


_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))  # built once: a
# json.dumps() with options builds a new encoder per call, half the cost of a row at snapshot time


def canonical_json(obj: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text: the form every hash here is taken over.

    The same text as ``json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))``.
    """
    return _CANONICAL.encode(obj)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_RECORD_FIELDS = ("item_id", "annotator_id", "label_set", "source", "region_id", "annotation_id", "score",
                  "created_at", "updated_at", "duration_s")
_VALUE_FIELDS: dict[type, tuple[str, ...]] = {}
_SLOW_VALUES = frozenset({"keypoints", "track"})  # nested records: left to value_to_dict


def _record_dict(record: Record) -> dict[str, Any]:
    """``record_to_dict(record)``, computed faster (the hot path of a snapshot; a test keeps them equal)."""
    v = record.value
    if v.kind in _SLOW_VALUES:
        return record_to_dict(record)
    names = _VALUE_FIELDS.get(type(v))
    if names is None:
        names = _VALUE_FIELDS.setdefault(type(v), tuple(f.name for f in dataclass_fields(v)))
    value: dict[str, Any] = {"kind": v.kind}
    for n in names:
        x = getattr(v, n)
        value[n] = [list(p) if isinstance(p, tuple) else p for p in x] if isinstance(x, tuple) else x
    out: dict[str, Any] = {k: x for k in _RECORD_FIELDS if (x := getattr(record, k)) is not None}
    out["value"] = value
    if record.attributes:
        out["attributes"] = dict(record.attributes)
    if record.meta:
        out["meta"] = dict(record.meta)
    return out


def row_body(record: Record) -> str:
    """A record's canonical JSON, ``canonical_json(record_to_dict(record))`` (what is stored and hashed)."""
    return canonical_json(_record_dict(record))


def snapshot_hash(row_hashes: Iterable[str]) -> str:
    """The hash of a multiset of row hashes (order does not matter, repeats do)."""
    h = hashlib.sha256()
    for rh in sorted(row_hashes):
        h.update(rh.encode("ascii"))
        h.update(b"\n")
    return h.hexdigest()


def entry_hash(seq: int, kind: str, created_at: str, body: str, prev_hash: str) -> str:
    """The hash of one chain entry (covers the previous entry's hash)."""
    return _sha256(f"{seq}\x1f{kind}\x1f{created_at}\x1f{prev_hash}\x1f{body}")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotInfo:
    """One snapshot (dataset version)."""

    id: int
    seq: int
    name: str | None
    snapshot_hash: str
    source: str
    pulled_at: str
    pulled_by: str
    n_rows: int
    reused_content: bool = False

    def label(self) -> str:
        """``name (hash12)`` or ``hash12``."""
        return f"{self.name} ({self.snapshot_hash[:12]})" if self.name else self.snapshot_hash[:12]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "snapshot_hash": self.snapshot_hash, "source": self.source,
                "pulled_at": self.pulled_at, "pulled_by": self.pulled_by, "n_rows": self.n_rows, "entry": self.seq}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInfo:
    """One recorded QA run."""

    id: int
    seq: int
    created_at: str
    accord_version: str
    seed: int | None
    config_hash: str
    config_text: str
    inputs: tuple[str, ...]
    headline: Mapping[str, Any]
    report_files: Mapping[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"entry": self.seq, "created_at": self.created_at, "accord_version": self.accord_version,
                "seed": self.seed, "config_hash": self.config_hash, "config_text": self.config_text,
                "inputs": list(self.inputs), "headline": dict(self.headline), "report_files": dict(self.report_files)}


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionInfo:
    """One recorded decision (conflict resolution or reviewer verdict)."""

    id: int
    seq: int
    item_id: str
    label_set: str
    reviewer: str
    role: str
    decision: Any
    rationale: str
    guideline_rule: str | None
    decided_at: str
    supersedes: int | None = None  # the entry (seq) of the decision this one revises

    def to_dict(self) -> dict[str, Any]:
        return {"entry": self.seq, "item_id": self.item_id, "label_set": self.label_set, "reviewer": self.reviewer,
                "role": self.role, "decision": self.decision, "rationale": self.rationale,
                "guideline_rule": self.guideline_rule, "decided_at": self.decided_at,
                "supersedes_entry": self.supersedes}


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyResult:
    """What :meth:`Ledger.verify` found.

    Attributes:
        ok: Every entry matches.
        n_entries: Entries checked.
        head_hash: The last entry's hash (publish it: a later ledger must still contain it).
        first_bad: The first entry (seq) that does not match, or None.
        problem: What is wrong with it.
    """

    ok: bool
    n_entries: int
    head_hash: str
    first_bad: int | None = None
    problem: str | None = None
    checked_rows: int = 0
    notes: tuple[str, ...] = field(default=())


def _snapshot_entry(name: str | None, h: str, source: str, pulled_at: str, pulled_by: str, n: int) -> dict[str, Any]:
    return {"name": name, "snapshot_hash": h, "source": source, "pulled_at": pulled_at, "pulled_by": pulled_by,
            "n_rows": int(n)}


def _run_entry(created_at: str, version: str, seed: int | None, config_hash: str, inputs: Sequence[str],
               headline: Any, files: Any) -> dict[str, Any]:
    return {"created_at": created_at, "accord_version": version, "seed": seed, "config_hash": config_hash,
            "inputs": list(inputs), "headline": headline, "report_files": files}


def _decision_entry(item: str, ls: str, reviewer: str, role: str, decision: Any, rationale: str,
                    rule: str | None, decided_at: str, supersedes: int | None) -> dict[str, Any]:
    return {"item_id": item, "label_set": ls, "reviewer": reviewer, "role": role, "decision": decision,
            "rationale": rationale, "guideline_rule": rule, "decided_at": decided_at, "supersedes_entry": supersedes}


class Ledger:
    """A ledger database (see the module docstring). Use :meth:`open` or :meth:`init`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    def open(cls, url: str) -> Ledger:
        """Open an existing ledger (refusing a missing one or one of a newer schema)."""
        db = Database(url)
        try:
            check_version(db)
        except BaseException:
            db.close()
            raise
        return cls(db)

    @classmethod
    def init(cls, url: str) -> Ledger:
        """Create a ledger (or upgrade an older one) and open it."""
        db = Database(url, create=True)
        try:
            migrate(db)
        except BaseException:
            db.close()
            raise
        return cls(db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def where(self) -> str:
        """The ledger's location, for messages (no password)."""
        return str(self.db.path) if self.db.path is not None else redact(self.db.url)

    # -- the chain -------------------------------------------------------------
    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last entry; ``(0, GENESIS)`` for an empty ledger."""
        row = self.db.execute("SELECT seq, entry_hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)

    def _append_entry(self, kind: str, body: Mapping[str, Any]) -> tuple[int, str]:
        """Add an entry after the head; call inside :meth:`Database.write`. Returns ``(seq, created_at)``."""
        seq, prev = self.head()
        seq += 1
        created_at = _now()
        text = canonical_json(body)
        self.db.execute("INSERT INTO entries (seq, kind, created_at, body, prev_hash, entry_hash) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (seq, kind, created_at, text, prev, entry_hash(seq, kind, created_at, text, prev)))
        return seq, created_at

    # -- snapshots -------------------------------------------------------------
    def add_snapshot(self, records: Iterable[Record], *, source: str, pulled_by: str, name: str | None = None,
                     pulled_at: str | None = None) -> SnapshotInfo:
        """Store a dataset version; rows and contents already stored are reused."""
        counts: dict[str, list[Any]] = {}
        for r in records:
            body = row_body(r)
            rh = _sha256(body)
            slot = counts.get(rh)
            if slot is None:
                counts[rh] = [r.item_id, r.annotator_id, r.label_set, body, 1]
            else:
                slot[4] += 1
        n_rows = sum(v[4] for v in counts.values())
        h = snapshot_hash(rh for rh, v in counts.items() for _ in range(v[4]))
        pulled_at = pulled_at or _now()
        with self.db.write():
            if name is not None and self.db.execute("SELECT 1 FROM snapshots WHERE name = ?", (name,)).fetchone():
                raise StoreError(f"a snapshot named {name!r} is already in the ledger {self.where}; snapshots are "
                                 "never overwritten -- pick another --name (e.g. a version tag)")
            row = self.db.execute("SELECT id FROM contents WHERE content_hash = ?", (h,)).fetchone()
            reused = row is not None
            content_id = self._store_content(h, n_rows, counts) if row is None else int(row[0])
            seq, _ = self._append_entry("snapshot", _snapshot_entry(name, h, source, pulled_at, pulled_by, n_rows))
            sid = self.db.execute(
                "INSERT INTO snapshots (entry_seq, name, content_id, snapshot_hash, source, pulled_at, pulled_by, "
                "n_rows) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (seq, name, content_id, h, source, pulled_at, pulled_by, n_rows)).fetchone()[0]
        return SnapshotInfo(id=int(sid), seq=seq, name=name, snapshot_hash=h, source=source, pulled_at=pulled_at,
                            pulled_by=pulled_by, n_rows=n_rows, reused_content=reused)

    def _store_content(self, h: str, n_rows: int, counts: Mapping[str, list[Any]]) -> int:
        db = self.db
        content_id = int(db.execute("INSERT INTO contents (content_hash, n_rows) VALUES (?, ?) RETURNING id",
                                    (h, n_rows)).fetchone()[0])
        if db.dialect == "sqlite":  # rows straight into their table; only (hash, count) staged
            db.executemany("INSERT INTO rows (row_hash, item_id, annotator_id, label_set, body) VALUES (?, ?, ?, ?, ?) "
                           "ON CONFLICT (row_hash) DO NOTHING", ((rh, *v[:4]) for rh, v in counts.items()))
            db.execute("CREATE TEMP TABLE IF NOT EXISTS staging (row_hash TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID")
            db.execute("DELETE FROM staging")
            db.executemany("INSERT INTO staging (row_hash, n) VALUES (?, ?)", ((rh, v[4]) for rh, v in counts.items()))
            db.execute("INSERT INTO content_rows (content_id, row_id, n) "
                       "SELECT ?, r.id, s.n FROM staging s JOIN rows r ON r.row_hash = s.row_hash", (content_id,))
            db.execute("DELETE FROM staging")
            return content_id
        # PostgreSQL: COPY the (hash, count) pairs, ask which rows are new, COPY only those (writers hold
        # the ledger's lock, so nobody else adds rows meanwhile), then link the content to its rows
        # no key on staging: its hashes are distinct already (dict keys), and both joins below are hash joins;
        # a primary key here cost a third of the COPY time (a B-tree over 64-character text, libc collation)
        db.execute("CREATE TEMP TABLE staging (row_hash TEXT NOT NULL, n INTEGER NOT NULL) ON COMMIT DROP")
        db.copy_rows("staging", ("row_hash", "n"), ((rh, v[4]) for rh, v in counts.items()))
        new = [r[0] for r in db.execute("SELECT s.row_hash FROM staging s LEFT JOIN rows r ON r.row_hash = s.row_hash "
                                        "WHERE r.id IS NULL")]
        db.copy_rows("rows", ("row_hash", "item_id", "annotator_id", "label_set", "body"),
                     ((rh, *counts[rh][:4]) for rh in new))
        db.execute("ANALYZE staging")  # a fresh temp table has no statistics: let the planner hash-join it
        db.execute("INSERT INTO content_rows (content_id, row_id, n) "
                   "SELECT ?, r.id, s.n FROM staging s JOIN rows r ON r.row_hash = s.row_hash", (content_id,))
        return content_id

    _SNAP_COLS = "id, entry_seq, name, snapshot_hash, source, pulled_at, pulled_by, n_rows"

    @staticmethod
    def _snap(row: Sequence[Any]) -> SnapshotInfo:
        return SnapshotInfo(id=int(row[0]), seq=int(row[1]), name=row[2], snapshot_hash=row[3], source=row[4],
                            pulled_at=row[5], pulled_by=row[6], n_rows=int(row[7]))

    def snapshots(self) -> list[SnapshotInfo]:
        """Every snapshot, oldest first."""
        return [self._snap(r) for r in self.db.execute(f"SELECT {self._SNAP_COLS} FROM snapshots ORDER BY id")]

    def get_snapshot(self, ref: str) -> SnapshotInfo:
        """A snapshot by name, or by its hash or a unique prefix of it (at least 6 hex digits)."""
        row = self.db.execute(f"SELECT {self._SNAP_COLS} FROM snapshots WHERE name = ?", (ref,)).fetchone()
        if row is not None:
            return self._snap(row)
        if len(ref) >= 6 and all(c in "0123456789abcdef" for c in ref.lower()):
            rows = self.db.execute(f"SELECT {self._SNAP_COLS} FROM snapshots WHERE snapshot_hash LIKE ? "
                                   "ORDER BY id DESC", (ref.lower() + "%",)).fetchall()
            if len({r[3] for r in rows}) > 1:
                raise SnapshotNotFoundError(f"{ref!r} is the start of {len({r[3] for r in rows})} snapshot hashes; "
                                            "give more digits")
            if rows:
                return self._snap(rows[0])  # same content: the latest snapshot of it
        names = [s.name for s in self.snapshots() if s.name][-10:]
        raise SnapshotNotFoundError(f"no snapshot named or hashed {ref!r} in {self.where}; known names: "
                                    f"{names or 'none'} (see 'accord snapshot --list')")

    def _content_id(self, snap: SnapshotInfo) -> int:
        return int(self.db.execute("SELECT content_id FROM snapshots WHERE id = ?", (snap.id,)).fetchone()[0])

    def snapshot_records(self, snap: SnapshotInfo) -> list[Record]:
        """The records of a snapshot (repeats included)."""
        out: list[Record] = []
        for body, n in self.db.execute("SELECT r.body, cr.n FROM content_rows cr JOIN rows r ON r.id = cr.row_id "
                                       "WHERE cr.content_id = ?", (self._content_id(snap),)):
            rec = record_from_dict(json.loads(body))
            out.extend([rec] * int(n))
        return out

    def changed_rows(self, a: SnapshotInfo, b: SnapshotInfo) -> tuple[list[Record], list[Record]]:
        """``(only_in_a, only_in_b)``: the rows one snapshot has and the other lacks (as a multiset)."""
        ca, cb = self._content_id(a), self._content_id(b)
        # find the differing row ids first (index lookups only), then read just their bodies
        sql = ("WITH d AS MATERIALIZED (SELECT x.row_id, x.n - COALESCE(y.n, 0) AS n FROM content_rows x "
               "LEFT JOIN content_rows y ON y.content_id = ? AND y.row_id = x.row_id "
               "WHERE x.content_id = ? AND (y.n IS NULL OR y.n < x.n)) "
               "SELECT r.body, d.n FROM d JOIN rows r ON r.id = d.row_id")
        out: list[list[Record]] = []
        for first, second in ((ca, cb), (cb, ca)):
            side: list[Record] = []
            if first != second:
                for body, n in self.db.execute(sql, (second, first)):
                    rec = record_from_dict(json.loads(body))
                    side.extend([rec] * int(n))
            out.append(side)
        return out[0], out[1]

    # -- runs ------------------------------------------------------------------
    def record_run(self, *, inputs: Sequence[str], config_text: str, accord_version: str, seed: int | None,
                   headline: Mapping[str, Any], report_files: Mapping[str, str]) -> RunInfo:
        """Record one QA run."""
        config_hash = _sha256(config_text)
        headline_text, files_text = canonical_json(headline), canonical_json(dict(report_files))
        with self.db.write():
            created_at = _now()
            seq, _ = self._append_entry("run", _run_entry(created_at, accord_version, seed, config_hash, inputs,
                                                          json.loads(headline_text), json.loads(files_text)))
            rid = self.db.execute(
                "INSERT INTO runs (entry_seq, created_at, accord_version, seed, config_hash, config_text, inputs, "
                "headline, report_files) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (seq, created_at, accord_version, seed, config_hash, config_text, canonical_json(list(inputs)),
                 headline_text, files_text)).fetchone()[0]
        return RunInfo(id=int(rid), seq=seq, created_at=created_at, accord_version=accord_version, seed=seed,
                       config_hash=config_hash, config_text=config_text, inputs=tuple(inputs),
                       headline=json.loads(headline_text), report_files=json.loads(files_text))

    def runs(self) -> list[RunInfo]:
        """Every QA run, newest first."""
        rows = self.db.execute("SELECT id, entry_seq, created_at, accord_version, seed, config_hash, config_text, "
                               "inputs, headline, report_files FROM runs ORDER BY id DESC").fetchall()
        return [RunInfo(id=int(r[0]), seq=int(r[1]), created_at=r[2], accord_version=r[3],
                        seed=None if r[4] is None else int(r[4]), config_hash=r[5], config_text=r[6],
                        inputs=tuple(json.loads(r[7])), headline=json.loads(r[8]), report_files=json.loads(r[9]))
                for r in rows]

    # -- decisions -------------------------------------------------------------
    def record_decision(self, resolution: Resolution, *, role: str = "adjudicator") -> DecisionInfo:
        """Record a decision; it supersedes the latest earlier one on the same item and label set."""
        decision_text = canonical_json(resolution.chosen)
        with self.db.write():
            prev = self.db.execute("SELECT id, entry_seq FROM decisions WHERE item_id = ? AND label_set = ? "
                                   "ORDER BY id DESC LIMIT 1", (resolution.item_id, resolution.label_set)).fetchone()
            prev_id, prev_seq = (int(prev[0]), int(prev[1])) if prev else (None, None)
            seq, _ = self._append_entry("decision", _decision_entry(
                resolution.item_id, resolution.label_set, resolution.decided_by, role, json.loads(decision_text),
                resolution.reason, resolution.guideline_rule, resolution.timestamp, prev_seq))
            did = self.db.execute(
                "INSERT INTO decisions (entry_seq, item_id, label_set, reviewer, role, decision, rationale, "
                "guideline_rule, decided_at, supersedes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (seq, resolution.item_id, resolution.label_set, resolution.decided_by, role, decision_text,
                 resolution.reason, resolution.guideline_rule, resolution.timestamp, prev_id)).fetchone()[0]
        return DecisionInfo(id=int(did), seq=seq, item_id=resolution.item_id, label_set=resolution.label_set,
                            reviewer=resolution.decided_by, role=role, decision=resolution.chosen,
                            rationale=resolution.reason, guideline_rule=resolution.guideline_rule,
                            decided_at=resolution.timestamp, supersedes=prev_seq)

    def decisions(self, item_id: str | None = None, label_set: str | None = None) -> list[DecisionInfo]:
        """Decisions in the order taken (optionally of one item / label set)."""
        sql = ("SELECT d.id, d.entry_seq, d.item_id, d.label_set, d.reviewer, d.role, d.decision, d.rationale, "
               "d.guideline_rule, d.decided_at, p.entry_seq FROM decisions d "
               "LEFT JOIN decisions p ON p.id = d.supersedes")
        where, params = [], []
        if item_id is not None:
            where.append("d.item_id = ?")
            params.append(item_id)
        if label_set is not None:
            where.append("d.label_set = ?")
            params.append(label_set)
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self.db.execute(sql + " ORDER BY d.id", params).fetchall()
        return [DecisionInfo(id=int(r[0]), seq=int(r[1]), item_id=r[2], label_set=r[3], reviewer=r[4], role=r[5],
                             decision=json.loads(r[6]), rationale=r[7], guideline_rule=r[8], decided_at=r[9],
                             supersedes=None if r[10] is None else int(r[10])) for r in rows]

    def latest_decisions(self) -> dict[tuple[str, str], Resolution]:
        """The decision in force per (item_id, label_set), as resolutions (like ``LogContents.latest()``)."""
        return {(d.item_id, d.label_set): Resolution(item_id=d.item_id, label_set=d.label_set, decided_by=d.reviewer,
                                                     chosen=d.decision, reason=d.rationale,
                                                     guideline_rule=d.guideline_rule, timestamp=d.decided_at)
                for d in self.decisions()}

    # -- history ---------------------------------------------------------------
    def history(self, item_id: str, label_set: str | None = None) -> list[tuple[SnapshotInfo, list[Record]]]:
        """Every snapshot with the item's rows in it (oldest first); snapshots without the item are left out."""
        sql = (f"SELECT s.{self._SNAP_COLS.replace(', ', ', s.')}, r.body, cr.n FROM snapshots s "
               "JOIN content_rows cr ON cr.content_id = s.content_id JOIN rows r ON r.id = cr.row_id "
               "WHERE r.item_id = ?")
        params: list[Any] = [item_id]
        if label_set is not None:
            sql += " AND r.label_set = ?"
            params.append(label_set)
        by_snap: dict[int, tuple[SnapshotInfo, list[Record]]] = {}
        for row in self.db.execute(sql + " ORDER BY s.id", params):
            snap = self._snap(row[:8])
            rec = record_from_dict(json.loads(row[8]))
            by_snap.setdefault(snap.id, (snap, []))[1].extend([rec] * int(row[9]))
        return [by_snap[k] for k in sorted(by_snap)]

    # -- verification ----------------------------------------------------------
    @contextmanager
    def _reading(self) -> Iterator[None]:
        with self.db.read():
            yield

    def _table_bodies(self) -> dict[int, tuple[str, dict[str, Any]]]:
        """What each snapshot / run / decision row says its entry holds, by entry seq."""
        out: dict[int, tuple[str, dict[str, Any]]] = {}
        for r in self.db.execute("SELECT s.entry_seq, s.name, s.snapshot_hash, s.source, s.pulled_at, s.pulled_by, "
                                 "s.n_rows, c.content_hash FROM snapshots s LEFT JOIN contents c "
                                 "ON c.id = s.content_id"):
            body = _snapshot_entry(r[1], r[2], r[3], r[4], r[5], r[6])
            if r[7] != r[2]:
                body["content_hash"] = r[7]  # the snapshot points at other content than it claims
            out[int(r[0])] = ("snapshot", body)
        for r in self.db.execute("SELECT entry_seq, created_at, accord_version, seed, config_hash, inputs, headline, "
                                 "report_files, config_text FROM runs"):
            body = _run_entry(r[1], r[2], None if r[3] is None else int(r[3]), r[4], json.loads(r[5]),
                              json.loads(r[6]), json.loads(r[7]))
            if _sha256(r[8]) != r[4]:
                body["config_text_hash"] = _sha256(r[8])
            out[int(r[0])] = ("run", body)
        for r in self.db.execute("SELECT d.entry_seq, d.item_id, d.label_set, d.reviewer, d.role, d.decision, "
                                 "d.rationale, d.guideline_rule, d.decided_at, p.entry_seq FROM decisions d "
                                 "LEFT JOIN decisions p ON p.id = d.supersedes"):
            out[int(r[0])] = ("decision", _decision_entry(r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7], r[8],
                                                          None if r[9] is None else int(r[9])))
        return out

    def verify(self, *, deep: bool = False) -> VerifyResult:
        """Recompute the chain and check every table row against its entry.

        Args:
            deep: Also rehash every stored row and every snapshot's content (reads all rows).
        """
        with self._reading():
            tables = self._table_bodies()
            prev, expected_seq, n = GENESIS, 1, 0
            for seq, kind, created_at, body, prev_hash, stored in self.db.execute(
                    "SELECT seq, kind, created_at, body, prev_hash, entry_hash FROM entries ORDER BY seq"):
                seq = int(seq)
                n += 1
                problem = None
                if seq != expected_seq:
                    problem = f"entries {expected_seq}..{seq - 1} are missing (deleted?)"
                elif prev_hash != prev:
                    problem = ("its link to the previous entry does not match (an entry before it was changed "
                               "or removed)")
                elif entry_hash(seq, kind, created_at, body, prev_hash) != stored:
                    problem = "its hash does not match its content (the entry was changed after it was written)"
                else:
                    table = tables.pop(seq, None)
                    if table is None:
                        problem = f"its {kind} row is missing from the tables"
                    elif table != (kind, json.loads(body)):
                        problem = f"its {table[0]} row in the tables was changed after it was written"
                if problem:
                    return VerifyResult(ok=False, n_entries=n, head_hash=stored, first_bad=seq,
                                        problem=f"entry {seq} ({kind}, {created_at}): {problem}")
                prev, expected_seq = stored, seq + 1
            if tables:
                seq = min(tables)
                return VerifyResult(ok=False, n_entries=n, head_hash=prev, first_bad=seq,
                                    problem=f"a {tables[seq][0]} row points at entry {seq}, which is not in the chain")
            checked = 0
            if deep:
                bad, checked = self._verify_rows()
                if bad:
                    return VerifyResult(ok=False, n_entries=n, head_hash=prev, first_bad=bad[0], problem=bad[1],
                                        checked_rows=checked)
        return VerifyResult(ok=True, n_entries=n, head_hash=prev, checked_rows=checked)

    def _verify_rows(self) -> tuple[tuple[int, str] | None, int]:
        """Rehash rows and contents; the first snapshot entry that no longer matches, and the rows checked."""
        bad_rows: set[int] = set()
        checked = 0
        for rid, rh, body in self.db.execute("SELECT id, row_hash, body FROM rows"):
            checked += 1
            if _sha256(body) != rh:
                bad_rows.add(int(rid))
        for cid, ch in self.db.execute("SELECT id, content_hash FROM contents ORDER BY id").fetchall():
            members = self.db.execute("SELECT r.id, r.row_hash, cr.n FROM content_rows cr JOIN rows r "
                                      "ON r.id = cr.row_id WHERE cr.content_id = ?", (cid,)).fetchall()
            broken = bad_rows.intersection(int(m[0]) for m in members)
            if broken or snapshot_hash(m[1] for m in members for _ in range(int(m[2]))) != ch:
                seq = self.db.execute("SELECT MIN(entry_seq) FROM snapshots WHERE content_id = ?", (cid,)).fetchone()[0]
                why = (f"{len(broken)} of its rows were changed after they were written" if broken
                       else "its set of rows no longer hashes to its snapshot hash (rows added or removed)")
                return (int(seq or 0), f"entry {seq} (snapshot {ch[:12]}): {why}"), checked
        return None, checked
