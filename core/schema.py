"""Label schemas: what each label set (control) holds, so metrics know what they compare."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

from .errors import SchemaError

Kind: TypeAlias = Literal[
    "classification", "multilabel", "numeric", "text", "box", "polygon", "polyline", "mask",
    "keypoints", "span", "segment", "track", "cuboid",
]
Scale: TypeAlias = Literal["nominal", "ordinal", "interval", "ratio"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributeSpec:
    """A per-label attribute (CVAT attribute, LS per-region choice)."""

    name: str
    values: tuple[str, ...] = ()
    input_type: Literal["select", "radio", "checkbox", "text", "number"] = "select"
    mutable: bool = False
    default: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelSet:
    """One label set: the value kind it holds, the allowed labels, and how to compare them.

    Attributes:
        name: The control's name (LS ``name=``, CVAT task label group, ...).
        kind: The value kind every record in the set has.
        labels: Allowed labels, in order (the order is meaningful when ``scale`` is ordinal).
        scale: The level of measurement for agreement on classes or numbers.
        multiple: Whether one annotator may give several values per item.
        to_name: The data field the control annotates (LS ``toName``), when known.
        attributes: Per-label attribute specs.
        skeleton: For keypoints: the keypoint names of the skeleton, in order.
        tool_type: The tool's own tag/type name, for writing back (e.g. ``RectangleLabels``).
    """

    name: str
    kind: Kind
    labels: tuple[str, ...] = ()
    scale: Scale = "nominal"
    multiple: bool = False
    to_name: str | None = None
    attributes: Mapping[str, tuple[AttributeSpec, ...]] = field(
        default_factory=lambda: MappingProxyType({}))
    skeleton: tuple[str, ...] = ()
    tool_type: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not self.name:
            raise SchemaError("a label set needs a non-empty name")
        if len(set(self.labels)) != len(self.labels):
            dupes = sorted({lb for lb in self.labels if self.labels.count(lb) > 1})
            raise SchemaError(f"label set {self.name!r} lists labels twice: {dupes}")
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    def check_label(self, label: str) -> None:
        """Raise :class:`SchemaError` if ``label`` is not allowed (an empty list allows all)."""
        if self.labels and label not in self.labels:
            raise SchemaError(
                f"label {label!r} is not in label set {self.name!r}; allowed: {list(self.labels)}"
            )


@dataclass(frozen=True, slots=True)
class Schema:
    """All label sets of a project, by name."""

    label_sets: Mapping[str, LabelSet] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        for key, ls in self.label_sets.items():
            if key != ls.name:
                raise SchemaError(f"schema key {key!r} differs from its label set's name {ls.name!r}")
        object.__setattr__(self, "label_sets", MappingProxyType(dict(self.label_sets)))

    @classmethod
    def of(cls, *label_sets: LabelSet) -> Schema:
        names = [ls.name for ls in label_sets]
        if len(set(names)) != len(names):
            raise SchemaError(f"label set names must be unique, got {names}")
        return cls({ls.name: ls for ls in label_sets})

    def __getitem__(self, name: str) -> LabelSet:
        try:
            return self.label_sets[name]
        except KeyError:
            raise SchemaError(
                f"no label set named {name!r}; the schema has {sorted(self.label_sets)}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self.label_sets

    def merged(self, other: Schema) -> Schema:
        """Label sets of both; ``other`` wins on a name clash."""
        return Schema({**self.label_sets, **other.label_sets})


def label_set_to_dict(ls: LabelSet) -> dict[str, Any]:
    return {
        "name": ls.name, "kind": ls.kind, "labels": list(ls.labels), "scale": ls.scale,
        "multiple": ls.multiple, "to_name": ls.to_name, "skeleton": list(ls.skeleton),
        "tool_type": ls.tool_type,
        "attributes": {k: [{"name": a.name, "values": list(a.values), "input_type": a.input_type,
                            "mutable": a.mutable, "default": a.default} for a in v]
                       for k, v in ls.attributes.items()},
        "extra": dict(ls.extra),
    }


def label_set_from_dict(d: Mapping[str, Any]) -> LabelSet:
    try:
        return LabelSet(
            name=d["name"], kind=d["kind"], labels=tuple(d.get("labels", ())),
            scale=d.get("scale", "nominal"), multiple=bool(d.get("multiple", False)),
            to_name=d.get("to_name"), skeleton=tuple(d.get("skeleton", ())),
            tool_type=d.get("tool_type"),
            attributes={k: tuple(AttributeSpec(name=a["name"], values=tuple(a.get("values", ())),
                                               input_type=a.get("input_type", "select"),
                                               mutable=bool(a.get("mutable", False)),
                                               default=a.get("default")) for a in v)
                        for k, v in (d.get("attributes") or {}).items()},
            extra=d.get("extra") or {},
        )
    except KeyError as e:
        raise SchemaError(f"a label set needs {e.args[0]!r}; got keys {sorted(d)}") from e
