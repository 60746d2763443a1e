"""The SGLang HiCache backend, driven as SGLang drives it.

SGLang is not installable here, so its pieces are STAND-INS named as such:
the HiCacheStorage base class (module sglang.srt.mem_cache.hicache_storage),
StorageBackendFactory._create_dynamic_backend (construction by module path:
``cls(storage_config, kwargs)``), HiCacheStorageConfig and the host memory
pools (MHA page-first: one K and one V pointer per page; MLA layer-first:
one pointer per layer per page). The store underneath is the real plugin.
"""
import dataclasses
import importlib
import sys
import threading
import types

import pytest
import torch

from conftest import need_11, no_staging


class StandInHiCacheStorage:
    """Stand-in for sglang.srt.mem_cache.hicache_storage.HiCacheStorage."""

    def register_mem_pool_host(self, mem_pool_host):
        self.mem_pool_host = mem_pool_host


@dataclasses.dataclass
class StandInStorageConfig:
    """Stand-in for SGLang's HiCacheStorageConfig."""
    tp_rank: int = 0
    tp_size: int = 1
    pp_rank: int = 0
    pp_size: int = 1
    is_mla_model: bool = False
    model_name: str = "org/model"
    extra_config: dict = None


def stand_in_create_dynamic_backend(storage_config, mem_pool_host):
    """Stand-in for StorageBackendFactory._create_dynamic_backend followed
    by the cache controller's register_mem_pool_host."""
    cfg = storage_config.extra_config
    mod = importlib.import_module(cfg["module_path"])
    cls = getattr(mod, cfg["class_name"])
    assert issubclass(cls, StandInHiCacheStorage)
    backend = cls(storage_config, {})
    backend.register_mem_pool_host(mem_pool_host)
    return backend


class StandInMHAPagePool:
    """Stand-in for MHATokenToKVPoolHost, page_first layout: K and V halves
    of one allocation; each page is one contiguous run in each half."""

    def __init__(self, pages, page_size=4, token_bytes=64):
        self.page_size = page_size
        self.page_bytes = page_size * token_bytes
        self.kv_buffer = torch.zeros(2, pages, self.page_bytes,
                                     dtype=torch.uint8)

    def get_hybrid_pool_buffer(self):
        return [self.kv_buffer[0], self.kv_buffer[1]]

    def get_page_buffer_meta(self, indices):
        ptrs, sizes = [], []
        for tok in indices[::self.page_size].tolist():
            p = tok // self.page_size
            ptrs += [self.kv_buffer[0, p].data_ptr(),
                     self.kv_buffer[1, p].data_ptr()]
            sizes += [self.page_bytes] * 2
        return ptrs, sizes

    def page(self, p):
        return self.kv_buffer[:, p]


class StandInMLALayerPool:
    """Stand-in for MLATokenToKVPoolHost, layer_first layout: a page is one
    run per layer (multi-buffer objects)."""

    def __init__(self, pages, layers=3, page_size=4, token_bytes=32):
        self.page_size = page_size
        self.run = page_size * token_bytes
        self.kv_buffer = torch.zeros(layers, pages, self.run,
                                     dtype=torch.uint8)

    def get_page_buffer_meta(self, indices):
        ptrs, sizes = [], []
        for tok in indices[::self.page_size].tolist():
            p = tok // self.page_size
            for layer in range(self.kv_buffer.shape[0]):
                ptrs.append(self.kv_buffer[layer, p].data_ptr())
                sizes.append(self.run)
        return ptrs, sizes

    def page(self, p):
        return self.kv_buffer[:, p]


@pytest.fixture
def sglang_mod(monkeypatch, plugin_path):
    names = ["sglang", "sglang.srt", "sglang.srt.mem_cache",
             "sglang.srt.mem_cache.hicache_storage"]
    for n in names:
        monkeypatch.setitem(sys.modules, n, types.ModuleType(n))
    sys.modules[names[-1]].HiCacheStorage = StandInHiCacheStorage
    monkeypatch.delitem(sys.modules, "kvplug.sglang", raising=False)
    return importlib.import_module("kvplug.sglang")


def _config(key, server=None, **kw):
    extra = {"backend_name": "kvplug", "module_path": "kvplug.sglang",
             "class_name": "KvplugHiCacheStorage",
             "kvplug_config": ("servers=" + server) if server
             else "pool_size=64MiB", "extra_backend_tag": key}
    return StandInStorageConfig(extra_config=extra, **kw)


def _fill(pool, pages, seed):
    for p in pages:
        pool.page(p).copy_(torch.randint(0, 256, pool.page(p).shape,
                                         generator=torch.Generator()
                                         .manual_seed(seed + p),
                                         dtype=torch.uint8))


def _indices(pages, page_size):
    return torch.cat([torch.arange(p * page_size, (p + 1) * page_size)
                      for p in pages])


def test_mha_page_first_sequence(sglang_mod, key):
    pool = StandInMHAPagePool(8)
    be = stand_in_create_dynamic_backend(_config(key, tp_rank=1), pool)
    hashes = ["h%d" % i for i in range(3)]
    assert be.batch_exists(hashes) == 0
    _fill(pool, [0, 1, 2], 5)
    assert be.batch_set_v1(hashes, _indices([0, 1, 2], 4)) == [True] * 3
    assert be.batch_exists(hashes + ["h9"]) == 3
    # keys as SGLang builds them: <tag>_<model>_<hash>_<tp_rank>_k / _v
    assert be.store.is_exist("%s_org-model_h1_1_v" % key) == 1
    got = be.batch_get_v1(hashes[::-1] + ["h9"], _indices([5, 6, 7, 4], 4))
    assert got == [True, True, True, False]
    for src, dst in ((2, 5), (1, 6), (0, 7)):
        assert torch.equal(pool.page(dst), pool.page(src))
    # a re-set of stored pages is success
    assert be.batch_set_v1(hashes[:1], _indices([0], 4)) == [True]
    be.close()


def _mla(sglang_mod, key, monkeypatch, zero_copy, server):
    """Two TP ranks (two engines) on one shared kvplug-server."""
    pools = [StandInMLALayerPool(4) for _ in range(2)]
    ranks = [stand_in_create_dynamic_backend(
        _config(key, server, tp_rank=r, tp_size=2, is_mla_model=True), pools[r])
        for r in range(2)]
    if zero_copy:
        for be in ranks:
            no_staging(be.store.store, monkeypatch)
    for p in pools:
        _fill(p, [0, 1], 11)  # MLA pages are identical on every rank
    out, go = [None, None], threading.Barrier(2)

    def rank(r):
        go.wait()
        out[r] = ranks[r].batch_set_v1(["m0", "m1"], _indices([0, 1], 4))
    ts = [threading.Thread(target=rank, args=(r,)) for r in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert out == [[True, True], [True, True]]  # the loser gets success
    assert ranks[0].store.is_exist("%s_org-model_m1__k" % key) == 1
    assert ranks[1].batch_exists(["m0", "m1"]) == 2
    pools[1].kv_buffer.zero_()
    assert ranks[1].batch_get_v1(["m1", "m0"], _indices([2, 3], 4)) == [
        True, True]
    assert torch.equal(pools[1].page(2), pools[0].page(1))
    assert torch.equal(pools[1].page(3), pools[0].page(0))
    for be in ranks:
        be.close()


def test_mla_layer_first_multi_buffer_zero_copy_on_abi_1_1(
        sglang_mod, key, monkeypatch, store, server):
    need_11(store)
    _mla(sglang_mod, key, monkeypatch, True, server)


def test_mla_layer_first_multi_buffer(sglang_mod, key, monkeypatch, server):
    _mla(sglang_mod, key, monkeypatch, False, server)


def test_clear_empties_the_store(sglang_mod, key, store, server):
    need_11(store)
    a = stand_in_create_dynamic_backend(_config(key, server, tp_rank=0),
                                        StandInMHAPagePool(2))
    b = stand_in_create_dynamic_backend(_config(key, server, tp_rank=1),
                                        StandInMHAPagePool(2))
    assert a.batch_set_v1(["c0"], _indices([0], 4)) == [True]
    assert b.batch_set_v1(["c0"], _indices([0], 4)) == [True]
    a.clear()  # every client's keys go: rank 1's too
    assert a.batch_exists(["c0"]) == 0 and b.batch_exists(["c0"]) == 0
    a.close()
    b.close()


def test_bad_config_raises_with_the_reason(sglang_mod, key):
    cfg = _config(key)
    cfg.extra_config["kvplug_config"] = "bogus_key=1"
    with pytest.raises(RuntimeError, match="bogus_key"):
        stand_in_create_dynamic_backend(cfg, StandInMHAPagePool(1))
