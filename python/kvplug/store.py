"""kvplug.Store: the Pythonic surface over one kvplug engine.

Zero-copy ops (``*_from``, ``*_into``, gather/scatter) need their memory
inside a registered buffer (``register``); the convenience ops (``put``,
``get``, ``put_tensor``, ``get_tensor``...) copy through a registered
per-thread staging buffer when the data is not registered. Single ops raise
a KvplugError subclass; batch ops return per-item results (0 / size or a
negative status) as a list of ints and never raise for an item.
"""
import ctypes as C
import itertools
import logging
import threading

import numpy as np

from . import _abi, _buffers, _plugin, tensor as _t
from .errors import InvalidArgument, NotSupported, TooSmall, error_for

log = logging.getLogger("kvplug")

_ST = np.uint64
_STAGING_MIN = 1 << 20


def _config_str(config):
    if config is None:
        return b""
    if isinstance(config, dict):
        config = ";".join("%s=%s" % kv for kv in config.items())
    if isinstance(config, str):
        config = config.encode()
    if not isinstance(config, bytes) or b"\0" in config:
        raise InvalidArgument("config must be a 'key=value;...' string or a "
                              "dict without NUL bytes")
    return config


def _key(key):
    k = key.encode() if isinstance(key, str) else key
    if not isinstance(k, bytes):
        raise InvalidArgument("key must be str or bytes, got %s" %
                              type(key).__name__)
    if b"\0" in k:
        raise InvalidArgument("key %r contains a NUL byte" % (key,))
    return k


class _Keys:
    """A batch of keys as one NUL-separated blob and an array of char *,
    built without a per-key Python loop."""
    __slots__ = ("blob", "ptrs", "n")

    def __init__(self, keys):
        if isinstance(keys, (str, bytes)):
            raise InvalidArgument("keys must be a list of keys, not one key")
        keys = keys if isinstance(keys, list) else list(keys)
        self.n = n = len(keys)
        if n == 0:
            self.blob, self.ptrs = b"", np.zeros(0, _ST)
            return
        try:
            blob = ("\0".join(keys) + "\0").encode()
        except TypeError:
            try:
                blob = b"\0".join(keys) + b"\0"
            except TypeError:
                raise InvalidArgument("keys must all be str or all be "
                                      "bytes") from None
        arr = np.frombuffer(blob, np.uint8)
        nul = np.flatnonzero(arr == 0)
        if len(nul) != n:
            raise InvalidArgument("a key in the batch contains a NUL byte")
        starts = np.empty(n, _ST)
        starts[0] = 0
        starts[1:] = nul[:-1] + 1
        self.blob = blob
        self.ptrs = starts + _ST(arr.ctypes.data)

    @property
    def addr(self):
        return self.ptrs.ctypes.data


def _u64(values, n, what):
    a = np.ascontiguousarray(values, dtype=_ST)
    if a.shape != (n,):
        raise InvalidArgument("%s has %s entries, the batch has %d keys" %
                              (what, a.shape[0] if a.ndim else "no", n))
    return a


class _Staging:
    """A registered scratch buffer of one thread, grown on demand."""

    def __init__(self, store):
        self.store = store
        self.buf = None
        self.ptr = 0
        self.size = 0

    def get(self, need):
        if need > self.size:
            size = max(need, _STAGING_MIN, 2 * self.size)
            buf = np.empty(size, np.uint8)
            ptr = buf.ctypes.data
            self.store._check(self.store._f_register(self.store._eng, ptr,
                                                     size),
                              "register staging buffer of %d bytes" % size)
            old = self.ptr
            self.buf, self.ptr, self.size = buf, ptr, size
            if old:
                self.store._f_unregister(self.store._eng, old)
        return self.ptr

    def release(self):
        if self.ptr and self.store._eng:
            self.store._f_unregister(self.store._eng, self.ptr)
        self.buf, self.ptr, self.size = None, 0, 0


class Store:
    """One kvplug engine. ``Store(config=None, plugin=None)``: `config` is a
    ``key=value;...`` string or a dict (docs/config.md; None = embedded
    server, defaults), `plugin` the path of libkvplug.so (else
    $KVPLUG_PLUGIN, else the installed prefix). Thread-safe; a context
    manager; ``close()`` destroys the engine."""

    def __init__(self, config=None, plugin=None):
        self._eng = None
        self._plugin = _plugin.load(plugin)
        ops = self._plugin.ops
        eng = _abi.E()
        st = ops.engine_create(_config_str(config),
                               C.pointer(_plugin.HOST_API), C.byref(eng))
        if st != _abi.OK:
            raise error_for(st, "engine_create(%r) with plugin '%s' failed "
                            "(the kvplug log above says why)" %
                            (config, self._plugin.path))
        self._eng = eng.value
        self._lock = threading.Lock()
        self._regs = {}      # ptr -> (len, keepalive)
        self._tls = threading.local()
        self._stagings = []
        self._warned = set()
        self._opts = {False: None, True: C.addressof(self._mkopts())}
        for name, _, _ in _abi.SLOTS[2:]:
            setattr(self, "_f_" + name.replace("_buffer", ""),
                    getattr(ops, name) if self._plugin.has(name) else None)

    def _mkopts(self):
        self._opts_keep = _abi.PutOpts(C.sizeof(_abi.PutOpts),
                                       _abi.PUT_OVERWRITE)
        return self._opts_keep

    # ---- facts ---------------------------------------------------------
    @property
    def abi_minor(self):
        """The negotiated (effective) ABI minor."""
        return self._plugin.abi_minor

    @property
    def plugin_abi_minor(self):
        return self._plugin.plugin_abi_minor

    @property
    def plugin_path(self):
        return self._plugin.path

    @property
    def caps(self):
        return self._plugin.ops.caps

    @property
    def plugin_version(self):
        return "%s %s" % (self._plugin.name, self._plugin.version)

    def has_op(self, slot):
        """True if the plugin offers ABI slot `slot` (KVP_HAS_OP)."""
        return self._plugin.has(slot)

    # ---- lifetime ------------------------------------------------------
    def close(self):
        """Destroys the engine (unregistering everything). Idempotent."""
        with self._lock if hasattr(self, "_lock") else _NoLock():
            if not self._eng:
                return
            eng, self._eng = self._eng, None
            self._plugin.ops.engine_destroy(eng)
            self._regs.clear()
            for s in self._stagings:
                s.buf, s.ptr, s.size = None, 0, 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # ---- helpers -------------------------------------------------------
    def _check(self, st, what):
        if st < 0:
            raise error_for(st, what)
        return st

    def _live(self):
        if not self._eng:
            raise InvalidArgument("store is closed")
        return self._eng

    def _need(self, fn, slot, fallback=None):
        if fn is None and fallback is None:
            raise NotSupported(
                "%s needs ABI 1.1; plugin '%s' negotiated 1.%d" %
                (slot, self._plugin.path, self.abi_minor))
        if fn is None and slot not in self._warned:
            self._warned.add(slot)
            log.warning("kvplug: plugin '%s' negotiated ABI 1.%d without "
                        "%s: %s", self._plugin.path, self.abi_minor, slot,
                        fallback)
        return fn

    def _staging(self, need):
        self._live()
        s = getattr(self._tls, "staging", None)
        if s is None:
            s = self._tls.staging = _Staging(self)
            with self._lock:
                self._stagings.append(s)
        return s.get(need), s

    def _region(self, buf, writable=False):
        return _buffers.region(buf, writable,
                               bool(self.caps & _abi.CAP_CUDA))

    def _registered(self, ptr, n):
        """True if [ptr, ptr+n) lies inside one registration of ours."""
        with self._lock:
            for base, (length, _) in self._regs.items():
                if base <= ptr and ptr + n <= base + length:
                    return True
        return False

    # ---- registration --------------------------------------------------
    def register(self, buf):
        """Registers buf's memory zero-copy (numpy array, torch tensor,
        bytearray/memoryview, or (ptr, len)); the Store keeps a reference
        until unregister/close. Returns (ptr, len)."""
        ptr, n, _ = self._region(buf)
        self._check(self._f_register(self._live(), ptr, n),
                    "register_buffer(%#x, %d)" % (ptr, n))
        with self._lock:
            self._regs[ptr] = (n, buf)
        return ptr, n

    def unregister(self, buf):
        """Unregisters what register(buf) registered (buf, or its ptr)."""
        ptr = buf if isinstance(buf, int) else self._region(buf)[0]
        self._check(self._f_unregister(self._live(), ptr),
                    "unregister_buffer(%#x)" % ptr)
        with self._lock:
            self._regs.pop(ptr, None)

    # ---- bytes ---------------------------------------------------------
    def put_from(self, key, buf, overwrite=False):
        """Stores buf (registered memory, or (ptr, len)) under key."""
        k = _key(key)
        ptr, n, _ = self._region(buf)
        self._check(self._f_put_from(self._live(), k, ptr, n,
                                     self._opts[overwrite]),
                    "put_from '%s' (%d bytes)" % (key, n))

    def get_into(self, key, buf):
        """Reads key into buf (registered memory); returns its size."""
        k = _key(key)
        ptr, n, _ = self._region(buf, writable=True)
        return self._check(self._f_get_into(self._live(), k, ptr, n),
                           "get_into '%s' (capacity %d)" % (key, n))

    def put(self, key, value, overwrite=False):
        """Stores value (any buffer); zero-copy when it is registered,
        else one copy through the staging buffer."""
        k = _key(key)
        ptr, n, _ = self._region(value)
        if n and not self._registered(ptr, n):
            dst, _ = self._staging(n)
            C.memmove(dst, ptr, n)
            ptr = dst
        self._check(self._f_put_from(self._live(), k, ptr, n,
                                     self._opts[overwrite]),
                    "put '%s' (%d bytes)" % (key, n))

    def _get_staged(self, key, what, read):
        """Runs read(ptr, cap) into staging sized by stat; retries when the
        object grew in between. Returns (ptr, size)."""
        for _ in range(8):
            size = self.size(key)
            ptr, _ = self._staging(max(size, 1))
            got = read(ptr, max(size, 1))
            if got != _abi.ERR_TOO_SMALL:
                return ptr, self._check(got, "%s '%s'" % (what, key))
        raise TooSmall("%s '%s': the object kept growing" % (what, key))

    def get(self, key):
        """The object's bytes (a copy)."""
        k = _key(key)
        eng = self._live()
        ptr, n = self._get_staged(
            key, "get", lambda p, cap: self._f_get_into(eng, k, p, cap))
        return C.string_at(ptr, n)

    def size(self, key):
        """The object's size in bytes (raises NotFound)."""
        return self._check(self._f_stat(self._live(), _key(key)),
                           "stat '%s'" % key)

    def exists(self, key):
        return bool(self._check(self._f_exists(self._live(), _key(key)),
                                "exists '%s'" % key))

    def remove(self, key):
        """Removes key (raises NotFound if absent)."""
        self._check(self._f_remove(self._live(), _key(key)),
                    "remove '%s'" % key)

    def remove_prefix(self, prefix=""):
        """Removes every key starting with prefix ("" = all keys, of every
        client) on every server; returns how many. Needs ABI 1.1."""
        self._need(self._f_remove_prefix, "remove_prefix")
        removed = C.c_uint64(0)
        self._check(self._f_remove_prefix(self._live(), _key(prefix)
                                          if prefix else b"",
                                          C.byref(removed)),
                    "remove_prefix '%s'" % prefix)
        return removed.value

    def stats(self):
        """The engine's counters as a dict. Needs ABI 1.1."""
        self._need(self._f_get_stats, "get_stats")
        s = _abi.Stats(struct_size=C.sizeof(_abi.Stats))
        self._check(self._f_get_stats(self._live(), C.byref(s)), "get_stats")
        return {f: getattr(s, f) for f in _abi.STATS_FIELDS}

    # ---- batches (per-item results, never raise for an item) ------------
    def batch_put_from(self, keys, ptrs, sizes, overwrite=False):
        """Puts keys[i] from [ptrs[i], +sizes[i]) (registered). Returns a
        list of statuses (0 = stored)."""
        kk = _Keys(keys)
        p = _u64(ptrs, kk.n, "ptrs")
        s = _u64(sizes, kk.n, "sizes")
        res = np.empty(kk.n, np.int32)
        if kk.n:
            self._f_batch_put_from(self._live(), kk.n, kk.addr, p.ctypes.data,
                                   s.ctypes.data, self._opts[overwrite],
                                   res.ctypes.data)
        return res.tolist()

    def batch_get_into(self, keys, ptrs, caps):
        """Gets keys[i] into [ptrs[i], +caps[i]) (registered). Returns a
        list of sizes or negative statuses."""
        kk = _Keys(keys)
        p = _u64(ptrs, kk.n, "ptrs")
        c = _u64(caps, kk.n, "caps")
        res = np.empty(kk.n, np.int64)
        if kk.n:
            self._f_batch_get_into(self._live(), kk.n, kk.addr, p.ctypes.data,
                                   c.ctypes.data, res.ctypes.data)
        return res.tolist()

    def _per_key_batch(self, keys, batch_fn, slot, single_fn, note):
        """One 1.1 batch slot call, or single_fn per key on 1.0."""
        kk = _Keys(keys)
        fn = self._need(batch_fn, slot, note)
        eng = self._live()
        if not kk.n:
            return []
        if fn is None:
            return [single_fn(eng, C.c_char_p(int(a))) for a in kk.ptrs]
        res = np.empty(kk.n, np.int32)
        fn(eng, kk.n, kk.addr, res.ctypes.data)
        return res.tolist()

    def batch_exists(self, keys):
        """List of 1 (stored), 0 (not) or a negative status per key."""
        return self._per_key_batch(keys, self._f_batch_exists, "batch_exists",
                                   self._f_exists, "checking key by key")

    def batch_remove(self, keys):
        """List of 0 (removed), KVP_ERR_NOT_FOUND or another status."""
        return self._per_key_batch(keys, self._f_batch_remove, "batch_remove",
                                   self._f_remove, "removing key by key")

    # ---- gather / scatter (multi-buffer objects) ------------------------
    @staticmethod
    def _iovs(n, ptr_lists, size_lists):
        counts = np.fromiter(map(len, ptr_lists), np.uint32, n)
        if len(size_lists) != n or not np.array_equal(
                counts, np.fromiter(map(len, size_lists), np.uint32, n)):
            raise InvalidArgument("each object needs as many sizes as "
                                  "pointers")
        total = int(counts.sum())
        iov = np.empty((max(total, 1), 2), _ST)
        iov[:total, 0] = np.fromiter(itertools.chain.from_iterable(ptr_lists),
                                     _ST, total)
        iov[:total, 1] = np.fromiter(
            itertools.chain.from_iterable(size_lists), _ST, total)
        first = np.cumsum(counts, dtype=_ST) - counts
        heads = first * _ST(16) + _ST(iov.ctypes.data)
        return iov, counts, heads

    @staticmethod
    def _object_sizes(iov, counts):
        """Total bytes of each object's pieces."""
        ends = np.cumsum(counts, dtype=np.int64)
        csum = np.zeros(len(iov) + 1, _ST)
        np.cumsum(iov[:, 1], dtype=_ST, out=csum[1:])
        return csum[ends] - csum[ends - counts]

    def batch_put_from_iov(self, keys, ptr_lists, size_lists,
                           overwrite=False):
        """Object i = concatenation of [ptr_lists[i][j], +size_lists[i][j])
        (all registered), gathered zero-copy (ABI 1.1). On an ABI 1.0
        plugin: one copy through staging (logged once). Returns statuses."""
        kk = _Keys(keys)
        if not kk.n:
            return []
        iov, counts, heads = self._iovs(kk.n, ptr_lists, size_lists)
        fn = self._need(self._f_batch_put_from_iov, "batch_put_from_iov",
                        "multi-buffer puts copy through a staging buffer")
        res = np.empty(kk.n, np.int32)
        if fn is not None:
            fn(self._live(), kk.n, kk.addr, heads.ctypes.data,
               counts.ctypes.data, self._opts[overwrite], res.ctypes.data)
            return res.tolist()
        # ABI 1.0 fallback: gather into staging, one batch_put_from.
        sizes = self._object_sizes(iov, counts)
        base, _ = self._staging(int(sizes.sum()) or 1)
        off = base
        for ptr, ln in iov[:int(counts.sum())].tolist():
            C.memmove(off, ptr, ln)
            off += ln
        ptrs = np.cumsum(sizes, dtype=_ST) - sizes + _ST(base)
        return self.batch_put_from(keys, ptrs, sizes, overwrite)

    def batch_get_into_iov(self, keys, ptr_lists, size_lists):
        """Scatters object i over its pieces in order (ABI 1.1, zero-copy;
        1.0: through staging, logged once). Returns sizes or statuses
        (KVP_ERR_TOO_SMALL when the pieces are too small)."""
        kk = _Keys(keys)
        if not kk.n:
            return []
        iov, counts, heads = self._iovs(kk.n, ptr_lists, size_lists)
        fn = self._need(self._f_batch_get_into_iov, "batch_get_into_iov",
                        "multi-buffer gets copy through a staging buffer")
        res = np.empty(kk.n, np.int64)
        if fn is not None:
            fn(self._live(), kk.n, kk.addr, heads.ctypes.data,
               counts.ctypes.data, res.ctypes.data)
            return res.tolist()
        ends = np.cumsum(counts)
        caps = self._object_sizes(iov, counts)
        base, _ = self._staging(int(caps.sum()) or 1)
        ptrs = np.cumsum(caps, dtype=_ST) - caps + _ST(base)
        out = self.batch_get_into(keys, ptrs, caps)
        for i, got in enumerate(out):
            src, left = int(ptrs[i]), got
            for j in range(int(ends[i] - counts[i]), int(ends[i])):
                if left <= 0:
                    break
                ln = min(int(iov[j, 1]), left)
                C.memmove(int(iov[j, 0]), src, ln)
                src += ln
                left -= ln
        return out

    def put_gather(self, key, bufs, overwrite=False):
        """Stores the concatenation of bufs (registered) as one object."""
        regs = [self._region(b)[:2] for b in bufs]
        st = self.batch_put_from_iov([key], [[p for p, _ in regs]],
                                     [[n for _, n in regs]], overwrite)[0]
        self._check(st, "put_gather '%s' (%d pieces)" % (key, len(regs)))

    def get_scatter(self, key, bufs):
        """Scatters key over bufs (registered) in order; returns its size."""
        regs = [self._region(b, writable=True)[:2] for b in bufs]
        got = self.batch_get_into_iov([key], [[p for p, _ in regs]],
                                      [[n for _, n in regs]])[0]
        return self._check(got, "get_scatter '%s' (%d pieces)" %
                           (key, len(regs)))

    # ---- tensors -------------------------------------------------------
    def _pack(self, tensor):
        """(header bytes, payload ptr, payload bytes, keepalive)."""
        if _buffers.is_torch(tensor):
            if tensor.device.type != "cpu":
                tensor = tensor.cpu()
            tensor = tensor.contiguous()
            shape = tuple(tensor.shape)
        else:
            tensor = np.ascontiguousarray(tensor)
            shape = tensor.shape
        code = _t.dtype_code(tensor)
        ptr, n, _ = self._region(tensor)
        return _t.pack_header(code, shape), ptr, n, tensor

    def _stage_objects(self, tensors):
        """Packs [header][payload] of each tensor into staging; returns
        (ptrs, lens) as uint64 arrays."""
        packed = [self._pack(t) for t in tensors]
        lens = np.fromiter((_t.HDR + p[2] for p in packed), _ST, len(packed))
        base, _ = self._staging(int(lens.sum()) or 1)
        ptrs = np.cumsum(lens, dtype=_ST) - lens + _ST(base)
        for dst, (hdr, src, n, _) in zip(ptrs.tolist(), packed):
            C.memmove(dst, hdr, _t.HDR)
            if n:
                C.memmove(dst + _t.HDR, src, n)
        return ptrs, lens

    def put_tensor(self, key, tensor, overwrite=False):
        """Stores a torch tensor (or numpy array) as a tensor object (the
        304-byte header, then the C-contiguous payload). Zero-copy when the
        tensor lies in registered memory and the plugin has ABI 1.1
        (header and payload gathered); else one copy through staging."""
        hdr, ptr, n, keep = self._pack(tensor)
        if (self._f_batch_put_from_iov is not None and n and
                self._registered(ptr, n)):
            hp, _ = self._staging(_t.HDR)
            C.memmove(hp, hdr, _t.HDR)
            st = self.batch_put_from_iov([key], [[hp, ptr]], [[_t.HDR, n]],
                                         overwrite)[0]
            self._check(st, "put_tensor '%s'" % key)
            return
        ptrs, lens = self._stage_objects([keep])
        self._check(self._f_put_from(self._live(), _key(key), int(ptrs[0]),
                                     int(lens[0]), self._opts[overwrite]),
                    "put_tensor '%s' (%d bytes)" % (key, int(lens[0])))

    @staticmethod
    def _to_tensor(ptr, n, what):
        import torch
        info = _t.parse_header(C.string_at(ptr, _t.HDR) if n >= _t.HDR
                               else C.string_at(ptr, n), n, what)
        out = torch.empty(info.shape, dtype=_t.torch_dtype(info.dtype))
        if info.data_bytes:
            C.memmove(out.data_ptr(), ptr + _t.HDR, info.data_bytes)
        return out

    def get_tensor(self, key):
        """The tensor stored under key (a new CPU torch tensor)."""
        k = _key(key)
        eng = self._live()
        ptr, n = self._get_staged(
            key, "get_tensor", lambda p, cap: self._f_get_into(eng, k, p, cap))
        return self._to_tensor(ptr, n, "key '%s'" % key)

    def put_tensor_with_tp(self, key, tensor, tp_size, split_dim,
                           overwrite=False):
        """Stores the FULL tensor split over tp_size ranks along split_dim
        (negative counts from the end): shard r under '<key>_tp_<r>',
        all-or-nothing. The object is staged once (header + payload must be
        one registered range); shards are gathered from it zero-copy."""
        ptrs, lens = self._stage_objects([tensor])
        self._check(self._f_put_tensor_with_tp_from(
            self._live(), _key(key), int(ptrs[0]), int(lens[0]), 0,
            int(tp_size), int(split_dim), self._opts[overwrite]),
            "put_tensor_with_tp '%s' (tp_size %s, split_dim %s)" %
            (key, tp_size, split_dim))

    def get_tensor_with_tp(self, key, tp_rank, tp_size):
        """This rank's shard of a TP put (the whole tensor for tp_size<=1)."""
        k = _key(key)
        skey = key if tp_size <= 1 else "%s_tp_%d" % (
            key.decode() if isinstance(key, bytes) else key, tp_rank)
        if not 0 <= tp_rank < max(tp_size, 1):
            raise InvalidArgument("tp_rank %d outside [0, %d)" %
                                  (tp_rank, tp_size))
        eng = self._live()
        ptr, n = self._get_staged(
            skey, "get_tensor_with_tp",
            lambda p, cap: self._f_get_tensor_with_tp_into(
                eng, k, p, cap, int(tp_rank), int(tp_size)))
        return self._to_tensor(ptr, n, "key '%s'" % skey)

    def batch_put_tensor(self, keys, tensors, overwrite=False):
        """Stores each tensor under its key (one batch). Returns statuses."""
        if len(keys) != len(tensors):
            raise InvalidArgument("%d keys for %d tensors" %
                                  (len(keys), len(tensors)))
        if not keys:
            return []
        ptrs, lens = self._stage_objects(tensors)
        return self.batch_put_from(keys, ptrs, lens, overwrite)

    def batch_get_tensor(self, keys):
        """List of tensors, None where a key is missing or not a tensor."""
        kk = _Keys(keys)
        if not kk.n:
            return []
        eng = self._live()
        sizes = [self._f_stat(eng, C.c_char_p(int(a))) for a in kk.ptrs]
        caps = np.fromiter((max(s, 1) for s in sizes), _ST, kk.n)
        base, _ = self._staging(int(caps.sum()))
        ptrs = np.cumsum(caps, dtype=_ST) - caps + _ST(base)
        got = self.batch_get_into(keys, ptrs, caps)
        out = []
        for k, p, g in zip(keys, ptrs.tolist(), got):
            try:
                out.append(self._to_tensor(p, g, "key '%s'" % k)
                           if g >= 0 else None)
            except InvalidArgument:
                out.append(None)
        return out


class _NoLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
