"""Galera node status (`SHOW GLOBAL STATUS LIKE 'wsrep_%'`) and the verdicts of DB-003 and DB-F01.

The verdict functions are pure (status in, findings out) so the same rules judge a live server, a captured
status dump, or the members of a fleet scan.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from stackrx.cloud.db.finding import Finding
from stackrx.cloud.db.server import DbView
from stackrx.errors import NotApplicable
from stackrx.models import Evidence, Severity

STATUS_SQL = "SHOW GLOBAL STATUS LIKE 'wsrep_%'"
VARIABLES = ("wsrep_on", "wsrep_provider", "wsrep_cluster_address", "wsrep_cluster_name", "wsrep_desync",
             "wsrep_node_name")
VARIABLES_SQL = "SHOW GLOBAL VARIABLES WHERE Variable_name IN (" + ", ".join(f"'{v}'" for v in VARIABLES) + ")"

# A joiner that has been up this long and is still not Synced is stuck, not starting (catalogue: a
# Joining/Joined state persisting ≥ 10 min is high). One sample cannot show persistence; the server's own
# uptime bounds how long the state can have lasted at most, so below it the verdict stays medium.
STUCK_AFTER_S = 600
FLOW_CONTROL_PAUSED_MAX = 0.1
RECV_QUEUE_AVG_MAX = 10.0  # heuristic threshold (catalogue: UNVERIFIED)

_ZERO_UUID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class GaleraStatus:
    """One node's wsrep status and variables, as reported by the server."""

    server: str
    status: Mapping[str, str]
    variables: Mapping[str, str]
    uptime: int | None = None

    @property
    def source(self) -> str:
        return f"sql:{self.server} {STATUS_SQL}"

    @property
    def vars_source(self) -> str:
        return f"sql:{self.server} SHOW GLOBAL VARIABLES"

    def get(self, name: str) -> str:
        return self.status.get(name, "")

    def evidence(self, *names: str) -> list[Evidence]:
        return [Evidence(source=self.source, excerpt=f"{n} = {self.get(n) or '(absent)'}") for n in names]

    @property
    def is_galera(self) -> bool:
        provider = self.variables.get("wsrep_provider", "").strip().lower()
        return self.variables.get("wsrep_on", "").upper() == "ON" and provider not in ("", "none")

    @property
    def primary(self) -> bool:
        return self.get("wsrep_cluster_status") == "Primary"

    @property
    def size(self) -> int | None:
        return _int(self.get("wsrep_cluster_size"))

    @property
    def conf_id(self) -> int | None:
        return _int(self.get("wsrep_cluster_conf_id"))

    @property
    def state_uuid(self) -> str:
        return self.get("wsrep_cluster_state_uuid")

    @property
    def incoming(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.get("wsrep_incoming_addresses").split(",") if a.strip())

    @property
    def cluster_address(self) -> str:
        return self.variables.get("wsrep_cluster_address", "")

    @property
    def configured_members(self) -> list[str]:
        """Hosts of `gcomm://a,b,c` (options after `?` dropped); [] for an empty `gcomm://`."""
        return gcomm_members(self.cluster_address)


def gcomm_members(address: str) -> list[str]:
    m = re.match(r"\s*gcomm://([^?]*)", address)
    if not m:
        return []
    return [h.strip() for h in m.group(1).split(",") if h.strip()]


def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def _float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def status_from_rows(server: str, status_rows: list[tuple[object, ...]], var_rows: list[tuple[object, ...]],
                     uptime_rows: list[tuple[object, ...]]) -> GaleraStatus:
    def pairs(rows: list[tuple[object, ...]]) -> dict[str, str]:
        return {str(r[0]).lower(): "" if r[1] is None else str(r[1]) for r in rows if len(r) >= 2}

    uptime = pairs(uptime_rows).get("uptime", "")
    return GaleraStatus(server, pairs(status_rows), pairs(var_rows), _int(uptime))


def read_status(view: DbView) -> GaleraStatus:
    """Status of a server whether or not it runs Galera (DbError when it cannot be asked)."""
    srv = view.server
    return status_from_rows(srv.label, srv.rows("SHOW GLOBAL STATUS LIKE %s", ("wsrep_%",)),
                            srv.rows(VARIABLES_SQL), srv.rows("SHOW GLOBAL STATUS LIKE %s", ("Uptime",)))


def load_galera(view: object) -> GaleraStatus:
    """Facts loader: the Galera status of a database host view; NotApplicable for non-Galera servers."""
    if not isinstance(view, DbView):
        raise NotApplicable("needs a database connection (`stackrx db URL`)")
    st = read_status(view)
    if not st.is_galera:
        raise NotApplicable(f"{st.server} is not a Galera node (wsrep_on={st.variables.get('wsrep_on', 'absent')}, "
                            f"wsrep_provider={st.variables.get('wsrep_provider', 'absent')})")
    return st


# -- DB-003: one node -------------------------------------------------------------------------------------
def node_findings(st: GaleraStatus) -> list[Finding]:
    out: list[Finding] = []
    status = st.get("wsrep_cluster_status")
    if status != "Primary":
        out.append(Finding(Severity.critical, f"wsrep_cluster_status is {status or 'absent'}, not Primary: this "
                           "node refuses writes and reads may be stale", "wsrep_cluster_status",
                           st.evidence("wsrep_cluster_status", "wsrep_cluster_size")))
    for name in ("wsrep_ready", "wsrep_connected"):
        if st.get(name).upper() != "ON":
            out.append(Finding(Severity.critical, f"{name} is {st.get(name) or 'absent'}, not ON", name,
                               st.evidence(name)))
    out.extend(_state_findings(st))
    out.extend(_size_findings(st))
    paused = _float(st.get("wsrep_flow_control_paused"))
    if paused is not None and paused > FLOW_CONTROL_PAUSED_MAX:
        out.append(Finding(Severity.medium, f"replication paused by flow control {paused:.0%} of the time "
                           f"(> {FLOW_CONTROL_PAUSED_MAX:.0%}): a slow member throttles every writer",
                           "wsrep_flow_control_paused", st.evidence("wsrep_flow_control_paused")))
    queue = _float(st.get("wsrep_local_recv_queue_avg"))
    if queue is not None and queue > RECV_QUEUE_AVG_MAX:
        out.append(Finding(Severity.medium, f"receive queue averages {queue:g} write-sets (> {RECV_QUEUE_AVG_MAX:g}): "
                           "this node applies slower than the cluster writes", "wsrep_local_recv_queue_avg",
                           st.evidence("wsrep_local_recv_queue_avg")))
    return out


def _state_findings(st: GaleraStatus) -> list[Finding]:
    comment = st.get("wsrep_local_state_comment")
    ev = st.evidence("wsrep_local_state_comment", "wsrep_local_state")
    if comment == "Synced":
        return []
    if comment.startswith("Donor") or comment == "Desynced":
        desync = st.variables.get("wsrep_desync", "").upper() == "ON"
        why = ("desynced on purpose (wsrep_desync=ON), e.g. for a backup; set it OFF when done"
               if desync else "serving a state transfer (SST/IST) to a joiner, or running a backup")
        return [Finding(Severity.medium, f"node is {comment}: {why}; it lags the cluster meanwhile",
                        "wsrep_local_state_comment",
                        [*ev, Evidence(source=st.vars_source, excerpt=f"wsrep_desync = "
                                       f"{st.variables.get('wsrep_desync', '(absent)')}")])]
    if comment.startswith(("Joining", "Joined", "Initialized")):
        up = st.uptime
        if up is not None and up >= STUCK_AFTER_S:
            return [Finding(Severity.high, f"node is still {comment!r} after {up // 60} min of uptime: it is not "
                            "catching up with the cluster", "wsrep_local_state_comment",
                            [*ev, Evidence(source=f"sql:{st.server} SHOW GLOBAL STATUS", excerpt=f"Uptime = {up}")])]
        return [Finding(Severity.medium, f"node is {comment!r} (joining); re-check in 10 minutes: still not Synced "
                        "then means it is stuck", "wsrep_local_state_comment", ev)]
    return [Finding(Severity.high, f"unexpected local state {comment or '(absent)'!r}", "wsrep_local_state_comment",
                    ev)]


def _size_findings(st: GaleraStatus) -> list[Finding]:
    out: list[Finding] = []
    address = st.cluster_address
    members = st.configured_members
    addr_ev = Evidence(source=st.vars_source, excerpt=f"wsrep_cluster_address = {address or '(absent)'}")
    if address.strip().startswith("gcomm://") and not members:
        out.append(Finding(Severity.high, "wsrep_cluster_address is an empty gcomm://: every restart of this node "
                           "bootstraps a new cluster instead of joining the existing one", "wsrep_cluster_address",
                           [addr_ev]))
    size = st.size
    expected = len(members)
    if size is None or expected == 0:
        return out
    ev = [*st.evidence("wsrep_cluster_size"), addr_ev]
    if size == 1 and expected > 1:
        out.append(Finding(Severity.critical, f"cluster size is 1 of {expected} configured members: this node is "
                           "alone", "wsrep_cluster_size", ev))
    elif size * 2 <= expected:
        out.append(Finding(Severity.critical, f"cluster size is {size} of {expected}: no majority, one more failure "
                           "or a network split stops the cluster", "wsrep_cluster_size", ev))
    elif size < expected:
        out.append(Finding(Severity.high, f"cluster size is {size} of {expected} configured members: "
                           f"{expected - size} member(s) missing", "wsrep_cluster_size", ev))
    return out


def node_summary(st: GaleraStatus) -> str:
    expected = len(st.configured_members)
    of = f" of {expected}" if expected else ""
    return (f"{st.get('wsrep_cluster_status')}, {st.get('wsrep_local_state_comment')}, ready "
            f"{st.get('wsrep_ready')}, connected {st.get('wsrep_connected')}, size {st.get('wsrep_cluster_size')}{of}")


# -- DB-F01: several nodes --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Member:
    name: str
    status: GaleraStatus | None = None
    error: str = ""  # why no status: unreachable, denied


@dataclass
class _Component:
    uuid: str
    conf_id: int | None
    members: list[Member] = field(default_factory=list)

    @property
    def primary(self) -> bool:
        return any(m.status is not None and m.status.primary for m in self.members)

    def describe(self) -> str:
        names = ", ".join(m.name for m in self.members)
        st = self.members[0].status
        size = st.get("wsrep_cluster_size") if st else "?"
        kind = "Primary" if self.primary else "non-Primary"
        return f"{kind} uuid {self.uuid} conf_id {self.conf_id} size {size} [{names}]"


def agreement_findings(members: list[Member]) -> list[Finding]:
    """All members must see one Primary component: same state uuid, conf id, size and incoming addresses."""
    reporting = [m for m in members if m.status is not None]
    silent = [m for m in members if m.status is None]
    comps: dict[tuple[str, int | None], _Component] = {}
    for m in reporting:
        assert m.status is not None
        key = (m.status.state_uuid, m.status.conf_id)
        comps.setdefault(key, _Component(*key)).members.append(m)
    evidence = [Evidence(source=m.status.source, excerpt=f"{m.name}: wsrep_cluster_state_uuid = {m.status.state_uuid}, "
                         f"wsrep_cluster_conf_id = {m.status.conf_id}, wsrep_cluster_size = {m.status.size}, "
                         f"wsrep_cluster_status = {m.status.get('wsrep_cluster_status')}")
                for m in reporting if m.status is not None]
    out: list[Finding] = []
    primaries = [c for c in comps.values() if c.primary]
    if len(primaries) > 1:
        uuids = {c.uuid for c in primaries}
        what = ("independent clusters with different histories (double bootstrap)" if len(uuids) > 1 else
                "Primary components with the same history but different views (split brain: a second node was "
                "bootstrapped while the cluster ran)")
        out.append(Finding(Severity.critical, f"{len(primaries)} {what}: " + "; ".join(c.describe() for c in primaries)
                           + ". Writes to either side diverge; never bootstrap a second node",
                           "wsrep_cluster_state_uuid", evidence))
    elif len(comps) > 1:
        out.append(Finding(Severity.critical, "members disagree on the cluster view: "
                           + "; ".join(c.describe() for c in comps.values()), "wsrep_cluster_conf_id", evidence))
    for comp in comps.values():
        sizes = {m.status.size for m in comp.members if m.status is not None}
        if len(sizes) > 1:
            out.append(Finding(Severity.critical, f"members of conf_id {comp.conf_id} report different sizes "
                               f"{sorted(s for s in sizes if s is not None)}", "wsrep_cluster_size", evidence))
        addresses = {m.status.incoming for m in comp.members if m.status is not None}
        if len(addresses) > 1:
            out.append(Finding(Severity.high, "members report different wsrep_incoming_addresses: "
                               + "; ".join(f"{m.name}: {','.join(sorted(m.status.incoming))}" for m in comp.members
                                           if m.status is not None), "wsrep_incoming_addresses", evidence))
    if len(primaries) == 1:
        comp = primaries[0]
        outside = [m for m in reporting if m not in comp.members]
        missing = [f"{m.name} ({m.error})" for m in silent] + [f"{m.name} (in another view)" for m in outside]
        size = comp.members[0].status.size if comp.members[0].status else None
        if missing:
            out.append(Finding(Severity.high, f"Primary component has {size} member(s); given member(s) not in it: "
                               + ", ".join(missing), "members",
                               evidence + [Evidence(source=m.name, excerpt=m.error) for m in silent]))
    elif not primaries and reporting:
        out.append(Finding(Severity.critical, "no member reports a Primary component: the cluster is down for "
                           "writes (recover: pick the highest seqno, bootstrap only that node)", "wsrep_cluster_status",
                           evidence))
    return out


def agreement_summary(members: list[Member]) -> str:
    reporting = [m for m in members if m.status is not None]
    uuids = {m.status.state_uuid for m in reporting if m.status is not None} - {_ZERO_UUID}
    confs = {m.status.conf_id for m in reporting if m.status is not None}
    sizes = {m.status.size for m in reporting if m.status is not None}
    return (f"{len(reporting)} of {len(members)} members agree: uuid {', '.join(sorted(uuids))}, conf_id "
            f"{', '.join(str(c) for c in confs)}, size {', '.join(str(s) for s in sizes)}")
