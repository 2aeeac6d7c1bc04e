"""What a request asks of the server, apart from how it arrived.

`PredictionService` is the one path from a request to a model's answer that
both transports take: the REST API (`rest`) and the gRPC API (`grpc_api`)
decode their request into ``{input name: numpy array}``, and the service

1. resolves the servable (`registry`) and its signature;
2. checks the inputs against the signature (names, dtypes, shapes), so a
   bad request fails alone, before it can join a batch;
3. runs it, through the `batching.Batcher` when batching is on;
4. counts it, with its latency, in the server's `metrics`.

Answers are ``{output name: numpy array}``; every failure is a
`ServingStatus` with TF Serving's canonical code.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time

from serving.server.errors import ServingStatus, invalid

logger = logging.getLogger(__name__)

DEFAULT_SIGNATURE = "serving_default"
_ASSERTION = re.compile(r"assertion failed: \[(.*)\]\s*$", re.MULTILINE)

__all__ = ["PredictionService", "DEFAULT_SIGNATURE", "check_inputs",
           "short_error"]


def short_error(e) -> str:
    """The useful line of an exception's message (TF errors are long).

    An in-graph ``tf.debugging.Assert`` (the generation signatures' argument
    checks) gives its own message; otherwise the first line.
    """
    message = (getattr(e, "message", None) or str(e)).strip()
    if not message:
        return type(e).__name__
    match = _ASSERTION.search(message)
    if match:
        return match.group(1)[:2000]
    return message.splitlines()[0][:2000]


def check_inputs(signature, arrays) -> dict:
    """Checks ``{name: numpy array}`` against a signature's inputs.

    Args:
        signature: a `registry.Signature`.
        arrays: the request's inputs.

    Returns:
        The arrays, cast to the signature's dtypes where that is exact
        (e.g. a Python int list for an int64 input).

    Raises:
        ServingStatus: INVALID_ARGUMENT naming the input for missing or
            unexpected inputs, a wrong dtype or an incompatible shape.
    """
    import numpy as np

    specs = signature.inputs
    missing = sorted(set(specs) - set(arrays))
    extra = sorted(set(arrays) - set(specs))
    if missing or extra:
        raise invalid(
            f"Signature '{signature.name}' expects inputs {sorted(specs)}. "
            f"Received: {sorted(arrays)}"
            + (f" (missing {missing})" if missing else "")
            + (f" (unexpected {extra})" if extra else ""))
    out = {}
    for name, spec in specs.items():
        array = np.asarray(arrays[name]) if not isinstance(
            arrays[name], np.ndarray) else arrays[name]
        if spec.dtype.name == "string":
            if array.dtype != object and array.dtype.kind not in "SU":
                raise invalid(
                    f"input '{name}': expects a string tensor. Received: "
                    f"dtype {array.dtype}")
            if array.dtype.kind == "U":
                array = np.vectorize(lambda s: s.encode("utf-8"),
                                     otypes=[object])(array)
        else:
            want = np.dtype(spec.dtype.as_numpy_dtype)
            if array.dtype != want:
                ok = (array.size == 0 or
                      (array.dtype.kind in "iub" and want.kind in "iuf") or
                      (array.dtype.kind == "f" and want.kind == "f"))
                if array.dtype.kind == "b" and want.kind != "b":
                    ok = False
                if not ok:
                    raise invalid(
                        f"input '{name}': expects dtype {spec.dtype.name}. "
                        f"Received: dtype {array.dtype}")
                cast = array.astype(want)
                if want.kind in "iu" and not np.array_equal(cast, array):
                    raise invalid(
                        f"input '{name}': values out of range for "
                        f"{spec.dtype.name}")
                array = cast
        if not spec.shape.is_compatible_with(array.shape):
            shape = (spec.shape.as_list() if spec.shape.rank is not None
                     else "unknown")
            raise invalid(
                f"input '{name}': shape {list(array.shape)} is incompatible "
                f"with the signature's shape {shape}")
        out[name] = array
    return out


class _Observation:
    """What one request turned out to be, for the metrics."""

    __slots__ = ("model", "version", "signature")

    def __init__(self, model):
        self.model = model
        self.version = None
        self.signature = ""


class PredictionService:
    """Models of a registry, run (and batched, and counted) for requests.

    Args:
        registry: the `ModelRegistry` to serve.
        batcher: a `serving.server.batching.Batcher`, or None to run each
            request on its own.
        metrics: a `serving.server.metrics.ServerMetrics`, or None.
    """

    def __init__(self, registry, *, batcher=None, metrics=None):
        self.registry = registry
        self.batcher = batcher
        self.metrics = metrics

    # -- lookups -------------------------------------------------------------

    def resolve(self, name, version=None, label=None):
        """The servable for a model spec; `ServingStatus` if none."""
        return self.registry.resolve(name, version, label)

    def status(self, name, version=None, label=None) -> dict:
        """The GetModelStatusResponse JSON of a model."""
        return self.registry.status(name, version, label)

    @staticmethod
    def signature(servable, signature_name):
        """A servable's signature by name ('' is ``serving_default``)."""
        signature_name = signature_name or DEFAULT_SIGNATURE
        signature = servable.signatures.get(signature_name)
        if signature is None:
            raise invalid(f'Serving signature name: "{signature_name}" not '
                          "found in signature def")
        return signature

    # -- running -------------------------------------------------------------

    def run(self, servable, signature, arrays) -> dict:
        """Runs checked inputs through a signature; numpy arrays out.

        Args:
            servable: the resolved `registry.Servable`.
            signature: one of its signatures.
            arrays: ``{input name: numpy array}``.

        Returns:
            ``{output name: numpy array}``.

        Raises:
            ServingStatus: INVALID_ARGUMENT for inputs the signature rejects
                (in-graph checks included), UNAVAILABLE when the batch queue
                is full, INTERNAL for other TensorFlow errors.
        """
        arrays = check_inputs(signature, arrays)
        if self.batcher is not None:
            key = (servable.name, servable.version, servable.key,
                   signature.name)
            return self.batcher.run(key, lambda a: call_signature(
                signature, a), arrays, signature=signature)
        return call_signature(signature, arrays)

    @contextlib.contextmanager
    def observe(self, api: str, entrypoint: str, model: str):
        """Times a request and counts its outcome in the metrics.

        Yields an object whose ``version`` and ``signature`` the caller
        sets once they are known.
        """
        record = _Observation(model)
        start = time.perf_counter()
        code = "OK"
        try:
            yield record
        except ServingStatus as e:
            code = e.code
            raise
        except BaseException:
            code = "INTERNAL"
            raise
        finally:
            if self.metrics is not None:
                seconds = time.perf_counter() - start
                model = record.model
                if not self.registry.is_configured(model):
                    # a name outside models.config is counted under "", so
                    # that requests cannot add label values without bound
                    model = ""
                self.metrics.observe_request(
                    model=model, version=record.version, api=api,
                    entrypoint=entrypoint, status=code, seconds=seconds)


def call_signature(signature, arrays) -> dict:
    """Calls a signature function on numpy inputs; numpy outputs.

    TensorFlow's InvalidArgumentError (and Python argument errors) become
    INVALID_ARGUMENT, other TensorFlow errors INTERNAL.
    """
    import tensorflow as tf

    specs = signature.inputs
    tensors = {k: tf.constant(v, dtype=specs[k].dtype)
               for k, v in arrays.items()}
    try:
        outputs = signature.fn(**tensors)
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as e:
        raise invalid(short_error(e)) from None
    except tf.errors.OpError as e:
        raise ServingStatus("INTERNAL", short_error(e)) from None
    return {k: v.numpy() for k, v in outputs.items()}
