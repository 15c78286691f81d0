"""CVAT's quality-report vocabulary in accord's error taxonomy (:mod:`accord.core.qa.taxonomy`).

CVAT names its quality-report errors missing annotation, extra annotation, mismatching
label, low overlap, mismatching attributes, mismatching direction, mismatching groups and
covered annotation (``cvat/apps/quality_control``); each maps onto one of accord's default
categories, so a CVAT user reads accord's counts in the words CVAT's report uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

#: CVAT's quality-report error names -> accord's categories.
CVAT_VOCABULARY: Mapping[str, str] = MappingProxyType({
    "missing annotation": "missing_object",
    "extra annotation": "extra_object",
    "mismatching label": "wrong_class",
    "low overlap": "poor_localization",
    "mismatching attributes": "wrong_attribute",
    "mismatching direction": "poor_localization",
    "mismatching groups": "wrong_attribute",
    "covered annotation": "extra_object",
})
