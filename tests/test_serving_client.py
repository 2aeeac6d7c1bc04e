"""ServingClient against LocalModelServer over loopback HTTP."""

import base64
import os
import socket

import pytest

tf = pytest.importorskip("tensorflow")

from serving import config as sc  # noqa: E402
from serving.client import (ServingClient, ServingConnectionError,  # noqa: E402
                            ServingError, ServingTimeoutError, b64)
from serving.server import LocalModelServer  # noqa: E402


class _Echo(tf.Module):
    def __init__(self, version):
        super().__init__()
        self.version = version

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "text")])
    def default(self, text):
        return {"upper": tf.strings.upper(text),
                "version": tf.fill(tf.shape(text), tf.constant(
                    self.version, tf.int64))}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "text")])
    def length(self, text):
        return {"length": tf.strings.length(text)}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    models_dir = str(tmp_path_factory.mktemp("models"))
    for v in (1, 2):
        m = _Echo(v)
        tf.saved_model.save(m, os.path.join(models_dir, "echo", str(v)),
                            signatures={"serving_default": m.default,
                                        "length": m.length})
    sc.update_models_config(models_dir, "echo", version_policy="all",
                            labels={"stable": 1})
    srv = LocalModelServer(models_dir, port=0, poll_interval=0.0).start()
    yield srv
    srv.stop()


@pytest.fixture
def client(server):
    return ServingClient(server.url, timeout=30)


def test_status_and_metadata(client):
    status = client.status("echo")
    assert [s["version"] for s in status["model_version_status"]] == ["1", "2"]
    assert all(s["state"] == "AVAILABLE" and s["status"]["error_code"] == "OK"
               for s in status["model_version_status"])
    assert client.status("echo", version=1)["model_version_status"][0][
        "version"] == "1"
    assert client.status("echo", label="stable")["model_version_status"][0][
        "version"] == "1"
    meta = client.metadata("echo", version=2)
    assert meta["model_spec"]["version"] == "2"
    sigs = meta["metadata"]["signature_def"]["signature_def"]
    assert set(sigs["serving_default"]["outputs"]) == {"upper", "version"}
    assert client.metadata("echo", label="stable")["model_spec"][
        "version"] == "1"


def test_predict_row_columnar_signature_version_label(client):
    out = client.predict("echo", instances=["ab", "cd"])
    assert out == {"predictions": [{"upper": "AB", "version": 2},
                                   {"upper": "CD", "version": 2}]}
    out = client.predict("echo", inputs={"text": ["ab"]}, version=1)
    assert out == {"outputs": {"upper": ["AB"], "version": [1]}}
    out = client.predict("echo", instances=["abc"], signature_name="length",
                         label="stable")
    assert out == {"predictions": [3]}
    out = client.predict("echo", instances=[b64("é".encode()), "x"],
                         signature_name="length")
    assert out == {"predictions": [2, 1]}


def test_b64_helper():
    assert b64(b"\xff") == {"b64": base64.b64encode(b"\xff").decode()}


def test_http_errors_carry_status_and_message(client):
    with pytest.raises(ServingError) as info:
        client.predict("nope", instances=["a"])
    assert info.value.status_code == 404
    assert "Servable not found" in info.value.message
    assert "404" in str(info.value)
    with pytest.raises(ServingError) as info:
        client.predict("echo", instances=[1])
    assert info.value.status_code == 400
    with pytest.raises(ServingError) as info:
        client.predict("echo", instances=["a"], signature_name="missing")
    assert info.value.status_code == 400
    assert "missing" in info.value.message
    with pytest.raises(ServingError) as info:
        client.status("echo", label="nope")
    assert info.value.status_code == 400
    assert client.status("echo")  # still serving


def test_argument_errors(client):
    with pytest.raises(ValueError, match="exactly one"):
        client.predict("echo")
    with pytest.raises(ValueError, match="exactly one"):
        client.predict("echo", instances=["a"], inputs=["a"])
    with pytest.raises(ValueError, match="version or label"):
        client.status("echo", version=1, label="stable")
    # a text or a mapping is not a list of instances: list() would split it
    for bad in ("great film", b"great", {"text": "good"}):
        with pytest.raises(ValueError, match="list of instances"):
            client.predict("echo", instances=bad)
    # a float version is refused, not truncated to another version
    for bad in (1.9, 1.0, -1, "x", True):
        with pytest.raises(ValueError, match=f"version={bad!r}"):
            client.status("echo", version=bad)
    assert client.status("echo", version="1") == client.status("echo",
                                                                version=1)


def test_host_port_constructor(server):
    client = ServingClient(host="127.0.0.1", port=server.port)
    assert client.base_url == server.url
    assert client.wait_until_available("echo", timeout=5)


def _ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
def test_an_ipv6_host_serves_rest_and_grpc(server):
    """`zoo serve --host ::1`: the REST server binds IPv6 (it was IPv4
    only), and the URL and gRPC target bracket the address."""
    with LocalModelServer(server.registry.models_dir, port=0, host="::1",
                          grpc_port=0) as v6:
        assert v6.url.startswith("http://[::1]:")
        assert v6.grpc_target.startswith("[::1]:")
        by_url = ServingClient(v6.url, timeout=30)
        assert by_url.status("echo")["model_version_status"][0][
            "state"] == "AVAILABLE"
        by_host = ServingClient(host="::1", port=v6.port, timeout=30)
        assert by_host.base_url == v6.url
        assert ServingClient(host="[::1]", port=v6.port).base_url == v6.url
        assert [s["version"] for s in by_host.status("echo")[
            "model_version_status"]] == ["1", "2"]
        with ServingClient(grpc_target=v6.grpc_target, timeout=30) as g:
            assert [s["version"] for s in g.status("echo")[
                "model_version_status"]] == ["1", "2"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused():
    client = ServingClient(f"http://127.0.0.1:{_free_port()}", timeout=5)
    with pytest.raises(ServingConnectionError) as info:
        client.status("echo")
    assert info.value.status_code is None
    assert "Cannot reach" in str(info.value)


def test_timeout():
    with socket.socket() as listener:  # accepts (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        client = ServingClient(f"http://127.0.0.1:{port}", timeout=0.3)
        with pytest.raises(ServingTimeoutError, match="Timed out"):
            client.status("echo")


def _one_answer_server(answer):
    """A thread that accepts one connection, reads the request, sends
    `answer` (bytes) and closes; returns (port, thread)."""
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve():
        with listener:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(5)
                conn.recv(65536)
                conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


@pytest.mark.parametrize("answer", [
    # an HTTP/2 SETTINGS frame, as a gRPC port sends
    b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64",
    # a TLS alert, as an https port sends to plain HTTP
    b"\x15\x03\x01\x00\x02\x02\x46",
    # an answer cut short of its Content-Length
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100\r\n\r\n{\"model_version_status\": [",
], ids=["http2", "tls", "short"])
def test_a_server_that_does_not_speak_http_1_is_a_clear_error(answer):
    port, thread = _one_answer_server(answer)
    client = ServingClient(f"http://127.0.0.1:{port}", timeout=5)
    with pytest.raises(ServingConnectionError,
                       match="did not answer as an HTTP/1.1 model server"):
        client.status("echo")
    thread.join(5)


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"),
                                     1e10, True, "5"])
def test_client_timeouts_out_of_range_are_refused(timeout):
    with pytest.raises(ValueError, match="Received: timeout="):
        ServingClient("http://127.0.0.1:1", timeout=timeout)


def test_predict_cli_refuses_a_timeout_sockets_cannot_take(capsys):
    from serving import cli

    with pytest.raises(SystemExit) as e:
        cli.predict_main(["--url", "http://127.0.0.1:1", "--name", "m",
                          "--timeout", "1e10", "hi"])
    assert e.value.code == 2
    assert "at most 1e+06 seconds" in capsys.readouterr().err


def test_wait_until_available_times_out(client):
    with pytest.raises(ServingTimeoutError, match="not available"):
        client.wait_until_available("nope", timeout=0.3, interval=0.1)
