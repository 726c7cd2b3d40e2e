"""The findings model: one pydantic schema is both the JSON output and its published schema."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, computed_field


class Severity(StrEnum):
    info = "info"
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.info: 0,
    Severity.low: 1,
    Severity.medium: 2,
    Severity.high: 3,
    Severity.critical: 4,
}


class Status(StrEnum):
    fail = "fail"
    warn = "warn"
    passed = "pass"
    skipped = "skipped"
    error = "error"


class Evidence(BaseModel):
    """Where a finding came from: a path inside the target, or a logical command such as `cmd:sysctl -a`."""

    source: str
    line: int | None = None
    excerpt: str = ""


class Cited:
    """Mixin for parsed facts that remember where they were read: `evidence()` cites that place."""

    source: str
    line: int
    excerpt: str

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=self.excerpt)


class StepKind(StrEnum):
    safe = "SAFE"
    destructive = "DESTRUCTIVE"


class RemediationStep(BaseModel):
    kind: StepKind
    text: str
    commands: list[str] = Field(default_factory=list)


class CheckMeta(BaseModel):
    """Everything an operator reads about a check; validated when the check registers."""

    id: str = Field(pattern=r"^[A-Z]{2,4}-(?:\d{3}|[FT]\d{2})$", description="NET-001; fleet F01; trend T01")
    title: str
    severity: Severity
    area: str
    tale: str
    description: str
    risk: str
    remediation: list[RemediationStep]
    references: list[str] = Field(default_factory=list)
    modes: list[str] = Field(default_factory=lambda: ["live", "snap"])
    reads: dict[str, list[str]] = Field(
        default_factory=dict,
        description="What the check reads on each kind of target (live, sosreport, kolla).",
    )


class Result(BaseModel):
    check_id: str
    title: str
    severity: Severity
    status: Status
    host: str
    message: str
    resource: str = ""
    evidence: list[Evidence] = Field(default_factory=list)
    remediation: list[RemediationStep] = Field(default_factory=list)
    area: str = ""
    muted: bool = False
    mute_reason: str = ""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def key(self) -> str:
        """Stable finding identity across runs: check, host, resource (baselines, mutes, diffs)."""
        return f"{self.check_id}|{self.host}|{self.resource}"


class HostSummary(BaseModel):
    name: str
    kind: str = Field(description="live, sosreport, kolla")
    target: str
    collected_at: str | None = None
    facts: dict[str, Any] = Field(
        default_factory=dict,
        description="Key derived facts (interfaces, physnets, L3HA states, OVN ids, mounts) for cross-node merges.",
    )
    metrics: dict[str, float] = Field(
        default_factory=dict,
        description="Numeric readings the checks used (conntrack count/max, filesystem use...), for trends.",
    )


class ScanReport(BaseModel):
    tool: str = "stackrx"
    version: str
    target: str
    hosts: list[HostSummary]
    results: list[Result]
