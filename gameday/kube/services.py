"""The sandbox's Service plumbing, run by the supervisor as ``kube-services-1``::

    python -m gameday.kube.services --kubeconfig KUBECONFIG --namespace gameday \\
        --haproxy-socket RUN/lb-1.sock --backend web=web

- :class:`~gameday.kube.endpointslices.EndpointSliceController`: the namespace's annotated Services
  get EndpointSlices from their pods;
- one :class:`~gameday.kube.haproxy_backends.Feeder` per ``--backend BACKEND=SERVICE``: HAProxy's
  backend follows the Service's ready endpoints.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from kubernetes import config

from .endpointslices import EndpointSliceController
from .haproxy_backends import Feeder, Runtime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gameday.kube.services", description=__doc__.split("\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--haproxy-socket", required=True, help="HAProxy's admin socket (stats socket ... level admin)")
    parser.add_argument("--backend", action="append", default=[], metavar="BACKEND=SERVICE",
                        help="feed HAProxy backend BACKEND from Service SERVICE's endpoints (repeatable)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    pairs = []
    for item in args.backend:
        backend, sep, service = item.partition("=")
        if not sep or not backend or not service:
            parser.error(f"--backend {item!r}: expected BACKEND=SERVICE, e.g. web=web")
        pairs.append((backend, service))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def client():  # one ApiClient per thread: the client's connection pool is not shared across threads here
        return config.new_client_from_config(config_file=args.kubeconfig)

    workers = [threading.Thread(target=EndpointSliceController(client(), args.namespace).run, args=(stop,),
                                name="endpointslices", daemon=True)]
    runtime = Runtime(args.haproxy_socket)
    for backend, service in pairs:
        feeder = Feeder(client(), args.namespace, service, runtime, backend=backend)
        workers.append(threading.Thread(target=feeder.run, args=(stop,), name=f"feed-{backend}", daemon=True))
    for worker in workers:
        worker.start()
    stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
