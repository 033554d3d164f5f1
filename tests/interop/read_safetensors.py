#!/usr/bin/env python3
"""An independent safetensors reader, written from the format specification
(huggingface/safetensors, README "Format") with Python's standard library,
and numpy when it is installed. It shares no code with optlua.

    read_safetensors.py FILE

prints one line per metadata entry and per tensor, in header order:

    M <key> <value as a JSON string>
    T <name> <dtype> <shape as 2x3, or "scalar"> <values, repr, row-major>

and exits non-zero, with the reason on stderr, if the file breaks the
format: the header length runs past the file, the header is not a JSON
object, a dtype is unknown, data_offsets do not match dtype and shape, or
the tensors do not tile the data buffer exactly (no holes, no overlap).

When the metadata hold optlua's checksums (optlua.crc32, a JSON object of
each tensor's CRC-32 in 8 hex digits, and optlua.crc32.header, the CRC-32
of the header's content, as engine/io/checkpoint.h defines it), it checks
them with zlib.crc32 and prints the line "checksums verified"; without
them, "checksums absent". A checksum that does not match is an error.

The test tests/lua/test_checkpoint_interop.lua runs it on files written by
ol.save and compares the numbers exactly.
"""
import json
import struct
import sys
import zlib

try:
    import numpy
except ImportError:  # the standard library is enough
    numpy = None

SIZES = {"F32": 4, "F64": 8, "F16": 2, "BF16": 2, "I64": 8, "I32": 4,
         "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
STRUCT = {"F32": "f", "F64": "d"}


def fail(msg):
    sys.stderr.write("read_safetensors: %s\n" % msg)
    sys.exit(1)


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        fail("%s: shorter than the 8-byte header length" % path)
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        fail("%s: header length %d runs past the file" % (path, n))
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except ValueError as e:
        fail("%s: header is not JSON: %s" % (path, e))
    if not isinstance(header, dict):
        fail("%s: header is not a JSON object" % path)
    buf = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    spans = []
    tensors = []
    for name, e in header.items():
        dtype, shape = e["dtype"], e["shape"]
        begin, end = e["data_offsets"]
        if dtype not in STRUCT:
            fail("%s: %s: dtype %s not handled here" % (path, name, dtype))
        count = 1
        for d in shape:
            count *= d
        if end - begin != count * SIZES[dtype] or end > len(buf) or begin < 0:
            fail("%s: %s: data_offsets [%d, %d] do not fit %s %s" % (path, name, begin, end, dtype, shape))
        raw = buf[begin:end]
        if numpy is not None:
            arr = numpy.frombuffer(raw, dtype="<f4" if dtype == "F32" else "<f8")
            values = [float(v) for v in arr.reshape(shape).ravel()]
        else:
            values = list(struct.unpack("<%d%s" % (count, STRUCT[dtype]), raw))
        spans.append((begin, end))
        tensors.append((name, dtype, shape, values))
    at = 0
    for begin, end in sorted(spans):
        if begin != at:
            fail("%s: the tensors do not tile the data (at byte %d)" % (path, at))
        at = end
    if at != len(buf):
        fail("%s: %d bytes after the last tensor" % (path, len(buf) - at))
    return meta, tensors, check_sums(path, header, meta, buf)


def check_sums(path, header, meta, buf):
    """True when the checksums are present and match; False when absent."""
    if "optlua.crc32" not in meta and "optlua.crc32.header" not in meta:
        return False
    if "optlua.crc32" not in meta or "optlua.crc32.header" not in meta:
        fail("%s: only one of the two checksum keys" % path)
    crcs = json.loads(meta["optlua.crc32"])
    if sorted(crcs) != sorted(header):
        fail("%s: checksums for %s, tensors %s" % (path, sorted(crcs), sorted(header)))
    for name, e in header.items():
        begin, end = e["data_offsets"]
        if crcs[name] != "%08x" % zlib.crc32(buf[begin:end]):
            fail("%s: %s: the data do not match the checksum" % (path, name))
    # The header's content: tensors sorted by name, then the metadata but
    # the header checksum, sorted by key; names and values UTF-8.
    content = b""
    for name in sorted(header, key=lambda n: n.encode("utf-8")):
        e = header[name]
        content += b"T" + name.encode("utf-8") + b"\0" + e["dtype"].encode() + b"\0"
        content += b"".join(b"%d," % d for d in e["shape"]) + b"\0"
        content += b"%d\0%d\0" % tuple(e["data_offsets"])
    for key in sorted((k for k in meta if k != "optlua.crc32.header"), key=lambda k: k.encode("utf-8")):
        content += b"M" + key.encode("utf-8") + b"\0" + meta[key].encode("utf-8") + b"\0"
    if meta["optlua.crc32.header"] != "%08x" % zlib.crc32(content):
        fail("%s: the header does not match its checksum" % path)
    return True


def main():
    if len(sys.argv) != 2:
        fail("usage: read_safetensors.py FILE")
    meta, tensors, verified = read(sys.argv[1])
    out = []
    for k, v in meta.items():
        out.append("M %s %s" % (k, json.dumps(v)))
    for name, dtype, shape, values in tensors:
        dims = "x".join(str(d) for d in shape) if shape else "scalar"
        out.append("T %s %s %s %s" % (name, dtype, dims, " ".join(repr(v) for v in values)))
    out.append("checksums verified" if verified else "checksums absent")
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.write("numpy %s\n" % ("yes" if numpy is not None else "no"))


if __name__ == "__main__":
    main()
