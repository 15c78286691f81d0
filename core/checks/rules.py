"""Rules files: which checks run, at what severity, with which thresholds.

A rules file is TOML with one table per check under ``[checks]``::

    [checks."geometry.tiny"]
    severity = "major"          # info | minor | major | critical
    min_area_px = 9.0

    [checks."behaviour.label_drift"]
    enabled = false

Keys other than ``enabled`` and ``severity`` must be parameters the check
declares (its defaults); anything else, and any unknown check name, raises
:class:`~accord.core.errors.ConfigError` listing what is known. The documented
example with every check and default is ``accord/core/data/rules.example.toml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

from .._toml import loads_toml
from ..errors import ConfigError
from .base import SEVERITIES, CheckConfig, Severity
from .registry import CheckSpec, get_check, list_checks

Rules = Mapping[str, Mapping[str, Any]]


def _type_ok(default: Any, value: Any) -> bool:
    if default is None:
        return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def parse_rules(data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Validate a parsed rules mapping (``{"checks": {...}}`` or the ``checks`` table itself).

    Raises:
        ConfigError: Unknown check, unknown parameter, bad severity or a value of the wrong type.
    """
    table = data.get("checks", data)
    if not isinstance(table, Mapping):
        raise ConfigError(f"[checks] must be a table of check tables, got {table!r}")
    known = sorted(s.name for s in list_checks())
    out: dict[str, dict[str, Any]] = {}
    for name, body in table.items():
        if name not in known:
            raise ConfigError(f"rules name unknown check {name!r}; known checks: {known}")
        if not isinstance(body, Mapping):
            raise ConfigError(f'[checks."{name}"] must be a table, got {body!r}')
        spec = get_check(name)
        for key, value in body.items():
            if key == "enabled":
                if not isinstance(value, bool):
                    raise ConfigError(f'[checks."{name}"] enabled must be true or false, got {value!r}')
            elif key == "severity":
                if value not in SEVERITIES:
                    raise ConfigError(f'[checks."{name}"] severity must be one of {SEVERITIES}, got {value!r}')
            elif key not in spec.params:
                raise ConfigError(
                    f'[checks."{name}"] has unknown parameter {key!r}; it takes enabled, severity'
                    + (f" and {sorted(spec.params)}" if spec.params else "")
                )
            elif not _type_ok(spec.params[key], value):
                raise ConfigError(
                    f'[checks."{name}"] {key} must be like the default {spec.params[key]!r}, got {value!r}'
                )
        out[name] = dict(body)
    return out


def load_rules(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read and validate a TOML rules file.

    Raises:
        ConfigError: The file is not valid TOML or breaks :func:`parse_rules`.
        OSError: The file cannot be read.
    """
    p = Path(path)
    return parse_rules(loads_toml(p.read_text(encoding="utf-8"), what=f"rules file {str(p)!r}"))


def effective_config(spec: CheckSpec, rules: Rules | None = None) -> CheckConfig:
    """The check's defaults overlaid with its table in ``rules`` (already validated)."""
    body = dict((rules or {}).get(spec.name, {}))
    enabled = bool(body.pop("enabled", spec.enabled))
    severity = cast(Severity, body.pop("severity", spec.severity))
    params = {**spec.params, **body}
    return CheckConfig(name=spec.name, enabled=enabled, severity=severity, params=MappingProxyType(params))
