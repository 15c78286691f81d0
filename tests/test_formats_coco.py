"""COCO instances/keypoints: a CVAT-COCO-1.0-shaped fixture, pycocotools differentials, round trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from accord.core import rle
from accord.core.errors import ConversionError
from accord.core.formats.coco import from_coco, from_coco_results, to_coco
from accord.core.model import Box, Dataset, Item, Keypoint, Keypoints, Mask, Polygon, Record

FIX = Path(__file__).parent / "fixtures" / "coco"
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _fixture() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIX / "instances_default.json").read_text())
    return data


def test_fixture_values() -> None:
    ds = from_coco(_fixture())
    by = {r.region_id: r for r in ds.records}
    assert by["1"].value == Polygon(label="car", points=((1, 1), (5, 1), (5, 4), (1, 4)))
    assert dict(by["1"].attributes) == {"iscrowd": False, "occluded": False, "color": "red"}
    assert by["2"].label_set == "masks"
    assert by["2"].attributes["iscrowd"] is True
    assert by["3"].value == Box(label="car", x=10, y=20, width=40, height=30)
    assert by["4"].value == Keypoints(label="person", points=(
        Keypoint(name="nose", x=100, y=100, visibility=2), Keypoint(name="left_eye", x=110, y=105, visibility=1),
        Keypoint(name="right_eye", x=0, y=0, visibility=0)))
    assert ds.items["2"].width == 640
    assert ds.items["1"].data["file_name"] == "frame_000000.png"
    assert ds.schema["keypoints"].skeleton == ("nose", "left_eye", "right_eye")
    assert ds.schema["boxes"].labels == ("car", "person")
    assert all(r.source == "human" and r.annotator_id == "coco" for r in ds.records)
    by_name = from_coco(_fixture(), item_key="file_name", geometry="bbox")
    assert {r.item_id for r in by_name.records} == {"frame_000000.png", "frame_000001.png"}
    assert {r.label_set for r in by_name.records} == {"boxes"}


def test_mask_matches_pycocotools() -> None:
    # Differential: the fixture's RLE decoded by pycocotools equals ours, and our area equals theirs.
    data = _fixture()
    coco_rle = data["annotations"][1]["segmentation"]
    theirs = mask_utils.decode(mask_utils.frPyObjects(coco_rle, 6, 8)).astype(bool)
    mask = next(r.value for r in from_coco(data).records if r.region_id == "2")
    assert isinstance(mask, Mask)
    assert (rle.decode(mask.counts, 6, 8) == theirs).all()
    assert mask.area == int(mask_utils.area(mask_utils.frPyObjects(coco_rle, 6, 8)))


def test_written_file_loads_in_pycocotools(tmp_path: Path) -> None:
    out = to_coco(from_coco(_fixture()))
    path = tmp_path / "out.json"
    path.write_text(json.dumps(out))
    coco = COCO(str(path))
    assert len(coco.getAnnIds()) == 4
    ann = coco.loadAnns(coco.getAnnIds(imgIds=[1], catIds=[1]))
    masks = [coco.annToMask(a) for a in ann]
    assert masks[1].sum() == 13  # the RLE mask, compressed string written by us, decoded by pycocotools
    assert masks[0].sum() > 0


def test_results_file() -> None:
    data = json.loads((FIX / "results.json").read_text())
    ds = from_coco_results(data, _fixture()["categories"])
    assert [r.source for r in ds.records] == ["model", "model"]
    assert ds.records[0].value == Box(label="car", x=11, y=19, width=40, height=31)
    assert ds.records[0].score == 0.87
    assert ds.records[1].label_set == "masks"


coord = st.integers(0, 2000).map(lambda v: v / 8)


@st.composite
def regions(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["box", "polygon", "mask", "keypoints"]))
    label = draw(st.sampled_from(["car", "person"]))
    if kind == "box":
        return Box(label=label, x=draw(coord), y=draw(coord), width=draw(coord), height=draw(coord))
    if kind == "polygon":
        return Polygon(label=label, points=draw(st.lists(st.tuples(coord, coord), min_size=3, max_size=6)))
    if kind == "mask":
        m = np.array(draw(st.lists(st.booleans(), min_size=48, max_size=48))).reshape(6, 8)
        return Mask(label=label, height=6, width=8, counts=rle.encode(m))
    return Keypoints(label=label, points=tuple(
        Keypoint(name=n, x=draw(coord), y=draw(coord), visibility=draw(st.sampled_from([0, 1, 2])))
        for n in ("nose", "left_eye", "right_eye")))


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["1", "2"]), regions(), st.none() | st.floats(0, 1)), max_size=8))
def test_round_trip(rows: list[tuple[str, Any, float | None]]) -> None:
    recs = tuple(Record(item_id=item, annotator_id="model:coco" if s is not None else "coco",
                        label_set={"box": "boxes", "polygon": "polygons", "mask": "masks",
                                   "keypoints": "keypoints"}[v.kind],
                        value=v, source="model" if s is not None else "human", score=s) for item, v, s in rows)
    items = {k: Item(item_id=k, width=8, height=6) for k in ("1", "2")}
    back = from_coco(to_coco(Dataset(records=recs, items=items)))
    assert [(r.item_id, r.label_set, r.value, r.source, r.score, r.annotator_id) for r in back.records] == \
        [(r.item_id, r.label_set, r.value, r.source, r.score, r.annotator_id) for r in recs]


def test_mask_string_matches_pycocotools_encoding() -> None:
    rng = np.random.default_rng(3)
    m = rng.random((7, 9)) > 0.6
    out = to_coco(Dataset(records=(Record(item_id="1", annotator_id="a", label_set="masks",
                                          value=Mask(label="x", height=7, width=9, counts=rle.encode(m))),)))
    theirs = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    assert out["annotations"][0]["segmentation"]["counts"] == theirs["counts"].decode()
    assert out["annotations"][0]["bbox"] == pytest.approx(list(mask_utils.toBbox(theirs)))


@pytest.mark.parametrize(("mutate", "pattern"), [
    (lambda d: d.pop("images"), r"not a COCO annotation file"),
    (lambda d: d["annotations"][2].pop("bbox"), r"item 2.*needs 'bbox'"),
    (lambda d: d["annotations"][2].update(bbox=[1, 2, 3]), r"item 2.*field 'bbox'.*expected 4 numbers"),
    (lambda d: d["annotations"][2].update(category_id=9), r"category_id 9 is not in 'categories'"),
    (lambda d: d["annotations"][2].update(image_id=42), r"image_id 42.*not in 'images'"),
    (lambda d: d["annotations"][0].update(segmentation=[[1, 2, 3, 4]]), r"even count of >= 6"),
    (lambda d: d["annotations"][1]["segmentation"].update(counts=[1, 2]), r"not valid.*counts sum"),
    (lambda d: d["annotations"][3].update(keypoints=[1, 2]), r"x, y, v triples"),
    (lambda d: d["categories"].append({"id": 5}), r"needs 'id' and 'name'"),
])
def test_errors(mutate: Any, pattern: str) -> None:
    data = _fixture()
    mutate(data)
    with pytest.raises(ConversionError, match=pattern):
        from_coco(data)


def test_cannot_write_rotated_box() -> None:
    ds = Dataset(records=(Record(item_id="1", annotator_id="a", label_set="boxes",
                                 value=Box(label="x", x=0, y=0, width=1, height=1, rotation=5)),))
    with pytest.raises(ConversionError, match="cannot rotate"):
        to_coco(ds)
