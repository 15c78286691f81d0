"""Mask RLE against pycocotools (test-only peer)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from accord.core import InvalidAnnotationError, rle

mask_util = pytest.importorskip("pycocotools.mask")


@settings(max_examples=100, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 12), st.integers(1, 12))))
def test_encode_decode_round_trip_and_match_pycocotools(m: np.ndarray) -> None:
    counts = rle.encode(m)
    assert np.array_equal(rle.decode(counts, *m.shape), m)
    coco = mask_util.encode(np.asfortranarray(m.astype(np.uint8)))
    assert rle.to_coco_string(counts) == coco["counts"].decode()
    assert rle.from_coco_string(coco["counts"].decode()) == counts
    assert sum(counts[1::2]) == int(mask_util.area(coco))


def test_decode_rejects_counts_of_the_wrong_size() -> None:
    with pytest.raises(InvalidAnnotationError, match=r"expected 2\*2 = 4"):
        rle.decode((1, 2), 2, 2)
