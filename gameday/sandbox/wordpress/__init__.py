"""WordPress as a twin member: the files it is made from, and the small programs that run it.

- ``php-fpm.conf``, ``nginx.conf``, ``wp-config.php``: templates rendered per twin and replica by
  :mod:`gameday.sandbox.members.wordpress` (placeholders ``@NAME@``, see :func:`render`);
- ``mu-plugins/``: our must-use plugin (PHP), copied into the twin's configuration;
- ``db-error.php``: WordPress's drop-in for a database it cannot reach, copied into the twin's WP_CONTENT_DIR;
- ``object-cache.php``: the object cache on Redis (a drop-in), copied there when the twin has a cache member;
- ``cli/``: PHP scripts that load the twin's WordPress (install and seed, publish), run by :mod:`.php`;
- :mod:`.launch`: one replica's php-fpm and nginx under one supervised process; :mod:`.seed`: the job
  that installs WordPress into the twin's database and seeds it from :mod:`gameday.site.catalog`.
"""

from __future__ import annotations

import re
from pathlib import Path

from ...errors import GamedayError

HERE = Path(__file__).parent
MU_PLUGINS = HERE / "mu-plugins"
CLI = HERE / "cli"
DB_ERROR = HERE / "db-error.php"
OBJECT_CACHE = HERE / "object-cache.php"  # the Redis object-cache drop-in (installed when the twin has a cache)
DOCROOT = Path("/usr/share/wordpress")  # Debian's WordPress, shared read-only by every twin


def render(template: str, values: dict[str, str]) -> str:
    """The template file ``template`` (in this folder) with each ``@KEY@`` replaced by ``values[KEY]``;
    a placeholder without a value is an error (nothing half-rendered reaches a server)."""
    text = (HERE / template).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    left = sorted(set(re.findall(r"@([A-Z_]+)@", text)))
    if left:
        raise GamedayError(f"{template}: no value for {', '.join(left)}")
    return text


def php_string(value: str) -> str:
    """``value`` made safe inside a single-quoted PHP string."""
    return value.replace("\\", "\\\\").replace("'", "\\'")
