"""Serving latency and throughput of an exported IMDB classifier.

Measures the exported ``serving_default`` signature (raw review text in,
probabilities/label out) two ways, at batch 1 and 32 and concurrency 1 and 8:

* ``in_process``: the SavedModel loaded with ``tf.saved_model.load`` and
  called directly (the limit: no serialisation, no network);
* ``http``: TF Serving's REST API served by ``zoo serve --backend local``
  (:class:`serving.server.LocalModelServer`) in a separate process on
  127.0.0.1, queried with :class:`serving.client.ServingClient` (JSON over
  HTTP/1.1, one connection per request).

The model is a trained IMDB run if one is given (``--run-dir`` or
``ZOO_BENCH_RUN_DIR``); otherwise a freshly built ``imdb_bilstm`` preset
whose vocabulary is adapted on IMDB training texts (read by path from
``--data``, default ``/work/shared/data/imdb/train.csv``). Untrained weights
do not change latency: the computation is the same. Request texts are real
reviews from the same file. Request counts are bounded (``--requests``).

Prints JSON (figures and the command) and writes it atomically to
``bench/results/serving.json``.

Usage::

    python bench/serving.py [--run-dir RUN_DIR] [--requests 200]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_DATA = "/work/shared/data/imdb/train.csv"
DEFAULT_OUT = os.path.join(HERE, "results", "serving.json")


def _read_texts(path, limit, seed=0):
    import random

    csv.field_size_limit(1 << 24)
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r["text"] for r in csv.DictReader(f)]
    random.Random(seed).shuffle(rows)
    return rows[:limit]


def _percentile(values, q):
    values = sorted(values)
    if not values:
        return None
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def _run_load(call, batches, concurrency, warmup):
    """Runs ``call(batch)`` over ``batches`` from ``concurrency`` threads."""
    for b in batches[:warmup]:
        call(b)
    latencies, errors = [], []
    lock = threading.Lock()
    it = iter(batches)

    def worker():
        while True:
            with lock:
                batch = next(it, None)
            if batch is None:
                return
            t0 = time.perf_counter()
            try:
                call(batch)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
                continue
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    n = len(latencies)
    examples = sum(len(b) for b in batches) * n / max(len(batches), 1)
    return {
        "requests": n,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "p50_ms": round(1e3 * _percentile(latencies, 0.5), 3),
        "p99_ms": round(1e3 * _percentile(latencies, 0.99), 3),
        "mean_ms": round(1e3 * statistics.fmean(latencies), 3),
        "requests_per_s": round(n / wall, 2),
        "examples_per_s": round(examples / wall, 1),
    }


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepare_model(args, models_dir):
    """Exports the benchmarked model; returns (version path, model info)."""
    from serving import export as ex

    run_dir = args.run_dir or os.environ.get("ZOO_BENCH_RUN_DIR")
    if run_dir:
        result = ex.export(run_dir, models_dir, "imdb")
        return result.path, {"source": "trained run", "run_dir": run_dir,
                             "weights": "trained",
                             "metrics": result.card.get("metrics")}
    import keras

    import zoo

    keras.utils.set_random_seed(0)
    model = zoo.build("imdb_bilstm")
    texts = _read_texts(args.data, args.adapt_texts, seed=1)
    t0 = time.perf_counter()
    model.adapt_vocabulary(texts)
    adapt_s = time.perf_counter() - t0
    result = ex.export_model(
        model, models_dir, "imdb", class_names=["negative", "positive"],
        card={"note": "untrained weights (benchmark only)"})
    return result.path, {
        "source": "imdb_bilstm preset, freshly built",
        "weights": "untrained (random init); latency does not depend on "
                   "weight values",
        "vocabulary": f"adapted on {len(texts)} IMDB training texts from "
                      f"{args.data} ({adapt_s:.1f} s)",
        "vocabulary_size": len(model.get_vocabulary()),
        "parameters": model.count_params(),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run-dir", default=None,
                   help="trained IMDB run (default: $ZOO_BENCH_RUN_DIR, else "
                   "a freshly built imdb_bilstm)")
    p.add_argument("--data", default=DEFAULT_DATA,
                   help="IMDB train.csv (vocabulary and request texts)")
    p.add_argument("--adapt-texts", type=int, default=5000,
                   help="texts used to adapt the vocabulary")
    p.add_argument("--requests", type=int, default=200,
                   help="requests per batch-1 configuration")
    p.add_argument("--requests-batch32", type=int, default=24,
                   help="requests per batch-32 configuration")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--out", default=DEFAULT_OUT)
    args = p.parse_args(argv)
    command = "python bench/serving.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))

    import tensorflow as tf

    from serving.client import ServingClient
    from training import reports

    texts = _read_texts(args.data, 2000, seed=2)
    with tempfile.TemporaryDirectory(prefix="zoo-bench-serving-") as tmp:
        models_dir = os.path.join(tmp, "models")
        version_path, model_info = _prepare_model(args, models_dir)
        loaded = tf.saved_model.load(version_path)
        fn = loaded.signatures["serving_default"]

        def in_process(batch):
            return fn(text=tf.constant(batch))["probabilities"].numpy()

        port = _free_port()
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        server = subprocess.Popen(
            [sys.executable, "-m", "zoo_cli", "serve", "--models-dir",
             models_dir, "--port", str(port), "--backend", "local"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
            cwd=ROOT)
        try:
            client = ServingClient(f"http://127.0.0.1:{port}", timeout=120)
            deadline = time.monotonic() + 180
            while True:
                if server.poll() is not None:
                    raise RuntimeError("server exited: " +
                                       server.stderr.read().decode()[-2000:])
                try:
                    client.wait_until_available("imdb", timeout=1)
                    break
                except Exception:  # noqa: BLE001
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)

            def http(batch):
                return client.predict("imdb", instances=batch)

            # Paired: the same batch-1 request in process then over HTTP,
            # alternately, so machine load affects both sides alike. Short
            # texts (first 12 words) keep the model's share, and with it
            # the noise of a shared machine, small; full reviews as well.
            def paired_overhead(make_text):
                diffs = []
                for i in range(args.requests):
                    batch = [make_text(texts[i % len(texts)])]
                    t0 = time.perf_counter()
                    in_process(batch)
                    t1 = time.perf_counter()
                    http(batch)
                    t2 = time.perf_counter()
                    diffs.append((t2 - t1) - (t1 - t0))
                return {"pairs": len(diffs),
                        "p50_ms": round(1e3 * _percentile(diffs, 0.5), 3),
                        "p90_ms": round(1e3 * _percentile(diffs, 0.9), 3)}

            paired = {
                "short_text_12_words": paired_overhead(
                    lambda t: " ".join(t.split()[:12])),
                "full_review": paired_overhead(lambda t: t),
            }
            print(json.dumps({"paired_overhead": paired}), file=sys.stderr,
                  flush=True)

            results = []
            for batch_size, n in ((1, args.requests),
                                  (32, args.requests_batch32)):
                batches = [texts[(i * batch_size) % len(texts):
                                 (i * batch_size) % len(texts) + batch_size]
                           for i in range(n + args.warmup)]
                batches = [b for b in batches if len(b) == batch_size]
                for concurrency in (1, 8):
                    for mode, call in (("in_process", in_process),
                                       ("http", http)):
                        r = _run_load(call, batches, concurrency,
                                      args.warmup)
                        r.update(mode=mode, batch_size=batch_size,
                                 concurrency=concurrency)
                        print(json.dumps(r), file=sys.stderr, flush=True)
                        results.append(r)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()

    def find(mode, b, c):
        return next(r for r in results if r["mode"] == mode and
                    r["batch_size"] == b and r["concurrency"] == c)

    overhead = {}
    for b in (1, 32):
        for c in (1, 8):
            overhead[f"batch{b}_conc{c}_p50_ms"] = round(
                find("http", b, c)["p50_ms"] - find("in_process", b, c)
                ["p50_ms"], 3)
    target = paired["short_text_12_words"]["p50_ms"] <= 2.0
    report = {
        "benchmark": "serving",
        "command": command,
        "model": model_info,
        "signature": "serving_default (raw text -> probabilities, label, "
                     "class_index)",
        "request_texts": f"IMDB training reviews from {args.data}, "
                         "shuffled (seed 2)",
        "http": "zoo serve --backend local (LocalModelServer, separate "
                "process) on 127.0.0.1; ServingClient, JSON row format, one "
                "connection per request",
        "results": results,
        "http_overhead_paired_batch1": paired,
        "http_overhead_p50_ms": overhead,
        "target": "HTTP overhead <= 2 ms p50 at batch 1 (concurrency 1), "
                  "judged on the paired short-text measurement (median over "
                  "requests of HTTP latency minus in-process latency, same "
                  "text)",
        "target_met": target,
        "environment": {
            **reports.machine(), **reports.versions(),
            "note": "shared machine (2 cores, other jobs running); "
                    "figures are indicative",
        },
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    text = json.dumps(report, indent=2) + "\n"
    reports.write_report(args.out, report, repo=ROOT)
    print(text)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    sys.exit(main())
