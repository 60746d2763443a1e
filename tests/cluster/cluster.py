"""cluster.py - the pieces of a real kvplug cluster for tests: an etcd on
loopback with a temporary data dir, kvplug-server processes, long-lived
client processes (itest_client ... session) and kvplug-admin. Every wait
is a bounded poll for exactly the condition needed; nothing sleeps to
synchronise. Python standard library only (plus what the caller imports).
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request


class Fail(Exception):
    pass


def wait_for(what, cond, timeout_s, step_s=0.05):
    """Polls cond() until it returns a true value (returned); Fail after
    timeout_s naming what was awaited."""
    deadline = time.monotonic() + timeout_s
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Fail("timed out after %.1f s waiting for %s" %
                       (timeout_s, what))
        time.sleep(step_s)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, bindir, plugin):
        self.bindir = bindir
        self.tmp = tempfile.mkdtemp(prefix="kvplug-cluster-")
        self.procs = []
        self.env = dict(os.environ, KVPLUG_PLUGIN=plugin)
        self.etcd_proc = None
        self.n_files = 0

    def path(self, name):
        return os.path.join(self.tmp, name)

    def fresh(self, stem):
        """A file name never used before in this run."""
        self.n_files += 1
        return self.path("%s.%d" % (stem, self.n_files))

    # ---- etcd ----------------------------------------------------------
    def start_etcd(self, timeout_s=30):
        for attempt in range(3):  # a port taken meanwhile: try others
            cport, pport = free_port(), free_port()
            self.etcd_url = "http://127.0.0.1:%d" % cport
            self.etcd_hostport = "127.0.0.1:%d" % cport
            log = open(self.fresh("etcd.log"), "w")
            data = self.fresh("etcd.data")
            p = subprocess.Popen(
                ["etcd", "--name", "kvplug-test", "--data-dir", data,
                 "--listen-client-urls", self.etcd_url,
                 "--advertise-client-urls", self.etcd_url,
                 "--listen-peer-urls", "http://127.0.0.1:%d" % pport,
                 "--initial-advertise-peer-urls",
                 "http://127.0.0.1:%d" % pport,
                 "--initial-cluster",
                 "kvplug-test=http://127.0.0.1:%d" % pport],
                stdout=log, stderr=subprocess.STDOUT)
            self.procs.append(p)
            try:
                wait_for("etcd /health", lambda: p.poll() is not None
                         or self.etcd_healthy(), timeout_s)
            except Fail:
                p.kill()
                raise
            if p.poll() is None:
                self.etcd_proc = p
                return
        raise Fail("etcd did not start (see %s)" % log.name)

    def etcd_healthy(self):
        try:
            with urllib.request.urlopen(self.etcd_url + "/health",
                                        timeout=2) as r:
                return b'"true"' in r.read()
        except OSError:
            return False

    # ---- servers ---------------------------------------------------------
    def start_server(self, *extra, timeout_s=60):
        out, err = self.fresh("srv.out"), self.fresh("srv.err")
        p = subprocess.Popen(
            [os.path.join(self.bindir, "kvplug-server"),
             "--listen", "127.0.0.1:0", "--pool-size", "32MiB"] +
            list(extra), stdout=open(out, "w"), stderr=open(err, "w"),
            env=self.env)
        self.procs.append(p)

        def ready():
            if p.poll() is not None:
                raise Fail("kvplug-server exited %d: %s" %
                           (p.returncode, open(err).read()))
            m = re.search(r"listening on ([^ ]+):(\d+)", open(out).read())
            return m
        m = wait_for("kvplug-server readiness line", ready, timeout_s)
        srv = {"proc": p, "addr": "127.0.0.1:%s" % m.group(2),
               "out": out, "err": err}
        mm = re.search(r"metrics on (http://\S+)", open(out).read())
        srv["metrics"] = mm.group(1) if mm else None
        return srv

    # ---- clients ---------------------------------------------------------
    def start_client(self, config, timeout_s=60):
        err = self.fresh("cli.err")
        p = subprocess.Popen(
            [os.path.join(self.bindir, "itest_client"), config, "session",
             "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(err, "w"), env=dict(self.env, ITEST_VERBOSE="1"),
            text=True, bufsize=1)
        self.last_client_err = err
        self.procs.append(p)
        line = p.stdout.readline().strip()  # "ready" (or why not)
        if line != "ready":
            rest = p.stdout.read() if p.poll() is not None else ""
            raise Fail("client did not start: %s %s" % (line, rest))
        return p

    @staticmethod
    def ask(client, line):
        client.stdin.write(line + "\n")
        client.stdin.flush()
        ans = client.stdout.readline().strip()
        if ans == "":
            raise Fail("client died on '%s'" % line)
        return ans

    # ---- admin -----------------------------------------------------------
    def admin(self, *args, timeout_s=60):
        r = subprocess.run([os.path.join(self.bindir, "kvplug-admin")] +
                           list(args), capture_output=True, text=True,
                           env=self.env, timeout=timeout_s)
        return r.returncode, r.stdout, r.stderr

    def keys_of(self, addr):
        rc, out, err = self.admin("keys", addr, "--limit", "16384")
        if rc != 0:
            raise Fail("kvplug-admin keys %s: %s %s" % (addr, out, err))
        return {l.split("\t", 1)[1] for l in out.splitlines()
                if "\t" in l and not l.startswith("#")}

    BARE = re.compile(r"(?:: |\(|status |= )-\d{1,2}\b")

    def bare_status_lines(self):
        """Lines of every log this run produced (servers, clients) that
        show a status as a bare negative number instead of its name."""
        bad = []
        for f in sorted(os.listdir(self.tmp)):
            if not (f.startswith("srv.") or f.startswith("cli.")):
                continue
            for line in open(self.path(f), errors="replace"):
                if self.BARE.search(line):
                    bad.append("%s: %s" % (f, line.rstrip()))
        return bad

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                if p.stdin:
                    try:
                        p.stdin.close()
                    except OSError:
                        pass
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if os.environ.get("KVP_KEEP_TMP") is None:
            shutil.rmtree(self.tmp, ignore_errors=True)
