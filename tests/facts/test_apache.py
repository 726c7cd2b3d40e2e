from __future__ import annotations

from pathlib import Path

import pytest

from stackrx.demo.builder import NodeTree
from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts.apache import load_apache_config, parse_apachectl_m, wsgi_apps
from stackrx.sources.base import Text
from stackrx.sources.sosreport import SosReportView

MPM = """# Select the MPM module which should be used by uncommenting exactly
# one of the following LoadModule lines:
LoadModule mpm_prefork_module modules/mod_mpm_prefork.so
#LoadModule mpm_worker_module modules/mod_mpm_worker.so
#LoadModule mpm_event_module modules/mod_mpm_event.so
"""
DASHBOARD = """WSGIDaemonProcess dashboard processes=3 threads=10 user=apache \\
    group=apache display-name=%{GROUP}
WSGIProcessGroup dashboard
WSGIScriptAlias /dashboard /usr/share/openstack-dashboard/openstack_dashboard/wsgi/django.wsgi
<Directory /usr/share/openstack-dashboard/openstack_dashboard/wsgi>
  Require all granted
</Directory>
"""


def test_config_directives_and_wsgi_daemon(tmp_path: Path) -> None:
    tree = NodeTree("ctl")
    tree.file("etc/httpd/conf.modules.d/00-mpm.conf", MPM)
    tree.file("etc/httpd/conf.d/openstack-dashboard.conf", DASHBOARD)
    tree.write(tmp_path)
    config = load_apache_config(SosReportView(tmp_path))
    assert [d.args[0] for d in config.mpm_loads()] == ["mpm_prefork_module"] and config.mpm_loads()[0].line == 3
    [app] = wsgi_apps(config)
    assert app.daemon_mode and app.processes == 3 and app.threads == 10 and app.daemon is not None
    assert app.daemon.line == 1


def test_apachectl_m() -> None:
    mods = parse_apachectl_m(Text("sos_commands/apache/apachectl_-M", "Loaded Modules:\n core_module (static)\n"
                                  " so_module (static)\n mpm_event_module (shared)\n wsgi_module (shared)\n"))
    assert mods.mpm == "mpm_event_module" and mods.evidence("wsgi_module").line == 5
    with pytest.raises(ParseError):
        parse_apachectl_m(Text("x", "httpd: command not found\n"))


def test_no_apache(tmp_path: Path) -> None:
    NodeTree("x").write(tmp_path)
    with pytest.raises(MissingEvidence):
        load_apache_config(SosReportView(tmp_path))
