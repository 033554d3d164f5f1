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

The test tests/lua/test_checkpoint_interop.lua runs it on files written by
ol.save and compares the numbers exactly.
"""
import json
import struct
import sys

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
    return meta, tensors


def main():
    if len(sys.argv) != 2:
        fail("usage: read_safetensors.py FILE")
    meta, tensors = read(sys.argv[1])
    out = []
    for k, v in meta.items():
        out.append("M %s %s" % (k, json.dumps(v)))
    for name, dtype, shape, values in tensors:
        dims = "x".join(str(d) for d in shape) if shape else "scalar"
        out.append("T %s %s %s %s" % (name, dtype, dims, " ".join(repr(v) for v in values)))
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.write("numpy %s\n" % ("yes" if numpy is not None else "no"))


if __name__ == "__main__":
    main()
