"""test_cluster.py BINDIR PLUGIN - the "run a cluster" walk-through of
docs/operations.md, step by step, on real processes: etcd on loopback,
three kvplug-servers registered with a 2 s lease, two client processes
with servers=etcd://...; kill -9 one server (the clients stop routing to it
within the lease and the other servers' keys stay readable), start a
fourth (the clients use it without a restart), scrape /metrics with the
Prometheus parser, use kvplug-admin. Prints "PASS cluster".
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, Fail, free_port, wait_for  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa

TTL = 2
N_KEYS = 60


def scrape(url):
    import urllib.request
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    return fams


def sample(fams, family, name, **labels):
    for s in fams[family].samples:
        if s.name == name and all(s.labels.get(k) == v
                                  for k, v in labels.items()):
            return s.value
    raise Fail("no sample %s%s" % (name, labels))


def sample_sum(fams, family, name, ops, **labels):
    """The sum over ops of one sample; an op never seen counts 0."""
    total = 0
    for op in ops:
        try:
            total += sample(fams, family, name, op=op, **labels)
        except Fail:
            pass
    return total


def main(bindir, plugin):
    c = Cluster(bindir, plugin)
    try:
        run(c)
    finally:
        c.close()
    print("PASS cluster")


def run(c):
    # 1. etcd
    c.start_etcd()
    # 2. three servers, each registered under /kvplug with a 2 s lease
    member = ["--etcd", c.etcd_url, "--etcd-prefix", "/kvplug",
              "--etcd-ttl", str(TTL), "--metrics", "127.0.0.1:0",
              "--log-level", "info", "--summary-ms", "200"]
    srv = [c.start_server(*member) for _ in range(3)]
    rc, out, err = c.admin("ping", "etcd://%s/kvplug" % c.etcd_hostport)
    if rc != 0 or out.count(": ok") != 3:
        raise Fail("admin ping of every member: %s %s" % (out, err))
    # 3. two clients that find the servers in etcd
    # local_fastget=0: step 4 checks that the server counted every get's
    # LOOKUP; a get through the shared index never reaches the server
    # (docs/operations.md, metrics)
    cfg = "servers=etcd://%s/kvplug;timeout_ms=2000;local_fastget=0" % \
        c.etcd_hostport
    a = c.start_client(cfg + ";log_level=info")
    text = open(c.last_client_err).read()
    if "effective config (after KVPLUG_CONFIG): transport=ucx; servers=" \
            "etcd://" not in text or "membership: 3 server(s)" not in text:
        raise Fail("client log lacks its effective config / members: %s" %
                   text)
    b = c.start_client(cfg)
    for i in range(N_KEYS):
        for cli, name in ((a, "a"), (b, "b")):
            ans = c.ask(cli, "put %s%d 4096 %d" % (name, i, i))
            if ans != "ok":
                raise Fail("put %s%d: %s" % (name, i, ans))
    for i in range(N_KEYS):  # each reads what the other wrote
        for cli, name in ((b, "a"), (a, "b")):
            ans = c.ask(cli, "get %s%d 4096 %d" % (name, i, i))
            if ans != "ok":
                raise Fail("get %s%d in the other process: %s" %
                           (name, i, ans))
    on = {s["addr"]: c.keys_of(s["addr"]) for s in srv}
    every = set().union(*on.values())
    if len(every) != 2 * N_KEYS or sum(map(len, on.values())) != 2 * N_KEYS:
        raise Fail("every key on exactly one server: %s" % on)
    if min(map(len, on.values())) == 0:
        raise Fail("rendezvous hashing left a server empty: %s" % on)

    # 4. metrics and stats of one server
    s0 = srv[0]
    fams = scrape(s0["metrics"])
    n0 = len(on[s0["addr"]])
    checks = {
        "objects": sample(fams, "kvplug_objects", "kvplug_objects") == n0,
        "pool size": sample(fams, "kvplug_pool_size_bytes",
                            "kvplug_pool_size_bytes") == 32 << 20,
        "pool used": sample(fams, "kvplug_pool_used_bytes",
                            "kvplug_pool_used_bytes") >= n0 * 4096,
        # a put is an ALLOC + COMMIT, or one PUT_AT from the client's
        # arena on the same-host rings (docs/protocol.md)
        "put ok items": sample_sum(fams, "kvplug_request_items",
                                   "kvplug_request_items_total",
                                   ("alloc", "put_at"),
                                   status="KVP_OK") == n0,
        "lookup bytes": sample(fams, "kvplug_request_bytes",
                               "kvplug_request_bytes_total", op="lookup",
                               status="KVP_OK") >= n0 * 4096,
        "histogram": sample_sum(fams, "kvplug_request_duration_seconds",
                                "kvplug_request_duration_seconds_count",
                                ("commit", "put_at")) >= 1,
        "connections": sample(fams, "kvplug_connections",
                              "kvplug_connections") >= 2,
        "evictions": sample(fams, "kvplug_evictions",
                            "kvplug_evictions_total") == 0,
        "leases": sample(fams, "kvplug_leases", "kvplug_leases") == 0,
    }
    bad = [k for k, ok in checks.items() if not ok]
    if bad:
        raise Fail("metrics of %s wrong: %s" % (s0["addr"], bad))
    rc, out, err = c.admin("stats", s0["addr"])
    if rc != 0 or ("objects      %d " % n0) not in out or "MiB" not in out:
        raise Fail("admin stats: %s %s" % (out, err))
    # remove a prefix on every member: keys of another prefix stay
    tmp = ["tmp-%d" % i for i in range(N_KEYS)]
    for k in tmp:
        ans = c.ask(a, "put %s 64 1" % k)
        if ans != "ok":
            raise Fail("put %s: %s" % (k, ans))
    rc, out, err = c.admin("remove-prefix",
                           "etcd://%s/kvplug" % c.etcd_hostport, "tmp-")
    counts = [int(l.rsplit(" ", 1)[1]) for l in out.splitlines()
              if ": removed " in l and not l.startswith("total")]
    if rc != 0 or len(counts) != 3 or sum(counts) != len(tmp) or \
            ("total: removed %d" % len(tmp)) not in out:
        raise Fail("admin remove-prefix tmp-: %s %s" % (out, err))
    for s in srv:
        left = c.keys_of(s["addr"])
        if any(k.startswith("tmp-") for k in left) or \
                left != on[s["addr"]]:
            raise Fail("after remove-prefix tmp- %s holds %s, expected %s"
                       % (s["addr"], left, on[s["addr"]]))

    # 5. kill -9 the server with the most keys
    victim = max(srv, key=lambda s: len(on[s["addr"]]))
    victim["proc"].send_signal(signal.SIGKILL)
    victim["proc"].wait()
    t0 = time.monotonic()
    probe = [0]

    def routed_around():
        # fresh keys from both clients: all succeed only once no key
        # routes to the dead server any more
        probe[0] += 1
        ok = True
        for cli, tag in ((a, "pa"), (b, "pb")):
            for i in range(30):
                ans = c.ask(cli, "put %s%d_%d 64 1" % (tag, probe[0], i))
                if ans == "ok":
                    continue
                if not ans.startswith("err KVP_ERR_DISCONNECTED") and \
                        not ans.startswith("err KVP_ERR_TIMEOUT"):
                    raise Fail("put to a dead server gave %s" % ans)
                ok = False
        return ok
    wait_for("clients to route around the killed server",
             routed_around, 2 * TTL + 10)
    took = time.monotonic() - t0
    print("routed around the killed server after %.2f s (lease TTL %d s)"
          % (took, TTL))
    if took > 2 * TTL + 4:
        raise Fail("took %.2f s, lease TTL is %d s" % (took, TTL))
    survivors = [s for s in srv if s is not victim]
    lost = on[victim["addr"]]
    for key in sorted(every):
        i = int(key[1:])
        for cli in (a, b):
            ans = c.ask(cli, "get %s 4096 %d" % (key, i))
            want = "miss" if key in lost else "ok"
            if ans != want:
                raise Fail("get %s after the kill: %s, expected %s" %
                           (key, ans, want))

    # 6. a fourth server joins; the clients use it without a restart
    fourth = c.start_server(*member)
    kept = every - lost
    n = [0]

    def uses_fourth(cli, tag):
        n[0] += 1
        keys = ["%s%d_%d" % (tag, n[0], i) for i in range(10)]
        for k in keys:
            ans = c.ask(cli, "put %s 64 2" % k)
            if ans != "ok":
                raise Fail("put %s: %s" % (k, ans))
        return set(keys) & c.keys_of(fourth["addr"])
    wait_for("client A to store on the fourth server",
             lambda: uses_fourth(a, "na"), 20)
    wait_for("client B to store on the fourth server",
             lambda: uses_fourth(b, "nb"), 20)
    # only keys that now hash to the fourth server moved: a kept key reads
    # back, or misses and, put again, lands on the fourth server
    moved = 0
    for key in sorted(kept):
        i = int(key[1:])
        ans = c.ask(a, "get %s 4096 %d" % (key, i))
        if ans == "ok":
            continue
        if ans != "miss":
            raise Fail("get %s after the join: %s" % (key, ans))
        if c.ask(a, "put %s 4096 %d" % (key, i)) != "ok" or \
                key not in c.keys_of(fourth["addr"]):
            raise Fail("%s missed but does not belong to the new server" %
                       key)
        moved += 1
    print("after the join %d of %d kept keys moved to the new server" %
          (moved, len(kept)))
    if moved == len(kept):
        raise Fail("every key moved: the hashing is not rendezvous")

    # 7. etcd lost: the clients keep their members
    c.etcd_proc.send_signal(signal.SIGKILL)
    c.etcd_proc.wait()
    for key in sorted(kept)[:20]:
        ans = c.ask(b, "get %s 4096 %d" % (key, int(key[1:])))
        if ans not in ("ok", "miss"):
            raise Fail("get %s with etcd gone: %s" % (key, ans))
    if c.ask(b, "put after_etcd 64 3") != "ok" or \
            c.ask(a, "get after_etcd 64 3") != "ok":
        raise Fail("put/get with etcd gone")
    # the servers said so, in their periodic summary line, with timestamps
    # and human units
    log = open(survivors[0]["err"]).read()
    if not re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} kvplug "
                     r"info: server: summary: pool [\d.]+ [KMG]?i?B of 32 "
                     r"MiB used", log, re.M):
        raise Fail("no timestamped summary line in %s" % survivors[0]["err"])
    # etcd unreachable at start is a clear error, for both sides
    dead = "127.0.0.1:%d" % free_port()
    r = subprocess.run([os.path.join(c.bindir, "itest_client"),
                        "servers=etcd://%s/kvplug" % dead, "get", "k", "1",
                        "1"], capture_output=True, text=True, env=c.env,
                       timeout=60)
    if r.returncode != 3 or "etcd does not answer" not in r.stdout or \
            "KVP_ERR_DISCONNECTED" not in r.stdout:
        raise Fail("client with etcd down: %d %s" % (r.returncode, r.stdout))
    r = subprocess.run([os.path.join(c.bindir, "kvplug-server"), "--listen",
                        "127.0.0.1:0", "--pool-size", "1MiB", "--transports",
                        "none", "--etcd", "http://" + dead],
                       capture_output=True, text=True, env=c.env,
                       timeout=60)
    if r.returncode != 1 or "cannot register" not in r.stderr:
        raise Fail("server with etcd down: %d %s" % (r.returncode, r.stderr))
    # every message of this run names statuses, never a bare number
    bad = c.bare_status_lines()
    if bad:
        raise Fail("bare status numbers in the logs:\n" + "\n".join(bad))


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2])
    except Fail as e:
        print("FAIL: %s" % e)
        sys.exit(1)
