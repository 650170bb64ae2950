"""The web app of the site twin (Flask), one process per replica behind HAProxy.

Served in production (the sandbox) by::

    gunicorn -k gthread --threads 8 -w 1 -b 127.0.60.11:8001 'gameday.site.app:create_app()'

Pages: ``/`` (latest 20 + categories), ``/guidance/<slug>``, ``/medicines/<slug>``,
``/category/<slug>``, ``/search?q=``. API: ``GET /api/articles/<id>``, ``GET /api/search?q=``,
``POST /api/articles`` (publish: article + outbox row in one transaction, then a Kafka event with
acks=all: 201 ``"event": "acknowledged"`` or 202 ``"event": "pending"``). Probes: ``/healthz``
(process alive, always 200) and ``/readyz`` (200 iff ``SELECT 1`` works within ~1 s; search is not
checked; 503 while the twin's readiness fault holds this process, see :func:`held_unready`).

Degraded modes, all fast: search down -> search routes answer 503 within ~2.5 s with
``X-Gameday-Degraded: search`` while article pages keep working; database down -> 503 within
~2 s with ``X-Gameday-Degraded: db``. Every response carries ``X-Served-By`` (``GAMEDAY_MEMBER``
or the hostname).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time

from flask import Flask, Response, abort, jsonify, render_template, request

from . import db
from .catalog import CATEGORIES, category_slug
from .config import SiteConfig
from .events import EventNotAcknowledged, EventPublisher, article_event
from .search import SearchClient, SearchError, SearchUnavailable

__all__ = ["create_app"]

log = logging.getLogger("gameday.site")

KIND_PATHS = {"guidance": "guidance", "monograph": "medicines"}
SEARCH_DOWN = "Search is temporarily unavailable. Please try again in a moment; articles can still be browsed."
DB_DOWN = "The content database is temporarily unavailable. Please try again in a moment."
MAX_QUERY = 200
FIELD_LIMITS = {"title": 255, "category": 64, "summary": 2000, "body": 200_000}
CATEGORY_TTL = 5.0
PUBLISH_TIMEOUT = 5.0


class _CategoryCache:
    """Category list per process, refreshed at most every ``ttl`` s; stale copy served if the DB fails."""

    def __init__(self, database: db.Database, ttl: float = CATEGORY_TTL):
        self._db = database
        self._ttl = ttl
        self._lock = threading.Lock()
        self._value: list[dict] | None = None
        self._expires = 0.0

    def get(self) -> list[dict]:
        now = time.monotonic()
        value = self._value
        if value is not None and now < self._expires:
            return value
        with self._lock:
            if self._value is not None and time.monotonic() < self._expires:
                return self._value
            try:
                rows = self._db.read(db.categories)
            except db.DatabaseUnavailable:
                if self._value is None:
                    raise
                self._expires = time.monotonic() + 1.0  # retry soon, serve the stale list meanwhile
                return self._value
            self._value = [{"name": r["category"], "slug": category_slug(r["category"]), "count": r["n"]}
                           for r in rows]
            self._expires = time.monotonic() + self._ttl
            return self._value


class _Throttled:
    """Log a warning at most once per ``every`` seconds per topic, counting the ones dropped."""

    def __init__(self, logger: logging.Logger, every: float = 1.0):
        self._log = logger
        self._every = every
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._dropped: dict[str, int] = {}

    def __call__(self, topic: str, fmt: str, *args: object) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(topic, -self._every) < self._every:
                self._dropped[topic] = self._dropped.get(topic, 0) + 1
                return
            self._last[topic] = now
            dropped = self._dropped.pop(topic, 0)
        self._log.warning(fmt + (f" (+{dropped} similar)" if dropped else ""), *args)


def _article_url(item: dict) -> str:
    return f"/{KIND_PATHS.get(item['kind'], 'guidance')}/{item['slug']}"


def held_unready(faults_dir: str | None, member: str) -> bool:
    """Whether the twin's readiness fault holds this process not ready: ``<faults_dir>/<member>.unready``
    (``GAMEDAY_FAULTS_DIR``; written by :mod:`gameday.sandbox.web_faults`) names its pid or its
    gunicorn master's. A fresh process is not held (a replaced replica is ready again)."""
    if not faults_dir:
        return False
    try:
        text = open(os.path.join(faults_dir, f"{member}.unready")).read().strip()
    except OSError:
        return False
    return text.isdigit() and int(text) in (os.getpid(), os.getppid())


def _json_article(row: dict) -> dict:
    out = dict(row)
    if out.get("updated_at") is not None and not isinstance(out["updated_at"], str):
        out["updated_at"] = out["updated_at"].isoformat()
    out["url"] = _article_url(row)
    return out


def _validate(payload: object) -> dict:
    """Check a publish request; returns clean fields or aborts 400 with a JSON error."""
    if not isinstance(payload, dict):
        _bad_request("expected a JSON object with kind, title, category, summary, body (and optional id)")
    fields: dict = {}
    kind = payload.get("kind")
    if kind not in KIND_PATHS:
        _bad_request("kind must be 'guidance' or 'monograph'")
    fields["kind"] = kind
    for name, limit in FIELD_LIMITS.items():
        value = payload.get(name)
        if not isinstance(value, str) or not value.strip():
            _bad_request(f"{name} must be a non-empty string")
        if len(value) > limit:
            _bad_request(f"{name} is longer than {limit} characters")
        fields[name] = value.strip() if name != "body" else value
    article_id = payload.get("id")
    if article_id is not None and (isinstance(article_id, bool) or not isinstance(article_id, int) or article_id < 1):
        _bad_request("id must be a positive integer when given")
    fields["id"] = article_id
    return fields


def _bad_request(message: str) -> None:
    abort(Response(json.dumps({"error": message}), status=400, mimetype="application/json"))


def create_app(cfg: SiteConfig | None = None) -> Flask:
    """Build the app from ``cfg`` (default: :meth:`SiteConfig.from_env`, read once here)."""
    cfg = cfg or SiteConfig.from_env()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    app = Flask(__name__)
    app.json.sort_keys = False
    app.json.compact = True
    database = db.Database(cfg)
    probe_db = db.Database(cfg, connect_timeout=0.4, read_timeout=0.4, write_timeout=0.4)  # ~1 s budget
    search = SearchClient(cfg.search_urls, index=cfg.content_index, budget=2.5, auth=cfg.search_auth,
                          verify=cfg.search_verify)
    publisher = EventPublisher(cfg)
    category_cache = _CategoryCache(database)
    served_by = cfg.member
    app.extensions["gameday_site"] = {"config": cfg, "db": database, "search": search, "publisher": publisher}
    app.jinja_env.globals.update(article_url=_article_url, served_by=served_by)

    warn_once = _Throttled(log)

    def wants_json() -> bool:
        return request.path.startswith("/api/")

    def degraded(component: str, message: str, status: int = 503):
        if wants_json():
            resp = jsonify(error=message, degraded=component)
            resp.status_code = status
        else:
            resp = Response(render_template("error.html", title="Temporarily unavailable", message=message),
                            status=status, mimetype="text/html")
        resp.headers["X-Gameday-Degraded"] = component
        resp.headers["Retry-After"] = "2"
        return resp

    @app.after_request
    def add_served_by(resp: Response) -> Response:
        resp.headers["X-Served-By"] = served_by
        return resp

    @app.errorhandler(db.DatabaseUnavailable)
    def on_db_down(err: db.DatabaseUnavailable):
        warn_once("db", "db unavailable on %s %s: %s", request.method, request.path, err)
        return degraded("db", DB_DOWN)

    @app.errorhandler(SearchUnavailable)
    def on_search_down(err: SearchUnavailable):
        warn_once("search", "search unavailable on %s: %s", request.path, err)
        return degraded("search", SEARCH_DOWN)

    @app.errorhandler(SearchError)
    def on_search_error(err: SearchError):
        warn_once("search-error", "search error on %s: %s", request.path, err)
        return degraded("search", SEARCH_DOWN)

    @app.errorhandler(404)
    def not_found(err):
        if wants_json():
            return jsonify(error="not found"), 404
        return render_template("error.html", title="Page not found",
                               message="We could not find that page."), 404

    @app.get("/healthz")
    def healthz():
        return Response("ok\n", mimetype="text/plain")

    faults_dir = os.environ.get("GAMEDAY_FAULTS_DIR")

    @app.get("/readyz")
    def readyz():
        if held_unready(faults_dir, cfg.member):
            return Response("not ready: this replica is wedged (a readiness fault holds it; replace it)\n",
                            status=503, mimetype="text/plain")
        try:
            probe_db.ping()
        except db.DatabaseUnavailable as err:
            return Response(f"not ready: {err}\n", status=503, mimetype="text/plain")
        return Response("ready\n", mimetype="text/plain")

    @app.get("/")
    def home():
        items = database.read(lambda conn: db.latest(conn, 20))
        return render_template("home.html", items=items, categories=category_cache.get())

    def article_page(kind: str, slug: str):
        row = database.read(lambda conn: db.get_by_slug(conn, kind, slug))
        if row is None:
            abort(404)
        return render_template("article.html", article=row, paragraphs=row["body"].split("\n\n"))

    @app.get("/guidance/<slug>")
    def guidance(slug: str):
        return article_page("guidance", slug)

    @app.get("/medicines/<slug>")
    def medicine(slug: str):
        return article_page("monograph", slug)

    @app.get("/category/<slug>")
    def category(slug: str):
        known = {c["slug"]: c["name"] for c in category_cache.get()}
        name = known.get(slug) or next((c for c in CATEGORIES if category_slug(c) == slug), None)
        if name is None:
            abort(404)
        items = database.read(lambda conn: db.by_category(conn, name, 50))
        return render_template("category.html", name=name, items=items)

    def query_arg() -> str:
        return request.args.get("q", "").strip()[:MAX_QUERY]

    @app.get("/search")
    def search_page():
        q = query_arg()
        result = search.search(q, size=10) if q else None
        return render_template("search.html", q=q, result=result)

    @app.get("/api/search")
    def api_search():
        q = query_arg()
        if not q:
            return jsonify(error="missing query parameter q"), 400
        size = min(max(request.args.get("size", 10, type=int) or 10, 1), 50)
        result = search.search(q, size=size)
        return jsonify(q=q, total=result["total"], took_ms=result["took_ms"], hits=[
            {**hit, "url": _article_url(hit)} for hit in result["hits"]])

    @app.get("/api/articles/<int:article_id>")
    def api_article(article_id: int):
        row = database.read(lambda conn: db.get_article(conn, article_id))
        if row is None:
            return jsonify(error=f"article {article_id} not found"), 404
        return jsonify(_json_article(row))

    @app.post("/api/articles")
    def api_publish():
        fields = _validate(request.get_json(silent=True))
        try:
            article, outbox_id, event = database.write(
                lambda conn: db.save_article(conn, fields, article_event))
        except db.NotFound as err:
            return jsonify(error=str(err)), 404
        body = {"id": article["id"], "version": article["version"], "slug": article["slug"],
                "url": _article_url(article)}
        try:
            publisher.publish(event, timeout=PUBLISH_TIMEOUT)
        except EventNotAcknowledged as err:
            warn_once("kafka", "event for article %s v%s left in the outbox: %s", article["id"], article["version"], err)
            return jsonify(**body, event="pending"), 202
        try:
            database.read(lambda conn: db.mark_sent(conn, [outbox_id]))
        except db.DatabaseUnavailable as err:  # acknowledged anyway; the relay will re-send (idempotent)
            log.warning("event %s acknowledged but outbox row %s not marked sent: %s", article["id"], outbox_id, err)
        return jsonify(**body, event="acknowledged"), 201

    return app
