"""implus_deploy: the distributed deployment for the end-to-end tests (Python 3 standard library,
plus the mariadb and redis-cli command-line clients).

One Distributed object = one deployment of its own on the shared services:
- a fresh MariaDB database implus_e2e_<random> (dropped at the end), a Kafka topic prefix
  "implus-e2e-<random>." (topics and consumer groups) and a Redis key prefix of its own, one
  token secret file shared by every process;
- five implus-server processes, each with its own role, data dir and ports (0 at first start, the
  same ones on a restart): user service "user", message workers "msg1" and "msg2" (worker ids 1
  and 2), gateways "gw1" and "gw2";
- a small TCP balancer in front of the two workers' message HTTP ports (what a deployment has in
  front of a replicated HTTP service), so clients keep pulling when one worker dies.

It offers what the embedded Server offers (start, stop, kill9, ports, url, register, login,
sync_all) plus gateway(n) (a view whose ports are gateway n's: Tty(dep.gateway(2), ...)),
process(name), kill9/restart of one process, and warm-up: start() returns only once a probe
message went both ways through both gateways, so the Kafka consumer groups have joined.

Services come from IMPLUS_TEST_MYSQL=host:port:user:password:database,
IMPLUS_TEST_REDIS=host:port and IMPLUS_TEST_KAFKA=host:port (scripts/test.sh exports them);
scripts/services/restart.sh is used for the fault tests (run from the source root, so it finds the
same IMPLUS_SERVICES_DIR as the script that started them).
"""

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid

import implus_harness as h

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SKIP = 77  # meson's exit code for a skipped test


def _service_env():
    """The three services from the environment, or (None, reason)."""
    mysql = os.environ.get("IMPLUS_TEST_MYSQL", "")
    redis = os.environ.get("IMPLUS_TEST_REDIS", "")
    kafka = os.environ.get("IMPLUS_TEST_KAFKA", "")
    missing = [n for n, v in (("IMPLUS_TEST_MYSQL", mysql), ("IMPLUS_TEST_REDIS", redis),
                              ("IMPLUS_TEST_KAFKA", kafka)) if not v]
    if missing:
        return None, "%s not set" % ", ".join(missing)
    parts = mysql.split(":")
    if len(parts) != 5:
        return None, "IMPLUS_TEST_MYSQL=%r: expected host:port:user:password:database" % mysql
    rh, _, rp = redis.rpartition(":")
    return {"mysql": dict(zip(("host", "port", "user", "password", "database"), parts)),
            "redis": {"host": rh, "port": rp}, "kafka": kafka}, None


def check_prerequisites():
    """Skips (77) when the server was built without the distributed backends; fails (1) when it
    has them but the services are not given: CI must never skip these silently."""
    if os.environ.get("IMPLUS_HAVE_DISTRIBUTED") != "1":
        h.log("SKIP: implus-server was built without MariaDB/Kafka/Redis (libmariadb, librdkafka and "
              "hiredis are needed; meson option distributed=auto finds them)")
        sys.exit(SKIP)
    svc, why = _service_env()
    if svc is None:
        h.log("FAIL: the distributed end-to-end tests need the services: %s. Start them with "
              "scripts/services/start.sh and export IMPLUS_TEST_MYSQL=127.0.0.1:33306:implus:implus:implus "
              "IMPLUS_TEST_REDIS=127.0.0.1:36379 IMPLUS_TEST_KAFKA=127.0.0.1:39092 (scripts/test.sh does "
              "both)" % why)
        sys.exit(1)
    for tool in ("mariadb", "redis-cli"):
        if shutil.which(tool) is None:
            h.log("FAIL: %s (command-line client) not found: scripts/services/install.sh installs it" % tool)
            sys.exit(1)


def mysql_exec(svc, sql, database=None):
    m = svc["mysql"]
    args = ["mariadb", "--protocol=TCP", "-h", m["host"], "-P", m["port"], "-u", m["user"],
            "-p" + m["password"], "--batch", "--skip-column-names", "-e", sql]
    if database:
        args.append(database)
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("mariadb %r: %s" % (sql, r.stderr.decode("utf-8", "replace").strip()))
    return r.stdout.decode("utf-8", "replace")


def services_restart(*args, timeout=180):
    """scripts/services/restart.sh ARGS; returns the seconds it took. Raises on failure."""
    t0 = time.monotonic()
    r = subprocess.run([os.path.join(REPO, "scripts", "services", "restart.sh")] + list(args), cwd=REPO,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    out = r.stdout.decode("utf-8", "replace").strip()
    h.log("restart.sh %s -> rc %d: %s" % (" ".join(args), r.returncode, out.replace("\n", " | ")))
    if r.returncode != 0:
        raise h.ContractFailure("scripts/services/restart.sh %s failed: %s" % (" ".join(args), out))
    return time.monotonic() - t0


# --------------------------------------------------------------------------------------------
# A TCP balancer for the message HTTP API


class Balancer:
    """Accepts on a port of its own and pipes each connection to the next live backend (round
    robin; a backend that refuses the connection is skipped)."""

    def __init__(self, backends):
        self.backends = backends  # callable -> list of ports
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((h.HOST, 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.next = 0
        self.closed = False
        self.conns = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        ports = list(self.backends())
        with self.lock:
            self.next += 1
            start = self.next
        up = None
        for i in range(len(ports)):
            try:
                up = socket.create_connection((h.HOST, ports[(start + i) % len(ports)]), timeout=5)
                up.settimeout(None)
                break
            except OSError:
                up = None
        if up is None:
            c.close()
            return
        with self.lock:
            self.conns.update((c, up))
        t = threading.Thread(target=self._pump, args=(up, c), daemon=True)
        t.start()
        self._pump(c, up)
        t.join()
        for s in (c, up):
            with self.lock:
                self.conns.discard(s)
            s.close()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass

    def close(self):
        self.closed = True
        self.sock.close()
        with self.lock:
            conns = list(self.conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# --------------------------------------------------------------------------------------------
# The deployment


ROLE_PORTS = {"gateway": ("tcp", "ws"), "user": ("user_http",), "message": ("message_http",)}
# name -> (role, extra environment); start order: the user service first (it runs the store's
# migrations on an empty database), then the rest together.
PROCESSES = (
    ("user", "user", {}),
    ("msg1", "message", {"IMPLUS_MESSAGE_WORKER_ID": "1"}),
    ("msg2", "message", {"IMPLUS_MESSAGE_WORKER_ID": "2"}),
    ("gw1", "gateway", {"IMPLUS_GATEWAY_ID": "gw1"}),
    ("gw2", "gateway", {"IMPLUS_GATEWAY_ID": "gw2"}),
)
GATEWAYS = ("gw1", "gw2")
WORKERS = ("msg1", "msg2")


class GatewayView:
    """The deployment as seen by a client of one gateway (Tty reads .ports)."""

    def __init__(self, dep, gw):
        self._dep = dep
        self._gw = gw

    @property
    def ports(self):
        p = dict(self._dep.ports)
        g = self._dep.procs[self._gw].ports
        p["tcp"], p["ws"] = g["tcp"], g["ws"]
        return p

    def __getattr__(self, name):
        return getattr(self._dep, name)


class Distributed:
    def __init__(self, workdir, name="server", extra_env=None):
        svc, why = _service_env()
        if svc is None:
            raise h.ContractFailure("distributed deployment: %s" % why)
        self.svc = svc
        self.workdir = workdir
        self.name = name
        tag = uuid.uuid4().hex[:12]
        self.database = "implus_e2e_%s" % tag
        self.topic_prefix = "implus-e2e-%s." % tag
        self.redis_prefix = "implus-e2e-%s:" % tag
        self.token_secret_path = os.path.join(workdir, "%s-token.key" % name)
        self.data_dir = workdir
        self.extra_env = dict(extra_env or {})
        self.procs = {}
        for pname, role, env in PROCESSES:
            e = self._env(role)
            e.update(env)
            e.update(self.extra_env)
            self.procs[pname] = h.Server(workdir, name="%s-%s" % (name, pname), extra_env=e,
                                         required_ports=ROLE_PORTS[role])
        self.balancer = None
        self.killed = set()
        self.db_created = False
        self.probe_ids = None
        self.ports = None
        self.proc = None  # no single process: use process(name)
        h.log("%s: distributed deployment: database %s, topic prefix %s, redis prefix %s" %
              (name, self.database, self.topic_prefix, self.redis_prefix))

    def _env(self, role):
        m = self.svc["mysql"]
        return {
            "IMPLUS_SERVER_ROLE": role,
            "IMPLUS_STORE_BACKEND": "mysql",
            "IMPLUS_STORE_MYSQL_HOST": m["host"], "IMPLUS_STORE_MYSQL_PORT": m["port"],
            "IMPLUS_STORE_MYSQL_USER": m["user"], "IMPLUS_STORE_MYSQL_PASSWORD": m["password"],
            "IMPLUS_STORE_MYSQL_DATABASE": self.database,
            "IMPLUS_BUS_BACKEND": "kafka",
            "IMPLUS_BUS_KAFKA_BROKERS": self.svc["kafka"],
            "IMPLUS_BUS_KAFKA_TOPIC_PREFIX": self.topic_prefix,
            "IMPLUS_CACHE_BACKEND": "redis",
            "IMPLUS_CACHE_REDIS_HOST": self.svc["redis"]["host"],
            "IMPLUS_CACHE_REDIS_PORT": self.svc["redis"]["port"],
            "IMPLUS_CACHE_REDIS_PREFIX": self.redis_prefix,
            "IMPLUS_USER_TOKEN_SECRET_FILE": self.token_secret_path,
        }

    # Life cycle ------------------------------------------------------------------------------

    def start(self, timeout=90, same_ports=False):
        """Starts every process that is not running; returns once a probe message has gone both
        ways across the two gateways."""
        t0 = time.monotonic()
        if not self.db_created:
            mysql_exec(self.svc, "CREATE DATABASE `%s` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                       % self.database)
            self.db_created = True
            # 32 random bytes, 0600, before any process starts: they all load this one file.
            fd = os.open(self.token_secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, os.urandom(32))
            os.close(fd)
        names = [n for n, _r, _e in PROCESSES if not self.procs[n].alive()]
        if "user" in names:
            self.procs["user"].start(timeout=timeout, same_ports=same_ports)
            names.remove("user")
        self._start_parallel(names, timeout, same_ports)
        self.killed.clear()
        if self.balancer is None:
            self.balancer = Balancer(lambda: [self.procs[w].ports["message_http"] for w in WORKERS
                                              if self.procs[w].ports])
        self.ports = {"tcp": self.procs["gw1"].ports["tcp"], "ws": self.procs["gw1"].ports["ws"],
                      "user_http": self.procs["user"].ports["user_http"],
                      "message_http": self.balancer.port}
        t1 = time.monotonic()
        self.warm_up()
        h.log("FIGURE: %s: distributed deployment up in %.2f s, warm (probe both ways) after %.2f s more" %
              (self.name, t1 - t0, time.monotonic() - t1))
        return self

    def _start_parallel(self, names, timeout, same_ports):
        errors = []

        def one(n):
            try:
                self.procs[n].start(timeout=timeout, same_ports=same_ports)
            except Exception as e:  # reported below, after every thread is done
                errors.append((n, e))

        threads = [threading.Thread(target=one, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise h.ContractFailure("%s: process(es) did not start: %s" % (self.name, errors))

    def warm_up(self, timeout=int(os.environ.get("IMPLUS_E2E_WARMUP_S", "90"))):
        """A message each way between a client on gw1 and one on gw2, receipts and pushes awaited:
        the workers' and both gateways' consumer groups have their partitions."""
        first = self.probe_ids is None
        if first:
            self.probe_ids = (self.register("probe.%s.1" % self.name[:8]), self.register("probe.%s.2" % self.name[:8]))
        a_tok = self.login("probe.%s.1" % self.name[:8])["token"]
        b_tok = self.login("probe.%s.2" % self.name[:8])["token"]
        if first:
            # Friends, so that a friends_only deployment delivers the probe as well.
            for path, tok, body in (("/friends/request", a_tok, {"user_id": self.probe_ids[1]}),
                                    ("/friends/respond", b_tok, {"user_id": self.probe_ids[0], "accept": True})):
                st, js = h.http("POST", self.url("user", path), body, token=tok)
                if st != 200:
                    raise h.ContractFailure("%s warm-up: POST %s answered %s %r" % (self.name, path, st, js))
        a = h.RawClient(self.procs["gw1"].ports["tcp"])
        b = h.RawClient(self.procs["gw2"].ports["tcp"])
        try:
            for cl, tok, dev in ((a, a_tok, "probe-1"), (b, b_tok, "probe-2")):
                r = cl.auth(tok, dev, timeout=30)
                if "auth_ok" not in r:
                    raise h.ContractFailure("%s warm-up: Auth answered %r" % (self.name, r))
            dl = h.Deadline(timeout)
            for src, dst, to in ((a, b, self.probe_ids[1]), (b, a, self.probe_ids[0])):
                cid = str(uuid.uuid4())
                src.send("chat_up", {"client_msg_id": cid, "to_user_id": to, "content": "probe",
                                     "content_type": 1})
                try:
                    r = src.wait(lambda e: "receipt" in e and e["receipt"].get("client_msg_id") == cid,
                                 dl.left())["receipt"]
                    if r.get("error_code"):
                        raise h.ContractFailure("%s warm-up: probe receipt with error %r" % (self.name, r))
                    mid = r.get("msg_id")
                    dst.wait(lambda e: "push" in e and e["push"]["message"].get("msg_id") == mid, dl.left())
                except (TimeoutError, h.Closed) as e:
                    raise h.ContractFailure("%s warm-up: no receipt/push for the probe within %ds (%r): "
                                            "the Kafka consumer groups did not come up" %
                                            (self.name, timeout, e))
        finally:
            a.close()
            b.close()

    def process(self, name):
        return self.procs[name]

    def gateway(self, n=1):
        return GatewayView(self, GATEWAYS[n - 1])

    def alive(self):
        return all(p.alive() for p in self.procs.values())

    def kill9(self, name=None):
        """kill -9 of one process, or of all of them."""
        for n in ([name] if name else list(self.procs)):
            self.killed.add(n)
            self.procs[n].kill9()

    def restart(self, name, timeout=90):
        """Starts one process again on its former ports (after kill9 or stop)."""
        t0 = time.monotonic()
        self.procs[name].start(timeout=timeout, same_ports=True)
        self.killed.discard(name)
        return time.monotonic() - t0

    def stop(self, timeout=30):
        """SIGTERM to every process, gateways first; 0 if each exited 0, else the exit codes. A
        process the test killed on purpose (kill9 (name)) and left dead does not count; one that
        died by itself does."""
        rcs = {}
        for group in (GATEWAYS, ("user",), WORKERS):
            for n in group:
                p = self.procs[n]
                if p.proc is None or (not p.alive() and n in self.killed):
                    continue
                rcs[n] = p.stop(timeout)
        return 0 if all(rc == 0 for rc in rcs.values()) else rcs

    def destroy(self):
        for p in self.procs.values():
            p.kill9()
        if self.balancer is not None:
            self.balancer.close()
        if self.db_created:
            mysql_exec(self.svc, "DROP DATABASE IF EXISTS `%s`" % self.database)
            self.db_created = False
            self._redis_clear()

    def _redis_clear(self):
        r = self.svc["redis"]
        base = ["redis-cli", "-h", r["host"], "-p", r["port"]]
        out = subprocess.run(base + ["--scan", "--pattern", self.redis_prefix + "*"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=60).stdout.decode().split()
        for i in range(0, len(out), 500):
            subprocess.run(base + ["DEL"] + out[i:i + 500], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)

    # The embedded Server's HTTP helpers work unchanged over url().

    def url(self, service, path):
        port = self.ports["user_http" if service == "user" else "message_http"]
        return "http://%s:%d%s" % (h.HOST, port, path)

    register = h.Server.register
    login = h.Server.login
    sync_all = h.Server.sync_all
