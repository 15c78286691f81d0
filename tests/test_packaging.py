"""The house rules: import names, core's light dependencies, optional extras."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SDKS = ("label_studio_sdk", "cvat_sdk", "fiftyone", "fastapi", "sklearn", "pandas", "torch",
        "uvicorn", "tqdm", "matplotlib")
NAMES = ("accord", "accord.core", "accord.plugins.label_studio", "accord.plugins.cvat",
         "accord.plugins.fiftyone", "accord.ml_backends")


def _run(code: str, python: str = sys.executable) -> str:
    # A fresh interpreter outside the repository, so the checkout itself is not on sys.path.
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=os.sep,
                         check=False, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_importing_core_loads_no_tool_sdk() -> None:
    code = ("import sys, accord.core, accord.core.model, accord.core.matching.base; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({SDKS!r})))")
    assert _run(code).strip() == "[]"


def test_every_core_module_imports_only_numpy_scipy_and_stdlib() -> None:
    # tomli is the Python 3.10 backport of the stdlib tomllib, imported only there.
    allowed = set(sys.stdlib_module_names) | {"numpy", "scipy", "accord", "__future__", "tomli"}
    bad = []
    for path in (ROOT / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            bad += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] not in allowed]
            if any(n.startswith(("accord.plugins", "accord.ml_backends", "accord.cli")) for n in names):
                bad.append(f"{path.relative_to(ROOT)}: core must not import {names}")
    assert bad == []


@pytest.mark.parametrize("name", NAMES)
def test_installed_names_import(name: str) -> None:
    _run(f"import {name}")


def test_no_bare_top_level_core_or_plugins_package_is_installed() -> None:
    code = ("import importlib.util as u, accord; "
            "print(u.find_spec('core') is None, (u.find_spec('plugins') is None) or "
            "'fiftyone' in str(u.find_spec('plugins').origin))")
    assert _run(code).split() == ["True", "True"]


def test_missing_extra_names_the_pip_command() -> None:
    from accord._extras import require
    from accord.core.errors import MissingExtraError

    with pytest.raises(MissingExtraError, match=r"pip install 'accord\[cvat\]'"):
        require("surely_not_installed_module_xyz", "cvat")


@pytest.mark.slow
def test_built_wheel_installs_into_a_fresh_venv_and_imports(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    (wheel,) = dist.glob("accord-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, system_site_packages=False)
    py = str(env_dir / "bin" / "python")
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True,
                   capture_output=True, timeout=600)
    # numpy/scipy come from this interpreter's site-packages via PYTHONPATH-free copy: install them.
    subprocess.run([py, "-m", "pip", "install", "-q", "numpy", "scipy"], check=True,
                   capture_output=True, timeout=600)
    out = _run("import " + ", ".join(NAMES) + "; import accord.core as c, os; "
               "print(os.path.isfile(os.path.join(os.path.dirname(c.__file__), 'py.typed')), "
               "os.path.isfile(os.path.join(os.path.dirname(c.__file__), 'data', 'sample', "
               "'text_ner.json')))", python=py)
    assert out.split() == ["True", "True"]
