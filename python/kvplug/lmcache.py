"""An LMCache storage plugin over kvplug.

LMCache configuration::

    storage_plugins: [kvplug]
    extra_config:
      storage_plugin.kvplug.module_path: kvplug.lmcache
      storage_plugin.kvplug.class_name: KvplugStorageBackend
      kvplug.config: "servers=10.0.0.5:7000"     # optional
      kvplug.plugin: /usr/local/lib/libkvplug.so # optional

LMCache constructs it with keywords, ``cls(config=, dst_device=, metadata=,
local_cpu_backend=, loop=)``, once per engine rank and once for the
scheduler role (``local_cpu_backend=None``: lookups only). Its CPU pool is
registered once, so puts gather [header, memory object] zero-copy (ABI
1.1). Each object is stored as a kvplug tensor object (304-byte header,
then the payload) with LMCache's memory format in the header's reserved0
field, so a get recovers the shape of a partial chunk. A get reads the
object and copies the payload once into the memory object it allocates
(the shape is only known after the read).
"""
import ctypes as C
import logging

import numpy as np

from . import tensor as _t
from .errors import KvplugError
from .store import Store

log = logging.getLogger("kvplug")

try:  # the real base class when LMCache is installed
    from lmcache.v1.storage_backend.abstract_backend import \
        StoragePluginInterface as _Base
except ImportError:  # pragma: no cover - LMCache absent
    _Base = object

try:
    from lmcache.v1.memory_management import MemoryFormat as _MemoryFormat
except ImportError:  # pragma: no cover - LMCache absent
    _MemoryFormat = None

_FMT_OFF = 172  # reserved0 of the tensor header: LMCache MemoryFormat


def _pool_buffers(local_cpu_backend):
    """The torch tensors backing LMCache's CPU allocator."""
    alloc = getattr(local_cpu_backend, "memory_allocator", None)
    if alloc is None and hasattr(local_cpu_backend, "get_memory_allocator"):
        alloc = local_cpu_backend.get_memory_allocator()
    out, todo = [], [alloc]
    while todo:
        a = todo.pop()
        if a is None:
            continue
        buf = getattr(a, "buffer", None)
        if buf is not None and hasattr(buf, "data_ptr"):
            out.append(buf)
        for sub in ("pin_allocator", "cpu_allocator", "allocator"):
            todo.append(getattr(a, sub, None))
    return out


class KvplugStorageBackend(_Base):
    """LMCache StoragePluginInterface over kvplug (see module doc)."""

    def __init__(self, config=None, dst_device="cpu", metadata=None,
                 local_cpu_backend=None, loop=None):
        try:
            self._init(config, dst_device, metadata, local_cpu_backend, loop)
        except Exception:
            log.exception(
                "kvplug LMCache storage plugin FAILED to start; LMCache "
                "will run WITHOUT kvplug (fix the error above)")
            raise

    def _init(self, config, dst_device, metadata, local_cpu_backend, loop):
        if _Base is not object:
            try:
                super().__init__(dst_device=dst_device, config=config,
                                 metadata=metadata,
                                 local_cpu_backend=local_cpu_backend,
                                 loop=loop)
            except TypeError:
                super().__init__(dst_device)
        self.config, self.metadata, self.loop = config, metadata, loop
        self.dst_device = dst_device
        self.local_cpu_backend = local_cpu_backend
        extra = dict(getattr(config, "extra_config", None) or {})
        self.store = Store(extra.get("kvplug.config") or None,
                           extra.get("kvplug.plugin") or None)
        self.zero_copy = False
        if local_cpu_backend is not None:
            bufs = _pool_buffers(local_cpu_backend)
            for b in bufs:
                self.store.register(b)
            self.zero_copy = bool(bufs) and self.store.has_op(
                "batch_put_from_iov")
            if not self.zero_copy:
                log.warning("kvplug LMCache plugin: puts copy through a "
                            "staging buffer (%s)",
                            "ABI 1.0 plugin" if bufs else
                            "LMCache's CPU pool buffer was not found")

    def __str__(self):
        return "KvplugStorageBackend"

    # ---- lookups -------------------------------------------------------
    def contains(self, key, pin=False):
        try:
            return self.store.exists(key.to_string())
        except KvplugError as e:
            log.error("kvplug LMCache plugin: contains: %s", e)
            return False

    def batched_contains(self, keys, pin=False):
        """Number of leading keys that are stored."""
        ex = self.store.batch_exists([k.to_string() for k in keys])
        for i, r in enumerate(ex):
            if r != 1:
                return i
        return len(keys)

    def exists_in_put_tasks(self, key):
        return False  # puts are synchronous: none is ever in flight

    def pin(self, key):
        return self.contains(key)

    def unpin(self, key):
        return self.contains(key)

    def remove(self, key, force=True):
        try:
            self.store.remove(key.to_string())
            return True
        except KvplugError:
            return False

    def get_allocator_backend(self):
        return self.local_cpu_backend

    # ---- put -----------------------------------------------------------
    def _header(self, obj):
        t = obj.tensor
        hdr = bytearray(_t.pack_header(_t.dtype_code(t), tuple(t.shape)))
        fmt = getattr(obj.metadata, "fmt", 0)
        hdr[_FMT_OFF:_FMT_OFF + 4] = int(getattr(fmt, "value", fmt)).to_bytes(
            4, "little")
        return bytes(hdr)

    def batched_submit_put_task(self, keys, objs, transfer_spec=None,
                                on_complete_callback=None):
        """Stores every object before returning (re-put of a stored key is
        success); calls on_complete_callback(key) for each one stored."""
        skeys = [k.to_string() for k in keys]
        hdrs = [self._header(o) for o in objs]
        if self.zero_copy:
            hp, _ = self.store._staging(_t.HDR * len(objs))
            hptrs = [hp + _t.HDR * i for i in range(len(objs))]
            C.memmove(hp, b"".join(hdrs), _t.HDR * len(objs))
            ptrs = [[h, o.tensor.data_ptr()] for h, o in zip(hptrs, objs)]
            lens = [[_t.HDR, o.tensor.numel() * o.tensor.element_size()]
                    for o in objs]
            res = self.store.batch_put_from_iov(skeys, ptrs, lens)
        else:
            sizes = [o.tensor.numel() * o.tensor.element_size() for o in objs]
            total = sum(sizes) + _t.HDR * len(objs)
            base, _ = self.store._staging(total)
            ptrs, off = [], base
            for h, o, n in zip(hdrs, objs, sizes):
                C.memmove(off, h, _t.HDR)
                C.memmove(off + _t.HDR, o.tensor.data_ptr(), n)
                ptrs.append(off)
                off += _t.HDR + n
            res = self.store.batch_put_from(
                skeys, ptrs, [_t.HDR + n for n in sizes])
        for k, sk, r in zip(keys, skeys, res):
            if r in (0, -3):  # stored, or already stored
                if on_complete_callback is not None:
                    on_complete_callback(k)
            else:
                log.error("kvplug LMCache plugin: put '%s' failed: %s", sk,
                          self.store._plugin.status_str(r))
        return None

    # ---- get -----------------------------------------------------------
    def get_blocking(self, key):
        """A memory object allocated from local_cpu_backend and filled, or
        None on a miss."""
        if self.local_cpu_backend is None:
            log.error("kvplug LMCache plugin: get_blocking without a "
                      "local_cpu_backend (scheduler role)")
            return None
        skey = key.to_string()
        store = self.store
        k = skey.encode()
        eng = store._live()
        try:
            ptr, n = store._get_staged(
                skey, "get", lambda p, cap: store._f_get_into(eng, k, p, cap))
            raw = C.string_at(ptr, _t.HDR)
            info = _t.parse_header(raw, n, "key '%s'" % skey)
        except KvplugError as e:
            if e.status != -2:
                log.error("kvplug LMCache plugin: get '%s': %s", skey, e)
            return None
        import torch
        fmt_code = int.from_bytes(raw[_FMT_OFF:_FMT_OFF + 4], "little")
        fmt = _MemoryFormat(fmt_code) if _MemoryFormat else fmt_code
        obj = self.local_cpu_backend.allocate(
            torch.Size(info.shape), _t.torch_dtype(info.dtype), fmt)
        if obj is None:
            log.error("kvplug LMCache plugin: no CPU memory for '%s'", skey)
            return None
        if info.data_bytes:
            C.memmove(obj.tensor.data_ptr(), ptr + _t.HDR, info.data_bytes)
        return obj

    def batched_get_blocking(self, keys):
        return [self.get_blocking(k) for k in keys]

    def close(self):
        self.store.close()
