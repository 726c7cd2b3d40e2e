from __future__ import annotations

import os
from pathlib import Path

import pytest

from stackrx.demo.builder import NodeTree
from stackrx.errors import MissingEvidence
from stackrx.facts.modprobe import load_module_config, parse_modprobe, parse_modules_load
from stackrx.sources.base import Text
from stackrx.sources.sosreport import SosReportView


def test_parsers() -> None:
    loads = parse_modules_load(Text("etc/modules", "# /etc/modules\nnf_conntrack\nbonding max_bonds=2\n; x\n"))
    assert [(m.module, m.line) for m in loads] == [("nf_conntrack", 2), ("bonding", 3)]
    opts = parse_modprobe(Text("etc/modprobe.d/ct.conf", "blacklist x\noptions nf_conntrack hashsize=131072 "
                                                         "expect_hashsize=\"4\"\n"))
    assert [(o.key, o.value) for o in opts] == [("hashsize", "131072"), ("expect_hashsize", "4")]


def test_precedence_and_debian_link(tmp_path: Path) -> None:
    node = NodeTree("h")
    node.file("usr/lib/modprobe.d/50-ct.conf", "options nf_conntrack hashsize=1\n")
    node.file("etc/modprobe.d/50-ct.conf", "options nf_conntrack hashsize=2\n")
    node.file("lib/modprobe.d/90-ct.conf", "options nf_conntrack hashsize=3\n")
    node.file("etc/modules", "nf_conntrack\n")
    node.write(tmp_path)
    os.makedirs(tmp_path / "etc/modules-load.d")
    os.symlink("../modules", tmp_path / "etc/modules-load.d/modules.conf")
    config = load_module_config(SosReportView(tmp_path))
    # etc/ hides the usr/lib file of the same name; 90-ct.conf sorts later and wins.
    opt = config.option("nf-conntrack", "hashsize")
    assert opt is not None and opt.value == "3"
    assert [o.value for o in config.options] == ["2", "3"]
    assert len(config.loads) == 1 and config.load_of("nf_conntrack") is not None


def test_nothing_collected(tmp_path: Path) -> None:
    NodeTree("h").write(tmp_path)
    with pytest.raises(MissingEvidence):
        load_module_config(SosReportView(tmp_path))
