#!/usr/bin/env python3
"""gen_seeds.py - (re)writes the seed corpora of tests/fuzz/corpus/.

Seeds are small, valid (and a few nearly valid) inputs so that the fuzzers
start from the accepting paths instead of having to guess a magic number.
Layout of the tensor header: docs/tensor-format.md (offsets pinned by
tests/abi). Run from anywhere: python3 tests/fuzz/gen_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
MAGIC, HDR = 0x4D4F4F4E, 304
ELEM = [4, 8, 1, 1, 2, 2, 4, 4, 8, 8, 1, 2, 2, 1, 1]
FULL, SHARD, TP = 0, 1, 1


def tensor(dtype, shape, layout=FULL, gshape=None, axes=(), magic=MAGIC):
    """[header][payload] with payload numel(shape) * elem size bytes."""
    n = ELEM[dtype]
    for d in shape:
        n *= d
    gshape = list(gshape if gshape is not None else shape)
    pad = lambda s: list(s) + [-1] * (8 - len(s))
    h = struct.pack("<IHHiiIIQQ", magic, 1, HDR, dtype, len(shape), layout,
                    0, HDR, n)
    h += struct.pack("<8q", *pad(gshape)) + struct.pack("<8q", *pad(shape))
    h += struct.pack("<II", len(axes), 0)
    for a in list(axes) + [(0,) * 7] * (4 - len(axes)):
        h += struct.pack("<iiiiiiq", *a)
    assert len(h) == HDR
    return h + bytes((i * 7) & 0xFF for i in range(n))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


write("tensor_hdr", "full_f32_4x2", tensor(0, [4, 2]))
write("tensor_hdr", "full_bf16_2x3x4", tensor(12, [2, 3, 4]))
write("tensor_hdr", "full_u8_1x8x2x2", tensor(3, [1, 8, 2, 2]))
write("tensor_hdr", "full_f16_zero_dim", tensor(11, [0, 4]))
write("tensor_hdr", "scalar_f64", tensor(1, []))
write("tensor_hdr", "shard_f32_tp2",
      tensor(0, [2, 2], SHARD, [4, 2], [(TP, 0, 1, 2, 0, 0, 2)]))
write("tensor_hdr", "bad_magic", tensor(0, [2], magic=0x4E4F4F4D))
write("tensor_hdr", "too_short", tensor(0, [2])[:100])

for i, s in enumerate([
        "transport=ucx;servers=10.0.0.1:7000,10.0.0.2:7000;timeout_ms=2000",
        "kvplug://10.0.0.1:7000,10.0.0.2:7000?transport=verbs&device=mlx5_0",
        "pool_size=256MiB;log_level=info",
        "kvplug://[::1]:7000/?gid_index=3&port=1&ucx_pack_below=8KiB",
        " servers = a:1 ; ; auth_token_file=/etc/kvplug/token;ucx_tls=tcp; ",
        "lease_timeout_ms=86400000;pool_size=1 GB;log_level=3;transport=verbs",
        "timeout_ms=5s",
        "servers=a:1;servers=b:2",
]):
    write("config", "seed%d" % i, s.encode())
