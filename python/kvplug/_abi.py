"""ctypes mirrors of abi/include/kvplug/{abi,status,tensor}.h.

The layouts here are checked against the C headers by
tests/test_layout.py (a compiled offsetof/sizeof dump). Every array argument
of a slot is declared as ``c_void_p``: a pointer is a pointer at the ABI
level, and the package passes numpy buffers' addresses, which keeps the
per-item work of a batch out of Python.
"""
import ctypes as C

ABI_MAJOR = 1
ABI_MINOR = 1  # the highest minor this package knows (DESIGN 2.1)
NEGOTIATE_SYMBOL = "kvp_plugin_negotiate_v1"
KEY_MAX = 1024

# ---- status.h ----------------------------------------------------------
STATUS = [
    ("KVP_OK", 0, "success"),
    ("KVP_PARTIAL", 1, "some batch items failed; see per-item results"),
    ("KVP_ERR_INVALID", -1, "invalid argument"),
    ("KVP_ERR_NOT_FOUND", -2, "key not found"),
    ("KVP_ERR_EXISTS", -3, "key already exists"),
    ("KVP_ERR_TOO_SMALL", -4, "buffer too small for the object"),
    ("KVP_ERR_NOT_REGISTERED", -5,
     "buffer range is not inside one registered buffer"),
    ("KVP_ERR_NO_SPACE", -6, "store has no space left"),
    ("KVP_ERR_TRANSPORT", -7, "transport error"),
    ("KVP_ERR_TIMEOUT", -8, "operation timed out"),
    ("KVP_ERR_DISCONNECTED", -9, "server disconnected"),
    ("KVP_ERR_NOT_SUPPORTED", -10, "operation not supported"),
    ("KVP_ERR_NO_DEVICE", -11, "no usable device"),
    ("KVP_ERR_TP_MISMATCH", -12, "stored shard has another tp_size or rank"),
    ("KVP_ERR_ABI_MISMATCH", -13, "ABI major version mismatch"),
    ("KVP_ERR_AUTH", -14, "authentication failed"),
    ("KVP_ERR_NO_MEMORY", -15, "out of memory"),
    ("KVP_ERR_INTERNAL", -16, "internal error"),
]
for _name, _value, _text in STATUS:
    globals()[_name[4:]] = _value  # OK, PARTIAL, ERR_INVALID, ...
STATUS_NAMES = {v: n for n, v, _ in STATUS}

LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG = 0, 1, 2, 3

CAP_THREAD_SAFE = 1 << 0
CAP_TP = 1 << 1
CAP_BATCH = 1 << 2
CAP_OVERWRITE = 1 << 3
CAP_CUDA = 1 << 4

PUT_OVERWRITE = 1 << 0

LOG_FN = C.CFUNCTYPE(None, C.c_void_p, C.c_int32, C.c_char_p)


class HostApi(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("flags", C.c_uint32),
                ("log", LOG_FN), ("log_user", C.c_void_p)]


class PutOpts(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("flags", C.c_uint32)]


class Iov(C.Structure):
    """struct kvp_iov (since 1.1): 16 bytes, never grows."""
    _fields_ = [("ptr", C.c_void_p), ("len", C.c_uint64)]


class Stats(C.Structure):
    """struct kvp_stats (since 1.1): growable counters."""
    _fields_ = [("struct_size", C.c_uint32), ("reserved", C.c_uint32),
                ("puts", C.c_uint64), ("put_bytes", C.c_uint64),
                ("gets", C.c_uint64), ("get_bytes", C.c_uint64),
                ("get_hits", C.c_uint64), ("get_misses", C.c_uint64),
                ("errors", C.c_uint64), ("reconnects", C.c_uint64),
                ("removes", C.c_uint64)]


STATS_FIELDS = [f for f, _ in Stats._fields_[2:]]

E = C.c_void_p   # struct kvp_engine *
P = C.c_void_p   # any pointer or array
K = C.c_char_p   # const char *key
F = C.CFUNCTYPE
I32, I64, U32, U64 = C.c_int32, C.c_int64, C.c_uint32, C.c_uint64

# (slot, prototype, minor that added it), in ABI order. APPEND-ONLY.
SLOTS = [
    ("status_str", F(C.c_char_p, I32), 0),
    ("engine_create", F(I32, C.c_char_p, C.POINTER(HostApi), C.POINTER(E)),
     0),
    ("engine_destroy", F(I32, E), 0),
    ("register_buffer", F(I32, E, P, U64), 0),
    ("unregister_buffer", F(I32, E, P), 0),
    ("put_from", F(I32, E, K, P, U64, P), 0),
    ("batch_put_from", F(I32, E, U32, P, P, P, P, P), 0),
    ("get_into", F(I64, E, K, P, U64), 0),
    ("batch_get_into", F(I32, E, U32, P, P, P, P), 0),
    ("put_tensor_with_tp_from", F(I32, E, K, P, U64, I32, I32, I32, P), 0),
    ("batch_put_tensor_with_tp_from",
     F(I32, E, U32, P, P, P, I32, I32, I32, P, P), 0),
    ("get_tensor_with_tp_into", F(I64, E, K, P, U64, I32, I32), 0),
    ("batch_get_tensor_with_tp_into", F(I32, E, U32, P, P, P, I32, I32, P),
     0),
    ("exists", F(I32, E, K), 0),
    ("stat", F(I64, E, K), 0),
    ("remove", F(I32, E, K), 0),
    # ---- ABI 1.1 (DESIGN 2.1) ----
    ("batch_exists", F(I32, E, U32, P, P), 1),
    ("batch_remove", F(I32, E, U32, P, P), 1),
    ("batch_put_from_iov", F(I32, E, U32, P, P, P, P, P), 1),
    ("batch_get_into_iov", F(I32, E, U32, P, P, P, P), 1),
    ("remove_prefix", F(I32, E, K, C.POINTER(U64)), 1),
    ("get_stats", F(I32, E, C.POINTER(Stats)), 1),
]


class Ops(C.Structure):
    _fields_ = [("struct_size", C.c_uint32), ("abi_major", C.c_uint16),
                ("abi_minor", C.c_uint16), ("caps", C.c_uint64),
                ("name", C.c_char_p), ("version", C.c_char_p)] + \
               [(name, proto) for name, proto, _ in SLOTS]


def ops_size(minor):
    """Bytes of the ops table as of ABI 1.<minor> (KVP_OPS_SIZE_V1_x)."""
    last = [name for name, _, m in SLOTS if m <= minor][-1]
    return getattr(Ops, last).offset + C.sizeof(C.c_void_p)


class Negotiate(C.Structure):
    _fields_ = [("struct_size", C.c_uint32),
                ("host_abi_major", C.c_uint16),
                ("host_abi_minor", C.c_uint16),
                ("host", C.POINTER(HostApi)),
                ("plugin_abi_major", C.c_uint16),
                ("plugin_abi_minor", C.c_uint16),
                ("abi_minor", C.c_uint16), ("reserved", C.c_uint16),
                ("ops", C.POINTER(Ops))]


# ---- tensor.h -------------------------------------------------------------
TENSOR_MAGIC = 0x4D4F4F4E
TENSOR_VERSION = 1
TENSOR_HDR_SIZE = 304
TENSOR_MAX_DIMS = 8
TENSOR_MAX_AXES = 4
LAYOUT_FULL, LAYOUT_SHARD = 0, 1
AXIS_DP, AXIS_TP, AXIS_EP, AXIS_PP = 0, 1, 2, 3


class TensorAxis(C.Structure):
    _fields_ = [("kind", C.c_int32), ("axis_index", C.c_int32),
                ("shard_rank", C.c_int32), ("shard_count", C.c_int32),
                ("split_dim", C.c_int32), ("reserved0", C.c_int32),
                ("reserved1", C.c_int64)]


class TensorHdr(C.Structure):
    _fields_ = [("magic", C.c_uint32), ("version", C.c_uint16),
                ("header_size", C.c_uint16), ("dtype", C.c_int32),
                ("ndim", C.c_int32), ("layout_kind", C.c_uint32),
                ("reserved_flags", C.c_uint32), ("data_offset", C.c_uint64),
                ("data_bytes", C.c_uint64),
                ("global_shape", C.c_int64 * TENSOR_MAX_DIMS),
                ("local_shape", C.c_int64 * TENSOR_MAX_DIMS),
                ("axis_count", C.c_uint32), ("reserved0", C.c_uint32),
                ("axes", TensorAxis * TENSOR_MAX_AXES)]


# dtype code -> (name, element size), KVP_DTYPE_*
DTYPES = [("F32", 4), ("F64", 8), ("I8", 1), ("U8", 1), ("I16", 2),
          ("U16", 2), ("I32", 4), ("U32", 4), ("I64", 8), ("U64", 8),
          ("BOOL", 1), ("F16", 2), ("BF16", 2), ("F8E4M3", 1), ("F8E5M2", 1)]
