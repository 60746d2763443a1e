"""kvplug: a Python host of the kvplug plugin (ctypes over the stable ABI).

    import kvplug
    with kvplug.Store() as s:          # embedded server, defaults
        s.put_tensor("k", torch.ones(4))
        t = s.get_tensor("k")

See docs/python.md. ``kvplug.mooncake.MooncakeDistributedStore`` is the
Mooncake-compatible class; ``kvplug.sglang`` and ``kvplug.lmcache`` hold the
engine adapters.
"""
from . import _abi
from ._abi import ABI_MAJOR, ABI_MINOR, PUT_OVERWRITE
from .errors import (ABIMismatch, AuthError, Disconnected, Exists,
                     InternalError, InvalidArgument, KvplugError, NoDevice,
                     NoMemory, NoSpace, NotFound, NotRegistered, NotSupported,
                     Timeout, TooSmall, TPMismatch, TransportError,
                     error_for, status_name)
from .store import Store

__version__ = "0.1.0"

# Status codes by name: kvplug.KVP_OK, kvplug.KVP_ERR_EXISTS, ...
for _name, _value, _ in _abi.STATUS:
    globals()[_name] = _value
del _name, _value

__all__ = ["Store", "KvplugError", "InvalidArgument", "NotFound", "Exists",
           "TooSmall", "NotRegistered", "NoSpace", "TransportError",
           "Timeout", "Disconnected", "NotSupported", "NoDevice",
           "TPMismatch", "ABIMismatch", "AuthError", "NoMemory",
           "InternalError", "status_name", "error_for", "ABI_MAJOR",
           "ABI_MINOR", "PUT_OVERWRITE"]
