"""Shared fixtures: the real plugin (KVPLUG_PLUGIN, else the build tree's
build/lib/libkvplug.so) and stores on its embedded server."""
import itertools
import os

import pytest

import kvplug

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
_ids = itertools.count()


@pytest.fixture(scope="session")
def plugin_path():
    path = os.environ.get("KVPLUG_PLUGIN") or os.path.join(
        REPO, "build", "lib", "libkvplug.so")
    assert os.path.exists(path), (
        "no plugin at %s: build it (bash scripts/build.sh build) or set "
        "KVPLUG_PLUGIN" % path)
    os.environ["KVPLUG_PLUGIN"] = path
    return path


@pytest.fixture(scope="module")
def store(plugin_path):
    with kvplug.Store("pool_size=128MiB", plugin_path) as s:
        yield s


@pytest.fixture
def key():
    """A fresh key prefix per test (tests share a module's store)."""
    return "t%d-%d/" % (os.getpid(), next(_ids))


NEEDS_11 = ("plugin negotiated ABI 1.0: the 1.1 slots (DESIGN 2.1) are not "
            "in it yet; this test runs once they land")


def need_11(store):
    if store.abi_minor < 1:
        pytest.skip(NEEDS_11)


def no_staging(store, monkeypatch):
    """Makes any use of the staging copy fail: proves a zero-copy path."""
    def boom(need):
        raise AssertionError("staging copy used on a zero-copy path")
    monkeypatch.setattr(store, "_staging", boom)


@pytest.fixture(scope="session")
def server(plugin_path):
    """A real kvplug-server process (shared by several clients, as engine
    ranks share one); yields its "127.0.0.1:PORT". Ready when it prints
    its listening line (read from its stdout, bounded at 30 s)."""
    import re
    import select
    import subprocess
    import time
    exe = os.environ.get("KVPLUG_SERVER") or os.path.join(
        os.path.dirname(os.path.dirname(plugin_path)), "bin", "kvplug-server")
    assert os.path.exists(exe), "no kvplug-server at %s (set KVPLUG_SERVER)" \
        % exe
    proc = subprocess.Popen([exe, "--listen", "127.0.0.1:0", "--pool-size",
                             "128MiB"], stdout=subprocess.PIPE, text=True)
    deadline, addr = time.monotonic() + 30, None
    try:
        while addr is None:
            left = deadline - time.monotonic()
            assert left > 0, "kvplug-server printed no listening line in 30 s"
            if select.select([proc.stdout], [], [], left)[0]:
                line = proc.stdout.readline()
                assert line, "kvplug-server exited: %s" % proc.wait()
                m = re.search(r"listening on \S*?:(\d+)", line)
                if m:
                    addr = "127.0.0.1:%s" % m.group(1)
        yield addr
    finally:
        proc.terminate()
        proc.wait(timeout=30)
