"""Serving latency and throughput of an exported IMDB classifier.

Sections (``--sections``, all by default):

* ``latency``: the exported ``serving_default`` signature (raw review text
  in, probabilities/label out) in process and over HTTP, at batch 1 and 32
  and concurrency 1 and 8 (below);
* ``batching``: 16 concurrent clients sending one review each, to
  ``zoo serve`` with ``--batching off`` and ``--batching on``
  (``batching.config`` as ``zoo export`` writes it): examples per second,
  p50/p99 latency, and the in-process batch-32 rate as the ceiling;
* ``warmup``: the first request's latency after a fresh server has loaded
  a version with and without ``assets.extra/tf_serving_warmup_requests``
  (several fresh server processes each);
* ``grpc``: REST and gRPC latency at batch 1 and 32, the two requests of
  each pair sent back to back so that load affects both alike.

The latency section measures two ways:

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
        [--sections latency,batching,warmup,grpc]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import shutil
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


def _start_server(models_dir, port, *extra):
    """``zoo serve --backend local`` in another process; ``(proc, client)``
    once the ``imdb`` model is available."""
    from serving.client import ServingClient

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoo_cli", "serve", "--models-dir",
         models_dir, "--port", str(port), "--backend", "local", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    client = ServingClient(f"http://127.0.0.1:{port}", timeout=120)
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            raise RuntimeError("server exited: " +
                               proc.stderr.read().decode()[-2000:])
        try:
            client.wait_until_available("imdb", timeout=1)
            return proc, client
        except Exception:  # noqa: BLE001
            if time.monotonic() > deadline:
                _stop(proc)
                raise
            time.sleep(0.2)


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _keepalive_predict(port):
    """``call(batch)`` over one keep-alive HTTP/1.1 connection per thread
    (as production clients pool connections)."""
    import http.client

    local = threading.local()

    def call(batch):
        body = json.dumps({"instances": batch}).encode("utf-8")
        for attempt in (0, 1):
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(
                    "127.0.0.1", port, timeout=120)
            try:
                conn.request("POST", "/v1/models/imdb:predict", body=body,
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
            except (ConnectionError, http.client.HTTPException):
                conn.close()
                local.conn = None
                if attempt:
                    raise
                continue
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                local.conn = None
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}: {data[:200]!r}")
            return json.loads(data)

    return call


def _batch_sizes(port, singles=0):
    """Batches the server ran under load (from its metrics page), less the
    ``singles`` warmup requests sent one at a time before it."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/monitoring/"
                                "prometheus/metrics", timeout=30) as resp:
        text = resp.read().decode()
    total = count = 0.0
    for line in text.splitlines():
        if line.startswith(":tensorflow:serving:batching:processed_batch_"
                           "size_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith(":tensorflow:serving:batching:processed_batch_"
                             "size_count"):
            count += float(line.rsplit(" ", 1)[1])
    total, count = total - singles, count - singles
    return {"batches": int(count),
            "mean_batch_size": round(total / count, 2) if count else None}


def _batching_rows(models_dir, texts, in_process, args):
    """16 clients, one review per request, batching off then on."""
    from serving import config as sc

    clients = args.clients
    singles = [[texts[i % len(texts)]] for i in range(
        args.batching_requests + clients)]
    monitoring = os.path.join(os.path.dirname(models_dir),
                              "monitoring.config")
    with open(monitoring, "w", encoding="utf-8") as f:
        f.write('prometheus_config { enable: true, path: '
                '"/monitoring/prometheus/metrics" }\n')
    rows = []
    for mode in ("off", "on"):
        port = _free_port()
        proc, _ = _start_server(models_dir, port, "--grpc-port",
                                str(_free_port()), "--batching", mode,
                                "--monitoring-config-file", monitoring)
        try:
            r = _run_load(_keepalive_predict(port), singles, clients,
                          warmup=clients)
            if mode == "on":
                r.update(_batch_sizes(port, singles=clients))
        finally:
            _stop(proc)
        r.update(mode=f"http_batching_{mode}", batch_size=1,
                 concurrency=clients)
        print(json.dumps(r), file=sys.stderr, flush=True)
        rows.append(r)
    batches = [texts[(i * 32) % len(texts):(i * 32) % len(texts) + 32]
               for i in range(args.requests_batch32 + args.warmup)]
    batches = [b for b in batches if len(b) == 32]
    ceiling = _run_load(in_process, batches, 1, args.warmup)
    ceiling.update(mode="in_process_ceiling", batch_size=32, concurrency=1)
    print(json.dumps(ceiling), file=sys.stderr, flush=True)
    rows.append(ceiling)
    params = sc.read_batching_config(models_dir)
    off, on = rows[0], rows[1]
    return {
        "rows": rows,
        "batching_config": {
            "max_batch_size": params.max_batch_size.value,
            "batch_timeout_micros": params.batch_timeout_micros.value,
            "max_enqueued_batches": params.max_enqueued_batches.value,
            "num_batch_threads": params.num_batch_threads.value,
            "pad_variable_length_inputs": params.pad_variable_length_inputs},
        "speedup_examples_per_s": round(
            on["examples_per_s"] / off["examples_per_s"], 2),
        "ceiling_fraction": round(
            on["examples_per_s"] / ceiling["examples_per_s"], 2),
        "clients": f"{clients} threads in the benchmark process, each with "
                   "one keep-alive HTTP/1.1 connection (http.client), JSON "
                   "row format, one review per request",
        "target": f"{clients} concurrent clients, one review each: >= 5x "
                  "the examples/s of the unbatched server",
        "target_met": on["examples_per_s"] >= 5 * off["examples_per_s"],
    }


def _warmup_rows(models_dirs, texts, repeats):
    """First-request latency of fresh servers, with and without warmup."""
    out = {}
    for kind, models_dir in models_dirs.items():
        firsts, seconds, loads = [], [], []
        for i in range(repeats):
            t0 = time.perf_counter()
            proc, client = _start_server(models_dir, _free_port(),
                                         "--grpc-port", str(_free_port()),
                                         "--batching", "off")
            loads.append(time.perf_counter() - t0)
            try:
                batch = [texts[i % len(texts)]]
                t1 = time.perf_counter()
                client.predict("imdb", instances=batch)
                firsts.append(time.perf_counter() - t1)
                later = []
                for j in range(5):
                    t2 = time.perf_counter()
                    client.predict("imdb", instances=[texts[(i + j + 1) %
                                                            len(texts)]])
                    later.append(time.perf_counter() - t2)
                seconds.append(statistics.median(later))
            finally:
                _stop(proc)
        out[kind] = {
            "servers": repeats,
            "first_request_ms": [round(1e3 * x, 1) for x in firsts],
            "first_request_median_ms": round(1e3 * statistics.median(firsts),
                                             1),
            "later_requests_median_ms": round(
                1e3 * statistics.median(seconds), 1),
            "start_to_available_median_s": round(statistics.median(loads),
                                                 2),
        }
        print(json.dumps({kind: out[kind]}), file=sys.stderr, flush=True)
    return out


def _grpc_rows(models_dir, texts, args):
    """REST vs gRPC, paired, at batch 1 and 32 (batching off)."""
    from serving.client import ServingClient

    grpc_port = _free_port()
    proc, rest = _start_server(models_dir, _free_port(), "--grpc-port",
                               str(grpc_port), "--batching", "off")
    rows = []
    try:
        with ServingClient(grpc_target=f"127.0.0.1:{grpc_port}",
                           timeout=120) as grpc_client:
            for batch_size, n in ((1, args.requests),
                                  (32, args.requests_batch32)):
                times = {"rest": [], "grpc": []}
                for i in range(n + args.warmup):
                    start = (i * batch_size) % len(texts)
                    batch = texts[start:start + batch_size]
                    if len(batch) < batch_size:
                        batch = texts[:batch_size]
                    order = (("rest", rest), ("grpc", grpc_client))
                    if i % 2:
                        order = order[::-1]
                    for name, client in order:
                        t0 = time.perf_counter()
                        client.predict("imdb", instances=batch)
                        if i >= args.warmup:
                            times[name].append(time.perf_counter() - t0)
                for name, values in times.items():
                    row = {"transport": name, "batch_size": batch_size,
                           "requests": len(values),
                           "p50_ms": round(1e3 * _percentile(values, 0.5), 3),
                           "p99_ms": round(1e3 * _percentile(values, 0.99),
                                           3)}
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    rows.append(row)
    finally:
        _stop(proc)
    return rows


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
        card={"note": "untrained weights (benchmark only)"},
        warmup_texts=texts[:8], warmup_source="IMDB training reviews")
    return result.path, {
        "source": "imdb_bilstm preset, freshly built",
        "weights": "untrained (random init); latency does not depend on "
                   "weight values",
        "vocabulary": f"adapted on {len(texts)} IMDB training texts from "
                      f"{args.data} ({adapt_s:.1f} s)",
        "vocabulary_size": len(model.get_vocabulary()),
        "parameters": model.count_params(),
    }


SECTIONS = ("latency", "batching", "warmup", "grpc")


def _latency_rows(models_dir, texts, in_process, args):
    """In process vs HTTP at batch 1 and 32, concurrency 1 and 8."""
    proc, client = _start_server(models_dir, _free_port(), "--grpc-port",
                                 str(_free_port()), "--batching", "off")
    try:
        def http(batch):
            return client.predict("imdb", instances=batch)

        # Paired: the same batch-1 request in process then over HTTP,
        # alternately, so machine load affects both sides alike. Short
        # texts (first 12 words) keep the model's share, and with it the
        # noise of a shared machine, small; full reviews as well.
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
                    r = _run_load(call, batches, concurrency, args.warmup)
                    r.update(mode=mode, batch_size=batch_size,
                             concurrency=concurrency)
                    print(json.dumps(r), file=sys.stderr, flush=True)
                    results.append(r)
    finally:
        _stop(proc)

    def find(mode, b, c):
        return next(r for r in results if r["mode"] == mode and
                    r["batch_size"] == b and r["concurrency"] == c)

    overhead = {}
    for b in (1, 32):
        for c in (1, 8):
            overhead[f"batch{b}_conc{c}_p50_ms"] = round(
                find("http", b, c)["p50_ms"] - find("in_process", b, c)
                ["p50_ms"], 3)
    return {
        "http": "zoo serve --backend local --batching off "
                "(LocalModelServer, separate process) on 127.0.0.1; "
                "ServingClient, JSON row format, one connection per request",
        "results": results,
        "http_overhead_paired_batch1": paired,
        "http_overhead_p50_ms": overhead,
        "target": "HTTP overhead <= 2 ms p50 at batch 1 (concurrency 1), "
                  "judged on the paired short-text measurement (median over "
                  "requests of HTTP latency minus in-process latency, same "
                  "text)",
        "target_met": paired["short_text_12_words"]["p50_ms"] <= 2.0,
    }


def _override_batching(models_dir, args):
    from serving import config as sc

    if args.num_batch_threads is None and args.batch_timeout_micros is None:
        return
    params = sc.read_batching_config(models_dir)
    sc.write_batching_config(
        models_dir, max_batch_size=params.max_batch_size.value,
        batch_timeout_micros=(params.batch_timeout_micros.value
                              if args.batch_timeout_micros is None
                              else args.batch_timeout_micros),
        max_enqueued_batches=params.max_enqueued_batches.value,
        num_batch_threads=(params.num_batch_threads.value
                           if args.num_batch_threads is None
                           else args.num_batch_threads),
        pad_variable_length_inputs=params.pad_variable_length_inputs)


def _without_warmup(models_dir, root):
    """A copy of the models directory whose versions have no warmup file."""
    from serving import config as sc
    from serving import warmup as wu

    copy = os.path.join(root, "models_no_warmup")
    shutil.copytree(os.path.join(models_dir, "imdb"),
                    os.path.join(copy, "imdb"))
    for version in os.listdir(os.path.join(copy, "imdb")):
        path = wu.warmup_path(os.path.join(copy, "imdb", version))
        if os.path.exists(path):
            os.remove(path)
    sc.update_models_config(copy, "imdb",
                            base_path=os.path.join(copy, "imdb"))
    shutil.copy(os.path.join(models_dir, sc.BATCHING_CONFIG), copy)
    return copy


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
    p.add_argument("--batching-requests", type=int, default=480,
                   help="one-review requests per batching configuration")
    p.add_argument("--clients", type=int, default=16,
                   help="concurrent clients of the batching section")
    p.add_argument("--num-batch-threads", type=int, default=None,
                   help="batching section: rewrite batching.config with "
                   "this num_batch_threads (default: as zoo export writes)")
    p.add_argument("--batch-timeout-micros", type=int, default=None,
                   help="batching section: rewrite batching.config with "
                   "this batch_timeout_micros")
    p.add_argument("--warmup-servers", type=int, default=3,
                   help="fresh servers per warmup configuration")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--sections", default=",".join(SECTIONS),
                   help=f"comma-separated subset of {','.join(SECTIONS)}")
    p.add_argument("--out", default=DEFAULT_OUT)
    args = p.parse_args(argv)
    sections = [x for x in args.sections.split(",") if x]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown or not sections:
        p.error(f"--sections takes {','.join(SECTIONS)}. Received: "
                f"{args.sections!r}")
    command = "python bench/serving.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))

    import tensorflow as tf

    from training import reports

    texts = _read_texts(args.data, 2000, seed=2)
    report = {"benchmark": "serving", "command": command,
              "sections": sections}
    with tempfile.TemporaryDirectory(prefix="zoo-bench-serving-") as tmp:
        models_dir = os.path.join(tmp, "models")
        version_path, model_info = _prepare_model(args, models_dir)
        loaded = tf.saved_model.load(version_path)
        fn = loaded.signatures["serving_default"]

        def in_process(batch):
            return fn(text=tf.constant(batch))["probabilities"].numpy()

        report["model"] = model_info
        report["signature"] = ("serving_default (raw text -> "
                               "probabilities, label, class_index)")
        report["request_texts"] = (f"IMDB training reviews from "
                                   f"{args.data}, shuffled (seed 2)")
        t_start = time.perf_counter()
        if "latency" in sections:
            report["latency"] = _latency_rows(models_dir, texts, in_process,
                                              args)
        if "batching" in sections:
            _override_batching(models_dir, args)
            report["batching"] = _batching_rows(models_dir, texts,
                                                in_process, args)
        if "warmup" in sections:
            report["warmup"] = _warmup_rows(
                {"with_warmup_file": models_dir,
                 "without_warmup_file": _without_warmup(models_dir, tmp)},
                texts, args.warmup_servers)
        if "grpc" in sections:
            report["grpc_vs_rest"] = _grpc_rows(models_dir, texts, args)
        report["seconds"] = round(time.perf_counter() - t_start, 1)

    report["environment"] = {
        **reports.machine(), **reports.versions(),
        "note": "shared machine (2 cores); figures are indicative",
    }
    report["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    reports.write_report(args.out, report, repo=ROOT)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    sys.exit(main())
