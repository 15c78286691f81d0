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
