"""``accord acceptance``: ISO 2859-1 plans and the switching rules from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accord.cli import main
from accord.core.qa.acceptance import apply_switching_rules


def test_plan_prints_the_three_severities_and_the_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["acceptance", "plan", "--lot", "1000", "--aql", "1.0", "--severity", "tightened",
                 "--defects", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # Lot 1000, level II -> J (n = 80): normal Ac 2, tightened Ac 1; reduced n = 32, Ac 1.
    assert {k: (v["sample_size"], v["accept"]) for k, v in out["plans"].items()} == {
        "normal": (80, 2), "tightened": (80, 1), "reduced": (32, 1)}
    assert out["verdict"] == "reject"  # 2 defects > tightened Ac 1
    assert main(["acceptance", "plan", "--lot", "1000", "--aql", "1.0", "--defects", "2"]) == 0
    text = capsys.readouterr().out
    assert "ACCEPT" in text
    assert "<- in force" in text


def test_switching_replays_a_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history = [(1000, 3), (1000, 0), (1000, 4), (1000, 0), (1000, 1)]
    f = tmp_path / "lots.csv"
    f.write_text("lot_size,defects\n" + "".join(f"{a},{b}\n" for a, b in history))
    assert main(["acceptance", "switching", str(f), "--aql", "1.0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected, state = apply_switching_rules(history, 1.0)
    assert [x["event"] for x in out["lots"]] == [o.event for o in expected] == [None, None, "to_tightened",
                                                                                 None, None]
    assert out["next_severity"] == state.severity == "tightened"
    assert out["next_plan"]["accept"] == 1


def test_switching_discontinues_with_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "lots.csv"
    f.write_text("1000,3\n1000,3\n" + "1000,2\n" * 6)
    assert main(["acceptance", "switching", str(f), "--aql", "1.0"]) == 1
    out = capsys.readouterr().out
    assert "DISCONTINUED" in out
    assert "1 later lots not judged" in out


@pytest.mark.parametrize(("text", "message"), [
    ("1000,x\n", "must be integers"),
    ("1000\n", "expected 'lot_size,defects'"),
    ("lot_size,defects\n", "no lots"),
])
def test_bad_history_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         text: str, message: str) -> None:
    f = tmp_path / "lots.csv"
    f.write_text(text)
    assert main(["acceptance", "switching", str(f)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
