"""`accord report` on CVAT for images 1.1 exports: two annotators' jobs and a gold export.

The numbers are checked against arithmetic done by hand on the planted differences.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accord.cli import main

GOLD = {  # image -> [(label, xtl, ytl, xbr, ybr)]
    "a.jpg": [("car", 10, 10, 110, 60), ("person", 200, 40, 240, 140)],
    "b.jpg": [("car", 50, 50, 150, 120), ("bicycle", 300, 200, 380, 260), ("person", 400, 100, 440, 200)],
    "c.jpg": [("car", 5, 5, 105, 55)],
}


def _xml(user: str, boxes: dict[str, list[tuple[str, float, float, float, float]]]) -> str:
    images = []
    for k, (name, shapes) in enumerate(boxes.items()):
        inner = "".join(
            f'<box label="{lab}" source="manual" occluded="0" xtl="{x1}" ytl="{y1}" xbr="{x2}" ybr="{y2}" '
            f'z_order="0"></box>' for lab, x1, y1, x2, y2 in shapes)
        images.append(f'<image id="{k}" name="{name}" width="640" height="480">{inner}</image>')
    labels = "".join(f"<label><name>{n}</name><attributes></attributes></label>" for n in ("car", "person", "bicycle"))
    return (f'<?xml version="1.0" encoding="utf-8"?><annotations><version>1.1</version><meta><task><id>7</id>'
            f"<name>street</name><size>3</size><mode>annotation</mode><labels>{labels}</labels>"
            f"<owner><username>{user}</username><email>{user}@example.com</email></owner>"
            f"<assignee><username>{user}</username><email>{user}@example.com</email></assignee>"
            f"</task></meta>{''.join(images)}</annotations>")


@pytest.fixture
def exports(tmp_path: Path) -> tuple[Path, Path, Path]:
    ann2 = {k: list(v) for k, v in GOLD.items()}
    ann2["b.jpg"] = [ann2["b.jpg"][0], ("person", *ann2["b.jpg"][1][1:])]  # bicycle -> person; person missed
    paths = []
    for name, boxes in (("gold", GOLD), ("ann1", GOLD), ("ann2", ann2)):
        p = tmp_path / f"{name}.xml"
        p.write_text(_xml(name, boxes), encoding="utf-8")
        paths.append(p)
    return paths[0], paths[1], paths[2]


def test_cvat_exports_give_gold_scores_and_taxonomy(exports: tuple[Path, Path, Path], tmp_path: Path) -> None:
    gold, ann1, ann2 = exports
    out = tmp_path / "report.json"
    html = tmp_path / "report.html"
    assert main(["-q", "report", str(ann1), str(ann2), "--format", "cvat", "--reference", str(gold),
                 "--json", str(out), "--html", str(html)]) == 0
    r = json.loads(out.read_text())
    assert r["summary"]["annotators"] == ["cvat:ann1", "cvat:ann2"]
    scores = {a: next(iter(v.values())) for a, v in r["gold"]["annotators"].items()}
    # ann1 equals gold: 6 of 6 boxes.
    assert scores["cvat:ann1"]["score"]["estimate"] == pytest.approx(1.0)
    # ann2: 6 gold boxes, 5 drawn, 4 right (one relabeled, one missed): F1 = 2*4 / (6 + 5) = 8/11.
    assert scores["cvat:ann2"]["score"]["estimate"] == pytest.approx(8 / 11, abs=1e-6)
    assert scores["cvat:ann2"]["true_positives"] == 4
    cells = {(c["category"], c["label"]): c["count"] for c in r["errors"]["counts"]["cells"]
             if c["annotator_id"] == "cvat:ann2"}
    assert cells == {("wrong_class", "bicycle"): 1, ("missing_object", "person"): 1}
    assert "cvat:ann1" not in r["errors"]["counts"]["by_annotator"]
    assert 'id="gold"' in html.read_text()


def test_previous_report_gives_a_trend_per_category(exports: tuple[Path, Path, Path], tmp_path: Path) -> None:
    gold, ann1, ann2 = exports
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    assert main(["-q", "report", str(ann2), "--format", "cvat", "--reference", str(gold), "--json", str(first)]) == 0
    assert main(["-q", "report", str(ann1), "--format", "cvat", "--reference", str(gold), "--json", str(second),
                 "--previous", str(first)]) == 0
    trend = json.loads(second.read_text())["errors"]["trend"]
    # The first run had ann2's two errors; the second (ann1, equal to gold) none.
    assert trend["wrong_class"] == {"previous": 1, "current": 0, "change": -1}
    assert trend["missing_object"] == {"previous": 1, "current": 0, "change": -1}


def test_cvat_report_html_has_the_cvat_section(exports: tuple[Path, Path, Path], tmp_path: Path) -> None:
    gold, ann1, ann2 = exports
    out, html = tmp_path / "r.json", tmp_path / "r.html"
    assert main(["-q", "cvat", "report", "--export", str(ann1), str(ann2), "--reference", str(gold), "--no-checks",
                 "--json", str(out), "--html", str(html)]) == 0
    cv = json.loads(out.read_text())["cvat"]
    # ann2's two planted errors (see the exports fixture), in CVAT's words and per frame.
    assert cv["by_cvat_term"] == {"mismatching label": {"major": 1}, "missing annotation": {"major": 1}}
    assert cv["by_frame"] == {"b.jpg": {"wrong_class": 1, "missing_object": 1}}
    page = html.read_text()
    section = page.split('<section id="cvat">')[1].split("</section>")[0]
    assert '<a href="#cvat">CVAT</a>' in page
    for heading in ("In CVAT's vocabulary", "Per assignee", "Per label", "Per frame"):
        assert heading in section
    assert "<td>mismatching label</td><td>wrong_class</td>" in section
    assert "<td>cvat:ann2</td>" in section
    assert "<svg" in section
    # plain `accord report` carries no cvat key, so no CVAT section
    plain = tmp_path / "plain.html"
    assert main(["-q", "report", str(ann1), "--format", "cvat", "--no-checks", "--html", str(plain)]) == 0
    assert 'id="cvat"' not in plain.read_text()
