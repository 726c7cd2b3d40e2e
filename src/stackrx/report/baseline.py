"""Baselines: a previous report's findings are known; `--baseline FILE` reports only the new ones.

A baseline is any report that `stackrx scan --format json` wrote. Findings match on the stable key
(check, host, resource), so a reworded message or a changed count does not make an old finding new.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from stackrx.errors import UsageError
from stackrx.models import ScanReport, Status

FINDING = (Status.fail, Status.warn)


def load_report(path: str | Path) -> ScanReport:
    """Read a JSON report, turning every way it can be wrong into a one-line usage error."""
    p = Path(path)
    try:
        return ScanReport.model_validate_json(p.read_bytes())
    except OSError as exc:
        raise UsageError(f"cannot read {p}: {exc.strerror or exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ())) or "document"
        reason = first.get("msg", "invalid")
        raise UsageError(f"{p} is not a stackrx JSON report ({where}: {reason})") from None


def baseline_keys(report: ScanReport) -> set[str]:
    return {r.key for r in report.results if r.status in FINDING}


def apply_baseline(report: ScanReport, path: str | Path) -> ScanReport:
    """Drop the findings already in the baseline; passes, skips and errors stay."""
    known = baseline_keys(load_report(path))
    kept = [r for r in report.results if r.status not in FINDING or r.key not in known]
    return report.model_copy(update={"results": kept})
