"""A Mooncake-compatible store class over kvplug.

``from kvplug.mooncake import MooncakeDistributedStore, ReplicateConfig``
in place of ``from mooncake.store import ...``: the method names, argument
order and return conventions of the calls SGLang, vLLM and LMCache make
(0 / negative for puts, size or negative for get_into, lists of ints for
batches, bytes for get). A put of an existing key returns 0, as in
Mooncake. Differences: docs/python.md.
"""
import ctypes as C
import logging
import mmap
import socket

import numpy as np

from . import _abi
from .errors import KvplugError
from .store import Store, _key

log = logging.getLogger("kvplug")


class ReplicateConfig:
    """Accepted by every put; kvplug keeps one copy per key and maps no
    attribute (groups included) to anything."""

    def __init__(self):
        self.replica_num = 1
        self.with_soft_pin = False
        self.with_hard_pin = False
        self.preferred_segment = ""
        self.preferred_segments = []
        self.prefer_alloc_in_same_node = False
        self.group_ids = []


class MooncakeHostMemAllocator:
    """alloc(size) -> address of page-aligned anonymous memory; free(ptr)."""

    def __init__(self):
        self._maps = {}

    def alloc(self, size):
        m = mmap.mmap(-1, int(size))
        ptr = C.addressof(C.c_char.from_buffer(m))
        self._maps[ptr] = m
        return ptr

    def free(self, ptr):
        m = self._maps.pop(ptr, None)
        if m is None:
            return -1
        try:
            m.close()
        except BufferError:  # a view still exists: keep it alive
            self._maps[ptr] = m
            return -1
        return 0


def _ok(st):
    """Mooncake put convention: 0, or a negative code; EXISTS is 0."""
    return 0 if st in (_abi.OK, _abi.ERR_EXISTS) else st


_IGNORED_NOTE = ("kvplug: Mooncake setup arguments without a kvplug "
                 "meaning ignored: %s")


class MooncakeDistributedStore:
    """Mooncake's MooncakeDistributedStore, served by a kvplug.Store.
    ``plugin`` (optional) is the libkvplug.so path."""

    def __init__(self, plugin=None):
        self._plugin = plugin
        self.store = None
        self._hostname = socket.gethostname()

    # ---- set-up --------------------------------------------------------
    def setup(self, local_hostname="", metadata_server="",
              global_segment_size=0, local_buffer_size=0, protocol="tcp",
              rdma_devices="", master_server_address="", engine=None,
              **kwargs):
        """Maps Mooncake's set-up onto kvplug's config: segment size ->
        pool_size (embedded), protocol rdma -> transport=verbs, else ucx;
        device names -> device (the first); master address -> servers
        (empty or "embedded" = the embedded server). The rest is ignored
        with one info line. Returns 0 or a negative status."""
        cfg = {"transport": "verbs" if str(protocol).lower() == "rdma"
               else "ucx"}
        ignored = []
        master = (master_server_address or "").strip()
        if master and master != "embedded":
            cfg["servers"] = master
        elif global_segment_size:
            cfg["pool_size"] = max(int(global_segment_size), 1 << 20)
        devs = (rdma_devices or "").split(",")
        if devs[0].strip() and cfg["transport"] == "verbs":
            cfg["device"] = devs[0].strip()
            if len(devs) > 1:
                ignored.append("devices %s" % ",".join(devs[1:]))
        elif devs[0].strip():
            ignored.append("device_name (protocol %s)" % protocol)
        for name, value in (("local_hostname", local_hostname),
                            ("metadata_server", metadata_server),
                            ("local_buffer_size", local_buffer_size),
                            ("engine", engine)):
            if value:
                ignored.append(name)
        ignored += sorted(kwargs)
        if local_hostname:
            self._hostname = str(local_hostname)
        if ignored:
            log.info(_IGNORED_NOTE, ", ".join(ignored))
        return self._open(cfg)

    def setup_dummy(self, mem_pool_size, local_buffer_size, server_address):
        """Standalone mode: kvplug has no client process to attach to; the
        server address (a kvplug-server) or, when empty, an embedded
        server of mem_pool_size serves the store."""
        cfg = {}
        if server_address and server_address != "embedded":
            cfg["servers"] = server_address
        elif mem_pool_size:
            cfg["pool_size"] = max(int(mem_pool_size), 1 << 20)
        return self._open(cfg)

    def init_all(self, protocol="tcp", device_name="",
                 mount_segment_size=0):
        return self.setup("", "", mount_segment_size, 0, protocol,
                          device_name, "")

    def _open(self, cfg):
        try:
            self.store = Store(cfg, self._plugin)
        except KvplugError as e:
            log.error("kvplug: Mooncake setup with %s failed: %s", cfg, e)
            return e.status
        return 0

    def close(self):
        if self.store is not None:
            self.store.close()
            self.store = None
        return 0

    def get_hostname(self):
        return self._hostname

    def _s(self):
        if self.store is None:
            raise RuntimeError("MooncakeDistributedStore: call setup() first")
        return self.store

    # ---- registration --------------------------------------------------
    def register_buffer(self, buffer_ptr, size):
        try:
            self._s().register((int(buffer_ptr), int(size)))
            return 0
        except KvplugError as e:
            log.error("kvplug: register_buffer: %s", e)
            return e.status

    def unregister_buffer(self, buffer_ptr):
        try:
            self._s().unregister(int(buffer_ptr))
            return 0
        except KvplugError as e:
            return e.status

    # ---- single ops ----------------------------------------------------
    def _call(self, fn, *args):
        try:
            return fn(*args)
        except KvplugError as e:
            return e.status

    def put(self, key, value, config=None):
        """Stores bytes (copied); 0 also when the key exists."""
        st = self._call(self._s().put, key, value)
        return _ok(st or 0)

    def get(self, key):
        """The bytes, or b"" when missing (Mooncake's convention)."""
        try:
            return self._s().get(key)
        except KvplugError:
            return b""

    def put_from(self, key, buffer_ptr, size, config=None):
        st = self._call(self._s().put_from, key, (int(buffer_ptr), int(size)))
        return _ok(st or 0)

    def get_into(self, key, buffer_ptr, size):
        return self._call(self._s().get_into, key,
                          (int(buffer_ptr), int(size)))

    def is_exist(self, key):
        s = self._s()
        return s._f_exists(s._live(), _key(key))

    def get_size(self, key):
        s = self._s()
        return s._f_stat(s._live(), _key(key))

    def remove(self, key, force=False):
        s = self._s()
        return s._f_remove(s._live(), _key(key))

    def remove_all(self, force=False):
        """Removes every key of the store (every client's); returns the
        count, or a negative status (KVP_ERR_NOT_SUPPORTED on ABI 1.0)."""
        return self._call(self._s().remove_prefix, "")

    # ---- batches -------------------------------------------------------
    def batch_is_exist(self, keys):
        return self._s().batch_exists(keys)

    def batch_put_from(self, keys, buffer_ptrs, sizes, config=None):
        res = np.asarray(self._s().batch_put_from(keys, buffer_ptrs, sizes),
                         np.int32)
        res[res == _abi.ERR_EXISTS] = 0
        return res.tolist()

    def batch_get_into(self, keys, buffer_ptrs, sizes):
        return self._s().batch_get_into(keys, buffer_ptrs, sizes)

    def batch_put_from_multi_buffers(self, keys, all_buffer_ptrs, all_sizes,
                                     config=None):
        res = np.asarray(self._s().batch_put_from_iov(
            keys, all_buffer_ptrs, all_sizes), np.int32)
        res[res == _abi.ERR_EXISTS] = 0
        return res.tolist()

    def batch_get_into_multi_buffers(self, keys, all_buffer_ptrs, all_sizes,
                                     prefer_same_node=True):
        return self._s().batch_get_into_iov(keys, all_buffer_ptrs, all_sizes)

    def batch_get_size(self, keys):
        s = self._s()
        eng = s._live()
        return [s._f_stat(eng, _key(k)) for k in keys]

    def batch_put(self, keys, values, config=None):
        return [self.put(k, v) for k, v in zip(keys, values)]

    def get_batch(self, keys):
        return [self.get(k) for k in keys]

    # ---- tensors -------------------------------------------------------
    def put_tensor(self, key, tensor, config=None):
        return _ok(self._call(self._s().put_tensor, key, tensor) or 0)

    def get_tensor(self, key):
        try:
            return self._s().get_tensor(key)
        except KvplugError:
            return None

    def batch_put_tensor(self, keys, tensors, config=None):
        res = np.asarray(self._s().batch_put_tensor(keys, tensors), np.int32)
        res[res == _abi.ERR_EXISTS] = 0
        return res.tolist()

    def batch_get_tensor(self, keys):
        return self._s().batch_get_tensor(keys)

    def put_tensor_with_tp(self, key, tensor, tp_rank=0, tp_size=1,
                           split_dim=0, config=None):
        """Stores the FULL tensor; shard r goes to '<key>_tp_<r>'."""
        return _ok(self._call(self._s().put_tensor_with_tp, key, tensor,
                              tp_size, split_dim) or 0)

    def get_tensor_with_tp(self, key, tp_rank=0, tp_size=1, split_dim=0):
        try:
            return self._s().get_tensor_with_tp(key, tp_rank, tp_size)
        except KvplugError:
            return None

    def batch_put_tensor_with_tp(self, keys, tensors, tp_rank=0, tp_size=1,
                                 split_dim=0, config=None):
        return [self.put_tensor_with_tp(k, t, tp_rank, tp_size, split_dim)
                for k, t in zip(keys, tensors)]

    def batch_get_tensor_with_tp(self, keys, tp_rank=0, tp_size=1):
        return [self.get_tensor_with_tp(k, tp_rank, tp_size) for k in keys]

    def put_tensor_with_tp_from(self, key, buffer_ptr, size, tp_rank=0,
                                tp_size=1, split_dim=0, config=None):
        """buffer holds a FULL tensor object (header + payload)."""
        s = self._s()
        return _ok(s._f_put_tensor_with_tp_from(
            s._live(), _key(key), int(buffer_ptr), int(size), int(tp_rank),
            int(tp_size), int(split_dim), None))

    def get_tensor_with_tp_into(self, key, buffer_ptr, size, tp_rank=0,
                                tp_size=1):
        s = self._s()
        return s._f_get_tensor_with_tp_into(s._live(), _key(key),
                                            int(buffer_ptr), int(size),
                                            int(tp_rank), int(tp_size))
