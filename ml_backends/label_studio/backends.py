"""What the server runs: models that read a labeling config, learn from tasks, and answer LS regions.

A *backend* (:class:`Backend`) is loaded once per worker process. ``train`` turns
annotated tasks into a fitted object, which ``dump`` turns into a
:class:`~.state.SavedModel` (arrays + JSON, never a pickle; stored per project and
version) and ``load`` rebuilds;
``predict`` turns a batch of tasks into Label Studio predictions, one per task,
or ``None`` for a task it has nothing to say about.

:data:`BACKENDS` maps ``--model NAME`` to a factory; any other name registered in
:mod:`accord.ml_backends.predictors` (``contours``, ``onnx``, ``hog-person``,
``haar-face``, ...) serves that predictor through :class:`ImageBackend`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from accord.core.errors import AccordError
from accord.ml_backends.label_studio.state import SavedModel
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
    #: every text field the model reads, ``data_key`` first: for ``Choices``, all the
    #: config's ``Text``/``HyperText`` objects (a premise/hypothesis pair is learned from
    #: both); for ``Labels``, only ``data_key`` (span offsets are into that one text).
    data_keys: tuple[str, ...] = ()

    def text_of(self, data: Mapping[str, Any]) -> str | None:
        """The model's input for a task: its text fields joined by newlines, or None when the first is absent."""
        first = _text_of(data, self.data_key)
        if first is None:
            return None
        rest = [t for k in self.data_keys if k != self.data_key and (t := _text_of(data, k)) is not None]
        return "\n".join([first, *rest])


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingTask:
    """A task's data and the result list of its chosen annotation."""

    task_id: str
    data: Mapping[str, Any]
    result: Sequence[Mapping[str, Any]]


class Backend(Protocol):
    """A pre-annotation model family served to Label Studio."""

    name: str

    def train(self, tasks: Sequence[TrainingTask], label_config: str, *,
              fetch: Callable[[str], bytes] | None = None) -> Any | None:
        """A fitted model, or None when the tasks teach nothing (nothing to save); ``fetch`` reads task files."""

    def dump(self, fitted: Any) -> SavedModel:
        """``fitted`` (from :meth:`train`) as data that cannot execute code when read back."""

    def load(self, saved: SavedModel) -> Any:
        """The fitted model :meth:`dump` saved."""

    def predict(self, fitted: Any | None, tasks: Sequence[Mapping[str, Any]], label_config: str, *,
                context: Mapping[str, Any] | None = None,
                fetch: Callable[[str], bytes] | None = None) -> list[tuple[list[dict[str, Any]], float] | None]:
        """Per task ``(result regions, task score)`` or None; same length and order as ``tasks``."""


def _object_keys(xml: str) -> dict[str, str]:
    """Object tag name -> task data key (``value="$text"`` -> ``text``)."""
    from accord.plugins.label_studio.config import parse_xml

    root = parse_xml(xml)
    out: dict[str, str] = {}
    for el in root.iter():
        name, value = el.get("name"), el.get("value")
        if name and value and value.startswith("$"):
            out[name] = value[1:]
    return out


@functools.lru_cache(maxsize=16)
def _parsed(label_config: str) -> tuple[Any, dict[str, str]]:
    """The parsed config and its object keys, cached: Label Studio sends the same config with every batch."""
    return parse_label_config_full(label_config), _object_keys(label_config)


@functools.lru_cache(maxsize=16)
def text_targets(label_config: str) -> tuple[Target, ...]:
    """The ``Choices``/``Labels`` controls over ``Text``-like objects that the text backend can fill.

    Cached per config string: Label Studio sends the same config with every batch.

    Raises:
        ConversionError: the config is not valid XML.
    """
    cfg, keys = _parsed(label_config)
    text_keys = [keys[name] for name, tag in cfg.objects.items() if tag in ("text", "hypertext") and name in keys]
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
        key = keys[to_name]
        data_keys = (key, *dict.fromkeys(k for k in text_keys if k != key)) if kind == "choices" else (key,)
        out.append(Target(control=ls.name, kind=kind, to_name=to_name, data_key=key, labels=ls.labels,
                          multiple=kind == "choices" and ls.kind == "multilabel", data_keys=data_keys))
    return tuple(out)


@dataclass(slots=True, kw_only=True)
class TextModel:
    """The fitted state of :class:`TextBackend` for one project (saved per version, see :meth:`dump`)."""

    classifiers: dict[str, TextClassifier] = field(default_factory=dict)
    taggers: dict[str, SpanTagger] = field(default_factory=dict)
    multilabel: dict[str, MultiLabelTextClassifier] = field(default_factory=dict)

    def dump(self) -> SavedModel:
        """Every per-control model's header and arrays in one :class:`~.state.SavedModel`."""
        meta: dict[str, Any] = {"format": "accord-text-model", "format_version": 1, "models": []}
        arrays: dict[str, Any] = {}
        groups: tuple[tuple[str, Mapping[str, Any]], ...] = (
            ("classifier", self.classifiers), ("tagger", self.taggers), ("multilabel", self.multilabel))
        for kind, models in groups:
            for control, m in models.items():
                i = len(meta["models"])
                head, arrs = m.to_state()
                meta["models"].append({"kind": kind, "control": control, "state": head})
                arrays.update({f"m{i}.{k}": v for k, v in arrs.items()})
        return SavedModel(meta=meta, arrays=arrays)

    @classmethod
    def load(cls, saved: SavedModel) -> TextModel:
        """Rebuild what :meth:`dump` saved.

        Raises:
            AccordError: the file is not a text model this version of accord wrote.
        """
        meta = saved.meta
        if meta.get("format") != "accord-text-model" or meta.get("format_version") != 1:
            raise AccordError("the saved model is not an accord text model (format 1); train again")
        out = cls()
        readers: dict[str, tuple[dict[str, Any], Callable[..., Any]]] = {
            "classifier": (out.classifiers, TextClassifier.from_state),
            "tagger": (out.taggers, SpanTagger.from_state),
            "multilabel": (out.multilabel, MultiLabelTextClassifier.from_state)}
        try:
            for i, entry in enumerate(meta["models"]):
                target, read = readers[entry["kind"]]
                prefix = f"m{i}."
                arrs = {k[len(prefix):]: v for k, v in saved.arrays.items() if k.startswith(prefix)}
                target[str(entry["control"])] = read(entry["state"], arrs)
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise AccordError("the saved text model is damaged; train again (press Train in Label Studio)") from e
        return out


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

    def dump(self, fitted: Any) -> SavedModel:
        """See :meth:`TextModel.dump`."""
        if not isinstance(fitted, TextModel):
            raise AccordError(f"the text backend saves TextModel objects, got {type(fitted).__name__}")
        return fitted.dump()

    def load(self, saved: SavedModel) -> TextModel:
        """See :meth:`TextModel.load`."""
        return TextModel.load(saved)

    def train(self, tasks: Sequence[TrainingTask], label_config: str, *,
              fetch: Callable[[str], bytes] | None = None) -> TextModel | None:
        """Fit one model per target control on the tasks that annotate it; None if none has data."""
        model = TextModel()
        for t in text_targets(label_config):
            if t.kind == "choices" and t.multiple:
                texts, sets = [], []
                for task in tasks:
                    text = t.text_of(task.data)
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
                    text = t.text_of(task.data)
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
            texts = [t.text_of(task.get("data") or {}) if t.kind == "choices"
                     else _text_of(task.get("data") or {}, t.data_key) for task in tasks]
            clf = model.classifiers.get(t.control)
            tagger = model.taggers.get(t.control)
            ml = model.multilabel.get(t.control)
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
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise AccordError("the task's file is not an image Pillow can read (or is too large); "
                          "use PNG, JPEG or another format Pillow opens") from e


#: Label Studio control tag -> the predictor geometry that fills it (a lookup table, not an if-chain).
IMAGE_CONTROLS: Mapping[str, str] = {
    "rectanglelabels": "box", "rectangle": "box",
    "polygonlabels": "polygon", "polygon": "polygon",
    "keypointlabels": "keypoints", "keypoint": "keypoints",
    "brushlabels": "mask", "brush": "mask",
}


def _pick_label(candidates: Sequence[str], allowed: tuple[str, ...]) -> str | None:
    """The first candidate the control allows; the control's only label; any name for a bare control."""
    if not allowed:
        return candidates[0] if candidates else None
    found = next((c for c in candidates if c in allowed), None)
    return found if found is not None else (allowed[0] if len(allowed) == 1 else None)


def _records_for(p: Any, control: Any, item_id: str, info: Any) -> list[Any]:
    """accord records for one predictor output filling one control (empty when the labels do not fit)."""
    from accord.core import rle
    from accord.core.model import Box, Keypoint, Keypoints, Mask, Polygon, Record

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
    if p.kind == "mask" and p.mask is not None:
        label = _pick_label([p.label], control.labels)
        h, w = p.mask.shape
        return [] if label is None else [rec(Mask(label=label, height=int(h), width=int(w),
                                                  counts=rle.encode(p.mask)))]
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

    Fills ``RectangleLabels`` (boxes), ``PolygonLabels`` (polygons), ``KeyPointLabels``
    (keypoints; one Label Studio region per point, ``x``/``y`` in percent and
    ``width`` the point size) and ``BrushLabels`` (masks, Label Studio's brush RLE) -- see
    :data:`IMAGE_CONTROLS`. Regions are written by
    :func:`accord.plugins.label_studio.convert.to_label_studio_prediction`, the same
    converter that writes every other accord prediction.

    A predictor label fills the config label of the same name; when the control has a
    single label, every region gets it. A keypoint takes its keypoint name as label when
    the control has that name. The task score is the least confident region's score (0.0 when
    nothing is found: look at that image first).

    Online training: on Train, a per-label logistic re-scorer
    (:mod:`accord.ml_backends.rescorer`) is fitted on the predictor's boxes of the annotated
    tasks against the annotated ``RectangleLabels`` boxes, saved as ``<name>-v<n>``, and applied
    to later predictions: every region is re-scored from its box's score, size and aspect, and
    regions under ``rescore_threshold`` are dropped. Before any training the version is
    ``<name>-v0`` and the predictor's own scores are served.

    Interactive mode: when the request carries a ``context`` (a rectangle or keypoints drawn
    with a smart tool), the config has a ``BrushLabels``/``Brush`` over the image and the
    predictor answers prompts (:class:`~accord.ml_backends.predictor_grabcut.InteractivePredictor`,
    e.g. ``grabcut``), the answer is one brush mask per task from that prompt; a bad context
    (outside the image, a label the brush control lacks) raises AccordError (a 422).

    Args:
        predictor: The model (default: the ``contours`` baseline with boxes, polygons
            and extent keypoints).
        name: The model family name (the ``model_version`` prefix).
        rescore_threshold: Re-scored probability under which a region is dropped, in (0, 1).
        rescore_iou: Least IoU for a predicted box to count as kept by an annotator, in (0, 1].
    """

    def __init__(self, predictor: Any = None, *, name: str = "image", rescore_threshold: float = 0.5,
                 rescore_iou: float = 0.5) -> None:
        from accord.ml_backends.predictors import get_predictor

        if not 0.0 < rescore_threshold < 1.0 or not 0.0 < rescore_iou <= 1.0:
            raise AccordError(f"rescore_threshold must be in (0, 1) and rescore_iou in (0, 1], got "
                              f"{rescore_threshold!r} and {rescore_iou!r}")
        self.predictor = predictor if predictor is not None else get_predictor("contours",
                                                                               kinds="box,polygon,keypoints")
        self.name = name
        self.rescore_threshold = float(rescore_threshold)
        self.rescore_iou = float(rescore_iou)

    def train(self, tasks: Sequence[TrainingTask], label_config: str, *,
              fetch: Callable[[str], bytes] | None = None) -> Any | None:
        """A :class:`~accord.ml_backends.rescorer.BoxRescorer` fitted on the annotated tasks' boxes.

        For each task with an annotation of a ``RectangleLabels``/``Rectangle`` over an image
        (an annotation with no box counts: every predicted box is then a false positive), the
        image is fetched and the predictor run; its boxes are matched to the annotated ones
        (label-aware, IoU >= ``rescore_iou``) and the re-scorer learns which it keeps. None
        when no task teaches anything (no box control, no annotated task, a predictor without
        boxes, or no ``fetch``): the version stays unchanged.
        """
        from accord.ml_backends.driver import validate_predictions
        from accord.ml_backends.rescorer import fit_rescorer, label_examples
        from accord.plugins.label_studio.convert import ls_box_to_pixels

        if fetch is None or not any(i.kind == "box" for i in self.predictor.labels):
            return None
        cfg, keys = _parsed(label_config)
        controls = [ls for ls in cfg.schema.label_sets.values() if (ls.tool_type or "") in ("rectanglelabels",
                                                                                           "rectangle")
                    and cfg.objects.get((ls.to_name or "").split(",")[0]) == "image"]
        labels = tuple(self.predictor.labels)
        rows = []
        for ls in controls:
            to_name = (ls.to_name or "").split(",")[0]
            label_of = {i.name: found for i in labels if i.kind == "box"
                        and (found := _pick_label([i.name], ls.labels)) is not None}
            for task in tasks:
                ref = task.data.get(keys.get(to_name, ""))
                mine = [r for r in task.result if r.get("from_name") == ls.name]
                if not isinstance(ref, str) or (task.result and not mine):
                    continue  # no image, or annotated on other controls only: says nothing about this one
                img = decode_image(fetch(ref))
                h, w = int(img.shape[0]), int(img.shape[1])
                reference = []
                for r in mine:
                    v = r.get("value") or {}
                    try:
                        x, y, bw, bh, _ = ls_box_to_pixels(float(v["x"]), float(v["y"]), float(v["width"]),
                                                           float(v["height"]), float(v.get("rotation") or 0.0), w, h)
                        name = str((v.get("rectanglelabels") or [""])[0]) if ls.labels else ""
                    except (KeyError, TypeError, ValueError):
                        continue
                    reference.append((name or (ls.labels[0] if ls.labels else ""), x, y, x + bw, y + bh))
                preds = validate_predictions(self.predictor.predict(img), labels=labels, width=w, height=h,
                                             predictor=self.name, task=task.task_id)
                rows += label_examples(preds, reference, w, h, iou_threshold=self.rescore_iou, label_of=label_of)
        return fit_rescorer(rows, threshold=self.rescore_threshold, iou_threshold=self.rescore_iou)

    def dump(self, fitted: Any) -> SavedModel:
        """The re-scorer (:meth:`~accord.ml_backends.rescorer.BoxRescorer.to_saved`): a JSON header and arrays."""
        from accord.ml_backends.rescorer import BoxRescorer

        if not isinstance(fitted, BoxRescorer):
            raise AccordError(f"the image backend saves BoxRescorer objects, got {type(fitted).__name__}")
        meta, arrays = fitted.to_saved()
        return SavedModel(meta=meta, arrays=arrays)

    def load(self, saved: SavedModel) -> Any:
        """The re-scorer :meth:`dump` saved, every field checked (AccordError, one line, when damaged)."""
        from accord.ml_backends.rescorer import BoxRescorer

        return BoxRescorer.from_saved(saved.meta, saved.arrays)

    def predict(self, fitted: Any | None, tasks: Sequence[Mapping[str, Any]], label_config: str, *,
                context: Mapping[str, Any] | None = None,
                fetch: Callable[[str], bytes] | None = None) -> list[tuple[list[dict[str, Any]], float] | None]:
        """Regions in Label Studio percent, per task (re-scored when ``fitted`` is a trained re-scorer)."""
        from accord.ml_backends.driver import validate_predictions
        from accord.ml_backends.rescorer import BoxRescorer
        from accord.plugins.label_studio.convert import to_label_studio_prediction

        cfg, keys = _parsed(label_config)
        prompts = [r for r in (context or {}).get("result", []) or [] if isinstance(r, dict)]
        brushes = [ls for ls in cfg.schema.label_sets.values() if (ls.tool_type or "") in ("brushlabels", "brush")
                   and cfg.objects.get((ls.to_name or "").split(",")[0]) == "image"]
        if prompts and brushes and _is_interactive(self.predictor):
            if fetch is None:
                raise AccordError("the image backend needs a file fetcher; it is given by the server")
            return [_interactive_masks(self.predictor, self.name, task, i, prompts, brushes, keys, cfg, fetch)
                    for i, task in enumerate(tasks)]
        controls = [ls for ls in cfg.schema.label_sets.values() if (ls.tool_type or "") in IMAGE_CONTROLS
                    and cfg.objects.get((ls.to_name or "").split(",")[0]) == "image"]
        out: list[tuple[list[dict[str, Any]], float] | None] = [None] * len(tasks)
        if not controls:
            return out
        if fetch is None:
            raise AccordError("the image backend needs a file fetcher; it is given by the server")
        labels = tuple(self.predictor.labels)
        infos = {(i.name, i.kind): i for i in labels}
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
                    # the driver checks the output against the predictor's spec (BadPredictionError, an
                    # AccordError: the server answers its message as a 422 JSON error)
                    found = validate_predictions(self.predictor.predict(img), labels=labels,
                                                 width=int(img.shape[1]), height=int(img.shape[0]),
                                                 predictor=self.name, task=item_id)
                    if isinstance(fitted, BoxRescorer):
                        found = fitted.rescore(found, int(img.shape[1]), int(img.shape[0]))
                    by_image[ref] = [img, found]
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


def _is_interactive(predictor: Any) -> bool:
    from accord.ml_backends.predictor_grabcut import InteractivePredictor

    return isinstance(predictor, InteractivePredictor)


#: Label Studio smart-tool region type -> the prompt part it gives (a lookup table, not an if-chain).
PROMPT_TYPES: Mapping[str, str] = {"rectanglelabels": "box", "rectangle": "box",
                                   "keypointlabels": "click", "keypoint": "click"}


def _percent(v: Mapping[str, Any], key: str, where: str) -> float:
    import math

    x = v.get(key)
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        raise AccordError(f"{where}: expected value.{key} as a number in percent of the image, got {str(x)[:40]!r}")
    return float(x)


def _prompt_from_context(regions: Sequence[Mapping[str, Any]], allowed: tuple[str, ...], control: str,
                         width: int, height: int) -> Any:
    """One :class:`~accord.ml_backends.predictor_grabcut.Prompt` in pixels from the interactive context's regions.

    The label is the last region's (the one just drawn); every region's label must be one of
    the BrushLabels control's. Coordinates must lie inside the image (0..100 percent).
    """
    from accord.ml_backends.predictor_grabcut import Prompt

    box: tuple[float, float, float, float] | None = None
    pos: list[tuple[float, float]] = []
    neg: list[tuple[float, float]] = []
    label: str | None = None
    tol = 1e-6  # Label Studio's percent arithmetic may overshoot 100 by a rounding error
    for k, r in enumerate(regions):
        rtype = str(r.get("type") or "")
        part = PROMPT_TYPES.get(rtype)
        where = f"context.result[{k}]"
        if part is None:
            raise AccordError(f"{where}: interactive masks take a rectangle or a keypoint, got type "
                              f"{rtype[:40]!r}; use one of {sorted(PROMPT_TYPES)}")
        v = r.get("value")
        if not isinstance(v, Mapping):
            raise AccordError(f"{where}: expected a 'value' object with x, y in percent, got {type(v).__name__}")
        names = v.get(rtype) if rtype.endswith("labels") else None
        if names is not None:
            if not isinstance(names, list) or not names or not isinstance(names[0], str):
                raise AccordError(f"{where}: expected value.{rtype} as a list with one label, got {str(names)[:40]!r}")
            if allowed and names[0] not in allowed:
                raise AccordError(f"{where}: label {names[0][:40]!r} is not a label of the BrushLabels "
                                  f"{control!r}; use one of {list(allowed)} (add it to the labeling config)")
            label = names[0]
        x, y = _percent(v, "x", where), _percent(v, "y", where)
        if part == "box":
            bw, bh = _percent(v, "width", where), _percent(v, "height", where)
            if not (-tol <= x and -tol <= y and bw > 0 and bh > 0 and x + bw <= 100 + tol and y + bh <= 100 + tol):
                raise AccordError(f"{where}: the rectangle (x={x:g}, y={y:g}, width={bw:g}, height={bh:g} percent) "
                                  "must lie inside the image (0..100 percent) and have a positive size")
            if "rotation" in v and abs(_percent(v, "rotation", where)) > 1e-9:
                raise AccordError(f"{where}: interactive masks need an unrotated rectangle; set rotation to 0")
            box = (max(0.0, x) * width / 100, max(0.0, y) * height / 100,
                   min(100.0, x + bw) * width / 100, min(100.0, y + bh) * height / 100)
        else:
            if not (-tol <= x <= 100 + tol and -tol <= y <= 100 + tol):
                raise AccordError(f"{where}: the keypoint (x={x:g}, y={y:g} percent) must lie inside the image "
                                  "(0..100 percent)")
            xy = (min(100.0, max(0.0, x)) * width / 100, min(100.0, max(0.0, y)) * height / 100)
            (neg if r.get("is_positive") is False or r.get("is_positive") == 0 else pos).append(xy)
    if label is None:
        if len(allowed) != 1 and allowed:
            raise AccordError(f"the interactive context names no label and the BrushLabels {control!r} has "
                              f"{len(allowed)}; pick a label before drawing")
        label = allowed[0] if allowed else "object"
    return Prompt(label=label, box=box, positive=tuple(pos), negative=tuple(neg))


def _interactive_masks(predictor: Any, name: str, task: Mapping[str, Any], i: int,
                       prompts: Sequence[Mapping[str, Any]], brushes: Sequence[Any], keys: Mapping[str, str],
                       cfg: Any, fetch: Callable[[str], bytes]) -> tuple[list[dict[str, Any]], float] | None:
    """Interactive mode: one BrushLabels mask from the rectangle/keypoints the annotator just drew."""
    from accord.core import rle
    from accord.core.model import Mask, Record
    from accord.ml_backends.driver import validate_predictions
    from accord.ml_backends.predictor_spec import LabelInfo
    from accord.plugins.label_studio.convert import to_label_studio_prediction

    targets = {str(r.get("to_name") or "") for r in prompts}
    ls = next((b for b in brushes if (b.to_name or "").split(",")[0] in targets), brushes[0])
    to_name = (ls.to_name or "").split(",")[0]
    ref = (task.get("data") or {}).get(keys.get(to_name, ""))
    if not isinstance(ref, str):
        return None
    img = decode_image(fetch(ref))
    h, w = int(img.shape[0]), int(img.shape[1])
    item_id = str(task.get("id", i))
    prompt = _prompt_from_context(prompts, tuple(ls.labels), ls.name, w, h)
    preds = validate_predictions(predictor.segment(img, prompt), labels=(LabelInfo(name=prompt.label, kind="mask"),),
                                 width=w, height=h, predictor=name, task=item_id)
    records = [Record(item_id=item_id, annotator_id="model:accord", label_set=ls.name, source="model",
                      score=float(p.score), value=Mask(label=p.label, height=h, width=w, counts=rle.encode(p.mask)))
               for p in preds]
    regions = to_label_studio_prediction(records, cfg.schema, model_version=name, width=w, height=h)["result"]
    for k, r in enumerate(regions):
        r["id"] = f"{item_id}-{k}"
    return regions, min((float(r["score"]) for r in regions), default=0.0)


def map_labels(names: Sequence[str], allowed: tuple[str, ...]) -> dict[str, str]:
    """Predictor label -> control label: same name, else same name ignoring case, else the control's
    only label, else the control's remaining labels in order (``speaker_1`` -> the first unused
    label, ...). A predictor label left without a control label is not written."""
    if not allowed:
        return {n: n for n in names}
    out: dict[str, str] = {}
    lower = {a.lower(): a for a in allowed}
    for n in names:
        if n in allowed:
            out[n] = n
        elif n.lower() in lower:
            out[n] = lower[n.lower()]
        elif len(allowed) == 1:
            out[n] = allowed[0]
    free = [a for a in allowed if a not in out.values()]
    for n in names:
        if n not in out and free:
            out[n] = free.pop(0)
    return out


class _FixedModel:
    """Not trainable: ``train`` returns None and the version stays ``<name>-v0``."""

    name: str

    def train(self, tasks: Sequence[TrainingTask], label_config: str, *,
              fetch: Callable[[str], bytes] | None = None) -> None:
        """Nothing to learn: the predictor is fixed."""
        return None

    def dump(self, fitted: Any) -> SavedModel:
        """Nothing to save."""
        return SavedModel()

    def load(self, saved: SavedModel) -> None:
        """Nothing to load."""
        return None


def _segment_regions(preds: Sequence[Any], ls: Any, item_id: str, name: str, schema: Any,
                     frame_offset: int = 0) -> list[dict[str, Any]]:
    from accord.core.model import Record, Segment
    from accord.plugins.label_studio.convert import to_label_studio_prediction

    mapping = map_labels(list(dict.fromkeys(p.label for p in preds)), tuple(ls.labels))
    records = [Record(item_id=item_id, annotator_id="model:accord", label_set=ls.name, source="model",
                      score=float(p.score), value=Segment(start=float(p.start) + frame_offset,
                                                          end=float(p.end) + frame_offset, label=mapping[p.label],
                                                          text=p.text, unit=p.unit))
               for p in preds if p.label in mapping]
    if not records:
        return []
    out: list[dict[str, Any]] = to_label_studio_prediction(records, schema, model_version=name)["result"]
    return out


class AudioBackend(_FixedModel):
    """``Labels`` over ``Audio``/``AudioPlus`` from an audio predictor (``vad``, ``speaker-turns``, ``transcribe``).

    The task's file is read as WAV (:func:`accord.ml_backends.predictor_audio.read_wav`); the
    predictor's segments are checked by :func:`~accord.ml_backends.driver.validate_segments` and
    written as ``labels`` results with ``start``/``end`` in seconds. Predictor labels fill the
    control's labels by :func:`map_labels`. A transcript (``transcribe``) is written into a per-region
    ``TextArea`` over the same audio when the config has one. The task score is the least
    confident segment's score (0.0 when nothing was found).
    """

    def __init__(self, predictor: Any, *, name: str = "audio") -> None:
        self.predictor = predictor
        self.name = name

    def predict(self, fitted: Any | None, tasks: Sequence[Mapping[str, Any]], label_config: str, *,
                context: Mapping[str, Any] | None = None,
                fetch: Callable[[str], bytes] | None = None) -> list[tuple[list[dict[str, Any]], float] | None]:
        """Segments per task, in Label Studio's ``labels`` result shape."""
        from accord.ml_backends.driver import validate_segments
        from accord.ml_backends.predictor_audio import read_wav

        cfg, keys = _parsed(label_config)
        controls = [ls for ls in cfg.schema.label_sets.values() if (ls.tool_type or "") == "labels"
                    and cfg.objects.get((ls.to_name or "").split(",")[0]) in ("audio", "audioplus")]
        out: list[tuple[list[dict[str, Any]], float] | None] = [None] * len(tasks)
        if not controls:
            return out
        if fetch is None:
            raise AccordError("the audio backend needs a file fetcher; it is given by the server")
        labels = tuple(self.predictor.labels)
        for i, task in enumerate(tasks):
            item_id = str(task.get("id", i))
            regions: list[dict[str, Any]] = []
            cache: dict[str, list[Any]] = {}
            for ls in controls:
                ref = (task.get("data") or {}).get(keys.get((ls.to_name or "").split(",")[0], ""))
                if not isinstance(ref, str):
                    continue
                if ref not in cache:
                    x, rate = read_wav(fetch(ref))
                    cache[ref] = validate_segments(self.predictor.predict_audio(x, rate), labels=labels, unit="s",
                                                   extent=x.size / rate, predictor=self.name, task=item_id)
                regions += _segment_regions(cache[ref], ls, item_id, self.name, cfg.schema)
            for k, r in enumerate(regions):
                r["id"] = f"{item_id}-{k}"
            out[i] = (regions, min((float(r.get("score", 1.0)) for r in regions), default=0.0))
        return out


def _timeline_controls(label_config: str) -> list[Any]:
    """``TimelineLabels`` over a ``Video`` as segment label sets (the config parser leaves them out)."""
    from accord.core.schema import LabelSet
    from accord.plugins.label_studio.config import parse_xml

    root = parse_xml(label_config)
    videos = {el.get("name") for el in root.iter() if el.tag.lower() == "video"}
    out = []
    for el in root.iter():
        if el.tag.lower() == "timelinelabels" and el.get("name") and el.get("toName") in videos:
            labels = tuple(str(c.get("value")) for c in el if c.tag.lower() == "label" and c.get("value"))
            out.append(LabelSet(name=el.get("name") or "", kind="segment", labels=labels, multiple=True,
                                to_name=el.get("toName"), tool_type="timelinelabels"))
    return out


#: Label Studio's ``Video`` frame rate when the tag sets no ``framerate``.
LS_DEFAULT_FRAMERATE = 24.0


def _video_framerates(label_config: str) -> dict[str, float]:
    """Each ``Video`` tag's ``framerate`` (Label Studio counts the video's frames at this rate)."""
    from accord.plugins.label_studio.config import parse_xml

    out = {}
    for el in parse_xml(label_config).iter():
        if el.tag.lower() == "video" and el.get("name"):
            try:
                rate = float(el.get("framerate") or LS_DEFAULT_FRAMERATE)
            except ValueError:
                rate = LS_DEFAULT_FRAMERATE
            out[el.get("name") or ""] = rate if rate > 0 and math.isfinite(rate) else LS_DEFAULT_FRAMERATE
    return out


def _to_ls_frames(preds: Sequence[Any], scale: float) -> list[Any]:
    """0-based inclusive source-frame ranges -> Label Studio's 1-based frames at the tag's rate
    (``scale`` = tag framerate / the file's fps): ``start = round(s * scale) + 1``,
    ``end = max(start, round((e + 1) * scale))``; at scale 1 that is ``s + 1 .. e + 1``."""
    out = []
    for p in preds:
        start = round(float(p.start) * scale) + 1
        out.append(dataclasses.replace(p, start=start, end=max(start, round((float(p.end) + 1) * scale))))
    return out


class EventBackend(_FixedModel):
    """``TimelineLabels`` over ``Video`` from an event predictor (``video-events``).

    The task's video is decoded with OpenCV
    (:func:`accord.ml_backends.predictor_events.read_video_frames`); events (inclusive 0-based
    frame ranges, checked by :func:`~accord.ml_backends.driver.validate_segments`) are written
    as ``timelinelabels`` ranges in Label Studio's 1-based frame numbers, counted at the
    ``Video`` tag's ``framerate`` (Label Studio's default 24 when the tag sets none), so an event
    lands at the same time in the player whatever the file's own frame rate.
    """

    def __init__(self, predictor: Any, *, name: str = "events") -> None:
        self.predictor = predictor
        self.name = name

    def predict(self, fitted: Any | None, tasks: Sequence[Mapping[str, Any]], label_config: str, *,
                context: Mapping[str, Any] | None = None,
                fetch: Callable[[str], bytes] | None = None) -> list[tuple[list[dict[str, Any]], float] | None]:
        """Event ranges per task."""
        from accord.core.schema import Schema
        from accord.ml_backends.driver import validate_segments
        from accord.ml_backends.predictor_events import read_video_frames

        _, keys = _parsed(label_config)
        controls = _timeline_controls(label_config)
        out: list[tuple[list[dict[str, Any]], float] | None] = [None] * len(tasks)
        if not controls:
            return out
        if fetch is None:
            raise AccordError("the event backend needs a file fetcher; it is given by the server")
        schema = Schema.of(*controls)
        labels = tuple(self.predictor.labels)
        rates = _video_framerates(label_config)
        for i, task in enumerate(tasks):
            item_id = str(task.get("id", i))
            regions: list[dict[str, Any]] = []
            cache: dict[str, list[Any]] = {}
            for ls in controls:
                ref = (task.get("data") or {}).get(keys.get(ls.to_name or "", ""))
                if not isinstance(ref, str):
                    continue
                if ref not in cache:
                    frames, fps = read_video_frames(fetch(ref))
                    found = validate_segments(self.predictor.predict_frames(frames), labels=labels,
                                              unit="frame", extent=len(frames), predictor=self.name, task=item_id)
                    rate = rates.get(ls.to_name or "", LS_DEFAULT_FRAMERATE)
                    cache[ref] = _to_ls_frames(found, rate / fps if fps and fps > 0 else 1.0)
                regions += _segment_regions(cache[ref], ls, item_id, self.name, schema)
            for k, r in enumerate(regions):
                r["id"] = f"{item_id}-{k}"
            out[i] = (regions, min((float(r.get("score", 1.0)) for r in regions), default=0.0))
        return out


class TrackBackend(_FixedModel):
    """``VideoRectangle`` over ``Video`` from a track predictor (``video-tracks``).

    The task's video is decoded with OpenCV
    (:func:`accord.ml_backends.predictor_events.read_video_frames`, grey frames, the longer side
    shrunk to 320 px; coordinates are written in percent, so the shrinking does not move them);
    each track becomes one ``videorectangle`` result
    (:func:`accord.ml_backends.tracking.tracks_to_label_studio`): a ``sequence`` of keyframes
    with ``frame`` (1-based, counted at the ``Video`` tag's ``framerate``, Label Studio's default
    24 when the tag sets none, so a box lands at the same time in the player whatever the file's
    own rate), ``enabled`` (false from an ``outside`` frame on), ``x``/``y``/``width``/``height``
    in percent and ``time`` in seconds; ``framesCount`` and ``duration`` describe the video at the
    tag's rate. Track labels fill the labels of the ``Labels`` over the same video by
    :func:`map_labels`. A region's score is its track's, the task's the least confident track's.
    """

    def __init__(self, predictor: Any, *, name: str = "video-tracks") -> None:
        self.predictor = predictor
        self.name = name

    def predict(self, fitted: Any | None, tasks: Sequence[Mapping[str, Any]], label_config: str, *,
                context: Mapping[str, Any] | None = None,
                fetch: Callable[[str], bytes] | None = None) -> list[tuple[list[dict[str, Any]], float] | None]:
        """Tracks per task, in Label Studio's ``videorectangle`` result shape."""
        from accord.ml_backends.predictor_events import read_video_frames
        from accord.ml_backends.tracking import tracks_to_label_studio

        cfg, keys = _parsed(label_config)
        controls = [ls for ls in cfg.schema.label_sets.values() if (ls.tool_type or "") == "videorectangle"
                    and cfg.objects.get((ls.to_name or "").split(",")[0]) == "video"]
        out: list[tuple[list[dict[str, Any]], float] | None] = [None] * len(tasks)
        if not controls:
            return out
        if fetch is None:
            raise AccordError("the track backend needs a file fetcher; it is given by the server")
        rates = _video_framerates(label_config)
        for i, task in enumerate(tasks):
            item_id = str(task.get("id", i))
            regions: list[dict[str, Any]] = []
            cache: dict[str, Any] = {}
            for ls in controls:
                to_name = (ls.to_name or "").split(",")[0]
                ref = (task.get("data") or {}).get(keys.get(to_name, ""))
                if not isinstance(ref, str):
                    continue
                if ref not in cache:
                    frames, fps = read_video_frames(fetch(ref))
                    cache[ref] = (frames, fps, self.predictor.predict_tracks(frames))
                frames, fps, found = cache[ref]
                rate = rates.get(to_name, LS_DEFAULT_FRAMERATE)
                scale = rate / fps if fps and fps > 0 else 1.0
                mapping = map_labels(list(dict.fromkeys(t.label for t, _ in found)), tuple(ls.labels))
                h, w = int(frames[0].shape[0]), int(frames[0].shape[1])
                n_ls = max(1, round(len(frames) * scale))
                for track, score in found:
                    if track.label not in mapping:
                        continue
                    moved = _track_at_rate(track, scale, mapping[track.label])
                    res = tracks_to_label_studio([moved], width=w, height=h, fps=rate, model_version=self.name,
                                                 from_name=ls.name, to_name=to_name, score=score)["result"]
                    for r in res:
                        r["score"] = score
                        r["value"]["framesCount"] = n_ls
                        r["value"]["duration"] = n_ls / rate
                    regions += res
            for k, r in enumerate(regions):
                r["id"] = f"{item_id}-{k}"
            out[i] = (regions, min((float(r["score"]) for r in regions), default=0.0))
        return out


def _track_at_rate(track: Any, scale: float, label: str) -> Any:
    """``track`` with its 0-based source frames counted at ``scale`` times the file's rate (the first of
    frames that land on one number kept) and relabelled."""
    frames, seen = [], set()
    for f in track.frames:
        t = round(f.frame * scale)
        if t not in seen:
            seen.add(t)
            frames.append(dataclasses.replace(f, frame=t))
    return dataclasses.replace(track, label=label, frames=tuple(frames))


#: A predictor's modality -> the backend that serves it in Label Studio (3D has no Label Studio tag).
MODALITY_BACKENDS: Mapping[str, Callable[..., Backend]] = {
    "image": ImageBackend, "audio": AudioBackend, "events": EventBackend, "tracks": TrackBackend}


def _rescore_params(params: dict[str, Any]) -> dict[str, float]:
    """``rescore_threshold``/``rescore_iou`` taken out of ``params`` (the image backend's own), as floats."""
    out: dict[str, float] = {}
    for k in ("rescore_threshold", "rescore_iou"):
        if k in params:
            try:
                out[k] = float(params.pop(k))
            except (TypeError, ValueError):
                raise AccordError(f"{k} must be a number in (0, 1), got {params.get(k)!r}") from None
    return out


def _predictor_backend(name: str) -> Callable[..., Backend]:
    def factory(**params: Any) -> Backend:
        from accord.ml_backends.predictor_spec import modality_of
        from accord.ml_backends.predictors import get_predictor

        own = _rescore_params(params)
        predictor = get_predictor(name, **params)
        modality = modality_of(predictor)
        maker = MODALITY_BACKENDS.get(modality)
        if maker is None:
            raise AccordError(f"model {name!r} reads {modality} data, which Label Studio has no tag for; use it "
                              "through the CVAT function (accord.ml_backends.cvat_function)")
        if own and maker is not ImageBackend:
            raise AccordError(f"model {name!r} is not an image detector; rescore_threshold and rescore_iou are "
                              "for image backends only")
        return maker(predictor, name=name, **own)

    return factory


def _image_backend(**params: Any) -> Backend:
    from accord.ml_backends.predictors import get_predictor

    predictor = params.pop("predictor", None)
    own = _rescore_params(params)
    threshold, iou = own.get("rescore_threshold", 0.5), own.get("rescore_iou", 0.5)
    if predictor is None and not params:
        return ImageBackend(rescore_threshold=threshold, rescore_iou=iou)
    return ImageBackend(get_predictor(str(predictor or "contours"), **params), name="image",
                        rescore_threshold=threshold, rescore_iou=iou)


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
