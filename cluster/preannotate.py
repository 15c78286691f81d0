"""Batch pre-annotation of an image folder with any registered predictor, in-process or on Dask.

Each image is read (Pillow, RGB), given to the predictor, and what comes back is checked by the
driver (:func:`accord.ml_backends.driver.validate_predictions`: a broken model fails naming the
predictor, the image and the field) before it becomes accord records (``source="model"``,
``annotator_id="model:<name>"``, one label set per geometry: ``boxes``, ``polygons``, ``masks``,
``keypoints``, ``tags``).

On Dask, batches of images are mapped over the workers and each worker builds the predictor
once (:func:`_predictor`: a per-process cache keyed by the predictor's name and parameters), so
a model is loaded once per worker, not once per image. Results come back in folder order:
the output is the same with and without a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accord.core.errors import ConversionError
from accord.core.model import Dataset, Item, Record

from ._wire import enable_pickling

__all__ = ["IMAGE_SUFFIXES", "PredictorSpec", "list_images", "preannotate_folder", "predict_batch"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
#: Label set of each prediction kind (a lookup table, not an if-chain).
LABEL_SETS: Mapping[str, str] = {"box": "boxes", "polygon": "polygons", "mask": "masks", "keypoints": "keypoints",
                                 "tag": "tags"}


@dataclass(frozen=True, slots=True, kw_only=True)
class PredictorSpec:
    """A registered predictor's name and its (string) parameters, as the CLIs give them."""

    name: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The per-worker cache key."""
        return self.name + "?" + "&".join(f"{k}={v}" for k, v in sorted(self.params.items()))


_CACHE: dict[str, Any] = {}


def _predictor(spec: PredictorSpec) -> Any:
    """The predictor of ``spec``, built once per process."""
    from accord.ml_backends.predictor_registry import get_predictor

    if spec.key not in _CACHE:
        _CACHE[spec.key] = get_predictor(spec.name, **dict(spec.params))
    return _CACHE[spec.key]


def list_images(folder: Path | str) -> list[Path]:
    """The images under ``folder`` (recursively, by suffix), sorted.

    Raises:
        ConversionError: not a folder, or no image in it.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ConversionError(f"{root} is not a folder; pass the folder of images to pre-annotate", field="folder")
    found = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise ConversionError(f"{root} holds no image ({', '.join(sorted(IMAGE_SUFFIXES))}); check the folder",
                              field="folder")
    return found


def _records(preds: Sequence[Any], item_id: str, name: str) -> list[Record]:
    from accord.core import rle
    from accord.core.model import Box, Classification, Keypoint, Keypoints, Mask, Polygon

    def box(p: Any) -> Any:
        (x1, y1), (x2, y2) = p.points
        return Box(label=p.label, x=x1, y=y1, width=x2 - x1, height=y2 - y1)

    make: Mapping[str, Callable[[Any], Any]] = {
        "box": box,
        "polygon": lambda p: Polygon(label=p.label, points=p.points),
        "mask": lambda p: Mask(label=p.label, height=int(p.mask.shape[0]), width=int(p.mask.shape[1]),
                               counts=rle.encode(p.mask)),
        "keypoints": lambda p: Keypoints(label=p.label, points=tuple(
            Keypoint(name=str(k), x=float(x), y=float(y)) for k, (x, y) in enumerate(p.points))),
        "tag": lambda p: Classification(label=p.label),
    }
    return [Record(item_id=item_id, annotator_id=f"model:{name}", label_set=LABEL_SETS[p.kind], value=make[p.kind](p),
                   source="model", score=float(p.score), region_id=f"{item_id}#{k}")
            for k, p in enumerate(preds)]


def predict_batch(paths: Sequence[str], root: str, spec: PredictorSpec) -> list[tuple[Item, list[Record]]]:
    """``(item, records)`` for each image (on a worker, or in this process).

    Raises:
        ConversionError: an image that cannot be read (naming it).
        BadPredictionError: a prediction that breaks the predictor's spec (from the driver).
    """
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from accord.ml_backends.driver import validate_predictions

    enable_pickling()
    predictor = _predictor(spec)
    out = []
    for path in paths:
        item_id = Path(path).relative_to(root).as_posix()
        try:
            with Image.open(path) as im:
                image = np.asarray(im.convert("RGB"), dtype=np.uint8)
        except (OSError, UnidentifiedImageError, ValueError) as e:
            raise ConversionError(f"{path}: not a readable image ({' '.join(str(e).split())[:120]}); remove it or "
                                  "convert it to PNG or JPEG", item_id=item_id, field="image") from None
        h, w = image.shape[:2]
        preds = validate_predictions(predictor.predict(image), labels=predictor.labels, width=w, height=h,
                                     predictor=spec.name, task=item_id)
        item = Item(item_id=item_id, data={"image": str(path), "file_name": item_id}, width=float(w), height=float(h))
        out.append((item, _records(preds, item_id, spec.name)))
    return out


def preannotate_folder(folder: Path | str, spec: PredictorSpec, *, client: Any = None, batch_size: int = 16,
                       bar: Callable[[Iterable[Any], int], Iterable[Any]] | None = None) -> Dataset:
    """Predictions for every image under ``folder`` as a Dataset (items in folder order).

    ``client``: a :class:`distributed.Client` to map batches of ``batch_size`` images over its
    workers; ``None`` runs in this process. The result is the same either way.
    """
    from accord.progress import progress

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConversionError(f"batch_size must be a whole number >= 1, got {batch_size!r}", field="batch_size")
    _predictor(spec)  # a bad name or parameter fails here, once, with the registry's message
    root = str(Path(folder))
    paths = [str(p) for p in list_images(folder)]
    batches = [paths[i:i + batch_size] for i in range(0, len(paths), batch_size)]
    show = bar or (lambda it, n: progress(it, desc="images", total=n))
    results: list[list[tuple[Item, list[Record]]]] = [[] for _ in batches]
    if client is None:
        for k in show(range(len(batches)), len(batches)):
            results[k] = predict_batch(batches[k], root, spec)
    else:
        from distributed import as_completed

        enable_pickling()
        futs = client.map(predict_batch, batches, root=root, spec=spec, pure=False)
        index = {f.key: k for k, f in enumerate(futs)}
        for fut in show(as_completed(futs), len(futs)):  # type: ignore[no-untyped-call]
            if fut.status == "error":
                client.cancel(futs)
                fut.result()  # raises the task's error (it names the image)
            results[index[fut.key]] = fut.result()
    items = [it for batch in results for it, _ in batch]
    records = [r for batch in results for _, recs in batch for r in recs]
    return Dataset(records=tuple(records), items={i.item_id: i for i in items}, name=Path(folder).name or "images")
