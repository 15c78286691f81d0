"""Renderings of competing annotations (accord.review.render) and the HTML report's conflict table."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from accord.core import rle
from accord.core.model import (
    Box,
    Classification,
    Keypoint,
    Keypoints,
    Mask,
    Polygon,
    Polyline,
    Record,
    Segment,
    Span,
    Track,
    TrackFrame,
    value_to_dict,
)
from accord.review.render import (
    MAX_MASK_RUNS,
    label_colors,
    parse_description,
    render_thumbnail,
    render_versions,
    to_value_dicts,
)

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"
XSS = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def _rec(value: Any, who: str = "ann") -> Record:
    return Record(item_id="i1", annotator_id=who, label_set="ls", value=value)


def _svg(markup: str) -> ET.Element:
    return ET.fromstring(markup)


def _shapes(root: ET.Element, tag: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG}{tag}") if e.get("data-kind")]


# --------------------------------------------------------------------------- video tracks and 3D cuboids


def _track(tid: str, frames: list[tuple[int, float]], outside_at: int | None = None) -> Track:
    fr = [TrackFrame(frame=f, x=x, y=50, width=40, height=30) for f, x in frames]
    if outside_at is not None:
        fr.append(TrackFrame(frame=outside_at, x=0, y=0, width=1, height=1, outside=True))
    return Track(label="Car", track_id=tid, frames=tuple(fr))


def _strip_boxes(fig: ET.Element) -> dict[int, list[list[str]]]:
    """frame -> the [x, y, width, height] of each box drawn in that frame's cell."""
    out = {}
    for cell in fig.iter("div"):
        if cell.get("class") == "rr-frame":
            svg = cell.find(f"{SVG}svg")
            assert svg is not None
            out[int(cell.get("data-frame") or -1)] = [[r.get(k) or "" for k in ("x", "y", "width", "height")]
                                                      for r in _shapes(svg, "rect")]
    return out


def test_a_track_strip_shows_the_frames_where_versions_differ_with_interpolated_boxes() -> None:
    # ann2's track leaves the view at frame 6 (CVAT's outside): frames 6.. differ in box count
    html = render_versions({"ann1": [_rec(_track("1", [(0, 10), (10, 110)]))],
                            "ann2": [_rec(_track("7", [(0, 10), (10, 110)], outside_at=6), "ann2")]},
                           width=640, height=360)
    root = ET.fromstring(f"<root>{html}</root>")
    figs = {f.get("data-annotator"): f for f in root.iter("figure")}
    ann1, ann2 = _strip_boxes(figs["ann1"]), _strip_boxes(figs["ann2"])
    # first the frames where one version has no box, then where the boxes are furthest apart:
    # before it leaves, ann2's box holds its frame-0 place (CVAT does not interpolate into an
    # outside frame) while ann1's moves on
    assert set(ann1) == set(ann2) == {4, 5, 6, 7, 8, 9}
    assert ann1[8] == [["90", "50", "40", "30"]]  # x interpolated 10 -> 110 over frames 0..10
    assert all(ann2[f] == [] for f in (6, 7, 8, 9))
    assert ann2[5] == [["10", "50", "40", "30"]]
    assert ann1[5] == [["60", "50", "40", "30"]]
    # the timeline: ann2's track is in view over [0, 6) and [10, 11)
    lanes = [(r.get("data-start"), r.get("data-end")) for r in figs["ann2"].iter(f"{SVG}rect")
             if r.get("data-kind") == "segment"]
    assert lanes == [("0", "6"), ("10", "11")]


def test_identical_tracks_spread_their_strip_over_the_listed_frames() -> None:
    v = [_rec(_track("1", [(f, 10.0 * f) for f in range(0, 40, 2)]))]
    html = render_versions({"a": v, "b": v})
    root = ET.fromstring(f"<root>{html}</root>")
    frames = sorted(_strip_boxes(next(root.iter("figure"))))
    assert 1 < len(frames) <= 6
    assert frames[0] == 0


def test_cuboids_are_drawn_top_down_and_from_the_side_with_their_heading() -> None:
    import math

    from accord.core.model import Cuboid

    c = Cuboid(label="car", x=10, y=5, z=1, length=4, width=2, height=1.5, yaw=math.pi / 2)
    root = ET.fromstring(f"<root>{render_thumbnail('cuboid', [_rec(c)])}</root>")
    top, side = [e for e in root.iter(f"{SVG}polygon")]
    assert (top.get("data-view"), side.get("data-view")) == ("xy", "xz")
    # yaw 90 degrees: length along y. The bird's-eye view flips y (up is +y) about the extent.
    bev = root.findall(f"{SVG}svg")[0]
    _x0, y0, _w, h = (float(t) for t in (bev.get("viewBox") or "").split())
    pts = [tuple(float(t) for t in p.split(",")) for p in (top.get("points") or "").split()]
    world = sorted((round(px, 6), round(y0 + h - (py - y0), 6)) for px, py in pts)
    assert world == [(9.0, 3.0), (9.0, 7.0), (11.0, 3.0), (11.0, 7.0)]
    side_pts = sorted(tuple(float(t) for t in p.split(",")) for p in (side.get("points") or "").split())
    assert [p[0] for p in side_pts] == pytest.approx([9, 9, 11, 11])
    assert len(list(root.iter(f"{SVG}polyline"))) == 1  # the heading, in the top view only


def test_cuboid_versions_share_one_extent_and_an_empty_version_still_draws_it() -> None:
    from accord.core.model import Cuboid

    a = Cuboid(label="car", x=0, y=0, z=0, length=4, width=2, height=1)
    b = Cuboid(label="car", x=20, y=0, z=0, length=4, width=2, height=1)
    root = ET.fromstring(f"<root>{render_versions({'a': [_rec(a)], 'b': [_rec(b)], 'c': []})}</root>")
    boxes = {f.get("data-annotator"): [s.get("viewBox") for s in f.iter(f"{SVG}svg")] for f in root.iter("figure")}
    assert boxes["a"] == boxes["b"] == boxes["c"]
    assert len(boxes["a"]) == 2


# --------------------------------------------------------------------------- image kinds


def test_boxes_are_drawn_at_their_pixel_coordinates_on_the_image_canvas() -> None:
    svg = _svg(render_thumbnail("box", [_rec(Box(label="Person", x=372, y=322, width=31, height=74))],
                                width=640, height=480, size_px=160))
    assert svg.get("viewBox") == "0 0 640 480"
    assert (svg.get("width"), svg.get("height")) == ("160", "120")  # 640x480 scaled to a 160 px long side
    (r,) = _shapes(svg, "rect")
    assert [r.get(k) for k in ("x", "y", "width", "height")] == ["372", "322", "31", "74"]
    assert r.get("data-label") == "Person"
    assert r.get("transform") is None
    # the labelled placeholder background names the image size
    placeholder = [t.text for t in svg.iter(f"{SVG}text")]
    assert placeholder == ["no image · 640×480"]


def test_a_rotated_box_turns_about_its_centre_clockwise() -> None:
    svg = _svg(render_thumbnail("box", [Box(label="Car", x=10, y=20, width=40, height=20, rotation=30)],
                                width=100, height=100))
    (r,) = _shapes(svg, "rect")
    # centre (10 + 40/2, 20 + 20/2) = (30, 30); SVG's rotate(a cx cy) is clockwise in y-down pixels
    assert r.get("transform") == "rotate(30 30 30)"


def test_polygons_polylines_and_keypoints_keep_their_points() -> None:
    recs = [_rec(Polygon(label="Road", points=((0, 0), (50, 0), (50, 25.5)))),
            _rec(Polyline(label="Lane", points=((1, 2), (3, 4)))),
            _rec(Keypoints(label="person", points=(Keypoint(name="nose", x=12, y=13),
                                                   Keypoint(name="ear", x=20, y=9, visibility=1),
                                                   Keypoint(name="hidden", x=0, y=0, visibility=0))))]
    svg = _svg(render_thumbnail("polygon", recs, width=64, height=48))
    (pg,) = _shapes(svg, "polygon")
    assert pg.get("points") == "0,0 50,0 50,25.5"
    assert pg.get("fill") != "none"
    (pl,) = _shapes(svg, "polyline")
    assert pl.get("points") == "1,2 3,4"
    assert pl.get("fill") == "none"
    (g,) = _shapes(svg, "g")
    dots = list(g.iter(f"{SVG}circle"))
    assert [(c.get("data-name"), c.get("cx"), c.get("cy")) for c in dots] == [("nose", "12", "13"), ("ear", "20", "9")]
    assert dots[1].get("fill") == "#fff"  # occluded: hollow; not labelled (visibility 0): not drawn


def test_a_mask_is_drawn_exactly_from_its_rle_runs() -> None:
    import numpy as np

    m = np.zeros((6, 8), dtype=bool)
    m[1:4, 2:5] = True  # rows 1-3, columns 2-4
    m[5, 7] = True
    value = Mask(label="cat", height=6, width=8, counts=rle.encode(m))
    svg = _svg(render_thumbnail("mask", [value]))
    assert svg.get("viewBox") == "0 0 8 6"  # the mask's own size is the canvas
    (path,) = [e for e in svg.iter(f"{SVG}path")]
    assert path.get("data-mask") == "rle"
    drawn = np.zeros_like(m)
    for col, row, n in re.findall(r"M(\d+) (\d+)h1v(\d+)h-1z", path.get("d") or ""):
        drawn[int(row):int(row) + int(n), int(col)] = True
    assert (drawn == m).all()


def test_a_mask_with_too_many_runs_falls_back_to_its_bounding_box() -> None:
    import numpy as np

    m = np.zeros((4, 2 * MAX_MASK_RUNS + 10), dtype=bool)
    m[1, 1::2] = True  # one strip per odd column: more strips than MAX_MASK_RUNS
    svg = _svg(render_thumbnail("mask", [Mask(label="noise", height=4, width=m.shape[1], counts=rle.encode(m))]))
    (r,) = [e for e in svg.iter(f"{SVG}rect") if e.get("data-mask") == "bbox"]
    assert [r.get(k) for k in ("x", "y", "width", "height")] == ["1", "1", str(m.shape[1] - 1 - 1 + 1), "1"]
    assert r.get("stroke-dasharray")


def test_without_an_image_size_the_canvas_is_the_shapes_extent_and_says_so() -> None:
    svg = _svg(render_thumbnail("box", [Box(label="A", x=100, y=200, width=50, height=20)]))
    x0, y0, w, h = (float(v) for v in (svg.get("viewBox") or "").split())
    assert x0 < 100
    assert y0 < 200
    assert x0 + w > 150
    assert y0 + h > 220
    assert "size unknown" in "".join(t.text or "" for t in svg.iter(f"{SVG}text"))


def test_render_versions_puts_every_annotator_on_one_canvas_with_shared_colours() -> None:
    versions = {"alice": [Box(label="Person", x=10, y=10, width=5, height=5)],
                "bob": [Box(label="Car", x=300, y=200, width=5, height=5)], "carol": []}
    html = render_versions(versions)
    svgs = re.findall(r"<svg.*?</svg>", html)
    assert len(svgs) == 3
    boxes = {re.search(r'viewBox="([^"]+)"', s).group(1) for s in svgs}  # type: ignore[union-attr]
    assert len(boxes) == 1  # the same canvas for everyone, so positions compare
    colors = label_colors(["Person", "Car"])
    assert f'stroke="{colors["Person"]}"' in svgs[0]
    assert f'stroke="{colors["Car"]}"' in svgs[1]
    assert 'data-kind="box"' not in svgs[2]  # looked and drew nothing: an empty canvas


def test_small_shapes_on_a_known_image_get_a_shared_close_up() -> None:
    versions = {"a": [Box(label="P", x=372, y=322, width=31, height=74)],
                "b": [Box(label="P", x=376, y=336, width=37, height=84)]}
    html = render_versions(versions, width=640, height=480)
    views = re.findall(r'viewBox="([^"]+)"', html)
    assert views[0] == views[2] == "0 0 640 480"
    assert views[1] == views[3] != views[0]  # the same close-up for both
    x0, y0, w, h = (float(v) for v in views[1].split())
    assert x0 <= 372
    assert x0 + w >= 376 + 37
    assert y0 <= 322
    assert y0 + h >= 336 + 84
    assert w == h < 0.25 * 640
    # large shapes: the whole image is readable, no close-up
    big = render_versions({"a": [Box(label="P", x=0, y=0, width=600, height=400)]}, width=640, height=480)
    assert "detail" not in big


def test_transcripts_side_by_side_mark_the_words_most_others_lack() -> None:
    from accord.core.model import TextValue

    versions = {"alice": [TextValue(text="that in for you please")], "bob": [TextValue(text="that for you for please")],
                "carol": [TextValue(text="that in for you please")]}
    html = render_versions(versions)
    marked = {fig: re.findall(r'<mark class="rr-diff"[^>]*>([^<]+)</mark>', fig) for fig in html.split("<figure")[1:]}
    assert list(marked.values()) == [[], ["for"], []]  # bob's extra "for" before "please"


# --------------------------------------------------------------------------- text, time, classes


def test_spans_are_highlighted_in_the_escaped_item_text() -> None:
    text = "Alan <b>Turing</b> visited Nairobi."
    recs = [Span(label="PER", start=0, end=18), Span(label="LOC", start=27, end=34), Span(label="X", start=5, end=8)]
    html = render_thumbnail("span", recs, text=text)
    root = ET.fromstring(html)
    marks = list(root.iter("mark"))
    got = [(m.get("data-labels"), m.text) for m in marks]
    assert got == [("PER", "Alan "), ("PER X", "<b>"), ("PER", "Turing</b>"), ("LOC", "Nairobi")]
    assert "overlap" in (marks[1].get("class") or "")
    assert "<b>" not in html  # the markup in the text is shown, not interpreted
    assert "".join(root.itertext()) == text


def test_spans_without_the_text_go_on_a_character_ruler() -> None:
    svg = _svg(render_thumbnail("span", [Span(label="LOC", start=3, end=8)], size_px=200))
    (r,) = _shapes(svg, "rect")
    assert (r.get("data-start"), r.get("data-end")) == ("3", "8")
    assert float(r.get("x") or 0) == pytest.approx(200 * 3 / 8)


def test_segments_go_on_a_timeline_of_the_item_duration_one_lane_per_label() -> None:
    recs = [Segment(start=0, end=2.5, label="Agent"), Segment(start=3, end=5, label="Customer"),
            Segment(start=6, end=10, label="Agent")]
    svg = _svg(render_thumbnail("segment", recs, duration=10, size_px=200))
    rects = _shapes(svg, "rect")
    assert [(r.get("data-label"), float(r.get("x") or 0), float(r.get("width") or 0)) for r in rects] == [
        ("Agent", 0.0, 50.0), ("Customer", 60.0, 40.0), ("Agent", 120.0, 80.0)]
    assert rects[0].get("y") == rects[2].get("y") != rects[1].get("y")
    assert any("10 s" in (t.text or "") for t in svg.iter(f"{SVG}text"))


def test_classes_are_label_chips() -> None:
    html = render_thumbnail("classification", [Classification(label="Positive")])
    chip = ET.fromstring(html)
    assert chip.get("data-label") == "Positive"
    assert chip.text == "Positive"
    assert render_thumbnail("classification", []) == '<span class="rr-none">(nothing)</span>'


# --------------------------------------------------------------------------- escaping, colours, input


def test_xss_payloads_in_labels_text_and_annotator_ids_render_inert() -> None:
    versions = {XSS: [Box(label=XSS, x=1, y=1, width=2, height=2), Span(label=XSS, start=0, end=3)]}
    for kind, kw in (("box", {}), ("span", {"text": XSS}), ("classification", {}), ("segment", {})):
        html = render_versions(versions, kind=kind, **kw)  # type: ignore[arg-type]
        assert "<script" not in html, kind
        assert "<img" not in html, kind
        assert "&lt;script&gt;" in html, kind
    svg = render_thumbnail("box", [Box(label=XSS, x=1, y=1, width=2, height=2)], width=10, height=10)
    (r,) = _shapes(_svg(svg), "rect")  # still well-formed XML; the payload survives as data, not markup
    assert r.get("data-label") == XSS


def test_label_colours_stay_distinct_for_thirty_labels() -> None:
    labels = [f"label {i:02d}" for i in range(30)]
    colors = label_colors(reversed(labels))
    assert list(colors) == labels  # sorted: the same label gets the same colour on every page
    assert len(set(colors.values())) == 30
    hues = sorted(float(c[4:].split(",")[0]) for c in list(colors.values())[10:])
    assert min(b - a for a, b in itertools.pairwise(hues)) >= 5  # golden-angle hues spread out


def test_inputs_may_be_records_values_or_their_dicts_and_bad_input_says_what_to_pass() -> None:
    b = Box(label="A", x=1, y=2, width=3, height=4)
    assert to_value_dicts([_rec(b)]) == to_value_dicts([b]) == to_value_dicts([value_to_dict(b)])
    with pytest.raises(ValueError, match="pass Record objects"):
        to_value_dicts([42])


def test_the_reports_descriptions_parse_back_into_values() -> None:
    assert parse_description("Person(372,322,31x74); Car(1,2,3x4)") == [
        {"kind": "box", "label": "Person", "x": 372.0, "y": 322.0, "width": 31.0, "height": 74.0, "rotation": 0.0},
        {"kind": "box", "label": "Car", "x": 1.0, "y": 2.0, "width": 3.0, "height": 4.0, "rotation": 0.0}]
    assert parse_description("ORG[0:7]; LOC[28:37]")[1] == {"kind": "span", "label": "LOC", "start": 28, "end": 37}
    assert parse_description("Agent@0-3.1")[0]["end"] == 3.1
    assert parse_description("'it''s'")[0]["kind"] == "text"
    assert parse_description("Neutral") == [{"kind": "classification", "label": "Neutral"}]
    assert parse_description("(nothing)") == []


# --------------------------------------------------------------------------- the report's conflict table


@pytest.fixture(scope="module")
def sample_report() -> dict[str, Any]:
    from accord.cmd_demo import load_sample
    from accord.core.qa.report import ReportConfig, build_report

    ds = load_sample()
    report = build_report(ds, config=ReportConfig(n_bootstrap=50), checks=False)
    # core emits each conflict's values per annotator and the item's size, duration and text
    for c in report["conflicts"]["items"]:
        per = ds.grouped(c["label_set"], source="human").get(c["item_id"], {})
        assert c["versions"] == {a: [value_to_dict(r.value) for r in rs] for a, rs in sorted(per.items())}
        assert set(c["item"]) == {"width", "height", "duration_s", "text", "image"}
        item = ds.items[c["item_id"]]
        assert c["item"]["image"] == (item.data.get("image") if isinstance(item.data.get("image"), str) else None)
    return report


def test_the_conflict_table_draws_versions_from_the_descriptions_alone(sample_report: dict[str, Any]) -> None:
    from accord.report_html import RENDERERS

    bare = {**sample_report, "conflicts": {**sample_report["conflicts"], "items": [
        {k: v for k, v in c.items() if k not in ("versions", "item")} for c in sample_report["conflicts"]["items"]]}}
    html = RENDERERS["conflicts"](bare)
    first = bare["conflicts"]["items"][0]
    assert first["annotations"]["alice@example.com"].startswith("Person(372,322,31x74)")
    assert 'x="372" y="322" width="31" height="74"' in html  # drawn, not only written
    assert "size unknown" in html
    assert "Person(372,322,31x74)" in html


def test_the_conflict_table_draws_on_the_image_canvas_and_in_the_text(sample_report: dict[str, Any]) -> None:
    from accord.report_html import RENDERERS

    html = RENDERERS["conflicts"](sample_report)
    assert 'viewBox="0 0 640 480"' in html
    assert "no image · 640×480" in html
    assert "<mark" in html
    assert "Nairobi" in html
    assert 'data-kind="segment"' in html
    n_items = min(100, len(sample_report["conflicts"]["items"]))
    assert html.count('<div class="rr-versions"') == n_items


def test_thirty_annotators_get_smaller_thumbnails_in_the_report() -> None:
    from accord.report_html import RENDERERS

    conflict = {"item_id": "i", "label_set": "objects", "reason": "low agreement", "agreement": 0.2,
                "annotations": {f"annotator {i:02d}": f"L{i % 7}({10 * i},{5 * i},20x30)" for i in range(30)}}
    html = RENDERERS["conflicts"]({"conflicts": {"threshold": 0.667, "items": [conflict]}})
    assert html.count("<figure") == 30
    sizes = {max(int(w), int(h)) for w, h in re.findall(r'class="rr-thumb" width="(\d+)" height="(\d+)"', html)}
    assert sizes == {120}
    assert len(set(re.findall(r'data-label="L\d" stroke="([^"]+)"', html))) == 7  # one colour per label


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.integration
def test_conflict_table_screenshot_in_headless_chromium(sample_report: dict[str, Any], tmp_path: Path) -> None:
    from accord.report_html import CSS, RENDERERS

    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs it)")
        pytest.skip("chromium not installed")
    items = sample_report["conflicts"]["items"]
    # one conflict per label set first (boxes, sentiment, NER, speakers, transcripts), then the rest
    firsts = list({c["label_set"]: c for c in reversed(items)}.values())[::-1]
    report = {**sample_report, "conflicts": {**sample_report["conflicts"], "items": firsts}}
    page = tmp_path / "conflicts.html"
    page.write_text("<!doctype html><html><head><meta charset='utf-8'><style>" + CSS + "</style></head><body><main>"
                    f"<section id='conflicts'><h2>Conflicts</h2>{RENDERERS['conflicts'](report)}</section>"
                    "</main></body></html>", encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
             f"--user-data-dir={tmp_path / 'profile'}"]
    env = {**os.environ, "HOME": str(tmp_path)}
    dom = subprocess.run([browser, *flags, "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120, env=env, check=True).stdout
    assert dom.count("<figure") == sum(len(c["versions"]) for c in firsts)
    drawn_as_svg = sum(len(c["versions"]) for c in firsts
                       if any(v["kind"] in ("box", "segment") for vs in c["versions"].values() for v in vs))
    assert drawn_as_svg >= 6
    # small boxes on a 640x480 image also get a shared close-up below the whole image
    n_box_versions = sum(len(c["versions"]) for c in firsts if c["label_set"] == "objects")
    assert dom.count('class="rr-thumb"') == drawn_as_svg + n_box_versions
    assert dom.count("detail ×") == 2 * n_box_versions  # its caption and its <title>
    out = ROOT / "benchmarks" / "artifacts" / "report_conflicts.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([browser, *flags, f"--screenshot={out}", "--window-size=1300,1400", "--hide-scrollbars",
                    "--virtual-time-budget=3000", page.as_uri()], capture_output=True, timeout=120, env=env,
                   check=True)
    assert out.stat().st_size > 20_000


# --------------------------------------------------------------------------- the item's image under the shapes

def test_image_href_is_drawn_under_the_shapes_over_the_placeholder() -> None:
    box = {"kind": "box", "label": "Person", "x": 10, "y": 20, "width": 30, "height": 40, "rotation": 0}
    html = render_versions({"a": [box]}, width=640, height=480, image_href='/media/3?"><script>x</script>')
    svg = html[html.index("<svg"):]
    assert svg.index('class="rr-placeholder"') < svg.index("<image") < svg.index("<rect data-kind")
    assert '<image class="rr-image" href="/media/3?&quot;&gt;&lt;script&gt;x&lt;/script&gt;" x="0" y="0" ' \
           'width="640" height="480"' in svg  # the image spans the whole viewBox (image pixels)
    assert "<script>" not in html
    # a small box on a large image: the close-up shows the same image, cropped by its viewBox
    assert html.count("<image ") == 2
    # without a known image size there is nothing to place the image on: placeholder only
    assert "<image" not in render_versions({"a": [box]}, image_href="/media/3")
    assert "<image" not in render_versions({"a": [box]}, width=640, height=480)


def test_given_colors_keep_a_relabelled_region_in_its_classes_colour() -> None:
    palette = label_colors(["Bicycle", "Car", "Person"])
    box = {"kind": "box", "label": "Person", "x": 10, "y": 20, "width": 30, "height": 40, "rotation": 0}
    own = render_versions({"a": [box]}, width=640, height=480)
    fixed = render_versions({"a": [box]}, width=640, height=480, colors=palette)
    assert f'stroke="{label_colors(["Person"])["Person"]}"' in own
    assert f'data-label="Person" stroke="{palette["Person"]}"' in fixed
    assert palette["Person"] != label_colors(["Person"])["Person"]  # sorted third vs first: the palette differs
    assert "Bicycle" not in fixed  # the legend lists only the labels drawn
