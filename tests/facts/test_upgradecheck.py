from __future__ import annotations

import pytest

from stackrx.errors import ParseError
from stackrx.facts.upgradecheck import parse_alembic, parse_upgrade_check
from stackrx.sources.base import Text

NOVA_STATUS = """+-------------------------------------------------------------------+
| Upgrade Check Results                                             |
+-------------------------------------------------------------------+
| Check: Cells v2                                                   |
| Result: Success                                                   |
| Details: None                                                     |
+-------------------------------------------------------------------+
| Check: Placement API                                              |
| Result: Failure                                                   |
| Details: Placement API version 1.36 needed, you have 1.30.        |
|   Upgrade placement first.                                        |
+-------------------------------------------------------------------+
| Check: Older than N-1 computes                                    |
| Result: Warning                                                   |
| Details: Current Nova version does not support computes older than|
+-------------------------------------------------------------------+
"""


def test_table_results() -> None:
    results = parse_upgrade_check(Text("sos_commands/openstack_nova/nova-status_upgrade_check", NOVA_STATUS))
    assert [(r.name, r.result) for r in results] == [("Cells v2", "Success"), ("Placement API", "Failure"),
                                                      ("Older than N-1 computes", "Warning")]
    assert results[1].details == "Placement API version 1.36 needed, you have 1.30. Upgrade placement first."
    assert results[1].line == 9 and results[0].details == ""


def test_json_results_and_errors() -> None:
    results = parse_upgrade_check(Text("j", '[{"check": "Policy File", "result": 1, "details": "x"}]'))
    assert results[0].result == "Warning"
    with pytest.raises(ParseError, match="did the command fail"):
        parse_upgrade_check(Text("e", "ERROR: could not access cell mapping database\n"))


def test_alembic() -> None:
    current = parse_alembic(Text("c", "INFO  [alembic.runtime.migration] Context impl MySQLImpl.\n"
                                      "  Running current for neutron ...\nc3e9d13c4367\n  OK\n"))
    heads = parse_alembic(Text("h", "  Running heads for neutron ...\n6f7dfb241354 (contract) (head)\n"
                                    "c3e9d13c4367 (expand) (head)\n  OK\n"))
    assert set(current["neutron"]) == {"c3e9d13c4367"} and set(heads["neutron"]) == {"6f7dfb241354", "c3e9d13c4367"}
