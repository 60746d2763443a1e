"""The LMCache storage plugin, driven as LMCache drives it.

LMCache is not installable here, so its pieces are STAND-INS named as
such: StoragePluginInterface (module
lmcache.v1.storage_backend.abstract_backend), MemoryFormat (module
lmcache.v1.memory_management), the storage-plugin loader (reads
storage_plugin.<name>.module_path/class_name from extra_config, constructs
with keywords, logs and swallows a constructor exception), LocalCPUBackend
with its CPU pool, MemoryObj and CacheEngineKey. The store is the real
plugin on a real kvplug-server shared by the ranks.
"""
import enum
import importlib
import logging
import sys
import threading
import types

import pytest
import torch

from conftest import need_11


class StandInStoragePluginInterface:
    """Stand-in for LMCache's StoragePluginInterface."""

    def __init__(self, dst_device="cuda", config=None, metadata=None,
                 local_cpu_backend=None, loop=None):
        self.dst_device = dst_device


class StandInMemoryFormat(enum.IntEnum):
    """Stand-in for lmcache.v1.memory_management.MemoryFormat."""
    UNDEFINED = 0
    KV_2LTD = 1
    KV_T2D = 2
    KV_MLA_FMT = 4


class StandInMetadata:
    def __init__(self, shape, dtype, fmt):
        self.shape, self.dtype, self.fmt = shape, dtype, fmt


class StandInMemoryObj:
    """Stand-in for LMCache's TensorMemoryObj: a view into the CPU pool."""

    def __init__(self, tensor, fmt):
        self.tensor = tensor
        self.metadata = StandInMetadata(tensor.shape, tensor.dtype, fmt)


class StandInAllocator:
    def __init__(self, nbytes):
        self.buffer = torch.zeros(nbytes, dtype=torch.uint8)
        self.off = 0
        self.lock = threading.Lock()


class StandInLocalCPUBackend:
    """Stand-in for LocalCPUBackend: allocate(shape, dtype, fmt) carves
    memory objects out of one CPU pool (memory_allocator.buffer)."""

    def __init__(self, nbytes=8 << 20):
        self.memory_allocator = StandInAllocator(nbytes)

    def allocate(self, shape, dtype, fmt):
        a = self.memory_allocator
        n = int(torch.Size(shape).numel()) * torch.empty(
            0, dtype=dtype).element_size()
        with a.lock:
            if a.off + n > a.buffer.numel():
                return None
            view = a.buffer[a.off:a.off + n]
            a.off += (n + 63) // 64 * 64
        return StandInMemoryObj(view.view(dtype).view(shape), fmt)


class StandInKey:
    """Stand-in for CacheEngineKey."""

    def __init__(self, s):
        self.s = s

    def to_string(self):
        return self.s


class StandInConfig:
    def __init__(self, extra):
        self.storage_plugins = ["kvplug"]
        self.extra_config = extra


def stand_in_load_plugins(config, local_cpu_backend, log):
    """Stand-in for LMCache's storage-plugin loader."""
    out = {}
    for name in config.storage_plugins:
        try:
            mod = importlib.import_module(
                config.extra_config["storage_plugin.%s.module_path" % name])
            cls = getattr(mod, config.extra_config[
                "storage_plugin.%s.class_name" % name])
            out[name] = cls(config=config, dst_device="cpu", metadata=None,
                            local_cpu_backend=local_cpu_backend, loop=None)
        except Exception as e:  # LMCache logs and runs without the plugin
            log.append(str(e))
    return out


@pytest.fixture
def lmcache_mod(monkeypatch, plugin_path):
    names = ["lmcache", "lmcache.v1", "lmcache.v1.storage_backend",
             "lmcache.v1.storage_backend.abstract_backend",
             "lmcache.v1.memory_management"]
    for n in names:
        monkeypatch.setitem(sys.modules, n, types.ModuleType(n))
    sys.modules[names[3]].StoragePluginInterface = \
        StandInStoragePluginInterface
    sys.modules[names[4]].MemoryFormat = StandInMemoryFormat
    monkeypatch.delitem(sys.modules, "kvplug.lmcache", raising=False)
    return importlib.import_module("kvplug.lmcache")


def _config(server, **more):
    extra = {"storage_plugin.kvplug.module_path": "kvplug.lmcache",
             "storage_plugin.kvplug.class_name": "KvplugStorageBackend",
             "kvplug.config": "servers=" + server}
    extra.update(more)
    return StandInConfig(extra)


def _chunk(cpu, tokens, seed, fmt=StandInMemoryFormat.KV_2LTD):
    obj = cpu.allocate(torch.Size([2, 3, tokens, 8]), torch.bfloat16, fmt)
    g = torch.Generator().manual_seed(seed)
    obj.tensor.copy_(torch.randn(obj.tensor.shape, generator=g))
    return obj


def _sequence(lmcache_mod, server, key, monkeypatch, zero_copy):
    cpu = StandInLocalCPUBackend()
    errors = []
    be = stand_in_load_plugins(_config(server), cpu, errors)["kvplug"]
    sched = stand_in_load_plugins(_config(server), None, errors)["kvplug"]
    assert errors == [] and isinstance(be, StandInStoragePluginInterface)
    assert be.zero_copy == zero_copy
    # keys as LMCache makes them: '/' inside, a leading '-', per rank
    keys = [StandInKey("-%s/vllm@model@1@0@%d" % (key, i)) for i in range(3)]
    objs = [_chunk(cpu, 16, 1), _chunk(cpu, 16, 2),
            _chunk(cpu, 5, 3, StandInMemoryFormat.KV_MLA_FMT)]
    done = []
    calls = []
    real = be.store._staging
    be.store._staging = lambda n: calls.append(n) or real(n)
    assert be.batched_submit_put_task(keys, objs,
                                      on_complete_callback=done.append) \
        is None
    del be.store._staging
    # zero-copy: only the three headers are staged; else whole objects
    assert calls == ([304 * 3] if zero_copy else
                     [3 * 304 + 2 * (2 * 3 * 16 * 8 * 2) + 2 * 3 * 5 * 8 * 2])
    assert done == keys
    expect = [o.tensor.clone() for o in objs]
    del objs  # LMCache drops its references once the put returns
    assert be.batched_submit_put_task(keys[:1], [_chunk(cpu, 16, 9)]) is None
    assert sched.contains(keys[0]) and not sched.contains(StandInKey("no"))
    assert sched.batched_contains(keys + [StandInKey("no")]) == 3
    assert not be.exists_in_put_tasks(keys[0])
    for k, e in zip(keys, expect):
        got = be.get_blocking(k)
        assert got.tensor.shape == e.shape and got.tensor.dtype == e.dtype
        assert torch.equal(got.tensor.view(torch.int16), e.view(torch.int16))
    assert be.get_blocking(keys[2]).metadata.fmt == \
        StandInMemoryFormat.KV_MLA_FMT
    assert be.get_blocking(StandInKey("missing")) is None
    assert be.pin(keys[0]) and be.unpin(keys[0])
    assert be.remove(keys[1], force=True) and not be.contains(keys[1])
    assert be.batched_get_blocking([keys[1], keys[0]])[0] is None
    assert be.get_allocator_backend() is cpu
    be.close()
    sched.close()


def test_lmcache_sequence_zero_copy_on_abi_1_1(lmcache_mod, server, key,
                                               monkeypatch, store):
    need_11(store)
    _sequence(lmcache_mod, server, key, monkeypatch, True)


def test_lmcache_sequence(lmcache_mod, server, key, monkeypatch, store):
    if store.abi_minor >= 1:  # force the 1.0 path of this plugin
        from kvplug import store as st
        real = st.Store.has_op
        monkeypatch.setattr(st.Store, "has_op", lambda s, op: False if
                            op == "batch_put_from_iov" else real(s, op))
    _sequence(lmcache_mod, server, key, monkeypatch, False)


def test_threads_put_and_get(lmcache_mod, server, key):
    cpu = StandInLocalCPUBackend(32 << 20)
    be = stand_in_load_plugins(_config(server), cpu, [])["kvplug"]
    bad = []

    def worker(t):
        for i in range(10):
            k = StandInKey("%s/th%d/%d" % (key, t, i))
            o = _chunk(cpu, 4 + i, t * 100 + i)
            be.batched_submit_put_task([k], [o])
            got = be.get_blocking(k)
            if got is None or not torch.equal(got.tensor, o.tensor):
                bad.append(k.s)
    ts = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert bad == []
    be.close()


def test_constructor_failure_is_loud(lmcache_mod, caplog):
    errors = []
    cfg = _config("127.0.0.1:1")  # nothing listens there
    with caplog.at_level(logging.ERROR, "kvplug"):
        assert stand_in_load_plugins(cfg, StandInLocalCPUBackend(),
                                     errors) == {}
    assert errors and "KVP_ERR_DISCONNECTED" in errors[0]
    assert "LMCache will run WITHOUT kvplug" in caplog.text
