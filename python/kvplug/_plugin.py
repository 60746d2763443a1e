"""Finding, loading and negotiating with a kvplug plugin (never linked).

Path: the ``plugin`` argument, else ``$KVPLUG_PLUGIN``, else the installed
prefix (``<sys.prefix>/lib``, ``/usr/local/lib``, ``/usr/lib`` and their
multiarch folders). dlopen with RTLD_NOW | RTLD_LOCAL; never closed.
"""
import ctypes as C
import logging
import os
import sys
import sysconfig
import threading

from . import _abi
from .errors import ABIMismatch, InvalidArgument, NotFound, error_for

log = logging.getLogger("kvplug")

_LEVELS = {_abi.LOG_ERROR: logging.ERROR, _abi.LOG_WARN: logging.WARNING,
           _abi.LOG_INFO: logging.INFO, _abi.LOG_DEBUG: logging.DEBUG}


@_abi.LOG_FN
def _log_cb(user, level, msg):
    log.log(_LEVELS.get(level, logging.INFO), "%s",
            msg.decode("utf-8", "replace") if msg else "")


# One host_api for every engine: log_user must outlive them all.
HOST_API = _abi.HostApi(C.sizeof(_abi.HostApi), 0, _log_cb, None)

_LIBNAME = "libkvplug.so"


def candidate_paths():
    """Where an installed plugin is looked for, in order."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    dirs = []
    for prefix in (sys.prefix, "/usr/local", "/usr"):
        dirs.append(os.path.join(prefix, "lib"))
        if multiarch:
            dirs.append(os.path.join(prefix, "lib", multiarch))
    seen, out = set(), []
    for d in dirs:
        p = os.path.join(d, _LIBNAME)
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def find_plugin(path=None):
    """The plugin path to load (see module doc). Raises NotFound naming
    every place looked at."""
    if path:
        return os.fspath(path)
    env = os.environ.get("KVPLUG_PLUGIN")
    if env:
        return env
    tried = candidate_paths()
    for p in tried:
        if os.path.exists(p):
            return p
    raise NotFound("no kvplug plugin: pass plugin=PATH, set KVPLUG_PLUGIN, "
                   "or install libkvplug.so (looked in %s)" % ", ".join(tried))


class Plugin:
    """A loaded, negotiated plugin: ``ops`` (the table), ``abi_minor`` (the
    effective minor), ``plugin_abi_minor``, ``path``."""

    def __init__(self, path):
        try:
            self.lib = C.CDLL(path, mode=os.RTLD_NOW | os.RTLD_LOCAL)
        except OSError as e:
            raise NotFound("cannot load plugin '%s': %s" % (path, e)) from None
        try:
            entry = getattr(self.lib, _abi.NEGOTIATE_SYMBOL)
        except AttributeError:
            raise error_for(_abi.ERR_NOT_SUPPORTED,
                            "plugin '%s' does not export %s" %
                            (path, _abi.NEGOTIATE_SYMBOL)) from None
        entry.restype = C.c_int32
        entry.argtypes = [C.POINTER(_abi.Negotiate)]
        io = _abi.Negotiate(struct_size=C.sizeof(_abi.Negotiate),
                            host_abi_major=_abi.ABI_MAJOR,
                            host_abi_minor=_abi.ABI_MINOR,
                            host=C.pointer(HOST_API))
        st = entry(C.byref(io))
        versions = "host ABI %d.%d vs plugin %d.%d" % (
            _abi.ABI_MAJOR, _abi.ABI_MINOR, io.plugin_abi_major,
            io.plugin_abi_minor)
        if st == _abi.ERR_ABI_MISMATCH:
            raise ABIMismatch("plugin '%s': ABI mismatch: %s" % (path, versions))
        if st != _abi.OK:
            raise error_for(st, "plugin '%s': negotiation failed (%s)" %
                            (path, versions))
        if not io.ops:
            raise ABIMismatch("plugin '%s' returned no ops table (%s)" %
                              (path, versions))
        ops = io.ops.contents
        minor = io.abi_minor
        if (ops.abi_major != _abi.ABI_MAJOR or minor > _abi.ABI_MINOR or
                minor > ops.abi_minor or
                ops.struct_size < _abi.ops_size(minor)):
            raise ABIMismatch(
                "plugin '%s': bad ops table (major %d, minor %d, %d bytes; "
                "negotiated minor %d needs %d): %s" %
                (path, ops.abi_major, ops.abi_minor, ops.struct_size, minor,
                 _abi.ops_size(minor), versions))
        self.path = path
        self.ops = ops
        self.abi_minor = minor
        self.plugin_abi_minor = io.plugin_abi_minor
        self.name = ops.name.decode() if ops.name else "?"
        self.version = ops.version.decode() if ops.version else "?"

    def has(self, slot):
        """KVP_HAS_OP: the negotiated minor and struct_size cover `slot`,
        and it is non-NULL."""
        minor = next(m for n, _, m in _abi.SLOTS if n == slot)
        if minor > self.abi_minor:
            return False
        end = getattr(_abi.Ops, slot).offset + C.sizeof(C.c_void_p)
        return self.ops.struct_size >= end and bool(getattr(self.ops, slot))

    def status_str(self, status):
        s = self.ops.status_str(status)
        return s.decode() if s else "KVP_STATUS(%d)" % status


_cache = {}
_cache_lock = threading.Lock()


def load(path=None):
    """The Plugin for `path` (see find_plugin), loaded once per process."""
    p = find_plugin(path)
    if not isinstance(p, str) or not p:
        raise InvalidArgument("plugin path must be a non-empty string")
    with _cache_lock:
        if p not in _cache:
            _cache[p] = Plugin(p)
        return _cache[p]
