"""The architecture's import contracts (.importlinter, via scripts/lint_imports.sh) and core's
light import footprint, checked in a fresh interpreter."""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from accord.core._toml import loads_toml

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "lint_imports.sh"
CONFIG = ROOT / ".importlinter"
# tool SDKs and heavy extras that importing core must never load
HEAVY = ("label_studio_sdk", "cvat_sdk", "fiftyone", "fastapi", "dask", "pyarrow", "sklearn", "cv2",
         "onnxruntime")
VENV = Path(sys.executable).parent
pytestmark = pytest.mark.skipif(not (VENV / "lint-imports").exists(),
                                reason="import-linter is not installed (pip install -e '.[test]')")


def _lint(config: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ACCORD_VENV=str(VENV.parent))
    if config is not None:
        env["ACCORD_IMPORTLINTER_CONFIG"] = str(config)
    return subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env, check=False,
                          timeout=300)


def _contracts(text: str) -> dict[str, str]:
    parser = configparser.ConfigParser()
    parser.read_string(text)
    return {s.split(":", 2)[2]: parser[s]["name"] for s in parser.sections() if s.startswith("importlinter:contract:")}


def test_every_contract_is_kept() -> None:
    out = _lint()
    assert out.returncode == 0, out.stdout + out.stderr
    names = _contracts(CONFIG.read_text(encoding="utf-8"))
    assert len(names) >= 6
    for name in names.values():
        assert re.search(rf"^{re.escape(name)}\s*KEPT", out.stdout, re.M), f"{name!r} not reported kept:\n{out.stdout}"
    assert f"Contracts: {len(names)} kept, 0 broken." in out.stdout


# Contracts that today's code breaks, one per mapped folder (pyproject's package-dir), so a
# graph that lost a folder, or a script that swallowed the linter's exit status, fails here.
MUST_BREAK = {
    "plugins-see-core": ("accord.plugins", "accord.core"),
    "ml-backends-see-core": ("accord.ml_backends", "accord.core"),
    "ml-backends-see-ls-plugin": ("accord.ml_backends", "accord.plugins"),
    "store-sees-core": ("accord.store", "accord.core"),
    "cli-sees-ml-backends": ("accord.cmd_serve", "accord.ml_backends"),
    "core-sees-itself": ("accord.core.qa", "accord.core.matching"),
    "core-sees-scipy": ("accord.core", "scipy"),  # external packages are in the graph too
}


def test_a_broken_contract_fails_the_linter(tmp_path: Path) -> None:
    extra = "".join(f"\n[importlinter:contract:{key}]\nname = must break {key}\ntype = forbidden\n"
                    f"source_modules = {src}\nforbidden_modules = {dst}\n"
                    for key, (src, dst) in MUST_BREAK.items())
    config = tmp_path / "contracts.ini"
    config.write_text(CONFIG.read_text(encoding="utf-8") + extra, encoding="utf-8")
    out = _lint(config)
    assert out.returncode == 1, out.stdout + out.stderr
    for key in MUST_BREAK:
        assert re.search(rf"^must break {key}\s*BROKEN", out.stdout, re.M), out.stdout
    kept = len(_contracts(CONFIG.read_text(encoding="utf-8")))
    assert f"Contracts: {kept} kept, {len(MUST_BREAK)} broken." in out.stdout


def test_the_ml_backends_contract_names_every_library_package() -> None:
    # "only the CLI and cluster import ml_backends" lists the library packages as sources; a
    # new package in package-dir must be added there (or to the allowed CLI/cluster side).
    pyproject = loads_toml((ROOT / "pyproject.toml").read_text(encoding="utf-8"), what="pyproject.toml")
    dirs = pyproject["tool"]["setuptools"]["package-dir"]
    parser = configparser.ConfigParser()
    parser.read(CONFIG, encoding="utf-8")
    sources = set(parser["importlinter:contract:ml-backends-are-entry-points-only"]["source_modules"].split())
    allowed = {"accord", "accord.ml_backends", "accord.cluster"}  # the CLI (accord.*), itself, cluster
    assert set(dirs) - allowed == sources


_PROBE = """
import importlib, json, pkgutil, sys
import accord.core
names = ["accord.core"] + [m.name for m in pkgutil.walk_packages(accord.core.__path__, "accord.core.")]
for name in names:
    importlib.import_module(name)
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1:]))
print(json.dumps({"imported": names, "heavy": heavy}))
"""


def _probe(forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    # A fresh interpreter outside the checkout, so only the installed accord is importable.
    out = subprocess.run([sys.executable, "-c", _PROBE, *forbidden], capture_output=True, text=True,
                         cwd=os.sep, check=False, timeout=300)
    assert out.returncode == 0, out.stderr
    result: dict[str, list[str]] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_importing_every_core_module_loads_no_sdk_or_heavy_extra() -> None:
    result = _probe(HEAVY)
    expected = set()
    for path in (ROOT / "core").rglob("*.py"):
        parts = path.relative_to(ROOT / "core").with_suffix("").parts
        expected.add(".".join(("accord.core", *(parts[:-1] if parts[-1] == "__init__" else parts))))
    assert set(result["imported"]) == expected  # every core module was really imported
    assert result["heavy"] == []


def test_the_core_probe_sees_a_loaded_module() -> None:
    # core's real dependencies must show up, or the probe above could not fail
    assert _probe(("numpy", "scipy", *HEAVY))["heavy"] == ["numpy", "scipy"]
