"""Plot keys -> tables, and tables -> Arrow IPC streams that a pyarrow client reads back as the TSV's
values."""

from __future__ import annotations

import csv

import pyarrow as pa
import pytest

from webapp import ssr_tables


def read_stream(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()


def test_every_api_plot_key_maps_to_its_table():
    assert ssr_tables.source_table("plot_source", True, True, True) == "main/mergedOut.tsv"
    assert ssr_tables.source_table("plot_source", False, False, False) == "intrim/reformatted.tsv"
    assert ssr_tables.source_table("gene_motif_dot_plot", True, True, False) == "main/hssr_data.csv"
    assert (
        ssr_tables.source_table("reference_ssr_distribution", True, True, False) == "main/ssr_genecombo.tsv"
    )
    assert ssr_tables.source_table("pattern_summary", True, False, True) == "main/flanks/pattern_summary.csv"
    assert len(ssr_tables.PLOT_KEYS) == 18
    with pytest.raises(ssr_tables.UnknownPlotKey):
        ssr_tables.source_table("nope", True, True, True)


@pytest.mark.parametrize(
    "key, flags, missing",
    [
        ("hotspot", (True, False, True), "gene_bed"),
        ("flanked_data", (True, True, False), "flanks"),
        ("upset", (False, True, True), "categories_file"),
    ],
)
def test_tables_not_produced_name_the_missing_input(key, flags, missing):
    with pytest.raises(ssr_tables.TableNotProduced, match=missing):
        ssr_tables.source_table(key, *flags)


def write(path, header, rows, sep="\t"):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter=sep, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_arrow_round_trips_values_with_known_types_and_text_kept_verbatim(tmp_path):
    header = [
        "genomeID",
        "start",
        "stop",
        "repeat",
        "motif",
        "GC_per",
        "AT_per",
        "length_of_motif",
        "loci",
        "length_of_ssr",
        "category",
        "lineage",
        "year",
    ]
    rows = [
        [
            f"g{i % 3}",
            str(100 * i),
            str(100 * i + 12),
            "6",
            "AT",
            "0.0",
            "100.0",
            "2",
            "(AT)6",
            "12",
            "NA" if i % 2 else "I",
            "001",
            "undefined" if i == 5 else "2022",
        ]
        for i in range(40)
    ]
    path = write(tmp_path / "mergedOut.tsv", header, rows)
    result = ssr_tables.to_arrow(str(path), "main/mergedOut.tsv")
    table = read_stream(result.data)
    assert table.column_names == header
    assert table.column("start").to_pylist() == [100 * i for i in range(40)]
    assert table.column("GC_per").to_pylist() == [0.0] * 40
    assert table.column("category").to_pylist()[:2] == ["I", "NA"]  # "NA" is text, not null
    assert table.column("lineage").to_pylist()[0] == "001"  # not read as the number 1
    assert table.column("year").to_pylist()[5] == "undefined"
    assert pa.types.is_dictionary(table.schema.field("genomeID").type)  # 3 distinct values in 40 rows
    assert not pa.types.is_dictionary(table.schema.field("start").type)  # all distinct
    assert (result.total_rows, result.rows, result.truncated) == (40, 40, False)


def test_large_tables_are_cut_to_a_preview(tmp_path):
    path = write(
        tmp_path / "hssr_data.csv", ["genomeID", "start1"], [[f"g{i}", str(i)] for i in range(100)], ","
    )
    result = ssr_tables.to_arrow(str(path), "main/hssr_data.csv", max_rows=10)
    assert (result.total_rows, result.rows, result.truncated) == (100, 10, True)
    assert read_stream(result.data).column("start1").to_pylist() == list(range(10))


def test_header_only_table_has_no_rows(tmp_path):
    path = write(tmp_path / "flanked.tsv", ["seqID", "patternName"], [])
    result = ssr_tables.to_arrow(str(path), "main/flanks/flanked.tsv")
    assert result.total_rows == 0
