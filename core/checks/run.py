"""Run the registered checks over a dataset."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..model import Dataset
from .base import SEVERITIES, CheckContext, CheckReport, Finding, severity_rank
from .registry import get_check, list_checks
from .rules import effective_config, load_rules, parse_rules

if TYPE_CHECKING:
    from ..qa.taxonomy import Discrepancy


def run_checks(dataset: Dataset, *, rules: Mapping[str, Any] | str | Path | None = None,
               only: Iterable[str] | None = None,
               progress: Callable[[str], None] | None = None) -> CheckReport:
    """Run every enabled check that applies to the dataset's value kinds.

    Args:
        dataset: The records, items (image sizes, durations, texts) and schema.
        rules: A rules mapping (``{"checks": {name: {...}}}``), or a path to a TOML
            rules file; ``None`` runs every check with its defaults.
        only: Run just these checks (by name), still configured by ``rules``.
        progress: Called with each check's name before it runs.

    Returns:
        A :class:`CheckReport`; findings sorted worst first, then by check, item and region.

    Raises:
        ConfigError: A bad rules file, or an unknown name in ``only``.

    Example:
        >>> from accord.core.model import Box, Dataset, Item, Record
        >>> ds = Dataset(records=(Record(item_id="img", annotator_id="a", label_set="objects",
        ...     value=Box(label="car", x=90, y=10, width=20, height=10)),),
        ...     items={"img": Item(item_id="img", width=100, height=100)})
        >>> rep = run_checks(ds)
        >>> [(f.check, f.severity) for f in rep.findings]
        [('geometry.out_of_bounds', 'minor')]
    """
    parsed = resolve_rules(rules)
    specs = list_checks() if only is None else tuple(get_check(n) for n in only)
    ctx = CheckContext(dataset)
    kinds = ctx.kinds()
    findings: list[Finding] = []
    run: list[str] = []
    durations: dict[str, float] = {}
    for spec in specs:
        cfg = effective_config(spec, parsed)
        if not cfg.enabled or (spec.kinds and not kinds.intersection(spec.kinds)):
            continue
        if progress is not None:
            progress(spec.name)
        run.append(spec.name)
        t0 = time.perf_counter()
        findings.extend(checked(spec.name, spec.fn(ctx, cfg)))
        durations[spec.name] = time.perf_counter() - t0
    return assemble_report(findings, run, n_records=len(dataset.records), durations_s=durations)


def resolve_rules(rules: Mapping[str, Any] | str | Path | None) -> dict[str, dict[str, Any]]:
    """``rules`` as :func:`run_checks` takes them (a mapping, a TOML path or ``None``), validated.

    Raises:
        ConfigError: A bad rules file or mapping.
    """
    if isinstance(rules, (str, Path)):
        return load_rules(rules)
    return parse_rules(rules) if rules else {}


def checked(name: str, found: Iterable[Any]) -> Iterator[Finding]:
    """The findings check ``name`` yields, each verified to be a :class:`Finding` with a known severity.

    Raises:
        ConfigError: The check yielded something else, or a severity not in :data:`SEVERITIES`.
    """
    for f in found:
        if not isinstance(f, Finding):
            raise ConfigError(f"check {name!r} must yield Finding objects, got {f!r}")
        if f.severity not in SEVERITIES:
            raise ConfigError(f"check {name!r} yielded severity {f.severity!r}; use one of {SEVERITIES} "
                              f"(usually cfg.severity)")
        yield f


def finding_order(f: Finding) -> tuple[int, str, str, str, str]:
    """The sort key of a report's findings: worst first, then check, item, region and annotator."""
    return (-severity_rank(f.severity), f.check, f.item_id or "", f.region_id or "", f.annotator_id or "")


def assemble_report(findings: list[Finding], run: Iterable[str], *, n_records: int,
                    durations_s: Mapping[str, float]) -> CheckReport:
    """The :class:`CheckReport` of ``findings`` (sorted here, stably, by :func:`finding_order`) from
    the checks ``run`` (in run order), with counts per check and per severity."""
    run = tuple(run)
    findings.sort(key=finding_order)
    counts: dict[str, dict[str, int]] = {n: dict.fromkeys(SEVERITIES, 0) for n in run}
    by_severity = dict.fromkeys(SEVERITIES, 0)
    for f in findings:
        counts.setdefault(f.check, dict.fromkeys(SEVERITIES, 0))[f.severity] += 1
        by_severity[f.severity] += 1
    return CheckReport(findings=tuple(findings), checks_run=run,
                       counts=MappingProxyType({k: MappingProxyType(v) for k, v in counts.items()}),
                       by_severity=MappingProxyType(by_severity), n_records=n_records,
                       durations_s=MappingProxyType(dict(durations_s)))


def to_discrepancies(findings: Iterable[Finding]) -> list[Discrepancy]:
    """Findings as taxonomy :class:`~accord.core.qa.taxonomy.Discrepancy` objects (``source="automated"``).

    The event is ``automated``; the category and severity are the finding's; the
    check name and message go into ``evidence``; a missing item, label set or
    annotator becomes ``""``; ``against`` is ``rules``.
    """
    from ..qa.taxonomy import Discrepancy

    return [Discrepancy(category=f.category, severity=f.severity, event="automated", item_id=f.item_id or "",
                        label_set=f.label_set or "", annotator_id=f.annotator_id or "", against="rules",
                        candidate_region_id=f.region_id, candidate_label=f.label,
                        evidence={**f.evidence, "check": f.check, "message": f.message}, source="automated")
            for f in findings]
