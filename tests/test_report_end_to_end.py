"""The QA report end to end: the bundled sample through the CLI, schema-valid JSON,
and an HTML page that renders in a real headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest

from accord.cli import main

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
SECTIONS = ("summary", "agreement", "gold", "errors", "consensus", "label_errors", "conflicts", "sampling", "bias",
            "checks", "cost")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["-q", "demo", "--out", str(out)]) == 0
    return out


def test_demo_writes_a_schema_valid_report(demo: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((resources.files("accord.core") / "data" / "report.schema.json").read_text())
    report = json.loads((demo / "report.json").read_text())
    jsonschema.validate(report, schema)
    s = report["summary"]
    assert s["n_annotators"] == 3
    assert set(s["label_sets"]) >= {"objects", "sentiment", "entities", "speaker", "transcript"}
    assert s["n_gold_items"] > 0
    assert s["cancelled_submissions"] > 0


def test_demo_report_finds_the_planted_habits(demo: Path) -> None:
    """The sample's generator planted habits (scripts/make_sample.py); the report must see them."""
    r = json.loads((demo / "report.json").read_text())
    by_ann = r["errors"]["counts"]["by_annotator"]
    # carol confuses Bicycle with Person and draws extra boxes
    carol_cells = [c for c in r["errors"]["counts"]["cells"] if c["annotator_id"] == "carol@example.com"]
    assert any(c["category"] == "wrong_class" and c["label"] == "Bicycle" for c in carol_cells)
    # bob draws loose boxes and misses small objects: more localization and missing errors than alice
    bob, alice = by_ann["bob@example.com"], by_ann["alice@example.com"]
    assert bob.get("poor_localization", 0) > alice.get("poor_localization", 0)
    assert bob.get("missing_object", 0) > alice.get("missing_object", 0)
    # bob takes trailing punctuation into spans: boundary errors
    assert by_ann["bob@example.com"].get("boundary_error", 0) > 0
    # alice is the most accurate on gold boxes
    gold = r["gold"]["annotators"]
    f1 = {a: gold[a]["objects"]["score"]["estimate"] for a in gold if "objects" in gold[a]}
    assert max(f1, key=f1.get) == "alice@example.com"


def test_html_is_self_contained_and_has_every_section(demo: Path) -> None:
    html = (demo / "report.html").read_text()
    for sec in SECTIONS:
        assert f'id="{sec}"' in html
    assert "<svg" in html
    for needle in ("http://", "https://"):
        # the only URL allowed is the SVG namespace identifier
        assert html.replace('xmlns="http://www.w3.org/2000/svg"', "").count(needle) == 0


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.integration
def test_html_report_renders_in_headless_chromium(demo: Path, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs it)")
        pytest.skip("chromium not installed")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
             f"--user-data-dir={tmp_path / 'profile'}"]
    env = {**os.environ, "HOME": str(tmp_path)}
    url = (demo / "report.html").as_uri()
    dom = subprocess.run([browser, *flags, "--virtual-time-budget=5000", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120, env=env, check=True).stdout
    for sec in SECTIONS:
        assert f'id="{sec}"' in dom, sec
    assert "Agreement per label set" in dom
    # the acceptance plans at all three severities, and the label-error section's verdict line
    for needle in ("Operating-characteristic curves", "tightened", "reduced", "consensus labels are likely wrong"):
        assert needle in dom, needle
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    subprocess.run([browser, *flags, f"--screenshot={shot}", "--window-size=1400,2400",
                    "--virtual-time-budget=5000", url], capture_output=True, timeout=120, env=env, check=True)
    assert shot.stat().st_size > 20_000
