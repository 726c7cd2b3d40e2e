from __future__ import annotations

import pytest

from stackrx.errors import ParseError
from stackrx.facts.ceph import parse_health, parse_osd_dump, parse_versions, release_of_version, release_rank
from stackrx.sources.base import Text

HEALTH_OCTOPUS = """HEALTH_WARN application not enabled on 1 pool(s); all OSDs are running octopus or later but require_osd_release < octopus
[WRN] POOL_APP_NOT_ENABLED: application not enabled on 1 pool(s)
    application not enabled on pool 'scratch'
    use 'ceph osd pool application enable <pool-name> <app-name>', where <app-name> is 'cephfs', 'rbd', 'rgw', or freeform for custom applications.
[WRN] OSD_UPGRADE_FINISHED: all OSDs are running octopus or later but require_osd_release < octopus
"""
HEALTH_LUMINOUS = """HEALTH_WARN application not enabled on 1 pool(s)
POOL_APP_NOT_ENABLED application not enabled on 1 pool(s)
    application not enabled on pool 'gnocchi'
"""
HEALTH_JSON = """{"status": "HEALTH_WARN", "checks": {"POOL_APP_NOT_ENABLED": {"severity": "HEALTH_WARN",
 "summary": {"message": "application not enabled on 1 pool(s)", "count": 1},
 "detail": [{"message": "application not enabled on pool 'scratch'"}]}}}"""
OSD_DUMP = """epoch 1234
fsid 8a5f1c0e-4f3e-11ef-9a0b-2e6f0c1d2b3a
require_osd_release nautilus
pool 1 'volumes' replicated size 3 min_size 2 crush_rule 0 object_hash rjenkins pg_num 64 pgp_num 64 last_change 20 flags hashpspool stripe_width 0 application rbd
pool 2 'scratch' replicated size 3 min_size 2 crush_rule 0 object_hash rjenkins pg_num 8 pgp_num 8 last_change 21 flags hashpspool stripe_width 0
pool 3 'images' replicated size 3 min_size 2 crush_rule 0 application rbd,rgw read_balance_score 1.50
"""
VERSIONS = """{
    "mon": {"ceph version 15.2.14 (cd3bb7e87a2f62c1b862ff3fd8b1eec13391a5be) octopus (stable)": 3},
    "osd": {"ceph version 15.2.14 (cd3bb7e87a2f62c1b862ff3fd8b1eec13391a5be) octopus (stable)": 10,
            "ceph version 14.2.22 (ca74598065096e6fcbd8433c8779a2be0c889351) nautilus (stable)": 2}
}"""


def test_releases() -> None:
    assert release_of_version("15.2.14") == "octopus" and release_of_version("12.2.13") == "luminous"
    assert release_of_version("0.94.10") == "hammer" and release_rank("luminous") < release_rank("nautilus")  # type: ignore[operator]


def test_health_text_forms() -> None:
    new = parse_health(Text("h", HEALTH_OCTOPUS))
    assert new.status == "HEALTH_WARN" and set(new.checks) == {"POOL_APP_NOT_ENABLED", "OSD_UPGRADE_FINISHED"}
    assert new.checks["POOL_APP_NOT_ENABLED"].details[0] == "application not enabled on pool 'scratch'"
    assert new.checks["OSD_UPGRADE_FINISHED"].line == 5
    old = parse_health(Text("h", HEALTH_LUMINOUS))
    assert old.get("POOL_APP_NOT_ENABLED") is not None and old.checks["POOL_APP_NOT_ENABLED"].line == 2


def test_health_json_and_status_wrapper() -> None:
    health = parse_health(Text("j", HEALTH_JSON))
    assert health.checks["POOL_APP_NOT_ENABLED"].details == ("application not enabled on pool 'scratch'",)
    wrapped = parse_health(Text("s", '{"health": ' + HEALTH_JSON + "}"))
    assert wrapped.status == "HEALTH_WARN"
    with pytest.raises(ParseError):
        parse_health(Text("x", "{not json"))


def test_osd_dump_text_and_json() -> None:
    osd = parse_osd_dump(Text("d", OSD_DUMP))
    assert osd.require_osd_release == "nautilus" and osd.line == 3 and osd.has_osd_map
    assert [(p.name, p.applications) for p in osd.pools] == [
        ("volumes", ("rbd",)), ("scratch", ()), ("images", ("rbd", "rgw"))]
    js = parse_osd_dump(Text("j", '{"epoch": 5, "require_osd_release": "octopus", "pools": ['
                                  '{"pool": 1, "pool_name": "vms", "application_metadata": {}}]}'))
    assert js.require_osd_release == "octopus" and js.pools[0].applications == ()


def test_versions() -> None:
    versions = parse_versions(Text("v", VERSIONS))
    assert versions.releases("osd") == {"octopus", "nautilus"} and versions.by_type["osd"]["octopus"] == 10
    with pytest.raises(ParseError):
        parse_versions(Text("v", "ceph version 15.2.14"))
