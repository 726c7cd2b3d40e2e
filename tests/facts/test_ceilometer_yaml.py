from __future__ import annotations

from pathlib import Path

import pytest

from stackrx.demo.builder import NodeTree
from stackrx.errors import ParseError
from stackrx.facts.ceilometer_yaml import load_polling, parse_pipeline, parse_polling
from stackrx.sources.base import Text
from stackrx.sources.sosreport import SosReportView
from testkit import REALDATA

PIPELINE_OLD = """---
sources:
    - name: meter_source
      interval: 600
      meters:
          - "*"
      sinks:
          - meter_sink
    - name: cpu_source
      interval: 60
      meters:
          - "cpu"
      sinks:
          - cpu_sink
sinks:
    - name: meter_sink
      publishers:
          - notifier://
"""
PIPELINE_NEW = "---\nsources:\n    - name: meter_source\n      meters:\n          - \"*\"\n      sinks:\n          - meter_sink\n"


def test_real_debian_polling_yaml() -> None:
    real = REALDATA / "debian-defaults" / "ceilometer-common" / "etc" / "ceilometer" / "polling.yaml"
    if not real.is_file():
        pytest.skip("real data not present")
    polling = parse_polling(Text("etc/ceilometer/polling.yaml", real.read_text()))
    [src] = polling.sources
    assert src.name == "some_pollsters" and src.interval == 300 and src.interval_line == 4
    assert "cpu" in src.meters and not src.all_meters


def test_pipeline_sources_count_only_with_interval() -> None:
    old = parse_pipeline(Text("p", PIPELINE_OLD))
    assert [(s.name, s.interval, s.all_meters) for s in old.sources] == [("meter_source", 600, True),
                                                                         ("cpu_source", 60, False)]
    assert parse_pipeline(Text("p", PIPELINE_NEW)).sources == ()


def test_invalid_yaml() -> None:
    with pytest.raises(ParseError):
        parse_polling(Text("x", "sources: [\n"))
    with pytest.raises(ParseError):
        parse_polling(Text("x", "just a string\n"))


def test_cfg_file_option_is_followed(tmp_path: Path) -> None:
    tree = NodeTree("c")
    tree.file("etc/ceilometer/ceilometer.conf", "[polling]\ncfg_file = /etc/ceilometer/custom-polling.yaml\n")
    tree.file("etc/ceilometer/custom-polling.yaml", "sources:\n  - name: a\n    interval: 30\n    meters: ['*']\n")
    tree.write(tmp_path)
    [f] = load_polling(SosReportView(tmp_path))
    assert f.source == "etc/ceilometer/custom-polling.yaml" and f.sources[0].interval == 30
