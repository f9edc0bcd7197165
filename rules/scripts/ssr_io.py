"""Reading and writing the SSR stage tables: plain text, values kept verbatim, published by atomic rename."""

from __future__ import annotations

import csv
import io
import os
from contextlib import contextmanager
from typing import Iterable, Iterator

# pandas' default NA strings: croSSRoad reads the category table with them, and writes what they hit as
# "undefined".
PANDAS_NA = frozenset(
    [
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    ]
)
UNDEFINED = "undefined"


class InputError(ValueError):
    """An input file that the analysis cannot use, with the reason."""


@contextmanager
def publish(path: str, newline: str = "") -> Iterator:
    """Open ``path + '.tmp'`` for writing and rename it into place only when the block succeeds."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", newline=newline, encoding="utf-8") as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_table(path: str, header: list[str], rows: Iterable[Iterable], sep: str = "\t") -> None:
    """Write a header and rows (csv quoting, ``\\n`` line ends) and publish the file atomically."""
    with publish(path) as handle:
        writer = csv.writer(handle, delimiter=sep, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def csv_line(fields: Iterable, sep: str = "\t") -> str:
    """One row exactly as :func:`write_table` writes it (quoting included), without the line end."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=sep, lineterminator="\n").writerow(fields)
    return buffer.getvalue()[:-1]


def iter_table(path: str, sep: str = "\t") -> tuple[list[str], Iterator[list[str]]]:
    """Header and a stream of the rows of a delimited text table, read as :func:`read_table` reads them,
    without holding the rows."""
    with open(path, "rb") as handle:
        quoted = any(b'"' in block or b"\r" in block for block in iter(lambda: handle.read(1 << 24), b""))
    handle = open(path, newline="", encoding="utf-8")
    if quoted:
        reader = csv.reader(handle, delimiter=sep)
        header = next(reader, None)
    else:
        first = handle.readline()
        header = first[:-1].split(sep) if first.endswith("\n") else first.split(sep) if first else None
        reader = (line.rstrip("\n").split(sep) for line in handle if line != "\n")
    if header is None:
        handle.close()
        return [], iter(())

    def rows() -> Iterator[list[str]]:
        with handle:
            yield from (row for row in reader if row)

    return header, rows()


def read_table(path: str, sep: str = "\t") -> tuple[list[str], list[list[str]]]:
    """Header and rows of a delimited text table, every value a string exactly as written."""
    with open(path, newline="", encoding="utf-8") as handle:
        text = handle.read()
    if '"' not in text and "\r" not in text:  # nothing quoted: a plain split reads the same values, faster
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if not lines:
            return [], []
        return lines[0].split(sep), [line.split(sep) for line in lines[1:] if line]
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter=sep)
        header = next(reader, None)
        if header is None:
            return [], []
        return header, [row for row in reader if row]
