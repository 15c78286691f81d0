"""The registry of pairwise similarity-matrix functions, keyed by value kind.

A *similarity-matrix function* takes a reference sequence and a candidate
sequence of values of one kind (``box``, ``polygon``, ``span``, ...) and
returns their ``(n_reference, n_candidate)`` similarity matrix, higher is more
similar, usually in [0, 1]. :func:`accord.core.matching.geometry.match_regions`
looks the function up here by the values' ``kind``, so a module that adds a
kind registers it once::

    register_similarity("span", span_iou_matrix)

Registering a kind twice raises (as cleanlab's issue-manager registry does);
looking up an unknown kind raises and lists the known ones. Cross-kind
functions (for example polygon against mask) are registered with
:func:`register_cross_similarity` under an ordered ``(reference_kind,
candidate_kind)`` pair.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from ..errors import AccordError

FloatArray: TypeAlias = npt.NDArray[np.float64]
SimilarityFn: TypeAlias = Callable[..., FloatArray]
"""``fn(reference: Sequence[Value], candidate: Sequence[Value], **options) -> (n, m) array``."""


class RegistryError(AccordError, ValueError):
    """A kind was registered twice, or a kind with no function was asked for."""


SIMILARITY: dict[str, SimilarityFn] = {}
"""kind -> similarity-matrix function. Add entries with :func:`register_similarity`."""

CROSS_SIMILARITY: dict[tuple[str, str], SimilarityFn] = {}
"""(reference kind, candidate kind) -> similarity-matrix function for two different kinds."""


def register_similarity(kind: str, fn: SimilarityFn) -> SimilarityFn:
    """Register ``fn`` as the similarity-matrix function of value ``kind``.

    Args:
        kind: A value kind (``Box.kind``, ``Span.kind``, ...), non-empty.
        fn: ``fn(reference, candidate, **options)`` returning an (n, m) float array.

    Returns:
        ``fn`` unchanged, so this can be used as ``register_similarity("x", f)`` or inside a decorator.

    Raises:
        RegistryError: If ``kind`` is empty or already registered.
    """
    if not isinstance(kind, str) or not kind:
        raise RegistryError(f"a similarity kind must be a non-empty string, got {kind!r}")
    if kind in SIMILARITY:
        raise RegistryError(
            f"a similarity function for kind {kind!r} is already registered "
            f"({getattr(SIMILARITY[kind], '__qualname__', SIMILARITY[kind])!r}); "
            "register each kind once, or wrap the existing function"
        )
    SIMILARITY[kind] = fn
    return fn


def register_cross_similarity(reference_kind: str, candidate_kind: str, fn: SimilarityFn) -> SimilarityFn:
    """Register ``fn`` for a reference of one kind against a candidate of another.

    Raises:
        RegistryError: If the kinds are equal or empty (use :func:`register_similarity`),
            or the ordered pair is already registered.
    """
    if not reference_kind or not candidate_kind or reference_kind == candidate_kind:
        raise RegistryError(
            f"cross similarity needs two different non-empty kinds, got {reference_kind!r} and "
            f"{candidate_kind!r}; use register_similarity for a single kind"
        )
    key = (reference_kind, candidate_kind)
    if key in CROSS_SIMILARITY:
        raise RegistryError(f"a cross similarity for {key!r} is already registered")
    CROSS_SIMILARITY[key] = fn
    return fn


def get_similarity(reference_kind: str, candidate_kind: str | None = None) -> SimilarityFn:
    """The registered function for one kind, or for an ordered pair of kinds.

    Raises:
        RegistryError: If nothing is registered; the message lists what is.
    """
    if candidate_kind is None or candidate_kind == reference_kind:
        fn = SIMILARITY.get(reference_kind)
        if fn is None:
            raise RegistryError(
                f"no similarity function for kind {reference_kind!r}; known kinds: {sorted(SIMILARITY)}. "
                "Import the module that registers it, or call register_similarity()"
            )
        return fn
    fn = CROSS_SIMILARITY.get((reference_kind, candidate_kind))
    if fn is None:
        raise RegistryError(
            f"cannot compare reference {reference_kind!r} values with candidate {candidate_kind!r} values; "
            f"known cross-kind pairs: {sorted(CROSS_SIMILARITY)}. Convert one side first"
        )
    return fn
