"""The sandbox target: nodes are members of a local twin, hurt through its supervisor."""

from __future__ import annotations

import time

from ..deadline import Deadline
from ..errors import NotRunning, UsageError
from ..sandbox.client import SandboxClient
from .base import Node, Target
from .environment import Environment


class SandboxTarget(Target):
    def __init__(self, env: Environment):
        super().__init__(env)
        self.client = SandboxClient.for_name(env.sandbox)

    def _status(self) -> dict:
        if not self.client.running():
            raise NotRunning(f"sandbox {self.env.sandbox!r} (environment {self.name!r}) is not running",
                             hint=f"start it: gameday sandbox --name {self.env.sandbox} up")
        return self.client.status()

    def _members(self, layer: str) -> list[dict]:
        return [m for m in self._status()["members"] if m["layer"] == layer and m.get("desired", True)]

    def nodes(self, layer: str) -> list[Node]:
        return [Node(name=m["name"], layer=layer, labels=m["labels"], address=m["address"],
                     ready=bool(m["ready"]), running=m["pid"] is not None) for m in self._members(layer)]

    def held(self, layer: str) -> list[str]:
        """Service members of the layer's replica slots that are held stopped (``stop``, a playbook
        test, ``gameday sandbox stop``): down, though not in :meth:`nodes`."""
        status = self._status()
        replicas = {w["name"]: w["replicas"] for w in status["workloads"]}
        return [m["name"] for m in status["members"] if m["layer"] == layer and m["kind"] == "service"
                and not m.get("desired", True) and m["index"] <= replicas[m["workload"]]]

    def kill(self, node: Node) -> float:
        self.client.kill(node.name, "KILL", by="chaos")
        return time.time()

    def stop(self, node: Node) -> float:
        self.client.stop(node.name, by="chaos")
        return time.time()

    def start(self, node: Node) -> float:
        self.client.start(node.name, by="chaos")
        return time.time()

    def wait_ready(self, node: Node, timeout: float) -> float:
        started = time.monotonic()
        self.client.wait_ready(node.name, timeout=timeout)
        return time.monotonic() - started

    def restart(self, layer: str, *, timeout: float = 300.0) -> list[str]:
        """One running member at a time: stopped gracefully (SIGTERM, its grace period), started
        again, waited for until ready (the load balancer's health checks take it back)."""
        deadline = Deadline(timeout)
        done = []
        for node in [n for n in self.nodes(layer) if n.running]:
            self.client.stop(node.name, by="chaos")
            self.client.wait_stopped(node.name, timeout=max(1.0, deadline.remaining()))
            self.client.start(node.name, by="chaos")
            self.client.wait_ready(node.name, timeout=max(1.0, deadline.remaining()))
            done.append(node.name)
        return done

    def _endpoint(self, layer: str, port: str) -> list[str]:
        """Addresses of a layer's replica slots, stopped members included (a stopped database
        still has an address; asking for it must not fail)."""
        status = self._status()
        replicas = {w["name"]: w["replicas"] for w in status["workloads"]}
        found = [f"{m['address']}:{m['ports'][port]}" for m in status["members"]
                 if m["layer"] == layer and m["address"] and m["index"] <= replicas[m["workload"]]]
        if not found:
            raise UsageError(f"sandbox {self.env.sandbox!r} has no {layer} member with a {port} port")
        return found

    def site_url(self) -> str:
        return self.env.site_url or f"http://{self._endpoint('lb', 'http')[0]}"

    def kafka_bootstrap(self) -> str:
        return ",".join(self._endpoint("kafka", "broker"))

    def search_urls(self) -> list[str]:
        return [f"http://{hp}" for hp in self._endpoint("search", "http")]

    def db_address(self) -> tuple[str, int]:
        host, port = self._endpoint("db", "mysql")[0].split(":")
        return host, int(port)

    def db_credentials(self) -> tuple[str, str, str]:
        """(user, password, database): the twin's, from its secrets directory (0600)."""
        from .. import redact
        from ..sandbox.twin import DB_NAME, DB_USER, Twin
        password = Twin.create(self.env.sandbox).db_password()
        redact.register(password)
        return DB_USER, password, DB_NAME

    def secrets(self) -> list[str]:
        """The twin's database and search passwords (those made so far)."""
        from ..sandbox.twin import Twin
        twin = Twin.create(self.env.sandbox)
        files = [twin.db_env_file, twin.search_env_file]
        return [f.read_text().split("=", 1)[1].strip() for f in files if f.exists()]

    def health_check(self, layer: str) -> dict:
        """The twin's web replicas answer ``/readyz`` on port 8000 (unless the environment says otherwise)."""
        return self.env.health_check(layer, port=8000 if layer == "web" else 80)

    def versions(self) -> dict[str, str]:
        from ..sandbox import install
        return {"kafka": install.KAFKA_VERSION, "opensearch": install.OPENSEARCH_VERSION}

    def check_tools(self) -> None:
        """The twin's servers are installed (``gameday sandbox install``)."""
        from ..sandbox import install
        install.check()

    def toxiproxy_api(self) -> str | None:
        found = self._endpoint("toxiproxy", "api")
        return f"http://{found[0]}" if found else None
