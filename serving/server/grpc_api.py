"""TF Serving's gRPC API over a `PredictionService`.

Serves, with the servicers that ``tensorflow-serving-api`` ships:

* ``tensorflow.serving.PredictionService``: ``Predict`` and
  ``GetModelMetadata`` (``Classify``, ``Regress`` and ``MultiInference``,
  which take ``tf.Example`` protos, answer ``UNIMPLEMENTED``);
* ``tensorflow.serving.ModelService``: ``GetModelStatus``
  (``HandleReloadConfigRequest`` answers ``UNIMPLEMENTED``: the server
  re-reads ``models.config`` itself).

A request takes the same path as a REST one (`service.PredictionService`:
resolve, check, batch, count), so the models, versions, labels, signatures
and errors are the same; errors are aborted with the gRPC status code of
their canonical code (``NOT_FOUND``, ``INVALID_ARGUMENT``, ``UNAVAILABLE``,
...). A message over ``max_message_bytes`` is refused by gRPC itself with
``RESOURCE_EXHAUSTED``, and so is a request whose tensors would decode to
more than ``DECODED_BYTES_FACTOR`` times that (a ``TensorProto`` may carry
one value for a whole shape, which ``tf.make_ndarray`` repeats).

Where TF Serving's gRPC API answers differently from its REST API, this one
follows the gRPC side: an unknown signature is ``FAILED_PRECONDITION``
(``Serving signature key "NAME" not found.``), not ``INVALID_ARGUMENT``.

Example (any TF Serving client works; this is TF Serving's own)::

    stub = prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel("127.0.0.1:8500"))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "sentiment"
    request.inputs["text"].CopyFrom(tf.make_tensor_proto(["a fine film"]))
    stub.Predict(request, timeout=10.0)
"""

from __future__ import annotations

import concurrent.futures
import logging

from serving.server.errors import ServingStatus, invalid
from serving.server.service import short_error

logger = logging.getLogger(__name__)

__all__ = ["start_grpc_server", "DEFAULT_MAX_MESSAGE_BYTES",
           "DECODED_BYTES_FACTOR", "GRPC_CODES"]

# TF Serving's default --grpc_max_threads is 4 * cores; batching needs at
# least as many in-flight requests as a batch holds.
DEFAULT_MAX_WORKERS = 32
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# A request's tensors may decode to this many times max_message_bytes: an
# int64 sent as one-byte varints in int64_val decodes to 8 bytes a value.
DECODED_BYTES_FACTOR = 8
ENTRYPOINT = "GRPC"


def _grpc_codes():
    import grpc

    return {code.name: code for code in grpc.StatusCode}


GRPC_CODES = None  # canonical code name -> grpc.StatusCode (filled lazily)


def _abort(context, status: ServingStatus):
    global GRPC_CODES
    if GRPC_CODES is None:
        GRPC_CODES = _grpc_codes()
    import grpc

    context.abort(GRPC_CODES.get(status.code, grpc.StatusCode.UNKNOWN),
                  status.message)


def _model_spec(spec):
    """``(name, version, label)`` of a request's ``ModelSpec``."""
    if not spec.name:
        raise invalid("Missing ModelSpec name. Received: model_spec "
                      f"{{{str(spec).strip()}}}")
    version = spec.version.value if spec.HasField("version") else None
    label = spec.version_label if spec.HasField("version_label") else None
    return spec.name, version, label


def _decoded_bytes(name, proto):
    """What a ``TensorProto`` decodes to, in bytes, before decoding it.

    Raises:
        ServingStatus: INVALID_ARGUMENT for an unknown dtype, an unknown
            rank or a negative dimension.
    """
    import numpy as np
    import tensorflow as tf

    try:
        dtype = tf.dtypes.as_dtype(proto.dtype)
        itemsize = (8 if dtype == tf.string else
                    np.dtype(dtype.as_numpy_dtype).itemsize)
    except Exception:  # noqa: BLE001 - DT_INVALID, unknown enums, variant
        raise invalid(f"input '{name}': unsupported TensorProto dtype. "
                      f"Received: dtype {proto.dtype}") from None
    if proto.tensor_shape.unknown_rank:
        raise invalid(f"input '{name}': a request tensor needs a known "
                      "shape. Received: tensor_shape {unknown_rank: true}")
    dims = [d.size for d in proto.tensor_shape.dim]
    if any(d < 0 for d in dims):
        raise invalid(f"input '{name}': dimensions must be >= 0. "
                      f"Received: shape {dims}")
    elements = 1
    for d in dims:
        elements *= d
    total = elements * itemsize
    if dtype == tf.string and not proto.tensor_content:
        values = proto.string_val
        total += sum(len(v) for v in values)
        if values and elements > len(values):
            total += (elements - len(values)) * len(values[-1])
    return total


def _to_array(name, proto):
    """A ``TensorProto`` as a numpy array; INVALID_ARGUMENT if malformed.

    String tensors come back as object arrays of bytes.
    """
    import numpy as np
    import tensorflow as tf

    try:
        array = tf.make_ndarray(proto)
    except Exception as e:  # noqa: BLE001 - any malformed proto
        raise invalid(f"input '{name}': malformed TensorProto "
                      f"({short_error(e)})") from None
    if array.dtype.kind == "S":
        array = array.astype(object)
    return np.asarray(array)


def _inputs(request, max_decoded_bytes):
    """A ``PredictRequest``'s inputs as ``{name: numpy array}``.

    Raises:
        ServingStatus: INVALID_ARGUMENT for a malformed tensor,
            RESOURCE_EXHAUSTED when the tensors would decode to more than
            ``max_decoded_bytes``.
    """
    sizes = {k: _decoded_bytes(k, v) for k, v in request.inputs.items()}
    total = sum(sizes.values())
    if total > max_decoded_bytes:
        raise ServingStatus(
            "RESOURCE_EXHAUSTED",
            f"Request tensors would decode to {total} bytes, over the "
            f"server's limit of {max_decoded_bytes}. Received: "
            + ", ".join(f"'{k}' {list(d.size for d in v.tensor_shape.dim)}"
                        for k, v in sorted(request.inputs.items())))
    return {k: _to_array(k, v) for k, v in request.inputs.items()}


def _signature(servable, signature_name):
    """A servable's signature, failing as TF Serving's gRPC Predict does."""
    from serving.server.service import DEFAULT_SIGNATURE

    signature_name = signature_name or DEFAULT_SIGNATURE
    signature = servable.signatures.get(signature_name)
    if signature is None:
        raise ServingStatus(
            "FAILED_PRECONDITION",
            f'Serving signature key "{signature_name}" not found. '
            f"Received: signature_name {signature_name!r}; the model has "
            f"{sorted(servable.signatures)}")
    return signature


def _output_filter(request, signature):
    """The requested output aliases (all when ``output_filter`` is empty)."""
    wanted = list(request.output_filter)
    seen = set()
    for alias in wanted:
        if alias not in signature.outputs:
            raise invalid(
                f"output tensor alias not found in signature: {alias} "
                "Outputs expected to be in the set "
                f"{{{','.join(sorted(signature.outputs))}}}.")
        if alias in seen:
            raise invalid(f"duplicate output tensor alias: {alias}")
        seen.add(alias)
    return wanted or list(signature.outputs)


def _check_metadata_fields(fields):
    """TF Serving's ``ValidateGetModelMetadataRequest``."""
    if not fields:
        raise invalid("GetModelMetadataRequest must specify at least one "
                      "metadata_field. Received: metadata_field []")
    for field in fields:
        if field != "signature_def":
            raise invalid(f"Metadata field {field} is not supported. "
                          f"Received: metadata_field {fields}")


def _handlers(service, max_decoded_bytes):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import (get_model_metadata_pb2,
                                         get_model_status_pb2,
                                         model_service_pb2_grpc, predict_pb2,
                                         prediction_service_pb2_grpc)

    class Prediction(prediction_service_pb2_grpc.PredictionServiceServicer):

        def Predict(self, request, context):
            name = request.model_spec.name
            try:
                with service.observe("predict", ENTRYPOINT, name) as record:
                    name, version, label = _model_spec(request.model_spec)
                    servable = service.resolve(name, version, label)
                    record.version = servable.version
                    signature = _signature(
                        servable, request.model_spec.signature_name)
                    record.signature = signature.name
                    wanted = _output_filter(request, signature)
                    arrays = _inputs(request, max_decoded_bytes)
                    outputs = service.run(servable, signature, arrays)
                    response = predict_pb2.PredictResponse()
                    response.model_spec.name = name
                    response.model_spec.version.value = servable.version
                    response.model_spec.signature_name = signature.name
                    for key in wanted:
                        response.outputs[key].CopyFrom(
                            tf.make_tensor_proto(outputs[key]))
                    return response
            except ServingStatus as e:
                _abort(context, e)
            except Exception as e:  # noqa: BLE001 - never kill the server
                logger.exception("Internal error in Predict")
                _abort(context, ServingStatus(
                    "INTERNAL", f"Internal error: {type(e).__name__}: {e}"))

        def GetModelMetadata(self, request, context):
            name = request.model_spec.name
            try:
                with service.observe("GetModelMetadata", ENTRYPOINT, name):
                    _check_metadata_fields(list(request.metadata_field))
                    name, version, label = _model_spec(request.model_spec)
                    servable = service.resolve(name, version, label)
                    response = get_model_metadata_pb2.GetModelMetadataResponse()
                    response.model_spec.name = name
                    response.model_spec.version.value = servable.version
                    response.metadata["signature_def"].Pack(
                        servable.signature_def_map())
                    return response
            except ServingStatus as e:
                _abort(context, e)
            except Exception as e:  # noqa: BLE001
                logger.exception("Internal error in GetModelMetadata")
                _abort(context, ServingStatus(
                    "INTERNAL", f"Internal error: {type(e).__name__}: {e}"))

        def _unimplemented(self, request, context):
            context.abort(grpc.StatusCode.UNIMPLEMENTED,
                          "The local model server implements Predict and "
                          "GetModelMetadata; tf.Example APIs need "
                          "tensorflow_model_server")

        Classify = Regress = MultiInference = _unimplemented

    states = get_model_status_pb2.ModelVersionStatus.State

    class Models(model_service_pb2_grpc.ModelServiceServicer):

        def GetModelStatus(self, request, context):
            name = request.model_spec.name
            try:
                with service.observe("GetModelStatus", ENTRYPOINT, name):
                    name, version, label = _model_spec(request.model_spec)
                    answer = service.status(name, version, label)
                    response = get_model_status_pb2.GetModelStatusResponse()
                    codes = _grpc_codes()
                    for entry in answer["model_version_status"]:
                        status = response.model_version_status.add()
                        status.version = int(entry["version"])
                        status.state = states.Value(entry["state"])
                        code = entry["status"]["error_code"]
                        status.status.error_code = codes[code].value[0]
                        status.status.error_message = entry["status"][
                            "error_message"]
                    return response
            except ServingStatus as e:
                _abort(context, e)
            except Exception as e:  # noqa: BLE001
                logger.exception("Internal error in GetModelStatus")
                _abort(context, ServingStatus(
                    "INTERNAL", f"Internal error: {type(e).__name__}: {e}"))

        def HandleReloadConfigRequest(self, request, context):
            context.abort(grpc.StatusCode.UNIMPLEMENTED,
                          "The local model server re-reads models.config "
                          "itself; edit it (or zoo export) instead")

    return (Prediction(), Models(),
            prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server,
            model_service_pb2_grpc.add_ModelServiceServicer_to_server)


def start_grpc_server(service, host: str = "127.0.0.1", port: int = 8500, *,
                      max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                      max_workers: int = DEFAULT_MAX_WORKERS):
    """Starts TF Serving's gRPC API for a `PredictionService`.

    Args:
        service: the `service.PredictionService` (shared with REST).
        host: address to bind.
        port: port; 0 picks a free one.
        max_message_bytes: largest request and answer; a larger request is
            refused with ``RESOURCE_EXHAUSTED``, as is one whose tensors
            decode to over ``DECODED_BYTES_FACTOR`` times this.
        max_workers: requests handled at once.

    Returns:
        ``(grpc.Server, bound port)``; stop it with ``server.stop(grace)``.

    Raises:
        OSError: the port cannot be bound.
    """
    import grpc

    options = [("grpc.max_receive_message_length", int(max_message_bytes)),
               ("grpc.max_send_message_length", int(max_message_bytes)),
               ("grpc.so_reuseport", 0)]
    server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="zoo-grpc"),
        options=options)
    prediction, models, add_prediction, add_models = _handlers(
        service, DECODED_BYTES_FACTOR * int(max_message_bytes))
    add_prediction(prediction, server)
    add_models(models, server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as e:
        raise OSError(f"Cannot bind gRPC to {address}: {e}") from None
    if not bound:
        raise OSError(f"Cannot bind gRPC to {address}")
    server.start()
    return server, bound
