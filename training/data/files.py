"""Small file helpers: strict text reading, fingerprints, atomic writes."""

from __future__ import annotations

import hashlib

from training.atomic import atomic_write_text  # noqa: F401  (re-exported)
from training.data.errors import DataError


def read_bytes(path) -> bytes:
    """Reads a whole file, turning OS errors into `DataError`.

    Args:
        path: file to read.

    Returns:
        The file's bytes.
    """
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise DataError("file does not exist", path=path) from None
    except IsADirectoryError:
        raise DataError("expected a file, got a directory", path=path) from None
    except OSError as e:
        raise DataError(f"cannot read file ({e.strerror})", path=path) from None


def file_sha256(path) -> str:
    """`"sha256:..."` of a file's bytes (`read_bytes`' errors)."""
    return "sha256:" + hashlib.sha256(read_bytes(path)).hexdigest()


def decode_utf8(raw: bytes, path, *, allow_empty: bool = False) -> str:
    """Decodes UTF-8 (an optional BOM is dropped) strictly.

    Args:
        raw: the bytes read from `path`.
        path: the file they came from, for error messages.
        allow_empty: if `False` (default), an empty or whitespace-only file
            raises `DataError`.

    Returns:
        The decoded text.

    Raises:
        DataError: naming the file, the line and the byte offset of the
            first invalid byte sequence, or saying the file is empty.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"not valid UTF-8 at byte offset {e.start} "
            f"(byte 0x{raw[e.start]:02x}: {e.reason}); "
            "re-encode the file as UTF-8",
            path=path,
            line=line,
        ) from None
    if not allow_empty and not text.strip():
        raise DataError("file is empty", path=path)
    return text


def read_text(path, *, allow_empty: bool = False) -> tuple[str, bytes]:
    """Reads a UTF-8 text file strictly; returns `(text, raw_bytes)`."""
    raw = read_bytes(path)
    return decode_utf8(raw, path, allow_empty=allow_empty), raw


class Fingerprint:
    """Incremental sha256 over what a loader read (names and contents)."""

    def __init__(self, kind: str):
        self._h = hashlib.sha256()
        self.update_str(kind)

    def update_str(self, s: str) -> None:
        b = s.encode("utf-8")
        self._h.update(len(b).to_bytes(8, "little"))
        self._h.update(b)

    def update_bytes(self, name: str, data: bytes) -> None:
        self.update_str(name)
        self._h.update(len(data).to_bytes(8, "little"))
        self._h.update(data)

    def hexdigest(self) -> str:
        return "sha256:" + self._h.hexdigest()
