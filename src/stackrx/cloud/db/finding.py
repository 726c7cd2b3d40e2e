"""A verdict computed from database facts, before a check turns it into a Result."""

from __future__ import annotations

from dataclasses import dataclass, field

from stackrx.models import Evidence, Severity


@dataclass(frozen=True)
class Finding:
    severity: Severity
    message: str
    resource: str = ""
    evidence: list[Evidence] = field(default_factory=list)
