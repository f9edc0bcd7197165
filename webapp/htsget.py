"""GA4GH htsget 1.3 ticket computation from a BGZF file and its BAI/TBI/CSI index (no Flask here).

A ticket lists the pieces that, concatenated, form a valid BAM or VCF.gz holding every record that overlaps
the region: the header (inline ``data:`` URI, recompressed), then whole BGZF blocks as byte ranges of the
artifact, with the partial blocks at chunk edges inlined (cut at the record boundary the index names), then
the EOF block. Records of the index's chunks that lie near but outside the region may be included, as the
htsget convention allows; clients filter them.
"""
from __future__ import annotations

import base64
import gzip
import struct
import zlib
from dataclasses import dataclass, field

EOF_BLOCK = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


@dataclass
class RefIndex:
    """One reference's bins (bin -> [(start voffset, end voffset)]) and linear index (BAI/TBI only)."""

    bins: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    linear: list[int] = field(default_factory=list)


@dataclass
class Index:
    """A parsed binning index: its geometry, its reference names (when the index holds them) and refs."""

    min_shift: int
    depth: int
    names: list[str] | None
    refs: list[RefIndex]

    @property
    def pseudo_bin(self) -> int:
        """The metadata bin number, which holds no records."""
        return ((1 << (3 * (self.depth + 1))) - 1) // 7 + 1


def _read_refs(data: bytes, pos: int, n_ref: int, csi: bool) -> tuple[list[RefIndex], int]:
    refs = []
    for _ in range(n_ref):
        ref = RefIndex()
        (n_bin,) = struct.unpack_from("<i", data, pos)
        pos += 4
        for _ in range(n_bin):
            if csi:
                bin_no, _loffset, n_chunk = struct.unpack_from("<IQi", data, pos)
                pos += 16
            else:
                bin_no, n_chunk = struct.unpack_from("<Ii", data, pos)
                pos += 8
            chunks = list(struct.iter_unpack("<QQ", data[pos:pos + 16 * n_chunk]))
            pos += 16 * n_chunk
            ref.bins[bin_no] = chunks
        if not csi:
            (n_intv,) = struct.unpack_from("<i", data, pos)
            pos += 4
            ref.linear = list(struct.unpack_from(f"<{n_intv}Q", data, pos))
            pos += 8 * n_intv
        refs.append(ref)
    return refs, pos


def _tabix_names(data: bytes, pos: int) -> tuple[list[str], int]:
    """The sequence names of a tabix header (format, cols, meta, skip, l_nm, names) starting at ``pos``."""
    (l_nm,) = struct.unpack_from("<i", data, pos + 24)
    names = data[pos + 28:pos + 28 + l_nm].split(b"\0")
    return [name.decode() for name in names if name], pos + 28 + l_nm


def read_index(path: str) -> Index:
    """Parse a BAI, TBI or CSI file."""
    with open(path, "rb") as handle:
        raw = handle.read()
    data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    magic = data[:4]
    if magic == b"BAI\1":
        (n_ref,) = struct.unpack_from("<i", data, 4)
        refs, _ = _read_refs(data, 8, n_ref, csi=False)
        return Index(14, 5, None, refs)
    if magic == b"TBI\1":
        (n_ref,) = struct.unpack_from("<i", data, 4)
        names, pos = _tabix_names(data, 8)
        refs, _ = _read_refs(data, pos, n_ref, csi=False)
        return Index(14, 5, names, refs)
    if magic == b"CSI\1":
        min_shift, depth, l_aux = struct.unpack_from("<iii", data, 4)
        names = _tabix_names(data, 16)[0] if l_aux >= 28 else None
        (n_ref,) = struct.unpack_from("<i", data, 16 + l_aux)
        refs, _ = _read_refs(data, 20 + l_aux, n_ref, csi=True)
        return Index(min_shift, depth, names, refs)
    raise ValueError(f"{path} is not a BAI, TBI or CSI index")


def reg2bins(beg: int, end: int, min_shift: int, depth: int) -> list[int]:
    """Every bin that may hold a record overlapping [beg, end) (0-based, half open), per the SAM spec."""
    end -= 1
    bins, t, s = [], 0, min_shift + depth * 3
    for level in range(depth + 1):
        b, e = t + (beg >> s), t + (end >> s)
        bins.extend(range(b, e + 1))
        s -= 3
        t += 1 << (level * 3)
    return bins


def chunks_for(index: Index, ref_id: int, beg: int | None, end: int | None) -> list[tuple[int, int]]:
    """Merged (start, end) virtual-offset chunks of the records overlapping the region (the whole
    reference when ``beg``/``end`` are None)."""
    if ref_id >= len(index.refs):
        return []
    ref = index.refs[ref_id]
    limit = 1 << (index.min_shift + 3 * index.depth)  # the largest position the index can address
    beg = 0 if beg is None else min(beg, limit)
    end = limit if end is None else min(end, limit)
    if end <= beg:
        return []
    min_off = 0
    if ref.linear:
        slot = min(beg >> index.min_shift, len(ref.linear) - 1)
        min_off = ref.linear[slot]
    chunks = sorted(chunk for bin_no in reg2bins(beg, end, index.min_shift, index.depth)
                    if bin_no != index.pseudo_bin for chunk in ref.bins.get(bin_no, ()) if chunk[1] > min_off)
    merged: list[tuple[int, int]] = []
    for start, stop in chunks:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


def first_record(index: Index) -> int | None:
    """The virtual offset of the first placed record: the end of the header."""
    starts = [start for ref in index.refs for bin_no, chunks in ref.bins.items()
              if bin_no != index.pseudo_bin for start, _stop in chunks]
    return min(starts) if starts else None


def _block(handle, offset: int) -> tuple[int, bytes]:
    """The compressed size and uncompressed bytes of the BGZF block at ``offset``."""
    handle.seek(offset)
    head = handle.read(18)
    (bsize,) = struct.unpack_from("<H", head, 16)
    handle.seek(offset)
    return bsize + 1, gzip.decompress(handle.read(bsize + 1))


def bgzf(payload: bytes) -> bytes:
    """``payload`` as BGZF blocks (each at most 64 KiB uncompressed)."""
    out = bytearray()
    for pos in range(0, len(payload), 0xff00):
        piece = payload[pos:pos + 0xff00]
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = comp.compress(piece) + comp.flush()
        out += struct.pack("<4BI2BH2BHH", 31, 139, 8, 4, 0, 0, 255, 6, 66, 67, 2, len(body) + 25)
        out += body + struct.pack("<II", zlib.crc32(piece), len(piece))
    return bytes(out)


def header_bytes(path: str, header_end: int | None) -> bytes:
    """The uncompressed header: everything before virtual offset ``header_end`` (whole file if None)."""
    out = bytearray()
    with open(path, "rb") as handle:
        offset = 0
        stop = None if header_end is None else header_end >> 16
        while stop is None or offset <= stop:
            handle.seek(offset)
            if len(handle.read(18)) < 18:
                break
            size, payload = _block(handle, offset)
            if stop is not None and offset == stop:
                out += payload[:header_end & 0xffff]
                break
            out += payload
            offset += size
    return bytes(out)


def pieces(path: str, chunks: list[tuple[int, int]]) -> list[tuple[str, object]]:
    """The chunks as ``("range", (first byte, last byte))`` for whole blocks and ``("data", bytes)`` for the
    cut blocks at their edges (already BGZF-compressed)."""
    out: list[tuple[str, object]] = []
    with open(path, "rb") as handle:
        for start, stop in chunks:
            c_beg, u_beg, c_end, u_end = start >> 16, start & 0xffff, stop >> 16, stop & 0xffff
            if c_beg == c_end:
                out.append(("data", bgzf(_block(handle, c_beg)[1][u_beg:u_end])))
                continue
            first = c_beg
            if u_beg:
                size, payload = _block(handle, c_beg)
                out.append(("data", bgzf(payload[u_beg:])))
                first = c_beg + size
            if first < c_end:
                out.append(("range", (first, c_end - 1)))
            if u_end:
                out.append(("data", bgzf(_block(handle, c_end)[1][:u_end])))
    return out


def data_uri(payload: bytes) -> str:
    """An inline ``data:`` URI for ticket bytes."""
    return "data:application/octet-stream;base64," + base64.b64encode(payload).decode()


def ticket_pieces(path: str, index: Index, ref_id: int | None, beg: int | None, end: int | None,
                  header_only: bool = False) -> list[tuple[str, object]]:
    """Every piece of a ticket in order: header, region blocks, EOF. ``ref_id`` None: every placed record."""
    header_end = first_record(index)
    out: list[tuple[str, object]] = [("data", bgzf(header_bytes(path, header_end)))]
    if not header_only and header_end is not None:
        if ref_id is None:
            chunks = [c for rid in range(len(index.refs)) for c in chunks_for(index, rid, None, None)]
        else:
            chunks = chunks_for(index, ref_id, beg, end)
        out += pieces(path, chunks)
    out.append(("data", EOF_BLOCK))
    return out
