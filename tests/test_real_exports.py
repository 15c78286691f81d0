"""accord on exports nobody on the project wrote (issue 15): datumaro's CVAT assets and
label-studio-converter's test exports, in tests/fixtures/third_party/ (see its README for
sources, commits and licences). Expected numbers are read off the files themselves.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accord.cli import main
from accord.core.checks import run_checks
from accord.core.model import Box, Polygon
from accord.io import load_dataset
from accord.plugins.cvat.convert import from_cvat_xml
from accord.plugins.label_studio.convert import from_label_studio_export

TP = Path(__file__).parent / "fixtures" / "third_party"
DM = TP / "datumaro"
LSC = TP / "label_studio_converter"


def test_datumaro_project_export_keeps_all_six_images() -> None:
    # 3 subsets x (img0.jpg, img1.jpg), all under task_id 39: keyed by subset, not by file name only
    # (before: 2 items, and 3 false "near duplicate" findings).
    warnings: list[str] = []
    ds = from_cvat_xml(DM / "export_project_annotations.xml", warnings=warnings)
    assert warnings == []
    assert sorted(ds.items) == [f"{s}/img{i}.jpg" for s in ("Test", "Train", "Validation") for i in (0, 1)]
    assert ds.annotators() == ("cvat:tester",)
    # <box label="label1" occluded="1" xbr="4" xtl="0" ybr="4" ytl="2" z_order="1"> in each img0.jpg
    boxes = [r for r in ds.records if r.label_set == "boxes"]
    assert [r.item_id for r in boxes] == ["Test/img0.jpg", "Train/img0.jpg", "Validation/img0.jpg"]
    assert {r.value for r in boxes} == {Box(label="label1", x=0, y=2, width=4, height=2)}
    assert dict(boxes[0].attributes) == {"occluded": True, "z_order": 1, "a1": "true", "a2": "v3", "a3": "0003",
                                         "a4": "2.4"}
    assert ds.items["Train/img1.jpg"].width == 10
    assert len(ds.records) == 12  # box, polyline / polygon, points in each of the 3 x 2 images


def test_datumaro_project_export_has_no_false_attribute_findings() -> None:
    # issue 15 item 6: `occluded`/`z_order` are CVAT's shape fields, and "false true" lists two values.
    ds = from_cvat_xml(DM / "export_project_annotations.xml")
    assert ds.schema["boxes"].attributes["label1"][0].values == ("false", "true")
    assert run_checks(ds, only=["schema.unknown_attribute"]).findings == ()


def test_datumaro_task_export_with_empty_label_names() -> None:
    ds = from_cvat_xml(DM / "export_task_train.xml")
    assert list(ds.items) == ["img0.jpg", "img1.jpg"]
    labels = sorted((r.item_id, r.label_set, r.label) for r in ds.records)
    assert labels == [("img0.jpg", "boxes", "label1"), ("img0.jpg", "polylines", ""),
                      ("img1.jpg", "points", "label2"), ("img1.jpg", "polygons", "")]
    (poly,) = [r.value for r in ds.records if r.label_set == "polygons"]
    assert poly == Polygon(label="", points=((1, 2), (3, 4), (6, 5)))


def test_datumaro_video_export() -> None:
    ds = from_cvat_xml(DM / "for_video_annotations.xml")
    tracks = ds.select(label_set="tracks")
    assert len(tracks) >= 1
    meta = next(it.meta for it in ds.items.values() if it.meta)
    assert meta["start_frame"] == "10"
    assert meta["frame_filter"] == "step=3"


def test_label_studio_converter_exports() -> None:
    yolo = from_label_studio_export(json.loads((LSC / "test_export_yolo_data.json").read_text(encoding="utf-8")),
                                    (LSC / "test_export_yolo_label_config.xml").read_text(encoding="utf-8"))
    assert (len(yolo.items), len(yolo.records), yolo.annotators()) == (2, 6, ("user:1", "user:2"))
    assert {r.label for r in yolo.records} == {"parasites", "white"}
    minimal = from_label_studio_export(
        json.loads((LSC / "test_export_json_min_data.json").read_text(encoding="utf-8")),
        (LSC / "test_export_json_min_label_config.xml").read_text(encoding="utf-8"))
    assert [r.value.kind for r in minimal.records] == ["polygon"]


def test_predictions_without_image_size_take_the_tasks_size() -> None:
    # The prediction results in this export carry no original_width/original_height (the
    # annotation of the same task does: 768 x 576). Before: the whole file was refused.
    tasks = json.loads((LSC / "test_export_csv_csv_test.json").read_text(encoding="utf-8"))
    ds = from_label_studio_export(tasks)
    (pred,) = [r for r in ds.records if r.source == "model" and r.item_id == "1"]
    # x = 3.63 % of 768 px, y = 10.19 % of 576 px (task 1's prediction)
    assert pred.value.x == pytest.approx(3.63 * 768 / 100)
    assert pred.value.y == pytest.approx(10.19 * 576 / 100)
    assert pred.annotator_id == "model:model 0"


@pytest.mark.parametrize("path", [DM / "export_project_annotations.xml", DM / "export_task_train.xml",
                                  DM / "for_video_annotations.xml", LSC / "test_export_csv_csv_test.json",
                                  LSC / "test_export_yolo_data.json"])
def test_report_runs_on_every_third_party_export(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert main(["-q", "report", str(path), "--json", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["summary"]["n_items"] == len(load_dataset([path]).items)


def test_merged_tools_are_namespaced_on_real_exports(tmp_path: Path) -> None:
    # issue 15 item 5: accord report ls.json cvat.xml: never one item from two tools' ids
    ds = load_dataset([LSC / "test_export_yolo_data.json", DM / "export_task_train.xml"])
    assert all(k.startswith(("label-studio:", "cvat:")) for k in ds.items)
    assert len(ds.items) == 4
