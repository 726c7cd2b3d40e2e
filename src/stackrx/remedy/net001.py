"""NET-001 prescription: raise nf_conntrack_max (both of its names, in step), size the hash table to
match, persist both across reboots with the module loaded early enough for sysctl.d to apply (the NET-002
trap), and — only with --yes — shorten the 5-day established-flow timeout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from stackrx.models import HostSummary, StepKind
from stackrx.remedy.actions import (
    Action,
    Backup,
    Together,
    WriteFile,
    read_sysctl,
    read_value,
    set_sysctl,
    set_sysfs,
    sysctl_path,
)
from stackrx.remedy.plan import Plan, Step

MAX_KEYS = ("net.netfilter.nf_conntrack_max", "net.nf_conntrack_max")
COUNT_KEY = "net.netfilter.nf_conntrack_count"
BUCKETS_KEY = "net.netfilter.nf_conntrack_buckets"
TIMEOUT_KEY = "net.netfilter.nf_conntrack_tcp_timeout_established"
HASHSIZE = "/sys/module/nf_conntrack/parameters/hashsize"
SYSCTL_FILE = "/etc/sysctl.d/90-stackrx-conntrack.conf"
MODPROBE_FILE = "/etc/modprobe.d/90-stackrx-nf_conntrack.conf"
MODULES_LOAD_FILE = "/etc/modules-load.d/90-stackrx-nf_conntrack.conf"
TIMEOUT_FILE = "/etc/sysctl.d/91-stackrx-conntrack-timeout.conf"
FLOOR = 524288  # the value that ended the seed's outage (64k → 512k)
KERNEL_DEFAULT_TIMEOUT = 432000
SHORTER_TIMEOUT = 86400


@dataclass(frozen=True)
class ConntrackState:
    source: str
    count: int | None
    limits: dict[str, int]  # the max keys this kernel exposes, with their values
    buckets: int | None
    kernel: tuple[int, int] | None
    hashsize_param: bool | None  # None: not known (a plan from a report)
    timeout: int | None


def _int(text: str | None) -> int | None:
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


def _kernel(release: str | None) -> tuple[int, int] | None:
    m = re.match(r"\s*(\d+)\.(\d+)", release or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def state_from_root(root: Path) -> ConntrackState:
    limits = {key: value for key in MAX_KEYS if (value := _int(read_sysctl(root, key))) is not None}
    where = "this host" if root == Path("/") else f"test root {root}"
    return ConntrackState(
        source=f"{where} (/proc/sys)", count=_int(read_sysctl(root, COUNT_KEY)), limits=limits,
        buckets=_int(read_sysctl(root, BUCKETS_KEY)), kernel=_kernel(read_sysctl(root, "kernel.osrelease")),
        hashsize_param=read_value(root, HASHSIZE) is not None, timeout=_int(read_sysctl(root, TIMEOUT_KEY)))


def state_from_summary(host: HostSummary, report_name: str) -> ConntrackState:
    """The state a stored report saw (its host summary's sysctl values): for planning, not applying."""
    sysctl = host.facts.get("sysctl") if isinstance(host.facts.get("sysctl"), dict) else {}
    values = {k: str(v) for k, v in (sysctl or {}).items()}
    limits = {key: value for key in MAX_KEYS if (value := _int(values.get(key))) is not None}
    if not limits and "nf_conntrack_max" in host.metrics:
        limits = {MAX_KEYS[0]: int(host.metrics["nf_conntrack_max"])}
    count = _int(values.get(COUNT_KEY))
    if count is None and "nf_conntrack_count" in host.metrics:
        count = int(host.metrics["nf_conntrack_count"])
    return ConntrackState(source=f"{report_name} (collected {host.collected_at or 'at an unknown time'})",
                          count=count, limits=limits, buckets=_int(values.get(BUCKETS_KEY)), kernel=None,
                          hashsize_param=None, timeout=_int(values.get(TIMEOUT_KEY)))


def _next_pow2(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


def target_max(state: ConntrackState) -> int:
    """At least the seed's 512k, at least twice the current count (headroom for growth), never lower."""
    current = max(state.limits.values(), default=0)
    need = _next_pow2(2 * state.count) if state.count else 0
    return max(FLOOR, need, current)


def target_buckets(state: ConntrackState, new_max: int) -> int:
    # nf_conntrack's own defaults: max = 4 × buckets before 5.15, max = buckets from 5.15 (d532bcd0b269).
    wanted = new_max if state.kernel is not None and state.kernel >= (5, 15) else new_max // 4
    return max(wanted, state.buckets or 0)


def _persist_limits(keys: list[str], value: int) -> str:
    return ("# stackrx fix NET-001: the conntrack table limit. Both names are one variable in the init\n"
            "# namespace; they are kept equal so neither silently overrides the other.\n"
            + "".join(f"{key} = {value}\n" for key in keys))


def build_plan(state: ConntrackState, host: str) -> Plan:
    if not state.limits:
        return Plan("NET-001", "nf_conntrack table saturation / drops", host, [],
                    state=[f"read from {state.source}: nf_conntrack_max absent"],
                    notes=["nf_conntrack is not loaded on this host: there is no table to raise."])
    current = max(state.limits.values())
    new_max = target_max(state)
    buckets = target_buckets(state, new_max)
    keys = [k for k in MAX_KEYS if k in state.limits]
    ratio = f" ({state.count / current:.1%})" if state.count is not None and current else ""
    kernel = f"{state.kernel[0]}.{state.kernel[1]}" if state.kernel else "unknown"
    new_rule = state.kernel is not None and state.kernel >= (5, 15)
    lines = [
        f"read from {state.source}",
        f"now: nf_conntrack_count {state.count if state.count is not None else '?'} / "
        f"nf_conntrack_max {current}{ratio}, buckets {state.buckets or '?'}, kernel {kernel}",
        f"target: nf_conntrack_max {new_max} (≥ {FLOOR}, ≥ 2 × count, never lowered), hash table {buckets} "
        f"buckets ({'= max from 5.15' if new_rule else 'max / 4 before 5.15'})",
    ]
    runtime: Action = Together(tuple(set_sysctl(k, new_max) for k in keys))
    steps = [
        Step(StepKind.safe, "Raise the runtime limit now; both names of the variable are set, in step.",
             action=runtime),
        Step(StepKind.safe, "Grow the hash table to match, so lookups stay short (never shrunk).",
             action=set_sysfs(HASHSIZE, buckets) if state.hashsize_param is not False else None,
             commands=[f"echo {buckets} > {HASHSIZE}"]),
        Step(StepKind.safe, f"Persist the limit in {SYSCTL_FILE} (both keys, equal values).",
             action=WriteFile(SYSCTL_FILE, _persist_limits(keys, new_max))),
        Step(StepKind.safe, f"Persist the hash table size as a module option in {MODPROBE_FILE}.",
             action=WriteFile(MODPROBE_FILE,
                              f"# stackrx fix NET-001\noptions nf_conntrack hashsize={buckets}\n")),
        Step(StepKind.safe, (
            "Load nf_conntrack at boot before systemd-sysctl runs: otherwise the key does not exist yet "
            "when sysctl.d is applied and the limit silently stays at the default (NET-002)."),
             action=WriteFile(MODULES_LOAD_FILE, "# stackrx fix NET-001\nnf_conntrack\n")),
    ]
    if state.timeout == KERNEL_DEFAULT_TIMEOUT:
        steps.append(Step(StepKind.destructive, (
            f"Optional: expire established flows idle for more than a day instead of five days "
            f"({TIMEOUT_KEY} {KERNEL_DEFAULT_TIMEOUT} → {SHORTER_TIMEOUT}). Idle connections older than that "
            "lose their entry at once, and NATed ones (floating IPs, SNAT) break."),
            action=Together((set_sysctl(TIMEOUT_KEY, SHORTER_TIMEOUT),
                             WriteFile(TIMEOUT_FILE, f"# stackrx fix NET-001 (with --yes)\n"
                                                     f"{TIMEOUT_KEY} = {SHORTER_TIMEOUT}\n"))),
            backup=Backup((sysctl_path(TIMEOUT_KEY), TIMEOUT_FILE))))
    steps.append(Step(StepKind.safe, "Check the result and watch the drop counters.", commands=[
        "sysctl " + " ".join([*keys, BUCKETS_KEY]), "conntrack -S | grep -o 'drop=[0-9]*' | sort | uniq -c"]))
    notes = []
    if state.kernel is None:
        notes.append("kernel version unknown: the hash table is sized max/4 (the pre-5.15 rule), which is "
                     "also fine on newer kernels.")
    return Plan("NET-001", "nf_conntrack table saturation / drops", host, steps, state=lines, notes=notes)
