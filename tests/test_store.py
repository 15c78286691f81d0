"""The ledger (accord.store): schema, content-addressed snapshots, runs, decisions, the hash chain.

Every test runs twice: on SQLite (a file in tmp_path) and on a real PostgreSQL server (a
throwaway cluster started by ``pg_server.postgres_cluster``; marked ``integration``: skipped
locally without the binaries, a failure in CI).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from accord.core.model import Box, Classification, Record, TextValue
from accord.core.qa.conflicts import Resolution
from accord.store import LedgerConnectionError, LedgerNotFoundError, SchemaVersionError, SnapshotNotFoundError
from accord.store.db import dialect_of, redact, sqlite_path
from accord.store.diff import counts, diff_records
from accord.store.errors import StoreError
from accord.store.ledger import GENESIS, Ledger, entry_hash, row_body, snapshot_hash
from accord.store.schema import SCHEMA_VERSION

sys.path.insert(0, str(Path(__file__).parent))
from pg_server import free_port, new_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return new_database(request.getfixturevalue("pg_server"))


@pytest.fixture
def ledger(url):
    with Ledger.init(url) as led:
        yield led


def _recs(n, *, label="cat", annotators=("a", "b")):
    return [Record(item_id=f"i{i}", annotator_id=who, label_set="cls", value=Classification(label=label))
            for i in range(n) for who in annotators]


def _count(led, table):
    return int(led.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


# -- URLs and opening ------------------------------------------------------------------------------
def test_url_parsing():
    assert sqlite_path("sqlite:///rel/l.db") == Path("rel/l.db")
    assert sqlite_path("sqlite:////abs/l.db") == Path("/abs/l.db")
    assert sqlite_path("plain/file.db") == Path("plain/file.db")
    assert dialect_of("postgresql://u@h/db") == "postgresql"
    assert dialect_of("postgres://u@h/db") == "postgresql"
    assert redact("postgresql://u:secret@h:5/db") == "postgresql://u:***@h:5/db"
    with pytest.raises(StoreError, match="unsupported database URL 'mysql://u:\\*\\*\\*@h/db'"):
        dialect_of("mysql://u:pw@h/db")


def test_init_creates_versioned_schema_and_reopens(url):
    with Ledger.init(url) as led:
        assert int(led.db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]) == SCHEMA_VERSION
        assert led.head() == (0, GENESIS)
    with Ledger.init(url) as led:  # init again: a no-op, not a second schema
        assert _count(led, "schema_version") == SCHEMA_VERSION
    with Ledger.open(url) as led:
        assert led.verify().ok


def test_sqlite_uses_wal_and_a_busy_timeout(tmp_path):
    with Ledger.init(f"sqlite:///{tmp_path}/l.db") as led:
        assert led.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert led.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000


def test_missing_ledger_is_a_one_line_error(tmp_path):
    with pytest.raises(LedgerNotFoundError, match="run 'accord ledger init'") as e:
        Ledger.open(f"sqlite:///{tmp_path}/none.db")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "none.db").exists()  # opening does not create it


def test_newer_schema_is_refused(url):
    with Ledger.init(url) as led:
        led.db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 5,))
    with pytest.raises(SchemaVersionError, match=f"version {SCHEMA_VERSION + 5}, newer .* upgrade accord") as e:
        Ledger.open(url)
    assert "\n" not in str(e.value)
    with pytest.raises(SchemaVersionError):
        Ledger.init(url)


def test_unreachable_server_is_a_one_line_error_without_the_password():
    port = free_port()  # nothing listens there
    with pytest.raises(LedgerConnectionError, match=f"cannot connect .*127.0.0.1:{port}.* server is running") as e:
        Ledger.open(f"postgresql://accord:hunter2@127.0.0.1:{port}/x")
    assert "hunter2" not in str(e.value)
    assert "\n" not in str(e.value)


def test_a_non_ledger_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    import sqlite3

    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(LedgerNotFoundError, match="holds no accord ledger"):
        Ledger.open(f"sqlite:///{path}")


# -- snapshots -------------------------------------------------------------------------------------
def test_snapshot_hash_is_content_addressed(ledger):
    recs = _recs(20)
    shuffled = random.Random(1).sample(recs, len(recs))
    a = ledger.add_snapshot(recs, source="x.json", pulled_by="me", name="v1")
    b = ledger.add_snapshot(shuffled, source="other.json", pulled_by="you", name="v2")
    assert a.snapshot_hash == b.snapshot_hash == snapshot_hash(
        __import__("hashlib").sha256(row_body(r).encode()).hexdigest() for r in recs)
    assert not a.reused_content
    assert b.reused_content
    assert (_count(ledger, "rows"), _count(ledger, "contents"), _count(ledger, "content_rows")) == (40, 1, 40)
    changed = [*recs[:-1], Record(item_id="i19", annotator_id="b", label_set="cls", value=Classification(label="dog"))]
    c = ledger.add_snapshot(changed, source="x.json", pulled_by="me", name="v3")
    assert c.snapshot_hash != a.snapshot_hash
    assert _count(ledger, "rows") == 41  # unchanged rows are stored once
    assert _count(ledger, "content_rows") == 80
    dup = ledger.add_snapshot([*recs, recs[0]], source="x.json", pulled_by="me")
    assert dup.n_rows == 41
    assert dup.snapshot_hash != a.snapshot_hash
    assert sorted(map(row_body, ledger.snapshot_records(dup))) == sorted(map(row_body, [*recs, recs[0]]))
    got = ledger.get_snapshot("v2")
    assert (got.source, got.pulled_by, got.n_rows) == ("other.json", "you", 40)
    assert ledger.get_snapshot(c.snapshot_hash[:10]).name == "v3"
    assert [s.name for s in ledger.snapshots()] == ["v1", "v2", "v3", None]


def test_snapshot_names_are_never_reused(ledger):
    ledger.add_snapshot(_recs(2), source="x", pulled_by="me", name="v1")
    with pytest.raises(StoreError, match="already in the ledger"):
        ledger.add_snapshot(_recs(3), source="x", pulled_by="me", name="v1")
    assert _count(ledger, "snapshots") == 1
    assert ledger.head()[0] == 1  # nothing half written
    assert _count(ledger, "contents") == 1


def test_unknown_snapshot(ledger):
    ledger.add_snapshot(_recs(1), source="x", pulled_by="me", name="v1")
    with pytest.raises(SnapshotNotFoundError, match=r"no snapshot named or hashed 'v9'.*\['v1'\]"):
        ledger.get_snapshot("v9")


def test_changed_rows_and_history(ledger):
    old = _recs(5)
    new = [*old[:-1], Record(item_id="i4", annotator_id="b", label_set="cls", value=Classification(label="dog"))]
    a = ledger.add_snapshot(old, source="x", pulled_by="me", name="a")
    b = ledger.add_snapshot(new, source="x", pulled_by="me", name="b")
    only_a, only_b = ledger.changed_rows(a, b)
    assert [r.label for r in only_a] == ["cat"]
    assert [r.label for r in only_b] == ["dog"]
    assert ledger.changed_rows(a, a) == ([], [])
    hist = ledger.history("i4", "cls")
    assert [s.name for s, _ in hist] == ["a", "b"]
    assert sorted(r.label for r in hist[1][1]) == ["cat", "dog"]
    assert ledger.history("nope") == []


# -- decisions and runs ----------------------------------------------------------------------------
def test_decisions_supersede(ledger):
    first = ledger.record_decision(Resolution(item_id="i1", label_set="cls", decided_by="ann", chosen="cat"),
                                   role="reviewer")
    other = ledger.record_decision(Resolution(item_id="i2", label_set="cls", decided_by="ann", chosen="dog"))
    second = ledger.record_decision(Resolution(item_id="i1", label_set="cls", decided_by="lead", chosen="dog",
                                               reason="tail visible", guideline_rule="2.1"))
    assert first.supersedes is None
    assert other.supersedes is None
    assert second.supersedes == first.seq
    hist = ledger.decisions("i1")
    assert [(d.reviewer, d.role, d.decision, d.supersedes) for d in hist] == [
        ("ann", "reviewer", "cat", None), ("lead", "adjudicator", "dog", first.seq)]
    latest = ledger.latest_decisions()
    assert latest[("i1", "cls")].chosen == "dog"
    assert latest[("i1", "cls")].guideline_rule == "2.1"


def test_runs_newest_first(ledger):
    s = ledger.add_snapshot(_recs(2), source="x", pulled_by="me")
    for seed in (1, 2):
        ledger.record_run(inputs=[s.snapshot_hash], config_text="[report]\n", accord_version="0.1.0", seed=seed,
                          headline={"agreement": {"cls": {"estimate": 0.5}}}, report_files={"r.json": "ab"})
    runs = ledger.runs()
    assert [r.seed for r in runs] == [2, 1]
    assert runs[0].inputs == (s.snapshot_hash,)
    assert runs[0].config_hash == __import__("hashlib").sha256(b"[report]\n").hexdigest()
    assert runs[0].headline["agreement"]["cls"]["estimate"] == 0.5


# -- the chain -------------------------------------------------------------------------------------
def _filled(ledger):
    s = ledger.add_snapshot(_recs(3), source="x", pulled_by="me", name="v1")
    ledger.record_decision(Resolution(item_id="i1", label_set="cls", decided_by="lead", chosen="dog"))
    ledger.record_run(inputs=[s.snapshot_hash], config_text="", accord_version="0.1", seed=0, headline={},
                      report_files={})
    ledger.record_decision(Resolution(item_id="i1", label_set="cls", decided_by="lead", chosen="cat"))
    ledger.add_snapshot(_recs(4), source="y", pulled_by="me", name="v2")
    return s


def test_chain_links_every_entry(ledger):
    _filled(ledger)
    rows = ledger.db.execute("SELECT seq, kind, created_at, body, prev_hash, entry_hash FROM entries "
                             "ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    prev = GENESIS
    for seq, kind, created_at, body, prev_hash, h in rows:
        assert prev_hash == prev
        assert h == entry_hash(seq, kind, created_at, body, prev_hash)
        prev = h
    res = ledger.verify(deep=True)
    assert res.ok
    assert res.n_entries == 5
    assert res.head_hash == prev
    assert res.checked_rows == 8


@pytest.mark.parametrize(("tamper", "first_bad", "match"), [
    ("UPDATE entries SET body = REPLACE(body, 'dog', 'cow') WHERE seq = 2", 2, "hash does not match"),
    ("UPDATE decisions SET decision = '\"cow\"' WHERE entry_seq = 4", 4, "decision row in the tables was changed"),
    ("UPDATE snapshots SET pulled_by = 'mallory' WHERE entry_seq = 5", 5, "snapshot row in the tables"),
    ("UPDATE runs SET config_text = 'x' WHERE entry_seq = 3", 3, "run row in the tables"),
    ("DELETE FROM entries WHERE seq = 3", 4, "entries 3..3 are missing"),
    ("UPDATE entries SET prev_hash = entry_hash WHERE seq = 4", 4, "link to the previous entry"),
])
def test_verify_names_the_first_entry_that_does_not_match(ledger, tamper, first_bad, match):
    _filled(ledger)
    if "DELETE FROM entries" in tamper:
        ledger.db.execute("DELETE FROM runs WHERE entry_seq = 3")
    ledger.db.execute(tamper)
    res = ledger.verify()
    assert not res.ok
    assert res.first_bad == first_bad
    assert res.problem is not None
    assert match in res.problem
    assert f"entry {first_bad}" in res.problem


def test_deep_verify_finds_a_changed_row(ledger):
    _filled(ledger)
    assert ledger.verify().ok
    ledger.db.execute("UPDATE rows SET body = REPLACE(body, 'cat', 'cow') WHERE id = 1")
    assert ledger.verify().ok  # the chain itself is intact ...
    res = ledger.verify(deep=True)  # ... but the snapshot's rows are not
    assert not res.ok
    assert res.first_bad == 1
    assert "rows were changed" in (res.problem or "")


# -- concurrency and crashes -----------------------------------------------------------------------
_WRITER = textwrap.dedent("""
    import sys
    from accord.core.model import Classification, Record
    from accord.core.qa.conflicts import Resolution
    from accord.store.ledger import Ledger
    url, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with Ledger.open(url) as led:
        for i in range(n):
            if i % 5 == 0:
                recs = [Record(item_id=f"{who}-{i}-{k}", annotator_id=who, label_set="cls",
                               value=Classification(label="x")) for k in range(50)]
                led.add_snapshot(recs, source=who, pulled_by=who)
            else:
                led.record_decision(Resolution(item_id=f"i{i % 7}", label_set="cls", decided_by=who, chosen=i))
            print("committed", flush=True)
""")


def test_parallel_writers_never_corrupt(url, tmp_path):
    Ledger.init(url).close()
    n, writers = 40, 3
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, url, f"w{k}", str(n)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for k in range(writers)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert out.count("committed") == n
    with Ledger.open(url) as led:
        res = led.verify(deep=True)
        assert res.ok, res.problem
        assert res.n_entries == n * writers
        assert [int(r[0]) for r in led.db.execute("SELECT seq FROM entries ORDER BY seq")] == list(
            range(1, n * writers + 1))
        ds = led.decisions()
        # every decision supersedes the one just before it on the same item: one chain per item, no forks
        for item in {d.item_id for d in ds}:
            chain = [d for d in ds if d.item_id == item]
            assert [d.supersedes for d in chain] == [None, *(d.seq for d in chain[:-1])]


_CRASHER = textwrap.dedent("""
    import sys
    from accord.core.model import Classification, Record
    from accord.store.ledger import Ledger
    url = sys.argv[1]
    with Ledger.open(url) as led:
        for i in range(10_000):
            recs = [Record(item_id=f"it{i}-{k}", annotator_id="a", label_set="cls", value=Classification(label="x"))
                    for k in range(20_000)]
            snap = led.add_snapshot(recs, source="big", pulled_by="crash", name=f"s{i}")
            print(snap.seq, flush=True)
""")


def test_kill_9_mid_write_keeps_committed_entries_and_the_chain(url):
    Ledger.init(url).close()
    p = subprocess.Popen([sys.executable, "-c", _CRASHER, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    committed = []
    assert p.stdout is not None
    for line in p.stdout:
        committed.append(int(line))
        if len(committed) == 3:
            break
    time.sleep(random.Random(len(url)).uniform(0.05, 0.6))  # somewhere inside the next snapshot's write
    os.kill(p.pid, signal.SIGKILL)
    assert p.wait(timeout=60) == -signal.SIGKILL  # killed while still writing, not finished
    with Ledger.open(url) as led:
        res = led.verify(deep=True)
        assert res.ok, res.problem
        seqs = [int(r[0]) for r in led.db.execute("SELECT seq FROM entries ORDER BY seq")]
        assert seqs[:3] == committed
        assert seqs == list(range(1, len(seqs) + 1))
        for snap in led.snapshots():
            assert snap.n_rows == 20_000 == len(led.snapshot_records(snap))
        led.add_snapshot(_recs(2), source="after", pulled_by="me", name="after-crash")  # still writable
        assert led.verify(deep=True).ok


# -- diff (pure) -----------------------------------------------------------------------------------
def test_diff_records_classifies_pairs():
    def box(label, x, rid=None, who="a", item="i"):
        return Record(item_id=item, annotator_id=who, label_set="obj", region_id=rid,
                      value=Box(label=label, x=x, y=0, width=10, height=10))

    old = [box("car", 0, "r1"), box("car", 100), box("bus", 200), box("car", 400),
           Record(item_id="i", annotator_id="a", label_set="txt", value=TextValue(text="helo"))]
    new = [box("car", 5, "r1"), box("car", 102), box("tram", 200), box("car", 900),
           Record(item_id="i", annotator_id="a", label_set="txt", value=TextValue(text="hello"))]
    ch = diff_records(old, new)
    assert counts(ch) == {"added": 1, "removed": 1, "relabeled": 1, "moved": 2, "edited_text": 1, "changed": 0}
    moved = sorted((c.iou for c in ch if c.change == "moved"), reverse=True)
    # x shifted by 2 of 10: overlap 8x10 / union 12x10; shifted by 5: 5x10 / 15x10
    assert moved == pytest.approx([80 / 120, 50 / 150])
    rel = next(c for c in ch if c.change == "relabeled")
    assert (rel.old_label, rel.new_label, rel.iou) == ("bus", "tram", pytest.approx(1.0))
    assert json.dumps([c.to_dict() for c in ch])


def test_core_does_no_persistent_io_and_never_imports_the_store():
    import ast

    root = Path(__file__).resolve().parents[1] / "core"
    bad = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            bad += [f"{path.name}: {n}" for n in names if n.startswith(("accord.store", "store", "sqlite3"))]
    assert bad == []
    conflicts = ast.parse((root / "qa" / "conflicts.py").read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(conflicts) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(conflicts) if isinstance(n, ast.ImportFrom) and n.module}
    assert not imported & {"os", "pathlib", "threading", "json", "fcntl"}
    calls = {n.func.id for n in ast.walk(conflicts) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert "open" not in calls


def test_row_body_is_the_canonical_json_of_record_to_dict():
    """The snapshot hot path's serializer equals the model's own, for every value kind."""
    from accord.core.model import (
        VALUE_TYPES,
        Cuboid,
        Keypoint,
        Keypoints,
        Mask,
        MultiLabel,
        Numeric,
        Polygon,
        Polyline,
        Segment,
        Span,
        Track,
        TrackFrame,
        record_to_dict,
    )
    from accord.store.ledger import canonical_json

    values = [Classification(label="x", path=("root", "x")), MultiLabel(labels=("a", "b")), Numeric(value=2.5),
              TextValue(text="héllo"), Box(label="car", x=1, y=2, width=3, height=4, rotation=5),
              Polygon(label="p", points=((0, 0), (1, 0), (1, 1))), Polyline(label="l", points=((0, 0), (2, 2))),
              Mask(label="m", height=2, width=2, counts=(1, 2, 1)),
              Keypoints(label="pose", points=(Keypoint(name="0", x=1, y=2),)),
              Span(label="PER", start=0, end=3, text="Ann"), Segment(start=0.0, end=1.5, text="hi", speaker="s1"),
              Track(label="t", track_id="1", frames=(TrackFrame(frame=0, x=0, y=0, width=1, height=1),)),
              Cuboid(label="c", x=0, y=0, z=0, length=1, width=1, height=1)]
    assert {v.kind for v in values} == set(VALUE_TYPES)
    for v in values:
        for r in (Record(item_id="i", annotator_id="a", label_set="s", value=v),
                  Record(item_id="i", annotator_id="a", label_set="s", value=v, attributes={"occluded": True},
                         meta={"site": "A"}, score=0.5, region_id="r1", updated_at="2026-01-01")):
            assert row_body(r) == canonical_json(record_to_dict(r)), v.kind


def test_a_file_that_is_not_sqlite_is_a_one_line_error(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("not a database, just notes\n" * 200)
    with pytest.raises(StoreError, match="is not a usable SQLite ledger") as e:
        Ledger.open(f"sqlite:///{path}")
    assert "\n" not in str(e.value)


def test_an_older_schema_asks_for_init_which_upgrades_it(url):
    from accord.store.db import Database

    db = Database(url, create=True)  # a ledger at schema version 0: only its version table
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    db.execute("INSERT INTO schema_version (version) VALUES (0)")
    db.close()
    with pytest.raises(SchemaVersionError, match=r"older than .* run 'accord ledger init'"):
        Ledger.open(url)
    Ledger.init(url).close()  # applies the migrations after 0
    with Ledger.open(url) as led:
        assert led.add_snapshot(_recs(1), source="x", pulled_by="me").seq == 1
        assert [int(r[0]) for r in led.db.execute("SELECT version FROM schema_version ORDER BY version")] == [
            0, *range(1, SCHEMA_VERSION + 1)]


def test_awkward_characters_round_trip(ledger):
    """Tabs, newlines, backslashes, NUL-free control characters and non-ASCII text survive (PostgreSQL's COPY)."""
    nasty = ["tab\there", "new\nline", "back\\slash\\N", "cr\rret", "ünïcödé ✓", "quote\"s'", "\\t literal"]
    recs = [Record(item_id=s, annotator_id=f"who {s}", label_set=f"ls{k}", value=TextValue(text=s * 3),
                   meta={"note": s}) for k, s in enumerate(nasty)]
    snap = ledger.add_snapshot(recs, source="src\twith tab", pulled_by="me\\you", name="odd\nname")
    assert sorted(map(row_body, ledger.snapshot_records(snap))) == sorted(map(row_body, recs))
    got = ledger.get_snapshot("odd\nname")
    assert (got.source, got.pulled_by) == ("src\twith tab", "me\\you")
    assert ledger.verify(deep=True).ok
    assert [len(r) for _, r in ledger.history("back\\slash\\N")] == [1]


def test_copy_rows_escapes_only_what_needs_it(url):
    """The bulk path (PostgreSQL COPY text format; SQLite executemany) keeps every value exactly, whether a
    line takes the no-escaping fast path or not: NULLs, numbers, tabs, newlines, CRs and backslashes."""
    from accord.store.db import Database

    db = Database(url, create=True)
    try:
        db.execute("CREATE TABLE t (k BIGINT, a TEXT, b TEXT)")
        rows = [(1, "plain", "{\"json\":true}"), (2, None, "x"), (3, "a\tb", "c"), (4, "two\nlines", "\\N"),
                (5, "cr\rhere", "back\\slash"), (6, "\\t", "\t"), (7, "", ""), (8, "ünï ✓", None)]
        with db.write():
            db.copy_rows("t", ("k", "a", "b"), rows)
        assert [tuple(r) for r in db.execute("SELECT k, a, b FROM t ORDER BY k").fetchall()] == rows
    finally:
        db.close()


def test_canonical_json_is_json_dumps_with_sorted_keys_and_no_spaces():
    """The encoder built once gives the text json.dumps gives (every stored hash depends on it)."""
    import json

    from accord.store.ledger import canonical_json

    for obj in [{"b": 1, "a": [1.5, None, True], "ü": "✓\n\"q\""}, [], "x", 3, {"z": {"y": {"x": float("nan")}}},
                {"k": 1e300, "n": -0.0, "s": "\\t"}]:
        assert canonical_json(obj) == json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
