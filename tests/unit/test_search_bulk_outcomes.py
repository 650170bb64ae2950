"""How the search client reads a bulk answer (gameday/site/search.py ``bulk_index``), against a local
HTTP server at the protocol boundary answering as OpenSearch does. A refusal of the events themselves
(a field the mapping cannot parse) is SearchRejected: the indexer dead-letters those ids. An index that
is not there to write to is SearchUnavailable: the indexer retries the batch once search is back, and
dead-letters nothing (a lost index used to dead-letter every event taken meanwhile)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gameday.site.search import SearchClient, SearchRejected, SearchUnavailable

ARTICLE = {"id": 7, "version": 2, "kind": "guidance", "slug": "s", "title": "t", "category": None,
           "summary": "s", "body": "b", "updated_at": "2026-12-06T00:00:00"}


def _item(status: int, error_type: str | None) -> dict:
    outcome = {"_index": "content", "_id": "7", "status": status}
    if error_type:
        outcome["error"] = {"type": error_type, "reason": f"{error_type} for [content]"}
    return {"index": outcome}


@pytest.fixture
def opensearch():
    """A loopback server whose /_bulk answers with the item the test sets; yields (set_item, url)."""
    answer: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.dumps({"took": 1, "errors": True, "items": [answer["item"]]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield (lambda item: answer.update(item=item)), f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.mark.parametrize("error_type", ["index_not_found_exception", "index_closed_exception",
                                        "cluster_block_exception"])
def test_an_index_that_cannot_be_written_is_unavailable_not_a_refusal_of_the_events(opensearch, error_type):
    set_item, url = opensearch
    set_item(_item(404 if error_type == "index_not_found_exception" else 403, error_type))
    with pytest.raises(SearchUnavailable, match="not there to write to") as err:
        SearchClient([url]).bulk_index([ARTICLE])
    assert not isinstance(err.value, SearchRejected)


def test_a_document_the_mapping_refuses_is_rejected_by_id(opensearch):
    set_item, url = opensearch
    set_item(_item(400, "mapper_parsing_exception"))
    with pytest.raises(SearchRejected) as err:
        SearchClient([url]).bulk_index([ARTICLE])
    assert list(err.value.rejected) == ["7"] and "mapper_parsing_exception" in err.value.rejected["7"]


def test_a_version_conflict_is_stale_not_a_failure(opensearch):
    set_item, url = opensearch
    set_item(_item(409, "version_conflict_engine_exception"))
    assert SearchClient([url]).bulk_index([ARTICLE]) == {"indexed": 0, "removed": 0, "stale": 1}
