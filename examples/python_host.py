#!/usr/bin/env python3
"""python_host.py - a kvplug host in Python, through the `kvplug` package.

Creates a store (embedded server by default), round-trips bytes and a bf16
tensor, and splits a tensor over TP ranks, checking every shard against
torch's own slice.

Usage: python_host.py [PLUGIN.so] [--config STR]
Plugin: argument, else $KVPLUG_PLUGIN, else the installed libkvplug.so.
Uses the installed package, else ../python next to this script.
Exit status 0 only if every check passed.
"""
import os
import sys

try:
    import kvplug
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "..", "python"))
    import kvplug
import torch


def main():
    args = sys.argv[1:]
    config = "pool_size=64MiB"
    if "--config" in args:
        i = args.index("--config")
        config = args[i + 1]
        del args[i:i + 2]
    failures = 0

    def check(what, ok):
        nonlocal failures
        print("%-44s %s" % (what, "ok" if ok else "FAIL"))
        failures += not ok

    with kvplug.Store(config, plugin=args[0] if args else None) as s:
        print("plugin %s, ABI 1.%d" % (s.plugin_version, s.abi_minor))
        data = bytes(range(256)) * 16
        s.put("py/plain", data)
        check("put / get", s.get("py/plain") == data)
        try:
            s.put("py/plain", b"again")
            check("put again -> Exists", False)
        except kvplug.Exists as e:
            check("put again -> %s" % e.status_name, True)

        x = torch.randn(2, 2, 4, 8, 16).to(torch.bfloat16)
        s.put_tensor("py/t", x)
        check("put_tensor / get_tensor bf16", torch.equal(
            s.get_tensor("py/t").view(torch.int16), x.view(torch.int16)))

        tp = 4  # layers, 2, heads, tokens, dim: split the heads (-3)
        s.put_tensor_with_tp("py/kv", x, tp_size=tp, split_dim=-3)
        for r, want in enumerate(torch.chunk(x, tp, dim=-3)):
            got = s.get_tensor_with_tp("py/kv", tp_rank=r, tp_size=tp)
            check("get_tensor_with_tp rank %d/%d" % (r, tp), torch.equal(
                got.view(torch.int16), want.view(torch.int16)))
        try:
            s.get_tensor_with_tp("py/kv", tp_rank=1, tp_size=2)
            check("read as tp=2 -> TPMismatch", False)
        except kvplug.TPMismatch as e:
            check("read as tp=2 -> %s" % e.status_name, True)
    print("%s: %d failure(s)" % ("FAILED" if failures else "PASSED",
                                 failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
