"""The review app end to end in a real browser: uvicorn on a free localhost port, Debian's chromium via playwright.

A reviewer adjudicates three conflicts of different data types (image boxes, text class, audio
transcript) with the keyboard and escalates a fourth (NER spans); the expert takes the escalation.
Then the ledger rows and the queue are checked. Screenshots: benchmarks/artifacts/review_*.png.
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")

from accord.cli import main  # noqa: E402
from accord.review.app import Settings, create_app  # noqa: E402
from accord.review.auth import add_user, ensure_tables  # noqa: E402
from accord.review.queue import conflicts_of, load_report  # noqa: E402
from accord.store.ledger import Ledger  # noqa: E402

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "benchmarks" / "artifacts"
PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, str]]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    assert main(["demo", "--out", str(tmp_path)]) == 0
    report = tmp_path / "report.json"
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger.init(url) as ledger:
        ensure_tables(ledger.db)
        add_user(ledger.db, "rev", "reviewer", PASSWORD)
        add_user(ledger.db, "exp", "expert", PASSWORD)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(Settings(report_path=report, db_url=url, secret=b"k" * 32)),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", report, url
    finally:
        server.should_exit = True
        thread.join(10)


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
