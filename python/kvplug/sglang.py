"""An SGLang HiCache storage backend over kvplug.

Load it through SGLang's dynamic backend loader::

    --hicache-storage-backend dynamic
    --hicache-storage-backend-extra-config '{"backend_name": "kvplug",
      "module_path": "kvplug.sglang", "class_name": "KvplugHiCacheStorage",
      "kvplug_config": "pool_size=8GiB"}'

SGLang constructs it as ``cls(storage_config, kwargs)`` and then calls
``register_mem_pool_host(host_pool)``. Keys are built as SGLang's Mooncake
backend builds them (``<hash>_<tp_rank>_k``/``_v`` for MHA, ``<hash>__k``
for MLA, ``<tag>_<model>_`` prefix), so both backends name pages alike.
Every page moves zero-copy between the registered host pool and the store:
single buffers through batch_put_from/batch_get_into, MLA layer-first
pages through the multi-buffer (ABI 1.1 iov) ops.
"""
import logging
from collections.abc import Sequence

from .mooncake import MooncakeDistributedStore, ReplicateConfig

log = logging.getLogger("kvplug")

try:  # the real base class when SGLang is installed
    from sglang.srt.mem_cache.hicache_storage import HiCacheStorage as _Base
except ImportError:  # pragma: no cover - SGLang absent
    _Base = object


def _pack(n_keys, ptrs, sizes):
    """Groups a flat pointer list into one list per key (multi-buffer)."""
    if len(ptrs) == n_keys:
        return list(ptrs), list(sizes)
    if n_keys == 0 or len(ptrs) % n_keys:
        raise ValueError("host pool gave %d buffers for %d keys" %
                         (len(ptrs), n_keys))
    k = len(ptrs) // n_keys
    return ([list(ptrs[i:i + k]) for i in range(0, len(ptrs), k)],
            [list(sizes[i:i + k]) for i in range(0, len(sizes), k)])


class KvplugHiCacheStorage(_Base):
    """HiCacheStorage backed by kvplug. extra_config keys: ``kvplug_config``
    (kvplug config string; default: embedded server), ``kvplug_plugin``
    (libkvplug.so path), ``extra_backend_tag`` (key prefix)."""

    def __init__(self, storage_config=None, kwargs=None):
        extra = dict(getattr(storage_config, "extra_config", None) or {})
        self.storage_config = storage_config
        self.mem_pool_host = None
        self.store = MooncakeDistributedStore(extra.get("kvplug_plugin"))
        cfg = extra.get("kvplug_config", "")
        st = self.store._open(cfg)
        if st != 0:
            raise RuntimeError("kvplug HiCache backend: kvplug store with "
                               "config %r failed (status %d, see log)" %
                               (cfg, st))
        sc = storage_config
        rank = getattr(sc, "tp_rank", 0) if sc else 0
        pp_rank = getattr(sc, "pp_rank", 0) if sc else 0
        pp_size = getattr(sc, "pp_size", 1) if sc else 1
        self.is_mla = bool(getattr(sc, "is_mla_model", False)) if sc else False
        if pp_size > 1:
            self.mha_suffix, self.mla_suffix = "%d_%d" % (rank, pp_rank), \
                "%d" % pp_rank
        else:
            self.mha_suffix, self.mla_suffix = "%d" % rank, ""
        parts = []
        if extra.get("extra_backend_tag") is not None:
            parts.append(str(extra["extra_backend_tag"]))
        model = getattr(sc, "model_name", None) if sc else None
        if model:
            parts.append("-".join(model.split("/")))
        self.prefix = "_".join(parts) + "_" if parts else ""
        self._rc = ReplicateConfig()

    # ---- host pool -----------------------------------------------------
    def register_mem_pool_host(self, mem_pool_host):
        self.mem_pool_host = mem_pool_host
        get = getattr(mem_pool_host, "get_hybrid_pool_buffer", None)
        bufs = get() if get else [mem_pool_host.kv_buffer]
        for t in bufs:
            n = t.numel() * t.element_size()
            if n and self.store.register_buffer(t.data_ptr(), n) != 0:
                raise RuntimeError("kvplug HiCache backend: cannot register "
                                   "the host pool buffer (%d bytes)" % n)

    # ---- keys ----------------------------------------------------------
    def _page_keys(self, keys):
        if self.is_mla:
            return ["%s%s_%s_k" % (self.prefix, k, self.mla_suffix)
                    for k in keys], 1
        out = []
        for k in keys:
            out.append("%s%s_%s_k" % (self.prefix, k, self.mha_suffix))
            out.append("%s%s_%s_v" % (self.prefix, k, self.mha_suffix))
        return out, 2

    @staticmethod
    def _per_page(results, mult, ok):
        return [all(ok(r) for r in results[i:i + mult])
                for i in range(0, len(results), mult)]

    # ---- the calls HiCache makes ----------------------------------------
    def batch_exists(self, keys, extra_info=None):
        """Number of leading pages whose every object is stored."""
        qkeys, mult = self._page_keys(keys)
        ex = self.store.batch_is_exist(qkeys)
        for i, r in enumerate(ex):
            if r != 1:
                return i // mult
        return len(keys)

    def _meta(self, keys, host_indices):
        qkeys, mult = self._page_keys(keys)
        ptrs, sizes = self.mem_pool_host.get_page_buffer_meta(host_indices)
        ptrs, sizes = _pack(len(qkeys), ptrs, sizes)
        return qkeys, mult, ptrs, sizes

    def batch_set_v1(self, keys, host_indices, extra_info=None):
        """Stores every page not stored yet; a page another rank stored
        first (shared MLA pages) counts as stored."""
        if not keys:
            return []
        qkeys, mult, ptrs, sizes = self._meta(keys, host_indices)
        ex = self.store.batch_is_exist(qkeys)
        todo = [i for i, r in enumerate(ex) if r != 1]
        res = [0] * len(qkeys)
        if todo:
            tk = [qkeys[i] for i in todo]
            tp = [ptrs[i] for i in todo]
            ts = [sizes[i] for i in todo]
            if isinstance(tp[0], Sequence):
                put = self.store.batch_put_from_multi_buffers(tk, tp, ts,
                                                              self._rc)
            else:
                put = self.store.batch_put_from(tk, tp, ts, self._rc)
            for i, r in zip(todo, put):
                res[i] = r
        return self._per_page(res, mult, lambda r: r == 0)

    def batch_get_v1(self, keys, host_indices, extra_info=None):
        if not keys:
            return []
        qkeys, mult, ptrs, sizes = self._meta(keys, host_indices)
        if isinstance(ptrs[0], Sequence):
            got = self.store.batch_get_into_multi_buffers(qkeys, ptrs, sizes)
        else:
            got = self.store.batch_get_into(qkeys, ptrs, sizes)
        return self._per_page(got, mult, lambda r: r > 0)

    def exists(self, key):
        return self.store.is_exist(key) == 1

    def get(self, key, target_location=None, target_sizes=None):
        return self.store.batch_get_into([key], [target_location],
                                         [target_sizes])[0] >= 0

    def batch_get(self, keys, target_locations=None, target_sizes=None):
        got = self.store.batch_get_into(keys, target_locations, target_sizes)
        for i, r in enumerate(got):
            if r < 0:
                return i
        return len(keys)

    def set(self, key, value=None, target_location=None, target_sizes=None):
        return self.store.batch_put_from([key], [target_location],
                                         [target_sizes])[0] == 0

    def batch_set(self, keys, values=None, target_locations=None,
                  target_sizes=None):
        if not keys:
            return False
        return all(r == 0 for r in self.store.batch_put_from(
            keys, target_locations, target_sizes))

    def clear(self):
        """Empties the whole store (every client's keys), as SGLang's
        Mooncake backend does with remove_all."""
        n = self.store.remove_all()
        if n < 0:
            log.error("kvplug HiCache backend: clear() failed: status %d", n)

    def get_stats(self):
        return None

    def close(self):
        self.store.close()
