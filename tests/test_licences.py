"""Nothing copyleft in accord's runtime dependency tree (every extra but ``fiftyone`` and ``test``).

Walks the installed distributions from ``accord[cli,label-studio,cvat,serve,onnx]`` down,
reading each one's licence metadata (``License-Expression``, ``License``, trove
classifiers). GPL, LGPL, AGPL, SSPL and EUPL fail the test; MPL-2.0 (file-level, used
unmodified) is allowed. A distribution without licence metadata must be listed in
``VERIFIED`` with the licence read from its repository.

``accord[fiftyone]`` is left out on purpose: FiftyOne (Apache-2.0) pulls ``fiftyone-db``,
whose wheel (Apache-2.0 metadata) carries a ``mongod`` binary, and MongoDB Community Server
is distributed under the SSPL. A FiftyOne user has it already; accord neither ships nor
links it (README, "FiftyOne users").
"""

from __future__ import annotations

import re
from importlib import metadata

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

EXTRAS = ("cli", "label-studio", "cvat", "serve", "onnx", "columnar", "review", "dask")
COPYLEFT = re.compile(r"\b(A?GPL|LGPL|SSPL|EUPL)\b|General Public License|Server Side Public License", re.I)
# Distributions whose metadata has no licence; read from their repositories.
VERIFIED = {"label-studio-sdk": "Apache-2.0 (github.com/HumanSignal/label-studio-sdk LICENSE)"}


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _licence(dist: metadata.Distribution) -> str:
    m = dist.metadata
    classifiers = [c.split("::")[-1].strip() for c in (m.get_all("Classifier") or []) if c.startswith("License")]
    return " | ".join(x for x in (m.get("License-Expression"), (m.get("License") or "")[:200], *classifiers) if x)


def _tree() -> dict[str, str]:
    env = default_environment()
    seen: dict[str, str] = {}
    stack: list[tuple[str, tuple[str, ...]]] = [("accord", EXTRAS)]
    while stack:
        name, extras = stack.pop()
        if _key(name) in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency of a dependency that is not installed
        seen[_key(name)] = _licence(dist)
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker is None or any(req.marker.evaluate({**env, "extra": e}) for e in ("", *extras)):
                stack.append((req.name, tuple(req.extras)))
    return seen


def test_no_copyleft_licence_in_the_runtime_tree() -> None:
    tree = _tree()
    for must in ("numpy", "scipy", "label-studio-sdk", "cvat-sdk", "fastapi", "onnxruntime"):
        assert must in tree, f"{must} missing: install accord[{','.join(EXTRAS)}] to run this test"
    copyleft = {k: v for k, v in tree.items() if COPYLEFT.search(v)}
    assert not copyleft, f"copyleft licences in the dependency tree: {copyleft}"
    unknown = sorted(k for k, v in tree.items() if not v.strip() and k not in VERIFIED)
    assert not unknown, f"no licence metadata; check their repositories and add them to VERIFIED: {unknown}"


@pytest.mark.parametrize("text", ["GPL-3.0-only", "GNU General Public License v2 (GPLv2)",
                                  "AGPL-3.0", "LGPL-2.1-or-later", "SSPL-1.0"])
def test_the_pattern_catches_copyleft(text: str) -> None:
    assert COPYLEFT.search(text)


@pytest.mark.parametrize("text", ["MIT", "BSD-3-Clause", "Apache-2.0", "MPL-2.0 AND MIT", "PSF-2.0"])
def test_the_pattern_lets_permissive_through(text: str) -> None:
    assert not COPYLEFT.search(text)
