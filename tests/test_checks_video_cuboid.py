"""Video track and 3D cuboid checks: planted violations found, clean data silent."""

from __future__ import annotations

import numpy as np
import pytest

from accord.core.checks import run_checks
from accord.core.model import Cuboid, Dataset, Item, Record, Track, TrackFrame


def rec(item: str, value: object, *, ann: str = "a", rid: str | None = None, ls: str = "objects") -> Record:
    return Record(item_id=item, annotator_id=ann, label_set=ls, value=value, region_id=rid)  # type: ignore[arg-type]


def track(tid: str, frames: range, *, x0: float = 0.0, vx: float = 2.0, size: float = 40.0,
          label: str = "car", jitter: np.random.Generator | None = None) -> Track:
    fr = []
    for f in frames:
        dx = float(jitter.normal(0, 0.3)) if jitter is not None else 0.0
        fr.append(TrackFrame(frame=f, x=x0 + vx * f + dx, y=100.0, width=size, height=size * 0.6))
    return Track(label=label, track_id=tid, frames=tuple(fr))


def clean_video() -> Dataset:
    rng = np.random.default_rng(1)
    records = []
    for v in range(5):
        for k in range(4):
            records.append(rec(f"vid{v}", track(f"t{k}", range(0, 60), x0=200.0 * k, jitter=rng), rid=f"t{k}"))
        # An object leaving the view and coming back is not "missing frames".
        t = track("t9", range(0, 30), x0=900)
        frames = (*t.frames[:10], TrackFrame(frame=10, x=920, y=100, width=40, height=24, outside=True),
                  *t.frames[20:])
        records.append(rec(f"vid{v}", Track(label="car", track_id="t9", frames=frames), rid="t9"))
    return Dataset(records=tuple(records))


VIDEO = ("video.missing_frames", "video.track_jump", "video.size_change", "video.fragmented")


@pytest.mark.parametrize("check", VIDEO)
def test_clean_video_has_no_findings(check: str) -> None:
    assert run_checks(clean_video(), only=[check]).findings == ()


def planted_video() -> Dataset:
    base = clean_video().records
    t = track("gap", range(0, 30))
    gap = Track(label="car", track_id="gap", frames=t.frames[:10] + t.frames[15:])  # frames 10..14 missing
    j = track("jump", range(0, 30))
    jumped = Track(label="car", track_id="jump", frames=(
        *j.frames[:15], TrackFrame(frame=15, x=800, y=100, width=40, height=24), *j.frames[16:]))
    s = track("grow", range(0, 30))
    grown = Track(label="car", track_id="grow", frames=(
        *s.frames[:20], TrackFrame(frame=20, x=0, y=76, width=120, height=72), *s.frames[21:]))
    first = track("frag1", range(0, 20), x0=0)
    second = track("frag2", range(23, 40), x0=0)  # starts 3 frames later where frag1 ended
    extra = [rec("v", gap, rid="gap"), rec("w", jumped, rid="jump"), rec("x", grown, rid="grow"),
             rec("y", first, rid="frag1"), rec("y", second, rid="frag2")]
    return Dataset(records=(*base, *extra))


def test_missing_frames_planted() -> None:
    got = run_checks(planted_video(), only=["video.missing_frames"]).findings
    assert [(f.region_id, f.evidence["n_missing"], f.evidence["ranges"]) for f in got] == [("gap", 5, [(10, 14)])]
    assert got[0].category == "missed_frames"


def test_track_jump_planted() -> None:
    got = run_checks(planted_video(), only=["video.track_jump"]).findings
    # Into and out of the outlier frame: two jumps, both on track "jump".
    assert {(f.region_id, f.evidence["frame"]) for f in got} == {("jump", 15), ("jump", 16)}


def test_size_change_planted() -> None:
    got = run_checks(planted_video(), only=["video.size_change"]).findings
    assert {(f.region_id, f.evidence["frame"]) for f in got} == {("grow", 20), ("grow", 21)}
    assert got[0].evidence["area_ratio_per_frame"] == pytest.approx(9.0)


def test_fragmented_planted() -> None:
    got = run_checks(planted_video(), only=["video.fragmented"]).findings
    assert [(f.region_id, f.evidence["continues"], f.evidence["gap_frames"]) for f in got] == [("frag2", "frag1", 4)]
    strict = {"checks": {"video.fragmented": {"max_gap_frames": 2}}}
    assert run_checks(planted_video(), only=["video.fragmented"], rules=strict).findings == ()


def cuboids(seed: int = 0, n: int = 60) -> list[Record]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        c = Cuboid(label="car", x=float(rng.uniform(-50, 50)), y=float(rng.uniform(-50, 50)), z=0.8,
                   length=float(rng.normal(4.5, 0.3)), width=float(rng.normal(1.8, 0.1)),
                   height=float(rng.normal(1.6, 0.1)))
        out.append(rec(f"scan{i % 6}", c, rid=f"c{i}", ls="3d"))
        p = Cuboid(label="pedestrian", x=0, y=float(i), z=0.9, length=float(rng.normal(0.6, 0.05)),
                   width=float(rng.normal(0.6, 0.05)), height=float(rng.normal(1.75, 0.08)))
        out.append(rec(f"scan{i % 6}", p, rid=f"p{i}", ls="3d"))
    return out


def test_clean_cuboids_have_no_findings() -> None:
    ds = Dataset(records=tuple(cuboids()))
    assert run_checks(ds, only=["cuboid.implausible_size"]).findings == ()
    rules = {"checks": {"cuboid.below_ground": {"ground_z": 0.0}}}
    assert run_checks(ds, only=["cuboid.below_ground"], rules=rules).findings == ()


def test_cuboids_planted() -> None:
    bad = [rec("scan0", Cuboid(label="car", x=0, y=0, z=0.8, length=14.0, width=1.8, height=1.6), rid="long_car",
               ls="3d"),
           rec("scan0", Cuboid(label="pedestrian", x=0, y=0, z=0.9, length=0.6, width=0.6, height=0.0), rid="flat",
               ls="3d"),
           rec("scan1", Cuboid(label="car", x=5, y=0, z=-1.0, length=4.5, width=1.8, height=1.6), rid="sunk",
               ls="3d"),
           rec("scan2", Cuboid(label="bike", x=5, y=0, z=4.5, length=9, width=9, height=9), rid="rare", ls="3d")]
    ds = Dataset(records=(*cuboids(), *bad))
    got = run_checks(ds, only=["cuboid.implausible_size"]).findings
    # "rare": only one bike, too few for a prior, so it is not judged.
    assert sorted(f.region_id or "" for f in got) == ["flat", "long_car"]
    long_car = next(f for f in got if f.region_id == "long_car")
    assert long_car.evidence["z"]["length"] > 5
    # Ground at z = 0: "sunk" has its bottom at -1.8 m.
    assert run_checks(ds, only=["cuboid.below_ground"]).findings == ()  # no ground given: nothing checked
    got = run_checks(ds, only=["cuboid.below_ground"], rules={"checks": {"cuboid.below_ground": {"ground_z": 0.0}}})
    assert [(f.region_id, round(f.evidence["depth_below_ground_m"], 6)) for f in got.findings] == [("sunk", 1.8)]
    plane = {"checks": {"cuboid.below_ground": {"ground_plane": [0.0, 0.0, 2.0, 0.0]}}}
    assert [f.region_id for f in run_checks(ds, only=["cuboid.below_ground"], rules=plane).findings] == ["sunk"]


def test_ground_from_item_meta() -> None:
    c = Cuboid(label="car", x=0, y=0, z=0.8, length=4.5, width=1.8, height=1.6)  # bottom at 0.0
    ds = Dataset(records=(rec("s", c, rid="c", ls="3d"),), items={"s": Item(item_id="s", meta={"ground_z": 0.5})})
    got = run_checks(ds, only=["cuboid.below_ground"]).findings
    assert [f.evidence["depth_below_ground_m"] for f in got] == [pytest.approx(0.5)]


def test_missing_frames_honours_the_cvat_frame_step() -> None:
    # A CVAT task with frame_filter step=3 numbers its frames 10, 13, 16, ... (datumaro's
    # for_video/annotations.xml has one): consecutive frames there are 3 apart, not gaps.
    frames = tuple(TrackFrame(frame=f, x=float(f), y=0.0, width=5.0, height=5.0) for f in (10, 13, 16, 25, 28))
    item = Item(item_id="v", meta={"frame_filter": "step=3"})
    ds = Dataset(records=(rec("v", Track(label="car", track_id="s", frames=frames), rid="s"),), items={"v": item})
    got = run_checks(ds, only=["video.missing_frames"]).findings
    # 16 -> 25 skips frames 19 and 22 of the task; nothing else is missing
    assert [(f.evidence["n_missing"], f.evidence["ranges"]) for f in got] == [(2, [(19, 22)])]


def test_missing_frames_on_datumaro_step_video_is_silent() -> None:
    from pathlib import Path

    from accord.plugins.cvat.convert import from_cvat_xml
    src = Path(__file__).parent / "fixtures" / "third_party" / "datumaro" / "for_video_annotations.xml"
    ds = from_cvat_xml(src)
    assert any(isinstance(r.value, Track) for r in ds.records)
    assert run_checks(ds, only=["video.missing_frames"]).findings == ()
