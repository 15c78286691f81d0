"""What the server runs: models that read a labeling config, learn from tasks, and answer LS regions.

A *backend* (:class:`Backend`) is loaded once per worker process. ``train`` turns
annotated tasks into a picklable fitted object (stored per project and version);
``predict`` turns a batch of tasks into Label Studio predictions, one per task,
or ``None`` for a task it has nothing to say about.

:data:`BACKENDS` maps ``--model NAME`` to a factory; any other name registered in
:mod:`accord.ml_backends.predictors` (``contours``, ``onnx``, ``hog-person``,
``haar-face``, ...) serves that predictor through :class:`ImageBackend`.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from accord.core.errors import AccordError, ConversionError
from accord.ml_backends.text_models import (
    STRATEGIES,
    MultiLabelTextClassifier,
    SpanTagger,
    Strategy,
    TextClassifier,
)
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
    multiple: bool = False


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
        out.append(Target(control=ls.name, kind=kind, to_name=to_name, data_key=keys[to_name], labels=ls.labels,
                          multiple=kind == "choices" and ls.kind == "multilabel"))
    return tuple(out)


@dataclass(slots=True, kw_only=True)
class TextModel:
    """The fitted state of :class:`TextBackend` for one project (pickled per version)."""

    classifiers: dict[str, TextClassifier] = field(default_factory=dict)
    taggers: dict[str, SpanTagger] = field(default_factory=dict)
    multilabel: dict[str, MultiLabelTextClassifier] = field(default_factory=dict)


def _text_of(data: Mapping[str, Any], key: str) -> str | None:
    v = data.get(key)
    return v if isinstance(v, str) else None


class TextBackend:
    """Text classification (``Choices``) and NER (``Labels``) over ``Text``; see :mod:`..text_models`.

    A ``Choices`` with ``choice="multiple"`` gets a one-vs-rest model
    (:class:`~accord.ml_backends.text_models.MultiLabelTextClassifier`) and is answered
    with every choice whose probability is at least ``multilabel_threshold``.
    """

    name = "text"

    def __init__(self, *, strategy: Strategy = "least_confidence", multilabel_threshold: float = 0.5) -> None:
        if strategy not in STRATEGIES:
            raise AccordError(f"unknown uncertainty strategy {strategy!r}; use one of {STRATEGIES}")
        if not 0.0 < multilabel_threshold < 1.0:
            raise AccordError(f"multilabel_threshold must be in (0, 1), got {multilabel_threshold!r}")
        self.strategy: Strategy = strategy
        self.multilabel_threshold = multilabel_threshold

    def train(self, tasks: Sequence[TrainingTask], label_config: str) -> TextModel | None:
        """Fit one model per target control on the tasks that annotate it; None if none has data."""
        model = TextModel()
        for t in text_targets(label_config):
            if t.kind == "choices" and t.multiple:
                texts, sets = [], []
                for task in tasks:
                    text = _text_of(task.data, t.data_key)
                    found = [r for r in task.result if r.get("from_name") == t.control]
                    if text is None or not found:
                        continue  # a task that does not annotate this control says nothing about it
                    texts.append(text)
                    sets.append({str(c) for r in found for c in ((r.get("value") or {}).get("choices") or [])})
                ml = MultiLabelTextClassifier(threshold=self.multilabel_threshold).fit(texts, sets)
                if not ml.is_cold:
                    model.multilabel[t.control] = ml
            elif t.kind == "choices":
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
        if not model.classifiers and not model.taggers and not model.multilabel:
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
            ml = getattr(model, "multilabel", {}).get(t.control)  # absent in models pickled before multi-label
            preds: list[tuple[list[dict[str, Any]], float] | None] = [None] * len(tasks)
            if t.kind == "choices" and t.multiple and ml is not None and not ml.is_cold:
                idx = [i for i, x in enumerate(texts) if x is not None]
                for i, m in zip(idx, ml.predict([texts[i] or "" for i in idx]), strict=True):
                    chosen = [c for c, v in m.probabilities.items()
                              if v >= self.multilabel_threshold and (not allowed or c in allowed)]
                    # nothing above the threshold: no region, but the score still sorts the task
                    regions = [{"from_name": t.control, "to_name": t.to_name, "type": "choices",
                                "value": {"choices": chosen}, "score": m.score}] if chosen else []
                    preds[i] = (regions, m.score)
            elif t.kind == "choices" and not t.multiple and clf is not None and not clf.is_cold:
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


#: Label Studio control tag -> the predictor geometry that fills it (a lookup table, not an if-chain).
IMAGE_CONTROLS: Mapping[str, str] = {
    "rectanglelabels": "box", "rectangle": "box",
    "polygonlabels": "polygon", "polygon": "polygon",
    "keypointlabels": "keypoints", "keypoint": "keypoints",
}


def _pick_label(candidates: Sequence[str], allowed: tuple[str, ...]) -> str | None:
    """The first candidate the control allows; the control's only label; any name for a bare control."""
    if not allowed:
        return candidates[0] if candidates else None
    found = next((c for c in candidates if c in allowed), None)
    return found if found is not None else (allowed[0] if len(allowed) == 1 else None)


def _records_for(p: Any, control: Any, item_id: str, info: Any) -> list[Any]:
    """accord records for one predictor output filling one control (empty when the labels do not fit)."""
    from accord.core.model import Box, Keypoint, Keypoints, Polygon, Record

    def rec(value: Any) -> Any:
        return Record(item_id=item_id, annotator_id="model:accord", label_set=control.name, value=value,
                      source="model", score=float(p.score))

    if p.kind == "box" and len(p.points) == 2:
        label = _pick_label([p.label], control.labels)
        (x1, y1), (x2, y2) = p.points
        return [] if label is None else [rec(Box(label=label, x=x1, y=y1, width=x2 - x1, height=y2 - y1))]
    if p.kind == "polygon" and len(p.points) >= 3:
        label = _pick_label([p.label], control.labels)
        return [] if label is None else [rec(Polygon(label=label, points=p.points))]
    if p.kind == "keypoints":
        # Label Studio has one region per point: each point takes its own keypoint name as its label
        # when the control has it (KeyPointLabels "nose", "left_eye", ...), else the skeleton's label.
        names = info.keypoints if info is not None and len(info.keypoints) == len(p.points) else ()
        out = []
        for k, (x, y) in enumerate(p.points):
            cands = [names[k], p.label] if names else [p.label]
            label = _pick_label(cands, control.labels)
            if label is not None:
                out.append(rec(Keypoints(label=label, points=(Keypoint(name=names[k] if names else label,
                                                                       x=float(x), y=float(y)),))))
        return out
    return []


class ImageBackend:
    """Regions from an image :class:`~accord.ml_backends.predictors.Predictor`, for controls over ``Image``.

    Fills ``RectangleLabels`` (boxes), ``PolygonLabels`` (polygons) and ``KeyPointLabels``
    (keypoints; one Label Studio region per point, ``x``/``y`` in percent and
    ``width`` the point size) -- see :data:`IMAGE_CONTROLS`. Regions are written by
    :func:`accord.plugins.label_studio.convert.to_label_studio_prediction`, the same
    converter that writes every other accord prediction.

    A predictor label fills the config label of the same name; when the control has a
    single label, every region gets it. A keypoint takes its keypoint name as label when
    the control has that name. Not trainable: ``train`` returns None and the version
    stays ``<name>-v0``. The task score is the least confident region's score (0.0 when
    nothing is found: look at that image first).

    Args:
        predictor: The model (default: the ``contours`` baseline with boxes, polygons
            and extent keypoints).
        name: The model family name (the ``model_version`` prefix).
    """

    def __init__(self, predictor: Any = None, *, name: str = "image") -> None:
        from accord.ml_backends.predictors import get_predictor

        self.predictor = predictor if predictor is not None else get_predictor("contours",
                                                                               kinds="box,polygon,keypoints")
        self.name = name

    def train(self, tasks: Sequence[TrainingTask], label_config: str) -> None:
        """Nothing to learn: the predictor is fixed."""
        return None

    def predict(self, fitted: Any | None, tasks: Sequence[Mapping[str, Any]], label_config: str, *,
                context: Mapping[str, Any] | None = None,
                fetch: Callable[[str], bytes] | None = None) -> list[tuple[list[dict[str, Any]], float] | None]:
        """Regions in Label Studio percent, per task."""
        from accord.plugins.label_studio.convert import to_label_studio_prediction

        cfg = parse_label_config_full(label_config)
        keys = _object_keys(label_config)
        controls = [ls for ls in cfg.schema.label_sets.values() if (ls.tool_type or "") in IMAGE_CONTROLS
                    and cfg.objects.get((ls.to_name or "").split(",")[0]) == "image"]
        out: list[tuple[list[dict[str, Any]], float] | None] = [None] * len(tasks)
        if not controls:
            return out
        if fetch is None:
            raise AccordError("the image backend needs a file fetcher; it is given by the server")
        infos = {(i.name, i.kind): i for i in self.predictor.labels}
        for i, task in enumerate(tasks):
            regions: list[dict[str, Any]] = []
            item_id = str(task.get("id", i))
            by_image: dict[str, list[Any]] = {}
            for ls in controls:
                to_name = (ls.to_name or "").split(",")[0]
                ref = (task.get("data") or {}).get(keys.get(to_name, ""))
                if not isinstance(ref, str):
                    continue
                if ref not in by_image:  # one fetch and one inference per image, however many controls
                    img = decode_image(fetch(ref))
                    by_image[ref] = [img, self.predictor.predict(img)]
                img, preds = by_image[ref]
                want = IMAGE_CONTROLS[ls.tool_type or ""]
                records = [r for p in preds if p.kind == want
                           for r in _records_for(p, ls, item_id, infos.get((p.label, p.kind)))]
                if records:
                    h, w = int(img.shape[0]), int(img.shape[1])
                    regions += to_label_studio_prediction(records, cfg.schema, model_version=self.name,
                                                          width=w, height=h)["result"]
            for k, r in enumerate(regions):
                r["id"] = f"{item_id}-{k}"  # unique within the task across controls
            out[i] = (regions, min((float(r["score"]) for r in regions), default=0.0))
        return out


def _predictor_backend(name: str) -> Callable[..., Backend]:
    def factory(**params: Any) -> Backend:
        from accord.ml_backends.predictors import get_predictor

        return ImageBackend(get_predictor(name, **params), name=name)

    return factory


def _image_backend(**params: Any) -> Backend:
    from accord.ml_backends.predictors import get_predictor

    predictor = params.pop("predictor", None)
    if predictor is None and not params:
        return ImageBackend()
    return ImageBackend(get_predictor(str(predictor or "contours"), **params), name="image")


def _text_backend(**params: Any) -> Backend:
    unknown = set(params) - {"strategy", "multilabel_threshold"}
    if unknown:
        raise AccordError(f"the text model takes strategy= and multilabel_threshold=, got {sorted(unknown)}")
    kw: dict[str, Any] = {}
    if "strategy" in params:
        kw["strategy"] = str(params["strategy"])
    if "multilabel_threshold" in params:
        try:
            kw["multilabel_threshold"] = float(params["multilabel_threshold"])
        except (TypeError, ValueError) as e:
            raise AccordError(f"multilabel_threshold must be a number in (0, 1), got "
                              f"{params['multilabel_threshold']!r}") from e
    return TextBackend(**kw)


BACKENDS: dict[str, Callable[..., Backend]] = {"text": _text_backend, "image": _image_backend}


def known_models() -> list[str]:
    """Every name ``--model`` accepts: the backends and the registered image predictors."""
    from accord.ml_backends.predictors import PREDICTORS

    return sorted(set(BACKENDS) | set(PREDICTORS))


def make_backend(name: str, params: Mapping[str, Any] | None = None) -> Backend:
    """The backend registered as ``name``, or an :class:`ImageBackend` over the predictor of that name.

    Args:
        name: ``text``, ``image``, or a predictor name (``contours``, ``onnx``, ``hog-person``, ``haar-face``).
        params: Parameters for it (``-p KEY=VALUE``): ``strategy``/``multilabel_threshold`` for
            ``text``; the predictor's own (``onnx_path=...``) otherwise; ``image`` also takes
            ``predictor=NAME``.

    Raises:
        AccordError: unknown name (the message lists the known ones), or bad parameters.
    """
    from accord.ml_backends.predictors import PREDICTORS

    factory = BACKENDS.get(name) or (_predictor_backend(name) if name in PREDICTORS else None)
    if factory is None:
        raise AccordError(f"unknown model {name!r}; known models: {known_models()}")
    return factory(**dict(params or {}))
