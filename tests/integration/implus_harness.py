"""implus_harness: shared end-to-end test machinery (Python 3 standard library only).

- Server: a real implus-server with a fresh data dir, every port 0, IMPLUS-READY parsed with a
  deadline, SIGTERM (exit 0 asserted) or SIGKILL, restart on the same data dir and ports.
- Tty: an implus-tty driven through pipes; a reader thread collects stdout lines; waits are
  predicates over those lines with deadlines (a condition variable, never fixed sleeps).
- http(): urllib JSON helper that also returns error statuses and bodies.
- Raw TCP / WebSocket clients with a minimal hand-written protobuf codec for the Envelope
  fields of proto/implus.proto.
- deployment(): the embedded Server, or with IMPLUS_E2E_DEPLOYMENT=distributed the multi-process
  deployment of implus_deploy.py (MariaDB + Kafka + Redis, two gateways, a user service, two
  message workers) behind the same interface; srv.gateway(n) picks the gateway a client uses.

Contracts: docs/server.md, docs/tty.md, docs/http-api.md, proto/implus.proto.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

SERVER_BIN = os.environ.get("IMPLUS_SERVER")
TTY_BIN = os.environ.get("IMPLUS_TTY")
HOST = "127.0.0.1"

# --------------------------------------------------------------------------------------------
# Reporting


class ContractFailure(AssertionError):
    pass


class Checker:
    """Collects failed checks so one run reports every broken contract, not only the first."""

    def __init__(self, name):
        self.name = name
        self.failures = []
        self.n_checks = 0
        self.t0 = time.monotonic()

    def check(self, cond, contract, expected, got=None):
        self.n_checks += 1
        if not cond:
            msg = "CONTRACT %s: expected %s" % (contract, expected)
            if got is not None:
                msg += "; got %s" % (_short(got),)
            self.failures.append(msg)
            log("FAIL " + msg)
        return cond

    def require(self, cond, contract, expected, got=None):
        if not self.check(cond, contract, expected, got):
            raise ContractFailure(self.failures[-1])

    def finish(self):
        dt = time.monotonic() - self.t0
        if self.failures:
            log("%s: %d of %d check(s) failed in %.1f s:" % (self.name, len(self.failures), self.n_checks, dt))
            for f in self.failures:
                log("  - " + f)
            return 1
        log("%s: all %d checks passed in %.1f s" % (self.name, self.n_checks, dt))
        return 0


def _short(v, n=600):
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


def log(msg):
    sys.stdout.write("[%8.3f] %s\n" % (time.monotonic() % 100000, msg))
    sys.stdout.flush()


DEPLOYMENT = os.environ.get("IMPLUS_E2E_DEPLOYMENT", "embedded")
_deployments = []  # every deployment a test made, destroyed (database dropped...) at the end


def deployment(workdir, name="server", extra_env=None):
    """A not yet started deployment of the kind IMPLUS_E2E_DEPLOYMENT names (embedded by default)."""
    if DEPLOYMENT == "distributed":
        import implus_deploy
        d = implus_deploy.Distributed(workdir, name=name, extra_env=extra_env)
    else:
        d = Server(workdir, name=name, extra_env=extra_env)
    _deployments.append(d)
    return d


def run_main(name, body):
    """Runs body(checker, workdir); prints every failure; keeps the work dir if anything failed."""
    if not SERVER_BIN or not TTY_BIN:
        log("IMPLUS_SERVER / IMPLUS_TTY not set: run through meson test")
        sys.exit(1)
    if DEPLOYMENT == "distributed":
        import implus_deploy
        implus_deploy.check_prerequisites()  # exits 77 (skip) or 1 with the reason
        name += "-distributed"
    elif DEPLOYMENT != "embedded":
        log("IMPLUS_E2E_DEPLOYMENT=%r: expected embedded or distributed" % DEPLOYMENT)
        sys.exit(1)
    checker = Checker(name)
    workdir = tempfile.mkdtemp(prefix="implus-e2e-%s-" % name)
    cleanup = Cleanup()
    rc = 1
    try:
        body(checker, workdir, cleanup)
        rc = checker.finish()
    except ContractFailure as e:
        if not checker.failures or checker.failures[-1] not in str(e):
            checker.failures.append(str(e))
            log("FAIL " + str(e))
        checker.finish()
    except Exception as e:
        traceback.print_exc(file=sys.stdout)
        checker.failures.append("exception: %r" % (e,))
        checker.finish()
    finally:
        cleanup.run()
        for d in _deployments:
            try:
                d.destroy()
            except Exception as e:
                log("cleanup of %s: %r" % (d.name, e))
    if rc == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        log("work dir kept for inspection: %s" % workdir)
        for root, _dirs, files in os.walk(workdir):
            for f in files:
                if f.endswith(".log") or f.endswith(".out"):
                    p = os.path.join(root, f)
                    log("---- tail of %s ----" % p)
                    try:
                        with open(p, "rb") as fh:
                            data = fh.read()[-3000:]
                        sys.stdout.write(data.decode("utf-8", "replace") + "\n")
                    except OSError:
                        pass
    sys.exit(rc)


class Cleanup:
    def __init__(self):
        self.fns = []

    def add(self, fn):
        self.fns.append(fn)

    def run(self):
        for fn in reversed(self.fns):
            try:
                fn()
            except Exception:
                pass


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return max(0.0, self.end - time.monotonic())

    def expired(self):
        return time.monotonic() >= self.end


# --------------------------------------------------------------------------------------------
# Server



def dump_stacks(pid, name):
    """A process that does not stop in time: every thread's stack into the log (gdb, when there
    is one), so a hang found once can be diagnosed without reproducing it."""
    gdb = shutil.which("gdb")
    if gdb is None:
        log("%s did not stop in time (no gdb to show where it hangs)" % name)
        return
    try:
        out = subprocess.run([gdb, "-batch", "-p", str(pid), "-ex", "thread apply all bt 30"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=60).stdout
    except (subprocess.TimeoutExpired, OSError) as e:
        out = "gdb failed: %s" % e
    # Attaching needs ptrace rights (root, or kernel.yama.ptrace_scope 0); else gdb says so here.
    log("%s did not stop in time; its threads (gdb -p %d):\n%s" % (name, pid, out))

class Server:
    """One implus-server process (embedded deployment, roles all)."""

    PORT_KEYS = ("tcp", "ws", "user_http", "message_http")
    PORT_ENV = {
        "tcp": "IMPLUS_GATEWAY_TCP_PORT",
        "ws": "IMPLUS_GATEWAY_WS_PORT",
        "user_http": "IMPLUS_USER_HTTP_PORT",
        "message_http": "IMPLUS_MESSAGE_HTTP_PORT",
    }

    def __init__(self, workdir, name="server", extra_env=None, required_ports=PORT_KEYS):
        self.workdir = workdir
        self.name = name
        self.data_dir = os.path.join(workdir, name + "-data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.token_secret_path = os.path.join(self.data_dir, "token.key")
        self.required_ports = required_ports  # the others may be 0 (roles this process does not run)
        self.extra_env = dict(extra_env or {})
        self.proc = None
        self.ports = None
        self.starts = 0
        self.ready_line = None

    def start(self, timeout=30, same_ports=False):
        env = dict(os.environ)
        env.update({
            "IMPLUS_USER_PASSWORD_COST": "min",
            "IMPLUS_SERVER_BIND": HOST,
            "XDG_DATA_HOME": os.path.join(self.workdir, "xdg-data"),
            "XDG_CONFIG_HOME": os.path.join(self.workdir, "xdg-config"),
            "G_MESSAGES_DEBUG": env.get("G_MESSAGES_DEBUG", ""),
        })
        for k in self.PORT_KEYS:
            env[self.PORT_ENV[k]] = str(self.ports[k]) if (same_ports and self.ports) else "0"
        env.update(self.extra_env)
        self.starts += 1
        logpath = os.path.join(self.workdir, "%s-%d.log" % (self.name, self.starts))
        self.stderr = open(logpath, "wb")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([SERVER_BIN, "--data-dir", self.data_dir],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.stderr, env=env)
        ready = threading.Event()
        result = {}

        def reader(proc=self.proc):
            # Reads stdout for the whole life of the process so it never blocks on a full pipe.
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if line.startswith("IMPLUS-READY") and not ready.is_set():
                    result["line"] = line
                    ready.set()
            ready.set()

        threading.Thread(target=reader, daemon=True).start()
        ready.wait(timeout)
        line = result.get("line")
        if line is None:
            rc = self.proc.poll()
            if rc is None:
                self.proc.kill()
                self.proc.wait()
            raise ContractFailure(
                "CONTRACT docs/server.md: expected an 'IMPLUS-READY role=all tcp=N ws=N user_http=N "
                "message_http=N' line on stdout within %ds; got %s" %
                (timeout, "exit code %s before it" % rc if rc is not None else "nothing (killed)"))
        fields = parse_kv(line)
        ports = {}
        for k in self.PORT_KEYS:
            try:
                ports[k] = int(fields[k])
            except (KeyError, ValueError):
                raise ContractFailure("CONTRACT docs/server.md: READY line lacks %s=N: %r" % (k, line))
            if ports[k] <= 0 and k in self.required_ports:
                raise ContractFailure("CONTRACT docs/server.md: READY line has %s=%d with port 0 "
                                      "requested (must print the port really bound): %r" % (k, ports[k], line))
        if same_ports and self.ports and ports != self.ports:
            raise ContractFailure("restart asked for ports %r, server bound %r" % (self.ports, ports))
        self.ports = ports
        self.ready_line = line
        log("%s up in %.2f s: %s" % (self.name, time.monotonic() - t0, line))
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def gateway(self, n=1):
        """What a client of gateway n connects to: here the one process (the distributed
        deployment has two gateways)."""
        return self

    def destroy(self):
        self.kill9()

    def stop(self, timeout=20):
        """SIGTERM; returns the exit code (docs/server.md: exit 0)."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            dump_stacks(self.proc.pid, self.name)
            self.proc.kill()
            self.proc.wait()
            rc = "timeout (killed after %ds)" % timeout
        self.stderr.close()
        return rc

    def kill9(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.proc is not None:
            self.stderr.close()

    def url(self, service, path):
        port = self.ports["user_http" if service == "user" else "message_http"]
        return "http://%s:%d%s" % (HOST, port, path)

    # Convenience HTTP calls ----------------------------------------------------------------

    def register(self, username, password="password-123", nickname=None):
        body = {"username": username, "password": password}
        if nickname:
            body["nickname"] = nickname
        st, js = http("POST", self.url("user", "/users/register"), body)
        if st != 201 or not isinstance(js, dict) or "user_id" not in js:
            raise ContractFailure("CONTRACT docs/http-api.md POST /users/register: expected 201 "
                                  "{user_id,...}; got %s %s" % (st, _short(js)))
        return js["user_id"]

    def login(self, username, password="password-123"):
        st, js = http("POST", self.url("user", "/users/login"),
                      {"username": username, "password": password})
        if st != 200 or not isinstance(js, dict) or "token" not in js:
            raise ContractFailure("CONTRACT docs/http-api.md POST /users/login: expected 200 "
                                  "{token,...}; got %s %s" % (st, _short(js)))
        return js

    def sync_all(self, token, page=500, checker=None):
        """Pages GET /messages/sync to the end; returns the message list."""
        out = []
        after = 0
        for _ in range(100000):
            st, js = http("GET", self.url("message", "/messages/sync?after=%d&limit=%d" % (after, page)),
                          token=token)
            if st != 200 or not isinstance(js, dict) or "messages" not in js:
                raise ContractFailure("CONTRACT docs/http-api.md GET /messages/sync: expected 200 "
                                      "{messages,has_more,max_seq}; got %s %s" % (st, _short(js)))
            msgs = js["messages"]
            if checker is not None:
                checker.check(len(msgs) <= page, "docs/http-api.md GET /messages/sync",
                              "at most limit=%d messages per page" % page, len(msgs))
            out.extend(msgs)
            if not js.get("has_more"):
                break
            if not msgs:
                raise ContractFailure("CONTRACT docs/http-api.md GET /messages/sync: has_more=true "
                                      "with an empty page (after=%d)" % after)
            after = msgs[-1]["seq"]
        return out


def parse_kv(line):
    """Splits 'KEY word k=v ... text=rest of line' (docs/tty.md). Returns a dict; bare words
    are in '_words'. 'text=' and 'message=' take the rest of the line."""
    out = {"_words": []}
    pos = 0
    n = len(line)
    while pos < n:
        sp = line.find(" ", pos)
        tok = line[pos:] if sp < 0 else line[pos:sp]
        if "=" in tok:
            k, v = tok.split("=", 1)
            if k in ("text", "message"):
                out[k] = line[pos + len(k) + 1:]
                break
            out[k] = v
        elif tok:
            out["_words"].append(tok)
        if sp < 0:
            break
        pos = sp + 1
    return out


def unescape(v):
    return urllib.parse.unquote(v)


# --------------------------------------------------------------------------------------------
# HTTP


def http(method, url, body=None, token=None, raw=None, headers=None, timeout=30):
    """Returns (status, parsed JSON or raw text). body: a JSON-able object; raw: bytes as is."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, payload = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    except (ConnectionResetError, BrokenPipeError) as e:
        return None, "connection error: %r" % (e,)
    try:
        return status, json.loads(payload.decode("utf-8")) if payload else None
    except (ValueError, UnicodeDecodeError):
        return status, payload.decode("utf-8", "replace")


# --------------------------------------------------------------------------------------------
# implus-tty


class Tty:
    """One implus-tty process. All stdout lines are kept in self.lines (with a condition)."""

    def __init__(self, server, workdir, name, data_dir=None, device_id=None, transport="tcp"):
        self.server = server
        self.workdir = workdir
        self.name = name
        self.data_dir = data_dir or os.path.join(workdir, "tty-" + name)
        os.makedirs(self.data_dir, exist_ok=True)
        self.device_id = device_id or ("dev-" + name)
        self.transport = transport
        self.proc = None
        self.lines = []
        self.cond = threading.Condition()
        self.hooks = []
        self.eof = False
        self.starts = 0
        self._reset_tracking()

    def _reset_tracking(self):
        # Incremental views of the event lines, so waits stay cheap with thousands of lines.
        self.sent = {}          # client_msg_id -> parsed EVT sent (first)
        self.sent_count = 0     # EVT sent lines, repeats included
        self.failed = []        # parsed EVT failed
        self.evt_msgs = []      # parsed EVT message, in arrival order
        self.evt_ids = {}       # msg_id -> times seen in EVT message
        self.recv_from = {}     # sender id -> number of distinct msg_ids
        self.ok_msg = 0         # 'OK msg' results
        self.err_lines = []     # ERR results and EVT error lines
        self.connected = 0
        self.disconnected = 0

    def start(self):
        p = self.server.ports
        args = [TTY_BIN, "--server", HOST, "--user-port", str(p["user_http"]),
                "--message-port", str(p["message_http"]), "--tcp-port", str(p["tcp"]),
                "--ws-port", str(p["ws"]), "--transport", self.transport,
                "--data-dir", self.data_dir, "--device-id", self.device_id]
        env = dict(os.environ)
        env["XDG_DATA_HOME"] = os.path.join(self.workdir, "xdg-data-" + self.name)
        env["XDG_CONFIG_HOME"] = os.path.join(self.workdir, "xdg-config-" + self.name)
        self.starts += 1
        self.stderr = open(os.path.join(self.workdir, "tty-%s-%d.log" % (self.name, self.starts)), "wb")
        # Every stdout line is also kept on disk for post-mortems.
        self.outfile = open(os.path.join(self.workdir, "tty-%s-%d.out" % (self.name, self.starts)), "w",
                            buffering=1)  # line-buffered: a post-mortem sees every line
        with self.cond:
            self.lines = []
            self.eof = False
            self._reset_tracking()
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, env=env)
        threading.Thread(target=self._reader, args=(self.proc,), daemon=True).start()
        return self

    def _reader(self, proc):
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.outfile.write(line + "\n")
            with self.cond:
                self.lines.append(line)
                self._track(line)
                for h in list(self.hooks):
                    h(line)
                self.cond.notify_all()
        self.outfile.close()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def _track(self, line):
        if line.startswith("EVT message "):
            f = parse_kv(line)
            self.evt_msgs.append(f)
            mid = f.get("msg_id")
            self.evt_ids[mid] = self.evt_ids.get(mid, 0) + 1
            if self.evt_ids[mid] == 1:
                self.recv_from[f.get("from")] = self.recv_from.get(f.get("from"), 0) + 1
        elif line.startswith("EVT sent "):
            f = parse_kv(line)
            self.sent_count += 1
            self.sent.setdefault(f.get("client_msg_id"), f)
        elif line.startswith("EVT failed"):
            self.failed.append(parse_kv(line))
        elif line.startswith("OK msg"):
            self.ok_msg += 1
        elif line.startswith("ERR ") or line.startswith("EVT error"):
            self.err_lines.append(line)
        elif line.startswith("EVT connected"):
            self.connected += 1
        elif line.startswith("EVT disconnected"):
            self.disconnected += 1

    def wait_until(self, fn, timeout, what):
        """Waits until fn() (called under the lock, on the tracked counters) is true."""
        dl = Deadline(timeout)
        with self.cond:
            while True:
                v = fn()
                if v:
                    return v
                if self.eof:
                    raise ContractFailure("%s: implus-tty exited (rc=%s) while waiting for %s; last "
                                          "lines: %s" % (self.name, self.proc.poll(), what, self.lines[-8:]))
                if dl.expired():
                    raise ContractFailure("%s: timeout after %ds waiting for %s; last lines: %s" %
                                          (self.name, timeout, what, self.lines[-8:]))
                self.cond.wait(min(dl.left(), 5.0))

    def add_hook(self, fn):
        """fn(line) runs in the reader thread for every new line (e.g. to kill the server at a
        precise point of progress)."""
        with self.cond:
            self.hooks.append(fn)

    def send(self, *lines):
        data = "".join(l + "\n" for l in lines).encode("utf-8")
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def mark(self):
        with self.cond:
            return len(self.lines)

    def wait_for(self, pred, timeout, what, start=0):
        """Waits until pred(lines[start:]) is true; returns its value. Raises with context."""
        dl = Deadline(timeout)
        with self.cond:
            while True:
                v = pred(self.lines[start:])
                if v:
                    return v
                if self.eof:
                    raise ContractFailure("%s: implus-tty exited (rc=%s) while waiting for %s; last "
                                          "lines: %s" % (self.name, self.proc.poll(), what,
                                                          self.lines[-8:]))
                if dl.expired():
                    raise ContractFailure("%s: timeout after %ds waiting for %s; last lines: %s" %
                                          (self.name, timeout, what, self.lines[-8:]))
                self.cond.wait(min(dl.left(), 5.0))

    def command(self, cmd, timeout=30):
        """Sends one command; returns the parsed OK/ERR result line (docs/tty.md: exactly one)."""
        name = cmd.split()[0].lstrip("/")
        start = self.mark()
        self.send(cmd)

        def pred(lines):
            for i, l in enumerate(lines):
                if l.startswith("OK %s" % name) or l.startswith("ERR %s" % name):
                    return (i, l)
            return None

        i, l = self.wait_for(pred, timeout, "result of %r" % cmd, start)
        return start + i, l

    def ok(self, cmd, timeout=30):
        _i, l = self.command(cmd, timeout)
        if not l.startswith("OK "):
            raise ContractFailure("CONTRACT docs/tty.md %s: expected 'OK ...'; got %r" % (cmd.split()[0], l))
        return parse_kv(l)

    def login(self, user, password="password-123", timeout=30):
        start = self.mark()
        res = self.ok("/login %s %s" % (user, password), timeout)
        self.wait_for(lambda ls: any(l.startswith("EVT connected") for l in ls), timeout,
                      "EVT connected after /login", start)
        return int(res.get("user_id", "0"))

    def dump(self, timeout=60):
        """/dump -> (list of MSG dicts, OK line fields). MSG lines are those printed between
        sending /dump and its result line."""
        start = self.mark()
        i, l = self.command("/dump", timeout)
        if not l.startswith("OK dump"):
            raise ContractFailure("CONTRACT docs/tty.md /dump: expected 'OK dump count=N watermark=N'; got %r" % l)
        with self.cond:
            seg = self.lines[start:i]
        return [msg_fields(m) for m in seg if m.startswith("MSG ")], parse_kv(l)

    def count(self, prefix, start=0):
        with self.cond:
            return sum(1 for l in self.lines[start:] if l.startswith(prefix))

    def events(self, kind, start=0):
        """Parsed 'EVT <kind> ...' lines."""
        with self.cond:
            return [parse_kv(l) for l in self.lines[start:] if l.startswith("EVT %s " % kind)
                    or l == "EVT %s" % kind]

    def quit(self, timeout=30):
        """/quit: OK quit, exit 0 (docs/tty.md)."""
        try:
            self.send("/quit")
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = "timeout"
            self.proc.wait()
        with self.cond:
            self.cond.wait_for(lambda: self.eof, 5)
        self.stderr.close()
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def msg_fields(line):
    f = parse_kv(line)
    out = {}
    for k in ("seq", "msg_id", "from", "to", "time_ms"):
        try:
            out[k] = int(f.get(k, ""))
        except ValueError:
            out[k] = None
    out["conv"] = f.get("conv")
    out["state"] = f.get("state")
    out["text"] = unescape(f.get("text", ""))
    return out


# --------------------------------------------------------------------------------------------
# Minimal protobuf codec (proto3) for proto/implus.proto


def enc_varint(v):
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def dec_varint(buf, pos):
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ValueError("varint too long")


# schema: field number -> (name, type); type: 'int' (int64/uint/enum varint), 'str', 'bytes', or
# a message name.
SCHEMA = {
    "Auth": {1: ("token", "str"), 2: ("device_id", "str")},
    "AuthOk": {1: ("user_id", "int"), 2: ("device_id", "str"), 3: ("server_time_ms", "int"),
               4: ("heartbeat_interval_ms", "int"), 5: ("idle_timeout_ms", "int")},
    "Heartbeat": {1: ("client_time_ms", "int"), 2: ("server_time_ms", "int")},
    "ChatUp": {1: ("client_msg_id", "str"), 2: ("to_user_id", "int"), 3: ("content", "str"),
               4: ("content_type", "int"), 5: ("sender_id", "int")},
    "SendReceipt": {1: ("client_msg_id", "str"), 2: ("msg_id", "int"), 3: ("seq", "int"),
                    4: ("server_time_ms", "int"), 5: ("conversation_id", "str"),
                    6: ("error_code", "int"), 7: ("error_reason", "str")},
    "Message": {1: ("msg_id", "int"), 2: ("conversation_id", "str"), 3: ("sender_id", "int"),
                4: ("to_user_id", "int"), 5: ("seq", "int"), 6: ("content", "str"),
                7: ("content_type", "int"), 8: ("send_time_ms", "int"), 9: ("client_msg_id", "str")},
    "Push": {1: ("message", "Message")},
    "Ack": {1: ("up_to_seq", "int")},
    "Error": {1: ("code", "int"), 2: ("reason", "str"), 3: ("ref_frame_id", "int")},
    "Kick": {1: ("reason", "int"), 2: ("message", "str")},
    "Envelope": {1: ("frame_id", "int"), 10: ("auth", "Auth"), 11: ("auth_ok", "AuthOk"),
                 12: ("heartbeat", "Heartbeat"), 13: ("chat_up", "ChatUp"),
                 14: ("receipt", "SendReceipt"), 15: ("push", "Push"), 16: ("ack", "Ack"),
                 17: ("error", "Error"), 18: ("kick", "Kick")},
}
BODIES = ("auth", "auth_ok", "heartbeat", "chat_up", "receipt", "push", "ack", "error", "kick")

ERR = {
    "NONE": 0, "BAD_FRAME": 1, "FRAME_TOO_LARGE": 2, "NOT_AUTHENTICATED": 3, "AUTH_FAILED": 4,
    "TOKEN_EXPIRED": 5, "TOKEN_REVOKED": 6, "BAD_REQUEST": 7, "CONTENT_EMPTY": 8,
    "CONTENT_TOO_LARGE": 9, "INVALID_UTF8": 10, "WRONG_SENDER": 11, "UNKNOWN_USER": 12,
    "FORBIDDEN": 13, "NOT_FOUND": 14, "CONFLICT": 15, "RATE_LIMITED": 16,
    "PAYLOAD_TOO_LARGE": 17, "INTERNAL": 18, "UNAVAILABLE": 19,
}
ERR_NAME = {v: k for k, v in ERR.items()}


def encode(msg_type, obj):
    by_name = {name: (num, typ) for num, (name, typ) in SCHEMA[msg_type].items()}
    out = bytearray()
    for name, value in obj.items():
        num, typ = by_name[name]
        if typ == "int":
            if value:  # proto3: zero is not written
                out += enc_varint(num << 3) + enc_varint(int(value))
        elif typ in ("str", "bytes"):
            b = value.encode("utf-8") if isinstance(value, str) else bytes(value)
            out += enc_varint((num << 3) | 2) + enc_varint(len(b)) + b
        else:
            b = encode(typ, value)
            out += enc_varint((num << 3) | 2) + enc_varint(len(b)) + b
    return bytes(out)


def decode(msg_type, buf):
    schema = SCHEMA[msg_type]
    out = {}
    pos = 0
    while pos < len(buf):
        key, pos = dec_varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = dec_varint(buf, pos)
        elif wt == 2:
            ln, pos = dec_varint(buf, pos)
            if pos + ln > len(buf):
                raise ValueError("truncated field")
            v = bytes(buf[pos:pos + ln])
            pos += ln
        elif wt == 1:
            v = buf[pos:pos + 8]
            pos += 8
        elif wt == 5:
            v = buf[pos:pos + 4]
            pos += 4
        else:
            raise ValueError("bad wire type %d" % wt)
        if num not in schema:
            continue
        name, typ = schema[num]
        if typ == "int":
            if v >= 1 << 63:
                v -= 1 << 64
            out[name] = v
        elif typ == "str":
            try:
                out[name] = v.decode("utf-8")
            except UnicodeDecodeError:
                out[name] = v
        elif typ == "bytes":
            out[name] = v
        else:
            out[name] = decode(typ, v)
    # proto3 defaults for scalars
    for _num, (name, typ) in schema.items():
        if name not in out and typ in ("int", "str"):
            if msg_type == "Envelope" and name != "frame_id":
                continue
            out[name] = 0 if typ == "int" else ""
    return out


def envelope(body_name, body, frame_id=0):
    e = {body_name: body}
    if frame_id:
        e = {"frame_id": frame_id, body_name: body}
    return encode("Envelope", e)


def body_of(env):
    for b in BODIES:
        if b in env:
            return b
    return None


# --------------------------------------------------------------------------------------------
# Raw clients


class Closed(Exception):
    pass


class RawClient:
    """Raw TCP client: 4-byte big-endian length + Envelope."""

    def __init__(self, port, host=HOST, timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.inbox = []
        self.closed = False
        self.next_frame = 1
        self.auto_ack = True
        self.acked = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_payload(self, payload):
        self.send_raw(struct.pack(">I", len(payload)) + payload)

    def send(self, body_name, body, frame_id=None):
        if frame_id is None:
            frame_id = self.next_frame
            self.next_frame += 1
        self.send_payload(envelope(body_name, body, frame_id))
        return frame_id

    def _read_frame(self, dl):
        while True:
            if len(self.buf) >= 4:
                ln = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + ln:
                    payload = self.buf[4:4 + ln]
                    self.buf = self.buf[4 + ln:]
                    return decode("Envelope", payload)
            if self.closed:
                raise Closed()
            left = dl.left()
            if left <= 0:
                raise TimeoutError()
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError()
            except (ConnectionResetError, OSError):
                chunk = b""
            if not chunk:
                self.closed = True
            self.buf += chunk

    def _on_frame(self, env):
        if self.auto_ack and "push" in env:
            seq = env["push"].get("message", {}).get("seq", 0)
            if seq > self.acked:
                self.acked = seq
                try:
                    self.send("ack", {"up_to_seq": seq})
                except OSError:
                    pass

    def wait(self, pred, timeout=10, what="frame"):
        """Returns the first frame (already received or new) with pred(env) true; others stay
        in the inbox. Raises TimeoutError / Closed."""
        for i, env in enumerate(self.inbox):
            if pred(env):
                return self.inbox.pop(i)
        dl = Deadline(timeout)
        while True:
            env = self._read_frame(dl)
            self._on_frame(env)
            if pred(env):
                return env
            self.inbox.append(env)

    def wait_body(self, body_name, timeout=10):
        return self.wait(lambda e: body_name in e, timeout)

    def wait_closed(self, timeout=10):
        """True if the server closes the connection within timeout (frames are kept)."""
        dl = Deadline(timeout)
        try:
            while True:
                env = self._read_frame(dl)
                self._on_frame(env)
                self.inbox.append(env)
        except Closed:
            return True
        except TimeoutError:
            return False

    def auth(self, token, device_id, timeout=10):
        self.send("auth", {"token": token, "device_id": device_id})
        return self.wait(lambda e: "auth_ok" in e or "error" in e or "kick" in e, timeout)


def ws_accept_key(key):
    return base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()


class RawWsClient(RawClient):
    """Raw WebSocket client (RFC 6455, client frames masked): one binary frame per Envelope."""

    def __init__(self, port, path="/websocket", host=HOST, timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key))
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise Closed("closed during the WebSocket handshake: %r" % head)
            head += chunk
        head, rest = head.split(b"\r\n\r\n", 1)
        self.handshake = head.decode("latin-1")
        status = self.handshake.split("\r\n")[0]
        if " 101 " not in status + " ":
            raise ContractFailure("WebSocket upgrade at %s answered %r" % (path, status))
        if ws_accept_key(key) not in self.handshake:
            raise ContractFailure("WebSocket upgrade: bad Sec-WebSocket-Accept")
        self.buf = rest
        self.inbox = []
        self.closed = False
        self.next_frame = 1
        self.auto_ack = True
        self.acked = 0
        self.non_binary = []

    def _ws_send(self, opcode, payload):
        mask = os.urandom(4)
        ln = len(payload)
        if ln < 126:
            hdr = struct.pack(">BB", 0x80 | opcode, 0x80 | ln)
        elif ln < 65536:
            hdr = struct.pack(">BBH", 0x80 | opcode, 0x80 | 126, ln)
        else:
            hdr = struct.pack(">BBQ", 0x80 | opcode, 0x80 | 127, ln)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(hdr + mask + masked)

    def send_payload(self, payload):
        self._ws_send(0x2, payload)

    def _recv_more(self, dl):
        if self.closed:
            raise Closed()
        left = dl.left()
        if left <= 0:
            raise TimeoutError()
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError()
        except (ConnectionResetError, OSError):
            chunk = b""
        if not chunk:
            self.closed = True
        self.buf += chunk

    def _read_frame(self, dl):
        msg = b""
        while True:
            while True:
                b = self.buf
                if len(b) >= 2:
                    ln = b[1] & 0x7F
                    off = 2
                    if ln == 126 and len(b) >= 4:
                        ln = struct.unpack(">H", b[2:4])[0]
                        off = 4
                    elif ln == 127 and len(b) >= 10:
                        ln = struct.unpack(">Q", b[2:10])[0]
                        off = 10
                    elif ln >= 126:
                        off = None
                    if off is not None and b[1] & 0x80:
                        off += 4  # servers must not mask; tolerate
                    if off is not None and len(b) >= off + ln:
                        break
                self._recv_more(dl)
            fin, opcode = b[0] & 0x80, b[0] & 0x0F
            payload = b[off:off + ln]
            if b[1] & 0x80:
                m = b[off - 4:off]
                payload = bytes(x ^ m[i % 4] for i, x in enumerate(payload))
            self.buf = b[off + ln:]
            if opcode == 0x8:
                self.closed = True
                raise Closed()
            if opcode == 0x9:
                self._ws_send(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            if opcode == 0x1:
                self.non_binary.append(payload)
            msg += payload
            if fin:
                return decode("Envelope", msg)


# --------------------------------------------------------------------------------------------
# Scenario helpers


def texts_for(tag, n):
    """Message bodies with spaces and non-ASCII text, numbered so order can be checked."""
    return ["%s-%05d héllo wörld 世界 #%d" % (tag, i, i) for i in range(n)]


def send_batch(tty, peer_username, texts, timeout=120):
    """Writes every /msg line at once (the tty batches) and waits for every 'OK msg' result."""
    with tty.cond:
        base = tty.ok_msg
    tty.send(*["/msg %s %s" % (peer_username, t) for t in texts])
    tty.wait_until(lambda: tty.ok_msg - base >= len(texts) or
                   (tty.err_lines and any(l.startswith("ERR msg") for l in tty.err_lines)),
                   timeout, "%d 'OK msg' results" % len(texts))
    errs = [l for l in tty.err_lines if l.startswith("ERR msg")]
    if errs:
        raise ContractFailure("%s: /msg answered %s" % (tty.name, errs[:3]))


def wait_delivered(tty, n_sent, peer_id, n_recv, timeout, own_id=None, own_recv=0):
    """Waits for n_sent distinct EVT sent receipts and n_recv distinct EVT message from peer_id."""
    def done():
        if self_failed(tty):
            return True
        return (len(tty.sent) >= n_sent and tty.recv_from.get(str(peer_id), 0) >= n_recv and
                (own_id is None or tty.recv_from.get(str(own_id), 0) >= own_recv))
    tty.wait_until(done, timeout, "%d EVT sent and %d EVT message from %s (have %d and %d)" %
                   (n_sent, n_recv, peer_id, len(tty.sent), tty.recv_from.get(str(peer_id), 0)))
    if tty.failed:
        raise ContractFailure("%s: EVT failed lines: %s" % (tty.name, tty.failed[:3]))


def self_failed(tty):
    return bool(tty.failed)


def check_stream(ck, label, msgs, ok_fields):
    """One user's /dump: seqs dense 1..N in order, each msg_id once, count/watermark agree."""
    seqs = [m["seq"] for m in msgs]
    ck.check(seqs == list(range(1, len(msgs) + 1)), "invariant 3.2 (docs/tty.md /dump)",
             "%s: /dump seqs dense 1..%d in order" % (label, len(msgs)),
             _first_gap(seqs))
    ids = [m["msg_id"] for m in msgs]
    ck.check(len(set(ids)) == len(ids), "exactly-once (docs/tty.md /dump)",
             "%s: every msg_id once" % label, "%d duplicate(s)" % (len(ids) - len(set(ids))))
    ck.check(ok_fields.get("count") == str(len(msgs)), "docs/tty.md /dump",
             "%s: 'OK dump count=%d'" % (label, len(msgs)), ok_fields)
    ck.check(ok_fields.get("watermark") == str(len(msgs)), "invariant 3.6 (watermark)",
             "%s: watermark=%d (all contiguous)" % (label, len(msgs)), ok_fields)


def _first_gap(seqs):
    for i, s in enumerate(seqs):
        if s != i + 1:
            return "first mismatch at index %d: seq %s (around %s)" % (i, s, seqs[max(0, i - 2):i + 3])
    return "len %d" % len(seqs)


def check_texts_in_order(ck, label, msgs, sender_id, texts):
    """The texts sent by sender_id appear exactly once each, in the order sent."""
    got = [m["text"] for m in msgs if m["from"] == sender_id]
    ck.check(got == texts, "exactly-once + order (invariant 3.9)",
             "%s: the %d messages from user %d exactly once, in send order" % (label, len(texts), sender_id),
             _diff_lists(texts, got))


def _diff_lists(want, got):
    if len(want) != len(got):
        extra = len(got) - len(set(got))
        missing = len(set(want) - set(got))
        return "%d messages (want %d): %d missing, %d duplicated" % (len(got), len(want), missing, extra)
    for i, (a, b) in enumerate(zip(want, got)):
        if a != b:
            return "first difference at %d: want %r got %r" % (i, a, b)
    return "equal"


def check_same_messages(ck, label_a, a, label_b, b):
    """Two streams of the same conversation: same msg_ids, same content, same relative order."""
    ka = {m["msg_id"]: (m["from"], m["to"], m["text"]) for m in a}
    kb = {m["msg_id"]: (m["from"], m["to"], m["text"]) for m in b}
    ck.check(set(ka) == set(kb), "one conversation, two streams",
             "%s and %s hold the same msg_ids" % (label_a, label_b),
             "%d only in %s, %d only in %s" % (len(set(ka) - set(kb)), label_a, len(set(kb) - set(ka)), label_b))
    diff = [i for i in ka if i in kb and ka[i] != kb[i]]
    ck.check(not diff, "one conversation, two streams",
             "same sender/recipient/content per msg_id in %s and %s" % (label_a, label_b),
             [(i, ka[i], kb[i]) for i in diff[:3]])
    oa = [m["msg_id"] for m in a if m["msg_id"] in kb]
    ob = [m["msg_id"] for m in b if m["msg_id"] in ka]
    ck.check(oa == ob, "invariant 3.9 (same order for every participant)",
             "%s and %s order the conversation the same" % (label_a, label_b), _diff_lists(oa, ob))


def check_vs_server(ck, label, dump, server_msgs):
    """The client's mirror equals the server's stream (GET /messages/sync, paged)."""
    sv = [(m.get("seq"), m.get("msg_id"), m.get("sender_id"), m.get("to_user_id"), m.get("content"))
          for m in server_msgs]
    cl = [(m["seq"], m["msg_id"], m["from"], m["to"], m["text"]) for m in dump]
    ck.check(sv == cl, "docs/http-api.md GET /messages/sync vs docs/tty.md /dump",
             "%s: the server's stream (%d) equals the client's /dump (%d) row by row" % (label, len(sv), len(cl)),
             _diff_lists(sv, cl))
    seqs = [m.get("seq") for m in server_msgs]
    ck.check(seqs == list(range(1, len(seqs) + 1)), "invariant 3.2 (server stream)",
             "%s: server seqs dense 1..%d" % (label, len(seqs)), _first_gap(seqs))


def new_tty_user(server, workdir, username, cleanup, device_id=None, data_dir=None, transport="tcp",
                 tty_name=None):
    t = Tty(server, workdir, tty_name or username, data_dir=data_dir, device_id=device_id,
            transport=transport).start()
    cleanup.add(t.kill)
    uid = t.login(username)
    return t, uid
