"""Mute lists: accepted risks stay listed but marked, and do not count for the exit code.

    mutes:                        # or the list alone at top level
      - check: NET-001            # glob patterns; each defaults to "*"
        host: "network-*"
        resource: "*"
        reason: "table resized in change CHG-1234, waiting for the reboot window"   # required
        expires: 2026-12-31       # optional: from the day after, the finding counts again
"""

from __future__ import annotations

import fnmatch
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stackrx.errors import UsageError
from stackrx.models import ScanReport, Status


class MuteRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check: str = "*"
    host: str = "*"
    resource: str = "*"
    reason: str = Field(min_length=1)
    expires: date | None = None

    def active(self, today: date) -> bool:
        return self.expires is None or today <= self.expires

    def matches(self, check_id: str, host: str, resource: str) -> bool:
        return (fnmatch.fnmatchcase(check_id.upper(), self.check.upper())
                and fnmatch.fnmatchcase(host, self.host)
                and fnmatch.fnmatchcase(resource, self.resource))


def load_mutes(path: str | Path) -> list[MuteRule]:
    p = Path(path)
    try:
        data: Any = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise UsageError(f"cannot read mute list {p}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"mute list {p} is not YAML: {str(exc).splitlines()[0]}") from None
    if isinstance(data, dict) and set(data) == {"mutes"}:
        data = data["mutes"]
    if data is None:
        return []
    if not isinstance(data, list):
        raise UsageError(f"mute list {p}: expected a list of rules (or `mutes:` holding one)")
    rules: list[MuteRule] = []
    for i, item in enumerate(data, 1):
        try:
            rules.append(MuteRule.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(x) for x in first.get("loc", ())) or "rule"
            raise UsageError(f"mute list {p}, rule {i}: {field}: {first.get('msg', 'invalid')}") from None
    return rules


def apply_mutes(report: ScanReport, path: str | Path, today: date | None = None) -> ScanReport:
    """Mark the findings that an active rule matches; the first matching rule gives the reason."""
    today = today or date.today()
    rules = [r for r in load_mutes(path) if r.active(today)]
    results = []
    for result in report.results:
        rule = next((rule for rule in rules if result.status in (Status.fail, Status.warn)
                     and rule.matches(result.check_id, result.host, result.resource)), None)
        if rule is not None:
            reason = rule.reason + (f" (until {rule.expires.isoformat()})" if rule.expires else "")
            result = result.model_copy(update={"muted": True, "mute_reason": reason})
        results.append(result)
    return report.model_copy(update={"results": results})


def expired_rules(path: str | Path, today: date | None = None) -> list[MuteRule]:
    """Rules past their expiry date, for a reminder that they no longer mute anything."""
    today = today or date.today()
    return [r for r in load_mutes(path) if not r.active(today)]
