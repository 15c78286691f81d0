"""The cost configuration: pricing model, drivers, QA plan, team, sourcing and pilot gate.

A config is a TOML file (see ``accord/core/data/pricing.example.toml`` for every key
with its default and meaning) read by :func:`load_config`, or a plain mapping given to
:func:`config_from_dict`. Every section and key is optional; defaults describe a small
in-house team paid by the hour. Unknown keys and values of the wrong type or range
raise :class:`~accord.core.errors.ConfigError` naming the key, what was expected and
what came, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeAlias, get_args

from .._toml import loads_toml
from ..errors import ConfigError

PricingModel: TypeAlias = Literal["per_label", "per_hour", "per_task", "per_project"]
PRICING_MODELS: tuple[str, ...] = get_args(PricingModel)
Expertise: TypeAlias = Literal["general", "skilled", "expert"]
DataQuality: TypeAlias = Literal["good", "fair", "poor"]
Criterion: TypeAlias = Literal["control", "speed", "cost", "security", "expertise"]
CRITERIA: tuple[str, ...] = get_args(Criterion)
SourcingOption: TypeAlias = Literal["in_house", "vendor", "hybrid"]
SOURCING_OPTIONS: tuple[str, ...] = get_args(SourcingOption)

#: Seconds to draw or choose one label of each kind when no pilot measured it.
#: Rough industry figures (classification a few seconds, a box about 7 s as in
#: Papadopoulos et al. 2017 "Extreme clicking", a polygon about 30 s and a mask about
#: 80 s as reported for COCO by Lin et al. 2014); spans, transcripts (per item),
#: tracks and cuboids are order-of-magnitude guesses. Override them in ``[drivers]``.
DEFAULT_SECONDS_PER_LABEL: Mapping[str, float] = MappingProxyType({
    "classification": 4.0, "multilabel": 6.0, "numeric": 4.0, "text": 60.0, "span": 5.0,
    "box": 7.0, "keypoints": 20.0, "polyline": 15.0, "polygon": 30.0, "mask": 80.0,
    "segment": 20.0, "track": 90.0, "cuboid": 45.0,
})


def _frozen(m: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(m))


def _number(key: str, value: Any, *, lo: float = 0.0, hi: float = math.inf,
            integer: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if integer:
        ok = ok and float(value).is_integer()
    if not ok or not lo <= value <= hi:
        kind = "an integer" if integer else "a finite number"
        bounds = f" in [{lo:g}, {hi:g}]" if hi != math.inf else f" >= {lo:g}"
        raise ConfigError(f"{key}: expected {kind}{bounds}, got {value!r}; fix the value in the cost config")


def _choice(key: str, value: Any, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ConfigError(f"{key}: expected one of {list(options)}, got {value!r}")


def _rates(key: str, value: Mapping[str, Any], *, known: tuple[str, ...] | None = None) -> None:
    for k, v in value.items():
        if known is not None and k not in known:
            raise ConfigError(f"{key}.{k}: unknown name {k!r}; expected one of {list(known)}")
        _number(f"{key}.{k}", v)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pricing:
    """How a workforce (in-house or vendor) charges.

    Attributes:
        model: ``per_label`` (each drawn label), ``per_hour`` (worked hours),
            ``per_task`` (each annotation pass over an item) or ``per_project``
            (``fixed_fee`` plus ``rate_per_item`` per production item).
        rate_per_label: Price of one label, unless ``rate_per_label_by_kind`` names the kind.
        rate_per_label_by_kind: Per value kind (``box``, ``polygon``...), overrides ``rate_per_label``.
        rate_per_hour: Price of one annotator hour (the base tier, see ``Drivers.expertise``).
        rate_per_task: Price of one annotation pass over one item.
        fixed_fee: Fixed part of a ``per_project`` price (also added to other models when set).
        rate_per_item: Variable part of a ``per_project`` price, per production item.
        minimum_charge: The least the workforce bills; a smaller total is raised to it.
    """

    model: PricingModel = "per_hour"
    rate_per_label: float = 0.0
    rate_per_label_by_kind: Mapping[str, float] = field(default_factory=dict)
    rate_per_hour: float = 20.0
    rate_per_task: float = 0.0
    fixed_fee: float = 0.0
    rate_per_item: float = 0.0
    minimum_charge: float = 0.0

    def __post_init__(self) -> None:
        _choice("pricing.model", self.model, PRICING_MODELS)
        for name in ("rate_per_label", "rate_per_hour", "rate_per_task", "fixed_fee", "rate_per_item",
                     "minimum_charge"):
            _number(f"pricing.{name}", getattr(self, name))
        _rates("pricing.rate_per_label_by_kind", self.rate_per_label_by_kind,
               known=tuple(DEFAULT_SECONDS_PER_LABEL))
        object.__setattr__(self, "rate_per_label_by_kind", _frozen(self.rate_per_label_by_kind))


@dataclass(frozen=True, slots=True, kw_only=True)
class Drivers:
    """What makes labeling slower or dearer.

    With a pilot, time per item is measured and ``time_scale``, the multilingual,
    data-quality and edge-case factors describe how production differs from the pilot
    (all neutral by default). Without a pilot, time per item is
    ``seconds_per_item_overhead + objects_per_item * seconds_per_label[label_kind]``
    times the same factors. ``expertise`` scales the hourly rates.

    Attributes:
        label_kind: The value kind labeled (``classification`` < ``box`` < ``polygon`` < ``mask``...).
        objects_per_item: Labels per item (without a pilot; measured otherwise).
        seconds_per_label: Overrides of :data:`DEFAULT_SECONDS_PER_LABEL` per kind.
        seconds_per_item_overhead: Time to load, look at and submit one item.
        expertise: ``general``, ``skilled`` or ``expert``; picks ``expertise_rate_multiplier``.
        expertise_rate_multiplier: Hourly-rate multiplier per tier.
        multilingual_share: Share of production items in a language harder for the team, in [0, 1].
        multilingual_factor: Time multiplier on those items (>= 0).
        data_quality: ``good``, ``fair`` or ``poor`` source data; picks ``data_quality_factor``.
        data_quality_factor: Time multiplier per data-quality level.
        edge_case_rate: Share of production items that are edge cases, in [0, 1].
        edge_case_factor: Time multiplier on edge cases.
        time_scale: A plain multiplier on time per item (1.0 = as measured).
    """

    label_kind: str = "box"
    objects_per_item: float = 1.0
    seconds_per_label: Mapping[str, float] = field(default_factory=dict)
    seconds_per_item_overhead: float = 5.0
    expertise: Expertise = "general"
    expertise_rate_multiplier: Mapping[str, float] = field(
        default_factory=lambda: {"general": 1.0, "skilled": 1.5, "expert": 3.0})
    multilingual_share: float = 0.0
    multilingual_factor: float = 1.3
    data_quality: DataQuality = "good"
    data_quality_factor: Mapping[str, float] = field(
        default_factory=lambda: {"good": 1.0, "fair": 1.15, "poor": 1.4})
    edge_case_rate: float = 0.0
    edge_case_factor: float = 2.0
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        _choice("drivers.label_kind", self.label_kind, tuple(DEFAULT_SECONDS_PER_LABEL))
        _choice("drivers.expertise", self.expertise, get_args(Expertise))
        _choice("drivers.data_quality", self.data_quality, get_args(DataQuality))
        _number("drivers.objects_per_item", self.objects_per_item)
        _number("drivers.seconds_per_item_overhead", self.seconds_per_item_overhead)
        _number("drivers.multilingual_share", self.multilingual_share, hi=1.0)
        _number("drivers.edge_case_rate", self.edge_case_rate, hi=1.0)
        for name in ("multilingual_factor", "edge_case_factor", "time_scale"):
            _number(f"drivers.{name}", getattr(self, name))
        _rates("drivers.seconds_per_label", self.seconds_per_label, known=tuple(DEFAULT_SECONDS_PER_LABEL))
        em = {"general": 1.0, "skilled": 1.5, "expert": 3.0} | dict(self.expertise_rate_multiplier)
        dq = {"good": 1.0, "fair": 1.15, "poor": 1.4} | dict(self.data_quality_factor)
        _rates("drivers.expertise_rate_multiplier", em, known=get_args(Expertise))
        _rates("drivers.data_quality_factor", dq, known=get_args(DataQuality))
        object.__setattr__(self, "expertise_rate_multiplier", _frozen(em))
        object.__setattr__(self, "data_quality_factor", _frozen(dq))
        object.__setattr__(self, "seconds_per_label", _frozen(self.seconds_per_label))

    @property
    def time_factor(self) -> float:
        """The product of every time multiplier (1.0 when all drivers are neutral)."""
        return (self.time_scale * self.data_quality_factor[self.data_quality]
                * (1.0 + self.multilingual_share * (self.multilingual_factor - 1.0))
                * (1.0 + self.edge_case_rate * (self.edge_case_factor - 1.0)))

    @property
    def rate_factor(self) -> float:
        """The hourly-rate multiplier of the expertise tier."""
        return self.expertise_rate_multiplier[self.expertise]

    def seconds_per_item(self) -> float:
        """Time per annotation pass without a pilot (before :attr:`time_factor`)."""
        per_label = {**DEFAULT_SECONDS_PER_LABEL, **self.seconds_per_label}[self.label_kind]
        return self.seconds_per_item_overhead + self.objects_per_item * per_label


@dataclass(frozen=True, slots=True, kw_only=True)
class QAPlan:
    """The quality-assurance plan, which adds work on top of one pass per item.

    Review, spot-check and adjudication times are fractions of the time of one
    annotation pass over the item.

    Attributes:
        annotators_per_item: Overlap: independent passes per item (>= 1).
        gold_fraction: Share of each annotator's queue that is gold (known-answer)
            items, in [0, 1); adds ``passes * g / (1 - g)`` passes.
        review_passes: Full review passes over every item (>= 0).
        review_time_factor: Time of one review of an item / time of one pass.
        spot_check_rate: Share of items spot-checked, in [0, 1].
        spot_check_time_factor: Time of one spot check / time of one pass.
        conflict_rate: Share of items whose annotators disagree and need adjudication
            (used when ``annotators_per_item >= 2``; measured from the pilot when it has overlap).
        adjudication_time_factor: Time to adjudicate one item / time of one pass.
        rate_per_hour: Hourly rate of QA work (review, spot checks, adjudication);
            ``None`` uses ``pricing.rate_per_hour``.
    """

    annotators_per_item: int = 1
    gold_fraction: float = 0.0
    review_passes: float = 0.0
    review_time_factor: float = 0.3
    spot_check_rate: float = 0.0
    spot_check_time_factor: float = 0.5
    conflict_rate: float = 0.1
    adjudication_time_factor: float = 1.0
    rate_per_hour: float | None = None

    def __post_init__(self) -> None:
        _number("qa.annotators_per_item", self.annotators_per_item, lo=1, integer=True)
        _number("qa.gold_fraction", self.gold_fraction, hi=0.95)
        _number("qa.spot_check_rate", self.spot_check_rate, hi=1.0)
        _number("qa.conflict_rate", self.conflict_rate, hi=1.0)
        for name in ("review_passes", "review_time_factor", "spot_check_time_factor",
                     "adjudication_time_factor"):
            _number(f"qa.{name}", getattr(self, name))
        if self.rate_per_hour is not None:
            _number("qa.rate_per_hour", self.rate_per_hour)


@dataclass(frozen=True, slots=True, kw_only=True)
class Team:
    """Who does the work and how much of their day goes into it.

    Attributes:
        size: Annotators working in parallel (>= 1).
        hours_per_day: Paid hours per working day, in (0, 24].
        utilization: Share of paid hours spent labeling, in (0, 1].
        pre_annotation: Whether production items come with model predictions;
            the forecast then uses the pilot's time on pre-annotated items.
    """

    size: int = 1
    hours_per_day: float = 8.0
    utilization: float = 0.8
    pre_annotation: bool = False

    def __post_init__(self) -> None:
        _number("team.size", self.size, lo=1, integer=True)
        _number("team.hours_per_day", self.hours_per_day, lo=1e-9, hi=24.0)
        _number("team.utilization", self.utilization, lo=1e-9, hi=1.0)
        if not isinstance(self.pre_annotation, bool):
            raise ConfigError(f"team.pre_annotation: expected true or false, got {self.pre_annotation!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class InHouse:
    """Total cost of ownership of an in-house team, beyond its wages.

    Attributes:
        hiring_cost_per_person: Recruiting cost per annotator hired.
        training_hours_per_person: Paid onboarding hours per annotator (at the in-house rate).
        management_overhead: Management cost as a share of labour cost.
        tooling_per_month: Licences and infrastructure per month of the project.
        max_team_size: Annotators the organisation can staff.
    """

    hiring_cost_per_person: float = 1000.0
    training_hours_per_person: float = 16.0
    management_overhead: float = 0.15
    tooling_per_month: float = 500.0
    max_team_size: int = 10

    def __post_init__(self) -> None:
        for name in ("hiring_cost_per_person", "training_hours_per_person", "management_overhead",
                     "tooling_per_month"):
            _number(f"sourcing.in_house.{name}", getattr(self, name))
        _number("sourcing.in_house.max_team_size", self.max_team_size, lo=1, integer=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Vendor:
    """An outsourcing vendor: its price list and what it costs to work with.

    Attributes:
        pricing: The vendor's price list (a :class:`Pricing`, with ``minimum_charge``).
        setup_fee: One-off onboarding fee.
        management_overhead: Internal vendor management as a share of the vendor bill.
        team_size: Annotators the vendor puts on the project.
        time_factor: Vendor time per item / in-house time per item (unfamiliar domain > 1).
    """

    pricing: Pricing = field(default_factory=lambda: Pricing(model="per_hour", rate_per_hour=12.0))
    setup_fee: float = 0.0
    management_overhead: float = 0.1
    team_size: int = 20
    time_factor: float = 1.2

    def __post_init__(self) -> None:
        for name in ("setup_fee", "management_overhead", "time_factor"):
            _number(f"sourcing.vendor.{name}", getattr(self, name))
        _number("sourcing.vendor.team_size", self.team_size, lo=1, integer=True)


_DEFAULT_WEIGHTS = {"control": 1.0, "speed": 1.0, "cost": 2.0, "security": 1.0, "expertise": 1.0}
_DEFAULT_SCORES = {
    "in_house": {"control": 5.0, "security": 5.0, "expertise": 4.0},
    "vendor": {"control": 2.0, "security": 3.0, "expertise": 3.0},
    "hybrid": {"control": 4.0, "security": 4.0, "expertise": 4.0},
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Sourcing:
    """In-house vs vendor vs hybrid: cost inputs and the decision matrix.

    ``weights`` are the user's weights of the five criteria (>= 0, not all 0).
    ``scores`` are 1..5 judgements per option of ``control``, ``security`` and
    ``expertise``; ``cost`` and ``speed`` are scored from the computed total cost
    and calendar time (the best option gets 5, the others ``1 + 4 * best / theirs``).
    """

    in_house: InHouse = field(default_factory=InHouse)
    vendor: Vendor = field(default_factory=Vendor)
    hybrid_vendor_share: float = 0.5
    weights: Mapping[str, float] = field(default_factory=lambda: dict(_DEFAULT_WEIGHTS))
    scores: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: {k: dict(v) for k, v in _DEFAULT_SCORES.items()})

    def __post_init__(self) -> None:
        _number("sourcing.hybrid_vendor_share", self.hybrid_vendor_share, hi=1.0)
        w = _DEFAULT_WEIGHTS | dict(self.weights)
        _rates("sourcing.weights", w, known=CRITERIA)
        if sum(w.values()) <= 0:
            raise ConfigError(f"sourcing.weights: expected at least one weight > 0, got {w!r}")
        scores: dict[str, Mapping[str, float]] = {}
        for opt, s in self.scores.items():
            _choice("sourcing.scores", opt, SOURCING_OPTIONS)
            if not isinstance(s, Mapping):
                raise ConfigError(f"sourcing.scores.{opt}: expected a table of criterion = score, got {s!r}")
            merged = _DEFAULT_SCORES[opt] | dict(s)
            for k, v in merged.items():
                _choice(f"sourcing.scores.{opt} key", k, ("control", "security", "expertise"))
                _number(f"sourcing.scores.{opt}.{k}", v, lo=1.0, hi=5.0)
            scores[opt] = _frozen(merged)
        for opt in SOURCING_OPTIONS:
            scores.setdefault(opt, _frozen(_DEFAULT_SCORES[opt]))
        object.__setattr__(self, "weights", _frozen(w))
        object.__setattr__(self, "scores", _frozen(scores))


@dataclass(frozen=True, slots=True, kw_only=True)
class GateThresholds:
    """Thresholds of the pilot gate (go / revise guidelines).

    Attributes:
        min_agreement: Least acceptable inter-annotator agreement (Krippendorff's 0.667 by default).
        min_gold_score: Least acceptable mean score against gold, in [0, 1].
        max_hotspot_rate: Largest acceptable conflict rate of any one label or class.
        max_time_cv: Largest acceptable coefficient of variation of time per item
            (after outlier trimming); a larger spread means unclear guidelines.
        max_annotator_speed_ratio: Largest acceptable ratio slowest / fastest
            annotator median time per item.
        max_seconds_per_item: Time per item above which the task is too slow for the
            budget (``None``: not checked).
    """

    min_agreement: float = 0.667
    min_gold_score: float = 0.8
    max_hotspot_rate: float = 0.3
    max_time_cv: float = 1.0
    max_annotator_speed_ratio: float = 3.0
    max_seconds_per_item: float | None = None

    def __post_init__(self) -> None:
        _number("gate.min_agreement", self.min_agreement, lo=-1.0, hi=1.0)
        _number("gate.min_gold_score", self.min_gold_score, hi=1.0)
        _number("gate.max_hotspot_rate", self.max_hotspot_rate, hi=1.0)
        _number("gate.max_time_cv", self.max_time_cv)
        _number("gate.max_annotator_speed_ratio", self.max_annotator_speed_ratio, lo=1.0)
        if self.max_seconds_per_item is not None:
            _number("gate.max_seconds_per_item", self.max_seconds_per_item)


@dataclass(frozen=True, slots=True, kw_only=True)
class CostConfig:
    """A whole cost configuration; every part has defaults."""

    currency: str = "USD"
    pricing: Pricing = field(default_factory=Pricing)
    drivers: Drivers = field(default_factory=Drivers)
    qa: QAPlan = field(default_factory=QAPlan)
    team: Team = field(default_factory=Team)
    sourcing: Sourcing = field(default_factory=Sourcing)
    gate: GateThresholds = field(default_factory=GateThresholds)

    def __post_init__(self) -> None:
        if not isinstance(self.currency, str) or not self.currency.strip():
            raise ConfigError(f"currency: expected a currency code such as 'USD' or 'EUR', got {self.currency!r}")


def _section(cls: type[Any], table: Any, path: str) -> Any:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path}: expected a table ([{path}]), got {table!r}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; expected some of {sorted(known)}")
    kw = dict(table)
    for f in fields(cls):
        if f.name not in kw:
            continue
        v = kw[f.name]
        if "Mapping" in str(f.type) and not isinstance(v, Mapping):
            raise ConfigError(f"{path}.{f.name}: expected a table of name = number, got {v!r}")
        if str(f.type) in ("str", "PricingModel", "Expertise", "DataQuality") and not isinstance(v, str):
            raise ConfigError(f"{path}.{f.name}: expected a string, got {v!r}")
    return cls(**kw)


def config_from_dict(data: Mapping[str, Any]) -> CostConfig:
    """Build and validate a :class:`CostConfig` from a mapping shaped like the TOML file.

    Raises:
        ConfigError: an unknown section or key, or a value of the wrong type or range.
    """
    top = {"currency", "pricing", "drivers", "qa", "team", "sourcing", "gate"}
    unknown = sorted(set(data) - top)
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {unknown}; expected some of {sorted(top)}")
    kw: dict[str, Any] = {}
    if "currency" in data:
        kw["currency"] = data["currency"]
    for name, cls in (("pricing", Pricing), ("drivers", Drivers), ("qa", QAPlan), ("team", Team),
                      ("gate", GateThresholds)):
        if name in data:
            kw[name] = _section(cls, data[name], name)
    if "sourcing" in data:
        s = dict(data["sourcing"]) if isinstance(data["sourcing"], Mapping) else data["sourcing"]
        if isinstance(s, dict):
            if "in_house" in s:
                s["in_house"] = _section(InHouse, s["in_house"], "sourcing.in_house")
            if "vendor" in s:
                v = dict(s["vendor"]) if isinstance(s["vendor"], Mapping) else s["vendor"]
                if isinstance(v, dict) and "pricing" in v:
                    v["pricing"] = _section(Pricing, v["pricing"], "sourcing.vendor.pricing")
                s["vendor"] = _section(Vendor, v, "sourcing.vendor")
        kw["sourcing"] = _section(Sourcing, s, "sourcing")
    return CostConfig(**kw)


def load_config(path: str | Path) -> CostConfig:
    """Read a cost config from a TOML file (see ``pricing.example.toml``).

    Raises:
        ConfigError: the file is not UTF-8 or not valid TOML, or a key is unknown or invalid.
        OSError: the file cannot be read.
    """
    p = Path(path)
    data = loads_toml(p.read_bytes(), what=f"{p} (see accord/core/data/pricing.example.toml)")
    try:
        return config_from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from e
