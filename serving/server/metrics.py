"""The local server's Prometheus metrics, under TF Serving's names.

TF Serving exports its monitoring metrics at the path that
``--monitoring_config_file`` names (``prometheus_config { enable: true
path: "/monitoring/prometheus/metrics" }``), renaming ``/tensorflow/...``
to ``:tensorflow:...``. The local server keeps those names:

=============================================  =========  =============================================
metric                                         type       labels
=============================================  =========  =============================================
``:tensorflow:serving:request_count``          counter    model_name, model_version, API, entrypoint, status
``:tensorflow:serving:request_latency``        histogram  model_name, API, entrypoint (microseconds)
``:tensorflow:serving:batching:processed_batch_size``  histogram  model_name, signature_name
``:tensorflow:cc:saved_model:load_attempt_count``      counter    model_path, status
``:tensorflow:serving:model_warmup_latency``  histogram  model_path (microseconds)
=============================================  =========  =============================================

(``model_version`` and ``entrypoint`` on the request count are this
server's additions.) ``prometheus_client``'s own ``Counter`` would append
``_total`` to every counter, so the metrics are kept here and exposed by a
custom collector (`ServerMetrics.collect`) and written in the text format
by `ServerMetrics.render`.

`read_monitoring_config` reads the monitoring config's text format;
``monitoring_config_pb2`` is not shipped with tensorflow-serving-api.
"""

from __future__ import annotations

import bisect
import os
import re
import threading

__all__ = ["ServerMetrics", "MonitoringConfig", "read_monitoring_config",
           "DEFAULT_METRICS_PATH"]

DEFAULT_METRICS_PATH = "/monitoring/prometheus/metrics"

# TF Serving's latency buckets grow by 1.8x from 10 us.
LATENCY_BUCKETS_US = tuple(round(10 * 1.8 ** i) for i in range(33))
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class _Histogram:
    def __init__(self, buckets):
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.sum = 0.0

    def observe(self, value):
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value


class ServerMetrics:
    """Counters and histograms of a server; thread-safe.

    Example:
        >>> m = ServerMetrics()
        >>> m.observe_request(model="toy", version=1, api="predict",
        ...                   entrypoint="REST", status="OK", seconds=0.002)
        >>> b":tensorflow:serving:request_count{" in m.render()[0]
        True
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._requests = {}     # (model, version, api, entrypoint, status)
        self._latency = {}      # (model, api, entrypoint) -> _Histogram
        self._batches = {}      # (model, signature) -> _Histogram
        self._loads = {}        # (path, status) -> count
        self._warmup = {}       # path -> _Histogram

    def observe_request(self, *, model, version, api, entrypoint, status,
                        seconds):
        """Counts one request and its latency."""
        version = "" if version is None else str(version)
        with self._lock:
            key = (model, version, api, entrypoint, status)
            self._requests[key] = self._requests.get(key, 0) + 1
            h = self._latency.setdefault((model, api, entrypoint),
                                         _Histogram(LATENCY_BUCKETS_US))
            h.observe(seconds * 1e6)

    def observe_batch(self, *, model, signature, size):
        """Records the size of one batch the batcher ran."""
        with self._lock:
            self._batches.setdefault(
                (model, signature), _Histogram(BATCH_SIZE_BUCKETS)
            ).observe(size)

    def observe_load(self, *, path, ok: bool):
        """Counts one attempt to load a SavedModel."""
        key = (path, "success" if ok else "fail")
        with self._lock:
            self._loads[key] = self._loads.get(key, 0) + 1

    def observe_warmup(self, *, path, seconds):
        """Records how long replaying a version's warmup requests took."""
        with self._lock:
            self._warmup.setdefault(path, _Histogram(LATENCY_BUCKETS_US)
                                    ).observe(seconds * 1e6)

    # -- exposition ----------------------------------------------------------

    def collect(self):
        """The metric families (``prometheus_client`` collector protocol)."""
        from prometheus_client.core import Metric

        with self._lock:
            requests = dict(self._requests)
            latency = {k: _copy(h) for k, h in self._latency.items()}
            batches = {k: _copy(h) for k, h in self._batches.items()}
            loads = dict(self._loads)
            warmup = {k: _copy(h) for k, h in self._warmup.items()}

        def counter(name, doc, labels, values):
            m = Metric(name, doc, "counter")
            for key, value in sorted(values.items()):
                m.add_sample(name, dict(zip(labels, key)), value)
            return m

        def histogram(name, doc, labels, values):
            m = Metric(name, doc, "histogram")
            for key, h in sorted(values.items()):
                base = dict(zip(labels, key))
                total = 0
                for bound, count in zip(h.buckets + (float("inf"),),
                                        h.counts):
                    total += count
                    le = "+Inf" if bound == float("inf") else repr(
                        float(bound))
                    m.add_sample(name + "_bucket", {**base, "le": le}, total)
                m.add_sample(name + "_count", base, total)
                m.add_sample(name + "_sum", base, h.sum)
            return m

        yield counter(":tensorflow:serving:request_count",
                      "The total number of requests.",
                      ("model_name", "model_version", "API", "entrypoint",
                       "status"), requests)
        yield histogram(":tensorflow:serving:request_latency",
                        "Distribution of wall time (in microseconds) for "
                        "Tensorflow Serving request.",
                        ("model_name", "API", "entrypoint"), latency)
        yield histogram(":tensorflow:serving:batching:processed_batch_size",
                        "Tracks the batch size distribution on processing.",
                        ("model_name", "signature_name"), batches)
        yield counter(":tensorflow:cc:saved_model:load_attempt_count",
                      "The number of times a SavedModel was successfully "
                      "loaded.", ("model_path", "status"), loads)
        yield histogram(":tensorflow:serving:model_warmup_latency",
                        "Distribution of wall time (in microseconds) for "
                        "warming up the model.", ("model_path",), warmup)

    def render(self):
        """``(bytes, content type)`` of the Prometheus text format.

        ``prometheus_client.generate_latest`` renames every counter's
        ``# TYPE`` line to ``NAME_total``; TF Serving's counters have no
        suffix, so the families from `collect` are written here, with
        ``prometheus_client``'s value formatting and label escaping.
        """
        from prometheus_client.exposition import CONTENT_TYPE_LATEST
        from prometheus_client.utils import floatToGoString

        def escape(value):
            return (str(value).replace("\\", r"\\").replace("\n", r"\n")
                    .replace('"', r'\"'))

        lines = []
        for family in self.collect():
            doc = family.documentation.replace("\\", r"\\").replace(
                "\n", r"\n")
            lines.append(f"# HELP {family.name} {doc}")
            lines.append(f"# TYPE {family.name} {family.type}")
            for sample in family.samples:
                labels = ",".join(f'{k}="{escape(v)}"'
                                  for k, v in sorted(sample.labels.items()))
                lines.append(f"{sample.name}{{{labels}}} "
                             f"{floatToGoString(sample.value)}"
                             if labels else
                             f"{sample.name} {floatToGoString(sample.value)}")
        return ("\n".join(lines) + "\n").encode("utf-8"), CONTENT_TYPE_LATEST


def _copy(h):
    c = _Histogram(h.buckets)
    c.counts = list(h.counts)
    c.sum = h.sum
    return c


class MonitoringConfig:
    """TF Serving's ``MonitoringConfig``: Prometheus on/off and its path."""

    def __init__(self, enable: bool = False, path: str = DEFAULT_METRICS_PATH):
        self.enable = bool(enable)
        self.path = path or DEFAULT_METRICS_PATH

    def __repr__(self):
        return f"MonitoringConfig(enable={self.enable}, path={self.path!r})"


_TOKEN_RE = re.compile(r'\s*(?:(#[^\n]*|[,;])|([{}:])|("(?:[^"\\]|\\.)*")|'
                       r"('(?:[^'\\]|\\.)*')|([A-Za-z_][A-Za-z0-9_]*))")


def read_monitoring_config(path) -> MonitoringConfig:
    """Reads a ``--monitoring_config_file`` (text ``MonitoringConfig``).

    The format is ``prometheus_config { enable: true path: "/metrics" }``;
    a missing ``path`` is TF Serving's ``/monitoring/prometheus/metrics``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a malformed file, naming it and the problem.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not UTF-8 text: {e}") from None
    tokens = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            line = text.count("\n", 0, pos) + 1
            raise ValueError(f"{path}:{line}: cannot parse the monitoring "
                             f"config near {text[pos:pos + 20]!r}")
        pos = m.end()
        if m.group(1):
            continue
        tokens.append(next(g for g in m.groups()[1:] if g is not None))

    def fail(message):
        raise ValueError(f"{path}: {message}. Expected e.g. "
                         "'prometheus_config { enable: true path: "
                         f"\"{DEFAULT_METRICS_PATH}\" }}'")

    config = MonitoringConfig()
    i = 0
    while i < len(tokens):
        if tokens[i] != "prometheus_config":
            fail(f"unknown field {tokens[i]!r}")
        if i + 1 < len(tokens) and tokens[i + 1] == ":":
            i += 1
        if i + 1 >= len(tokens) or tokens[i + 1] != "{":
            fail("'prometheus_config' must be followed by '{'")
        i += 2
        while i < len(tokens) and tokens[i] != "}":
            field = tokens[i]
            if i + 2 >= len(tokens) or tokens[i + 1] != ":":
                fail(f"field {field!r} needs ': value'")
            value = tokens[i + 2]
            if field == "enable":
                if value not in ("true", "false", "True", "False", "1", "0"):
                    fail(f"enable must be true or false, got {value!r}")
                config.enable = value in ("true", "True", "1")
            elif field == "path":
                if value[0] not in "\"'":
                    fail(f"path must be a quoted string, got {value!r}")
                config.path = bytes(value[1:-1], "utf-8").decode(
                    "unicode_escape")
                if not config.path.startswith("/"):
                    fail(f"path must start with '/', got {config.path!r}")
            else:
                fail(f"unknown field prometheus_config.{field}")
            i += 3
        if i >= len(tokens):
            fail("unclosed '{'")
        i += 1
    return config
