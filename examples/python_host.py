#!/usr/bin/env python3
"""python_host.py - a kvplug host in pure Python (ctypes, no numpy).

Loads libkvplug.so, negotiates ABI 1.x through kvp_plugin_negotiate_v1,
creates an engine (embedded server by default), and round-trips a plain
object and a bf16 tensor split over TP ranks, checking each shard against a
slice computed here element by element.

Usage: python_host.py [PLUGIN.so] [--config STR]
Plugin: argument, else $KVPLUG_PLUGIN, else ../lib/libkvplug.so next to
this script's build tree. Exit status 0 only if every check passed.
"""
import ctypes as C
import os
import struct
import sys

KVP_OK, KVP_PARTIAL = 0, 1
KVP_ERR_EXISTS, KVP_ERR_TP_MISMATCH = -3, -12
KVP_PUT_OVERWRITE = 1
HDR = 304
MAGIC = 0x4D4F4F4E
DTYPE_BF16 = 12

LOG_FN = C.CFUNCTYPE(None, C.c_void_p, C.c_int32, C.c_char_p)


class HostApi(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("flags", C.c_uint32),
                ("log", LOG_FN), ("log_user", C.c_void_p)]


class PutOpts(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("flags", C.c_uint32)]


E = C.c_void_p  # struct kvp_engine *
F = C.CFUNCTYPE
OPS_FIELDS = [
    ("struct_size", C.c_uint32), ("abi_major", C.c_uint16),
    ("abi_minor", C.c_uint16), ("caps", C.c_uint64),
    ("name", C.c_char_p), ("version", C.c_char_p),
    ("status_str", F(C.c_char_p, C.c_int32)),
    ("engine_create", F(C.c_int32, C.c_char_p, C.POINTER(HostApi),
                        C.POINTER(E))),
    ("engine_destroy", F(C.c_int32, E)),
    ("register_buffer", F(C.c_int32, E, C.c_void_p, C.c_uint64)),
    ("unregister_buffer", F(C.c_int32, E, C.c_void_p)),
    ("put_from", F(C.c_int32, E, C.c_char_p, C.c_void_p, C.c_uint64,
                   C.POINTER(PutOpts))),
    ("batch_put_from", F(C.c_int32, E, C.c_uint32, C.POINTER(C.c_char_p),
                         C.POINTER(C.c_void_p), C.POINTER(C.c_uint64),
                         C.POINTER(PutOpts), C.POINTER(C.c_int32))),
    ("get_into", F(C.c_int64, E, C.c_char_p, C.c_void_p, C.c_uint64)),
    ("batch_get_into", F(C.c_int32, E, C.c_uint32, C.POINTER(C.c_char_p),
                         C.POINTER(C.c_void_p), C.POINTER(C.c_uint64),
                         C.POINTER(C.c_int64))),
    ("put_tensor_with_tp_from", F(C.c_int32, E, C.c_char_p, C.c_void_p,
                                  C.c_uint64, C.c_int32, C.c_int32,
                                  C.c_int32, C.POINTER(PutOpts))),
    ("batch_put_tensor_with_tp_from", C.c_void_p),
    ("get_tensor_with_tp_into", F(C.c_int64, E, C.c_char_p, C.c_void_p,
                                  C.c_uint64, C.c_int32, C.c_int32)),
    ("batch_get_tensor_with_tp_into", C.c_void_p),
    ("exists", F(C.c_int32, E, C.c_char_p)),
    ("stat", F(C.c_int64, E, C.c_char_p)),
    ("remove", F(C.c_int32, E, C.c_char_p)),
]


class Ops(C.Structure):
    _fields_ = OPS_FIELDS


class Negotiate(C.Structure):
    _fields_ = [("struct_size", C.c_uint32),
                ("host_abi_major", C.c_uint16),
                ("host_abi_minor", C.c_uint16),
                ("host", C.POINTER(HostApi)),
                ("plugin_abi_major", C.c_uint16),
                ("plugin_abi_minor", C.c_uint16),
                ("abi_minor", C.c_uint16), ("reserved", C.c_uint16),
                ("ops", C.POINTER(Ops))]


def tensor(shape, seed):
    """A FULL bf16 tensor object v1: header bytes, then a payload."""
    numel = 1
    for d in shape:
        numel *= d
    nbytes = numel * 2
    dims = list(shape) + [-1] * (8 - len(shape))
    hdr = struct.pack("<IHHiiIIQQ8q8qII", MAGIC, 1, HDR, DTYPE_BF16,
                      len(shape), 0, 0, HDR, nbytes, *dims, *dims, 0, 0)
    hdr += bytes(HDR - len(hdr))
    payload = bytes((seed * 31 + i * 7 + (i >> 8)) & 0xFF
                    for i in range(nbytes))
    return hdr + payload


def ref_shard(obj, shape, d, tp, rank):
    """Payload of shard `rank`, walking every element (2-byte bf16)."""
    local = list(shape)
    local[d] //= tp
    out = bytearray()
    numel = 1
    for v in local:
        numel *= v
    src = obj[HDR:]
    for e in range(numel):
        idx, rem = [0] * len(shape), e
        for i in range(len(shape) - 1, -1, -1):
            idx[i], rem = rem % local[i], rem // local[i]
        lin = 0
        for i in range(len(shape)):
            lin = lin * shape[i] + idx[i] + (rank * local[d] if i == d else 0)
        out += src[2 * lin:2 * lin + 2]
    return bytes(out)


def main():
    args = sys.argv[1:]
    config = b"pool_size=64MiB"
    if "--config" in args:
        i = args.index("--config")
        config = args[i + 1].encode()
        del args[i:i + 2]
    here = os.path.dirname(os.path.abspath(__file__))
    path = (args[0] if args else os.environ.get("KVPLUG_PLUGIN") or
            os.path.join(here, "..", "build", "lib", "libkvplug.so"))
    lib = C.CDLL(path, mode=os.RTLD_NOW | os.RTLD_LOCAL)

    @LOG_FN
    def log(user, level, msg):
        if level <= 1:
            print("[kvplug %d] %s" % (level, msg.decode()), file=sys.stderr)

    host = HostApi(C.sizeof(HostApi), 0, log, None)
    neg = Negotiate(struct_size=C.sizeof(Negotiate), host_abi_major=1,
                    host_abi_minor=0, host=C.pointer(host))
    entry = lib.kvp_plugin_negotiate_v1
    entry.restype = C.c_int32
    entry.argtypes = [C.POINTER(Negotiate)]
    st = entry(C.byref(neg))
    if st != KVP_OK:
        print("negotiate failed: %d" % st)
        return 1
    ops = neg.ops.contents
    print("plugin %s %s, ABI %d.%d" % (ops.name.decode(),
                                      ops.version.decode(),
                                      neg.plugin_abi_major, neg.abi_minor))
    eng = E()
    st = ops.engine_create(config, C.pointer(host), C.byref(eng))
    if st != KVP_OK:
        print("engine_create: " + ops.status_str(st).decode())
        return 1
    failures = 0

    def check(what, ok):
        nonlocal failures
        print("%-44s %s" % (what, "ok" if ok else "FAIL"))
        failures += not ok

    size = 4 << 20
    buf = C.create_string_buffer(size)
    base = C.addressof(buf)
    check("register_buffer", ops.register_buffer(eng, base, size) == KVP_OK)

    data = bytes(range(256)) * 16
    C.memmove(base, data, len(data))
    check("put_from", ops.put_from(eng, b"py/plain", base, len(data),
                                   None) == KVP_OK)
    check("put_from again -> EXISTS",
          ops.put_from(eng, b"py/plain", base, 10, None) == KVP_ERR_EXISTS)
    out = base + (2 << 20)
    n = ops.get_into(eng, b"py/plain", out, 1 << 20)
    check("get_into", n == len(data) and C.string_at(out, n) == data)
    check("stat / exists", ops.stat(eng, b"py/plain") == len(data) and
          ops.exists(eng, b"py/plain") == 1)

    shape, d, tp = (2, 2, 4, 8, 16), 2, 4  # layers, 2, heads, tokens, dim
    obj = tensor(shape, 5)
    C.memmove(base, obj, len(obj))
    st = ops.put_tensor_with_tp_from(eng, b"py/kv", base, len(obj), 0, tp,
                                     -3, None)
    check("put_tensor_with_tp_from tp=4 split_dim=-3", st == KVP_OK)
    for r in range(tp):
        n = ops.get_tensor_with_tp_into(eng, b"py/kv", out, 1 << 20, r, tp)
        got = C.string_at(out, n) if n > 0 else b""
        rank, count = struct.unpack_from("<ii", got, 184) if n > 0 else (-1, -1)
        ok = (n == HDR + len(obj[HDR:]) // tp and (rank, count) == (r, tp)
              and got[HDR:] == ref_shard(obj, shape, d, tp, r))
        check("get_tensor_with_tp_into rank %d/%d" % (r, tp), ok)
    check("read as tp=2 -> TP_MISMATCH",
          ops.get_tensor_with_tp_into(eng, b"py/kv", out, 1 << 20, 1, 2) ==
          KVP_ERR_TP_MISMATCH)

    ops.unregister_buffer(eng, base)
    ops.engine_destroy(eng)
    print("%s: %d failure(s)" % ("FAILED" if failures else "PASSED",
                                 failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
