"""The local server under hostile input: nesting, lying lengths, slow
clients, non-object bodies; and its Prometheus metrics page."""

import http.client
import json
import socket
import threading
import time

import pytest

tf = pytest.importorskip("tensorflow")

from serving import config as sc  # noqa: E402
from serving.server import LocalModelServer  # noqa: E402
from serving.server.metrics import (DEFAULT_METRICS_PATH,  # noqa: E402
                                    ServerMetrics, read_monitoring_config)
from tests.test_serving_server import _install, _save_toy, call  # noqa: E402


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    return {v: _save_toy(str(root / f"v{v}"), v) for v in (1, 2)}


@pytest.fixture(scope="module")
def monitoring_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("mon") / "monitoring.config"
    path.write_text('prometheus_config {\n  enable: true,\n'
                    '  path: "/monitoring/prometheus/metrics"\n}\n')
    return str(path)


@pytest.fixture(scope="module")
def server(store, tmp_path_factory, monitoring_file):
    models_dir = str(tmp_path_factory.mktemp("models"))
    _install(store, models_dir, "toy", [1, 2], labels={"stable": 1},
             version_policy=sc.all_versions())
    srv = LocalModelServer(models_dir, port=0, poll_interval=0.0,
                           max_body_bytes=64 * 1024, request_timeout=1.0,
                           monitoring=monitoring_file).start()
    yield srv
    srv.stop()


def alive(server):
    status, out = call(server, "POST", "/v1/models/toy:predict",
                       body={"instances": ["hello world"]})
    assert status == 200, out
    return True


def raw_exchange(port, data, *, half_close=False, timeout=10):
    """Sends raw bytes; returns (status line, JSON body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            got += chunk
    return _first_response(got)


def _recv_until_closed(s):
    """Everything the server sends until it closes the connection (a reset,
    when the server closes with bytes of ours unread, ends it too)."""
    got = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return got
        if not chunk:
            return got
        got += chunk


def _recv_answer(s):
    """One whole JSON answer on a connection that stays open."""
    got = b""
    while b"\r\n\r\n" not in got or not got.rstrip().endswith(b"}"):
        chunk = s.recv(65536)
        assert chunk, got
        got += chunk
    return got


def _first_response(got):
    """(status line, JSON body) of the first answer in ``got`` (a
    keep-alive connection may carry more)."""
    head, _, rest = got.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next((int(l.split(b":", 1)[1]) for l in lines[1:]
                   if l.lower().startswith(b"content-length:")), len(rest))
    return lines[0].decode(), json.loads(rest[:length])


# -- bodies ---------------------------------------------------------------


@pytest.mark.parametrize("depth", [5_000, 200_000])
def test_deeply_nested_json_is_400(server, depth):
    # 5k fits under the body limit as text but overflows the JSON parser's
    # recursion; the server answered 500 (RecursionError) before.
    raw = b'{"instances": ' + b"[" * depth + b"]" * depth + b"}"
    if len(raw) > 64 * 1024:
        status, out = call(server, "POST", "/v1/models/toy:predict", raw=raw)
        assert status == 413
    else:
        status, out = call(server, "POST", "/v1/models/toy:predict", raw=raw)
        assert status == 400, out
        assert "nested too deeply" in out["error"]
    assert alive(server)


def test_nested_inputs_below_parser_limit_are_400(server):
    # Deep enough to be parsed, then rejected by the shape check.
    raw = b'{"instances": ' + b"[" * 300 + b'"a"' + b"]" * 300 + b"}"
    status, out = call(server, "POST", "/v1/models/toy:predict", raw=raw)
    assert status == 400, out
    assert "incompatible" in out["error"] or "nested" in out["error"]
    assert alive(server)


@pytest.mark.parametrize("raw,kind", [(b'"text"', "string"), (b"42", "number"),
                                      (b"null", "null"), (b"true", "boolean"),
                                      (b"[]", "array")])
def test_body_that_is_not_an_object_is_400(server, raw, kind):
    status, out = call(server, "POST", "/v1/models/toy:predict", raw=raw)
    assert status == 400
    assert f"Received: a JSON {kind}" in out["error"]


@pytest.mark.parametrize("body,message", [
    ({"instances": [{"text": 3}]}, "not of expected type: string"),
    ({"instances": "hello"}, "non-empty JSON list"),
    ({"instances": []}, "non-empty JSON list"),
    ({"inputs": {"text": [["a", "b"]]}}, "incompatible"),
    ({"instances": [{"text": "a", "extra": 1}]}, "expects inputs"),
])
def test_wrong_type_or_shape_is_400(server, body, message):
    status, out = call(server, "POST", "/v1/models/toy:predict", body=body)
    assert status == 400, out
    assert message in out["error"]


# -- the transport ---------------------------------------------------------


def _post_head(length):
    return (f"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}"
            "\r\n\r\n").encode()


def test_content_length_longer_than_body_then_eof_is_400(server):
    body = b'{"instances": ["a"]}'
    line, out = raw_exchange(server.port, _post_head(len(body) + 50) + body,
                             half_close=True)
    assert " 400 " in line
    assert f"received {len(body)} of {len(body) + 50} bytes" in out["error"]
    assert alive(server)


def test_content_length_longer_than_body_stalled_is_408(server):
    body = b'{"instances": ["a"]}'
    start = time.monotonic()
    line, out = raw_exchange(server.port, _post_head(len(body) + 50) + body)
    assert " 408 " in line, (line, out)
    assert "not received within" in out["error"]
    assert time.monotonic() - start < 8  # the 1 s request timeout, not forever
    assert alive(server)


def test_a_connection_reset_mid_body_leaves_the_server_serving(server):
    import struct

    with socket.create_connection(("127.0.0.1", server.port),
                                  timeout=10) as s:
        s.sendall(_post_head(500) + b'{"instances": [')
        time.sleep(0.1)
        # close with a reset (RST) instead of a FIN
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
    time.sleep(0.2)
    assert alive(server)
    status, out = call(server, "POST", "/v1/models/toy:predict",
                       {"instances": ["a"]})
    assert status == 200, out


def _trickle(port, head, drip, *, every=0.25, limit=8.0):
    """Sends ``head``, then one byte of ``drip`` every ``every`` seconds
    (each gap well inside the server's 1 s socket timeout) until the server
    answers or closes. Returns (status line, JSON body, seconds taken)."""
    import select

    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        start = time.monotonic()
        s.sendall(head)
        for i in range(int(limit / every)):
            if select.select([s], [], [], every)[0]:
                break
            try:
                s.sendall(drip[i % len(drip):i % len(drip) + 1])
            except OSError:
                break
        got = _recv_until_closed(s)
        elapsed = time.monotonic() - start
    return (*_first_response(got), elapsed)


@pytest.mark.parametrize("part", ["body", "headers", "request line"])
def test_trickled_request_is_cut_off_at_the_deadline(server, part):
    # Every gap is shorter than the socket timeout, so only the request's
    # deadline (1 s from its first byte) can end it.
    if part == "body":
        head, drip = _post_head(10_000), b'{"instances": ["a"]}'
    elif part == "headers":
        head, drip = b"GET /v1/models/toy HTTP/1.1\r\nX-Slow: ", b"abc"
    else:
        head, drip = b"GET /v1/mo", b"dels/toy"
    line, out, elapsed = _trickle(server.port, head, drip)
    assert " 408 " in line, (line, out)
    assert "within 1.0 s of its first byte" in out["error"]
    assert elapsed < 4, elapsed
    assert alive(server)


def test_no_request_timeout_serves_without_deadlines(store, tmp_path):
    # request_timeout=None: no socket timeout and no deadline, as in the
    # standard library's handlers
    models_dir = str(tmp_path / "models")
    _install(store, models_dir, "toy", [1])
    with LocalModelServer(models_dir, port=0, request_timeout=None) as srv:
        body = b'{"instances": ["hello world"]}'
        line, out = raw_exchange(srv.port, _post_head(len(body)) + body,
                                 half_close=True)
    assert " 200 " in line, (line, out)


def test_http_0_9_request_is_400(server):
    with socket.create_connection(("127.0.0.1", server.port),
                                  timeout=10) as s:
        s.sendall(b"GET /v1/models/toy\r\n")
        line, out = _first_response(_recv_until_closed(s))
    assert " 400 " in line, line
    assert "HTTP/0.9" in out["error"]
    assert alive(server)


def test_content_length_shorter_than_body_reads_only_that(server):
    body = b'{"instances": ["hello world"]}'
    line, out = raw_exchange(server.port,
                             _post_head(len(body)) + body + b"GARBAGE",
                             half_close=True)
    assert " 200 " in line
    assert out["predictions"][0]["label"] == "positive"  # version 2
    assert alive(server)


def test_keep_alive_serves_several_requests_on_one_connection(server):
    # 0.3 s apart, 1.5 s in all: one deadline per request, not one per
    # connection (each gap stays well inside the 1 s idle timeout).
    body = b'{"instances": ["hello world"]}'
    with socket.create_connection(("127.0.0.1", server.port),
                                  timeout=10) as s:
        for _ in range(5):
            time.sleep(0.3)
            s.sendall(_post_head(len(body)) + body)
            got = _recv_answer(s)
            line, out = _first_response(got)
            assert " 200 " in line and "keep-alive" in got.decode().lower()
            assert out["predictions"][0]["label"] == "positive"
        # "Connection: close" is honoured.
        s.sendall(_post_head(len(body)).replace(
            b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n") + body)
        got = _recv_until_closed(s)
    assert b"Connection: close" in got


@pytest.mark.parametrize("value", ["-5", "abc", "1e3"])
def test_invalid_content_length_is_400(server, value):
    line, out = raw_exchange(
        server.port, (f"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\n"
                      f"Content-Length: {value}\r\n\r\n").encode(),
        half_close=True)
    assert " 400 " in line
    assert "Content-Length" in out["error"]


def test_slow_client_does_not_block_others(server):
    # A client that opens a connection and sends half a request line.
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    slow.sendall(b"POST /v1/models/toy:pre")
    try:
        start = time.monotonic()
        for _ in range(5):
            assert alive(server)
        assert time.monotonic() - start < 5
        # The server cuts the slow client off after its request timeout.
        slow.settimeout(10)
        data = slow.recv(65536)
        assert data == b"" or b" 408 " in data.split(b"\r\n")[0] or \
            data.startswith(b"HTTP/1.")
    finally:
        slow.close()
    assert alive(server)


def test_unknown_model_version_label(server):
    for path, status, message in [
            ("/v1/models/nope:predict", 404, "Latest(nope)"),
            ("/v1/models/toy/versions/7:predict", 404, "Specific(toy, 7)"),
            ("/v1/models/toy/labels/gone:predict", 400,
             "Unrecognized servable version label")]:
        got, out = call(server, "POST", path, body={"instances": ["a"]})
        assert got == status and message in out["error"], (path, out)
    assert alive(server)


def test_many_bad_requests_concurrently_then_good_ones(server):
    bad = [b"[" * 5000, b'{"instances": [1]}', b"\xff\xfe", b"{"]
    errors = []

    def worker(raw):
        try:
            status, out = call(server, "POST", "/v1/models/toy:predict",
                               raw=raw)
            if status != 400 or "error" not in out:
                errors.append((raw[:10], status, out))
        except Exception as e:  # noqa: BLE001
            errors.append((raw[:10], repr(e)))

    threads = [threading.Thread(target=worker, args=(bad[i % len(bad)],))
               for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert alive(server)


# -- metrics ---------------------------------------------------------------


def _metrics(server, path=DEFAULT_METRICS_PATH):
    from prometheus_client.parser import text_string_to_metric_families

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        text = resp.read().decode()
        assert resp.status == 200, text
        assert resp.getheader("Content-Type").startswith("text/plain")
    finally:
        conn.close()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            # The parser names counter samples NAME_total; the page does not.
            name = s.name[:-len("_total")] if family.type == "counter" and \
                s.name.endswith("_total") else s.name
            key = (name, tuple(sorted(s.labels.items())))
            samples[key] = s.value
    return text, samples


def _count(samples, name, **labels):
    return sum(v for (n, ls), v in samples.items() if n == name and
               all(dict(ls).get(k) == str(x) for k, x in labels.items()))


def test_metrics_count_requests_by_model_version_api_status(server):
    _, before = _metrics(server)
    ok = _count(before, ":tensorflow:serving:request_count", model_name="toy",
                model_version=1, API="predict", status="OK")
    bad = _count(before, ":tensorflow:serving:request_count",
                 model_name="toy", API="predict", status="INVALID_ARGUMENT")
    missing = _count(before, ":tensorflow:serving:request_count",
                     model_name="", status="NOT_FOUND")
    for _ in range(3):
        assert call(server, "POST", "/v1/models/toy/versions/1:predict",
                    body={"instances": ["a"]})[0] == 200
    assert call(server, "POST", "/v1/models/toy:predict",
                body={"instances": [1]})[0] == 400
    for name in ("nope", "nope2", "nope3"):
        assert call(server, "POST", f"/v1/models/{name}:predict",
                    body={"instances": ["a"]})[0] == 404
    assert call(server, "GET", "/v1/models/toy")[0] == 200
    text, after = _metrics(server)
    assert _count(after, ":tensorflow:serving:request_count",
                  model_name="toy", model_version=1, API="predict",
                  status="OK") == ok + 3
    assert _count(after, ":tensorflow:serving:request_count",
                  model_name="toy", API="predict",
                  status="INVALID_ARGUMENT") == bad + 1
    # names outside models.config share one label value
    assert _count(after, ":tensorflow:serving:request_count",
                  model_name="", status="NOT_FOUND") == missing + 3
    assert "nope" not in text
    assert _count(after, ":tensorflow:serving:request_count",
                  model_name="toy", API="GetModelStatus", status="OK") >= 1
    # TF Serving's names: no "_total" suffix on counters.
    assert "# TYPE :tensorflow:serving:request_count counter" in text
    assert ":tensorflow:serving:request_count_total" not in text
    assert ':tensorflow:serving:request_count{API="predict",' in text
    # The latency histogram counts every predict request.
    n = _count(after, ":tensorflow:serving:request_latency_count",
               model_name="toy", API="predict", entrypoint="REST")
    assert n >= ok + bad + 4
    inf = _count(after, ":tensorflow:serving:request_latency_bucket",
                 model_name="toy", API="predict", entrypoint="REST",
                 le="+Inf")
    assert inf == n
    # Two versions were loaded once each.
    assert _count(after, ":tensorflow:cc:saved_model:load_attempt_count",
                  status="success") == 2


def test_metrics_page_off_without_monitoring(store, tmp_path):
    models_dir = str(tmp_path / "models")
    _install(store, models_dir, "toy", [1])
    with LocalModelServer(models_dir, port=0) as srv:
        status, out = call(srv, "GET", DEFAULT_METRICS_PATH)
        assert status == 404


def test_metrics_custom_path_and_disabled(store, tmp_path):
    models_dir = str(tmp_path / "models")
    _install(store, models_dir, "toy", [1])
    on = tmp_path / "on.config"
    on.write_text('prometheus_config { enable: true path: "/metrics" }')
    with LocalModelServer(models_dir, port=0, monitoring=str(on)) as srv:
        _metrics(srv, "/metrics")
        assert call(srv, "GET", DEFAULT_METRICS_PATH)[0] == 404
    off = tmp_path / "off.config"
    off.write_text("prometheus_config { enable: false }")
    with LocalModelServer(models_dir, port=0, monitoring=str(off)) as srv:
        assert call(srv, "GET", DEFAULT_METRICS_PATH)[0] == 404


def test_monitoring_config_parsing(tmp_path):
    f = tmp_path / "m.config"
    f.write_text("# comment\nprometheus_config: { enable: true }\n")
    cfg = read_monitoring_config(f)
    assert cfg.enable and cfg.path == DEFAULT_METRICS_PATH
    f.write_text("prometheus_config { enable: false path: '/x' }")
    cfg = read_monitoring_config(f)
    assert not cfg.enable and cfg.path == "/x"
    for text, message in [
            ("prometheus_config { enable: maybe }", "true or false"),
            ("prometheus_config { enable: true", "unclosed"),
            ("prometheus { enable: true }", "unknown field"),
            ('prometheus_config { path: "nope" }', "start with '/'"),
            ("prometheus_config { colour: true }", "unknown field"),
            ("prometheus_config { enable: true } ???", "cannot parse")]:
        f.write_text(text)
        with pytest.raises(ValueError, match=message) as info:
            read_monitoring_config(f)
        assert str(f) in str(info.value)
    f.write_bytes("# caf\u00e9\nprometheus_config { enable: true }".encode(
        "latin-1"))
    with pytest.raises(ValueError, match="is not UTF-8 text") as info:
        read_monitoring_config(f)
    assert str(f) in str(info.value)


def test_server_metrics_histogram_buckets_are_cumulative():
    from prometheus_client.parser import text_string_to_metric_families

    m = ServerMetrics()
    for seconds in (1e-6, 1e-3, 1e-3, 5.0):
        m.observe_request(model="a", version=3, api="predict",
                          entrypoint="GRPC", status="OK", seconds=seconds)
    m.observe_batch(model="a", signature="serving_default", size=7)
    m.observe_batch(model="a", signature="serving_default", size=32)
    data, content_type = m.render()
    assert content_type.startswith("text/plain")
    fams = {f.name: f for f in text_string_to_metric_families(data.decode())}
    lat = fams[":tensorflow:serving:request_latency"]
    buckets = [(float(s.labels["le"]), s.value) for s in lat.samples
               if s.name.endswith("_bucket")]
    values = [v for _, v in sorted(buckets)]
    assert values == sorted(values) and values[-1] == 4
    total = [s.value for s in lat.samples if s.name.endswith("_sum")][0]
    assert total == pytest.approx((1e-6 + 2e-3 + 5.0) * 1e6)
    batch = fams[":tensorflow:serving:batching:processed_batch_size"]
    count = [s.value for s in batch.samples if s.name.endswith("_count")]
    assert count == [2]
    le8 = [s.value for s in batch.samples
           if s.name.endswith("_bucket") and s.labels["le"] == "8.0"]
    assert le8 == [1]


def test_stop_does_not_wait_for_an_idle_keep_alive_client(store, tmp_path):
    """A scraper that keeps its connection open between requests must not
    hold `stop()` (and `zoo serve`'s exit) until its socket times out."""
    models_dir = str(tmp_path / "models")
    _install(store, models_dir, "toy", [1])
    srv = LocalModelServer(models_dir, port=0, request_timeout=60.0).start()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        s.sendall(b"GET /v1/models/toy HTTP/1.1\r\nHost: x\r\n\r\n")
        got = _recv_answer(s)
        assert b" 200 " in got and b"keep-alive" in got.lower()
        start = time.monotonic()
        srv.stop()  # the connection is idle and open
        assert time.monotonic() - start < 5
        assert s.recv(65536) == b""  # the server closed it
    finally:
        s.close()


def test_stop_lets_a_request_being_uploaded_finish(store, tmp_path):
    """A body still arriving when the stop begins is read to its end and
    answered (with Connection: close), not cut short."""
    models_dir = str(tmp_path / "models")
    _install(store, models_dir, "toy", [1])
    srv = LocalModelServer(models_dir, port=0, request_timeout=30.0).start()
    body = b'{"instances": ["hello world"]}'
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
    try:
        s.sendall(_post_head(len(body)) + body[:10])
        time.sleep(0.3)  # the handler is reading the body
        stopper = threading.Thread(target=srv.stop)
        stopper.start()
        time.sleep(0.3)
        s.sendall(body[10:])
        got = _recv_until_closed(s)
        stopper.join(timeout=10)
        assert not stopper.is_alive()
    finally:
        s.close()
    line, out = _first_response(got)
    assert " 200 " in line, (line, out)
    assert out["predictions"][0]["label"]
    assert b"Connection: close" in got
