"""The one exception type raised for bad data sources."""

from __future__ import annotations

import os


class DataError(ValueError):
    """Raised when a data source is missing, unreadable or malformed.

    The message always names the offending file (and line, when one is
    known) so that the user can fix the input. The same information is
    available as attributes.

    Args:
        message: what is wrong.
        path: the file or directory concerned, if any. Defaults to `None`.
        line: the 1-based line number concerned, if any. Defaults to `None`.

    Example:

    ```python
    try:
        data = load_text_classification("reviews.csv")
    except DataError as e:
        print(e.path, e.line, e)
    ```
    """

    def __init__(self, message: str, *, path=None, line: int | None = None):
        self.path = os.fspath(path) if path is not None else None
        self.line = line
        self.reason = message
        if self.path is not None and line is not None:
            full = f"{self.path}, line {line}: {message}"
        elif self.path is not None:
            full = f"{self.path}: {message}"
        else:
            full = message
        super().__init__(full)
