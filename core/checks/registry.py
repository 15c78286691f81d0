"""The check registry: every check by name, with the value kinds it applies to.

Register a custom check::

    from accord.core.checks import Finding, register_check

    def long_labels(ctx, cfg):
        for r in ctx.records("box"):
            if len(r.label or "") > cfg["max_chars"]:
                yield Finding(check=cfg.name, item_id=r.item_id, annotator_id=r.annotator_id,
                              severity=cfg.severity, category="schema_violation",
                              message=f"label longer than {cfg['max_chars']} characters")

    register_check("custom.long_labels", kinds=("box",), fn=long_labels,
                   severity="info", params={"max_chars": 20})

It then runs in :func:`~accord.core.checks.run_checks` whenever the dataset holds
one of its kinds, and a rules file can set ``[checks."custom.long_labels"]``.
Registering a name twice raises; so does asking for an unknown name (the
message lists the known ones).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..errors import ConfigError
from .base import SEVERITIES, CheckFn, Severity

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckSpec:
    """A registered check.

    Attributes:
        name: Unique name, ``<group>.<check>`` by convention.
        kinds: Value kinds it applies to; empty means every dataset (schema and
            behaviour checks).
        fn: ``fn(ctx, cfg) -> Iterable[Finding]``.
        severity: Default severity of its findings.
        params: Default thresholds (the rules file may override only these keys).
        description: One line for ``--help`` and the rules file.
        enabled: Whether it runs by default.
    """

    name: str
    kinds: tuple[str, ...]
    fn: CheckFn
    severity: Severity = "minor"
    params: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    description: str = ""
    enabled: bool = True


_REGISTRY: dict[str, CheckSpec] = {}


def register_check(name: str, *, kinds: tuple[str, ...] | list[str], fn: CheckFn, severity: Severity = "minor",
                   params: Mapping[str, Any] | None = None, description: str = "",
                   enabled: bool = True) -> CheckSpec:
    """Add a check to the registry and return its spec.

    Raises:
        ConfigError: The name is taken, empty, or the severity is not one of
            ``info``, ``minor``, ``major``, ``critical``.
    """
    if not name or not isinstance(name, str):
        raise ConfigError(f"a check needs a non-empty string name, got {name!r}")
    if name in _REGISTRY:
        raise ConfigError(
            f"a check named {name!r} is already registered; pick another name or "
            f"call unregister_check({name!r}) first"
        )
    if severity not in SEVERITIES:
        raise ConfigError(f"check {name!r}: severity must be one of {SEVERITIES}, got {severity!r}")
    if not callable(fn):
        raise ConfigError(f"check {name!r}: fn must be callable as fn(ctx, cfg), got {fn!r}")
    spec = CheckSpec(name=name, kinds=tuple(kinds), fn=fn, severity=severity,
                     params=MappingProxyType(dict(params or {})), description=description, enabled=enabled)
    _REGISTRY[name] = spec
    return spec


def unregister_check(name: str) -> None:
    """Remove a check (mainly for tests and for replacing a built-in)."""
    get_check(name)
    del _REGISTRY[name]


def get_check(name: str) -> CheckSpec:
    """The spec registered under ``name``.

    Raises:
        ConfigError: No such check; the message lists the known names.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"no check named {name!r}; known checks: {sorted(_REGISTRY)}") from None


def list_checks(kind: str | None = None) -> tuple[CheckSpec, ...]:
    """Registered checks in registration order, optionally only those applying to ``kind``."""
    return tuple(s for s in _REGISTRY.values() if kind is None or not s.kinds or kind in s.kinds)
