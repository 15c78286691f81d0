"""Screenshot a Label Studio page in headless Chromium, logged in (test helper).

Logs in over HTTP (Django's login form) to get a session cookie, starts Chromium with
a DevTools port, sets the cookie and opens the page through the DevTools protocol,
waits for the page text to settle, and saves a PNG.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx


def _login_cookies(base_url: str, email: str, password: str) -> dict[str, str]:
    with httpx.Client(base_url=base_url, follow_redirects=False, timeout=30) as c:
        page = c.get("/user/login/")
        m = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        token = m.group(1) if m else c.cookies.get("csrftoken", "")
        r = c.post("/user/login/", data={"email": email, "password": password, "csrfmiddlewaretoken": token},
                   headers={"Referer": base_url + "/user/login/"})
        if r.status_code not in (302, 303) or "sessionid" not in c.cookies:
            raise RuntimeError(f"login as {email} failed: HTTP {r.status_code}")
        return {k: v for k, v in c.cookies.items() if v}


class _CDP:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.n = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("id") == self.n:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                out: dict[str, Any] = msg.get("result", {})
                return out


def screenshot_data_manager(chromium: str, base_url: str, email: str, password: str, path: str, out: Path,
                            *, wait_for: str = "accord: conflicts", timeout_s: float = 90) -> str:
    """Open ``base_url + path`` logged in, wait until ``wait_for`` shows, save ``out``; returns the page text."""
    import socket

    cookies = _login_cookies(base_url, email, password)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    profile = tempfile.mkdtemp(prefix="accord-chromium-")
    proc = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--remote-debugging-port={port}", "--remote-allow-origins=*", f"--user-data-dir={profile}",
         "--window-size=1400,900", "--no-first-run", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        targets: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                    targets = [t for t in json.loads(r.read()) if t.get("type") == "page"]
                if targets:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        if not targets:
            raise RuntimeError("chromium did not open its DevTools port")
        from websockets.sync.client import connect

        with connect(targets[0]["webSocketDebuggerUrl"], max_size=64 * 2**20, open_timeout=30) as ws:
            cdp = _CDP(ws)
            cdp.call("Network.enable")
            for name, value in cookies.items():
                cdp.call("Network.setCookie", name=name, value=value, url=base_url)
            cdp.call("Page.enable")
            cdp.call("Page.navigate", url=base_url + path)
            text = ""
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                time.sleep(1.0)
                res = cdp.call("Runtime.evaluate", expression="document.body ? document.body.innerText : ''",
                               returnByValue=True)
                text = str(res.get("result", {}).get("value") or "")
                if wait_for in text and "Tasks:" in text:
                    time.sleep(2.0)  # let the grid finish drawing
                    break
            shot = cdp.call("Page.captureScreenshot", format="png")
            out.write_bytes(base64.b64decode(shot["data"]))
            res = cdp.call("Runtime.evaluate", expression="document.body ? document.body.innerText : ''",
                           returnByValue=True)
            return str(res.get("result", {}).get("value") or text)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)
