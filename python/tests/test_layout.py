"""The ctypes mirrors against the C headers: a compiled offsetof/sizeof
dump of every ABI struct, field and slot, the status codes and the dtype
sizes."""
import ctypes as C
import os
import subprocess

import pytest

from kvplug import _abi
from conftest import REPO

INCLUDE = os.environ.get("KVPLUG_ABI_INCLUDE") or os.path.join(
    REPO, "abi", "include")

STRUCTS = {
    "kvp_host_api": _abi.HostApi, "kvp_put_opts": _abi.PutOpts,
    "kvp_negotiate": _abi.Negotiate, "kvp_ops": _abi.Ops,
    "kvp_tensor_axis": _abi.TensorAxis, "kvp_tensor_hdr": _abi.TensorHdr,
}
STRUCTS_11 = {"kvp_iov": _abi.Iov, "kvp_stats": _abi.Stats}


def _program():
    lines = ['#include <stdio.h>', '#include <stddef.h>',
             '#include "kvplug/abi.h"', '#include "kvplug/tensor.h"',
             '#define S(t) printf("sizeof %s %zu\\n", #t, sizeof(struct t));',
             '#define O(t, f) printf("offsetof %s.%s %zu %zu\\n", #t, #f, '
             'offsetof(struct t, f), sizeof(((struct t *)0)->f));',
             '#define ST(n, v, d) printf("status %s %d\\n", #n, (int)(v));',
             'int main(void) {',
             'printf("minor %d\\n", KVP_ABI_MINOR);',
             'KVP_STATUS_LIST(ST)',
             'for (int d = 0; d < KVP_DTYPE_COUNT; d++) '
             'printf("dtype %d %u\\n", d, kvp_dtype_size(d));']

    def emit(structs):
        out = []
        for cname, py in structs.items():
            out.append("S(%s)" % cname)
            for f in py._fields_:
                if cname == "kvp_ops" and f[0] in [
                        n for n, _, m in _abi.SLOTS if m >= 1]:
                    continue
                out.append("O(%s, %s)" % (cname, f[0]))
        return out
    lines += emit(STRUCTS)
    lines.append("#if KVP_ABI_MINOR >= 1")
    lines += emit(STRUCTS_11)
    lines += ["O(kvp_ops, %s)" % n for n, _, m in _abi.SLOTS if m >= 1]
    lines.append("#endif")
    lines += ["return 0; }"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    d = tmp_path_factory.mktemp("layout")
    src, exe = d / "layout.c", d / "layout"
    src.write_text(_program())
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-std=c11", "-Wall", "-Werror", "-I", INCLUDE,
                    str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True,
                         text=True).stdout
    facts = {}
    for line in out.splitlines():
        kind, name, *vals = line.split()
        facts[(kind, name)] = tuple(int(v) for v in vals)
    facts[("minor", "")] = int(out.split()[1])
    return facts


def _check(dump, structs):
    checked = 0
    for cname, py in structs.items():
        size = C.sizeof(py)
        if cname == "kvp_ops":  # the header's table ends at its minor
            size = _abi.ops_size(dump[("minor", "")])
        assert dump[("sizeof", cname)] == (size,), cname
        for f in py._fields_:
            k = ("offsetof", "%s.%s" % (cname, f[0]))
            if k not in dump:
                continue
            field = getattr(py, f[0])
            assert dump[k] == (field.offset, field.size), k
            checked += 1
    return checked


def test_v1_0_structs_and_slots_match_the_headers(dump):
    n = _check(dump, STRUCTS)
    # host_api 4, put_opts 2, negotiate 9, ops 6 + 16, axis 7, header 14;
    # a 1.1 header adds the 6 slots of 1.1 to kvp_ops
    assert n == 58 + (6 if dump[("minor", "")] >= 1 else 0)


def test_v1_1_structs_and_slots_match_the_headers(dump):
    if dump[("minor", "")] < 1:
        pytest.skip("abi.h is ABI 1.%d: kvp_iov, kvp_stats and the 1.1 "
                    "slots are not in the header yet" % dump[("minor", "")])
    assert _check(dump, STRUCTS_11) == 2 + 11
    for name, _, m in _abi.SLOTS:
        if m >= 1:
            k = ("offsetof", "kvp_ops.%s" % name)
            assert dump[k] == (getattr(_abi.Ops, name).offset, 8), name
    assert _abi.ops_size(1) == C.sizeof(_abi.Ops)


def test_minor_is_not_ahead_of_the_package(dump):
    # A header with a newer minor than the package knows needs new mirrors.
    assert dump[("minor", "")] <= _abi.ABI_MINOR


def test_status_codes_and_dtype_sizes_match(dump):
    for name, value, _ in _abi.STATUS:
        assert dump[("status", name)] == (value,), name
    assert len([k for k in dump if k[0] == "status"]) == len(_abi.STATUS)
    for code, (_, size) in enumerate(_abi.DTYPES):
        assert dump[("dtype", str(code))] == (size,)


def test_ops_size_v1_0_is_up_to_remove():
    assert _abi.ops_size(0) == _abi.Ops.remove.offset + 8 == 160
