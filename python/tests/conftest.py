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
