"""The QA report end to end: the bundled sample through the CLI, schema-valid JSON,
and an HTML page that renders in a real headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

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


# --------------------------------------------------------------------------- issue 15: real exports


from accord.core.model import Dataset, Keypoint, Keypoints, Record  # noqa: E402
from accord.core.qa.conflicts import Resolution  # noqa: E402
from accord.core.qa.report import ReportConfig, build_report, config_from_toml  # noqa: E402
from accord.core.schema import LabelSet, Schema  # noqa: E402


def _skeleton(item: str, who: str, dx: float, source: str = "human") -> Record:
    # CVAT names the points of a <points> shape or skeleton "0", "1", ...
    pts = tuple(Keypoint(name=str(k), x=10.0 * k + dx, y=20.0 + 5 * k) for k in range(4))
    return Record(item_id=item, annotator_id=who, label_set="pose", source=source,  # type: ignore[arg-type]
                  region_id=f"{who}-{item}", value=Keypoints(label="person", points=pts))


def _keypoint_dataset() -> Dataset:
    recs = [_skeleton(i, who, dx) for i in ("1", "2", "3") for who, dx in (("ann", 0.0), ("bea", 0.4))]
    recs += [_skeleton(i, "lead", 0.1, source="reference") for i in ("1", "2")]
    schema = Schema(label_sets={"pose": LabelSet(name="pose", kind="keypoints", labels=("person",))})
    return Dataset(records=tuple(recs), schema=schema, name="cvat points")


def test_keypoints_named_like_cvat_points_get_the_default_sigma() -> None:
    """Before: "no sigma for keypoint '0' ... Pass sigmas=..." and exit 2 on every CVAT points task."""
    from accord.core.matching.keypoints import DEFAULT_KEYPOINT_SIGMA

    ds = _keypoint_dataset()
    r = build_report(ds, config=ReportConfig(n_bootstrap=50), checks=False)
    a = r["agreement"]["pose"]
    assert a["coefficients"]["matched_f1"]["estimate"] == 1.0  # 0.4 px apart: same skeletons
    assert r["gold"]["annotators"]["ann"]["pose"]["score"]["estimate"] == 1.0
    assert r["config"]["default_keypoint_sigma"] == DEFAULT_KEYPOINT_SIGMA == 0.05
    # a tight sigma for one name makes that point miss, so OKS and the match drop
    tight = build_report(ds, config=ReportConfig(n_bootstrap=50, keypoint_sigmas={"0": 1e-4, "1": 1e-4,
                                                                                 "2": 1e-4, "3": 1e-4}),
                         checks=False)
    assert tight["agreement"]["pose"]["coefficients"]["matched_f1"]["estimate"] == 0.0


def test_keypoint_sigma_error_names_the_report_option_in_full() -> None:
    from accord.core.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        build_report(_keypoint_dataset(), config=ReportConfig(n_bootstrap=50, default_keypoint_sigma=None),
                     checks=False)
    msg = str(e.value)
    assert "default_keypoint_sigma" in msg
    assert "[report]" in msg
    assert "--keypoint-sigma" in msg
    assert "sigmas=" not in msg
    assert not msg.rstrip().endswith("=")
    assert "['0', '1', '2', '3']" in msg


def test_keypoint_sigmas_from_toml_and_the_cli(tmp_path: Path) -> None:
    from accord.core.errors import ConfigError
    from accord.core.formats.jsonl import dumps_dataset

    cfg = config_from_toml('[report]\ndefault_keypoint_sigma = 0.08\nkeypoint_sigmas = {"0" = 0.03}\n')
    assert cfg.default_keypoint_sigma == 0.08
    assert dict(cfg.keypoint_sigmas) == {"0": 0.03}
    for bad in ("[report]\ndefault_keypoint_sigma = 0\n", '[report]\nkeypoint_sigmas = {"0" = "x"}\n'):
        with pytest.raises(ConfigError, match=r"\[report\] (default_)?keypoint_sigma"):
            config_from_toml(bad)
    path = tmp_path / "points.jsonl"
    path.write_text(dumps_dataset(_keypoint_dataset()))
    out = tmp_path / "r.json"
    assert main(["-q", "report", str(path), "--no-checks", "--json", str(out), "--keypoint-sigma", "0.07",
                 "--keypoint-sigma", "3=0.02"]) == 0
    conf = json.loads(out.read_text())["config"]
    assert conf["default_keypoint_sigma"] == 0.07
    assert conf["keypoint_sigmas"] == {"3": 0.02}
    assert main(["-q", "report", str(path), "--keypoint-sigma", "0=abc"]) == 2


_MULTI_XML = ('<View><Text name="text" value="$text"/><Choices name="topics" toName="text" choice="multiple">'
              '<Choice value="politics"/><Choice value="sports"/><Choice value="tech"/></Choices></View>')


def _choices_task(tid: int, picks: dict[str, list[str]], name: str = "topics") -> dict[str, Any]:
    return {"id": tid, "data": {"text": f"t{tid}"}, "annotations": [
        {"id": tid * 10 + k, "completed_by": {"id": k + 2, "email": who},
         "result": [{"from_name": name, "to_name": "text", "type": "choices", "value": {"choices": labs}}]}
        for k, (who, labs) in enumerate(picks.items())]}


def test_multi_select_choices_are_sets_with_per_label_agreement() -> None:
    """Before: "label 'politics|sports' appears in the ratings but not in categories"."""
    import numpy as np

    from accord.core import agreement as ag
    from accord.plugins.label_studio.convert import from_label_studio_export

    picks = [({"a@x": ["politics", "sports"], "b@x": ["politics", "sports"], "c@x": ["sports"]}),
             ({"a@x": ["tech"], "b@x": ["tech"], "c@x": ["tech"]}),
             ({"a@x": ["politics"], "b@x": ["politics", "tech"], "c@x": ["politics"]}),
             ({"a@x": ["sports"], "b@x": ["sports"], "c@x": ["politics", "sports"]}),
             ({"a@x": ["politics", "tech"], "b@x": ["tech"], "c@x": ["politics", "tech"]})]
    ds = from_label_studio_export([_choices_task(i + 1, p) for i, p in enumerate(picks)], _MULTI_XML)
    r = build_report(ds, config=ReportConfig(n_bootstrap=50), checks=False)
    a = r["agreement"]["topics"]
    assert a["kind"] == "multilabel"
    assert a["primary"] == "krippendorff_alpha"
    assert set(a["per_label"]) == {"politics", "sports", "tech"}
    # per label: Krippendorff's alpha on the present (1) / absent (0) matrix, items x annotators
    for lab, v in a["per_label"].items():
        binary = np.array([[float(lab in p[w]) for w in ("a@x", "b@x", "c@x")] for p in picks])
        assert v["estimate"] == pytest.approx(ag.krippendorff_alpha(binary), abs=1e-6)
    # exact-set agreement: share of agreeing pairs, (1 + 3 + 1 + 1 + 1) / 15 agreeing pairs
    assert a["coefficients"]["exact_set_agreement"]["estimate"] == pytest.approx(7 / 15, abs=1e-6)
    # item 2 (all "tech") is perfect; item 1 pairs: J=1, J=1/2, J=1/2
    assert r["item_scores"]["topics"]["2"] == 1.0
    assert r["item_scores"]["topics"]["1"] == pytest.approx(2 / 3, abs=1e-6)


def test_an_off_schema_choice_is_a_finding_not_an_abort() -> None:
    """Before: the report aborted with "... leave categories=None ..." naming no task."""
    from accord.plugins.label_studio.convert import from_label_studio_export

    xml = ('<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text">'
           '<Choice value="Positive"/><Choice value="Negative"/></Choices></View>')
    tasks = [_choices_task(i, {"a@x": ["Positive"], "b@x": ["Positive" if i % 2 else "Negative"]}, "sentiment")
             for i in range(1, 9)]
    tasks.append(_choices_task(17, {"a@x": ["Maybe"], "b@x": ["Positive"]}, "sentiment"))
    ds = from_label_studio_export(tasks, xml)
    r = build_report(ds, config=ReportConfig(n_bootstrap=50))
    hint = [h for h in r["errors"]["hints"] if h["kind"] == "off_schema_label"]
    assert len(hint) == 1
    assert hint[0]["labels"] == ["Maybe"]
    assert hint[0]["item_ids"] == ["17"]
    assert "'Maybe'" in hint[0]["message"]
    assert "17" in hint[0]["message"]
    assert any("'Maybe'" in h for h in r["summary"]["headline"])
    assert any(f["check"] == "schema.unknown_label" and f["item_id"] == "17" for f in r["checks"]["findings"])
    assert r["agreement"]["sentiment"]["coefficients"]["gwet_ac1"]["estimate"] is not None


def test_labels_differing_only_in_case_get_one_hint() -> None:
    from accord.core.model import Classification

    def rec(item: str, who: str, label: str, source: str = "human") -> Record:
        return Record(item_id=item, annotator_id=who, label_set="species", source=source,  # type: ignore[arg-type]
                      value=Classification(label=label))
    recs = [rec(str(i), "lead", "Butterfly", "reference") for i in range(6)]
    recs += [rec(str(i), "ann", "butterfly") for i in range(6)] + [rec(str(i), "bea", "Butterfly") for i in range(6)]
    schema = Schema(label_sets={"species": LabelSet(name="species", kind="classification",
                                                    labels=("Butterfly", "Moth"))})
    r = build_report(Dataset(records=tuple(recs), schema=schema), config=ReportConfig(n_bootstrap=50),
                     checks=False)
    hints = [h for h in r["errors"]["hints"] if h["kind"] == "case_mismatch"]
    assert len(hints) == 1, hints
    assert "labels differ only in case: 'Butterfly' vs 'butterfly'" in hints[0]["message"]
    assert hints[0]["n"] == 6  # the 6 'wrong class' errors against gold
    assert any("labels differ only in case" in h for h in r["summary"]["headline"])


def _conflict_dataset() -> Dataset:
    from accord.core.model import Classification

    recs = []
    for i in range(8):
        labs = ("cat", "cat", "cat") if i < 5 else ("cat", "dog", "dog") if i < 7 else ("cat", "dog", "bird")
        recs += [Record(item_id=str(i), annotator_id=who, label_set="animal", value=Classification(label=lab))
                 for who, lab in zip(("a", "b", "c"), labs, strict=True)]
    schema = Schema(label_sets={"animal": LabelSet(name="animal", kind="classification",
                                                   labels=("cat", "dog", "bird"))})
    return Dataset(records=tuple(recs), schema=schema)


def test_resolutions_close_conflicts_override_consensus_and_report_unknown_items() -> None:
    ds = _conflict_dataset()
    cfg = ReportConfig(n_bootstrap=50)
    before = build_report(ds, config=cfg, checks=False)
    queued = {c["item_id"] for c in before["conflicts"]["items"]}
    assert {"5", "6", "7"} <= queued
    assert before["consensus"]["animal"]["labels"]["7"] != "bird"
    res = [Resolution(item_id="7", label_set="animal", decided_by="lead", chosen="dog", timestamp="t1"),
           Resolution(item_id="7", label_set="animal", decided_by="lead", chosen="bird", timestamp="t2"),
           Resolution(item_id="5", label_set="animal", decided_by="lead", chosen="cat", timestamp="t3"),
           Resolution(item_id="404", label_set="animal", decided_by="lead", chosen="cat", timestamp="t4")]
    after = build_report(ds, config=cfg, checks=False, resolutions=res)
    c = after["conflicts"]
    assert {x["item_id"] for x in c["items"]} == queued - {"5", "7"}
    assert c["n_resolved"] == 2
    assert after["summary"]["n_conflicts"] == len(queued) - 2
    assert after["consensus"]["animal"]["labels"]["7"] == "bird"  # the latest resolution wins
    assert after["consensus"]["animal"]["labels"]["5"] == "cat"
    assert after["consensus"]["animal"]["n_resolved"] == 2
    assert c["unknown_resolutions"] == {"n": 1, "items": [{"item_id": "404", "label_set": "animal"}]}
    assert any("1 resolution(s) name items" in h and "'404'" in h for h in after["summary"]["headline"])
    # annotators are compared with the resolved label: c said "bird" on item 7, now right
    wrong = {(d["item_id"], d["annotator_id"]) for d in after["errors"]["discrepancies"]}
    assert ("7", "c") not in wrong
    assert ("7", "b") in wrong


def test_report_cli_applies_the_resolution_log(tmp_path: Path) -> None:
    from accord.core.formats.jsonl import dumps_dataset
    from accord.store import ResolutionLog

    data = tmp_path / "d.jsonl"
    data.write_text(dumps_dataset(_conflict_dataset()))
    log = ResolutionLog(tmp_path / "res.jsonl")
    log.append(Resolution(item_id="7", label_set="animal", decided_by="lead", chosen="bird"))
    log.append(Resolution(item_id="nope", label_set="animal", decided_by="lead", chosen="cat"))
    out = tmp_path / "r.json"
    assert main(["-q", "report", str(data), "--no-checks", "--resolutions", str(log.path), "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["conflicts"]["n_resolved"] == 1
    assert r["conflicts"]["unknown_resolutions"]["n"] == 1
    assert "7" not in {x["item_id"] for x in r["conflicts"]["items"]}
