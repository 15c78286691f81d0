"""Tests for accord.core.qa.conflicts and the resolution log (accord.store.resolution_log)."""

from __future__ import annotations

import json
import math
import threading

import pytest

from accord.core.model import Classification, Record
from accord.core.qa.conflicts import (
    Conflict,
    ConflictInputError,
    Resolution,
    conflict_queue,
    guideline_hot_spots,
)
from accord.store import ResolutionLog, ResolutionLogError
from accord.store.resolution_log import encode_line


def _rec(item, who, label):
    return Record(item_id=item, annotator_id=who, label_set="cls", value=Classification(label=label))


def test_conflict_queue_orders_and_attaches_annotations():
    records = [_rec("a", "u1", "cat"), _rec("a", "u2", "dog"), _rec("b", "u1", "cat"), _rec("c", "u1", "cat")]
    q = conflict_queue({("a", "cls"): 0.1, ("b", "cls"): 0.9, ("c", "cls"): math.nan, ("d", "cls"): 0.5},
                       threshold=0.6, records=records)
    assert [c.item_id for c in q] == ["a", "d", "c"]  # lowest first, undefined (NaN) last
    a = q[0]
    assert a.labels == ("cat", "dog")
    assert a.reason == "low_agreement"
    assert [d["annotator_id"] for d in a.annotations] == ["u1", "u2"]
    assert json.dumps([dict(d) for d in a.annotations])  # plain, serialisable dicts


def test_conflict_queue_needs_label_set_for_item_keys():
    with pytest.raises(ConflictInputError, match="label_set"):
        conflict_queue({"a": 0.1}, threshold=0.5)
    q = conflict_queue({"a": 0.1}, threshold=0.5, label_set="cls", reason="gold_disagreement")
    assert q[0].reason == "gold_disagreement"
    assert q[0].label_set == "cls"


def _res(i, rule="R1", chosen="cat"):
    return Resolution(item_id=f"it{i}", label_set="cls", decided_by="lead", chosen=chosen,
                      reason="per guideline", guideline_rule=rule)


def test_log_round_trip_and_append_only(tmp_path):
    log = ResolutionLog(tmp_path / "res.jsonl")
    assert log.read().resolutions == ()
    log.append(_res(1))
    first = (tmp_path / "res.jsonl").read_bytes()
    log.append(_res(2, chosen={"x": 1}))
    data = (tmp_path / "res.jsonl").read_bytes()
    assert data.startswith(first)  # earlier bytes untouched
    got = log.read()
    assert got.torn_tail is None
    assert [r.item_id for r in got.resolutions] == ["it1", "it2"]
    assert got.resolutions[1].chosen == {"x": 1}
    first_back = got.resolutions[0].to_dict()
    expected = _res(1).to_dict()
    assert {k: v for k, v in first_back.items() if k != "timestamp"} == {
        k: v for k, v in expected.items() if k != "timestamp"}
    assert first_back["timestamp"].endswith("+00:00")


def test_latest_supersedes(tmp_path):
    log = ResolutionLog(tmp_path / "r.jsonl")
    log.append(_res(1, chosen="cat"))
    log.append(_res(1, chosen="dog"))
    assert log.read().latest()[("it1", "cls")].chosen == "dog"


def test_concurrent_appends_do_not_corrupt_lines(tmp_path):
    log = ResolutionLog(tmp_path / "c.jsonl")
    other = ResolutionLog(tmp_path / "c.jsonl")  # a second handle on the same file

    def work(t):
        for i in range(25):
            (log if t % 2 else other).append(_res(t * 1000 + i, chosen="x" * (i * 37 % 300)))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    lines = (tmp_path / "c.jsonl").read_text().splitlines()
    assert len(lines) == 200
    assert all(json.loads(line)["resolution"]["decided_by"] == "lead" for line in lines)
    got = log.read()
    assert got.torn_tail is None
    assert len({r.item_id for r in got.resolutions}) == 200


def test_torn_last_line_is_reported_not_fatal(tmp_path):
    path = tmp_path / "t.jsonl"
    log = ResolutionLog(path)
    log.append(_res(1))
    log.append(_res(2))
    with path.open("ab") as f:
        f.write(b'{"item_id": "it3", "label_set": "cl')  # crash mid-write
    got = log.read()
    assert [r.item_id for r in got.resolutions] == ["it1", "it2"]
    assert got.torn_tail is not None
    assert got.torn_tail.startswith('{"item_id": "it3"')
    # the next append starts a fresh line; the fragment stays in place and is reported as torn
    log.append(_res(4))
    got = log.read()
    assert [r.item_id for r in got.resolutions] == ["it1", "it2", "it4"]
    assert got.torn_tail is None
    assert [n for n, _ in got.torn_lines] == [3]


def test_garbage_mid_line_raises(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text('{"a": 1} trailing garbage\n' + json.dumps(_res(1).to_dict()) + "\n")
    with pytest.raises(ResolutionLogError, match="not a JSON resolution"):
        ResolutionLog(path).read()


def test_corrupt_middle_line_raises(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"nope": 1}\n' + json.dumps(_res(1).to_dict()) + "\n")
    with pytest.raises(ResolutionLogError, match="missing"):
        ResolutionLog(path).read()


# Resolutions whose JSON holds nulls, numbers, booleans, nesting and non-ASCII text: the places where
# a cut used to leave JSON that failed "in the middle" and was not recognised as torn (issue 15, item 12).
_TRICKY = [
    Resolution(item_id="a/1", label_set="cls", decided_by="lead", chosen=None, reason="", guideline_rule=None,
               timestamp="2026-01-01T00:00:00+00:00"),
    Resolution(item_id="a/2", label_set="score", decided_by="rev", chosen=-12.5e-3, reason="zoomed in",
               guideline_rule="3.1", timestamp="2026-01-01T00:00:01+00:00"),
    Resolution(item_id="a/3", label_set="tags", decided_by="lead", chosen={"ok": True, "n": [1, 20, None]},
               reason="Zebra \u00e9 \u2014 \"quoted\"", guideline_rule=None, timestamp="2026-01-01T00:00:02+00:00"),
    Resolution(item_id="a/4", label_set="cls", decided_by="lead", chosen=False, reason="no",
               guideline_rule=None, timestamp="2026-01-01T00:00:03+00:00"),
]


def _v1_line(r):  # the format written before checksums: json.dumps(to_dict(), sort_keys=True)
    return (json.dumps(r.to_dict(), ensure_ascii=False, sort_keys=True) + "\n").encode()


@pytest.mark.parametrize("encode", [encode_line, _v1_line], ids=["checksummed", "pre-checksum"])
def test_every_cut_point_then_append_reads_back(tmp_path, encode):
    """Every prefix of a written log, then an append, reads back as the complete entries plus the new one."""
    lines = [encode(r) for r in _TRICKY]
    data = b"".join(lines)
    ends = []  # byte offset where each entry's JSON is complete (its newline not needed)
    pos = 0
    for line in lines:
        pos += len(line)
        ends.append(pos - 1)
    new = Resolution(item_id="new", label_set="cls", decided_by="x", chosen="cat", timestamp="t")
    path = tmp_path / "cut.jsonl"
    for cut in range(len(data) + 1):
        path.write_bytes(data[:cut])
        log = ResolutionLog(path)
        before = log.read()
        complete = [r.to_dict() for r, end in zip(_TRICKY, ends, strict=True) if end <= cut]
        assert [r.to_dict() for r in before.resolutions] == complete, cut
        partial = cut not in (0, *ends, *(e + 1 for e in ends))
        assert (before.torn_tail is not None) == partial, cut
        log.append(new)
        after = log.read()
        assert [r.to_dict() for r in after.resolutions] == [*complete, new.to_dict()], cut
        assert after.torn_tail is None
        assert len(after.torn_lines) == int(partial), cut


def test_checksum_mismatch_is_an_error_not_a_torn_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    line = encode_line(_TRICKY[1])
    path.write_bytes(line.replace(b"zoomed", b"zoomex") + encode_line(_TRICKY[0]))
    with pytest.raises(ResolutionLogError, match=r"bad.jsonl:1: .*checksum"):
        ResolutionLog(path).read()


def test_resolve_list_warns_about_a_torn_last_line(tmp_path, capsys):
    from accord.cli import main

    path = tmp_path / "r.jsonl"
    assert main(["resolve", "--log", str(path), "--item", "i1", "--label-set", "cls", "--chosen", "cat",
                 "--by", "lead"]) == 0
    with path.open("ab") as f:
        f.write(encode_line(_TRICKY[0])[:25])
    capsys.readouterr()
    assert main(["resolve", "--log", str(path), "--list"]) == 0
    out = capsys.readouterr()
    assert [r["item_id"] for r in json.loads(out.out)] == ["i1"]
    assert "last line" in out.err
    assert "skipped" in out.err


def test_hot_spots_ranked():
    conflicts = [
        Conflict(item_id="1", label_set="cls", reason="low_agreement", agreement_score=0.1, labels=("cat", "dog")),
        Conflict(item_id="2", label_set="cls", reason="low_agreement", agreement_score=0.2, labels=("cat", "fox")),
        Conflict(item_id="3", label_set="cls", reason="gold_disagreement", agreement_score=0.3, labels=("cat",)),
    ]
    res = [_res(1, rule="R2", chosen="cat"), _res(2, rule="R2", chosen="fox"), _res(3, rule="R1", chosen="cat")]
    spots = guideline_hot_spots(conflicts, res)
    assert [(h.kind, h.name, h.conflicts, h.resolutions) for h in spots[:3]] == [
        ("label", "cat", 3, 2), ("label", "fox", 1, 1), ("rule", "R2", 0, 2)]
    assert len(guideline_hot_spots(conflicts, res, top=2)) == 2


def test_report_warns_about_a_torn_line_in_its_resolution_log(tmp_path, caplog):
    from pathlib import Path

    from accord.cli import main

    sample = Path(__file__).resolve().parents[1] / "core" / "data" / "sample" / "text_sentiment.json"
    log = tmp_path / "r.jsonl"
    log.write_bytes(encode_line(_TRICKY[0]) + encode_line(_TRICKY[3])[:40])
    with caplog.at_level("WARNING"):
        assert main(["-q", "report", str(sample), "--resolutions", str(log), "--no-ledger"]) == 0
    assert any("last line" in r.getMessage() and "skipped" in r.getMessage() for r in caplog.records)


_APPENDER = """
import sys
from accord.core.qa.conflicts import Resolution
from accord.store import ResolutionLog
log = ResolutionLog(sys.argv[1])
for i in range(60):
    log.append(Resolution(item_id=f"{sys.argv[2]}-{i}", label_set="cls", decided_by="p", chosen="x" * (i * 53 % 900)))
"""


def test_appends_from_several_processes_never_interleave(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "mp.jsonl"
    procs = [subprocess.Popen([sys.executable, "-c", _APPENDER, str(path), f"p{k}"]) for k in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    got = ResolutionLog(path).read()
    assert got.torn_tail is None
    assert got.torn_lines == ()
    assert len({r.item_id for r in got.resolutions}) == 180
