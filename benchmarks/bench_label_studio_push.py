"""Benchmark: writing QA fields back to Label Studio tasks, one PATCH at a time vs overlapped.

Workload (``--scale 1``): a real Label Studio 1.23 server on localhost (started from the
test template, ``ACCORD_LS_BIN`` or the default venv), one text project with 300 tasks;
every task's data gains the QA fields ``accord push --qa-fields`` writes (agreement, worst
error category, conflict flag, run id).

Label Studio has no bulk task update, so each task is one ``PATCH /api/tasks/<id>``.
"peer" is what a user of the SDK writes (and what accord did before): one request after
the other (``update_tasks(..., max_workers=1)``). "ours" overlaps ``--workers`` requests
(default 8). "agree" means a read-back finds every task with the fields of the last run.

Run: ``.venv/bin/python benchmarks/bench_label_studio_push.py [--scale 1.0] [--workers 8]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from ls_server import find_label_studio, start_from_template  # noqa: E402

from accord.plugins.label_studio.client import LabelStudioClient  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--workers", type=int, default=8)
    args = ap.parse_args()
    binary = find_label_studio()
    if binary is None:
        print("label_studio_push: skipped (no Label Studio; set ACCORD_LS_BIN)")
        return 0
    n = max(10, int(300 * args.scale))
    with tempfile.TemporaryDirectory() as tmp:
        server = start_from_template(binary, Path(tmp))
        try:
            from label_studio_sdk import LabelStudio

            ls = LabelStudio(base_url=server.url, api_key=server.token)
            project = ls.projects.create(title="push bench", label_config=(
                '<View><Text name="text" value="$text"/><Choices name="s" toName="text">'
                '<Choice value="a"/><Choice value="b"/></Choices></View>'))
            ls.projects.import_tasks(id=project.id, request=[{"text": f"task {k}"} for k in range(n)])
            ids = [t.id for t in ls.tasks.list(project=project.id, page_size=n + 10)]
            client = LabelStudioClient(server.url, server.token)

            def fields(run: str, k: int) -> dict[str, object]:
                return {"text": f"task {k}", "accord_agreement": round(k / n, 3), "accord_worst_error": "none",
                        "accord_conflict": k % 7 == 0, "accord_run": run}

            timings = {}
            for name, workers in (("peer", 1), ("ours", args.workers)):
                t0 = time.perf_counter()
                client.update_tasks([(t, fields(name, k)) for k, t in enumerate(ids)], max_workers=workers)
                timings[name] = time.perf_counter() - t0
            back = [t.data for t in ls.tasks.list(project=project.id, page_size=n + 10)]
            agree = len(back) == n and all(d.get("accord_run") == "ours" for d in back)
        finally:
            server.stop()
    print(f"label_studio_push: {n} task updates  peer (sequential) {timings['peer']:.2f} s  "
          f"ours ({args.workers} at a time) {timings['ours']:.2f} s  ratio {timings['peer'] / timings['ours']:.2f}x  "
          f"agree={agree}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
