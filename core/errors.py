"""The exceptions accord raises.

Every error a user can cause derives from :class:`AccordError` and from the
built-in it is closest to, so ``except ValueError`` keeps working for callers
who do not know accord. Messages say what was expected, what came, and how to
fix it.
"""

from __future__ import annotations


class AccordError(Exception):
    """Base class of every error accord raises on purpose."""


class InvalidAnnotationError(AccordError, ValueError):
    """A record or value breaks its own invariants (negative width, end < start, ...)."""


class SchemaError(AccordError, ValueError):
    """A label schema is inconsistent, or a value does not fit its label set."""


class ConversionError(AccordError, ValueError):
    """A tool export could not be converted.

    Attributes:
        item_id: The task / image / item the problem was found in, when known.
        field: The field (JSON path or XML attribute) that was wrong, when known.
    """

    def __init__(self, message: str, *, item_id: str | None = None, field: str | None = None):
        self.item_id = item_id
        self.field = field
        where = []
        if item_id is not None:
            where.append(f"item {item_id!s}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = f"[{', '.join(where)}] " if where else ""
        super().__init__(prefix + message)

    @classmethod
    def reworded(cls, message: str, like: BaseException) -> ConversionError:
        """An error worded exactly ``message`` (which already carries any ``[item, field]``
        prefix) that keeps ``like``'s ``item_id`` and ``field``: for naming the file or the
        part of it an error came from."""
        err = cls(message)
        err.item_id, err.field = getattr(like, "item_id", None), getattr(like, "field", None)
        return err


class UndefinedAgreementError(AccordError, ValueError):
    """An agreement coefficient is undefined for the data given (says why)."""


class ConfigError(AccordError, ValueError):
    """A configuration file (taxonomy, pricing, rules) is malformed."""


class LimitExceededError(AccordError, ValueError):
    """An input is larger than a limit of :mod:`accord.core.limits` (the message names the option to raise it).

    Attributes:
        limit: The limit's name (a field of :class:`~accord.core.limits.InputLimits`).
        value: What the input asked for.
        maximum: The limit in force.
    """

    def __init__(self, message: str, *, limit: str, value: float, maximum: float):
        self.limit = limit
        self.value = value
        self.maximum = maximum
        super().__init__(message)


class BadPredictorError(AccordError):
    """A predictor (pre-annotation model) broke its contract or failed."""


class BadPredictionError(BadPredictorError, ValueError):
    """A predictor returned a prediction its own spec does not allow (as CVAT's ``BadFunctionError``).

    Attributes:
        predictor: The predictor's name (``model=...``).
        task: The task / frame the prediction was made for.
        field: The offending field, such as ``predictions[2].score``.
    """

    def __init__(self, message: str, *, predictor: str, task: str, field: str):
        self.predictor = predictor
        self.task = task
        self.field = field
        super().__init__(f"[predictor {predictor!r}, task {task!r}, field {field!r}] {message}")


class MissingExtraError(AccordError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""
