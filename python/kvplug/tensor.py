"""The 304-byte tensor object header v1 (docs/tensor-format.md) and the
torch / numpy dtype maps.

``pack_header(dtype_code, shape)`` -> bytes; ``parse_header(buf)`` ->
TensorInfo; ``torch_dtype(code)`` / ``dtype_code(tensor_or_array)``.
Every kvplug dtype that the installed torch has is mapped (torch 1.13 has
no uint16/uint32/uint64/float8; newer torch adds them and they map too).
"""
import struct
from collections import namedtuple

from . import _abi
from .errors import InvalidArgument

HDR = _abi.TENSOR_HDR_SIZE
_FMT = "<IHHiiIIQQ8q8qII"
_AXIS = "<iiiiiiq"
ELEM_SIZE = [size for _, size in _abi.DTYPES]
DTYPE_NAMES = [name for name, _ in _abi.DTYPES]

# kvplug code -> attribute names in torch / numpy
_TORCH = ["float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
          "uint32", "int64", "uint64", "bool", "float16", "bfloat16",
          "float8_e4m3fn", "float8_e5m2"]
_NUMPY = ["float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
          "uint32", "int64", "uint64", "bool_", "float16", None, None, None]

TensorInfo = namedtuple("TensorInfo", "dtype shape global_shape layout "
                        "tp_rank tp_size split_dim data_bytes")


def torch_dtypes():
    """{kvplug code: torch.dtype} for every code this torch has."""
    import torch
    out = {}
    for code, name in enumerate(_TORCH):
        dt = getattr(torch, name, None)
        if dt is not None:
            out[code] = dt
    return out


_t2k = None


def dtype_code(obj):
    """kvplug dtype code of a torch tensor or numpy array."""
    global _t2k
    import numpy as np
    if isinstance(obj, np.ndarray):
        name = obj.dtype.name if obj.dtype != np.bool_ else "bool_"
        if name in _NUMPY:
            return _NUMPY.index(name)
        raise InvalidArgument("numpy dtype %s has no kvplug dtype" %
                              obj.dtype)
    if _t2k is None:
        _t2k = {dt: code for code, dt in torch_dtypes().items()}
    code = _t2k.get(obj.dtype)
    if code is None:
        raise InvalidArgument("torch dtype %s has no kvplug dtype (kvplug "
                              "has %s)" % (obj.dtype, ", ".join(DTYPE_NAMES)))
    return code


def torch_dtype(code):
    dt = torch_dtypes().get(code)
    if dt is None:
        raise InvalidArgument("kvplug dtype %s has no torch dtype in this "
                              "torch" % (DTYPE_NAMES[code]
                                         if 0 <= code < len(DTYPE_NAMES)
                                         else code))
    return dt


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def pack_header(code, shape):
    """A FULL-layout header for a C-contiguous tensor of `shape`."""
    shape = tuple(int(d) for d in shape)
    if len(shape) > _abi.TENSOR_MAX_DIMS:
        raise InvalidArgument("tensor has %d dims; the header holds at most "
                              "%d" % (len(shape), _abi.TENSOR_MAX_DIMS))
    dims = list(shape) + [-1] * (_abi.TENSOR_MAX_DIMS - len(shape))
    nbytes = numel(shape) * ELEM_SIZE[code]
    head = struct.pack(_FMT, _abi.TENSOR_MAGIC, _abi.TENSOR_VERSION, HDR,
                       code, len(shape), _abi.LAYOUT_FULL, 0, HDR, nbytes,
                       *dims, *dims, 0, 0)
    return head + bytes(HDR - len(head))


def parse_header(buf, length=None, what="object"):
    """TensorInfo of a tensor object in `buf` (bytes-like, >= 304 bytes).
    `length` is the object's full size when known (checked against the
    header). Raises InvalidArgument naming `what` if it is not a valid
    tensor object."""
    def bad(why):
        return InvalidArgument("%s is not a kvplug tensor object: %s" %
                               (what, why))
    if len(buf) < HDR:
        raise bad("%d bytes, a header is %d" % (len(buf), HDR))
    f = struct.unpack_from(_FMT, buf, 0)
    magic, ver, hsize, code, ndim, layout, _, off, nbytes = f[:9]
    gshape, lshape = f[9:17], f[17:25]
    axis_count = f[25]
    if magic != _abi.TENSOR_MAGIC or ver != 1 or hsize != HDR or off != HDR:
        raise bad("magic/version/header size do not match")
    if not 0 <= code < len(ELEM_SIZE) or not 0 <= ndim <= 8:
        raise bad("dtype %d / ndim %d out of range" % (code, ndim))
    if layout > 1 or axis_count > _abi.TENSOR_MAX_AXES:
        raise bad("layout %d / axis_count %d out of range" %
                  (layout, axis_count))
    shape = tuple(lshape[:ndim])
    if any(d < 0 for d in shape) or \
            numel(shape) * ELEM_SIZE[code] != nbytes:
        raise bad("shape %s does not match %d payload bytes" %
                  (shape, nbytes))
    if length is not None and length != HDR + nbytes:
        raise bad("object is %d bytes, header says %d" %
                  (length, HDR + nbytes))
    rank, count, split = 0, 1, -1
    for i in range(axis_count):
        kind, _, r, c, sd, _, _ = struct.unpack_from(_AXIS, buf, 176 + 32 * i)
        if kind == _abi.AXIS_TP:
            rank, count, split = r, c, sd
    return TensorInfo(code, shape, tuple(gshape[:ndim]), layout, rank, count,
                      split, nbytes)
