"""The HTTP transport of the local server: request bodies in, JSON out.

A `ThreadingHTTPServer` whose handler reads a request body (bounded by
`max_body_bytes`, 411 for chunked uploads, 413 above the limit), passes it
to `RestApi.handle` and writes the JSON answer in one write.

The handler's `timeout` bounds a request twice: no read waits longer than
it, and a request's line, headers and body must all arrive within it of
the request's first byte (408 otherwise), so a client that trickles a byte
now and then cannot hold a thread for longer either.
"""

from __future__ import annotations

import http.server
import io
import json
import logging
import socket
import threading
import time

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024



def encode_json(payload) -> bytes:
    """A JSON answer's bytes: UTF-8, or escaped ASCII when a string in it
    holds a lone surrogate (which UTF-8 cannot encode)."""
    try:
        return json.dumps(payload, allow_nan=True, ensure_ascii=False,
                          indent=None).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(payload, allow_nan=True, indent=None).encode("ascii")

class HttpError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class _DeadlineReader(io.RawIOBase):
    """The socket's reads for the handler's `rfile`: while a request is
    being read, each read waits at most until the request's deadline, and
    past it reads end-of-file and marks the request as expired."""

    def __init__(self, handler):
        super().__init__()
        self._handler = handler
        self._sock = handler.connection

    def readable(self):
        return True

    def readinto(self, buffer):
        handler = self._handler
        deadline = handler.deadline
        if deadline is not None:
            # At most until the deadline (never more than `timeout`, which it
            # is from the first byte); past it, a non-blocking read, so that
            # bytes that arrived in time but are read late still count.
            self._sock.settimeout(max(deadline - time.monotonic(), 0.0))
            try:
                return self._sock.recv_into(buffer)
            except (BlockingIOError, TimeoutError):
                handler.expired = True
                return 0
        return self._sock.recv_into(buffer)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "RNNZooModelServer/0.1"
    # Small JSON answers: send them at once (TCP_NODELAY) rather than letting
    # Nagle's algorithm hold the last segment back.
    disable_nagle_algorithm = True
    deadline = None   # time.monotonic() by which the request must be read
    expired = False   # the deadline passed while reading it

    def setup(self):
        super().setup()
        self.rfile.close()   # the stdlib's reader, replaced by one that
        self.rfile = io.BufferedReader(_DeadlineReader(self))  # has deadlines

    def _end_deadline(self):
        """The request is read (or being answered): reads and writes wait
        the plain `timeout` again."""
        if self.deadline is not None:
            self.deadline = None
            self.connection.settimeout(self.timeout)

    def _too_slow(self):
        self.close_connection = True
        return HttpError(408, f"Request not received within {self.timeout} s "
                              f"of its first byte")

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise HttpError(411, "Chunked request bodies are not supported; "
                                  "send a Content-Length")
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
            if length < 0:
                raise ValueError(raw)
        except ValueError:
            raise HttpError(400, f"Invalid Content-Length: {raw!r}") from None
        limit = self.server.max_body_bytes
        if length > limit:
            self._drain(length)
            raise HttpError(
                413, f"Request body of {length} bytes exceeds the limit of "
                     f"{limit} bytes")
        try:
            body = self.rfile.read(length)
        except OSError as e:
            # The connection failed mid-body (a reset): the deadline reader
            # turns slowness into `expired`, so only a broken socket is left.
            self.close_connection = True
            raise HttpError(400, f"Connection failed while reading the "
                                 f"request body (Content-Length: {length}): "
                                 f"{e}") from None
        if self.expired:
            raise self._too_slow()
        if len(body) != length:
            self.close_connection = True
            raise HttpError(400, f"Request body shorter than Content-Length: "
                                 f"received {len(body)} of {length} bytes")
        return body

    def _drain(self, length):
        # Read (and drop) a modest oversized body so the client gets the 413
        # instead of a connection reset; give up on huge ones.
        self.close_connection = True
        if length > 4 * self.server.max_body_bytes + (1 << 20):
            return
        remaining = length
        try:
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 16))
                if not chunk:
                    break
                remaining -= len(chunk)
        except OSError:
            pass

    def _dispatch(self):
        method = self.command
        try:
            try:
                body = self._read_body()
            finally:
                self._end_deadline()
            status, payload = self.server.api.handle(method, self.path, body)
        except HttpError as e:
            # The body was not (all) read: the connection cannot be reused.
            self.close_connection = True
            status, payload = e.status, {"error": e.message}
        except Exception as e:  # noqa: BLE001
            logger.exception("Error while handling %s %s", method, self.path)
            status, payload = 500, {"error": f"Internal error: {e}"}
        self._send_json(status, payload)

    def _send_json(self, status, payload, close=False):
        """Sends one answer. The connection stays open (HTTP/1.1
        keep-alive) unless the client asked to close it, spoke HTTP/1.0, or
        the request could not be read to its end."""
        content_type = getattr(payload, "content_type", None)
        if content_type is not None:        # rest.RawBody (metrics page)
            data = payload.data
        else:
            content_type = "application/json"
            data = encode_json(payload)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if close or self.close_connection or self.server.stopping:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Connection", "keep-alive")
        # Headers and body leave in one write (one segment for small answers).
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(data)
        self.flush_headers()

    def handle_one_request(self):
        # idle until a request line arrives: a stop may end the wait
        self.server.set_idle(self.connection, True)
        self.expired = False
        try:
            # The first byte (or one already buffered) starts the deadline.
            if not self.rfile.peek(1):
                self.close_connection = True
                return
        except (TimeoutError, OSError):
            self.close_connection = True
            return
        # A request has begun: a stop lets it finish (its deadline bounds it).
        self.server.set_idle(self.connection, False)
        if self.timeout is not None:
            self.deadline = time.monotonic() + self.timeout
        try:
            super().handle_one_request()
        finally:
            self._end_deadline()

    def parse_request(self):
        self.server.set_idle(self.connection, False)
        # The request line, then the headers, may be cut short by the
        # deadline: answer 408 rather than a syntax error.
        if not self.expired:
            if not super().parse_request():
                return False          # answered (400, 414, ...)
            if self.request_version == "HTTP/0.9":   # `GET /path` alone
                self.send_error(400, "HTTP/0.9 requests are not supported; "
                                     "send HTTP/1.0 or HTTP/1.1")
                return False
            if not self.expired:
                return True
        else:                         # what parse_request would have set
            self.command = None
            self.requestline = str(self.raw_requestline,
                                   "iso-8859-1").rstrip("\r\n")
        e = self._too_slow()
        self.send_error(e.status, e.message)
        return False

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = \
        do_OPTIONS = _dispatch

    def send_error(self, code, message=None, explain=None):
        # Malformed HTTP (bad request line, oversized headers, ...): JSON too.
        self._end_deadline()
        if not str(getattr(self, "request_version", "")).startswith("HTTP/1."):
            self.request_version = "HTTP/1.0"  # always send a status line
        try:
            self._send_json(code, {"error": message or self.responses.get(
                code, ("Error",))[0]}, close=True)
        except OSError:
            pass

    def log_message(self, fmt, *args):
        logger.debug("%s - " + fmt, self.address_string(), *args)


class ThreadingServer(http.server.ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # stop() waits for in-flight requests
    allow_reuse_address = True
    # socketserver's default backlog of 5 resets connections as soon as a
    # few more clients connect at once than threads accept them.
    request_queue_size = 1024
    stopping = False  # set by close_connections: answers close the connection

    def __init__(self, server_address, *args, **kwargs):
        self._idle = set()  # connections waiting for their next request
        self._idle_lock = threading.Lock()
        if ":" in str(server_address[0]):   # an IPv6 address, e.g. ::1
            self.address_family = socket.AF_INET6
        super().__init__(server_address, *args, **kwargs)

    def set_idle(self, sock, idle):
        """Marks a connection as waiting for a request line (or not). One
        that starts waiting after a stop began reads end-of-file at once."""
        with self._idle_lock:
            if not idle:
                self._idle.discard(sock)
            elif self.stopping:
                _end_reading(sock)
            else:
                self._idle.add(sock)

    def shutdown_request(self, request):
        with self._idle_lock:
            self._idle.discard(request)
        super().shutdown_request(request)

    def close_connections(self):
        """For a stop: a keep-alive connection waiting for its next request
        reads end-of-file now, so that `server_close`, which waits for every
        connection's thread, does not wait on an idle client; a request
        being read or answered finishes, and its answer says
        `Connection: close`."""
        with self._idle_lock:
            self.stopping = True
            for sock in self._idle:
                _end_reading(sock)
            self._idle.clear()


def _end_reading(sock):
    try:
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass
