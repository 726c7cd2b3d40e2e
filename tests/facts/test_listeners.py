from __future__ import annotations

import pytest

from stackrx.errors import ParseError
from stackrx.facts.listeners import parse_listeners, split_endpoint
from stackrx.sources.base import Text

SS = """Netid State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process
tcp   LISTEN 0      80     0.0.0.0:3306       0.0.0.0:*     users:(("mysqld",pid=1180,fd=20)) uid:113 ino:21347 sk:1 <->
\t skmem:(r0,rb131072,t0,tb16384,f0,w0,o0,bl0,d0)
tcp   ESTAB  0      0      10.0.0.10:3306     10.0.0.11:51234 users:(("mysqld",pid=1180,fd=30))
tcp   LISTEN 0      100    [::ffff:10.0.0.10]:6082 *:*      users:(("nova-spicehtml5",pid=77,fd=3))
udp   UNCONN 0      0      10.0.0.5%eth0:67   0.0.0.0:*
u_str LISTEN 0      4096   /run/x.sock 12345  * 0
"""
NETSTAT = """Active Internet connections (servers and established)
Proto Recv-Q Send-Q Local Address           Foreign Address         State       User       Inode      PID/Program name     Timer
tcp        0      0 0.0.0.0:3306            0.0.0.0:*               LISTEN      113        21347      1180/mysqld          off (0.00/0/0)
tcp6       0      0 :::4567                 :::*                    LISTEN      0          1          1181/mysqld          off (0.00/0/0)
udp        0      0 0.0.0.0:68              0.0.0.0:*                           0          1234       1020/dhclient        off (0.00/0/0)
tcp        0      0 10.0.0.1:22             10.0.0.2:5555           ESTABLISHED 0          1          1/sshd               keepalive
Active UNIX domain sockets (servers and established)
Proto RefCnt Flags       Type       State         I-Node   PID/Program name     Path
unix  2      [ ACC ]     STREAM     LISTENING     20000    1/systemd            /run/systemd/private
"""


def test_endpoints() -> None:
    assert split_endpoint("[::]:22") == ("::", 22) and split_endpoint(":::22") == ("::", 22)
    assert split_endpoint("*:80") == ("*", 80) and split_endpoint("10.0.0.5%eth0:67") == ("10.0.0.5", 67)
    assert split_endpoint("/run/x.sock") is None


def test_ss_listening_only() -> None:
    found = parse_listeners(Text("sos_commands/networking/ss_-peaonmi", SS))
    assert [(item.proto, item.address, item.port, item.process) for item in found] == [
        ("tcp", "0.0.0.0", 3306, "mysqld"), ("tcp", "10.0.0.10", 6082, "nova-spicehtml5"), ("udp", "10.0.0.5", 67, None)]
    mysql = found.on_port(3306)[0]
    assert mysql.wildcard and mysql.pid == 1180 and mysql.line == 2


def test_netstat_listening_only() -> None:
    found = parse_listeners(Text("sos_commands/networking/netstat_-W_-neopa", NETSTAT))
    assert [(item.proto, item.address, item.port, item.process) for item in found] == [
        ("tcp", "0.0.0.0", 3306, "mysqld"), ("tcp", "::", 4567, "mysqld"), ("udp", "0.0.0.0", 68, "dhclient")]
    assert found.by_process("mysql") == found.on_port(3306) + found.on_port(4567)


def test_junk() -> None:
    with pytest.raises(ParseError):
        parse_listeners(Text("x", "no sockets here\n"))
