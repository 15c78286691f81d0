"""Automated rule-based checks of labels and annotator behaviour.

Checks catch what rules can catch, cheaply, on the whole dataset, before any
human QA: schema violations, image geometry, text spans, audio segments, video
tracks, 3D cuboids and annotator behaviour. Each :class:`Finding` names the
check, item, region, annotator, evidence and severity, and carries an error
taxonomy category (source ``automated``).

    >>> from accord.core.checks import list_checks
    >>> "geometry.near_duplicate" in {s.name for s in list_checks("box")}
    True

Run them with :func:`run_checks`; configure them with a TOML rules file
(:func:`load_rules`); add your own with :func:`register_check`.
"""

from __future__ import annotations

from . import audio, behaviour, cuboid, geometry, schema_checks, text, video
from .base import (
    BOUNDARY_ERROR,
    CATEGORIES,
    EXTRA_OBJECT,
    MISSED_FRAMES,
    POOR_LOCALIZATION,
    SCHEMA_VIOLATION,
    SEVERITIES,
    SUSPICIOUS_BEHAVIOUR,
    TRACK_IDENTITY_SWITCH,
    TRANSCRIPTION_ERROR,
    WRONG_ATTRIBUTE,
    WRONG_CLASS,
    BoxColumns,
    CheckConfig,
    CheckContext,
    CheckFn,
    CheckReport,
    Finding,
    Severity,
)
from .registry import CheckSpec, get_check, list_checks, register_check, unregister_check
from .rules import effective_config, load_rules, parse_rules
from .run import run_checks, to_discrepancies

for _module in (schema_checks, geometry, text, audio, video, cuboid, behaviour):
    _module.register()

__all__ = [
    "BOUNDARY_ERROR",
    "CATEGORIES",
    "EXTRA_OBJECT",
    "MISSED_FRAMES",
    "POOR_LOCALIZATION",
    "SCHEMA_VIOLATION",
    "SEVERITIES",
    "SUSPICIOUS_BEHAVIOUR",
    "TRACK_IDENTITY_SWITCH",
    "TRANSCRIPTION_ERROR",
    "WRONG_ATTRIBUTE",
    "WRONG_CLASS",
    "BoxColumns",
    "CheckConfig",
    "CheckContext",
    "CheckFn",
    "CheckReport",
    "CheckSpec",
    "Finding",
    "Severity",
    "effective_config",
    "get_check",
    "list_checks",
    "load_rules",
    "parse_rules",
    "register_check",
    "run_checks",
    "to_discrepancies",
    "unregister_check",
]
