"""The running maximum per group that the overlap and gap checks read (core/checks/text.py).

It used to add a float offset per group and subtract it again, which rounds: the evidence of
``audio.gap_overlap`` then changed in its last bits with the data's range, so a report over a
split of the items (a Dask run) differed from the whole. The rank-offset version is exact.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.checks.text import running_max_in_groups


def _reference(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.empty(len(values))
    best = -np.inf
    for k in range(len(values)):
        if k == 0 or group[k] != group[k - 1]:
            best = -np.inf
        best = max(best, float(values[k]))
        out[k] = best
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.floats(-1e9, 1e9, allow_nan=False, width=64)), min_size=1,
                max_size=60))
def test_equals_the_plain_loop_exactly(rows: list[tuple[int, float]]) -> None:
    rows.sort(key=lambda r: r[0])
    g = np.array([r[0] for r in rows], dtype=np.int64)
    v = np.array([r[1] for r in rows], dtype=np.float64)
    assert np.array_equal(running_max_in_groups(g, v), _reference(g, v))


def test_the_old_float_offset_rounded_and_this_does_not() -> None:
    """A long recording (ends near 3,600 s) in group 40: the old offset arithmetic loses the
    last bits, and by how much depends on the other items' range."""
    g = np.array([0, 0, 40, 40], dtype=np.int64)
    e = np.array([0.3, 1.7, 3599.123456789, 3590.1], dtype=np.float64)
    lo = float(e.min())
    width = float(e.max()) - lo + 1.0
    old = np.maximum.accumulate((e - lo) + g * width) - g * width + lo
    assert old[2] != e[2]  # the bug: a value that is not the data's
    assert running_max_in_groups(g, e).tolist() == [0.3, 1.7, 3599.123456789, 3599.123456789]


def test_empty() -> None:
    assert running_max_in_groups(np.empty(0, dtype=np.int64), np.empty(0)).size == 0
