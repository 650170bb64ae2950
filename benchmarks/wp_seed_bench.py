"""WordPress seed benchmark (issue 17): ``cli/bootstrap.php`` now vs at an earlier commit, on 2 cores.

    nice -n 5 .venv/bin/python benchmarks/wp_seed_bench.py --before <commit> [--n 2000] [--runs 3] [--net 88]

Stands up a topology of its own on ``--net`` (twin ``seed-bench``: MariaDB ``db-1`` and the Redis object
cache ``cache-1``, WordPress's files with the object-cache drop-in, no replica) under the sandbox
supervisor, and takes it down with its data wiped at the end, on an error and on Ctrl-C too. Each run
empties the database (every table and view) and Redis, then pipes ``--n`` catalogue items to one
bootstrap script under ``nice -n 5``, as the job ``wp-bootstrap-1`` does: the one in the working tree
("after") and the one of ``--before`` (copied with its ``load.php`` to a temporary directory), in turn,
``--runs`` times each. Prints each run's wall time and PHP's CPU time, the medians and the ratios
after/before; then a second run of "after" over its own seed (nothing inserted); and whether the two
scripts' tables are equal row for row (posts but their modification times, meta, terms with their
counts, relationships, options but cron, keys, salts, transients and rewrite rules, and the content views
without ``updated_at``). The machine is shared: read the ratios, not the seconds. Exits 1 when the
tables differ, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pymysql  # noqa: E402

from gameday import content  # noqa: E402
from gameday.sandbox import install, lifecycle  # noqa: E402
from gameday.sandbox import wordpress as wp_files  # noqa: E402
from gameday.sandbox.members import db, redis_cache, wordpress  # noqa: E402
from gameday.sandbox.spec import Topology  # noqa: E402
from gameday.sandbox.twin import DB_NAME, DB_USER, Twin  # noqa: E402
from gameday.sandbox.wordpress.php import PHP  # noqa: E402
from gameday.site import catalog  # noqa: E402
from tests.support import wordpress_stack as stack  # noqa: E402

RUN_TIMEOUT_S = 600
TABLES = {
    "posts": "SELECT ID, post_author, post_date, post_date_gmt, post_content, post_title, post_excerpt, post_status,"
             " comment_status, ping_status, post_password, post_name, to_ping, pinged, post_content_filtered,"
             " post_parent, guid, menu_order, post_type, post_mime_type, comment_count FROM wp_posts ORDER BY ID",
    "postmeta": "SELECT post_id, meta_key, meta_value FROM wp_postmeta ORDER BY post_id, meta_key, meta_id",
    "terms": "SELECT t.term_id, t.name, t.slug, tt.taxonomy, tt.parent, tt.count, tt.description FROM wp_terms t"
             " JOIN wp_term_taxonomy tt USING (term_id) ORDER BY t.term_id",
    "relationships": "SELECT object_id, term_taxonomy_id, term_order FROM wp_term_relationships"
                     " ORDER BY object_id, term_taxonomy_id",
    "options": "SELECT option_name, option_value, autoload FROM wp_options WHERE option_name NOT IN ('cron',"
               " 'rewrite_rules', 'recovery_keys', 'admin_email_lifespan', 'auth_key', 'auth_salt', 'logged_in_key',"
               " 'logged_in_salt', 'nonce_key', 'nonce_salt', 'secure_auth_key', 'secure_auth_salt')"
               " AND option_name NOT LIKE '\\_transient%%' AND option_name NOT LIKE '\\_site\\_transient%%'"
               " ORDER BY option_name",
    "articles": "SELECT id, kind, slug, title, category, summary, body, version FROM articles ORDER BY id",
    "versions": "SELECT id, version, kind, slug FROM gameday_content_versions ORDER BY id",
}


def _up(twin: Twin) -> None:
    lifecycle.down(twin.paths, wipe=True)
    topology = Topology(name=twin.name, sandbox_id=twin.paths.sandbox_id,
                        workloads=[db.workload(twin), redis_cache.workload(twin)])

    def prepare():
        redis_cache.prepare(twin)
        stack.prepare(twin, cache_addr=redis_cache.addr(twin), home=wordpress.url(twin))

    lifecycle.up(twin.paths, topology, prepare=prepare, timeout=150)


def _redis(twin: Twin, *args: str) -> None:
    subprocess.run(["redis-cli", "-h", redis_cache.address(twin), "-p", str(redis_cache.PORT), *args],
                   env={"PATH": "/usr/bin:/bin", "REDISCLI_AUTH": redis_cache.password(twin)}, check=True,
                   capture_output=True, timeout=10)


def _wipe(twin: Twin) -> None:
    for kind, drop in (("VIEW", "DROP VIEW"), ("BASE TABLE", "DROP TABLE")):
        for (name, _) in stack.sql(twin, "SHOW FULL TABLES WHERE Table_type = %s", (kind,)):
            stack.sql(twin, f"{drop} `{name}`")
    _redis(twin, "FLUSHALL")


def _seed(twin: Twin, script: Path, n: int) -> tuple[float, float, dict]:
    """(wall s, PHP's CPU s, the script's summary) of one run of ``script``."""
    lines = "".join(json.dumps(row) + "\n" for row in catalog.generate(n))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run(["nice", "-n", "5", PHP, "-d", "display_errors=stderr", str(script)], input=lines,
                          env=wordpress.cli_env(twin), capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"wp_seed_bench: {script} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(proc.stdout.strip().splitlines()[-1])


def _tables(twin: Twin) -> dict[str, list[tuple]]:
    conn = pymysql.connect(host=db.address(twin), port=3306, user=DB_USER, password=twin.db_password(),
                           database=DB_NAME, connect_timeout=5, autocommit=True)
    try:
        with conn.cursor() as cur:
            content.ensure_views(cur)  # as seed.py makes them after the script
    finally:
        conn.close()
    return {name: stack.sql(twin, sql) for name, sql in TABLES.items()}


def _script_at(commit: str, into: Path) -> Path:
    for name in ("bootstrap.php", "load.php"):
        rel = (wp_files.CLI / name).relative_to(ROOT)
        proc = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{rel}"], capture_output=True, text=True,
                              timeout=30)
        if proc.returncode != 0:
            print(f"wp_seed_bench: --before {commit}: {proc.stderr.strip()}", file=sys.stderr)
            raise SystemExit(2)
        (into / name).write_text(proc.stdout)
    return into / "bootstrap.php"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="the commit whose cli/bootstrap.php is the baseline")
    ap.add_argument("--n", type=int, default=catalog.DEFAULT_N)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--net", type=int, default=88)
    args = ap.parse_args()
    if not (1 <= args.n <= 200_000 and 1 <= args.runs <= 20 and 2 <= args.net <= 254):
        print("wp_seed_bench: --n 1..200000, --runs 1..20, --net 2..254", file=sys.stderr)
        return 2
    install.install_all()  # a no-op when installed
    twin = Twin.create("seed-bench", net=args.net)
    times: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
    try:
        with tempfile.TemporaryDirectory(prefix="wp-seed-bench-") as tmp:
            scripts = {"before": _script_at(args.before, Path(tmp)), "after": wp_files.CLI / "bootstrap.php"}
            _up(twin)
            dumps = {}
            for i in range(args.runs):
                for which in ("before", "after"):
                    _wipe(twin)
                    wall, cpu, summary = _seed(twin, scripts[which], args.n)
                    times[which].append((wall, cpu))
                    print(f"run {i + 1} {which:6s} {wall:6.2f} s wall, {cpu:5.2f} s CPU, inserted {summary['inserted']}",
                          flush=True)
                    if i == args.runs - 1:
                        dumps[which] = _tables(twin)
            wall, cpu, summary = _seed(twin, scripts["after"], args.n)
            print(f"again  after  {wall:6.2f} s wall, {cpu:5.2f} s CPU, inserted {summary['inserted']}, "
                  f"existing {summary['existing']}")
    except KeyboardInterrupt:
        return 130
    finally:
        lifecycle.down(twin.paths, wipe=True)
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in times.items()}
    print(f"median before {med['before'][0]:.2f} s wall, {med['before'][1]:.2f} s CPU; after {med['after'][0]:.2f} s "
          f"wall, {med['after'][1]:.2f} s CPU; after/before: wall {med['after'][0] / med['before'][0]:.2f}, "
          f"CPU {med['after'][1] / med['before'][1]:.2f}")
    differ = [name for name in TABLES if dumps["before"][name] != dumps["after"][name]]
    print(f"tables: {'equal' if not differ else 'DIFFER: ' + ', '.join(differ)} "
          f"({', '.join(f'{k} {len(v)}' for k, v in dumps['after'].items())})")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
