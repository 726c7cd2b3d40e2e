"""`fix NET-001` in a test root: the plan, an apply that changes exactly what was planned, a second apply
that changes nothing, DESTRUCTIVE only with --yes (backup first), the change log and its undo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from stackrx.commands.fix import fix_cmd
from stackrx.models import HostSummary, ScanReport, StepKind
from stackrx.remedy import changelog
from stackrx.remedy.actions import SetValue, Together, WriteFile
from stackrx.remedy.net001 import build_plan, state_from_root
from stackrx.remedy.plan import Plan, apply_plan

PROC = {
    "proc/sys/net/netfilter/nf_conntrack_max": "65536",
    "proc/sys/net/nf_conntrack_max": "65536",
    "proc/sys/net/netfilter/nf_conntrack_count": "63900",
    "proc/sys/net/netfilter/nf_conntrack_buckets": "16384",
    "proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established": "432000",
    "proc/sys/kernel/osrelease": "5.4.0-150-generic",
    "sys/module/nf_conntrack/parameters/hashsize": "16384",
    "etc/sysctl.d/10-operator.conf": "vm.swappiness = 10\n",
}


def make_root(tmp_path: Path, **overrides: str | None) -> Path:
    root = tmp_path / "root"
    for rel, text in {**PROC, **overrides}.items():
        if text is None:
            continue
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text if rel.startswith("etc/") else text + "\n")
    return root


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(autouse=True)
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


def fix(*args: str) -> Result:
    return CliRunner().invoke(fix_cmd, list(args))


def planned_values(plan: Plan, *, destructive: bool = False) -> dict[str, str]:
    """What the plan says it will write: target path → content (files) or value (kernel files)."""
    out: dict[str, str] = {}

    def walk(action: object) -> None:
        if isinstance(action, Together):
            for part in action.parts:
                walk(part)
        elif isinstance(action, WriteFile):
            out[action.path.lstrip("/")] = action.content
        elif isinstance(action, SetValue):
            out[action.path.lstrip("/")] = action.value + "\n"

    for step in plan.steps:
        if step.action is not None and (destructive or step.kind is StepKind.safe):
            walk(step.action)
    return out


def test_plan_prints_exact_commands_and_changes_nothing(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    before = snapshot(root)
    res = fix("NET-001", "--root", str(root))
    assert res.exit_code == 0, res.output
    out = res.output
    assert "now: nf_conntrack_count 63900 / nf_conntrack_max 65536 (97.5%)" in out
    assert "target: nf_conntrack_max 524288" in out and "131072 buckets" in out
    for cmd in ("$ sysctl -w net.netfilter.nf_conntrack_max=524288", "$ sysctl -w net.nf_conntrack_max=524288",
                "$ echo 131072 > /sys/module/nf_conntrack/parameters/hashsize",
                "$ printf '%s\\n' '# stackrx fix NET-001: the conntrack table limit.",
                "'net.netfilter.nf_conntrack_max = 524288' 'net.nf_conntrack_max = 524288' > "
                "/etc/sysctl.d/90-stackrx-conntrack.conf",
                "$ sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=86400"):
        assert cmd in out, cmd
    assert "/proc/sys/net/netfilter/nf_conntrack_max: 65536 → 524288" in out
    assert "create /etc/modules-load.d/90-stackrx-nf_conntrack.conf" in out
    assert out.count("[SAFE]") == 6 and out.count("[DESTRUCTIVE]") == 1
    assert "backup first: save /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established" in out
    assert snapshot(root) == before


def test_apply_changes_exactly_the_plan_then_nothing(tmp_path: Path, data_home: Path) -> None:
    root = make_root(tmp_path)
    before = snapshot(root)
    plan = build_plan(state_from_root(root), "test-root")
    expected = planned_values(plan)
    res = fix("NET-001", "--apply", "--root", str(root))
    assert res.exit_code == 0, res.output
    after = snapshot(root)
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == set(expected)
    assert {k: after[k] for k in changed} == expected
    assert after["proc/sys/net/netfilter/nf_conntrack_max"] == after["proc/sys/net/nf_conntrack_max"] == "524288\n"
    assert after["sys/module/nf_conntrack/parameters/hashsize"] == "131072\n"
    conf = after["etc/sysctl.d/90-stackrx-conntrack.conf"]
    assert "net.netfilter.nf_conntrack_max = 524288\nnet.nf_conntrack_max = 524288\n" in conf
    assert after["etc/modprobe.d/90-stackrx-nf_conntrack.conf"].endswith("options nf_conntrack hashsize=131072\n")
    # DESTRUCTIVE without --yes: untouched, and said so.
    assert after["proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established"] == "432000\n"
    assert "skipped (DESTRUCTIVE, add --yes" in res.output
    assert not (root / "etc/sysctl.d/91-stackrx-conntrack-timeout.conf").exists()
    assert not (data_home / "stackrx" / "backups").exists()
    # Logged, one line per change, each with its undo.
    log = [json.loads(line) for line in (data_home / "stackrx" / "changes.jsonl").read_text().splitlines()]
    assert {e["path"].lstrip("/") for e in log} == changed
    apply_id = log[0]["apply_id"]
    assert all(e["apply_id"] == apply_id and e["undo"] == f"stackrx fix --undo {apply_id}"
               and e["root"] == str(root) for e in log)
    assert f"undo with: stackrx fix --undo {apply_id}" in res.output
    # Second apply: nothing to do, nothing written, nothing logged.
    again = fix("NET-001", "--apply", "--root", str(root))
    assert again.exit_code == 0, again.output
    assert "nothing changed: the host already matches the plan" in again.output
    assert snapshot(root) == after
    assert len((data_home / "stackrx" / "changes.jsonl").read_text().splitlines()) == len(log)
    # --log lists the changes.
    listing = fix("--log")
    assert listing.exit_code == 0 and apply_id in listing.output and "'65536' → '524288'" in listing.output


def test_destructive_step_needs_yes_and_backs_up_first(tmp_path: Path, data_home: Path) -> None:
    root = make_root(tmp_path)
    res = fix("NET-001", "--apply", "--yes", "--root", str(root))
    assert res.exit_code == 0, res.output
    assert (root / "proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established").read_text() == "86400\n"
    assert "nf_conntrack_tcp_timeout_established = 86400" in (
        root / "etc/sysctl.d/91-stackrx-conntrack-timeout.conf").read_text()
    log = [json.loads(line) for line in (data_home / "stackrx" / "changes.jsonl").read_text().splitlines()]
    apply_id = log[0]["apply_id"]
    backup = data_home / "stackrx" / "backups" / apply_id / "proc/sys/net/netfilter/" \
        "nf_conntrack_tcp_timeout_established"
    assert backup.read_text() == "432000\n"
    lines = res.output.splitlines()
    backup_at = next(i for i, line in enumerate(lines) if "backup saved under" in line)
    done_at = next(i for i, line in enumerate(lines) if "step 6: done" in line)
    assert backup_at < done_at
    assert [e["kind"] for e in log if e["step"] == 6] == ["DESTRUCTIVE", "DESTRUCTIVE"]


def test_undo_restores_the_tree_and_refuses_conflicts(tmp_path: Path, data_home: Path) -> None:
    root = make_root(tmp_path)
    original = snapshot(root)
    assert fix("NET-001", "--apply", "--yes", "--root", str(root)).exit_code == 0
    apply_id = changelog.entries()[0]["apply_id"]
    res = fix("--undo", apply_id)
    assert res.exit_code == 0, res.output
    assert "restored /etc/sysctl.d/90-stackrx-conntrack.conf" in res.output
    assert snapshot(root) == original  # created files removed, values put back
    assert all(e.get("undo_of") == apply_id for e in changelog.entries()[len(changelog.entries()) // 2:])
    again = fix("--undo", apply_id)
    assert again.exit_code == 0 and "already as before" in again.output
    # Someone edits a file after stackrx wrote it: undo leaves that file alone and says so.
    assert fix("NET-001", "--apply", "--root", str(root)).exit_code == 0
    second = changelog.entries()[-1]["apply_id"]
    conf = root / "etc/sysctl.d/90-stackrx-conntrack.conf"
    conf.write_text("net.netfilter.nf_conntrack_max = 1\n")
    res = fix("--undo", second)
    assert res.exit_code == 1 and "changed since stackrx wrote it" in res.output
    assert conf.read_text() == "net.netfilter.nf_conntrack_max = 1\n"
    assert (root / "proc/sys/net/netfilter/nf_conntrack_max").read_text() == "65536\n"
    assert fix("--undo", "no-such-id").exit_code == 1


def test_targets_follow_the_host(tmp_path: Path) -> None:
    busy = build_plan(state_from_root(make_root(tmp_path / "a", **{
        "proc/sys/net/netfilter/nf_conntrack_max": "524288",
        "proc/sys/net/nf_conntrack_max": "524288",
        "proc/sys/net/netfilter/nf_conntrack_count": "400000"})), "h")
    assert planned_values(busy)["proc/sys/net/netfilter/nf_conntrack_max"] == "1048576\n"  # 2 × count, pow2
    big_root = make_root(tmp_path / "b", **{"proc/sys/net/netfilter/nf_conntrack_max": "2097152",
                                            "proc/sys/net/nf_conntrack_max": "2097152",
                                            "proc/sys/net/netfilter/nf_conntrack_buckets": "524288",
                                            "sys/module/nf_conntrack/parameters/hashsize": "524288"})
    big = build_plan(state_from_root(big_root), "h")
    values = planned_values(big)
    assert values["proc/sys/net/netfilter/nf_conntrack_max"] == "2097152\n"  # never lowered
    assert not big.steps[0].action.pending(big_root)  # type: ignore[union-attr]
    assert values["sys/module/nf_conntrack/parameters/hashsize"] == "524288\n"
    new_kernel = build_plan(state_from_root(make_root(tmp_path / "c", **{
        "proc/sys/kernel/osrelease": "6.8.0-45-generic"})), "h")
    assert planned_values(new_kernel)["sys/module/nf_conntrack/parameters/hashsize"] == "524288\n"  # = max
    only_new_name = build_plan(state_from_root(make_root(tmp_path / "d", **{
        "proc/sys/net/nf_conntrack_max": None})), "h")
    assert "proc/sys/net/nf_conntrack_max" not in planned_values(only_new_name)
    tuned_timeout = build_plan(state_from_root(make_root(tmp_path / "e", **{
        "proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established": "7200"})), "h")
    assert all(s.kind is StepKind.safe for s in tuned_timeout.steps)


def test_no_conntrack_module_means_nothing_to_apply(tmp_path: Path) -> None:
    root = make_root(tmp_path, **{k: None for k in PROC if "conntrack" in k})
    res = fix("NET-001", "--root", str(root))
    assert res.exit_code == 0 and "nf_conntrack is not loaded" in res.output
    res = fix("NET-001", "--apply", "--root", str(root))
    assert res.exit_code == 1 and "nothing to apply" in res.output


def test_a_failing_step_stops_and_keeps_the_undo_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_root(tmp_path)
    plan = build_plan(state_from_root(root), "h")
    real_apply = SetValue.apply

    def refuse_hashsize(self: SetValue, ctx: object) -> object:
        if "hashsize" in self.path:
            raise PermissionError("Operation not permitted")
        return real_apply(self, ctx)  # type: ignore[arg-type]

    monkeypatch.setattr(SetValue, "apply", refuse_hashsize)
    lines: list[str] = []
    outcome = apply_plan(plan, root=root, yes=False, echo=lines.append)
    assert outcome.failed is not None and outcome.failed[0] == 2
    assert outcome.applied == [1]
    assert {e["step"] for e in changelog.entries()} == {1}
    assert not (root / "etc/sysctl.d/90-stackrx-conntrack.conf").exists()
    assert any("FAILED" in line and "--undo" in line for line in lines)


def test_other_hosts_and_other_checks(tmp_path: Path) -> None:
    report = ScanReport(version="0.1.0", target="t", hosts=[HostSummary(
        name="network-1", kind="sosreport", target="t", collected_at="2026-12-01T09:00:00+00:00",
        facts={"sysctl": {"net.netfilter.nf_conntrack_max": "262144", "net.nf_conntrack_max": "262144",
                          "net.netfilter.nf_conntrack_count": "258124"}})], results=[])
    path = tmp_path / "scan.json"
    path.write_text(report.model_dump_json())
    res = fix("NET-001", "--host", "network-1", "--report", str(path))
    assert res.exit_code == 0, res.output
    assert f"read from {path}" in res.output and "target: nf_conntrack_max 524288" in res.output
    assert "→" not in res.output.split("target:")[1].split("Note")[0].replace("→ by hand", "")
    res = fix("NET-001", "--host", "network-1", "--report", str(path), "--apply")
    assert res.exit_code == 1 and "changes this host only" in res.output
    res = fix("CMP-001", "--root", str(make_root(tmp_path)))
    assert res.exit_code == 0 and "[DESTRUCTIVE]" in res.output and "not implemented for CMP-001" in res.output
    res = fix("CMP-001", "--apply", "--root", str(make_root(tmp_path)))
    assert res.exit_code == 1 and "--apply is not implemented for CMP-001" in res.output
    assert fix("NOPE-001").exit_code == 1
    assert fix().exit_code == 1
