"""SSR plot data: which result table each croSSRoad plot key reads, and that table as an Arrow IPC stream.

Pure functions (no Flask). Tables are read with pyarrow's CSV reader and explicit column types: the known SSR
columns get their numeric types, every other column stays text (so "001" or "NA" come back exactly as
written). Low-cardinality columns -- text and the few-valued numeric ones such as GC_per -- are dictionary-
encoded with the smallest index type: Arrow JS reads no compressed IPC, so size has to come from the types."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

MERGED = "main/mergedOut.tsv"
REFORMATTED = "intrim/reformatted.tsv"
GENECOMBO = "main/ssr_genecombo.tsv"
HOTSPOT = "main/mutational_hotspot.csv"
HSSR = "main/hssr_data.csv"
FLANKED = "main/flanks/flanked.tsv"
PATTERNS = "main/flanks/pattern_summary.csv"

# plot key -> source table (relative to the analysis' output/), per docs/api.md
PLOT_KEYS: dict[str, str] = {
    "plot_source": MERGED,  # falls back to reformatted.tsv without a category table
    "hotspot": HOTSPOT,
    "hssr_data": HSSR,
    "ssr_gene_intersect": GENECOMBO,
    "reference_ssr_distribution": GENECOMBO,
    "flanked_data": FLANKED,
    "pattern_summary": PATTERNS,
    **{
        key: MERGED
        for key in (
            "category_sankey",
            "ssr_gc",
            "ssr_conservation",
            "motif_conservation",
            "relative_abundance",
            "repeat_distribution",
            "upset",
            "motif_distribution",
        )
    },
    **{key: HSSR for key in ("gene_country_sankey", "temporal_faceted_scatter", "gene_motif_dot_plot")},
}

_INT32 = pa.int32()
_INT64 = pa.int64()
_FLOAT = pa.float64()
# Known columns and their Arrow types; anything else is read as text.
COLUMN_TYPES: dict[str, pa.DataType] = {
    "start": _INT64,
    "stop": _INT64,
    "start1": _INT64,
    "end1": _INT64,
    "start2": _INT64,
    "end2": _INT64,
    "repeat": _INT32,
    "GC_per": _FLOAT,
    "AT_per": _FLOAT,
    "length_of_motif": _INT32,
    "length_of_ssr": _INT32,
    "length_genome": _INT64,
    "N_count": _INT64,
    "genome_GC_per": _FLOAT,
    "repeat_count": _INT32,
    "genomeID_count": _INT32,
    "end": _INT64,
    "TotalSeqIDs": _INT32,
    "PatternSize": _INT32,
}
# Columns that are text even where their values look numeric.
TEXT_COLUMNS = {
    "genomeID",
    "genomeID2",
    "motif",
    "loci",
    "gene",
    "ssr_position",
    "category",
    "year",
    "seqID",
    "patternName",
    "pattern",
    "strand",
    "matched",
    "PatternName",
    "Pattern",
}
# in the grouped hotspot tables, the SSR columns hold ": "-joined lists of values, so they are text there
_JOINED_TABLES = {HOTSPOT}
_JOINED_COLUMNS = {"loci", "length_of_ssr", "length_of_motif"}


class UnknownPlotKey(KeyError):
    """A plot key croSSRoad does not define."""


class TableNotProduced(LookupError):
    """A plot key whose table this analysis did not produce; the message names the missing input."""


@dataclass(frozen=True)
class ArrowTable:
    """A table's Arrow IPC stream and its size facts (for the truncation headers)."""

    data: bytes
    total_rows: int
    rows: int
    source_bytes: int

    @property
    def truncated(self) -> bool:
        return self.rows < self.total_rows


def source_table(plot_key: str, has_categories: bool, has_gene_bed: bool, flanks: bool) -> str:
    """The table (relative to output/) behind a plot key for an analysis with these inputs."""
    if plot_key not in PLOT_KEYS:
        raise UnknownPlotKey(plot_key)
    table = PLOT_KEYS[plot_key]
    if plot_key == "plot_source" and not has_categories:
        return REFORMATTED
    if table == MERGED and not has_categories:
        raise TableNotProduced(
            f"{plot_key} needs mergedOut.tsv, which is only built with a categories_file; "
            "this analysis had none"
        )
    if table in (GENECOMBO, HOTSPOT, HSSR) and not has_gene_bed:
        raise TableNotProduced(
            f"{plot_key} needs {table.rsplit('/', 1)[-1]}, which is only built with a gene_bed; "
            "this analysis had none"
        )
    if table in (FLANKED, PATTERNS) and not flanks:
        raise TableNotProduced(
            f"{plot_key} needs {table.rsplit('/', 1)[-1]}, which is only built with flanks "
            "enabled; this analysis ran without flanks"
        )
    return table


def delimiter(table: str) -> str:
    """The field separator of a result table, from its name."""
    return "," if table.endswith(".csv") else "\t"


def _header(path: str, sep: str) -> list[str]:
    with open(path, "rb") as handle:
        first = handle.readline()
    if not first.strip():
        return []
    reader = pacsv.read_csv(
        io.BytesIO(first),
        parse_options=pacsv.ParseOptions(delimiter=sep),
        read_options=pacsv.ReadOptions(autogenerate_column_names=True),
        convert_options=pacsv.ConvertOptions(column_types={}, strings_can_be_null=False),
    )
    return [reader.column(i)[0].as_py() for i in range(reader.num_columns)]


def column_types(table: str, columns: list[str]) -> dict[str, pa.DataType]:
    """The explicit type of every column of a result table."""
    types = {}
    for name in columns:
        if table in _JOINED_TABLES and name in _JOINED_COLUMNS:
            types[name] = pa.string()
        else:
            types[name] = COLUMN_TYPES.get(name, pa.string())
    return types


def read_table(path: str, table: str) -> pa.Table:
    """A result table with explicit column types; text stays text exactly as written (no null inference)."""
    sep = delimiter(table)
    columns = _header(path, sep)
    if not columns:
        return pa.table({})
    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=16 << 20),
        parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(
            column_types=column_types(table, columns),
            null_values=[""],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _index_type(size: int) -> pa.DataType:
    return pa.int8() if size <= 127 else pa.int16() if size <= 32767 else pa.int32()


def compact(table: pa.Table, max_dictionary_fraction: float = 0.5) -> pa.Table:
    """Store 64-bit integers that fit in 32 bits as such, and dictionary-encode every column whose distinct
    values are at most this fraction of its rows (and not all distinct), with the smallest index type."""
    if table.num_rows == 0:
        return table
    arrays, fields = [], []
    for field, column in zip(table.schema, table.columns):
        if pa.types.is_int64(field.type) and column.null_count < len(column):
            low, high = pc.min_max(column).values()
            if -(2**31) <= low.as_py() and high.as_py() < 2**31:  # same values, half the bytes
                column = column.cast(pa.int32())
                field = pa.field(field.name, pa.int32())
        if (
            pa.types.is_string(field.type)
            or pa.types.is_integer(field.type)
            or pa.types.is_floating(field.type)
        ):
            distinct = pc.count_distinct(column).as_py()
            if distinct < table.num_rows and distinct <= max(1, table.num_rows * max_dictionary_fraction):
                encoded = column.combine_chunks().dictionary_encode()
                target = pa.dictionary(_index_type(len(encoded.dictionary)), field.type)
                column = pa.chunked_array([encoded.cast(target)])
                field = pa.field(field.name, target)
        arrays.append(column)
        fields.append(field)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def to_arrow(path: str, table: str, max_rows: int | None = None) -> ArrowTable:
    """The Arrow IPC stream of a result table (the first ``max_rows`` rows when it holds more)."""
    import os

    data = read_table(path, table)
    total = data.num_rows
    if max_rows is not None and total > max_rows:
        data = data.slice(0, max_rows)
    data = compact(data)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, data.schema) as writer:
        writer.write_table(data, max_chunksize=1 << 20)
    return ArrowTable(sink.getvalue().to_pybytes(), total, data.num_rows, os.path.getsize(path))
