"""accord's tool-neutral core: the annotation model and every metric.

Nothing here imports a tool SDK; only numpy and scipy.
"""

from __future__ import annotations

from .errors import (
    AccordError,
    ConversionError,
    InvalidAnnotationError,
    SchemaError,
    UndefinedAgreementError,
)
from .model import (
    Box,
    Classification,
    Cuboid,
    Dataset,
    Item,
    Keypoint,
    Keypoints,
    Mask,
    MultiLabel,
    Numeric,
    Polygon,
    Polyline,
    Record,
    Segment,
    Span,
    Submission,
    TextValue,
    Track,
    TrackFrame,
)
from .schema import AttributeSpec, LabelSet, Schema

__all__ = [
    "AccordError", "AttributeSpec", "Box", "Classification", "ConversionError", "Cuboid",
    "Dataset", "InvalidAnnotationError", "Item", "Keypoint", "Keypoints", "LabelSet", "Mask",
    "MultiLabel", "Numeric", "Polygon", "Polyline", "Record", "Schema", "SchemaError", "Segment",
    "Span", "Submission", "TextValue", "Track", "TrackFrame", "UndefinedAgreementError",
]
