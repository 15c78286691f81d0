"""Batch pre-annotation of a whole Label Studio project, in-process or on Dask workers.

The same backend that answers Label Studio's ``/predict`` (:func:`accord.ml_backends.label_studio.
backends.make_backend`: a registered predictor behind the image, audio or event backend, its output
checked by the predictor driver) turns each task into Label Studio result regions, so a prediction
written here is the one the ML backend would have given for that task.

Who fetches what: the tasks' media (``/data/upload/...`` and other files of the object tags) are
read **by this process only**, from the configured Label Studio with the token (through the ML
backend's media policy: other hosts are refused, sizes capped) and shipped to the workers as
bytes. The token never leaves this process; workers see bytes, a task's data and the label
config. At most ``window`` batches are in flight, so memory is bounded by the batch size, not
by the project.

Tasks whose media cannot be fetched, or whose data lacks the object tag's key, are skipped with
the reason (:attr:`LsPreannotation.skipped`); a prediction that breaks the predictor's spec
stops the run (the driver's error names the predictor, the task and the field).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from accord.core.errors import AccordError, ConversionError

from .preannotate import PredictorSpec

__all__ = ["MEDIA_TAGS", "LsPreannotation", "media_keys", "preannotate_tasks", "predict_tasks"]

#: Object tags whose task value is a file the backend reads (text-like tags carry their value inline).
MEDIA_TAGS = frozenset({"image", "audio", "audioplus", "video", "timeseries"})

_BACKENDS: dict[str, Any] = {}


def _backend(spec: PredictorSpec) -> Any:
    """The Label Studio backend of ``spec``, built once per process (a model loads once per worker)."""
    from accord.ml_backends.label_studio.backends import make_backend

    if spec.key not in _BACKENDS:
        _BACKENDS[spec.key] = make_backend(spec.name, dict(spec.params))
    return _BACKENDS[spec.key]


def media_keys(label_config: str) -> list[str]:
    """The task data keys of the config's media object tags (``<Image value="$image">`` -> ``image``)."""
    from accord.plugins.label_studio.config import parse_label_config_full, parse_xml

    cfg = parse_label_config_full(label_config)
    keys = []
    for el in parse_xml(label_config).iter():
        name, value = el.get("name"), el.get("value")
        if name and value and value.startswith("$") and cfg.objects.get(name) in MEDIA_TAGS:
            keys.append(value[1:])
    return sorted(set(keys))


@dataclass(frozen=True, slots=True, kw_only=True)
class LsPreannotation:
    """Prediction rows for ``import_predictions`` (``task``, ``result``, ``score``), in task order,
    and the tasks skipped with why."""

    predictions: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    n_tasks: int = 0


def predict_tasks(tasks: Sequence[Mapping[str, Any]], media: Mapping[str, bytes], label_config: str,
                  spec: PredictorSpec) -> list[dict[str, Any]]:
    """Prediction rows for ``tasks`` (on a worker, or in this process); ``media`` holds their files' bytes.

    Raises:
        AccordError: the backend's own errors (e.g. a config the model has no control for).
        BadPredictionError: a prediction that breaks the predictor's spec (from the driver).
    """
    from ._wire import enable_pickling

    enable_pickling()

    def fetch(ref: str) -> bytes:
        if ref not in media:  # the backend asked for a file the client did not ship
            raise AccordError(f"task file {ref[:120]!r} was not fetched; is it the value of a media object tag?")
        return media[ref]

    out = _backend(spec).predict(None, tasks, label_config, fetch=fetch)
    rows = []
    for task, got in zip(tasks, out, strict=True):
        if got is not None:
            result, score = got
            rows.append({"task": int(task["id"]), "result": result, "score": float(score)})
    return rows


def _batches(tasks: Sequence[Mapping[str, Any]], keys: Sequence[str], fetch: Callable[[str], bytes],
             batch_size: int, skipped: list[tuple[int, str]]
             ) -> Iterator[tuple[list[Mapping[str, Any]], dict[str, bytes]]]:
    """Batches of tasks with their media read (by this process); tasks that cannot be read go to ``skipped``."""
    batch: list[Mapping[str, Any]] = []
    media: dict[str, bytes] = {}
    for task in tasks:
        data = task.get("data") if isinstance(task.get("data"), Mapping) else {}
        tid = int(task["id"])
        mine: dict[str, bytes] = {}
        why = None
        for key in keys:
            ref = data.get(key)
            if not isinstance(ref, str) or not ref:
                why = f"the task data has no {key!r} file"
                break
            try:
                mine[ref] = media[ref] if ref in media else fetch(ref)
            except AccordError as e:
                why = str(e)
                break
        if why is not None:
            skipped.append((tid, why))
            continue
        batch.append({"id": tid, "data": dict(data)})
        media.update(mine)
        if len(batch) >= batch_size:
            yield batch, media
            batch, media = [], {}
    if batch:
        yield batch, media


def preannotate_tasks(tasks: Sequence[Mapping[str, Any]], label_config: str, spec: PredictorSpec, *,
                      fetch: Callable[[str], bytes], client: Any = None, batch_size: int = 16, window: int = 0,
                      bar: Callable[[Iterable[Any], int], Iterable[Any]] | None = None) -> LsPreannotation:
    """Predictions for every task of a Label Studio project (task order), in-process or on Dask.

    Args:
        tasks: The project's tasks (``id`` and ``data``; an export snapshot's dicts do).
        label_config: The project's labeling config.
        spec: The predictor and its parameters.
        fetch: Reads a task file (``/data/upload/...``) from the configured Label Studio; called
            in this process only.
        client: A :class:`distributed.Client` to map batches over its workers; ``None`` runs here.
        batch_size: Tasks per Dask task.
        window: Batches in flight at once on Dask (default: 2 per worker thread).

    Raises:
        ConversionError: a bad ``batch_size``; AccordError / BadPredictionError from the backend.
    """
    from accord.progress import progress

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConversionError(f"batch_size must be a whole number >= 1, got {batch_size!r}", field="batch_size")
    _backend(spec)  # a bad model name or parameter fails here, once, with the registry's message
    keys = media_keys(label_config)
    skipped: list[tuple[int, str]] = []
    batches = _batches(tasks, keys, fetch, batch_size, skipped)
    n_batches = -(-len(tasks) // batch_size)
    show = bar or (lambda it, n: progress(it, desc="tasks", total=n))
    results: dict[int, list[dict[str, Any]]] = {}
    if client is None:
        for k, (batch, media) in enumerate(show(batches, n_batches)):
            results[k] = predict_tasks(batch, media, label_config, spec)
    else:
        from distributed import as_completed

        from ._wire import enable_pickling

        enable_pickling()
        if window < 1:
            window = 2 * max(1, sum(client.nthreads().values()))
        index: dict[str, int] = {}
        pending = as_completed()  # type: ignore[no-untyped-call]
        submitted = 0

        def submit_next() -> bool:
            nonlocal submitted
            nxt = next(batches, None)
            if nxt is None:
                return False
            fut = client.submit(predict_tasks, nxt[0], nxt[1], label_config, spec, pure=False)
            index[fut.key] = submitted
            submitted += 1
            pending.add(fut)
            return True

        for _ in range(window):
            if not submit_next():
                break
        for fut in show(pending, n_batches):
            if fut.status == "error":
                fut.result()  # raises the task's error (the driver's names the predictor and the task)
            results[index[fut.key]] = fut.result()
            submit_next()
    rows = [row for k in sorted(results) for row in results[k]]
    return LsPreannotation(predictions=rows, skipped=skipped, n_tasks=len(tasks))
