"""The site's caches after its database's content changed: the object cache emptied and the CDN's
cached pages banned, through the target (:meth:`gameday.targets.base.Target.flush_site_caches`), so
that readers are not served what a restore removed or a lost primary held (issue 17, risk R8).

One step, used by the db playbook (after a point-in-time restore and after a failover) and the region
playbook (after a promotion), timed and reported as every step is. Where the environment has no object
cache or no CDN the step does nothing for it and says so in its output::

    flushed(ctx.target)  # "object cache: cache-1 emptied (812 keys); CDN: cdn-1 banned (40 pages cached)"
                         # "object cache: none in this environment, nothing to empty; CDN: ..."
                         # GKE with cloud_cdn: "...; CDN: Cloud CDN's /* invalidated (url map ..., operation ..., 41.2s)"
"""

from __future__ import annotations

from typing import Any

from ...targets.base import Target
from ..context import Context
from ..engine import Step

DESCRIPTION = ("Empty the object cache and ban the CDN's cached pages: they may still hold what the database "
               "no longer has (nothing is done for a cache the environment has none of)")


def words(done: dict[str, Any]) -> str:
    """What :meth:`Target.flush_site_caches` did, in words (the step's output)."""
    def one(kind: str, what: str, key: str, count_key: str, count_words: str, verb: str) -> str:
        cache = done.get(key)
        if cache is None:
            return f"{kind}: none in this environment, nothing to {what}"
        if cache.get("kind") == "cloud-cdn":  # a GKE environment's cloud_cdn (gameday.gcp.cdn)
            return (f"{kind}: Cloud CDN's {cache['path']}{' on ' + cache['host'] if cache.get('host') else ''} "
                    f"invalidated (url map {cache['url_map']}, operation {cache['operation']}, {cache['seconds']:g}s)")
        parts = []
        for name, m in (cache.get("members") or {}).items():
            if m.get(verb):
                n = m.get(count_key)
                parts.append(f"{name} {'emptied' if verb == 'flushed' else 'banned'}"
                             + (f" ({n} {count_words})" if n is not None else ""))
            else:
                parts.append(f"{name} left alone ({m.get('why', 'not running')})")
        return f"{kind}: " + ("; ".join(parts) or "no member")

    return (one("object cache", "empty", "object_cache", "keys_before", "keys", "flushed") + "; "
            + one("CDN", "ban", "cdn", "objects_before", "objects cached", "banned"))


def flushed(target: Target, timeout_s: float | None = None) -> str:
    """Flush ``target``'s caches (waiting at most ``timeout_s`` for one to say it is done); what was done, in words."""
    return words(target.flush_site_caches(timeout_s=timeout_s))


DEADLINE_S = 600  # the twin's flush takes a second; a Cloud CDN invalidation waits up to cloud_cdn.timeout_s (240, at most 600)


def foreseen(target: Target) -> str:
    """What the flush will do on ``target``, in words, found without changing anything (a dry run)."""
    names = target.site_caches()

    def one(kind: str, what: str, found: list[str] | None) -> str:
        return f"{kind}: none in this environment, nothing to {what}" if not found else \
            f"{kind}: will {what} {', '.join(found)}"
    return one("object cache", "empty", names.get("object_cache")) + "; " + one("CDN", "clear", names.get("cdn"))


def step(name: str, when: tuple[str, ...], act=None, foresee=None) -> Step:
    """The flush as a restore step answering ``when``; ``act`` and ``foresee`` default to the context's
    own target's."""
    return Step(name, DESCRIPTION, deadline_s=DEADLINE_S, when=when, act=act or _flush_own,
                foresee=foresee or _foresee_own)


def _foresee_own(ctx: Context) -> str:
    return foreseen(ctx.target)


def _flush_own(ctx: Context) -> str:
    return flushed(ctx.target, time_left(ctx))


def time_left(ctx: Context) -> float | None:
    """The running step's time left (``ctx.deadline``, set by the engine), or None outside a step."""
    deadline = getattr(ctx, "deadline", None)
    return None if deadline is None else deadline.remaining()
