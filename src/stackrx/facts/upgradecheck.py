"""Results of the services' own upgrade checks (`<svc>-status upgrade check`) and of `neutron-db-manage`.

`<svc>-status upgrade check` prints oslo.upgradecheck's table (`| Check: Cells v2 |`, `| Result: Success |`,
`| Details: ... |`, continued lines) or, with `--json`, a list of `{"check": ..., "result": 0|1|2|"Success",
"details": ...}` (oslo.upgradecheck Code: SUCCESS 0, WARNING 1, FAILURE 2). sos collects only
`nova-status upgrade check` (openstack_nova plugin, `nova-status_upgrade_check`); the others are live-only.

`neutron-db-manage current` / `heads` print alembic revisions per project block (`Running current for
neutron ...`, then `<12-hex rev> (head)` lines).

Public API:

    CheckResult(name, result: "Success" | "Warning" | "Failure" | str, details, source, line)  .evidence()
    parse_upgrade_check(text) -> list[CheckResult]
    STATUS_COMMANDS: service -> command key
    load_upgrade_checks(view) -> dict[service, list[CheckResult]]   # MissingEvidence when none ran
    parse_alembic(text) -> dict[project, dict[rev, line]]
    DbRevisions(current, heads: dict[project, dict[rev, line]], current_source, heads_source)
    load_neutron_revisions(view) -> DbRevisions
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from stackrx.errors import MissingEvidence, ParseError
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

_MAX_LINE = 64 * 1024
_EXCERPT = 300
STATUS_COMMANDS = {
    "nova": "nova-status upgrade check",
    "neutron": "neutron-status upgrade check",
    "placement": "placement-status upgrade check",
    "cinder": "cinder-status upgrade check",
    "glance": "glance-status upgrade check",
}
_CODES = {0: "Success", 1: "Warning", 2: "Failure"}
_ROW = re.compile(r"^\|?\s*(?P<key>Check|Result|Details):\s*(?P<value>.*?)\s*\|?\s*$")
_REV = re.compile(r"^(?P<rev>[0-9a-f]{12})\b(?P<rest>.*)$")
_RUNNING = re.compile(r"^\s*Running (?:current|heads) for (?P<project>\S+) \.\.\.")


@dataclass(frozen=True)
class CheckResult:
    name: str
    result: str
    details: str
    source: str
    line: int | None

    def evidence(self) -> Evidence:
        text = f"Check: {self.name} / Result: {self.result}" + (f" / Details: {self.details}" if self.details else "")
        return Evidence(source=self.source, line=self.line, excerpt=text[:_EXCERPT])


def _json_results(text: Text, data: object) -> list[CheckResult]:
    out: list[CheckResult] = []
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict):
            continue
        code = item.get("result")
        result = _CODES.get(code, str(code)) if isinstance(code, int) else str(code).capitalize()
        out.append(CheckResult(str(item.get("check", "?")), result, str(item.get("details") or ""), text.source, None))
    return out


def parse_upgrade_check(text: Text) -> list[CheckResult]:
    body = text.content.strip()
    if body.startswith("["):
        try:
            return _json_results(text, json.loads(body))
        except (ValueError, RecursionError):
            raise ParseError(text.source, "invalid JSON upgrade check output") from None
    out: list[CheckResult] = []
    name: str | None = None
    result: str | None = None
    details: list[str] = []
    line: int | None = None
    in_details = False

    def close() -> None:
        if name is not None and result is not None:
            out.append(CheckResult(name, result, " ".join(d for d in details if d and d != "None"), text.source,
                                   line))

    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        m = _ROW.match(raw.strip())
        if m:
            key, value = m.group("key"), m.group("value")
            if key == "Check":
                close()
                name, result, details, line, in_details = value, None, [], lineno, False
            elif key == "Result":
                result, line = value, lineno
            else:
                details, in_details = [value], True
            continue
        stripped = raw.strip()
        if in_details and stripped.startswith("|") and not stripped.startswith("+"):
            details.append(stripped.strip("| ").strip())
        elif stripped.startswith("+"):
            in_details = False
    close()
    if not out and body:
        raise ParseError(text.source, "no `Check:` / `Result:` rows (did the command fail?): "
                         + body.splitlines()[0][:120])
    return out


def load_upgrade_checks(view: HostView) -> dict[str, list[CheckResult]]:
    found: dict[str, list[CheckResult]] = {}
    for service, key in STATUS_COMMANDS.items():
        text = view.command(key)
        if text is not None and text.content.strip():
            found[service] = parse_upgrade_check(text)
    if not found:
        raise MissingEvidence("sos_commands/openstack_nova/nova-status_upgrade_check "
                              "(cmd: nova-status / neutron-status / ... upgrade check)")
    return found


def parse_alembic(text: Text) -> dict[str, dict[str, int]]:
    projects: dict[str, dict[str, int]] = {}
    project = "neutron"
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        m = _RUNNING.match(raw)
        if m:
            project = m.group("project")
            projects.setdefault(project, {})
            continue
        r = _REV.match(raw.strip())
        if r:
            projects.setdefault(project, {})[r.group("rev")] = lineno
    if not any(projects.values()) and text.content.strip():
        raise ParseError(text.source, "no alembic revision lines (12 hex digits)")
    return projects


@dataclass(frozen=True)
class DbRevisions:
    current: dict[str, dict[str, int]]
    heads: dict[str, dict[str, int]]
    current_source: str
    heads_source: str


def load_neutron_revisions(view: HostView) -> DbRevisions:
    current = view.command("neutron-db-manage current")
    heads = view.command("neutron-db-manage heads")
    if current is None or heads is None or not current.content.strip() or not heads.content.strip():
        raise MissingEvidence("cmd: neutron-db-manage current / heads")
    return DbRevisions(parse_alembic(current), parse_alembic(heads), current.source, heads.source)


FUZZ_TARGETS = [parse_upgrade_check, parse_alembic]
