from __future__ import annotations

from stackrx.facts.kernel import parse_ps
from stackrx.facts.processes import parse_docker_ps, parse_unit_files, program_of, service_processes
from stackrx.sources.base import Text

PS = """USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND
nova         984  1.0  0.6 119604 101528 ?       -    Feb09  11:34 /usr/bin/python3 /usr/bin/nova-api-metadata --config-file=/etc/nova/nova.conf --log-file=/var/log/nova/nova-api-metadata.log
nova           -  1.0    -      -     - -        Ss   Feb09  11:34 -
root        6281  0.0  0.4 160160 73252 ?        -    Feb09   0:00 /usr/bin/python3 /bin/privsep-helper --config-file /etc/neutron/neutron.conf --privsep_context neutron.privileged.default
stack       7000  0.0  0.4 160160 73252 ?        -    Feb09   0:00 nova-compute --config-file /etc/nova/nova-cpu.conf --config-dir /etc/nova/nova.conf.d
root           1  0.0  0.0   1000  100 ?        -    Feb09   0:00 /sbin/init
"""


def test_program_and_config_discovery() -> None:
    assert program_of("/usr/bin/python3 /usr/bin/nova-compute --config-file x") == "nova-compute"
    assert program_of("neutron-server: api worker (/usr/bin/python3 /usr/bin/neutron-server)") == "neutron-server"
    procs = service_processes(parse_ps(Text("sos_commands/process/ps_auxwwwm", PS)))
    assert [(p.program, p.project) for p in procs] == [("nova-api-metadata", "nova"), ("privsep-helper", None),
                                                        ("nova-compute", "nova")]
    assert procs[0].log_file == "var/log/nova/nova-api-metadata.log" and procs[0].line == 2
    assert procs[2].config_files == ("/etc/nova/nova-cpu.conf",) and procs[2].config_dirs == ("/etc/nova/nova.conf.d",)


def test_unit_files_and_docker_ps() -> None:
    units = parse_unit_files(Text("u", "UNIT FILE                 STATE    VENDOR PRESET\n"
                                       "mysql.service             enabled  enabled\n"
                                       "mysql@bootstrap.service   disabled enabled\n"))
    assert units["mysql@bootstrap.service"].state == "disabled" and units["mysql.service"].line == 2
    ps = parse_docker_ps(Text("d", "CONTAINER ID   IMAGE          COMMAND      CREATED       STATUS                     "
                                   "  PORTS     NAMES\n"
                                   "a1b2c3d4e5f6   kolla/mariadb  \"dumb-init\"  2 hours ago   Exited (1) 3 minutes ago   "
                                   "            mariadb\n"))
    assert ps["mariadb"].state == "exited" and ps["mariadb"].exit_code == 1
