"""kvplug.Store on the real plugin: bytes, registration of every buffer
kind, errors by status name, batches, gather/scatter, threads."""
import ctypes as C
import threading

import numpy as np
import pytest
import torch

import kvplug
from conftest import need_11, no_staging


def test_put_get_exists_size_remove(store, key):
    store.put(key + "a", b"hello")
    assert store.get(key + "a") == b"hello"
    assert store.exists(key + "a") and store.size(key + "a") == 5
    store.remove(key + "a")
    assert not store.exists(key + "a")


def test_errors_carry_status_name_and_key(store, key):
    store.put(key + "x", b"1")
    with pytest.raises(kvplug.Exists) as e:
        store.put(key + "x", b"2")
    assert e.value.status == kvplug.KVP_ERR_EXISTS
    assert e.value.status_name == "KVP_ERR_EXISTS"
    assert str(e.value).startswith("KVP_ERR_EXISTS: ") and key in str(e.value)
    assert store.get(key + "x") == b"1"  # old value kept
    store.put(key + "x", b"22", overwrite=True)
    assert store.get(key + "x") == b"22"
    with pytest.raises(kvplug.NotFound, match="KVP_ERR_NOT_FOUND.*nope"):
        store.get(key + "nope")
    with pytest.raises(kvplug.NotFound):
        store.remove(key + "nope")
    with pytest.raises(kvplug.InvalidArgument, match="NUL"):
        store.put("a\0b", b"x")
    assert kvplug.status_name(-999) == "KVP_STATUS(-999)"


def test_empty_object(store, key):
    store.put(key + "e", b"")
    assert store.get(key + "e") == b"" and store.size(key + "e") == 0


@pytest.mark.parametrize("kind", ["numpy", "torch", "bytearray",
                                  "memoryview", "raw"])
def test_register_each_buffer_kind_zero_copy(store, key, kind, monkeypatch):
    n = 1 << 16
    backing = np.zeros(2 * n, np.uint8)
    obj = {"numpy": backing, "torch": torch.from_numpy(backing),
           "bytearray": None, "memoryview": None,
           "raw": (backing.ctypes.data, backing.nbytes)}[kind]
    if kind in ("bytearray", "memoryview"):
        ba = bytearray(2 * n)
        obj = ba if kind == "bytearray" else memoryview(ba)
        backing = np.frombuffer(ba, np.uint8)
    ptr, length = store.register(obj)
    assert (ptr, length) == (backing.ctypes.data, 2 * n)
    no_staging(store, monkeypatch)
    backing[:n] = np.arange(n, dtype=np.uint64).astype(np.uint8)
    store.put_from(key, (ptr, n))
    assert store.get_into(key, (ptr + n, n)) == n
    assert np.array_equal(backing[n:], backing[:n])
    monkeypatch.undo()
    store.unregister(obj)
    with pytest.raises(kvplug.NotRegistered):
        store.put_from(key + "2", (ptr, n))


def test_unregistered_memory_is_refused_not_staged(store, key):
    a = np.ones(4096, np.uint8)
    with pytest.raises(kvplug.NotRegistered, match="KVP_ERR_NOT_REGISTERED"):
        store.put_from(key, a)
    store.put(key, a)  # the convenience put copies instead
    assert store.get(key) == bytes(a)


def test_bad_buffers_are_named(store):
    with pytest.raises(kvplug.InvalidArgument, match="not a buffer"):
        store.register(object())
    with pytest.raises(kvplug.InvalidArgument, match="not contiguous"):
        store.register(torch.zeros(4, 4).t())
    with pytest.raises(kvplug.InvalidArgument, match="read-only"):
        store.get_into("k", b"immutable")
    with pytest.raises(kvplug.InvalidArgument):
        store.register(torch.zeros(0))  # NULL / length 0


def test_batches_report_per_item(store, key):
    buf = np.zeros(1 << 20, np.uint8)
    base, _ = store.register(buf)
    try:
        buf[:300] = np.arange(300) % 251
        keys = [key + "b%d" % i for i in range(3)] + [key + "b0"]
        res = store.batch_put_from(keys, [base, base + 100, base + 200, base],
                                   [100, 100, 100, 100])
        assert res == [0, 0, 0, kvplug.KVP_ERR_EXISTS]
        got = store.batch_get_into(
            [key + "b2", key + "missing", key + "b1"],
            np.array([base + 4096, base + 8192, base + 12288], np.uint64),
            [100, 100, 10])
        assert got == [100, kvplug.KVP_ERR_NOT_FOUND, kvplug.KVP_ERR_TOO_SMALL]
        assert np.array_equal(buf[4096:4196], buf[200:300])
        assert store.batch_exists([key + "b1", key + "zz"]) == [1, 0]
        assert store.batch_remove([key + "b1", key + "zz"]) == [
            0, kvplug.KVP_ERR_NOT_FOUND]
        with pytest.raises(kvplug.InvalidArgument, match="sizes has 1"):
            store.batch_put_from(keys[:2], [base, base], [1])
        assert store.batch_put_from([], [], []) == []
    finally:
        store.unregister(buf)


def test_large_batch_of_distinct_keys(store, key):
    n = 2000
    buf = np.zeros(n * 8, np.uint8)
    base, _ = store.register(buf)
    try:
        buf[:] = np.arange(n * 8) % 256
        keys = [key + "%05d" % i for i in range(n)]
        ptrs = base + 8 * np.arange(n, dtype=np.uint64)
        assert store.batch_put_from(keys, ptrs, np.full(n, 8)) == [0] * n
        assert store.batch_exists(keys) == [1] * n
    finally:
        store.unregister(buf)


def _gather_scatter(store, key):
    k_half = np.zeros(1 << 16, np.uint8)
    v_half = np.zeros(1 << 16, np.uint8)
    store.register(k_half)
    store.register(v_half)
    try:
        k_half[:64] = 1
        v_half[:32] = 2
        store.put_gather(key, [k_half[:64], v_half[:32]])
        assert store.size(key) == 96
        assert store.get_scatter(key, [v_half[1000:1050],
                                       k_half[2000:2046]]) == 96
        assert (v_half[1000:1050] == 1).all()
        assert list(k_half[2000:2046]) == [1] * 14 + [2] * 32
        res = store.batch_get_into_iov([key, key + "none"],
                                       [[k_half.ctypes.data + 5000],
                                        [k_half.ctypes.data]], [[95], [1]])
        assert res == [kvplug.KVP_ERR_TOO_SMALL, kvplug.KVP_ERR_NOT_FOUND]
    finally:
        store.unregister(k_half)
        store.unregister(v_half)


def test_gather_scatter_zero_copy_on_abi_1_1(store, key, monkeypatch):
    need_11(store)
    no_staging(store, monkeypatch)
    _gather_scatter(store, key)


def test_gather_scatter_abi_1_0_fallback(store, key, monkeypatch, caplog):
    monkeypatch.setattr(store, "_f_batch_put_from_iov", None)
    monkeypatch.setattr(store, "_f_batch_get_into_iov", None)
    monkeypatch.setattr(store, "_warned", set())
    _gather_scatter(store, key)
    assert "multi-buffer puts copy through a staging buffer" in caplog.text


def test_batch_exists_abi_1_1_slot_is_used(store, key, monkeypatch):
    need_11(store)
    store.put(key, b"x")
    monkeypatch.setattr(store, "_f_exists", None)  # per-key path would fail
    assert store.batch_exists([key, key + "no"]) == [1, 0]
    monkeypatch.setattr(store, "_f_remove", None)
    assert store.batch_remove([key, key + "no"]) == [
        0, kvplug.KVP_ERR_NOT_FOUND]


def test_remove_prefix_and_stats(store, key):
    if store.abi_minor < 1:
        with pytest.raises(kvplug.NotSupported, match="ABI 1.1"):
            store.remove_prefix(key)
        with pytest.raises(kvplug.NotSupported):
            store.stats()
        return
    before = store.stats()
    for i in range(5):
        store.put(key + "p/%d" % i, b"v")
    store.put(key + "q", b"v")
    assert store.remove_prefix(key + "p/") == 5
    assert store.batch_exists([key + "p/0", key + "q"]) == [0, 1]
    after = store.stats()
    assert after["puts"] >= before["puts"] + 6
    assert after["removes"] >= before["removes"] + 5


def test_threads_share_one_store(store, key):
    errors = []

    def work(t):
        try:
            for i in range(50):
                k = "%sth%d-%d" % (key, t, i)
                v = bytes([t, i]) * (100 + i)
                store.put(k, v)
                assert store.get(k) == v
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_context_manager_and_closed_store(plugin_path):
    with kvplug.Store({"pool_size": "16MiB"}, plugin_path) as s:
        s.put("k", b"v")
        assert s.abi_minor in (0, 1) and s.plugin_path == plugin_path
    with pytest.raises(kvplug.InvalidArgument, match="closed"):
        s.put("k", b"v")
    s.close()  # idempotent


def test_bad_config_and_missing_plugin(plugin_path, monkeypatch, tmp_path):
    with pytest.raises(kvplug.InvalidArgument, match="engine_create"):
        kvplug.Store("no_such_key=1", plugin_path)
    with pytest.raises(kvplug.NotFound, match="cannot load plugin"):
        kvplug.Store(None, str(tmp_path / "nothing.so"))
    monkeypatch.delenv("KVPLUG_PLUGIN")
    from kvplug import _plugin
    monkeypatch.setattr(_plugin, "candidate_paths",
                        lambda: [str(tmp_path / "libkvplug.so")])
    with pytest.raises(kvplug.NotFound, match="KVPLUG_PLUGIN"):
        kvplug.Store()


def test_plugin_from_env(plugin_path, monkeypatch):
    monkeypatch.setenv("KVPLUG_PLUGIN", plugin_path)
    with kvplug.Store("pool_size=8MiB") as s:
        assert s.plugin_path == plugin_path
        assert s.caps & kvplug._abi.CAP_THREAD_SAFE
