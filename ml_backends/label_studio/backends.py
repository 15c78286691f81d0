"""What the server runs: models that read a labeling config, learn from tasks, and answer LS regions.

A *backend* (:class:`Backend`) is loaded once per worker process. ``train`` turns
annotated tasks into a picklable fitted object (stored per project and version);
``predict`` turns a batch of tasks into Label Studio predictions, one per task,
or ``None`` for a task it has nothing to say about.

:data:`BACKENDS` maps ``--model NAME`` to a factory.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from accord.core.errors import AccordError, ConversionError
from accord.ml_backends.text_models import SpanTagger, Strategy, TextClassifier
from accord.plugins.label_studio.config import parse_label_config_full

TargetKind = Literal["choices", "labels"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One control tag the text backend fills: a ``Choices`` or ``Labels`` over a ``Text``."""

    control: str
    kind: TargetKind
    to_name: str
    data_key: str
    labels: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingTask:
    """A task's data and the result list of its chosen annotation."""

    task_id: str
    data: Mapping[str, Any]
    result: Sequence[Mapping[str, Any]]


class Backend(Protocol):
    """A pre-annotation model family served to Label Studio."""

    name: str

    def train(self, tasks: Sequence[TrainingTask], label_config: str) -> Any | None:
        """A picklable fitted model, or None when the tasks teach nothing (nothing to save)."""

    def predict(self, fitted: Any | None, tasks: Sequence[Mapping[str, Any]], label_config: str, *,
                context: Mapping[str, Any] | None = None,
                fetch: Callable[[str], bytes] | None = None) -> list[tuple[list[dict[str, Any]], float] | None]:
        """Per task ``(result regions, task score)`` or None; same length and order as ``tasks``."""


def _object_keys(xml: str) -> dict[str, str]:
    """Object tag name -> task data key (``value="$text"`` -> ``text``)."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as e:
        raise ConversionError(f"the labeling config is not valid XML: {e}", field="label_config") from e
    out: dict[str, str] = {}
    for el in root.iter():
        name, value = el.get("name"), el.get("value")
        if name and value and value.startswith("$"):
            out[name] = value[1:]
    return out


@functools.lru_cache(maxsize=64)
def text_targets(label_config: str) -> tuple[Target, ...]:
    """The ``Choices``/``Labels`` controls over ``Text``-like objects that the text backend can fill.

    Cached per config string: Label Studio sends the same config with every batch.

    Raises:
        ConversionError: the config is not valid XML.
    """
    cfg = parse_label_config_full(label_config)
    keys = _object_keys(label_config)
    out: list[Target] = []
    for ls in cfg.schema.label_sets.values():
        to_name = (ls.to_name or "").split(",")[0]
        if cfg.objects.get(to_name) not in ("text", "hypertext") or to_name not in keys:
            continue
        if ls.tool_type == "choices" and ls.kind in ("classification", "multilabel"):
            kind: TargetKind = "choices"
        elif ls.tool_type == "labels" and ls.kind == "span":
            kind = "labels"
        else:
            continue
        out.append(Target(control=ls.name, kind=kind, to_name=to_name, data_key=keys[to_name], labels=ls.labels))
    return tuple(out)


@dataclass(slots=True, kw_only=True)
class TextModel:
    """The fitted state of :class:`TextBackend` for one project (pickled per version)."""

    classifiers: dict[str, TextClassifier] = field(default_factory=dict)
    taggers: dict[str, SpanTagger] = field(default_factory=dict)


def _text_of(data: Mapping[str, Any], key: str) -> str | None:
    v = data.get(key)
    return v if isinstance(v, str) else None


class TextBackend:
    """Text classification (``Choices``) and NER (``Labels``) over ``Text``; see :mod:`..text_models`."""

    name = "text"

    def __init__(self, *, strategy: Strategy = "least_confidence") -> None:
        self.strategy: Strategy = strategy

    def train(self, tasks: Sequence[TrainingTask], label_config: str) -> TextModel | None:
        """Fit one model per target control on the tasks that annotate it; None if none has data."""
        model = TextModel()
        for t in text_targets(label_config):
            if t.kind == "choices":
                texts, labels = [], []
                for task in tasks:
                    text = _text_of(task.data, t.data_key)
                    for r in task.result:
                        choices = (r.get("value") or {}).get("choices") if r.get("from_name") == t.control else None
                        if text is not None and choices:
                            texts.append(text)
                            labels.append(str(choices[0]))
                            break
                clf = TextClassifier(strategy=self.strategy).fit(texts, labels)
                if not clf.is_cold:
                    model.classifiers[t.control] = clf
            else:
                texts, spans = [], []
                for task in tasks:
                    text = _text_of(task.data, t.data_key)
                    if text is None:
                        continue
                    sp: list[tuple[int, int, str]] = []
                    seen = False
                    for r in task.result:
                        if r.get("from_name") != t.control:
                            continue
                        v = r.get("value") or {}
                        seen = True
                        try:
                            start, end = int(v["start"]), int(v["end"])
                            label = str((v.get("labels") or [""])[0])
                        except (KeyError, TypeError, ValueError):
                            continue
                        if label and 0 <= start < end <= len(text):
                            sp.append((start, end, label))
                    if seen or task.result:
                        texts.append(text)
                        spans.append(sp)
                tagger = SpanTagger(strategy=self.strategy).fit(texts, spans)
                if not tagger.is_cold:
                    model.taggers[t.control] = tagger
        if not model.classifiers and not model.taggers:
            return None
        return model

    def predict(self, fitted: Any | None, tasks: Sequence[Mapping[str, Any]], label_config: str, *,
                context: Mapping[str, Any] | None = None,
                fetch: Callable[[str], bytes] | None = None) -> list[tuple[list[dict[str, Any]], float] | None]:
        """Regions and a task score (min confidence over the filled controls) per task."""
        targets = text_targets(label_config)
        model = fitted if isinstance(fitted, TextModel) else TextModel()
        out: list[tuple[list[dict[str, Any]], float] | None] = [None] * len(tasks)
        ctx_regions = [r for r in (context or {}).get("result", []) or [] if isinstance(r, dict)]
        for t in targets:
            allowed = set(t.labels)
            texts = [_text_of(task.get("data") or {}, t.data_key) for task in tasks]
            clf = model.classifiers.get(t.control)
            tagger = model.taggers.get(t.control)
            preds: list[tuple[list[dict[str, Any]], float] | None] = [None] * len(tasks)
            if t.kind == "choices" and clf is not None and not clf.is_cold:
                idx = [i for i, x in enumerate(texts) if x is not None]
                for i, p in zip(idx, clf.predict([texts[i] or "" for i in idx]), strict=True):
                    if allowed and p.label not in allowed:
                        continue
                    preds[i] = ([{"from_name": t.control, "to_name": t.to_name, "type": "choices",
                                  "value": {"choices": [p.label]}, "score": p.probability}], p.score)
            elif t.kind == "labels":
                for i, text in enumerate(texts):
                    if text is None:
                        continue
                    regions = _interactive_spans(t, text, ctx_regions) if ctx_regions else []
                    if not regions and tagger is not None and not tagger.is_cold:
                        regions = [{"from_name": t.control, "to_name": t.to_name, "type": "labels",
                                    "value": {"start": s.start, "end": s.end, "text": s.text, "labels": [s.label]},
                                    "score": s.score}
                                   for s in tagger.predict(text) if not allowed or s.label in allowed]
                        preds[i] = (regions, tagger.score_text(text))
                    elif regions:
                        preds[i] = (regions, min(float(r["score"]) for r in regions))
            for i, p in enumerate(preds):
                if p is None:
                    continue
                prev = out[i]
                out[i] = p if prev is None else (prev[0] + p[0], min(prev[1], p[1]))
        return out


def _interactive_spans(t: Target, text: str, ctx: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Interactive mode: every occurrence of the span text(s) the annotator just labeled."""
    regions: list[dict[str, Any]] = []
    for r in ctx:
        v = r.get("value") or {}
        if r.get("from_name") != t.control or not v.get("labels"):
            continue
        needle = v.get("text")
        if not isinstance(needle, str) and isinstance(v.get("start"), int) and isinstance(v.get("end"), int):
            needle = text[v["start"]:v["end"]]
        if not isinstance(needle, str) or not needle.strip():
            continue
        start = text.find(needle)
        while start >= 0:
            regions.append({"from_name": t.control, "to_name": t.to_name, "type": "labels",
                            "value": {"start": start, "end": start + len(needle), "text": needle,
                                      "labels": [str(v["labels"][0])]}, "score": 1.0})
            start = text.find(needle, start + len(needle))
    return regions


def decode_image(data: bytes) -> Any:
    """``H x W x 3`` uint8 RGB array from encoded image bytes (Pillow).

    Raises:
        AccordError: Pillow is missing, or the bytes are not an image.
    """
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as e:
        raise AccordError("Pillow is needed to read images; install it with: pip install 'accord[serve]'") from e
    import io

    import numpy as np

    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise AccordError(f"the task's file is not an image Pillow can read: {e}") from e


class ImageBackend:
    """Boxes from an image :class:`~accord.ml_backends.predictors.Predictor` for ``RectangleLabels`` over ``Image``.

    Not trainable: ``train`` returns None and the version stays ``image-v0``. A
    predictor label fills the config label of the same name; when the control has a
    single label, every box gets it. The task score is the least confident box's
    score (0.0 when nothing is found: look at that image first).
    """

    name = "image"

    def __init__(self, predictor: Any = None) -> None:
        from accord.ml_backends.predictors import get_predictor

        self.predictor = predictor if predictor is not None else get_predictor("contours", kinds="box")

    def train(self, tasks: Sequence[TrainingTask], label_config: str) -> None:
        """Nothing to learn: the predictor is fixed."""
        return None

    def predict(self, fitted: Any | None, tasks: Sequence[Mapping[str, Any]], label_config: str, *,
                context: Mapping[str, Any] | None = None,
                fetch: Callable[[str], bytes] | None = None) -> list[tuple[list[dict[str, Any]], float] | None]:
        """Rectangle regions in Label Studio percent, per task."""
        from accord.plugins.label_studio.convert import pixels_to_ls_box

        cfg = parse_label_config_full(label_config)
        keys = _object_keys(label_config)
        controls = [ls for ls in cfg.schema.label_sets.values() if ls.tool_type in ("rectanglelabels", "rectangle")
                    and cfg.objects.get((ls.to_name or "").split(",")[0]) == "image"]
        out: list[tuple[list[dict[str, Any]], float] | None] = [None] * len(tasks)
        if not controls:
            return out
        if fetch is None:
            raise AccordError("the image backend needs a file fetcher; it is given by the server")
        for i, task in enumerate(tasks):
            regions: list[dict[str, Any]] = []
            for ls in controls:
                to_name = (ls.to_name or "").split(",")[0]
                ref = (task.get("data") or {}).get(keys.get(to_name, ""))
                if not isinstance(ref, str):
                    continue
                img = decode_image(fetch(ref))
                h, w = int(img.shape[0]), int(img.shape[1])
                for p in self.predictor.predict(img):
                    if p.kind != "box" or len(p.points) != 2:
                        continue
                    label = p.label if p.label in ls.labels else (ls.labels[0] if len(ls.labels) == 1 else None)
                    if label is None:
                        continue
                    (x1, y1), (x2, y2) = p.points
                    x, y, bw, bh = pixels_to_ls_box(x1, y1, x2 - x1, y2 - y1, 0.0, w, h)
                    regions.append({"from_name": ls.name, "to_name": to_name, "type": "rectanglelabels",
                                    "original_width": w, "original_height": h, "image_rotation": 0,
                                    "value": {"x": x, "y": y, "width": bw, "height": bh, "rotation": 0,
                                              "rectanglelabels": [label]}, "score": float(p.score)})
            out[i] = (regions, min((float(r["score"]) for r in regions), default=0.0))
        return out


BACKENDS: dict[str, Callable[[], Backend]] = {"text": TextBackend, "image": ImageBackend}


def make_backend(name: str) -> Backend:
    """The backend registered as ``name``.

    Raises:
        AccordError: unknown name (the message lists the known ones).
    """
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise AccordError(f"unknown model {name!r}; known models: {sorted(BACKENDS)}") from None
    return factory()
