"""Dynamic batching for the local server, after TF Serving's batch scheduler.

Concurrent requests for the same model version and signature, with equal
non-batch inputs, are merged into one call of the signature and the outputs
are split back per request: that is what makes a CPU RNN serve many small
requests quickly (one batch-32 call costs far less than 32 batch-1 calls).
The options are TF Serving's ``BatchingParameters`` (``batching.config``,
which ``zoo export`` writes):

* ``max_batch_size``: the largest batch formed, in examples (rows). A
  request larger than it is refused (INVALID_ARGUMENT), as TF Serving does
  without large-batch splitting.
* ``batch_timeout_micros``: how long the first request of a partial batch
  waits for others before the batch runs anyway.
* ``max_enqueued_batches``: the queue length per model version and
  signature, in batches. A request that finds it full is answered
  UNAVAILABLE (HTTP 503) at once, never left waiting without bound.
* ``num_batch_threads``: how many batches run at the same time.
* ``allowed_batch_sizes``: batches are padded up to the next allowed size
  (with copies of their first row, whose outputs are dropped).
* ``pad_variable_length_inputs``: inputs whose inner dimensions differ
  (e.g. token ids of different lengths) are padded to a common shape with
  zeros (empty strings); when off, only requests of equal inner shapes
  share a batch.

What is batched, and what is not:

* Batch inputs are those with a leading dimension; every batch input of a
  request must have the same number of rows. Scalar (rank-0) inputs are
  non-batch inputs: requests share a batch only when they are equal.
  Requests that fit neither rule run on their own, still held to
  ``max_batch_size``.
* Signatures with a ``seed`` input run each request on its own: a seeded
  sample depends on the rows it is drawn with, so batching it would change
  the answer.
* Requests are validated before they are queued (`service.check_inputs`),
  so a bad request fails alone. If a merged call fails all the same (an
  in-graph check on one row), its requests are re-run one by one, so each
  gets its own answer or error.
"""

from __future__ import annotations

import collections
import logging
import threading
import time

import numpy as np

from serving.server.errors import ServingStatus, invalid

logger = logging.getLogger(__name__)

__all__ = ["Batcher", "BatchingOptions"]

# BasicBatchScheduler::Options defaults, for fields a config leaves unset.
_DEFAULTS = {"max_batch_size": 1000, "batch_timeout_micros": 0,
             "max_enqueued_batches": 10, "num_batch_threads": 2}

# Inputs whose presence makes a signature's answer depend on its batch.
_PER_REQUEST_INPUTS = ("seed",)


class BatchingOptions:
    """The batching parameters the `Batcher` uses.

    Args:
        max_batch_size: largest batch in examples (>= 1).
        batch_timeout_micros: wait of a partial batch (>= 0).
        max_enqueued_batches: queue length per queue, in batches (>= 1).
        num_batch_threads: batches run at once (>= 1).
        allowed_batch_sizes: increasing sizes, the last equal to
            ``max_batch_size``; empty for no padding of the batch size.
        pad_variable_length_inputs: pad inner dimensions to a common shape.
    """

    def __init__(self, max_batch_size=1000, batch_timeout_micros=0,
                 max_enqueued_batches=10, num_batch_threads=2,
                 allowed_batch_sizes=(), pad_variable_length_inputs=False):
        for name, value, minimum in (
                ("max_batch_size", max_batch_size, 1),
                ("batch_timeout_micros", batch_timeout_micros, 0),
                ("max_enqueued_batches", max_enqueued_batches, 1),
                ("num_batch_threads", num_batch_threads, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or \
                    value < minimum:
                raise ValueError(f"`{name}` must be an integer >= {minimum}. "
                                 f"Received: {name}={value!r}")
        sizes = [int(s) for s in allowed_batch_sizes]
        if sizes and (sizes != sorted(set(sizes)) or sizes[0] < 1 or
                      sizes[-1] != max_batch_size):
            raise ValueError(
                "`allowed_batch_sizes` must increase strictly and end at "
                f"max_batch_size={max_batch_size}. Received: "
                f"allowed_batch_sizes={sizes}")
        self.max_batch_size = max_batch_size
        self.batch_timeout_micros = batch_timeout_micros
        self.max_enqueued_batches = max_enqueued_batches
        self.num_batch_threads = num_batch_threads
        self.allowed_batch_sizes = tuple(sizes)
        self.pad_variable_length_inputs = bool(pad_variable_length_inputs)

    @classmethod
    def from_proto(cls, params):
        """From a ``tensorflow.serving.BatchingParameters`` message."""
        values = {}
        for name, default in _DEFAULTS.items():
            values[name] = (int(getattr(params, name).value)
                            if params.HasField(name) else default)
        return cls(allowed_batch_sizes=tuple(params.allowed_batch_sizes),
                   pad_variable_length_inputs=bool(
                       params.pad_variable_length_inputs), **values)

    def __repr__(self):
        return ("BatchingOptions(" + ", ".join(
            f"{k}={getattr(self, k)!r}" for k in (
                "max_batch_size", "batch_timeout_micros",
                "max_enqueued_batches", "num_batch_threads",
                "allowed_batch_sizes", "pad_variable_length_inputs")) + ")")


class _Task:
    """One request waiting in a queue."""

    __slots__ = ("arrays", "rows", "done", "result", "error")

    def __init__(self, arrays, rows):
        self.arrays = arrays
        self.rows = rows
        self.done = threading.Event()
        self.result = None
        self.error = None

    def finish(self, result=None, error=None):
        self.result, self.error = result, error
        self.done.set()


class _Batch:
    __slots__ = ("tasks", "rows", "opened")

    def __init__(self, now):
        self.tasks = []
        self.rows = 0
        self.opened = now


class _Queue:
    """The batches of one (model, version, signature, non-batch inputs)."""

    __slots__ = ("key", "fn", "model", "signature", "batches")

    def __init__(self, key, fn, model, signature):
        self.key = key
        self.fn = fn
        self.model = model
        self.signature = signature
        self.batches = collections.deque()


class Batcher:
    """Merges concurrent requests into batches, as TF Serving does.

    Args:
        options: a ``BatchingParameters`` message (`serving.config`
            ``read_batching_config``) or a `BatchingOptions`.
        metrics: a `serving.server.metrics.ServerMetrics` that records the
            size of each batch run, or None.

    Example:

    >>> import numpy as np
    >>> b = Batcher(BatchingOptions(max_batch_size=8,
    ...                             batch_timeout_micros=1000))
    >>> out = b.run(("m", 1), lambda a: {"y": a["x"] * 2},
    ...             {"x": np.array([1.0, 2.0])})
    >>> out["y"].tolist()
    [2.0, 4.0]
    >>> b.close()
    """

    def __init__(self, options, *, metrics=None):
        if not isinstance(options, BatchingOptions):
            options = BatchingOptions.from_proto(options)
        self.options = options
        self.metrics = metrics
        self._cond = threading.Condition()
        self._queues = {}
        self._closed = False
        self._threads = [
            threading.Thread(target=self._worker, daemon=True,
                             name=f"zoo-batch-{i}")
            for i in range(options.num_batch_threads)]
        for t in self._threads:
            t.start()

    # -- the request side ----------------------------------------------------

    def run(self, key, fn, arrays, *, signature=None) -> dict:
        """Runs one request, in a batch with others where it may.

        Args:
            key: identifies the model version and signature (requests of
                different keys never share a batch).
            fn: ``fn({name: array}) -> {name: array}``, the signature call.
            arrays: the request's checked inputs.
            signature: the `registry.Signature` (its input names decide
                per-request signatures); optional.

        Returns:
            ``{output name: numpy array}``: this request's rows only.

        Raises:
            ServingStatus: UNAVAILABLE when the queue is full or the
                batcher is closed, INVALID_ARGUMENT for a request larger
                than ``max_batch_size``, or the error of the call.
        """
        names = (signature.inputs if signature is not None else arrays)
        split = self._split_key(arrays)
        # the size limit holds for requests that run alone too (a seeded
        # signature, inputs that cannot be split into rows)
        rows = split[2] if split is not None else max(
            (np.shape(a)[0] for a in arrays.values() if np.ndim(a) > 0),
            default=0)
        if rows > self.options.max_batch_size:
            raise invalid(
                f"Task size {rows} is larger than maximum batch size "
                f"{self.options.max_batch_size}")
        if split is None or any(n in names for n in _PER_REQUEST_INPUTS):
            return fn(arrays)
        scalars, shapes, rows = split
        if rows == 0:
            return fn(arrays)
        qkey = (key, scalars, shapes)
        task = _Task(arrays, rows)
        with self._cond:
            if self._closed:
                raise ServingStatus("UNAVAILABLE", "The batcher is closed")
            queue = self._queues.get(qkey)
            if queue is None:
                model = key[0] if isinstance(key, tuple) and key else str(key)
                sig = (getattr(signature, "name", "")
                       or (key[-1] if isinstance(key, tuple) else ""))
                queue = self._queues[qkey] = _Queue(qkey, fn, str(model),
                                                    str(sig))
            now = time.monotonic()
            last = queue.batches[-1] if queue.batches else None
            if last is None or \
                    last.rows + rows > self.options.max_batch_size:
                if len(queue.batches) >= self.options.max_enqueued_batches:
                    raise ServingStatus(
                        "UNAVAILABLE",
                        "The batch scheduling queue to which this task was "
                        "submitted is full")
                last = _Batch(now)
                queue.batches.append(last)
            last.tasks.append(task)
            last.rows += rows
            self._cond.notify()
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.result

    def _split_key(self, arrays):
        """``(scalar values, inner shapes, rows)``; None: not batchable."""
        scalars, shapes, rows = [], [], None
        for name in sorted(arrays):
            a = arrays[name]
            if a.ndim == 0:
                scalars.append((name, a.dtype.str, a.tobytes()
                                if a.dtype != object else repr(a.item())))
                continue
            if rows is None:
                rows = a.shape[0]
            elif a.shape[0] != rows:
                return None
            if not self.options.pad_variable_length_inputs or a.ndim == 1:
                shapes.append((name, a.shape[1:]))
            else:
                shapes.append((name, a.ndim))
        if rows is None:
            return None
        return tuple(scalars), tuple(shapes), rows

    # -- the scheduling side -------------------------------------------------

    def _next_batch(self):
        """Waits for a batch that is due; None once closed and drained."""
        timeout = self.options.batch_timeout_micros / 1e6
        with self._cond:
            while True:
                now = time.monotonic()
                due, wait = None, None
                for queue in self._queues.values():
                    if not queue.batches:
                        continue
                    first = queue.batches[0]
                    full = (first.rows >= self.options.max_batch_size or
                            len(queue.batches) > 1)
                    ready_at = first.opened + timeout
                    if full or ready_at <= now or self._closed:
                        if due is None or first.opened < due[1].opened:
                            due = (queue, first)
                    else:
                        left = ready_at - now
                        wait = left if wait is None else min(wait, left)
                if due is not None:
                    queue, batch = due
                    queue.batches.popleft()
                    if not queue.batches:
                        del self._queues[queue.key]
                    return queue, batch
                if self._closed:
                    return None
                self._cond.wait(wait)

    def _worker(self):
        while True:
            item = self._next_batch()
            if item is None:
                return
            queue, batch = item
            try:
                self._process(queue, batch)
            except BaseException as e:  # noqa: BLE001 - never lose a task
                logger.exception("batch of %d failed", batch.rows)
                for task in batch.tasks:
                    if not task.done.is_set():
                        task.finish(error=ServingStatus(
                            "INTERNAL", f"batch failed: {e!r}"))

    def _process(self, queue, batch):
        tasks = batch.tasks
        if len(tasks) == 1 and not self.options.allowed_batch_sizes:
            self._record(queue, tasks[0].rows)
            self._run_alone(queue, tasks[0])
            return
        merged, padded_rows = self._merge(tasks)
        self._record(queue, padded_rows)
        try:
            outputs = queue.fn(merged)
        except ServingStatus as e:
            if len(tasks) == 1:
                tasks[0].finish(error=e)
                return
            # One row's in-graph check can fail a merged call: re-run each
            # request alone so every request gets its own answer.
            for task in tasks:
                self._run_alone(queue, task)
            return
        pieces = self._split(outputs, tasks, padded_rows)
        if pieces is None:          # outputs without a batch dimension
            for task in tasks:
                self._run_alone(queue, task)
            return
        for task, piece in zip(tasks, pieces):
            task.finish(result=piece)

    @staticmethod
    def _run_alone(queue, task):
        try:
            task.finish(result=queue.fn(task.arrays))
        except ServingStatus as e:
            task.finish(error=e)
        except Exception as e:  # noqa: BLE001
            task.finish(error=ServingStatus("INTERNAL", repr(e)))

    def _record(self, queue, size):
        if self.metrics is not None:
            self.metrics.observe_batch(model=queue.model,
                                       signature=queue.signature, size=size)

    def _merge(self, tasks):
        rows = sum(t.rows for t in tasks)
        target = rows
        for size in self.options.allowed_batch_sizes:
            if size >= rows:
                target = size
                break
        merged = {}
        for name, first in tasks[0].arrays.items():
            if first.ndim == 0:
                merged[name] = first
                continue
            parts = [t.arrays[name] for t in tasks]
            if self.options.pad_variable_length_inputs and first.ndim > 1:
                inner = tuple(max(p.shape[d] for p in parts)
                              for d in range(1, first.ndim))
                parts = [_pad(p, inner) for p in parts]
            if target > rows:
                parts.append(np.repeat(parts[0][:1], target - rows, axis=0))
            merged[name] = np.concatenate(parts, axis=0)
        return merged, target

    @staticmethod
    def _split(outputs, tasks, padded_rows):
        for value in outputs.values():
            if np.ndim(value) == 0 or np.shape(value)[0] != padded_rows:
                return None
        pieces, start = [], 0
        for task in tasks:
            end = start + task.rows
            pieces.append({k: v[start:end] for k, v in outputs.items()})
            start = end
        return pieces

    # -- lifecycle -------------------------------------------------------------

    def close(self, timeout: float = 30.0):
        """Runs what is queued, then stops the batch threads."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)


def _pad(array, inner):
    """Pads ``array``'s inner dimensions up to ``inner`` (zeros, or b"")."""
    widths = [(0, 0)] + [(0, want - have)
                         for have, want in zip(array.shape[1:], inner)]
    if not any(w for _, w in widths):
        return array
    if array.dtype == object:
        out = np.full((array.shape[0],) + inner, b"", dtype=object)
        out[tuple(slice(0, s) for s in array.shape)] = array
        return out
    return np.pad(array, widths)
