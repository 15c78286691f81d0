"""Which samples to review, and what reviewing them costs (:mod:`accord.core.qa.sampling`, :mod:`accord.core.cost`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from dataclasses import replace as dataclass_replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from accord.core.cost import CostConfig, Pricing, Workload, load_config, price
from accord.core.cost.config import DEFAULT_SECONDS_PER_LABEL
from accord.core.errors import ConfigError, InvalidAnnotationError
from accord.core.qa import acceptance, sampling

from .fields import _CORE_KIND, _LIST_ATTR, _tag_and_save, _Units, label_kind

SampleMethod = Literal["random", "stratified", "disagreement", "uncertainty", "acceptance"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewSample:
    """The samples chosen by :func:`sample_for_review`.

    Attributes:
        method: The sampling method.
        sample_ids: Chosen sample ids, in selection order.
        n_population: Samples the choice was made from.
        tag / view_name: Where the choice was written.
    """

    method: SampleMethod
    sample_ids: tuple[str, ...]
    n_population: int
    tag: str
    view_name: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewCost:
    """Estimated time and cost of reviewing a collection (see :func:`estimate_review_cost`).

    Attributes:
        n_samples: Items to review: samples, or frames for video frame fields.
        n_labels: Labels to review.
        duration_s: Review time.
        cost: Its price in ``currency``; None without a rate or pricing.
        currency: Currency of ``cost`` (``"USD"`` for the time-per-label estimate).
        cost_usd: ``cost`` when the currency is USD, else None.
        labels_by_field: Label counts per field.
        labels_by_kind: Label counts per accord value kind (``box``, ``polygon``, ``mask``...).
        charge: With a pricing config: :class:`accord.core.cost.Charge` as a dict (model,
            variable, fixed, minimum_topup, total); else None.
    """

    n_samples: int
    n_labels: int
    duration_s: float
    cost_usd: float | None
    labels_by_field: Mapping[str, int] = field(default_factory=dict)
    labels_by_kind: Mapping[str, int] = field(default_factory=dict)
    cost: float | None = None
    currency: str = "USD"
    charge: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"n_samples": self.n_samples, "n_labels": self.n_labels, "duration_s": self.duration_s,
                "duration_h": self.duration_s / 3600.0, "cost": self.cost, "currency": self.currency,
                "cost_usd": self.cost_usd, "labels_by_field": dict(self.labels_by_field),
                "labels_by_kind": dict(self.labels_by_kind),
                "pricing_model": None if self.charge is None else self.charge["model"],
                "charge": None if self.charge is None else dict(self.charge)}


def sample_for_review(
    collection: Any,
    size: int,
    *,
    method: SampleMethod = "random",
    seed: int = 0,
    stratify_field: str | None = None,
    score_field: str = "accord_agreement",
    lot_size: int | None = None,
    aql: float = 1.0,
    inspection_level: str = "II",
    tag: str = "accord:review",
    view_name: str | None = "accord_review",
) -> ReviewSample:
    """Choose samples for human review, tag them and save them as a view.

    Methods:

    * ``random``: simple random sampling without replacement
      (:func:`accord.core.qa.sampling.simple_random_sample`).
    * ``stratified``: proportional allocation over the values of
      ``stratify_field``, random within strata (:func:`~accord.core.qa.sampling.stratified_sample`).
    * ``disagreement``: weighted sampling without replacement, weight
      ``1 - score_field`` (an agreement in [0, 1]; missing counts as 0 agreement),
      Efraimidis & Spirakis A-Res (:func:`~accord.core.qa.sampling.disagreement_sample`).
    * ``uncertainty``: the ``size`` samples with the lowest ``score_field`` (a
      confidence; least-confidence ranking), deterministic.
    * ``acceptance``: the ISO 2859-1 single sampling plan (normal inspection) for
      the collection as a lot (:func:`accord.core.qa.acceptance.single_sampling_plan`);
      ``size`` is then ignored and the plan's sample size drawn at random.

    Args:
        collection: A FiftyOne dataset or view.
        size: Number of samples to choose (capped at the collection size), >= 0.
        method: See above.
        seed: Random seed (same seed, same choice).
        stratify_field: Sample-level field to stratify by (``"ground_truth.label"``...).
        score_field: Numeric field read by ``disagreement`` and ``uncertainty``.
        lot_size / aql / inspection_level: ISO 2859-1 plan parameters (``acceptance``).
        tag / view_name: What is written.

    Returns:
        A :class:`ReviewSample`.

    Raises:
        InvalidAnnotationError: A negative size, a missing stratify field, an unknown method.
        SamplingError / AcceptanceSamplingError: From core (e.g. an AQL not in the ISO table).
    """
    if size < 0:
        raise InvalidAnnotationError(f"size must be >= 0, got {size!r}")
    ids: list[str] = collection.values("id")
    n = len(ids)
    k = min(size, n)
    if method == "random":
        picked = sampling.simple_random_sample(ids, k, seed=seed).ids
    elif method == "stratified":
        if not stratify_field:
            raise InvalidAnnotationError("method='stratified' needs stratify_field, e.g. 'ground_truth.label'")
        strata = [str(v) for v in collection.values(stratify_field)]
        picked = sampling.stratified_sample(ids, strata, k, seed=seed).ids
    elif method == "disagreement":
        raw = collection.values(score_field)
        agreement = np.array([np.nan if v is None else float(v) for v in raw], dtype=np.float64)
        scores = np.clip(1.0 - np.nan_to_num(agreement, nan=0.0), 0.0, None)
        picked = sampling.disagreement_sample(ids, scores.tolist(), k, seed=seed).ids
    elif method == "uncertainty":
        raw = collection.values(score_field)
        score = np.array([np.nan if v is None else float(v) for v in raw], dtype=np.float64)
        order = np.argsort(np.where(np.isnan(score), np.inf, score), kind="stable")[:k]
        picked = tuple(ids[int(i)] for i in order)
    elif method == "acceptance":
        plan = acceptance.single_sampling_plan(lot_size or n, aql, level=inspection_level)
        picked = sampling.simple_random_sample(ids, min(plan.sample_size, n), seed=seed).ids
    else:
        raise InvalidAnnotationError(
            f"unknown method {method!r}; use one of random, stratified, disagreement, uncertainty, acceptance")
    view = collection.select(list(picked), ordered=True)
    _tag_and_save(collection, picked, tag=tag, view=view, view_name=view_name)
    return ReviewSample(method=method, sample_ids=picked, n_population=n, tag=tag, view_name=view_name)


#: Pricing fields an operator may give inline (they override the config file's ``[pricing]``).
PRICING_FIELDS: tuple[str, ...] = ("model", "rate_per_label", "rate_per_hour", "rate_per_task", "fixed_fee",
                                   "rate_per_item", "minimum_charge")


def review_cost_config(path: str | Path | None = None, *, currency: str | None = None,
                       **pricing: Any) -> CostConfig:
    """A cost config for :func:`estimate_review_cost`: a TOML file and/or inline ``[pricing]`` fields.

    Args:
        path: A cost config TOML (``accord/core/data/pricing.example.toml`` lists every key), or None
            for the defaults.
        currency: Overrides the file's currency.
        **pricing: Any of :data:`PRICING_FIELDS` (``model="per_label", rate_per_label=0.05``...);
            they replace the file's values one by one.

    Raises:
        ConfigError: An unknown pricing field, or a value :mod:`accord.core.cost` rejects.
    """
    unknown = sorted(set(pricing) - set(PRICING_FIELDS))
    if unknown:
        raise ConfigError(f"unknown pricing field(s) {unknown}; expected some of {list(PRICING_FIELDS)}")
    cfg = load_config(path) if path else CostConfig()
    if pricing:
        current = {f.name: getattr(cfg.pricing, f.name) for f in dataclass_fields(Pricing)}
        cfg = dataclass_replace(cfg, pricing=Pricing(**{**current, **pricing}))
    if currency:
        cfg = dataclass_replace(cfg, currency=currency)
    return cfg


def _labels_by_core_kind(collection: Any, fields: Sequence[str]) -> tuple[dict[str, int], dict[str, int]]:
    """Label counts per field and per accord value kind (box, polygon, polyline, keypoints, mask...)."""
    from fiftyone import ViewField as F

    by_field: dict[str, int] = {}
    by_kind: Counter[str] = Counter()
    for f in fields:
        kind = label_kind(collection, f)
        if kind == "polylines":
            closed = int(collection.filter_labels(f, F("closed") | F("filled"), only_matches=False)
                         .count(f"{f}.polylines"))
            total = int(collection.count(f"{f}.polylines"))
            by_kind["polygon"] += closed
            by_kind["polyline"] += total - closed
            by_field[f] = total
            continue
        n = int(collection.count(f"{f}.{_LIST_ATTR[kind]}" if kind in _LIST_ATTR else f))
        by_field[f] = n
        by_kind[_CORE_KIND[kind]] += n
    return by_field, dict(by_kind)


def estimate_review_cost(
    collection: Any,
    fields: Sequence[str],
    *,
    seconds_per_label: float = 4.0,
    seconds_per_sample: float = 2.0,
    hourly_rate_usd: float | None = None,
    pricing: CostConfig | None = None,
) -> ReviewCost:
    """Time and money to review every label of ``fields`` in a collection.

    Without ``pricing`` (time per label)::

        duration_s = n_items * seconds_per_sample + n_labels * seconds_per_label
        cost_usd   = duration_s / 3600 * hourly_rate_usd          (None without a rate)

    With ``pricing`` (a :class:`accord.core.cost.CostConfig`, e.g. from
    :func:`review_cost_config`), accord's cost model prices the review: one review
    of an item takes ``qa.review_time_factor`` times one annotation pass, and a
    pass takes ``drivers.seconds_per_item_overhead + sum over kinds of n_labels x
    seconds per label of that kind`` (``drivers.seconds_per_label`` over
    :data:`~accord.core.cost.config.DEFAULT_SECONDS_PER_LABEL`) times
    ``drivers.time_factor``::

        duration_s = review_time_factor * time_factor * (n_items * overhead + sum_k n_k * s_k)
        cost       = price(Workload(items=n_items, passes=n_items, labels=n_k, hours=duration_s / 3600),
                           pricing, rate_factor=drivers.rate_factor).total

    with :func:`accord.core.cost.price`: ``per_label`` bills each label at its
    kind's rate, ``per_hour`` the hours (at ``qa.rate_per_hour`` when set, the
    rate of QA work, else ``pricing.rate_per_hour``, times the expertise
    multiplier), ``per_task`` each item, ``per_project`` ``rate_per_item`` per
    item; then the fixed fee and the minimum charge. Amounts are in ``pricing.currency``.

    Items are samples, or frames when the fields are video frame fields.

    Raises:
        InvalidAnnotationError: A negative rate.
        SchemaError: An unsupported field.
    """
    for name, v in (("seconds_per_label", seconds_per_label), ("seconds_per_sample", seconds_per_sample),
                    ("hourly_rate_usd", hourly_rate_usd or 0.0)):
        if not v >= 0:
            raise InvalidAnnotationError(f"{name} must be >= 0, got {v!r}")
    by_field, by_kind = _labels_by_core_kind(collection, fields)
    units = _Units.of(collection, fields) if fields else _Units(False, (1,) * int(collection.count()))
    n_items = units.n_units
    n_labels = sum(by_field.values())
    if pricing is None:
        duration = n_items * seconds_per_sample + n_labels * seconds_per_label
        cost = None if hourly_rate_usd is None else duration / 3600.0 * hourly_rate_usd
        return ReviewCost(n_samples=n_items, n_labels=n_labels, duration_s=float(duration), cost_usd=cost,
                          labels_by_field=MappingProxyType(by_field), labels_by_kind=MappingProxyType(by_kind),
                          cost=cost, currency="USD")
    dr, qa = pricing.drivers, pricing.qa
    per_label = {**DEFAULT_SECONDS_PER_LABEL, **dr.seconds_per_label}
    pass_s = n_items * dr.seconds_per_item_overhead + sum(n * per_label[k] for k, n in by_kind.items())
    duration = qa.review_time_factor * dr.time_factor * pass_s
    rates = pricing.pricing
    if qa.rate_per_hour is not None:
        rates = dataclass_replace(rates, rate_per_hour=qa.rate_per_hour)
    charge = price(Workload(items=n_items, passes=n_items, labels=by_kind, hours=duration / 3600.0), rates,
                   rate_factor=dr.rate_factor)
    return ReviewCost(n_samples=n_items, n_labels=n_labels, duration_s=float(duration),
                      cost_usd=charge.total if pricing.currency == "USD" else None,
                      labels_by_field=MappingProxyType(by_field), labels_by_kind=MappingProxyType(by_kind),
                      cost=charge.total, currency=pricing.currency, charge=MappingProxyType(charge.to_dict()))
