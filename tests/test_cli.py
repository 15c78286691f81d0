"""The command line: help that reads well, one-line errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from accord.cli import _command_modules, build_parser, main


def test_top_level_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name in ("demo", "report", "convert"):
        assert name in out
    assert "accord demo" in out


@pytest.mark.parametrize("name", _command_modules())
def test_every_subcommand_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    cmd = name.replace("_", "-")
    choices = sub.choices  # type: ignore[attr-defined]
    assert cmd in choices or name in choices, f"module cmd_{name} registered no subcommand {cmd!r}"
    with pytest.raises(SystemExit) as e:
        main([cmd if cmd in choices else name, "--help"])
    assert e.value.code == 0
    assert len(capsys.readouterr().out.splitlines()) > 3


def test_no_subcommand_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: accord" in capsys.readouterr().out


def test_missing_input_is_a_one_line_error_not_a_traceback(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "accord", "report", str(tmp_path / "nope.json")],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith("accord: error:")
    assert "nope.json" in out.stderr


def test_malformed_export_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"id": 1, "annotations": [{"result": [{"type": "rectanglelabels"}]}]}]))
    out = subprocess.run([sys.executable, "-m", "accord", "report", str(bad), "--format", "label-studio"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith("accord: error:")


def test_resolutions_logged_on_the_command_line_feed_the_report_hot_spots(tmp_path: Path) -> None:
    from importlib import resources

    log = tmp_path / "resolutions.jsonl"
    for item, chosen in (("1", "Positive"), ("2", "Positive"), ("3", "Negative")):
        assert main(["-q", "resolve", "--log", str(log), "--item", item, "--label-set", "sentiment",
                     "--chosen", chosen, "--by", "lead@example.com", "--rule", "R2 sarcasm"]) == 0
    assert len(log.read_text().splitlines()) == 3
    sample = resources.files("accord.core") / "data" / "sample" / "text_sentiment.json"
    out = tmp_path / "r.json"
    assert main(["-q", "report", str(sample), "--resolutions", str(log), "--json", str(out), "--no-checks"]) == 0
    report = json.loads(out.read_text())
    assert report["conflicts"]["n_resolutions"] == 3
    rule = next(h for h in report["conflicts"]["hot_spots"] if h["kind"] == "rule")
    assert (rule["name"], rule["resolutions"]) == ("R2 sarcasm", 3)
    positive = next(h for h in report["conflicts"]["hot_spots"] if h["name"] == "Positive")
    assert positive["resolutions"] == 2


def test_resolve_without_the_decision_says_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resolve", "--log", str(tmp_path / "l.jsonl"), "--item", "1"]) == 2
    assert "--label-set, --chosen, --by" in capsys.readouterr().err


# --------------------------------------------------------------------------- the error contract


def _sample() -> str:
    from importlib import resources

    return str(resources.files("accord.core") / "data" / "sample" / "text_sentiment.json")


def _latin1(tmp: Path, name: str, text: str) -> str:
    p = tmp / name
    p.write_bytes(text.encode("latin-1"))
    return str(p)


def _file(tmp: Path, name: str, text: str) -> str:
    p = tmp / name
    p.write_text(text, encoding="utf-8")
    return str(p)


_LS = ["label-studio", "push", "--url", "http://127.0.0.1:9", "--api-key", "k", "--project", "1", "--qa-fields"]

# (argv built from a temp dir, words the one-line message must contain)
ERROR_CASES = {
    "previous-is-a-list": (lambda t: ["report", _sample(), "--previous", _file(t, "prev.json", "[1, 2]")],
                           ["prev.json", "report.json"]),
    "previous-wrong-shape": (lambda t: ["report", _sample(), "--previous",
                                        _file(t, "prev.json", '{"errors": {"counts": {"by_category": [3]}}}')],
                             ["prev.json", "by_category"]),
    "previous-truncated": (lambda t: ["report", _sample(), "--previous", _file(t, "prev.json", '{"errors": {"co')],
                           ["prev.json", "truncated"]),
    "previous-deeply-nested": (lambda t: ["report", _sample(), "--previous",
                                          _file(t, "prev.json", "[" * 200_000 + "]" * 200_000)],
                               ["prev.json", "nested too deeply"]),
    "previous-5000-digit-int": (lambda t: ["report", _sample(), "--previous",
                                           _file(t, "prev.json", '{"errors": ' + "9" * 5000 + "}")],
                                ["prev.json", "digits"]),
    "seed-negative": (lambda t: ["report", _sample(), "--seed", "-1"], ["--seed", ">= 0"]),
    "demo-seed-negative": (lambda t: ["demo", "--seed", "-1"], ["--seed"]),
    "cost-seed-negative": (lambda t: ["cost", "estimate", "--items", "10", "--seed", "-3"], ["--seed"]),
    "report-config-latin1": (lambda t: ["report", _sample(), "--config", _latin1(t, "c.toml", "# café\n")],
                             ["c.toml", "UTF-8", "offset 5"]),
    "cost-config-latin1": (lambda t: ["cost", "estimate", "--items", "10", "--config",
                                      _latin1(t, "p.toml", "currency = 'é'\n")], ["p.toml", "UTF-8", "offset 12"]),
    "cost-config-deep": (lambda t: ["cost", "estimate", "--items", "10", "--config",
                                    _file(t, "p.toml", "a = " + "[" * 50_000 + "]" * 50_000)], ["p.toml", "nested"]),
    "check-rules-latin1": (lambda t: ["check", _sample(), "--rules", _latin1(t, "r.toml", "# é\n")],
                           ["r.toml", "UTF-8", "offset 2"]),
    "pred-probs-csv-latin1": (lambda t: ["report", _sample(), "--no-checks", "--pred-probs",
                                         _latin1(t, "p.csv", "item_id,Positive\n1,0.5é\n")],
                              ["p.csv", "UTF-8", "line 2"]),
    "pred-probs-out-of-range": (lambda t: ["report", _sample(), "--no-checks", "--pred-probs",
                                           _file(t, "p.csv", "item_id,Positive,Negative\n1,1.5,0.2\n")],
                                ["p.csv", "row 2", "[0, 1]"]),
    "pred-probs-nan": (lambda t: ["report", _sample(), "--no-checks", "--pred-probs",
                                  _file(t, "p.csv", "item_id,Positive,Negative\n1,nan,0.2\n")],
                       ["p.csv", "row 2", "[0, 1]"]),
    "lot-history-latin1": (lambda t: ["acceptance", "switching", _latin1(t, "lots.csv", "lot_size,defects\n10,é\n")],
                           ["lots.csv", "UTF-8"]),
    "run-id-bad": (lambda t: [*_LS, "--run-id", "a b/c"], ["--run-id"]),
    "gold-score-2": (lambda t: ["cost", "gate", "--gold-score", "2"], ["--gold-score", "[0, 1]"]),
    "gold-score-nan": (lambda t: ["cost", "gate", "--gold-score", "nan"], ["--gold-score", "finite"]),
    "agreement-1.5": (lambda t: ["cost", "gate", "--agreement", "1.5"], ["--agreement", "[-1, 1]"]),
    "fail-under-nan": (lambda t: ["report", _sample(), "--fail-under", "nan"], ["--fail-under", "finite"]),
    "fail-under-inf": (lambda t: ["report", _sample(), "--fail-under", "inf"], ["--fail-under", "finite"]),
    "ls-fail-under-nan": (lambda t: ["label-studio", "report", "--project", "1", "--fail-under", "nan"],
                          ["--fail-under", "finite"]),
    "cvat-fail-under-nan": (lambda t: ["cvat", "report", "--export", _sample(), "--fail-under", "nan"],
                            ["--fail-under", "finite"]),
    "confidence-1.5": (lambda t: ["cost", "estimate", "--items", "10", "--confidence", "1.5"], ["--confidence"]),
    "hours-per-day-inf": (lambda t: ["cost", "estimate", "--items", "10", "--hours-per-day", "inf"],
                          ["--hours-per-day"]),
    "items-zero": (lambda t: ["cost", "estimate", "--items", "0"], ["--items", ">= 1"]),
    "boot-negative": (lambda t: ["cost", "estimate", "--items", "10", "--boot", "-5"], ["--boot"]),
    "aql-nan": (lambda t: ["acceptance", "plan", "--lot", "100", "--aql", "nan"], ["--aql"]),
    "lot-negative": (lambda t: ["acceptance", "plan", "--lot", "-1"], ["--lot"]),
    "defects-negative": (lambda t: ["acceptance", "plan", "--lot", "100", "--defects", "-2"], ["--defects"]),
    "timeout-nan": (lambda t: [*_LS, "--timeout", "nan"], ["--timeout"]),
    "spot-check-size-0": (lambda t: [*_LS, "--spot-check-size", "0"], ["--spot-check-size", ">= 1"]),
    "select-model-version-alone": (lambda t: [*_LS[:-1], "--select-model-version"],
                                   ["--select-model-version", "--consensus"]),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_bad_user_input_is_one_line_exit_2(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Every bad option value or unreadable user file: exit 2, one stderr line naming it; never exit 1
    with "internal error" (that code means "threshold not met")."""
    monkeypatch.chdir(tmp_path)  # demo writes its output folder here
    build, words = ERROR_CASES[case]
    argv = ["-q", *build(tmp_path)]
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse rejects bad option values itself
        rc = e.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert "internal error" not in err
    assert "error:" in lines[0]
    for w in words:
        assert w in lines[0], lines[0]


def test_unexpected_value_and_recursion_errors_are_usage_errors(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The last line of defence: user data that trips a ValueError / RecursionError / MemoryError deep in a
    library still ends in one line and exit 2, and a genuine bug (another exception) still says to report it."""
    import accord.cmd_acceptance as acc

    for exc, word in ((ValueError("bad\nvalue"), "bad value"), (RecursionError(), "nested too deeply"),
                      (MemoryError(), "out of memory"), (UnicodeDecodeError("utf-8", b"ab\xff", 2, 3, "x"),
                                                         "offset 2")):
        def boom(_args: object, exc: BaseException = exc) -> int:
            raise exc

        monkeypatch.setattr(acc, "run_plan", boom)
        assert main(["acceptance", "plan", "--lot", "10"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert word in err
    monkeypatch.setattr(acc, "run_plan", lambda _a: {}["missing"])
    assert main(["acceptance", "plan", "--lot", "10"]) == 1
    assert "internal error: KeyError" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["acceptance", "plan", "--lot", "100", "--json", "-q"],
    ["acceptance", "-v", "plan", "--lot", "100", "--json"],
    ["acceptance", "plan", "-v", "--lot", "100", "--json"],
])
def test_quiet_and_verbose_work_after_the_subcommand(argv: list[str], monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    import accord.cli as cli_module

    seen: dict[str, int] = {}
    monkeypatch.setattr(logging, "basicConfig", lambda **kw: seen.update(level=kw["level"]))
    assert cli_module.main(argv) == 0
    assert seen["level"] == (logging.WARNING if "-q" in argv else logging.DEBUG)
    assert json.loads(capsys.readouterr().out)["lot_size"] == 100


def test_top_level_quiet_still_works_and_defaults_to_info(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    seen: dict[str, int] = {}
    monkeypatch.setattr(logging, "basicConfig", lambda **kw: seen.update(level=kw["level"]))
    assert main(["-q", "acceptance", "plan", "--lot", "100"]) == 0
    assert seen["level"] == logging.WARNING
    assert main(["acceptance", "plan", "--lot", "100"]) == 0
    assert seen["level"] == logging.INFO


def test_help_shows_each_default_once() -> None:
    """``ArgumentDefaultsHelpFormatter`` adds "(default: ...)": a help text must not carry its own too."""
    import re

    parser = build_parser()

    def walk(p: object) -> list[tuple[str, str]]:
        out = []
        for a in p._actions:  # type: ignore[attr-defined]
            if isinstance(a, __import__("argparse")._SubParsersAction):
                for sp in a.choices.values():
                    out += walk(sp)
            else:
                out.append((p.format_help(), str(a.help)))  # type: ignore[attr-defined]
        return out

    for text, _ in walk(parser):
        flat = " ".join(text.split())
        assert not re.search(r"\(default: [^)]*\) \(default: ", flat), flat[:300]


def test_truncated_json_says_so_wherever_the_cut_is(tmp_path: Path) -> None:
    """Every proper prefix of a JSON object is an error that says the file looks truncated."""
    from accord._validate import read_json
    from accord.core.errors import ConversionError

    text = json.dumps({"errors": {"counts": {"by_category": {'wrong "class"\\': 3, "missing": 12}}},
                       "ok": [True, None, 1.5e-3, "x]}"]})
    f = tmp_path / "r.json"
    for k in range(1, len(text)):
        f.write_text(text[:k], encoding="utf-8")
        with pytest.raises(ConversionError, match="looks truncated"):
            read_json(f, what="report")
    f.write_text(text + "x", encoding="utf-8")  # garbage after a complete object is not a truncation
    with pytest.raises(ConversionError, match="not valid JSON") as e:
        read_json(f, what="report")
    assert "looks truncated" not in str(e.value)


def test_utf8_decoding_names_byte_offset_and_line() -> None:
    import doctest

    import accord.core._toml as toml_module
    from accord.core._toml import decode_utf8, loads_toml
    from accord.core.errors import ConfigError

    result = doctest.testmod(toml_module)
    assert result.attempted > 0
    assert result.failed == 0
    # b"a = 1\n" is 6 bytes, so the bad byte of line 2 is at offset 6 + 5
    with pytest.raises(ConfigError, match=r"byte 0xff at offset 11 \(line 2\); save it as UTF-8"):
        loads_toml(b"a = 1\nb = '\xff'\n", what="p.toml")
    assert decode_utf8(b"\xef\xbb\xbfa = 1", what="x") == "a = 1"  # a byte-order mark is not content
    assert loads_toml(b"\xef\xbb\xbfa = 1", what="x") == {"a": 1}
