"""Reading a database session's own grants (``SHOW GRANTS``, as MariaDB 10.11 and MySQL 8 print them)
for the privilege the destroy-content drill's statement needs: only a sure "no" refuses the drill
(:mod:`gameday.db_grants`). The refusal itself, on a real MariaDB: tests/integration/test_db_swap_verify.py."""

from __future__ import annotations

import pytest

from gameday.content import DRILL_HOWS, DRILL_PRIVILEGES
from gameday.db_grants import holds

USAGE = "GRANT USAGE ON *.* TO `sps`@`%`"
WITHOUT_DROP = ("GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, REFERENCES, INDEX, ALTER, CREATE TEMPORARY TABLES, "
                "LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER, "
                "DELETE HISTORY ON `sps`.* TO `sps`@`%`")  # what REVOKE DROP leaves of ALL PRIVILEGES


@pytest.mark.parametrize("grants, privilege, expected", [
    ([USAGE, "GRANT ALL PRIVILEGES ON `sps`.* TO `sps`@`%`"], "DROP", True),  # the twin's site user
    ([USAGE, WITHOUT_DROP], "DROP", False),
    ([USAGE, WITHOUT_DROP], "DELETE", True),
    ([USAGE, WITHOUT_DROP.replace("DELETE, ", "")], "DELETE", False),  # DELETE HISTORY is another privilege
    (["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION",
      "GRANT PROXY ON ''@'%' TO 'root'@'localhost' WITH GRANT OPTION"], "DROP", True),
    (["GRANT SELECT, DROP ON *.* TO `ops`@`%`"], "DROP", True),
    ([USAGE, "GRANT DROP ON `other`.* TO `sps`@`%`"], "DROP", False),
    ([USAGE, "GRANT DROP ON `sps`.`outbox` TO `sps`@`%`"], "DROP", False),
    ([USAGE, "GRANT SELECT (`id`, `version`), DROP ON `sps`.`articles` TO `sps`@`%`"], "DROP", True),
    ([USAGE, "GRANT SELECT (`id`, `version`) ON `sps`.`articles` TO `sps`@`%`"], "DROP", False),
    ([USAGE, "GRANT DROP ON `s_s`.* TO `sps`@`%`"], "DROP", True),  # _ is a wildcard at the database level
    ([USAGE, "GRANT DROP ON `s\\_s`.* TO `sps`@`%`"], "DROP", False),  # unless escaped
    ([USAGE, "GRANT DROP ON `sp%`.* TO `sps`@`%`"], "DROP", True),
    ([USAGE, "GRANT EXECUTE ON PROCEDURE `sps`.`p` TO `sps`@`%`"], "DROP", False),
    # a role: MariaDB lists an enabled role's grants too; MySQL does not (SHOW GRANTS ... USING): cannot tell
    ([USAGE, "GRANT `editor` TO `sps`@`%`", "SET DEFAULT ROLE `editor` FOR `sps`@`%`",
      "GRANT DROP ON `sps`.* TO `editor`"], "DROP", True),
    ([USAGE, "GRANT `editor` TO `sps`@`%`", "GRANT SELECT ON `sps`.* TO `editor`"], "DROP", None),
    # MySQL's partial revoke is not read: a grant found says True, and the server has the last word
    (["GRANT SELECT, DROP ON *.* TO `sps`@`%`", "REVOKE DROP ON `sps`.* FROM `sps`@`%`"], "DROP", True),
    (["GRANT SELECT ON *.* TO `sps`@`%`", "REVOKE DELETE ON `sps`.* FROM `sps`@`%`"], "DELETE", None),
    ([USAGE, "something this reader does not know"], "DROP", None),
])
def test_holds(grants, privilege, expected):
    assert holds(grants, privilege, "sps", "articles") is expected


def test_names_are_compared_without_case_so_a_doubt_never_refuses():
    assert holds(["GRANT DROP ON `SPS`.`Articles` TO `sps`@`%`"], "drop", "sps", "articles") is True


def test_every_way_the_drill_destroys_content_names_its_privilege():
    assert set(DRILL_PRIVILEGES) == set(DRILL_HOWS)
