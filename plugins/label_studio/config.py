"""Label Studio labeling config (``<View>`` XML) -> :class:`~accord.core.schema.Schema`.

Each control tag becomes one label set named by its ``name=``; the tag decides the
value kind through :data:`CONTROL_KINDS` (a lookup table, not a chain of ifs).
``Labels`` is a span over ``Text``/``HyperText``/``Paragraphs`` and a segment over
``Audio``; a ``Labels`` over a ``Video`` supplies the labels of the ``VideoRectangle``
on the same video. Tags accord does not know are listed in
:attr:`LabelConfig.unsupported` and skipped, never fatal.

Configs come from whoever calls the ML backend, so parsing is bounded: at most
:data:`MAX_CONFIG_CHARS` characters and :data:`MAX_LABELS` labels, ``maxRating`` at
most :data:`MAX_RATING`, no ``<!DOCTYPE>``/entities, and time linear in the size.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from accord.core.errors import ConversionError, SchemaError
from accord.core.schema import Kind, LabelSet, Scale, Schema

#: the longest labeling config accepted (characters); big taxonomies are a few hundred KB.
MAX_CONFIG_CHARS = 2_000_000
#: the most labels (``Choice``/``Label`` values, rating steps) over all controls of one config.
MAX_LABELS = 50_000
#: the largest ``maxRating`` of a ``Rating`` (Label Studio draws one star per step).
MAX_RATING = 100
_FEED_CHARS = 32_768

#: control tag (lower case) -> (value kind, scale); ``None`` kind: decided by the object tag.
CONTROL_KINDS: dict[str, tuple[Kind | None, Scale]] = {
    "choices": ("classification", "nominal"),
    "taxonomy": ("classification", "nominal"),
    "rating": ("numeric", "ordinal"),
    "number": ("numeric", "interval"),
    "rectanglelabels": ("box", "nominal"),
    "rectangle": ("box", "nominal"),
    "polygonlabels": ("polygon", "nominal"),
    "polygon": ("polygon", "nominal"),
    "keypointlabels": ("keypoints", "nominal"),
    "keypoint": ("keypoints", "nominal"),
    "brushlabels": ("mask", "nominal"),
    "brush": ("mask", "nominal"),
    "labels": (None, "nominal"),
    "hypertextlabels": ("span", "nominal"),
    "paragraphlabels": ("span", "nominal"),
    "textarea": ("text", "nominal"),
    "videorectangle": ("track", "nominal"),
}
#: object tags (lower case) -> kind of a ``Labels`` control pointing at them.
_LABELS_OVER: dict[str, Kind] = {
    "text": "span", "hypertext": "span", "paragraphs": "span",
    "audio": "segment", "audioplus": "segment",
}
_OBJECT_TAGS = frozenset({"text", "hypertext", "paragraphs", "audio", "audioplus", "image", "video",
                          "timeseries", "table", "header", "view", "style", "html", "pdf", "markdown",
                          "filter", "collapse", "label", "choice", "relation", "relations", "path",
                          "channel", "timeserieschannel", "repeater"})
#: the tag names Label Studio uses in result ``type`` for each control, when writing back.
TOOL_TYPES: dict[str, str] = {
    "rectanglelabels": "rectanglelabels", "rectangle": "rectangle", "polygonlabels": "polygonlabels",
    "polygon": "polygon", "keypointlabels": "keypointlabels", "keypoint": "keypoint",
    "brushlabels": "brushlabels", "brush": "brush", "labels": "labels", "hypertextlabels": "hypertextlabels",
    "paragraphlabels": "paragraphlabels", "textarea": "textarea", "videorectangle": "videorectangle",
    "choices": "choices", "taxonomy": "taxonomy", "rating": "rating", "number": "number",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelConfig:
    """A parsed labeling config: the schema, object tags by name, and what was skipped.

    Attributes:
        schema: One label set per supported control tag.
        objects: Object tag name -> tag (lower case), e.g. ``{"image": "image"}``.
        unsupported: ``"Tag name=..."`` for each control tag that was skipped.
    """

    schema: Schema
    objects: dict[str, str]
    unsupported: tuple[str, ...]


def _labels_of(el: ET.Element, child: str) -> tuple[str, ...]:
    out: dict[str, None] = {}  # ordered and O(1) membership: linear in the number of labels
    for c in el.iter():
        if c is not el and c.tag.lower() == child and c.get("value") is not None:
            out.setdefault(c.get("value") or "", None)
    return tuple(out)


def parse_xml(xml: str, *, max_chars: int = MAX_CONFIG_CHARS) -> ET.Element:
    """The root element of a labeling config, within the size limit and without DTDs.

    Raises:
        ConversionError: not a string, too long, a ``<!DOCTYPE>``/``<!ENTITY>``, or not XML
        (the message gives the line and column, not the parser's text).
    """
    if not isinstance(xml, str):
        raise ConversionError(f"the labeling config must be an XML string, got {type(xml).__name__}",
                              field="label_config")
    if len(xml) > max_chars:
        raise ConversionError(f"the labeling config has {len(xml)} characters, more than the limit of "
                              f"{max_chars}; shorten it (or raise the limit: --max-config-chars)",
                              field="label_config")
    if "<!DOCTYPE" in xml.upper() or "<!ENTITY" in xml.upper():
        raise ConversionError("the labeling config contains a <!DOCTYPE> or <!ENTITY>; Label Studio configs "
                              "need neither: remove it", field="label_config")
    try:
        # Fed in slices, not in one C call: a server thread parsing a big config lets the
        # others (and the event loop) run between slices instead of holding the GIL throughout.
        parser = ET.XMLParser()
        for i in range(0, len(xml), _FEED_CHARS):
            parser.feed(xml[i:i + _FEED_CHARS])
        root: ET.Element = parser.close()
        return root
    except ET.ParseError as e:
        line, col = getattr(e, "position", (0, 0))
        raise ConversionError(f"the labeling config is not valid XML (line {line}, column {col}); pass the "
                              "project's label_config string (it starts with <View>)", field="label_config") from e


def _number(el: ET.Element, attr: str, default: str | None = None) -> float | None:
    raw = el.get(attr, default)
    if raw is None:
        return None
    try:
        v = float(raw)
    except ValueError:
        v = math.nan
    if not math.isfinite(v):
        raise ConversionError(f"<{el.tag} name={el.get('name')!r}> has {attr}={raw[:40]!r}; expected a finite "
                              f"number such as {attr}=\"5\"", field="label_config")
    return v


def parse_label_config_full(xml: str, *, max_chars: int = MAX_CONFIG_CHARS, max_labels: int = MAX_LABELS,
                            max_rating: int = MAX_RATING) -> LabelConfig:
    """Parse a labeling config; see :class:`LabelConfig`.

    Args:
        xml: The ``<View>`` config.
        max_chars: Longest config accepted.
        max_labels: Most labels over all controls.
        max_rating: Largest ``maxRating`` of a ``Rating``.

    Raises:
        ConversionError: the text is not XML, a limit is passed, a control has no ``name``,
        or a numeric attribute (``maxRating``, ``min``/``max``/``step``) is not a number.
    """
    root = parse_xml(xml, max_chars=max_chars)
    n_labels = 0
    objects: dict[str, str] = {}
    for el in root.iter():
        tag = el.tag.lower()
        if tag in _LABELS_OVER or tag in ("image", "video", "paragraphs", "timeseries"):
            name = el.get("name")
            if name:
                objects[name] = tag
    sets: list[LabelSet] = []
    unsupported: list[str] = []
    video_labels: dict[str, tuple[str, ...]] = {}
    pending_video: list[ET.Element] = []
    for el in root.iter():
        tag = el.tag.lower()
        name = el.get("name")
        to_name = el.get("toName")
        if tag not in CONTROL_KINDS:
            if tag not in _OBJECT_TAGS and name and to_name:
                unsupported.append(f"{el.tag} name={name!r}")
            continue
        if not name:
            raise ConversionError(f"control <{el.tag}> has no name=; every control needs one",
                                  field="label_config")
        kind, scale = CONTROL_KINDS[tag]
        first_to = (to_name or "").split(",")[0]
        target = objects.get(first_to, "")
        if kind is None:
            if target == "video":
                video_labels[first_to] = _labels_of(el, "label")
                continue
            if target not in _LABELS_OVER:
                unsupported.append(f"{el.tag} name={name!r} over <{target or '?'}>")
                continue
            kind = _LABELS_OVER[target]
        if tag == "videorectangle":
            pending_video.append(el)
            continue
        labels: tuple[str, ...] = ()
        extra: dict[str, Any] = {}
        multiple = kind in ("box", "polygon", "polyline", "mask", "keypoints", "span", "segment", "track")
        if tag in ("choices", "taxonomy"):
            labels = _labels_of(el, "choice")
            if tag == "choices" and el.get("choice", "single") in ("multiple",):
                kind = "multilabel"
            if tag == "taxonomy":
                extra["taxonomy"] = True
                multiple = True
        elif tag == "rating":
            top = _number(el, "maxRating", "5") or 0.0
            if top != int(top) or not 1 <= top <= max_rating:
                raise ConversionError(f"<{el.tag} name={name!r}> has maxRating={el.get('maxRating')!r}; expected "
                                      f"a whole number from 1 to {max_rating}", field="label_config")
            extra["max"] = int(top)
            labels = tuple(str(i) for i in range(1, extra["max"] + 1))
        elif tag == "number":
            for k in ("min", "max", "step"):
                v = _number(el, k)
                if v is not None:
                    extra[k] = v
        elif tag == "textarea":
            extra["per_region"] = el.get("perRegion", "false").lower() == "true"
        else:
            labels = _labels_of(el, "label")
        n_labels += len(labels)
        if n_labels > max_labels:
            raise ConversionError(f"the labeling config has more than {max_labels} labels; split the project "
                                  "or shorten the label lists", field="label_config")
        if tag in ("choices", "rating", "number", "textarea") and el.get("perRegion", "false").lower() == "true":
            extra["per_region"] = True
        if target == "paragraphs":
            extra["paragraphs"] = True
        try:
            sets.append(LabelSet(name=name, kind=kind, labels=labels, scale=scale, multiple=multiple,
                                 to_name=to_name, tool_type=TOOL_TYPES[tag], extra=extra))
        except SchemaError as e:
            raise ConversionError(f"control {name!r}: {e}", field="label_config") from e
    for el in pending_video:
        to_name = el.get("toName") or ""
        sets.append(LabelSet(name=el.get("name") or "", kind="track", labels=video_labels.get(to_name, ()),
                             multiple=True, to_name=to_name, tool_type="videorectangle"))
    try:
        schema = Schema.of(*sets)
    except SchemaError as e:
        raise ConversionError(f"the labeling config is inconsistent: {e}", field="label_config") from e
    return LabelConfig(schema=schema, objects=objects, unsupported=tuple(unsupported))


def parse_label_config(xml: str) -> Schema:
    """The :class:`Schema` of a Label Studio labeling config (unsupported tags skipped).

    Example:
        >>> s = parse_label_config('<View><Text name="t" value="$text"/>'
        ...     '<Choices name="c" toName="t"><Choice value="A"/><Choice value="B"/></Choices></View>')
        >>> s["c"].kind, s["c"].labels
        ('classification', ('A', 'B'))
    """
    return parse_label_config_full(xml).schema
