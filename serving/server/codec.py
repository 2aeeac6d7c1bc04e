"""JSON <-> tensors for TF Serving's REST API (row and columnar formats).

Follows TF Serving's `api_rest.md`: `instances` (row format, answered with
`predictions`) or `inputs` (columnar, answered with `outputs`); strings are
UTF-8 JSON strings or `{"b64": ...}`; outputs whose name ends in `_bytes`
are always base64. Every mismatch with the signature is INVALID_ARGUMENT.
"""

from __future__ import annotations

import base64
import binascii
import json
import math

from serving.server.errors import ServingStatus, invalid

# Deeper JSON nesting than this is refused before numpy sees it (numpy
# arrays have at most 64 dimensions).
MAX_RANK = 32

# Bits of the significand (with the implicit bit) of the float dtypes TF
# Serving's REST API takes.
_MANTISSA_BITS = {"float32": 24, "float64": 53}


def _json_shape(value, where):
    """Shape of a nested JSON list; raises if ragged."""
    if isinstance(value, list):
        if not value:
            return (0,)
        inner = _json_shape(value[0], where)
        for item in value[1:]:
            if _json_shape(item, where) != inner:
                raise invalid(
                    f"{where}: nested lists have different lengths "
                    "(ragged tensors are not supported).")
        return (len(value),) + inner
    return ()


def _leaf_converter(dtype, where):
    """A function converting one JSON leaf to a value of ``dtype``."""
    import numpy as np

    type_name = dtype.name

    def fail(value):
        shown = json.dumps(value)[:80] if not isinstance(value, bytes) else \
            repr(value)[:80]
        raise invalid(
            f"{where}: JSON value {shown} is not of expected type: "
            f"{type_name}")

    if dtype.name == "string":
        def convert(value):
            if isinstance(value, str):  # (lone surrogates: rest.py refuses)
                return value.encode("utf-8")
            if isinstance(value, dict) and set(value) == {"b64"} and \
                    isinstance(value["b64"], str):
                try:
                    return base64.b64decode(value["b64"], validate=True)
                except (binascii.Error, ValueError) as e:
                    raise invalid(
                        f"{where}: unable to base64 decode {{\"b64\": ...}} "
                        f"value: {e}") from None
            fail(value)
        return convert
    if dtype.is_bool:
        def convert(value):
            if isinstance(value, bool):
                return value
            fail(value)
        return convert
    if dtype.is_integer:
        info = np.iinfo(dtype.as_numpy_dtype)

        def convert(value):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                fail(value)
            if not info.min <= value <= info.max:
                raise invalid(
                    f"{where}: value {value} is out of range for "
                    f"{type_name}")
            return value
        return convert
    if dtype.is_floating and type_name in _MANTISSA_BITS:
        # As TF Serving's json_tensor.cc (IsLosslessDecimal): a number the
        # dtype cannot hold is refused, not rounded to infinity; so is an
        # int64/uint64 integer of absolute value above the significand's
        # exact range (2**24 - 1 for float32, 2**53 - 1 for float64); an
        # integer beyond 64 bits is read as a double, as rapidjson reads it.
        # NaN and Infinity pass.
        largest = float(dtype.max)
        max_int = 2 ** _MANTISSA_BITS[type_name] - 1

        def lossy(value):
            shown = str(value) if len(str(value)) <= 40 else \
                f"an integer of {value.bit_length()} bits"
            raise invalid(f"{where}: cannot convert JSON value {shown} to "
                          f"{type_name} without loss of precision")

        def convert(value):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                fail(value)
            if isinstance(value, int):
                if -2 ** 63 <= value < 2 ** 64 and abs(value) > max_int:
                    lossy(value)
                try:
                    as_double = float(value)
                except OverflowError:
                    lossy(value)
                if abs(as_double) > largest:
                    lossy(value)
                return as_double
            if math.isfinite(value) and abs(value) > largest:
                lossy(value)
            return value
        return convert
    # TF Serving's REST API converts JSON to the dtypes above only
    # (json_tensor.cc's AddValueToTensor); a value for any other (float16,
    # bfloat16, complex, ...) is UNIMPLEMENTED, as there, so an empty
    # tensor of such a dtype still passes.
    def convert(value):
        shown = json.dumps(value)[:80] if not isinstance(value, bytes) else \
            repr(value)[:80]
        raise ServingStatus(
            "UNIMPLEMENTED", f"{where}: conversion of JSON value {shown} to "
            f"type {type_name} is not supported by the REST API")
    return convert


def _to_array(value, spec, where):
    """Converts a JSON value to a numpy array matching ``spec`` (a TensorSpec).

    Strings become object arrays of ``bytes``, as ``tf.make_ndarray`` gives.
    """
    import numpy as np
    import tensorflow as tf

    shape = _json_shape(value, where)
    if spec.shape.rank is not None and len(shape) != spec.shape.rank or \
            len(shape) > MAX_RANK:
        raise invalid(
            f"{where}: shape {list(shape) if len(shape) <= 8 else f'of rank {len(shape)}'} "
            "is incompatible with the signature's shape "
            f"{spec.shape.as_list() if spec.shape.rank is not None else 'unknown'}")
    convert = _leaf_converter(spec.dtype, where)

    flat = []

    def walk(v):
        if isinstance(v, list):
            for x in v:
                walk(x)
        else:
            flat.append(convert(v))

    walk(value)
    if spec.dtype == tf.string:
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
    else:
        array = np.asarray(flat, dtype=spec.dtype.as_numpy_dtype)
    array = array.reshape(shape)
    if not spec.shape.is_compatible_with(array.shape):
        raise invalid(
            f"{where}: shape {list(array.shape)} is incompatible with the "
            f"signature's shape {spec.shape.as_list() if spec.shape.rank is not None else 'unknown'}")
    return array


def _is_b64(value):
    return isinstance(value, dict) and set(value) == {"b64"}


def inputs_from_request(body, signature):
    """Builds ``{input name: numpy array}`` and the format ("row"/"columnar")."""
    specs = signature.inputs
    has_instances = "instances" in body
    has_inputs = "inputs" in body
    if has_instances and has_inputs:
        raise invalid("Not formatted correctly expecting only one of 'inputs' "
                       "or 'instances' keys exists")
    if not has_instances and not has_inputs:
        raise invalid("Missing 'inputs' or 'instances' key")

    if has_instances:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise invalid("'instances' must be a non-empty JSON list")
        columns = {}
        named = all(isinstance(x, dict) and not _is_b64(x) for x in instances)
        if named:
            for i, instance in enumerate(instances):
                if set(instance) != set(specs):
                    raise invalid(
                        f"instances[{i}] has keys {sorted(instance)} but "
                        f"signature '{signature.name}' expects inputs "
                        f"{sorted(specs)}")
                for k, v in instance.items():
                    columns.setdefault(k, []).append(v)
        elif len(specs) == 1:
            columns[next(iter(specs))] = instances
        else:
            raise invalid(
                f"signature '{signature.name}' has {len(specs)} inputs "
                f"{sorted(specs)}: each of 'instances' must be a JSON object "
                "naming them")
        return {k: _to_array(v, specs[k], f"input '{k}'")
                for k, v in columns.items()}, "row"

    inputs = body["inputs"]
    if isinstance(inputs, dict) and not _is_b64(inputs):
        if set(inputs) != set(specs):
            raise invalid(
                f"'inputs' has keys {sorted(inputs)} but signature "
                f"'{signature.name}' expects inputs {sorted(specs)}")
    elif len(specs) == 1:
        inputs = {next(iter(specs)): inputs}
    else:
        raise invalid(
            f"signature '{signature.name}' has {len(specs)} inputs "
            f"{sorted(specs)}: 'inputs' must be a JSON object naming them")
    return {k: _to_array(v, specs[k], f"input '{k}'")
            for k, v in inputs.items()}, "columnar"


def _to_json_value(name, array):
    """A numpy array (or scalar) as JSON-ready nested lists."""
    import numpy as np

    binary = name.endswith("_bytes")
    if array.dtype == object or array.dtype.kind in "SU":
        def enc(b):
            if isinstance(b, str):
                b = b.encode("utf-8")
            if not binary:
                try:
                    return b.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            return {"b64": base64.b64encode(b).decode("ascii")}
        return np.vectorize(enc, otypes=[object])(array).tolist() \
            if array.ndim else enc(array.item())
    if array.dtype.kind in "biuf":
        return array.tolist()
    raise ServingStatus(
        "UNIMPLEMENTED",
        f"output '{name}' has dtype {array.dtype} which the REST API cannot "
        "encode")


def outputs_to_json(arrays, fmt):
    """``{output name: numpy array}`` as TF Serving's JSON answer."""
    if fmt == "columnar":
        values = {k: _to_json_value(k, a) for k, a in arrays.items()}
        if len(values) == 1:
            return {"outputs": next(iter(values.values()))}
        return {"outputs": values}
    batch = {k: (a.shape[0] if a.ndim else None) for k, a in arrays.items()}
    sizes = set(batch.values())
    if None in sizes or len(sizes) != 1:
        raise invalid(
            "Output tensors do not share the same 0th dimension "
            f"({batch}), which the row ('instances') format needs; use the "
            "columnar ('inputs') format")
    values = {k: _to_json_value(k, a) for k, a in arrays.items()}
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    n = sizes.pop()
    return {"predictions": [{k: values[k][i] for k in values}
                            for i in range(n)]}
