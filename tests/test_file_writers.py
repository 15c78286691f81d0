"""The atomic writer behind every ``accord`` output file (issue #14 finding 5, issue #15 "0600 reports").

Reproductions of what the security review found: ``-o /dev/full`` as root replaced the
device node with a regular file; a symlinked output was replaced by a private file while
its target stayed stale; FIFOs likewise; every output was 0600 whatever the umask (a 0644
report became 0600); SIGTERM left hidden ``.name.*.tmp`` files.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.atomic import OutputPathError, live_temp_files, write_atomic, write_text_atomic
from accord.cli import main

TESTS = Path(__file__).parent
CVAT_XML = TESTS / "fixtures" / "cvat" / "images_train.xml"


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def _char_device(tmp_path: Path) -> Path:
    """A /dev/full to write to: as root, a node of our own (so a regression cannot clobber the real one)."""
    if os.geteuid() == 0:
        node = tmp_path / "full"
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 7))  # Linux: major 1, minor 7 is /dev/full
        return node
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    return Path("/dev/full")


# --------------------------------------------------------------------------- modes


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_new_file_gets_0666_minus_umask(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        write_text_atomic(tmp_path / "r.json", "{}\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o666 & ~mask


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600, 0o664])
def test_overwrite_keeps_the_existing_mode(tmp_path: Path, umask_022: None, mode: int) -> None:
    out = tmp_path / "report.json"
    out.write_text("old\n", encoding="utf-8")
    out.chmod(mode)
    write_text_atomic(out, "new\n")
    assert out.read_text(encoding="utf-8") == "new\n"
    assert stat.S_IMODE(out.stat().st_mode) == mode


def test_cli_report_files_respect_the_umask(tmp_path: Path, umask_022: None) -> None:
    # issue #15: "Report files are written 0600 regardless of umask".
    j, h = tmp_path / "r.json", tmp_path / "r.html"
    rc = main(["report", str(CVAT_XML), "--json", str(j), "--html", str(h), "--no-checks", "--no-ledger"])
    assert rc in (0, 1)
    assert stat.S_IMODE(j.stat().st_mode) == 0o644
    assert stat.S_IMODE(h.stat().st_mode) == 0o644
    out = tmp_path / "o.jsonl"
    assert main(["convert", str(CVAT_XML), "-o", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


# --------------------------------------------------------------------------- what the path is


def test_symlink_is_followed_and_its_target_replaced(tmp_path: Path) -> None:
    target = tmp_path / "real" / "report.json"
    target.parent.mkdir()
    target.write_text("stale\n", encoding="utf-8")
    target.chmod(0o644)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    written = write_text_atomic(link, "fresh\n")
    assert link.is_symlink(), "the link must stay a link"
    assert os.readlink(link) == str(target)
    assert target.read_text(encoding="utf-8") == "fresh\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert written == target
    assert _temps(tmp_path) == []
    assert _temps(target.parent) == []


def test_chain_of_symlinks_and_dangling_symlink(tmp_path: Path, umask_022: None) -> None:
    target = tmp_path / "t.json"
    mid = tmp_path / "mid"
    mid.symlink_to(target)  # dangling for now
    top = tmp_path / "top"
    top.symlink_to(mid)
    write_text_atomic(top, "one\n")  # a dangling link creates its target, as `cat > link` would
    assert target.read_text(encoding="utf-8") == "one\n"
    assert top.is_symlink()
    assert mid.is_symlink()
    write_text_atomic(top, "two\n")
    assert target.read_text(encoding="utf-8") == "two\n"
    assert top.is_symlink()
    assert mid.is_symlink()
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_character_device_is_written_into_not_replaced(tmp_path: Path) -> None:
    dev = _char_device(tmp_path)
    with pytest.raises(OSError, match="No space left on device"):
        write_text_atomic(dev, "x" * 100_000)
    assert stat.S_ISCHR(os.stat(dev).st_mode), "the device node was replaced by a regular file"
    assert _temps(dev.parent) == []
    write_text_atomic(Path("/dev/null"), "discarded\n")  # a device that accepts: fine, exit 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_cli_convert_to_a_full_device_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dev = _char_device(tmp_path)
    rc = main(["convert", str(CVAT_XML), "-o", str(dev)])
    err = capsys.readouterr().err
    assert rc == 2
    assert stat.S_ISCHR(os.stat(dev).st_mode)
    assert err.count("\n") == 1
    assert "No space left on device" in err
    assert "Traceback" not in err


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    box: dict[str, BaseException | None] = {}

    def attempt() -> None:
        try:
            write_text_atomic(fifo, "x\n")
            box["e"] = None
        except Exception as e:  # noqa: BLE001 - handed to the test thread to check
            box["e"] = e

    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(5)
    if t.is_alive():  # unblock the writer, then fail
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        os.close(fd)
        pytest.fail("writing to a FIFO blocked")
    assert isinstance(box["e"], OutputPathError)
    assert "FIFO" in str(box["e"])
    assert stat.S_ISFIFO(os.stat(fifo).st_mode), "the FIFO was replaced"
    assert _temps(tmp_path) == []


def test_symlink_to_a_fifo_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "out.json"
    link.symlink_to(fifo)
    with pytest.raises(OutputPathError, match="FIFO"):
        write_text_atomic(link, "x\n")
    assert link.is_symlink()
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_directory_is_refused_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "folder"
    d.mkdir()
    with pytest.raises(OutputPathError, match="is a directory"):
        write_text_atomic(d, "x\n")
    assert d.is_dir()
    assert list(d.iterdir()) == []
    rc = main(["convert", str(CVAT_XML), "-o", str(d)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1
    assert "is a directory" in err


def test_failure_mid_write_keeps_the_old_file_and_no_temp(tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    out.write_text("old\n", encoding="utf-8")

    def chunks() -> Iterator[str]:
        yield "new "
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_atomic(out, chunks())
    assert out.read_text(encoding="utf-8") == "old\n"
    assert _temps(tmp_path) == []
    assert live_temp_files() == frozenset()


# --------------------------------------------------------------------------- signals


# The writer starts with the dispositions an interactive start gives (Python's SIGINT handler, the
# default action for SIGTERM and SIGHUP) even when the test runner itself was started with some
# of them ignored (a background job of a shell without job control ignores SIGINT, nohup SIGHUP):
# write_atomic rightly leaves an ignored signal ignored, so the test would wait in vain.
_SLOW_WRITER = textwrap.dedent("""
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    from accord.atomic import write_atomic

    def slow():
        yield "first chunk\\n"
        sys.stdout.write("writing\\n"); sys.stdout.flush()
        for _ in range(600):
            time.sleep(0.05)
            yield "more\\n"

    write_atomic(sys.argv[1], slow())
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_mid_write_removes_the_temp_file(tmp_path: Path, sig: signal.Signals) -> None:
    out = tmp_path / "big.json"
    out.write_text("old\n", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "writing\n"
        assert len(_temps(tmp_path)) == 1, "the writer should have a temp file open by now"
        proc.send_signal(sig)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    if sig != signal.SIGINT:
        assert proc.returncode == -sig, "the default action (terminate by the signal) must follow the cleanup"
    assert _temps(tmp_path) == [], "a temp file was left behind"
    assert out.read_text(encoding="utf-8") == "old\n"


def test_handlers_are_restored_after_the_write(tmp_path: Path) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    write_text_atomic(tmp_path / "x", "x")
    assert {s: signal.getsignal(s) for s in before} == before


def test_cli_interrupted_report_leaves_no_temp(tmp_path: Path) -> None:
    # The same through the real command: SIGTERM while the JSON is being written.
    script = textwrap.dedent("""
        import sys, time
        from accord import atomic
        orig = atomic._as_bytes
        def slow_bytes(chunks):  # slow down the write itself
            for c in orig(chunks):
                yield c
                sys.stdout.write("writing\\n"); sys.stdout.flush()
                time.sleep(30)
        atomic._as_bytes = slow_bytes
        from accord.cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    out = tmp_path / "r.json"
    proc = subprocess.Popen([sys.executable, "-c", script, "report", str(CVAT_XML), "--no-checks", "--no-ledger",
                             "--json", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        while (line := proc.stdout.readline()) and line != "writing\n":
            pass
        assert line == "writing\n", proc.stderr.read() if proc.stderr else ""
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGTERM
    assert _temps(tmp_path) == []
    assert not out.exists()


def test_written_json_is_complete(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    payload = {"k": list(range(10_000))}
    write_atomic(out, (json.dumps(payload)[i:i + 1000] for i in range(0, len(json.dumps(payload)), 1000)))
    assert json.loads(out.read_text(encoding="utf-8")) == payload


def test_report_json_is_the_same_document_with_and_without_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    from accord.cmd_demo import load_sample
    from accord.cmd_report import report_json
    from accord.core.qa.report import build_report

    report = build_report(load_sample(), seed=0)
    fast = report_json(report)
    monkeypatch.setitem(sys.modules, "orjson", None)  # import orjson now raises ImportError
    plain = report_json(report)
    assert plain == (json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()
    assert fast.endswith(b"\n")
    assert fast.startswith(b'{\n  "')
    assert json.loads(fast) == json.loads(plain)
    assert json.loads(fast) == json.loads(json.dumps(report))  # tuples come back as lists both ways
