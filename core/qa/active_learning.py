"""Which unlabeled items to annotate next: uncertainty, committee disagreement, diversity.

Every function returns a :class:`Ranking`: item indices ordered most
informative first, and the score of every item (higher = more informative;
ties keep the lower index first, so results are deterministic).

* Uncertainty from one model's class probabilities ``(n_items, n_classes)``:
  least confidence ``1 - max p``, margin ``-(p1 - p2)`` (smaller gap ranks
  first), entropy ``-sum p log p`` (nats) (Settles 2009, section 3.1).
* Committee ``(n_models, n_items, n_classes)``: vote entropy over hard votes
  (Dagan & Engelson 1995) and mean KL divergence of each member to the
  consensus (McCallum & Nigam 1998) (Settles 2009, section 3.2).
* Diversity: k-center greedy on embeddings (Sener & Savarese 2018), which
  repeatedly takes the point farthest from everything chosen (and from
  ``already_labeled``); optionally each distance is multiplied by an
  uncertainty weight.

References:
    Settles, B. (2009). Active Learning Literature Survey. UW-Madison TR 1648.
    Sener, O., Savarese, S. (2018). Active learning for convolutional neural
    networks: a core-set approach. ICLR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial.distance import cdist

from ..errors import AccordError

__all__ = ["Ranking", "committee_disagreement", "k_center_greedy", "uncertainty_ranking"]

UncertaintyMethod = Literal["least_confidence", "margin", "entropy"]
CommitteeMethod = Literal["vote_entropy", "kl_to_consensus"]


class ActiveLearningInputError(AccordError, ValueError):
    """Probabilities or embeddings of the wrong shape or range."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Ranking:
    """Items ordered most informative first.

    Attributes:
        order: Item indices, most informative first (for k-center: the selected batch, in pick order).
        scores: Score per item, indexed by item (not by rank); higher is more informative.
        method: The criterion used.
    """

    order: NDArray[np.int64]
    scores: NDArray[np.float64]
    method: str


def _probs(p: ArrayLike, ndim: int, what: str) -> NDArray[np.float64]:
    a = np.asarray(p, dtype=np.float64)
    if a.ndim != ndim or a.shape[-1] < 2:
        raise ActiveLearningInputError(
            f"{what} must be a {ndim}-d array with >= 2 classes on the last axis, got shape {a.shape}")
    if np.any(~np.isfinite(a)) or np.any(a < 0) or not np.allclose(a.sum(axis=-1), 1.0, atol=1e-6):
        raise ActiveLearningInputError(f"{what} must be finite, >= 0 and sum to 1 over classes; apply softmax first")
    return a


def _rank(scores: NDArray[np.float64]) -> NDArray[np.int64]:
    order: NDArray[np.int64] = np.lexsort((np.arange(scores.size), -scores)).astype(np.int64)
    return order


def _entropy(p: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return np.asarray(-terms.sum(axis=-1), dtype=np.float64)


def uncertainty_ranking(probabilities: ArrayLike, *, method: UncertaintyMethod = "entropy") -> Ranking:
    """Rank items by one model's uncertainty.

    Args:
        probabilities: ``(n_items, n_classes)``, rows summing to 1.
        method: ``"least_confidence"`` (score ``1 - max p``, in [0, 1 - 1/C]),
            ``"margin"`` (score ``-(p1 - p2)``, in [-1, 0]) or ``"entropy"`` (in [0, log C]).

    Example:
        >>> r = uncertainty_ranking([[0.9, 0.1], [0.5, 0.5], [0.7, 0.3]])
        >>> r.order.tolist()
        [1, 2, 0]
    """
    p = _probs(probabilities, 2, "probabilities")
    if method == "least_confidence":
        s = 1.0 - p.max(axis=1)
    elif method == "margin":
        top2 = np.sort(p, axis=1)[:, -2:]
        s = -(top2[:, 1] - top2[:, 0])
    elif method == "entropy":
        s = _entropy(p)
    else:
        raise ActiveLearningInputError(
            f"method must be 'least_confidence', 'margin' or 'entropy', got {method!r}")
    s = np.asarray(s, dtype=np.float64)
    return Ranking(order=_rank(s), scores=s, method=method)


def committee_disagreement(probabilities: ArrayLike, *, method: CommitteeMethod = "vote_entropy") -> Ranking:
    """Rank items by how much a committee of models disagrees.

    Args:
        probabilities: ``(n_models, n_items, n_classes)``.
        method: ``"vote_entropy"`` -- entropy (nats) of the share of hard votes
            (argmax, ties to the lowest class) per class, in [0, log min(M, C)];
            ``"kl_to_consensus"`` -- mean over members of ``KL(p_m || mean_m p_m)``, >= 0.

    Example:
        >>> r = committee_disagreement([[[1, 0], [1, 0]], [[1, 0], [0, 1]]])
        >>> r.order.tolist(), [round(float(x), 4) for x in r.scores]
        ([1, 0], [0.0, 0.6931])
    """
    p = _probs(probabilities, 3, "probabilities")
    n_models, _, n_classes = p.shape
    if n_models < 2:
        raise ActiveLearningInputError(f"a committee needs >= 2 models, got {n_models}")
    if method == "vote_entropy":
        votes = p.argmax(axis=2)  # (M, N)
        share = np.stack([(votes == c).mean(axis=0) for c in range(n_classes)], axis=1)
        s = _entropy(share)
    elif method == "kl_to_consensus":
        consensus = p.mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p > 0, p * (np.log(p) - np.log(consensus)[None]), 0.0)
        s = terms.sum(axis=2).mean(axis=0)
    else:
        raise ActiveLearningInputError(f"method must be 'vote_entropy' or 'kl_to_consensus', got {method!r}")
    s = np.asarray(np.maximum(s, 0.0), dtype=np.float64)
    return Ranking(order=_rank(s), scores=s, method=method)


def k_center_greedy(
    embeddings: ArrayLike,
    k: int,
    *,
    already_labeled: ArrayLike | None = None,
    uncertainty: ArrayLike | None = None,
) -> Ranking:
    """Pick a diverse batch of ``k`` items by k-center greedy.

    Each step takes the item maximising ``min distance to chosen/labeled``
    (times ``uncertainty[i]`` when given). With nothing labeled, the first pick
    is the item with the highest uncertainty (or item 0 without uncertainty).
    Euclidean distance; O(k * n * d).

    Args:
        embeddings: ``(n_items, dim)``.
        k: Batch size, ``0 <= k <= n_items`` minus already-labeled items.
        already_labeled: Indices that count as chosen but are never returned.
        uncertainty: Optional non-negative weight per item.

    Returns:
        ``order``: the batch in pick order; ``scores``: each item's (weighted)
        distance to the set when it was picked, else its final distance.

    Example:
        >>> k_center_greedy([[0.0], [1.0], [10.0], [5.0]], 3).order.tolist()
        [0, 2, 3]
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or np.any(~np.isfinite(x)):
        raise ActiveLearningInputError(f"embeddings must be a finite 2-d array (n_items, dim), got shape {x.shape}")
    n = x.shape[0]
    labeled = np.unique(np.asarray([] if already_labeled is None else already_labeled, dtype=np.int64))
    if labeled.size and (labeled.min() < 0 or labeled.max() >= n):
        raise ActiveLearningInputError(f"already_labeled indices must be in [0, {n}), got {labeled.tolist()}")
    if isinstance(k, bool) or not 0 <= k <= n - labeled.size:
        raise ActiveLearningInputError(f"k must be in [0, {n - labeled.size}], got {k!r}")
    weight = np.ones(n) if uncertainty is None else np.asarray(uncertainty, dtype=np.float64)
    if weight.shape != (n,) or np.any(~np.isfinite(weight)) or np.any(weight < 0):
        raise ActiveLearningInputError(f"uncertainty must be n_items finite values >= 0, got shape {weight.shape}")
    dist = np.full(n, np.inf)
    if labeled.size:
        dist = cdist(x, x[labeled]).min(axis=1)
    taken = np.zeros(n, dtype=bool)
    taken[labeled] = True
    scores = np.zeros(n)
    order: list[int] = []
    for _ in range(k):
        gain = weight.copy() if np.isinf(dist).all() else np.where(np.isinf(dist), np.inf, dist * weight)
        gain[taken] = -np.inf
        i = int(np.argmax(gain))
        scores[i] = gain[i]
        order.append(i)
        taken[i] = True
        np.minimum(dist, cdist(x, x[i:i + 1]).ravel(), out=dist)
    rest = ~taken
    scores[rest] = (dist * weight)[rest] if np.isfinite(dist).all() else weight[rest]
    return Ranking(order=np.asarray(order, dtype=np.int64), scores=scores.astype(np.float64), method="k_center")
