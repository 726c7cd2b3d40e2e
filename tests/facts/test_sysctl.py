from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackrx.demo.builder import NodeTree
from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts import Facts
from stackrx.facts.conntrack import load_conntrack_stats, load_netns_conntrack_stats, parse_conntrack_stats
from stackrx.facts.sysctl import (
    iface_key,
    load_netns_sysctl,
    load_sysctl,
    load_sysctl_files,
    normalise_key,
    parse_sysctl,
    summary,
)
from stackrx.sources.base import Text
from stackrx.sources.sosreport import SosReportView

REALDATA = Path(__file__).resolve().parents[3] / "shared" / "realdata"
INSIGHTS = REALDATA / "insights-core-fixtures" / "test_sysctl"


def _real(path: Path) -> Text:
    if not path.is_file():
        pytest.skip(f"real data not present: {path}")
    return Text(path.name, path.read_text(errors="replace"))


def test_parse_keeps_lines_and_last_value() -> None:
    text = Text("sysctl_-a", "sysctl: permission denied on key 'fs.protected_regular'\n"
                             "net.ipv4.ip_forward = 1\n"
                             "kernel.printk = 4\t4\t1\t7\n"
                             "net.ipv4.conf.eth0/100.proxy_arp = 1\n"
                             "net.ipv4.ip_forward = 0\n"
                             "kernel.domainname = \n")
    s = parse_sysctl(text)
    entry = s.get("net.ipv4.ip_forward")
    assert entry is not None and entry.value == "0" and entry.line == 5
    assert entry.evidence().excerpt == "net.ipv4.ip_forward = 0"
    assert s.value("kernel.printk") == "4\t4\t1\t7" and s.as_int("kernel.printk") == 4
    assert s.value("kernel.domainname") == ""
    assert s.as_int("kernel.domainname") is None
    conf = s.conf("eth0.100", "proxy_arp")
    assert conf is not None and conf.value == "1" and conf.line == 4
    assert [e.key for e in s.prefixed("net.ipv4.conf.")] == ["net.ipv4.conf.eth0/100.proxy_arp"]
    assert "fs.protected_regular" not in s


def test_key_normalisation() -> None:
    assert normalise_key("net/ipv4/conf/eth0.100/proxy_arp") == "net.ipv4.conf.eth0/100.proxy_arp"
    assert normalise_key("-net.ipv4.conf.all.rp_filter") == "net.ipv4.conf.all.rp_filter"
    assert normalise_key(" kernel.pid_max ") == "kernel.pid_max"
    assert iface_key("bond0.20") == "bond0/20"


def test_insights_fixtures() -> None:
    s = parse_sysctl(_real(INSIGHTS / "SYSCTL_TEST.txt"))
    assert s.value("a") == "1" and s.value("b") == "2" and s.value("c") == "include an = sign"
    conf = parse_sysctl(_real(INSIGHTS / "SYSCTL_CONF_TEST.txt"))
    # Indented keys are keys; `#` and `;` lines are comments; the value keeps its inner space.
    assert conf.value("kernel.domainname") == "example.com"
    assert conf.value("kernel.modprobe") == "/sbin/mod probe"
    assert "kernel.domainname.invalid" not in conf
    initramfs = parse_sysctl(_real(INSIGHTS / "SYSCTL_CONF_INITRAMFS_TEST.txt"))
    assert initramfs.value("fs.inotify.max_user_watches") == "524288"
    assert "key3" not in initramfs and "key4" not in initramfs
    doc = parse_sysctl(_real(INSIGHTS / "SYSCTL_DOC_TEST.txt"))
    assert doc.value("kernel.modprobe") == "/sbin/modprobe"


def test_junk_is_a_parse_error_comments_are_not() -> None:
    with pytest.raises(ParseError):
        parse_sysctl(Text("junk", "\x00\x01 nothing here\n"))
    assert len(parse_sysctl(Text("c", "# only a comment\n; another\n"))) == 0
    assert len(parse_sysctl(Text("e", ""))) == 0


def test_compute4_sysctl(compute4: Path) -> None:
    view = SosReportView(compute4)
    s = load_sysctl(view)
    assert s.sources == ("sos_commands/kernel/sysctl_-a",)
    count = s.get("net.netfilter.nf_conntrack_count")
    assert count is not None and count.as_int() == 1498 and count.line == 3264
    assert s.as_int("net.netfilter.nf_conntrack_max") == 1000000
    assert s.as_int("net.nf_conntrack_max") == 1000000
    assert s.as_int("net.netfilter.nf_conntrack_buckets") == 204800
    assert s.value("net.ipv4.conf.all.proxy_arp") == "0"
    ens3 = s.conf("ens3", "proxy_arp")
    assert ens3 is not None and ens3.line == 551
    out = summary(Facts(view))
    assert out["sysctl"]["net.netfilter.nf_conntrack_count"] == "1498"
    assert out["metrics"] == {"nf_conntrack_count": 1498.0, "nf_conntrack_max": 1000000.0,
                              "nf_conntrack_ratio": 0.001498}


def test_compute4_persisted_sysctl(compute4: Path) -> None:
    persisted = load_sysctl_files(SosReportView(compute4))
    assert persisted.files[0] == "etc/sysctl.d/10-console-messages.conf"
    assert persisted.files[-1] == "etc/sysctl.conf"
    entry = persisted.get("net.netfilter.nf_conntrack_max")
    assert entry is not None and entry.value == "1000000" and entry.source.startswith("etc/sysctl.d/")
    # Two files set kernel.pid_max; the lexically later one is applied last.
    assert [e.value for e in persisted.all("kernel.pid_max")][-1] == "2097152"
    # A trailing `# ...` is part of the value for systemd-sysctl and procps alike.
    threads = persisted.get("kernel.threads-max")
    assert threads is not None and threads.value == "2097152 # A comment for testing"


def test_sysctl_file_precedence(tmp_path: Path) -> None:
    node = NodeTree("n1")
    node.file("usr/lib/sysctl.d/50-default.conf", "net.ipv4.conf.all.proxy_arp = 1\n")
    node.file("lib/sysctl.d/60-x.conf", "net/ipv4/ip_forward = 1\n")
    node.file("etc/sysctl.d/50-default.conf", "net.ipv4.conf.all.proxy_arp = 0\n")
    node.file("etc/sysctl.conf", "net.ipv4.ip_forward = 0\n")
    node.write(tmp_path)
    persisted = load_sysctl_files(SosReportView(tmp_path))
    # /etc masks the vendor file of the same name; sysctl.conf comes last.
    assert persisted.files == ("etc/sysctl.d/50-default.conf", "lib/sysctl.d/60-x.conf", "etc/sysctl.conf")
    assert persisted.effective()["net.ipv4.conf.all.proxy_arp"].value == "0"
    forward = persisted.get("net.ipv4.ip_forward")
    assert forward is not None and forward.value == "0" and forward.source == "etc/sysctl.conf"
    sources = [e.source for e in persisted.all("net.ipv4.ip_forward")]
    assert sources == ["lib/sysctl.d/60-x.conf", "etc/sysctl.conf"]


def test_loaders_missing(tmp_path: Path) -> None:
    NodeTree("n1").write(tmp_path)
    view = SosReportView(tmp_path)
    with pytest.raises(MissingEvidence, match="sysctl_-a"):
        load_sysctl(view)
    with pytest.raises(MissingEvidence, match="qrouter-1"):
        load_netns_sysctl(view, "qrouter-1")
    with pytest.raises(MissingEvidence, match=r"sysctl\.conf"):
        load_sysctl_files(view)
    with pytest.raises(MissingEvidence, match="conntrack_-S"):
        load_conntrack_stats(view)
    with pytest.raises(MissingEvidence, match="qrouter-1"):
        load_netns_conntrack_stats(view, "qrouter-1")
    assert summary(Facts(view)) == {}


def test_netns_sysctl(tmp_path: Path) -> None:
    node = NodeTree("n1", sysctl={"net.netfilter.nf_conntrack_count": "5"})
    node.namespaces["qrouter-1"] = {"sysctl -a": "net.netfilter.nf_conntrack_count = 900\n"}
    node.write(tmp_path)
    view = SosReportView(tmp_path)
    ns = load_netns_sysctl(view, "qrouter-1")
    assert ns.as_int("net.netfilter.nf_conntrack_count") == 900
    assert "namespaces/qrouter-1" in ns.sources[0]
    assert load_sysctl(view).as_int("net.netfilter.nf_conntrack_count") == 5


def test_conntrack_stats() -> None:
    text = Text("conntrack_-S", "conntrack v1.4.6 (conntrack-tools): 2 flow entries\n"
                "cpu=0   \tfound=0 invalid=6914 ignore=283790 insert=0 insert_failed=0 drop=0 "
                "early_drop=0 error=0 search_restart=9916 \n"
                "cpu=1   \tfound=0 invalid=30 ignore=275739 insert=0 insert_failed=2 drop=7 "
                "early_drop=3 error=0 search_restart=4151 \n")
    stats = parse_conntrack_stats(text)
    assert [c.cpu for c in stats.cpus] == [0, 1]
    assert stats.total("drop") == 7 and stats.total("early_drop") == 3 and stats.total("insert_failed") == 2
    first = stats.first_with("drop")
    assert first is not None and first.line == 3 and first.evidence().excerpt.startswith("cpu=1 found=0")
    assert stats.first_with("error") is None
    with pytest.raises(ParseError):
        parse_conntrack_stats(Text("x", "conntrack: no such file\n"))


def test_compute4_conntrack(compute4: Path) -> None:
    view = SosReportView(compute4)
    stats = load_conntrack_stats(view)
    assert stats.source == "sos_commands/conntrack/conntrack_-S"
    assert len(stats.cpus) == 2 and stats.total("drop") == 0 and stats.total("invalid") == 6944
    snat = next(ns for ns in view.namespaces() if ns.startswith("snat-"))
    ns_stats = load_netns_conntrack_stats(view, snat)
    assert ns_stats.total("drop") == 0 and snat in ns_stats.source


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abc.=/_ -#;\n\t0123456789cpu")), max_size=300))
def test_fuzz_only_parse_error(content: str) -> None:
    for parser in (parse_sysctl, parse_conntrack_stats):
        with contextlib.suppress(ParseError):
            parser(Text("fuzz", content))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_bytes_only_parse_error(data: bytes) -> None:
    for parser in (parse_sysctl, parse_conntrack_stats):
        with contextlib.suppress(ParseError):
            parser(Text("fuzz", data.decode("utf-8", errors="replace")))
