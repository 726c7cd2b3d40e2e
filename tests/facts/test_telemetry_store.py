from __future__ import annotations

from pathlib import Path

import pytest

from stackrx.demo.builder import NodeTree
from stackrx.errors import ParseError
from stackrx.facts.apilog import service_of, template
from stackrx.facts.telemetry_store import gnocchi_storage, mongo_db_path, parse_du, parse_mongo_stats
from stackrx.sources.base import Text
from stackrx.sources.sosreport import SosReportView


def test_mongo_paths_and_sizes(tmp_path: Path) -> None:
    tree = NodeTree("ctl")
    tree.file("etc/mongod.conf", "storage:\n  dbPath: /srv/mongodb\n  journal:\n    enabled: true\n")
    tree.file("etc/gnocchi/gnocchi.conf", "[storage]\ndriver = file\nfile_basepath = /srv/gnocchi\n")
    tree.write(tmp_path)
    view = SosReportView(tmp_path)
    path = mongo_db_path(view)
    assert path is not None and path.path == "/srv/mongodb" and path.evidence.line == 2
    store = gnocchi_storage(view)
    assert store is not None and store.path == "/srv/gnocchi"
    size, ev = parse_du(Text("du", "12G\t/var/lib/mongodb/\n"))
    assert size == 12 * 1024**3 and ev.line == 1
    stats = parse_mongo_stats(Text("m", '{ "db" : "ceilometer", "dataSize" : NumberLong("1000"),\n'
                                        '  "storageSize" : 5000 }'))
    assert (stats.data_size, stats.storage_size) == (1000, 5000)
    with pytest.raises(ParseError):
        parse_mongo_stats(Text("m", "E QUERY [thread1] Error: couldn't connect"))


def test_api_templates() -> None:
    assert template("/v2.1/54fadb412c4e40cdbaed9335e4c35a9e/servers/0a1b2c3d-0000-4000-8000-000000000001/action"
                    ) == "/v2.1/{id}/servers/{id}/action"
    assert template("/v2/images?limit=20") == "/v2/images" and template("/v2.0/ports/12") == "/v2.0/ports/{id}"
    assert service_of("var/log/nova/nova-api.log.2.gz") == "nova-api"
