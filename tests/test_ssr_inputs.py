"""The FASTA check of SSR uploads (webapp/ssr_inputs.fasta_ids) reads blocks and looks only at header lines.

Its contract is the plain line-by-line reading written out below (:func:`by_lines`): the same ids, or the same
refusal naming the same line, for any file and wherever the block boundaries fall.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pysam
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from webapp.ssr_inputs import InputInvalid, fasta_ids

from conftest import CROSSROAD, REPO

SAMPLE_FASTA = REPO / "webapp" / "samples" / "ssr" / "mpox4.fa"


def by_lines(path: str) -> list[str]:
    """The rule, one line at a time: every line starting with '>' is a header whose rest is one word, not seen
    before; nothing but blank lines before the first header; at least one header."""
    ids: list[str] = []
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.startswith(b">"):
                header = line[1:].rstrip(b"\r\n")
                words = header.split()
                if not words:
                    raise InputInvalid(f"fasta_file line {number}: a header without a record id")
                if len(words) > 1 or header != words[0]:
                    raise InputInvalid(f"fasta_file line {number}: the header "
                                       f"{header[:60].decode('utf-8', 'replace')!r} holds spaces; record ids must "
                                       "be single words")
                seq_id = words[0].decode("utf-8", "replace")
                if seq_id in ids:
                    raise InputInvalid(f"fasta_file line {number}: duplicate record id {seq_id!r}")
                ids.append(seq_id)
            elif not ids and line.strip():
                raise InputInvalid("fasta_file is not FASTA: it must start with a '>' header line")
    if not ids:
        raise InputInvalid("fasta_file is not FASTA: no '>' record in it")
    return ids


def outcome(read, path: str, **kwargs) -> tuple[str, object]:
    try:
        return "ids", read(path, **kwargs)
    except InputInvalid as error:
        return "refused", str(error)


LINES = st.sampled_from([
    b">g1", b">g2", b">genome_3", b">g1 description", b">", b"> ", b">\tx", b">x\r", b"", b"  ", b"\r",
    b"ACGTACGTAC", b"NNNNacgt", b"ACGT>ACGT", b"A" * 70, b"#comment",
])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(LINES, max_size=14), ending=st.sampled_from([b"\n", b"\r\n"]), last=st.booleans(),
       block=st.sampled_from([1, 2, 3, 5, 8, 64, 1 << 24]))
@example(lines=[b">g1", b"ACGT>ACGT"], ending=b"\n", last=True, block=1)  # a '>' inside a line, at a block start
@example(lines=[b">g1", b"ACGT", b">genome_3"], ending=b"\r\n", last=False, block=8)  # a header cut by a block end
@example(lines=[b"", b"  ", b">g1", b"ACGT", b">g1"], ending=b"\n", last=True, block=3)  # a repeat, line 5
def test_block_reading_agrees_with_the_line_rule(tmp_path, lines, ending, last, block):
    path = tmp_path / "in.fa"
    path.write_bytes(ending.join(lines) + (ending if last and lines else b""))
    assert outcome(fasta_ids, str(path), block=block) == outcome(by_lines, str(path))


@pytest.fixture(scope="module")
def real_fastas(tmp_path_factory) -> list[Path]:
    """The shared croSSRoad sample and the packaged SSR sample, each also rewrapped by seqkit to one line per
    record and to 13 bases per line (block boundaries then fall everywhere in the sequence lines)."""
    folder = tmp_path_factory.mktemp("fastas")
    made = []
    for source in (CROSSROAD / "1small.fa", SAMPLE_FASTA):
        made.append(source)
        for width in (0, 13):
            out = folder / f"{source.stem}.w{width}.fa"
            subprocess.run(["seqkit", "seq", "-w", str(width), "-o", str(out), str(source)], check=True)
            made.append(out)
    return made


@pytest.mark.parametrize("block", [7, 4096, 1 << 24])
def test_real_fastas_give_the_ids_pysam_reads(real_fastas, block):
    for path in real_fastas:
        with pysam.FastxFile(str(path)) as reader:
            expected = [record.name for record in reader]
        assert len(expected) == len(set(expected)) >= 4, path
        assert fasta_ids(str(path), block=block) == expected, path
