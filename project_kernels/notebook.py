"""Read a notebook only as far as a question needs: its first code cell, its metadata.

A notebook with its outputs can weigh hundreds of megabytes, and a kernel start
must not wait for it to be parsed. The file is mapped, not read, and walked as
JSON text: values that are not asked for are skipped by finding where they end
(long strings, base64 images above all, cost one ``find`` each), nothing is
decoded but what is returned, and the walk stops as soon as the answer is known.
The first code cell is usually found within the first kilobytes; the metadata,
which ``nbformat`` writes after the cells, costs one pass over the bytes before it.

Anything that is not a notebook's JSON (a damaged file, another format) reads as None.
"""

from __future__ import annotations

import json
import mmap
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Union

__all__ = ["first_code_cell_source", "notebook_metadata"]

Buffer = Union[bytes, mmap.mmap]

_WS = re.compile(rb"[ \t\r\n]*")
_STRUCTURE = re.compile(rb'[\[\]{}"]')
_SCALAR = re.compile(rb"[-+0-9.eE]+|true|false|null")
_QUOTE, _BACKSLASH = 0x22, 0x5C
_OPEN = frozenset(b"[{")


class NotNotebook(Exception):
    """The bytes are not the JSON of a notebook."""


def first_code_cell_source(path: str | Path) -> str | None:
    """The source of the notebook's first code cell; None when it has none or is no notebook."""
    try:
        with _mapped(path) as data:
            return _first_code_source(_Reader(data))
    except (OSError, ValueError, NotNotebook, IndexError):
        return None


def notebook_metadata(path: str | Path) -> dict[str, Any] | None:
    """The notebook's top-level ``metadata``; None when it has none or is no notebook."""
    try:
        with _mapped(path) as data:
            reader = _Reader(data)
            for key, start in reader.members(reader.skip_ws(reader.start())):
                if key == "metadata":
                    value = json.loads(data[start : reader.value_end(start)])
                    return value if isinstance(value, dict) else None
    except (OSError, ValueError, NotNotebook, IndexError):
        return None
    return None


class _mapped:
    """The file's bytes, mapped read-only (an empty file maps to nothing: ValueError)."""

    def __init__(self, path: str | Path) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed in __exit__

    def __enter__(self) -> mmap.mmap:
        try:
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        except BaseException:
            self._file.close()
            raise
        return self._map

    def __exit__(self, *exc: object) -> None:
        self._map.close()
        self._file.close()


def _first_code_source(reader: _Reader) -> str | None:
    for key, start in reader.members(reader.skip_ws(reader.start())):
        if key != "cells":
            continue
        for cell_start in reader.elements(start):
            cell_type, source = _cell_type_and_source(reader, cell_start)
            if cell_type == "code":
                return source
        return None
    return None


def _cell_type_and_source(reader: _Reader, start: int) -> tuple[str | None, str | None]:
    cell_type: str | None = None
    source: str | None = None
    for key, value_start in reader.members(start):
        if key == "cell_type":
            cell_type = reader.decode(value_start, reader.value_end(value_start))
        elif key == "source":
            raw = reader.decode(value_start, reader.value_end(value_start))
            source = "".join(raw) if isinstance(raw, list) else raw
        if cell_type is not None and source is not None:
            break
        if cell_type not in (None, "code"):
            break  # a markdown or raw cell: its source is not needed
    return cell_type, source if isinstance(source, str) else None


class _Reader:
    """JSON text walked by positions, without building what is skipped."""

    def __init__(self, data: Buffer) -> None:
        self.data = data

    def start(self) -> int:
        return 3 if self.data[:3] == b"\xef\xbb\xbf" else 0

    def skip_ws(self, index: int) -> int:
        match = _WS.match(self.data, index)
        return match.end() if match else index

    def decode(self, start: int, end: int) -> Any:
        return json.loads(self.data[start:end])

    def string_end(self, index: int) -> int:
        """The position after the string that starts (with its quote) at ``index``."""
        data = self.data
        position = index + 1
        while True:
            quote = data.find(b'"', position)
            if quote < 0:
                raise NotNotebook("unterminated string")
            backslash = quote - 1
            while backslash >= position and data[backslash] == _BACKSLASH:
                backslash -= 1
            if (quote - 1 - backslash) % 2 == 0:
                return quote + 1
            position = quote + 1

    def value_end(self, index: int) -> int:
        """The position after the JSON value that starts at ``index``."""
        first = self.data[index]
        if first == _QUOTE:
            return self.string_end(index)
        if first in _OPEN:
            return self.container_end(index)
        match = _SCALAR.match(self.data, index)
        if not match or match.end() == index:
            raise NotNotebook(f"unexpected byte at {index}")
        return match.end()

    def container_end(self, index: int) -> int:
        """The position after the array or object at ``index``: brackets are counted,
        strings jumped over with :meth:`string_end` (a ``find``, whatever their length)."""
        depth = 0
        position = index
        search = _STRUCTURE.search
        while True:
            match = search(self.data, position)
            if match is None:
                raise NotNotebook("unterminated container")
            found = match.start()
            char = self.data[found]
            if char == _QUOTE:
                position = self.string_end(found)
                continue
            depth += 1 if char in _OPEN else -1
            position = found + 1
            if depth == 0:
                return position

    def members(self, index: int) -> Iterator[tuple[str, int]]:
        """``(key, value start)`` of the object at ``index``, in file order.

        A value is skipped only when the next member is asked for: stop iterating
        and nothing after it is looked at.
        """
        data = self.data
        if data[index] != ord("{"):
            raise NotNotebook("not an object")
        position = self.skip_ws(index + 1)
        if data[position] == ord("}"):
            return
        while True:
            if data[position] != _QUOTE:
                raise NotNotebook("not a key")
            key_end = self.string_end(position)
            key = json.loads(data[position:key_end])
            position = self.skip_ws(key_end)
            if data[position] != ord(":"):
                raise NotNotebook("no colon")
            value_start = self.skip_ws(position + 1)
            yield str(key), value_start
            position = self.skip_ws(self.value_end(value_start))
            if data[position] == ord(","):
                position = self.skip_ws(position + 1)
            elif data[position] == ord("}"):
                return
            else:
                raise NotNotebook("no comma")

    def elements(self, index: int) -> Iterator[int]:
        """The start of each element of the array at ``index`` (skipped when the next is asked)."""
        data = self.data
        if data[index] != ord("["):
            raise NotNotebook("not an array")
        position = self.skip_ws(index + 1)
        if data[position] == ord("]"):
            return
        while True:
            yield position
            position = self.skip_ws(self.value_end(position))
            if data[position] == ord(","):
                position = self.skip_ws(position + 1)
            elif data[position] == ord("]"):
                return
            else:
                raise NotNotebook("no comma")
