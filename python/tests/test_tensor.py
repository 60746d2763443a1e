"""Tensors through kvplug.Store: the 304-byte header, every dtype torch
has, TP put/get, batches."""
import struct

import numpy as np
import pytest
import torch

import kvplug
from kvplug import tensor as T
from conftest import need_11, no_staging


def test_header_bytes_at_the_documented_offsets():
    h = T.pack_header(12, (2, 3))
    assert len(h) == 304
    assert struct.unpack_from("<IHHiiIIQQ", h) == (
        0x4D4F4F4E, 1, 304, 12, 2, 0, 0, 304, 12)
    assert struct.unpack_from("<8q", h, 40) == (2, 3) + (-1,) * 6
    assert struct.unpack_from("<8q", h, 104) == (2, 3) + (-1,) * 6
    assert struct.unpack_from("<I", h, 168) == (0,)


def _sample(dt, shape):
    if dt == torch.bool:
        return torch.arange(int(np.prod(shape))).reshape(shape) % 3 == 0
    if dt.is_floating_point:
        return torch.randn(shape).to(dt)
    return torch.randint(0, 100, shape).to(dt)


@pytest.mark.parametrize("code", sorted(T.torch_dtypes()))
def test_every_torch_dtype_round_trips(store, key, code):
    dt = T.torch_dtypes()[code]
    x = _sample(dt, (3, 5))
    store.put_tensor(key, x)
    y = store.get_tensor(key)
    assert y.dtype == dt and y.shape == x.shape
    assert torch.equal(y.view(torch.uint8), x.view(torch.uint8))
    assert store.size(key) == 304 + 15 * T.ELEM_SIZE[code]


def test_dtypes_this_torch_has_are_all_mapped():
    have = T.torch_dtypes()
    for name in ("float32", "float64", "int8", "uint8", "int16", "int32",
                 "int64", "bool", "float16", "bfloat16", "uint16", "uint32",
                 "uint64", "float8_e4m3fn", "float8_e5m2"):
        if hasattr(torch, name):
            assert getattr(torch, name) in have.values(), name
    with pytest.raises(kvplug.InvalidArgument, match="no kvplug dtype"):
        T.dtype_code(torch.zeros(1, dtype=torch.complex64))


@pytest.mark.parametrize("shape", [(), (0,), (2, 0, 3), (1,) * 8])
def test_shapes(store, key, shape):
    x = _sample(torch.float32, shape)
    store.put_tensor(key, x)
    y = store.get_tensor(key)
    assert y.shape == x.shape and torch.equal(x, y)


def test_nine_dims_and_non_tensor_objects_refused(store, key):
    with pytest.raises(kvplug.InvalidArgument, match="at most 8"):
        store.put_tensor(key, torch.zeros((1,) * 9))
    store.put(key, b"not a tensor" * 40)
    with pytest.raises(kvplug.InvalidArgument, match="not a kvplug tensor"):
        store.get_tensor(key)


def test_non_contiguous_and_numpy_inputs(store, key):
    x = torch.arange(12.).reshape(3, 4).t()
    store.put_tensor(key + "t", x)
    assert torch.equal(store.get_tensor(key + "t"), x)
    a = np.arange(10, dtype=np.int16)
    store.put_tensor(key + "n", a)
    assert store.get_tensor(key + "n").tolist() == a.tolist()


@pytest.mark.parametrize("split_dim", [0, 1, -1])
def test_tp_put_get(store, key, split_dim):
    x = torch.randn(4, 8, 6).to(torch.bfloat16)
    store.put_tensor_with_tp(key, x, tp_size=2, split_dim=split_dim)
    parts = torch.chunk(x, 2, dim=split_dim)
    for r in range(2):
        y = store.get_tensor_with_tp(key, tp_rank=r, tp_size=2)
        assert torch.equal(y.view(torch.int16), parts[r].view(torch.int16))
    assert store.exists("%s_tp_1" % key)
    with pytest.raises(kvplug.TPMismatch):
        store.get_tensor_with_tp(key, tp_rank=0, tp_size=4)
    with pytest.raises(kvplug.InvalidArgument, match="tp_rank"):
        store.get_tensor_with_tp(key, tp_rank=2, tp_size=2)
    with pytest.raises(kvplug.Exists):
        store.put_tensor_with_tp(key, x, tp_size=2, split_dim=split_dim)
    with pytest.raises(kvplug.InvalidArgument):
        store.put_tensor_with_tp(key + "u", torch.zeros(3, 3), tp_size=2,
                                 split_dim=0)  # 3 % 2 != 0


def test_tp_size_one_is_the_whole_tensor(store, key):
    x = torch.arange(6)
    store.put_tensor_with_tp(key, x, tp_size=1, split_dim=0)
    assert torch.equal(store.get_tensor_with_tp(key, tp_rank=0, tp_size=1), x)


def test_batch_tensors(store, key):
    xs = [torch.randn(2, 3), torch.arange(5, dtype=torch.int64),
          torch.zeros(0)]
    keys = [key + str(i) for i in range(3)]
    assert store.batch_put_tensor(keys, xs) == [0, 0, 0]
    assert store.batch_put_tensor(keys[:1], xs[:1]) == [kvplug.KVP_ERR_EXISTS]
    store.put(key + "raw", b"x")
    ys = store.batch_get_tensor(keys + [key + "missing", key + "raw"])
    assert all(torch.equal(a, b) for a, b in zip(xs, ys[:3]))
    assert ys[3:] == [None, None]


def test_put_tensor_registered_is_zero_copy_on_abi_1_1(store, key,
                                                       monkeypatch):
    need_11(store)
    x = torch.randn(64, 64)
    store.register(x)
    try:
        calls = []
        real = store._staging
        monkeypatch.setattr(store, "_staging",
                            lambda n: calls.append(n) or real(n))
        store.put_tensor(key, x)
        assert calls == [304]  # only the header is staged
        assert torch.equal(store.get_tensor(key), x)
    finally:
        monkeypatch.undo()
        store.unregister(x)
