"""kvplug.mooncake.MooncakeDistributedStore with the call sequences SGLang's
Mooncake backend makes, and Mooncake's return conventions."""
import ctypes as C
import threading

import numpy as np
import pytest
import torch

import kvplug
from kvplug.mooncake import (MooncakeDistributedStore,
                             MooncakeHostMemAllocator, ReplicateConfig)
from conftest import need_11, no_staging

MiB = 1 << 20


@pytest.fixture(scope="module")
def mc(plugin_path):
    m = MooncakeDistributedStore()
    # SGLang: 8 positional arguments plus every optional keyword it passes.
    assert m.setup("localhost", "P2PHANDSHAKE", 128 * MiB, 16 * MiB, "tcp",
                   "", "", None, enable_client_http_server=True,
                   client_http_port=9003, enable_ssd_offload=False,
                   ssd_offload_path="/tmp/x", tenant_id="tenant-a") == 0
    yield m
    assert m.close() == 0


@pytest.fixture(scope="module")
def pool(mc):
    """One mapping, K and V registered separately as adjacent ranges."""
    alloc = MooncakeHostMemAllocator()
    ptr = alloc.alloc(4 * MiB)
    assert mc.register_buffer(ptr, 2 * MiB) == 0
    assert mc.register_buffer(ptr + 2 * MiB, 2 * MiB) == 0
    yield ptr, np.ctypeslib.as_array((C.c_uint8 * (4 * MiB)).from_address(
        ptr))
    assert mc.unregister_buffer(ptr) == 0
    assert mc.unregister_buffer(ptr + 2 * MiB) == 0


def test_warmup_as_sglang_does(mc, key):
    v = bytes(range(256)) * 16  # 4 KiB
    assert mc.put(key, v) == 0
    assert mc.is_exist(key) == 1
    assert mc.get(key) == v
    assert mc.put(key, v) == 0  # re-put of an existing key: 0, as Mooncake
    assert mc.get(key + "none") == b""
    assert mc.get_size(key) == 4096 and mc.get_size(key + "none") < 0
    assert mc.get_hostname() == "localhost"


def test_zero_copy_batches(mc, pool, key):
    base, mem = pool
    mem[:4096] = np.arange(4096) % 253
    keys = [key + "%d_0_k" % i for i in range(4)]
    cfg = ReplicateConfig()
    cfg.group_ids = ["g"] * 4  # SGLang sets it when the attribute exists
    assert mc.batch_is_exist(keys) == [0, 0, 0, 0]
    ptrs = [base + 1024 * i for i in range(4)]
    assert mc.batch_put_from(keys, ptrs, [1024] * 4, cfg) == [0, 0, 0, 0]
    assert mc.batch_put_from(keys[:1], ptrs[:1], [1024]) == [0]  # exists
    assert mc.batch_is_exist(keys + [key + "x"]) == [1, 1, 1, 1, 0]
    dst = base + 3 * MiB  # inside the V registration
    got = mc.batch_get_into(keys, [dst + 1024 * i for i in range(4)],
                            [1024] * 4)
    assert got == [1024] * 4
    assert np.array_equal(mem[3 * MiB:3 * MiB + 4096], mem[:4096])
    assert mc.get_into(keys[0], dst, 1024) == 1024
    assert mc.get_into(key + "none", dst, 1024) == kvplug.KVP_ERR_NOT_FOUND
    assert mc.put_from(key + "single", base, 10) == 0
    assert mc.put_from(key + "single", base, 10) == 0
    unreg = np.zeros(16, np.uint8)
    assert mc.put_from(key + "u", unreg.ctypes.data, 16) == \
        kvplug.KVP_ERR_NOT_REGISTERED


def _multi(mc, pool, key):
    base, mem = pool
    layers = 4
    mem[:4 * 256] = 7
    mem[2 * MiB:2 * MiB + 4 * 256] = 9
    ptrs = [[base + 256 * l for l in range(layers)] +
            [base + 2 * MiB + 256 * l for l in range(layers)]]
    sizes = [[256] * (2 * layers)]
    assert mc.batch_put_from_multi_buffers([key], ptrs, sizes,
                                           ReplicateConfig()) == [0]
    assert mc.batch_put_from_multi_buffers([key], ptrs, sizes,
                                           ReplicateConfig()) == [0]
    out = [[base + MiB + 256 * l for l in range(2 * layers)]]
    assert mc.batch_get_into_multi_buffers([key], out, sizes) == [2048]
    assert (mem[MiB:MiB + 1024] == 7).all()
    assert (mem[MiB + 1024:MiB + 2048] == 9).all()


def test_multi_buffers_zero_copy_on_abi_1_1(mc, pool, key, monkeypatch):
    need_11(mc.store)
    no_staging(mc.store, monkeypatch)
    _multi(mc, pool, key)


def test_multi_buffers_on_abi_1_0_fallback(mc, pool, key, monkeypatch):
    monkeypatch.setattr(mc.store, "_f_batch_put_from_iov", None)
    monkeypatch.setattr(mc.store, "_f_batch_get_into_iov", None)
    _multi(mc, pool, key)


def test_two_ranks_put_the_same_page_at_once(server, key):
    """Two engines (one per rank) on one server put one MLA page."""
    ranks, mems = [], []
    for _ in range(2):
        m = MooncakeDistributedStore()
        assert m.setup("", "", 0, 0, "tcp", "", server, None) == 0
        mem = np.full(4096, 3, np.uint8)
        assert m.register_buffer(mem.ctypes.data, mem.nbytes) == 0
        ranks.append(m)
        mems.append(mem)
    results, go = [], threading.Barrier(2)

    def rank(r):
        m, base = ranks[r], mems[r].ctypes.data
        go.wait()
        for i in range(20):
            results.append(m.batch_put_from(["%s%d__k" % (key, i)], [base],
                                            [512]))
            results.append(m.put_from("%s%d_s" % (key, i), base, 64))
    threads = [threading.Thread(target=rank, args=(r,)) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(str, results)) == ["0"] * 40 + ["[0]"] * 40
    for m in ranks:
        m.close()


def test_remove_and_remove_all(mc, key, server):
    assert mc.put(key, b"v") == 0
    assert mc.remove(key) == 0
    assert mc.remove(key) == kvplug.KVP_ERR_NOT_FOUND
    if mc.store.abi_minor < 1:
        assert mc.remove_all() == kvplug.KVP_ERR_NOT_SUPPORTED
        return
    # Two clients of one server: remove_all empties the whole store.
    one, two = MooncakeDistributedStore(), MooncakeDistributedStore()
    assert one.setup("", "", 0, 0, "tcp", "", server, None) == 0
    assert two.setup("", "", 0, 0, "tcp", "", server, None) == 0
    keys = [key + str(i) for i in range(3)]
    for k in keys:
        assert two.put(k, b"v") == 0
    assert one.remove_all() >= 3
    assert two.batch_is_exist(keys) == [0, 0, 0]
    one.close()
    two.close()


def test_tensor_api(mc, key):
    x = torch.randn(4, 6)
    assert mc.put_tensor(key, x) == 0
    assert torch.equal(mc.get_tensor(key), x)
    assert mc.put_tensor(key, x) == 0
    assert mc.get_tensor(key + "none") is None
    assert mc.put_tensor_with_tp(key + "tp", x, tp_rank=0, tp_size=2,
                                 split_dim=1) == 0
    assert torch.equal(mc.get_tensor_with_tp(key + "tp", tp_rank=1,
                                             tp_size=2), x[:, 3:])
    assert mc.batch_put_tensor([key + "a", key + "b"], [x, x * 2]) == [0, 0]
    a, b = mc.batch_get_tensor([key + "a", key + "b"])
    assert torch.equal(b, x * 2)
    assert mc.batch_put_tensor_with_tp([key + "c"], [x], tp_size=2,
                                       split_dim=0) == [0]
    assert torch.equal(mc.batch_get_tensor_with_tp([key + "c"], 1, 2)[0],
                       x[2:])


def test_setup_maps_onto_kvplug_config(plugin_path, caplog):
    m = MooncakeDistributedStore()
    caplog.set_level("INFO", "kvplug")
    # A master address is a kvplug server list: nothing listens on port 1.
    st = m.setup("h", "meta", 0, 0, "tcp", "", "127.0.0.1:1", None)
    assert st == kvplug.KVP_ERR_DISCONNECTED
    assert "Mooncake setup" in caplog.text
    assert m.setup_dummy(32 * MiB, 0, "") == 0
    assert m.put("k", b"v") == 0 and m.close() == 0
    with pytest.raises(RuntimeError, match="setup"):
        MooncakeDistributedStore().put("k", b"v")
