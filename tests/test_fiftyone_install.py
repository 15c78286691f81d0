"""``accord fiftyone install``: link or copy the plugin into FiftyOne's plugins directory (no FiftyOne needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accord.cli import main
from accord.cmd_fiftyone import PLUGIN_DIRNAME, plugin_source, plugins_dir


def test_plugin_source_is_a_fiftyone_plugin_folder() -> None:
    src = plugin_source()
    text = (src / "fiftyone.yml").read_text(encoding="utf-8")
    assert 'name: "@accord/fiftyone"' in text
    for op in ("compute_disagreement", "find_label_errors", "sample_for_review", "estimate_review_cost",
               "accord_qa_panel"):
        assert f"- {op}" in text
    assert "def register(p" in (src / "__init__.py").read_text(encoding="utf-8")


def test_install_links_then_refuses_then_forces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fiftyone", "install", "--dir", str(tmp_path)]) == 0
    dest = tmp_path / PLUGIN_DIRNAME
    assert dest.is_symlink()
    assert dest.resolve() == plugin_source().resolve()
    assert "linked" in capsys.readouterr().out
    assert main(["fiftyone", "install", "--dir", str(tmp_path)]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert main(["fiftyone", "install", "--dir", str(tmp_path), "--mode", "copy", "--force"]) == 0
    assert not dest.is_symlink()
    assert (dest / "fiftyone.yml").is_file()
    assert (dest / "qa.py").is_file()
    assert not (dest / "__pycache__").exists()


def test_plugins_dir_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIFTYONE_PLUGINS_DIR", raising=False)
    cfg = tmp_path / "config.json"
    monkeypatch.setenv("FIFTYONE_CONFIG_PATH", str(cfg))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert plugins_dir() == tmp_path / "fiftyone" / "__plugins__"
    cfg.write_text(json.dumps({"plugins_dir": str(tmp_path / "from_config")}), encoding="utf-8")
    assert plugins_dir() == tmp_path / "from_config"
    monkeypatch.setenv("FIFTYONE_PLUGINS_DIR", str(tmp_path / "from_env"))
    assert plugins_dir() == tmp_path / "from_env"
    assert plugins_dir(tmp_path / "explicit") == tmp_path / "explicit"


def test_bad_fiftyone_config_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIFTYONE_PLUGINS_DIR", raising=False)
    cfg = tmp_path / "config.json"
    cfg.write_text("[1, 2", encoding="utf-8")
    monkeypatch.setenv("FIFTYONE_CONFIG_PATH", str(cfg))
    with pytest.raises(ValueError, match="not a JSON object"):
        plugins_dir()


def test_fiftyone_without_subcommand_is_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fiftyone"]) == 2
    assert "install" in capsys.readouterr().out


def test_plugin_use_names_the_extra_when_fiftyone_is_missing() -> None:
    import importlib.util
    import subprocess
    import sys

    # Importing the package always works (the import names are part of the install contract);
    # using it without FiftyOne raises MissingExtraError naming the pip command.
    code = "import accord.plugins.fiftyone as p; p.compute_disagreement"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    if importlib.util.find_spec("fiftyone") is None:
        assert res.returncode != 0
        assert "MissingExtraError" in res.stderr
        assert "pip install 'accord[fiftyone]'" in res.stderr
        plain = subprocess.run([sys.executable, "-c", "import accord.plugins.fiftyone"], capture_output=True,
                               text=True, timeout=120, check=False)
        assert plain.returncode == 0, plain.stderr
    else:
        assert res.returncode == 0, res.stderr


def test_core_does_not_import_fiftyone() -> None:
    import subprocess
    import sys

    code = ("import sys, accord.core.qa.taxonomy, accord.core.matching.geometry, accord.cmd_fiftyone; "
            "print(any(m == 'fiftyone' or m.startswith('fiftyone.') for m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert res.stdout.strip() == "False"
