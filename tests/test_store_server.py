"""The remote code path of the server backend, against a stub HTTP server (no Qdrant runs in CI):
fail fast naming the URL, send the API key, turn HTTP failures into StoreError."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fashion_search.store import CollectionNotFound, StoreError, open_store


class StubQdrant(BaseHTTPRequestHandler):
    """Answers the collection listing, 404s one collection, and fails everything else with a 500."""

    seen_keys: list = []

    def do_GET(self):
        StubQdrant.seen_keys.append(self.headers.get("api-key"))
        if self.path.startswith("/collections/missing"):
            self._reply(404, {"status": {"error": "Not found: Collection `missing` doesn't exist!"}, "time": 0})
        elif self.path.split("?")[0] == "/collections":
            self._reply(200, {"result": {"collections": []}, "status": "ok", "time": 0})
        else:
            self._reply(500, {"status": {"error": "boom"}, "time": 0})

    def do_POST(self):
        self._reply(500, {"status": {"error": "disk full"}, "time": 0})

    do_PUT = do_POST

    def _reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):      # keep pytest output clean
        pass


@pytest.fixture
def stub_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubQdrant)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    StubQdrant.seen_keys = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.timeout(20)
def test_unreachable_server_fails_fast_naming_the_url():
    with socket.socket() as sock:                        # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(StoreError, match=f"cannot reach the Qdrant server at {url}"):
        open_store(url, timeout_s=2)


@pytest.mark.timeout(20)
def test_api_key_is_sent_and_http_failures_become_store_errors(stub_url):
    store = open_store(stub_url, "missing", api_key="s3cret", timeout_s=2)
    assert StubQdrant.seen_keys == ["s3cret"]            # the open-time probe carried the key
    with pytest.raises(CollectionNotFound, match=f"'missing' does not exist at {stub_url}"):
        store.count()
    store.close()
    other = open_store(stub_url, "products", api_key="s3cret", timeout_s=2)
    with pytest.raises(StoreError, match=f"(?s)Qdrant at {stub_url} failed during get_collection.*500.*boom"):
        other.count()
    assert set(StubQdrant.seen_keys) == {"s3cret"}
    other.close()


@pytest.mark.timeout(20)
def test_api_key_and_timeout_default_to_the_environment(stub_url, monkeypatch):
    monkeypatch.setenv("QDRANT_API_KEY", "from-env")
    monkeypatch.setenv("QDRANT_TIMEOUT", "2")
    store = open_store(stub_url)
    assert StubQdrant.seen_keys == ["from-env"] and store.timeout_s == 2.0
    store.close()
