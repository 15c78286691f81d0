"""The review app end to end in a real browser: uvicorn on a free localhost port, Debian's chromium via playwright.

A reviewer adjudicates three conflicts of different data types (image boxes, text class, audio
transcript) with the keyboard and escalates a fourth (NER spans); the expert takes the escalation.
Then the ledger rows and the queue are checked. A second test builds a video-track and a 3D-cuboid
dataset with three disagreeing annotators, runs ``accord report`` on it, and walks a blind second pass
(policy ``passes=2, second_pass_share=all``) to the expert; the next report's queue is then empty.
A third test edits versions region by region with the edit panel's keys (a box dropped, one relabelled, a
span's end moved) and shows a box conflict over its real image, fetched by the server from a local HTTP
server standing in for the configured Label Studio host.
Screenshots: benchmarks/artifacts/review_*.png.
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")

from accord.cli import main  # noqa: E402
from accord.core.formats.jsonl import dumps_dataset  # noqa: E402
from accord.core.model import Cuboid, Dataset, Item, Record, Track, TrackFrame  # noqa: E402
from accord.core.schema import LabelSet, Schema  # noqa: E402
from accord.review.app import Settings, create_app  # noqa: E402
from accord.review.auth import add_user, ensure_tables  # noqa: E402
from accord.review.media import MediaSource  # noqa: E402
from accord.review.queue import Policy, conflicts_of, load_report, write_policy  # noqa: E402
from accord.store.ledger import Ledger  # noqa: E402

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "benchmarks" / "artifacts"
PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need_chromium() -> None:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")


@contextmanager
def serving(report: Path, url: str, media: MediaSource | None = None) -> Iterator[str]:
    """The app on a free localhost port under a real uvicorn, stopped on exit."""
    port = free_port()
    settings = Settings(report_path=report, db_url=url, secret=b"k" * 32, media=media or MediaSource())
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, str]]:
    need_chromium()
    assert main(["demo", "--out", str(tmp_path)]) == 0
    report = tmp_path / "report.json"
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger.init(url) as ledger:
        ensure_tables(ledger.db)
        add_user(ledger.db, "rev", "reviewer", PASSWORD)
        add_user(ledger.db, "exp", "expert", PASSWORD)
    with serving(report, url) as base:
        yield base, report, url


def sign_in(page: sync_api.Page, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("#signin")
    page.wait_for_url(re.compile(r".*/queue$"))


def test_reviewer_and_expert_in_chromium(served: tuple[str, Path, str]) -> None:
    base, report, url = served
    conflicts = conflicts_of(load_report(report))
    first = {ls: next(c for c in conflicts if c.label_set == ls) for ls in ("objects", "sentiment", "transcript",
                                                                           "entities")}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        sign_in(page, base, "rev")
        n_open = int(page.inner_text("#queue-count").split()[0])
        # three data types, each decided with the keyboard: 2 = accept the second annotator, c = consensus
        for ls, key, shot in (("objects", "2", "image"), ("sentiment", "c", "text"), ("transcript", "1", "audio")):
            k = first[ls]
            page.goto(f"{base}/c/{k.index}")
            page.fill("#rationale", f"browser {ls}")
            page.fill("#rule", f"rule {ls}")
            page.screenshot(path=str(ARTIFACTS / f"review_{shot}.png"), full_page=True)
            page.keyboard.press("Escape")  # leave the field; shortcuts are ignored while typing
            with page.expect_navigation():
                page.keyboard.press(key)
        k = first["entities"]
        page.goto(f"{base}/c/{k.index}")
        page.screenshot(path=str(ARTIFACTS / "review_spans.png"), full_page=True)
        with page.expect_navigation():
            page.keyboard.press("e")
        # j / k move through the queue
        page.goto(f"{base}/queue")
        page.click("#start")
        here = page.url
        with page.expect_navigation():
            page.keyboard.press("j")
        assert page.url != here
        with page.expect_navigation():
            page.keyboard.press("k")
        assert page.url == here
        page.goto(f"{base}/queue")
        assert int(page.inner_text("#queue-count").split()[0]) == n_open - 4
        page.click("button:has-text('log out')")
        # the expert takes the escalation
        sign_in(page, base, "exp")
        assert page.locator(f"tr[data-n='{k.index}'] .stage-expert").count() == 1
        page.goto(f"{base}/c/{k.index}")
        assert "escalated" in page.inner_text(".history")
        page.screenshot(path=str(ARTIFACTS / "review_expert.png"), full_page=True)
        page.fill("#rationale", "expert: the span ends before the full stop")
        page.keyboard.press("Escape")
        with page.expect_navigation():
            page.keyboard.press("1")
        page.goto(f"{base}/queue")
        assert page.locator(f"tr[data-n='{k.index}']").count() == 0
        browser.close()
    with Ledger.open(url) as ledger:
        rows = ledger.decisions()
    assert [(d.item_id, d.reviewer, d.role) for d in rows] == [
        (first["objects"].item_id, "rev", "reviewer"), (first["sentiment"].item_id, "rev", "reviewer"),
        (first["transcript"].item_id, "rev", "reviewer"), (first["entities"].item_id, "rev", "reviewer"),
        (first["entities"].item_id, "exp", "expert")]
    second = list(first["objects"].versions)[1]
    assert rows[0].decision["accept"] == second
    assert rows[0].rationale == "browser objects"
    assert rows[0].guideline_rule == "rule objects"
    assert rows[1].decision == first["sentiment"].suggestion  # the consensus label
    assert rows[3].decision["status"] == "escalated"
    assert rows[4].decision["accept"] == next(iter(first["entities"].versions))


def _track(annotator: str, label: str, *, jump_px: float = 0.0, gone: tuple[int, ...] = ()) -> Record:
    """A car driving right 10 px a frame; ``jump_px`` shifts frames 2-4, ``gone`` marks frames outside."""
    frames = tuple(TrackFrame(frame=f, x=40 + 10 * f + (jump_px if f >= 2 else 0), y=60, width=80, height=50,
                              outside=f in gone) for f in range(5))
    return Record(item_id="clip1", annotator_id=annotator, label_set="vehicles", region_id="t1",
                  value=Track(label=label, track_id="t1", frames=frames))


def _cuboid(annotator: str, label: str, *, dx_m: float = 0.0, yaw: float = 0.0) -> Record:
    return Record(item_id="scan1", annotator_id=annotator, label_set="objects3d", region_id="c1",
                  value=Cuboid(label=label, x=5 + dx_m, y=2, z=0.8, length=4.5, width=1.8, height=1.6, yaw=yaw))


def video_3d_dataset() -> Dataset:
    """Three annotators disagree on one video track (a 60 px jump, a class, two frames missing) and one cuboid
    (3 m off and turned, a class)."""
    records = (_track("ann_a", "car"), _track("ann_b", "car", jump_px=60), _track("ann_c", "truck", gone=(3, 4)),
               _cuboid("ann_a", "car"), _cuboid("ann_b", "car", dx_m=3.0, yaw=0.6), _cuboid("ann_c", "van", dx_m=0.2))
    schema = Schema.of(LabelSet(name="vehicles", kind="track", labels=("car", "truck")),
                       LabelSet(name="objects3d", kind="cuboid", labels=("car", "van")))
    items = {"clip1": Item(item_id="clip1", data={"video": "clip1.mp4"}, width=320, height=240),
             "scan1": Item(item_id="scan1", data={"pcd": "scan1.pcd"})}
    return Dataset(records=records, schema=schema, items=items, name="tracks3d")


def decide(page: sync_api.Page, base: str, n: int, key: str, why: str, shot: str | None = None) -> None:
    page.goto(f"{base}/c/{n}")
    page.fill("#rationale", why)
    if shot:
        page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
    page.keyboard.press("Escape")
    with page.expect_navigation():
        page.keyboard.press(key)


def test_video_and_3d_with_a_blind_second_pass_in_chromium(tmp_path: Path) -> None:
    """Video and 3D conflicts decided with the keyboard; policy passes=2, second_pass_share=all: a second reviewer
    sees the first decision hidden, disagrees on the video (it goes to the expert), agrees on the 3D item."""
    need_chromium()
    data = tmp_path / "tracks3d.jsonl"
    data.write_text(dumps_dataset(video_3d_dataset()))
    report = tmp_path / "report.json"
    assert main(["-q", "report", str(data), "--no-checks", "--no-ledger", "--json", str(report)]) == 0
    conflicts = conflicts_of(load_report(report))
    video = next(c for c in conflicts if c.label_set == "vehicles")
    cube = next(c for c in conflicts if c.label_set == "objects3d")
    assert (video.kind, cube.kind) == ("track", "cuboid")
    assert list(video.versions) == list(cube.versions) == ["ann_a", "ann_b", "ann_c"]
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger.init(url) as ledger:
        ensure_tables(ledger.db)
        for name, role in (("rev", "reviewer"), ("rev2", "reviewer"), ("exp", "expert")):
            add_user(ledger.db, name, role, PASSWORD)
        for ls in ("vehicles", "objects3d"):
            write_policy(ledger.db, ls, Policy.parse(2, "all"), by="admin")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with serving(report, url) as base, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        sign_in(page, base, "rev")
        page.goto(f"{base}/c/{video.index}")
        # drawn, not listed as text: per annotator a strip of the frames where the versions differ (2-4)
        frames = page.locator(".rr-strip .rr-frame")
        assert frames.count() == 3 * 3
        assert sorted({frames.nth(i).get_attribute("data-frame") for i in range(9)}) == ["2", "3", "4"]
        assert page.locator(".rr-frame[data-frame='2'] svg rect").count() >= 3
        decide(page, base, video.index, "2", "b follows the car after frame 2", "review_video.png")
        page.goto(f"{base}/c/{cube.index}")
        body = page.inner_text("body")
        assert "bird's-eye view" in body
        assert "side view" in body
        # no two versions agree and nobody has a gold score: no consensus is invented (no "c" button)
        assert "consensus suggestion: none" in body
        assert page.locator("button[value=consensus]").count() == 0
        decide(page, base, cube.index, "1", "a's box sits on the points", "review_3d.png")
        # both wait for a second pass by someone else: the first reviewer may not check himself
        page.goto(f"{base}/queue")
        assert int(page.inner_text("#queue-count").split()[0]) == 0
        assert page.goto(f"{base}/c/{video.index}").status == 403
        page.goto(f"{base}/queue")
        page.click("button:has-text('log out')")

        sign_in(page, base, "rev2")
        assert int(page.inner_text("#queue-count").split()[0]) == 2
        page.goto(f"{base}/c/{video.index}")
        assert "second pass" in page.inner_text("#stage")
        assert page.locator(".history").count() == 0  # blind: the first decision is not shown
        assert "follows the car" not in page.content()
        decide(page, base, video.index, "1", "a: the jump is a tracker glitch")  # disagrees with rev
        decide(page, base, cube.index, "1", "agree")  # agrees with rev
        page.goto(f"{base}/queue")
        assert int(page.inner_text("#queue-count").split()[0]) == 0
        page.click("button:has-text('log out')")

        sign_in(page, base, "exp")
        assert page.locator(f"tr[data-n='{video.index}'] .stage-expert").count() == 1
        assert page.locator(f"tr[data-n='{cube.index}']").count() == 0
        page.goto(f"{base}/c/{video.index}")
        assert "disagrees" in page.inner_text(".history")  # the expert sees both passes
        decide(page, base, video.index, "2", "expert: the car does move 60 px (frame drop)")
        page.goto(f"{base}/queue")
        assert page.locator(f"tr[data-n='{video.index}']").count() == 0
        # the edge-case gallery of both resolved conflicts, opened in the browser
        gallery = tmp_path / "gallery.html"
        assert main(["review", "gallery", "--report", str(report), "--db", url, "-o", str(gallery)]) == 0
        page.goto(gallery.as_uri())
        text = page.inner_text("body")
        assert "expert: the car does move 60 px" in text
        assert "clip1" in text
        assert "scan1" in text
        assert page.locator(".rr-strip").count() >= 1  # the video's frame strip is drawn in the gallery
        page.screenshot(path=str(ARTIFACTS / "review_gallery.png"), full_page=True)
        browser.close()
    with Ledger.open(url) as ledger:
        rows = ledger.decisions()
    got = [(d.item_id, d.reviewer, d.role, d.decision.get("accept") or d.decision.get("status")) for d in rows]
    assert got == [
        ("clip1", "rev", "reviewer", "ann_b"), ("scan1", "rev", "reviewer", "ann_a"),
        ("clip1", "rev2", "reviewer/second-pass", "ann_a"), ("clip1", "rev2", "reviewer/second-pass", "escalated"),
        ("scan1", "rev2", "reviewer/second-pass", "ann_a"), ("clip1", "exp", "expert", "ann_b")]
    assert rows[0].decision["values"] == list(video.versions["ann_b"])
    # the next report takes the decisions: nothing is left in its queue
    again = tmp_path / "again.json"
    assert main(["-q", "report", str(data), "--no-checks", "--db", url, "--json", str(again)]) == 0
    assert conflicts_of(load_report(again)) == []


def street_png(path: Path, boxes: list[dict[str, float]]) -> bytes:
    """A 640 x 480 picture: sky, a road, and a dark figure inside each box (so boxes visibly sit on something)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (640, 480), (150, 190, 230))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 260, 640, 480), fill=(95, 95, 100))
    draw.rectangle((0, 360, 640, 372), fill=(235, 235, 235))
    for b in boxes:
        x, y, w, h = b["x"], b["y"], b["width"], b["height"]
        draw.ellipse((x + w * 0.3, y, x + w * 0.7, y + h * 0.25), fill=(60, 40, 30))
        draw.rectangle((x + w * 0.2, y + h * 0.25, x + w * 0.8, y + h), fill=(40, 40, 90))
    img.save(path, format="PNG")
    return path.read_bytes()


def test_region_edits_and_a_real_image_in_chromium(tmp_path: Path) -> None:
    from test_review_app import _FakeLabelStudio

    need_chromium()
    assert main(["demo", "--out", str(tmp_path)]) == 0
    report = tmp_path / "report.json"
    conflicts = conflicts_of(load_report(report))
    box = next(c for c in conflicts if c.label_set == "objects" and any(len(v) >= 2 for v in c.versions.values()))
    ner = next(c for c in conflicts if c.label_set == "entities")
    assert box.item["image"].startswith("/data/upload/")  # the sample is a Label Studio export
    png = street_png(tmp_path / "street.png", [dict(v) for vs in box.versions.values() for v in vs])
    ls = _FakeLabelStudio("browser-token", png)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger.init(url) as ledger:
        ensure_tables(ledger.db)
        add_user(ledger.db, "rev", "reviewer", PASSWORD)
    media = MediaSource(label_studio_url=ls.url, token="browser-token")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    box_from = next(a for a, vs in box.versions.items() if len(vs) >= 2)
    ner_from = list(ner.versions)[1]
    ner_vs = ner.versions[ner_from]
    try:
        with serving(report, url, media) as base, sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            sign_in(page, base, "rev")
            # the box conflict over its real image, fetched server-side from the configured host with the token
            with page.expect_response(lambda r: r.url == f"{base}/media/{box.index}") as got:
                page.goto(f"{base}/c/{box.index}")
            assert got.value.status == 200
            assert got.value.headers["content-type"] == "image/png"
            assert got.value.body() == png
            assert ls.seen[-1] == (box.item["image"], "Token browser-token")
            assert page.locator("svg image.rr-image").count() >= len(box.versions)
            drawn = page.evaluate("""() => { const i = new Image(); i.src = document.querySelector('image.rr-image')
                .getAttribute('href'); return i.decode().then(() => [i.naturalWidth, i.naturalHeight]); }""")
            assert drawn == [640, 480]
            page.screenshot(path=str(ARTIFACTS / "review_image_real.png"), full_page=True)
            # edit with the keys: t opens the panel, f picks the annotator, arrows pick a region,
            # d drops it, r types a new class; the preview is redrawn by the server after each change
            page.keyboard.press("t")
            for _ in range(len(conflicts[0].versions) + 3):
                if page.input_value("#edit-from") == box_from:
                    break
                page.keyboard.press("f")
            assert page.input_value("#edit-from") == box_from
            page.keyboard.press("d")  # drop region 0
            page.keyboard.press("ArrowDown")
            page.keyboard.press("r")
            page.keyboard.type("Bicycle")
            page.keyboard.press("Escape")
            preview = page.locator("#edit-preview")
            n_left = len(box.versions[box_from]) - 1
            page.wait_for_function("() => { const p = document.getElementById('edit-preview');"
                                   f" return p.dataset.state === 'ok' && p.dataset.regions === '{n_left}'"
                                   " && p.querySelector('[data-label=Bicycle]') !== null; }")
            assert preview.locator("rect[data-label=Bicycle]").count() >= 1
            assert preview.locator("image.rr-image").count() >= 1  # the preview is drawn over the image too
            page.screenshot(path=str(ARTIFACTS / "review_edit_boxes.png"), full_page=True)
            with page.expect_navigation():
                page.keyboard.press("s")
            # a span boundary: bob's LOC ends after the full stop; } / { move the end by one character
            page.goto(f"{base}/c/{ner.index}")
            page.keyboard.press("t")
            for _ in range(len(conflicts[0].versions) + 3):
                if page.input_value("#edit-from") == ner_from:
                    break
                page.keyboard.press("f")
            assert page.input_value("#edit-from") == ner_from
            loc = next(i for i, v in enumerate(ner_vs) if v["label"] == "LOC")
            for _ in range(loc):
                page.keyboard.press("ArrowDown")
            page.keyboard.press("{")
            page.keyboard.press("{")
            page.keyboard.press("}")
            ner_ai = list(ner.versions).index(ner_from)
            assert page.input_value(f"input[name='e{ner_ai}-end-{loc}']") == str(int(ner_vs[loc]["end"]) - 1)
            page.wait_for_function("() => document.getElementById('edit-preview').dataset.state === 'ok'")
            page.screenshot(path=str(ARTIFACTS / "review_edit_span.png"), full_page=True)
            # a bad boundary typed by hand is refused by the server with one line
            end_field = page.locator(f"input[name='e{ner_ai}-end-{loc}']")
            end_field.fill("99999")
            page.wait_for_function("() => document.getElementById('edit-preview').dataset.state === 'error'")
            assert "must lie in 0.." in preview.inner_text()
            end_field.fill(str(int(ner_vs[loc]["end"]) - 1))
            page.keyboard.press("Escape")
            page.fill("#rationale", "the full stop is not part of the place name")
            page.keyboard.press("Escape")
            page.keyboard.press("t")  # closed: s no longer applies an edit ...
            page.keyboard.press("s")
            assert page.url.endswith(f"/c/{ner.index}")
            page.keyboard.press("t")  # ... open again: it does
            with page.expect_navigation():
                page.keyboard.press("s")
            browser.close()
    finally:
        ls.close()
    with Ledger.open(url) as ledger:
        rows = ledger.decisions()
    assert [(d.item_id, d.reviewer) for d in rows] == [(box.item_id, "rev"), (ner.item_id, "rev")]
    kept = [dict(v) for v in box.versions[box_from][1:]]
    kept[0]["label"] = "Bicycle"
    assert rows[0].decision == {"accept": "edit", "from": box_from, "values": kept}
    end = int(ner_vs[loc]["end"]) - 1
    moved = [dict(v) for v in ner_vs]
    moved[loc] = {**moved[loc], "end": end, "text": ner.item["text"][int(moved[loc]["start"]):end]}
    assert rows[1].decision == {"accept": "edit", "from": ner_from, "values": moved}
    assert rows[1].rationale == "the full stop is not part of the place name"
