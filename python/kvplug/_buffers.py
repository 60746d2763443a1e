"""Turning host objects into (address, length) without copying.

Accepted: numpy arrays, torch tensors (CPU; CUDA only where the plugin has
KVP_CAP_CUDA), any contiguous buffer-protocol object (bytearray,
memoryview, bytes, mmap), and a raw ``(ptr, len)`` tuple of ints.
"""
import numpy as np

from .errors import InvalidArgument


def is_torch(obj):
    return type(obj).__module__.startswith("torch")


def region(obj, writable=False, cuda_ok=False):
    """(ptr, nbytes, is_cuda) of obj's memory. Raises InvalidArgument
    saying why an object cannot be used zero-copy."""
    if isinstance(obj, tuple):
        if (len(obj) != 2 or not all(isinstance(v, int) for v in obj) or
                obj[0] < 0 or obj[1] < 0):
            raise InvalidArgument("a raw region is a (ptr, len) tuple of "
                                  "non-negative ints, got %r" % (obj,))
        return obj[0], obj[1], False
    if is_torch(obj):
        if not obj.is_contiguous():
            raise InvalidArgument("tensor is not contiguous: pass "
                                  "t.contiguous()")
        cuda = obj.device.type != "cpu"
        if cuda and not cuda_ok:
            raise InvalidArgument(
                "tensor is on %s and the plugin lacks KVP_CAP_CUDA: move it "
                "to the CPU" % obj.device)
        return obj.data_ptr(), obj.numel() * obj.element_size(), cuda
    if isinstance(obj, np.ndarray):
        arr = obj
    else:
        try:
            mv = memoryview(obj)
        except TypeError:
            raise InvalidArgument(
                "%s is not a buffer: pass a numpy array, a torch tensor, a "
                "bytearray/memoryview or (ptr, len)" %
                type(obj).__name__) from None
        if not mv.contiguous:
            raise InvalidArgument("memoryview is not contiguous")
        if writable and mv.readonly:
            raise InvalidArgument("%s is read-only: a get needs writable "
                                  "memory" % type(obj).__name__)
        if mv.nbytes == 0:
            return 0, 0, False
        arr = np.frombuffer(mv.cast("B"), dtype=np.uint8)
        return arr.ctypes.data, arr.nbytes, False
    if not (arr.flags.c_contiguous or arr.flags.f_contiguous):
        raise InvalidArgument("numpy array is not contiguous: pass "
                              "np.ascontiguousarray(a)")
    if writable and not arr.flags.writeable:
        raise InvalidArgument("numpy array is read-only: a get needs "
                              "writable memory")
    return arr.ctypes.data, arr.nbytes, False
