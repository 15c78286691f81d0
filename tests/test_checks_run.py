"""The check registry, rules files, the report, the taxonomy bridge and ``accord check``."""

from __future__ import annotations

import doctest
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.cli import main
from accord.core.checks import (
    CATEGORIES,
    CheckConfig,
    CheckContext,
    Finding,
    get_check,
    list_checks,
    load_rules,
    parse_rules,
    register_check,
    run_checks,
    to_discrepancies,
    unregister_check,
)
from accord.core.errors import ConfigError
from accord.core.model import Box, Classification, Dataset, Item, Record, record_to_dict
from accord.core.qa.taxonomy import DEFAULT_TAXONOMY

EXAMPLE = Path(__file__).resolve().parents[1] / "core" / "data" / "rules.example.toml"


def dataset() -> Dataset:
    recs = (
        Record(item_id="i1", annotator_id="a", label_set="objects", region_id="r1",
               value=Box(label="car", x=90, y=10, width=20, height=10)),  # out of bounds (minor)
        Record(item_id="i1", annotator_id="a", label_set="objects", region_id="r2",
               value=Box(label="car", x=10, y=10, width=20, height=10)),
        Record(item_id="i1", annotator_id="a", label_set="objects", region_id="r3",
               value=Box(label="car", x=10, y=10, width=20, height=10)),  # duplicate of r2 (major)
        Record(item_id="i1", annotator_id="a", label_set="mood", value=Classification(label="ok")),
    )
    return Dataset(records=recs, items={"i1": Item(item_id="i1", width=100, height=100)})


def test_report_counts_and_order() -> None:
    rep = run_checks(dataset())
    assert [(f.check, f.region_id) for f in rep.findings] == [
        ("geometry.near_duplicate", "r3"), ("geometry.out_of_bounds", "r1")]  # worst first
    assert rep.counts["geometry.near_duplicate"]["major"] == 1
    assert rep.counts["geometry.tiny"] == {"info": 0, "minor": 0, "major": 0, "critical": 0}
    assert rep.by_severity == {"info": 0, "minor": 1, "major": 1, "critical": 0}
    assert "video.track_jump" not in rep.checks_run  # no tracks in the data
    assert "schema.unknown_label" in rep.checks_run
    d = rep.to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d["n_findings"] == 2
    assert d["findings"][0]["source"] == "automated"
    assert rep.at_least("major") == rep.findings[:1]


def test_builtin_categories_are_in_the_taxonomy() -> None:
    assert set(CATEGORIES) <= set(DEFAULT_TAXONOMY.categories)
    ds = to_discrepancies(run_checks(dataset()).findings)
    assert [(d.category, d.source, d.event, d.candidate_region_id) for d in ds] == [
        ("extra_object", "automated", "automated", "r3"), ("poor_localization", "automated", "automated", "r1")]
    assert ds[0].evidence["check"] == "geometry.near_duplicate"


def test_rules_override_severity_and_disable() -> None:
    rules = {"checks": {"geometry.near_duplicate": {"enabled": False},
                        "geometry.out_of_bounds": {"severity": "critical"}}}
    rep = run_checks(dataset(), rules=rules)
    assert [(f.check, f.severity) for f in rep.findings] == [("geometry.out_of_bounds", "critical")]
    assert "geometry.near_duplicate" not in rep.checks_run


@pytest.mark.parametrize(("rules", "match"), [
    ({"checks": {"geometry.nope": {}}}, r"unknown check 'geometry.nope'; known checks: \[.*'geometry.tiny'"),
    ({"checks": {"geometry.tiny": {"min_area": 3}}}, r"unknown parameter 'min_area'.*min_area_px"),
    ({"checks": {"geometry.tiny": {"severity": "huge"}}}, r"severity must be one of"),
    ({"checks": {"geometry.tiny": {"enabled": "yes"}}}, r"enabled must be true or false"),
    ({"checks": {"geometry.tiny": {"min_area_px": "big"}}}, r"min_area_px must be like the default 4.0"),
    ({"checks": {"geometry.tiny": 3}}, r"must be a table"),
])
def test_bad_rules_raise(rules: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_rules(rules)


def test_example_rules_file_covers_every_check_with_its_defaults(tmp_path: Path) -> None:
    parsed = load_rules(EXAMPLE)
    assert set(parsed) == {s.name for s in list_checks()}
    for s in list_checks():
        body = parsed[s.name]
        assert body["severity"] == s.severity
        assert body["enabled"] == s.enabled
        assert {k: v for k, v in body.items() if k not in ("severity", "enabled")} == {
            k: v for k, v in s.params.items() if v is not None}
    bad = tmp_path / "bad.toml"
    bad.write_text("[checks\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_rules(bad)


def long_labels(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
    for r in ctx.records("box"):
        if len(r.label or "") > cfg["max_chars"]:
            yield Finding(check=cfg.name, item_id=r.item_id, annotator_id=r.annotator_id, severity=cfg.severity,
                          category="schema_violation", message="long label", region_id=r.region_id)


def test_custom_check_registry() -> None:
    register_check("custom.long_labels", kinds=("box",), fn=long_labels, severity="info", params={"max_chars": 2})
    try:
        with pytest.raises(ConfigError, match="already registered"):
            register_check("custom.long_labels", kinds=("box",), fn=long_labels)
        assert get_check("custom.long_labels").kinds == ("box",)
        assert "custom.long_labels" in {s.name for s in list_checks("box")}
        assert "custom.long_labels" not in {s.name for s in list_checks("span")}
        rep = run_checks(dataset(), only=["custom.long_labels"])
        assert [f.region_id for f in rep.findings] == ["r1", "r2", "r3"]
        rep = run_checks(dataset(), only=["custom.long_labels"],
                         rules={"checks": {"custom.long_labels": {"max_chars": 5}}})
        assert rep.findings == ()
        # Not applicable: a dataset with no boxes does not run it.
        no_boxes = Dataset(records=(dataset().records[-1],))
        assert "custom.long_labels" not in run_checks(no_boxes).checks_run
    finally:
        unregister_check("custom.long_labels")
    with pytest.raises(ConfigError, match=r"no check named 'custom.long_labels'; known checks: \["):
        get_check("custom.long_labels")
    with pytest.raises(ConfigError, match="severity must be one of"):
        register_check("custom.bad", kinds=(), fn=long_labels, severity="fatal")  # type: ignore[arg-type]


def test_docstring_examples_run() -> None:
    import accord.core.checks
    import accord.core.checks.run

    for mod in (accord.core.checks, accord.core.checks.run):
        result = doctest.testmod(mod)
        assert result.attempted > 0
        assert result.failed == 0


def test_bad_severity_from_a_custom_check_is_reported() -> None:
    def loud(ctx: CheckContext, cfg: CheckConfig) -> Iterator[Finding]:
        yield Finding(check=cfg.name, item_id=None, annotator_id=None, severity="fatal",  # type: ignore[arg-type]
                      category="schema_violation", message="x")

    register_check("custom.loud", kinds=(), fn=loud)
    try:
        with pytest.raises(ConfigError, match="yielded severity 'fatal'"):
            run_checks(dataset(), only=["custom.loud"])
    finally:
        unregister_check("custom.loud")


def test_a_check_yielding_junk_is_reported() -> None:
    register_check("custom.junk", kinds=(), fn=lambda ctx, cfg: [42])  # type: ignore[list-item,arg-type,return-value]
    try:
        with pytest.raises(ConfigError, match="must yield Finding objects, got 42"):
            run_checks(dataset(), only=["custom.junk"])
    finally:
        unregister_check("custom.junk")


# --------------------------------------------------------------------------- CLI


def write_jsonl(path: Path, ds: Dataset) -> Path:
    path.write_text("".join(json.dumps(record_to_dict(r)) + "\n" for r in ds.records), encoding="utf-8")
    return path


def test_cli_check_writes_json_and_fails_on_severity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_jsonl(tmp_path / "boxes.jsonl", dataset())
    out = tmp_path / "out" / "checks.json"
    assert main(["check", str(src), "--json", str(out), "--format", "jsonl"]) == 0
    table = capsys.readouterr().out
    assert "geometry.near_duplicate" in table
    assert "findings" in table
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["by_check"]["geometry.near_duplicate"]["major"] == 1
    assert not list(out.parent.glob(".*.tmp"))  # the atomic write left no temporary file
    assert main(["check", str(src), "--format", "jsonl", "--fail-on", "major"]) == 1
    assert main(["check", str(src), "--format", "jsonl", "--fail-on", "critical"]) == 0
    capsys.readouterr()
    assert main(["check", str(src), "--format", "jsonl", "--output", "json", "--only", "geometry.tiny"]) == 0
    assert json.loads(capsys.readouterr().out)["checks_run"] == ["geometry.tiny"]


def test_cli_check_rules_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_jsonl(tmp_path / "boxes.jsonl", dataset())
    rules = tmp_path / "rules.toml"
    rules.write_text('[checks."geometry.near_duplicate"]\nenabled = false\n', encoding="utf-8")
    assert main(["check", str(src), "--format", "jsonl", "--rules", str(rules), "--fail-on", "major"]) == 0
    rules.write_text('[checks."geometry.nothing"]\n', encoding="utf-8")
    assert main(["check", str(src), "--format", "jsonl", "--rules", str(rules)]) == 2
    assert "known checks" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "missing.jsonl"), "--format", "jsonl"]) == 2
    assert main(["check"]) == 2
    capsys.readouterr()
    assert main(["check", "--list"]) == 0
    assert "behaviour.rubber_stamping" in capsys.readouterr().out
