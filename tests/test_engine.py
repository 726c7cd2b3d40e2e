"""The engine turns missing evidence, parse problems and crashing checks into results, never tracebacks."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from stackrx.demo.builder import NodeTree
from stackrx.engine import CheckContext, RegisteredCheck, ScanOptions, run_check, scan_host, select_checks
from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts import Facts
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, Status, StepKind
from stackrx.sources.base import HostView
from stackrx.sources.sosreport import SosReportView


def meta(check_id: str = "TST-001", area: str = "test") -> CheckMeta:
    return CheckMeta(id=check_id, title="t", severity=Severity.high, area=area, tale="t", description="d",
                     risk="r", remediation=[RemediationStep(kind=StepKind.safe, text="x", commands=["true"])])


@pytest.fixture
def view(tmp_path: Path) -> SosReportView:
    tree = NodeTree(hostname="node-a")
    tree.file("etc/broken.conf", "[unterminated\nkey = value\n")
    tree.file("etc/nova/nova.conf", "[DEFAULT]\ntransport_url = rabbit://nova:hunter2@10.0.0.1:5672/\n")
    tree.write(tmp_path)
    return SosReportView(tmp_path)


def _run(fn, view: HostView) -> list:  # type: ignore[no-untyped-def, type-arg]
    return run_check(RegisteredCheck(meta(), fn), view, Facts(view), ScanOptions())


def test_missing_evidence_is_skipped_naming_what_was_looked_for(view: SosReportView) -> None:
    def needs(ctx: CheckContext) -> None:
        raise MissingEvidence("sos_commands/kernel/sysctl_-a")

    [r] = _run(needs, view)
    assert r.status is Status.skipped and "sos_commands/kernel/sysctl_-a" in r.message


def test_parse_error_is_error_naming_the_file(view: SosReportView) -> None:
    from stackrx.facts.ini import parse_ini

    def parses(ctx: CheckContext) -> None:
        text = ctx.view.read_text("etc/broken.conf")
        assert text is not None
        parse_ini([text])

    [r] = _run(parses, view)
    assert r.status is Status.error and "etc/broken.conf" in r.message
    assert r.evidence[0].source == "etc/broken.conf"


def test_a_crashing_check_does_not_stop_the_others(view: SosReportView) -> None:
    def crashes(ctx: CheckContext) -> None:
        raise ZeroDivisionError("boom")

    def fine(ctx: CheckContext) -> None:
        ctx.ok("all good")

    results = scan_host(view, [RegisteredCheck(meta("TST-001"), crashes), RegisteredCheck(meta("TST-002"), fine)])
    assert [(r.check_id, r.status) for r in results] == [("TST-001", Status.error), ("TST-002", Status.passed)]
    assert "ZeroDivisionError" in results[0].message


def test_secrets_are_redacted_in_every_field(view: SosReportView) -> None:
    def leaks(ctx: CheckContext) -> None:
        text = ctx.view.read_text("etc/nova/nova.conf")
        assert text is not None
        ctx.fail(f"found {text.content.strip()}", resource="password=hunter2",
                 evidence=[Evidence(source=text.source, line=2, excerpt=text.lines()[1])])

    [r] = scan_host(view, [RegisteredCheck(meta(), leaks)])
    assert "hunter2" not in r.model_dump_json()
    assert "rabbit://nova:***@10.0.0.1" in r.evidence[0].excerpt


def test_fail_carries_remediation_and_pass_does_not(view: SosReportView) -> None:
    def both(ctx: CheckContext) -> None:
        ctx.fail("bad")
        ctx.ok("good")

    bad, good = _run(both, view)
    assert bad.remediation and not good.remediation


def test_facts_are_cached_per_host_including_failures(view: SosReportView) -> None:
    calls: list[int] = []

    def loader(v: HostView) -> int:
        calls.append(1)
        raise ParseError("x", "bad")

    facts = Facts(view)
    for _ in range(3):
        with pytest.raises(ParseError):
            facts.get(loader)
    assert len(calls) == 1


def test_select_by_id_and_area_case_insensitive() -> None:
    regs = {m.id: RegisteredCheck(m, lambda ctx: None) for m in (meta("NET-001", "net"), meta("SEC-001", "sec"),
                                                                 meta("NET-003", "net"))}
    assert [r.meta.id for r in select_checks(regs, only=["NET"])] == ["NET-001", "NET-003"]
    assert [r.meta.id for r in select_checks(regs, only=["net", "sec-001"], skip=["net-003"])] == ["NET-001", "SEC-001"]


def test_metadata_is_validated() -> None:
    with pytest.raises(pydantic.ValidationError):
        meta("bad id")
