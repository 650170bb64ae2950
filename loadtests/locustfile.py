"""SPS website traffic: readers, searchers, category browsers and a few editors (open model).

Run on its own (web UI or headless) against a loopback target::

    locust -f loadtests/locustfile.py --host http://127.50.10.1:8080              # web UI, pick the users
    locust -f loadtests/locustfile.py --host http://127.50.10.1:8080 --headless -u 100 -r 50 -t 60s \\
        --timeline /tmp/timeline.jsonl                                            # + per-second timeline
    GAMEDAY_PROFILE=peak locust -f loadtests/locustfile.py --host ... --headless   # the modelled peak

or through the controller, which adds the profile, the timeline, a summary and guard rails::

    gameday load run --profile smoke

Journeys (one task each, weights from ``journeys`` in ``loadtests/traffic.yaml``, or the file
named by ``GAMEDAY_TRAFFIC``); every task sends one request, in the timeline group shown:

=================  =======================================================  =========
journey            request                                                  group
=================  =======================================================  =========
read_guidance      GET /guidance/<slug>, popular articles more often (Zipf)  article
read_monograph     GET /medicines/<slug> (Zipf)                              monograph
search             GET /search?q= or /api/search?q= (``search_mix``)         search
browse_category    GET /category/<slug>                                      category
home               GET /                                                     home
publish            POST /api/articles with the id of an existing article     publish
=================  =======================================================  =========

Publishes are signed in as the site's publisher (HTTP basic auth) when ``GAMEDAY_PUBLISHER_USER`` and
``GAMEDAY_PUBLISHER_PASSWORD`` are set in this process's environment (the load runner sets them from
the target's ``publisher_auth``; external workers need them in their own environment); the password
is then taken out of the environment at import. Without them no Authorization header is sent.

Open model: every user sends one request per ``pacing_s``, on a grid of its own, and waits at most
``pacing_s`` for an answer, so arrivals keep their rate while the server stalls; users' send
instants are spread evenly over one pacing interval (``loadtests/arrivals.py``). The shape
(``loadtests/shapes.py``) sets users = rate x pacing.
"""

from __future__ import annotations

import os
import random
import sys
import time
from itertools import accumulate
from pathlib import Path
from urllib.parse import quote_plus

sys.path.insert(0, str(Path(__file__).resolve().parent))  # shapes.py, timeline.py beside this file

from locust import FastHttpUser, events  # noqa: E402
from locust.contrib.fasthttp import LocustUserAgent  # noqa: E402

import arrivals  # noqa: E402
import shapes  # noqa: E402
import timeline as recorder  # noqa: E402
from gameday import hostguard  # noqa: E402
from gameday.errors import GamedayError  # noqa: E402
from gameday.load.model import TrafficModel  # noqa: E402
from gameday.site import catalog  # noqa: E402
from gameday.targets.credentials import basic_auth  # noqa: E402

try:
    TRAFFIC = TrafficModel.load(os.environ.get("GAMEDAY_TRAFFIC") or None)
except GamedayError as err:
    sys.exit(f"error: {err}")
PACING_S = float(os.environ.get("GAMEDAY_LOAD_PACING") or TRAFFIC.pacing_s)
# the editors' credentials (gameday.load.runner: environment only, never argv): kept in memory, not in the environment
_PUBLISHER_PASSWORD = os.environ.pop("GAMEDAY_PUBLISHER_PASSWORD", "")
PUBLISHER_AUTH = basic_auth((os.environ["GAMEDAY_PUBLISHER_USER"], _PUBLISHER_PASSWORD)
                            if os.environ.get("GAMEDAY_PUBLISHER_USER") and _PUBLISHER_PASSWORD else None)
ZIPF_S = 0.9  # popularity skew of articles: weight of rank r is 1 / r^s

# ---- what users ask for ------------------------------------------------------------------------
ARTICLES = list(catalog.generate())
GUIDANCE = [a for a in ARTICLES if a["kind"] == "guidance"]
MONOGRAPHS = [a for a in ARTICLES if a["kind"] == "monograph"]
CATEGORIES = sorted({catalog.category_slug(a["category"]) for a in ARTICLES})
QUERIES = {"popular": catalog.POPULAR_TERMS, "long_tail": catalog.LONG_TAIL_TERMS,
           "misspelling": catalog.MISSPELLINGS, "empty": catalog.EMPTY_RESULT_TERMS}


def _zipf(items: list) -> tuple[list, list[float]]:
    """Items in a fixed random popularity order, with cumulative Zipf weights for random.choices."""
    order = items[:]
    random.Random(42).shuffle(order)
    return order, list(accumulate(1.0 / (rank ** ZIPF_S) for rank in range(1, len(order) + 1)))


GUIDANCE_BY_POPULARITY = _zipf(GUIDANCE)
MONOGRAPHS_BY_POPULARITY = _zipf(MONOGRAPHS)
SEARCH_KINDS = [k for k, w in TRAFFIC.search_mix.items() if w > 0]
SEARCH_WEIGHTS = [TRAFFIC.search_mix[k] for k in SEARCH_KINDS]


def _popular(pool: tuple[list, list[float]]) -> dict:
    items, cum = pool
    return random.choices(items, cum_weights=cum, k=1)[0]


# ---- journeys: one request each ----------------------------------------------------------------
def read_guidance(user: "SpsVisitor") -> None:
    recorder.send(user, "GET", f"/guidance/{_popular(GUIDANCE_BY_POPULARITY)['slug']}",
                  name="/guidance/[slug]", group="article")


def read_monograph(user: "SpsVisitor") -> None:
    recorder.send(user, "GET", f"/medicines/{_popular(MONOGRAPHS_BY_POPULARITY)['slug']}",
                  name="/medicines/[slug]", group="monograph")


def search(user: "SpsVisitor") -> None:
    kind = random.choices(SEARCH_KINDS, weights=SEARCH_WEIGHTS, k=1)[0]
    q = quote_plus(random.choice(QUERIES[kind]))
    if random.random() < TRAFFIC.search_api_share:
        recorder.send(user, "GET", f"/api/search?q={q}", name=f"/api/search?q=[{kind}]", group="search")
    else:
        recorder.send(user, "GET", f"/search?q={q}", name=f"/search?q=[{kind}]", group="search")


def browse_category(user: "SpsVisitor") -> None:
    recorder.send(user, "GET", f"/category/{random.choice(CATEGORIES)}", name="/category/[slug]", group="category")


def home(user: "SpsVisitor") -> None:
    recorder.send(user, "GET", "/", name="/", group="home")


def publish(user: "SpsVisitor") -> None:
    """An editor updates an existing article (new version: database, Kafka event, re-index)."""
    article = random.choice(ARTICLES)
    body = f"{article['body']}\n\nReviewed by the medicines advice team on {time.strftime('%d %B %Y')}."
    recorder.send(user, "POST", "/api/articles", name="/api/articles (update)", group="publish", auth=PUBLISHER_AUTH,
                  json={"id": article["id"], "kind": article["kind"], "title": article["title"],
                        "category": article["category"], "summary": article["summary"], "body": body})


JOURNEYS = {"read_guidance": read_guidance, "read_monograph": read_monograph, "search": search,
            "browse_category": browse_category, "home": home, "publish": publish}


class HostGuardedAgent(LocustUserAgent):
    """Locust's HTTP agent, following a redirect only on the origin it was answered from
    (:func:`gameday.hostguard.redirect_refused`, the rule the requests senders follow too). A redirect to
    another host fails the request with :class:`gameday.hostguard.RedirectRefused`, naming both
    hosts, before anything (a publish's body, its Authorization) is sent there, and the timeline counts
    it as the failure it is, not as the other host's answer."""

    def _urlopen(self, request):
        resp = super()._urlopen(request)
        location = resp.headers.get("location")
        if resp.status_code in self.redirect_response_codes and isinstance(location, str) and location:
            refused = hostguard.redirect_refused(str(request.url), location)
            if refused is not None:
                resp.release()
                raise refused
        return resp


class SpsVisitor(FastHttpUser):
    """One pacing slot of the open model: one request every PACING_S seconds, on schedule."""

    wait_time = arrivals.on_grid(PACING_S)
    network_timeout = PACING_S
    connection_timeout = PACING_S
    # Verify the site's certificate (Locust's FastHttpUser skips it by default): the system's roots,
    # or the bundle a target with a private CA points SSL_CERT_FILE at (gameday.targets.trust).
    insecure = False
    # Locust wants integer weights: shares in per mille (a journey with any weight keeps at least 1).
    tasks = {JOURNEYS[name]: max(1, round(share * 1000)) for name, share in TRAFFIC.journey_shares().items()
             if share > 0}

    def __init__(self, environment) -> None:
        super().__init__(environment)
        # FastHttpSession builds a LocustUserAgent itself; make it ours (a subclass adding only the check above)
        self.client.client.__class__ = HostGuardedAgent

    def on_start(self) -> None:
        # Users' sends spread evenly over one pacing interval (arrivals.py): a burst of new users is not
        # a burst of requests, and no second of the interval goes without one.
        arrivals.start(self, PACING_S)

    def on_stop(self) -> None:
        arrivals.stop(self)  # its phase goes to the user with the highest one: no second left without


# ---- the shape and the timeline ----------------------------------------------------------------
if os.environ.get("GAMEDAY_PROFILE"):
    try:
        LoadShape = shapes.for_profile(dict(os.environ), TRAFFIC.plan(), PACING_S)
    except GamedayError as err:
        sys.exit(f"error: {err}")


@events.init_command_line_parser.add_listener
def _options(parser, **_) -> None:
    parser.add_argument("--timeline", type=str, env_var="GAMEDAY_TIMELINE", default="", include_in_web_ui=False,
                        help="Write the per-second timeline (JSON lines, gameday.load.timeline/v1) to this file")


def _meta(environment) -> dict:
    shape = environment.shape_class
    return {"profile": getattr(shape, "profile", None), "host": environment.host, "pacing_s": PACING_S,
            "traffic": TRAFFIC.source, "journeys": TRAFFIC.journeys}


recorder.install(events, meta=_meta, max_lag_s=lambda: PACING_S + 5.0)
