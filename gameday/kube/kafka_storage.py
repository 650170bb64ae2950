"""A Kafka pod's storage on the Kubernetes twin, as Strimzi keeps it: a PersistentVolumeClaim per
broker (the StatefulSet's ``volumeClaimTemplates``), formatted on first use with the cluster id and
the broker's own node id, so a claim deleted together with its pod (a disk lost) comes back empty
and formatted, and the broker re-replicates.

:func:`with_claim` turns the supervisor member's container into that (the workloads module calls it
for the ``kafka`` StatefulSet); the pod then runs this module as its command::

    python -m gameday.kube.kafka_storage --data /var/lib/kafka/data --cluster-id ID \\
        -- java ... kafka.Kafka /.../conf/kafka-2/server.properties

1. The member's ``server.properties`` is copied beside the data (``/var/lib/kafka/server.properties``)
   with ``log.dirs`` pointing at ``--data`` (the metadata log lives there too).
2. When ``<data>/meta.properties`` is missing (a new claim: the first start, or a disk lost),
   ``kafka.tools.StorageTool format --ignore-formatted`` with the cluster id, with the broker's own
   JVM and classpath (Strimzi's start script does the same).
3. ``exec`` of the broker with the copy in place of the original file.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

MOUNT = "/var/lib/kafka"
DATA = f"{MOUNT}/data"
CLAIM = "data"
CLAIM_SIZE = "1Gi"
MAIN = "kafka.Kafka"
FORMAT_TIMEOUT_S = 120


def with_claim(container: dict[str, Any], *, python: str, cluster_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(container, claim template)``: the StatefulSet container of the Kafka members, started
    through this module with its data on the claim ``data`` mounted at :data:`MOUNT`, and the
    StatefulSet's volume claim template for it (the cluster's default StorageClass)."""
    argv = [*container["command"], *container["args"]]
    wrapped = {**container, "command": [python], "args": ["-m", "gameday.kube.kafka_storage", "--data", DATA,
                                                          "--cluster-id", cluster_id, "--", *argv],
               "volumeMounts": [*container.get("volumeMounts", []), {"name": CLAIM, "mountPath": MOUNT}]}
    template = {"metadata": {"name": CLAIM},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": CLAIM_SIZE}}}}
    return wrapped, template


def on_claim(properties: str, data: str) -> str:
    """``properties`` (a server.properties text) with ``log.dirs`` set to ``data`` and any
    ``log.dir``/``metadata.log.dir`` dropped (everything on the claim); pure."""
    drop = ("log.dirs=", "log.dir=", "metadata.log.dir=")
    kept = [line for line in properties.splitlines() if not line.strip().startswith(drop)]
    return "\n".join([*kept, f"log.dirs={data}"]) + "\n"


def _split(argv: list[str]) -> tuple[list[str], str]:
    """The broker's argv -> (its JVM launch prefix, its properties file)."""
    if MAIN not in argv or argv.index(MAIN) + 1 >= len(argv):
        raise SystemExit(f"kafka_storage: expected '... {MAIN} <server.properties>' after --, got {argv!r}")
    at = argv.index(MAIN)
    return argv[:at], argv[at + 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gameday.kube.kafka_storage", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="the broker's data directory, on its claim")
    parser.add_argument("--cluster-id", required=True, help="the KRaft cluster id to format new storage with")
    parser.add_argument("broker", nargs=argparse.REMAINDER, help="-- then the broker's command line")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    broker = args.broker[1:] if args.broker[:1] == ["--"] else args.broker
    jvm, properties = _split(broker)
    data = Path(args.data)
    copy = data.parent / "server.properties"
    copy.write_text(on_claim(Path(properties).read_text(), str(data)))
    if not (data / "meta.properties").exists():
        print(f"kafka_storage: {data} is not formatted (a new claim): formatting it with cluster id "
              f"{args.cluster_id}", flush=True)
        proc = subprocess.run([*jvm, "kafka.tools.StorageTool", "format", f"--cluster-id={args.cluster_id}",
                               "-c", str(copy), "--ignore-formatted"], timeout=FORMAT_TIMEOUT_S)
        if proc.returncode != 0:
            print(f"kafka_storage: formatting {data} failed (exit {proc.returncode})", file=sys.stderr, flush=True)
            return proc.returncode or 1
    os.execvp(jvm[0], [*jvm, MAIN, str(copy)])
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main())
