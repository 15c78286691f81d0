"""Load test of the Label Studio ML backend on 127.0.0.1 (bounded in time and requests).

Starts ``accord serve label-studio --workers N`` as a subprocess on a free localhost port
with a pre-trained text model (N > 1: gunicorn with uvicorn workers, or uvicorn's own
process manager with ``--server uvicorn``), fires ``/predict`` with Label Studio-shaped
batches from a pool of client threads, and prints per worker count: requests/s, tasks/s,
p50/p99 latency, RSS of each worker process (and of the gunicorn arbiter). The
reference ("peer") is the same model called in-process, without HTTP: the ratio is the
price of the server. Values agree when the HTTP answers
equal the in-process predictions.

    .venv/bin/python benchmarks/bench_ml_backend.py --scale 0.2     # quick
    .venv/bin/python benchmarks/bench_ml_backend.py                 # full
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from accord.ml_backends.label_studio.backends import TextBackend, TrainingTask
from accord.ml_backends.label_studio.state import ProjectState

CONFIG = ('<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text" choice="single">'
          '<Choice value="Positive"/><Choice value="Negative"/><Choice value="Neutral"/></Choices></View>')
POS = ["good", "great", "excellent", "wonderful", "superb", "lovely", "brilliant", "fine", "nice", "happy"]
NEG = ["bad", "awful", "terrible", "dreadful", "horrible", "poor", "sad", "boring", "ugly", "weak"]
NEU = ["the", "a", "movie", "film", "plot", "actor", "scene", "story", "day", "time", "camera", "music"]


def _text(rng: random.Random, words: list[str]) -> str:
    return " ".join(rng.choice(words if rng.random() < 0.4 else NEU) for _ in range(rng.randint(8, 30)))


def _tasks(rng: random.Random, n: int, start_id: int) -> list[dict[str, Any]]:
    return [{"id": start_id + i, "data": {"text": _text(rng, rng.choice([POS, NEG, NEU]))}, "project": 1,
             "annotations": [], "predictions": []} for i in range(n)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def _post(url: str, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as r:  # localhost only
        out = json.loads(r.read())
    return time.perf_counter() - t0, out


def _workers(master: int) -> list[int]:
    """The worker processes under ``master``: gunicorn's forks or uvicorn's spawned children."""
    out = []
    for pid in _children(master):
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"resource_tracker" not in cmd:
            out.append(pid)
    return out


def run(workers: int, state_dir: Path, batches: list[list[dict[str, Any]]], *, concurrency: int,
        duration_s: float, max_requests: int, expected: dict[int, tuple[str, float]],
        server: str = "auto") -> dict[str, Any]:
    port = _free_port()
    env = {**os.environ, "ACCORD_SERVE_FETCH_ANNOTATIONS": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "accord", "-q", "serve", "label-studio", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", str(workers), "--server", server,
                             "--state-dir", str(state_dir), "--log-level", "warning"], env=env,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        # warm every worker (each loads the project's model on first use)
        for b in batches[: workers * 4]:
            _post(base + "/predict", {"tasks": b, "project": "1.1", "label_config": CONFIG})
        seq = np.array([_post(base + "/predict", {"tasks": b, "project": "1.1", "label_config": CONFIG})[0]
                        for b in batches[: max(20, min(len(batches), max_requests // 10))]])
        lat: list[float] = []
        agree = [True]
        lock = threading.Lock()
        counter = [0]
        stop_at = time.perf_counter() + duration_s

        def client(k: int) -> None:
            i = k
            while time.perf_counter() < stop_at:
                with lock:
                    if counter[0] >= max_requests:
                        return
                    counter[0] += 1
                batch = batches[i % len(batches)]
                dt, out = _post(base + "/predict", {"tasks": batch, "project": "1.1", "label_config": CONFIG,
                                                    "params": {"context": None}})
                ok = len(out["results"]) == len(batch) and all(
                    r["result"][0]["value"]["choices"][0] == expected[t["id"]][0]
                    and abs(r["score"] - expected[t["id"]][1]) < 1e-9
                    for r, t in zip(out["results"], batch, strict=True))
                with lock:
                    lat.append(dt)
                    agree[0] &= ok
                i += concurrency

        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        pids = _workers(proc.pid) if workers > 1 else [proc.pid]
        rss = [_rss_mib(p) for p in pids]
        master_rss = _rss_mib(proc.pid) if workers > 1 else 0.0
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    a = np.array(lat)
    n_tasks = sum(len(batches[i % len(batches)]) for i in range(len(lat)))
    return {"workers": workers, "seq_p50_ms": float(np.percentile(seq, 50) * 1e3),
            "requests": len(lat), "req_s": len(lat) / wall, "tasks_s": n_tasks / wall,
            "p50_ms": float(np.percentile(a, 50) * 1e3), "p99_ms": float(np.percentile(a, 99) * 1e3),
            "rss_mib_per_worker": [round(r, 1) for r in rss], "master_rss_mib": round(master_rss, 1),
            "agree": agree[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies duration, requests and training size")
    ap.add_argument("--workers", default="1,2", help=f"worker counts to test (this host: {os.cpu_count()} CPUs)")
    ap.add_argument("--batch", type=int, default=10, help="tasks per /predict (LS sends batches on 'retrieve')")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--server", default="auto", choices=("auto", "gunicorn", "uvicorn"),
                    help="process manager for more than one worker (auto: gunicorn when installed)")
    args = ap.parse_args()
    rng = random.Random(0)
    n_train = max(50, int(2000 * args.scale))
    train = []
    for i in range(n_train):
        label, words = rng.choice([("Positive", POS), ("Negative", NEG), ("Neutral", NEU)])
        train.append(TrainingTask(task_id=str(i), data={"text": _text(rng, words)},
                                  result=[{"from_name": "sentiment", "value": {"choices": [label]}}]))
    backend = TextBackend()
    import sklearn.feature_extraction.text
    import sklearn.linear_model  # noqa: F401 - imported before timing the training

    t0 = time.perf_counter()
    model = backend.train(train, CONFIG)
    train_s = time.perf_counter() - t0
    tasks = _tasks(rng, 500, 1000)
    batches = [tasks[i:i + args.batch] for i in range(0, len(tasks), args.batch)]
    # peer: the same model in-process, no HTTP
    t0 = time.perf_counter()
    ref = [backend.predict(model, b, CONFIG) for b in batches]
    peer_s = (time.perf_counter() - t0) / len(batches)
    expected = {t["id"]: (o[0][0]["value"]["choices"][0], o[1]) for b, r in zip(batches, ref, strict=True)
                for t, o in zip(b, r, strict=True) if o is not None}
    with tempfile.TemporaryDirectory() as d:
        ProjectState(d, 1).commit_version("text", backend.dump(model), n_examples=len(train))
        print(f"workload: /predict, batches of {args.batch} texts (8-30 words), {args.concurrency} client threads, "
              f"model TF-IDF+LR trained on {n_train} texts in {train_s:.2f} s; host has {os.cpu_count()} CPUs "
              "shared with the load generator")
        print(f"peer (same model in-process, no HTTP): {peer_s * 1e3:.2f} ms per batch")
        for w in (int(x) for x in args.workers.split(",")):
            r = run(w, Path(d), batches, concurrency=args.concurrency, duration_s=max(2.0, 10 * args.scale),
                    max_requests=max(50, int(5000 * args.scale)), expected=expected, server=args.server)
            master = f", arbiter {r['master_rss_mib']} MiB" if w > 1 else ""
            print(f"workers={r['workers']}: one client: p50 {r['seq_p50_ms']:.1f} ms per batch, ratio to peer "
                  f"{r['seq_p50_ms'] / (peer_s * 1e3):.2f}x | {args.concurrency} clients: {r['requests']} requests, "
                  f"{r['req_s']:.1f} req/s, {r['tasks_s']:.0f} tasks/s, p50 {r['p50_ms']:.1f} ms, p99 "
                  f"{r['p99_ms']:.1f} ms | RSS per worker {r['rss_mib_per_worker']} MiB{master} | values agree with "
                  f"in-process: {r['agree']}")


if __name__ == "__main__":
    main()
