"""Exceptions that carry the kvplug status name and a message.

Every error a single op meets is raised as the subclass for its status
(``kvplug.NotFound`` for KVP_ERR_NOT_FOUND, ...); ``str(e)`` reads
``KVP_ERR_NOT_FOUND: get 'k': key not found``. Batches never raise for an
item: they return per-item results (status or size).
"""
from . import _abi


class KvplugError(Exception):
    """Base class. ``status`` is the int32 code, ``status_name`` its name."""
    status = _abi.ERR_INTERNAL

    def __init__(self, message, status=None):
        if status is not None:
            self.status = status
        self.status_name = status_name(self.status)
        self.message = message
        super().__init__("%s: %s" % (self.status_name, message))


class InvalidArgument(KvplugError, ValueError):
    status = _abi.ERR_INVALID


class NotFound(KvplugError, LookupError):
    status = _abi.ERR_NOT_FOUND


class Exists(KvplugError):
    status = _abi.ERR_EXISTS


class TooSmall(KvplugError):
    status = _abi.ERR_TOO_SMALL


class NotRegistered(KvplugError):
    status = _abi.ERR_NOT_REGISTERED


class NoSpace(KvplugError):
    status = _abi.ERR_NO_SPACE


class TransportError(KvplugError):
    status = _abi.ERR_TRANSPORT


class Timeout(KvplugError, TimeoutError):
    status = _abi.ERR_TIMEOUT


class Disconnected(KvplugError, ConnectionError):
    status = _abi.ERR_DISCONNECTED


class NotSupported(KvplugError, NotImplementedError):
    status = _abi.ERR_NOT_SUPPORTED


class NoDevice(KvplugError):
    status = _abi.ERR_NO_DEVICE


class TPMismatch(KvplugError):
    status = _abi.ERR_TP_MISMATCH


class ABIMismatch(KvplugError):
    status = _abi.ERR_ABI_MISMATCH


class AuthError(KvplugError):
    status = _abi.ERR_AUTH


class NoMemory(KvplugError, MemoryError):
    status = _abi.ERR_NO_MEMORY


class InternalError(KvplugError):
    status = _abi.ERR_INTERNAL


_BY_STATUS = {cls.status: cls for cls in (
    InvalidArgument, NotFound, Exists, TooSmall, NotRegistered, NoSpace,
    TransportError, Timeout, Disconnected, NotSupported, NoDevice,
    TPMismatch, ABIMismatch, AuthError, NoMemory, InternalError)}


def status_name(status):
    """Name of a status code ("KVP_ERR_EXISTS"); unknown codes are named
    "KVP_STATUS(<n>)"."""
    return _abi.STATUS_NAMES.get(status, "KVP_STATUS(%d)" % status)


def error_for(status, message):
    """The exception for a negative status (KvplugError for unknown ones)."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        return KvplugError(message, status)
    return cls(message)
