"""Dynamic batching: the `Batcher` on its own, then behind the local server."""

import http.client
import json
import os
import shutil
import threading
import time

import numpy as np
import pytest

from serving.server.batching import Batcher, BatchingOptions
from serving.server.errors import ServingStatus, invalid
from serving.server.metrics import ServerMetrics


class _Sig:
    """Stands in for a `registry.Signature` (name and input names)."""

    def __init__(self, name, *inputs):
        self.name = name
        self.inputs = dict.fromkeys(inputs)


class _Recorder:
    """A signature function that records the batches it is called with."""

    def __init__(self, delay=0.0, gate=None):
        self.calls = []
        self.delay = delay
        self.gate = gate
        self.lock = threading.Lock()

    def __call__(self, arrays):
        if self.gate is not None:
            self.gate.wait(10)
        with self.lock:
            self.calls.append({k: np.array(v, copy=True)
                               for k, v in arrays.items()})
        if self.delay:
            time.sleep(self.delay)
        x = arrays["x"]
        if np.any(x < 0):
            raise invalid("x must be >= 0")
        scale = arrays.get("scale", np.float32(1.0))
        return {"y": x * scale, "rows": np.full(x.shape[0], x.shape[0])}


def _concurrently(n, target):
    """Runs ``target(i)`` in n threads that start together; results by i."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        barrier.wait()
        try:
            results[i] = target(i)
        except Exception as e:  # noqa: BLE001 - returned to the test
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def _options(**kw):
    base = dict(max_batch_size=8, batch_timeout_micros=200_000,
                max_enqueued_batches=100, num_batch_threads=1)
    base.update(kw)
    return BatchingOptions(**base)


# ---------------------------------------------------------------------------
# The Batcher.
# ---------------------------------------------------------------------------


def test_concurrent_requests_share_a_batch_and_get_their_own_rows():
    fn = _Recorder()
    batcher = Batcher(_options())
    try:
        out = _concurrently(8, lambda i: batcher.run(
            ("m", 1, "serving_default"), fn,
            {"x": np.array([float(i)], np.float32)}))
    finally:
        batcher.close()
    for i, o in enumerate(out):
        assert not isinstance(o, Exception), o
        assert o["y"].tolist() == [float(i)]
    # Eight one-row requests, arriving together: one batch of eight.
    assert [c["x"].shape[0] for c in fn.calls] == [8]
    assert sorted(fn.calls[0]["x"].tolist()) == [float(i) for i in range(8)]


def test_max_batch_size_bounds_every_batch():
    fn = _Recorder()
    batcher = Batcher(_options(max_batch_size=4, batch_timeout_micros=50_000))
    try:
        out = _concurrently(18, lambda i: batcher.run(
            "k", fn, {"x": np.arange(i % 3 + 1, dtype=np.float32) + 10 * i}))
    finally:
        batcher.close()
    for i, o in enumerate(out):
        np.testing.assert_array_equal(
            o["y"], np.arange(i % 3 + 1, dtype=np.float32) + 10 * i)
    assert all(c["x"].shape[0] <= 4 for c in fn.calls)
    assert sum(c["x"].shape[0] for c in fn.calls) == sum(
        i % 3 + 1 for i in range(18))


def test_request_larger_than_max_batch_size_is_refused():
    batcher = Batcher(_options(max_batch_size=2))
    try:
        with pytest.raises(ServingStatus) as e:
            batcher.run("k", _Recorder(), {"x": np.zeros(3, np.float32)})
    finally:
        batcher.close()
    assert e.value.code == "INVALID_ARGUMENT"
    assert "larger than maximum batch size 2" in e.value.message


@pytest.mark.parametrize("arrays, signature", [
    ({"x": np.zeros(3, np.float32), "seed": np.int64(1)},
     _Sig("generate_seeded", "x", "seed")),           # runs per request
    ({"x": np.zeros(3, np.float32), "w": np.zeros(2, np.float32)}, None),
])
def test_requests_that_run_alone_are_held_to_max_batch_size(arrays, signature):
    """A seeded signature, or inputs of unequal rows, skip the queue but
    not the size limit (TF Serving refuses such a task too)."""
    fn = _Recorder()
    batcher = Batcher(_options(max_batch_size=2))
    try:
        with pytest.raises(ServingStatus) as e:
            batcher.run("k", fn, arrays, signature=signature)
    finally:
        batcher.close()
    assert e.value.code == "INVALID_ARGUMENT"
    assert "Task size 3 is larger than maximum batch size 2" in e.value.message
    assert fn.calls == []


def test_full_queue_is_unavailable_at_once():
    gate = threading.Event()
    fn = _Recorder(gate=gate)
    batcher = Batcher(_options(max_batch_size=1, batch_timeout_micros=0,
                               max_enqueued_batches=1))
    results = {}

    def send(name):
        try:
            results[name] = batcher.run("k", fn, {"x": np.ones(1,
                                                               np.float32)})
        except ServingStatus as e:
            results[name] = e

    try:
        first = threading.Thread(target=send, args=("first",))
        first.start()
        deadline = time.monotonic() + 10
        while batcher._queues and time.monotonic() < deadline:
            time.sleep(0.005)     # the worker has taken the first batch
        second = threading.Thread(target=send, args=("second",))
        second.start()
        while not batcher._queues and time.monotonic() < deadline:
            time.sleep(0.005)     # the second waits in the queue
        t0 = time.monotonic()
        send("third")
        assert time.monotonic() - t0 < 1.0
        assert isinstance(results["third"], ServingStatus)
        assert results["third"].code == "UNAVAILABLE"
        assert results["third"].http_status == 503
    finally:
        gate.set()
        first.join(10)
        second.join(10)
        batcher.close()
    assert results["first"]["y"].tolist() == [1.0]
    assert results["second"]["y"].tolist() == [1.0]


def test_unequal_scalar_inputs_never_share_a_batch():
    fn = _Recorder()
    batcher = Batcher(_options())
    try:
        out = _concurrently(6, lambda i: batcher.run(
            "k", fn, {"x": np.array([1.0], np.float32),
                      "scale": np.float32(1 + i % 2)}))
    finally:
        batcher.close()
    assert [o["y"].tolist() for o in out] == [[1.0 + i % 2] for i in range(6)]
    assert sorted(c["x"].shape[0] for c in fn.calls) == [3, 3]
    for c in fn.calls:
        assert c["scale"].ndim == 0


def test_variable_length_inputs_are_padded_when_asked():
    fn = _Recorder()
    batcher = Batcher(_options(pad_variable_length_inputs=True))
    try:
        out = _concurrently(2, lambda i: batcher.run(
            "k", fn, {"x": np.ones((1, 3 + 2 * i), np.float32)}))
    finally:
        batcher.close()
    assert [c["x"].shape for c in fn.calls] == [(2, 5)]
    merged = fn.calls[0]["x"]
    short = int(np.argmin(merged.sum(axis=1)))
    assert merged[short].tolist() == [1, 1, 1, 0, 0]
    # Each request gets its rows of the padded output.
    assert {o["y"].shape for o in out} == {(1, 5)}


def test_variable_length_inputs_stay_apart_without_padding():
    fn = _Recorder()
    batcher = Batcher(_options(pad_variable_length_inputs=False))
    try:
        out = _concurrently(4, lambda i: batcher.run(
            "k", fn, {"x": np.ones((1, 3 + 2 * (i % 2)), np.float32)}))
    finally:
        batcher.close()
    assert sorted(c["x"].shape for c in fn.calls) == [(2, 3), (2, 5)]
    assert [o["y"].shape for o in out] == [(1, 3), (1, 5)] * 2


def test_allowed_batch_sizes_pad_the_batch_and_drop_the_padding():
    fn = _Recorder()
    metrics = ServerMetrics()
    batcher = Batcher(_options(max_batch_size=4, allowed_batch_sizes=(2, 4)),
                      metrics=metrics)
    try:
        out = _concurrently(3, lambda i: batcher.run(
            ("m", 1, "sig"), fn, {"x": np.array([float(i + 1)], np.float32)},
            signature=_Sig("sig", "x")))
    finally:
        batcher.close()
    assert [c["x"].shape[0] for c in fn.calls] == [4]
    assert [o["y"].tolist() for o in out] == [[1.0], [2.0], [3.0]]
    assert [o["rows"].tolist() for o in out] == [[4]] * 3
    text = metrics.render()[0].decode()
    line = [l for l in text.splitlines() if l.startswith(
        ":tensorflow:serving:batching:processed_batch_size_sum")]
    assert line and line[0].endswith(" 4.0"), line


def test_a_failing_request_fails_alone():
    fn = _Recorder()
    batcher = Batcher(_options())
    try:
        out = _concurrently(5, lambda i: batcher.run(
            "k", fn, {"x": np.array([-1.0 if i == 2 else float(i)],
                                    np.float32)}))
    finally:
        batcher.close()
    assert isinstance(out[2], ServingStatus)
    assert out[2].code == "INVALID_ARGUMENT"
    for i in (0, 1, 3, 4):
        assert out[i]["y"].tolist() == [float(i)]
        assert out[i]["rows"].tolist() == [1]     # re-run on its own


def test_seeded_signatures_run_per_request():
    fn = _Recorder()
    batcher = Batcher(_options())
    try:
        _concurrently(4, lambda i: batcher.run(
            "k", fn, {"x": np.ones(1, np.float32),
                      "seed": np.int64(i)},
            signature=_Sig("generate_seeded", "x", "seed")))
    finally:
        batcher.close()
    assert [c["x"].shape[0] for c in fn.calls] == [1, 1, 1, 1]


def test_inputs_with_different_row_counts_run_alone():
    fn = _Recorder()
    batcher = Batcher(_options())
    try:
        out = batcher.run("k", lambda a: {"y": a["x"]},
                          {"x": np.ones(2, np.float32),
                           "w": np.ones(3, np.float32)})
    finally:
        batcher.close()
    assert out["y"].tolist() == [1.0, 1.0]
    assert fn.calls == []


def test_close_runs_what_is_queued_then_refuses():
    fn = _Recorder()
    batcher = Batcher(_options(batch_timeout_micros=5_000_000))
    holder = {}
    t = threading.Thread(target=lambda: holder.update(out=batcher.run(
        "k", fn, {"x": np.ones(1, np.float32)})))
    t.start()
    while not batcher._queues:
        time.sleep(0.005)
    t0 = time.monotonic()
    batcher.close()
    t.join(10)
    assert time.monotonic() - t0 < 4.0       # did not wait the timeout out
    assert holder["out"]["y"].tolist() == [1.0]
    with pytest.raises(ServingStatus) as e:
        batcher.run("k", fn, {"x": np.ones(1, np.float32)})
    assert e.value.code == "UNAVAILABLE"


def test_options_from_proto_and_validation():
    from serving import config as sc

    params = sc.BatchingParameters()
    params.max_batch_size.value = 16
    params.pad_variable_length_inputs = True
    options = BatchingOptions.from_proto(params)
    assert options.max_batch_size == 16
    assert options.batch_timeout_micros == 0            # the default
    assert options.max_enqueued_batches == 10
    assert options.pad_variable_length_inputs is True
    with pytest.raises(ValueError, match="Received: max_batch_size=0"):
        BatchingOptions(max_batch_size=0)
    with pytest.raises(ValueError, match="allowed_batch_sizes"):
        BatchingOptions(max_batch_size=8, allowed_batch_sizes=(2, 4))


# ---------------------------------------------------------------------------
# Behind the local server, with real exported models.
# ---------------------------------------------------------------------------

tf = pytest.importorskip("tensorflow")

from serving import config as sc  # noqa: E402
from serving.server import LocalModelServer  # noqa: E402
from test_export_support import shared_exports  # noqa: E402

REVIEWS = ["a good film", "a bad film", "great movie , loved it",
           "terrible plot", "good good good", "zzz unseen words", "",
           "good", "a very long review about a film that was good and bad "
           "and great and terrible all at once"]
LM_TEXTS = ["the cat sat on the mat", "", "dog ran", "the the the cat",
            "zebra", "mat on sat cat the dog ran"]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """The shared exports, with a batching.config that waits 50 ms."""
    shared = shared_exports()
    root = str(tmp_path_factory.mktemp("batching_models"))
    for name in ("clf", "word"):
        shutil.copytree(os.path.join(shared["models"], name),
                        os.path.join(root, name))
        sc.update_models_config(root, name)
    sc.write_batching_config(root, max_batch_size=32,
                             batch_timeout_micros=50_000,
                             max_enqueued_batches=100, num_batch_threads=2)
    return root


def _post(port, path, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", path, body=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def _get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def _load(port, requests, clients=16):
    """Sends ``(path, body)`` requests from ``clients`` threads; answers."""
    answers = [None] * len(requests)
    it = iter(range(len(requests)))
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def worker():
        barrier.wait()
        while True:
            with lock:
                i = next(it, None)
            if i is None:
                return
            answers[i] = _post(port, *requests[i])

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return answers


def _requests():
    reqs = []
    for i in range(48):
        text = REVIEWS[i % len(REVIEWS)]
        reqs.append(("/v1/models/clf:predict", {"instances": [text]}))
        lm = LM_TEXTS[i % len(LM_TEXTS)]
        reqs.append(("/v1/models/word:predict",
                     {"signature_name": "score", "instances": [lm]}))
    return reqs


def test_load_batching_on_and_off_give_identical_answers(models_dir):
    from serving.server.metrics import MonitoringConfig

    monitoring = MonitoringConfig(enable=True)
    reqs = _requests()
    answers = {}
    for mode in ("off", "on"):
        server = LocalModelServer(models_dir, port=0, batching=mode,
                                  monitoring=monitoring).start()
        try:
            assert (server.batcher is not None) == (mode == "on")
            answers[mode] = _load(server.port, reqs)
            status, metrics = _get(server.port,
                                   "/monitoring/prometheus/metrics")
        finally:
            server.stop()
        assert status == 200
        assert all(a is not None and a[0] == 200 for a in answers[mode]), [
            a for a in answers[mode] if a is None or a[0] != 200][:3]
        if mode == "on":
            sizes = [l for l in metrics.splitlines() if l.startswith(
                ":tensorflow:serving:batching:processed_batch_size_")]
            count = sum(float(l.rsplit(" ", 1)[1]) for l in sizes
                        if "_count{" in l)
            total = sum(float(l.rsplit(" ", 1)[1]) for l in sizes
                        if "_sum{" in l)
            # Every example went through a batch, in fewer batches.
            assert total == len(reqs)
            assert count < len(reqs)
    # No request lost, answered twice or answered with another's rows.
    for (path, body), off, on in zip(reqs, answers["off"], answers["on"]):
        a, b = off[1]["predictions"], on[1]["predictions"]
        assert len(a) == len(b) == 1
        for key in a[0]:
            if isinstance(a[0][key], str):
                assert b[0][key] == a[0][key]
                continue
            np.testing.assert_allclose(np.asarray(b[0][key], float),
                                       np.asarray(a[0][key], float),
                                       atol=1e-6, rtol=0)
    shared = shared_exports()
    probs = {t: p for t, p in zip(REVIEWS, np.asarray(
        shared["clf"](np.array(REVIEWS))))}
    for (path, body), on in zip(reqs, answers["on"]):
        if "clf" in path:
            np.testing.assert_allclose(
                on[1]["predictions"][0]["probabilities"],
                probs[body["instances"][0]], atol=1e-6)


def test_bad_request_in_a_crowd_fails_alone(models_dir):
    server = LocalModelServer(models_dir, port=0, batching="on").start()
    try:
        reqs = [("/v1/models/clf:predict",
                 {"instances": [3] if i == 5 else ["good film"]})
                for i in range(12)]
        answers = _load(server.port, reqs, clients=12)
    finally:
        server.stop()
    assert answers[5][0] == 400 and "error" in answers[5][1]
    assert all(a[0] == 200 for i, a in enumerate(answers) if i != 5)


def test_full_queue_over_http_is_503(models_dir, tmp_path, monkeypatch):
    from serving.server import service as service_module

    root = str(tmp_path / "models")
    shutil.copytree(os.path.join(models_dir, "clf"),
                    os.path.join(root, "clf"))
    sc.update_models_config(root, "clf")
    sc.write_batching_config(root, max_batch_size=1, batch_timeout_micros=0,
                             max_enqueued_batches=1, num_batch_threads=1)
    gate = threading.Event()
    entered = threading.Event()
    real = service_module.call_signature

    def slow(signature, arrays):
        entered.set()             # the batch thread is now busy
        gate.wait(30)
        return real(signature, arrays)

    server = LocalModelServer(root, port=0, warmup=False).start()
    monkeypatch.setattr(service_module, "call_signature", slow)
    results = {}

    def send(name):
        results[name] = _post(server.port, "/v1/models/clf:predict",
                              {"instances": ["good"]})

    try:
        first = threading.Thread(target=send, args=("first",))
        first.start()
        assert entered.wait(30)   # the first request holds the only thread
        second = threading.Thread(target=send, args=("second",))
        second.start()
        deadline = time.monotonic() + 30
        while not server.batcher._queues and time.monotonic() < deadline:
            time.sleep(0.01)      # the second fills the one queued batch
        assert server.batcher._queues
        send("third")
    finally:
        gate.set()
        first.join(30)
        second.join(30)
        server.stop()
    assert results["third"][0] == 503, results["third"]
    assert "full" in results["third"][1]["error"]
    assert results["first"][0] == 200 and results["second"][0] == 200
