#!/usr/bin/env python3
"""Runs one GUI scenario (tests/gui/README.md): a fresh embedded server, real `implus`
processes driven through their test hook (IMPLUS_TEST_DRIVER), `implus-tty` clients, a report
with one line per step and a PNG screenshot per step.

usage: implus-gui-runner.py SCENARIO [--results DIR]
env:   IMPLUS_SERVER, IMPLUS_TTY, IMPLUS_GTK (binaries), IMPLUS_BUILD_ROOT, IMPLUS_SOURCE_ROOT
"""
import argparse
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

DEFAULT_WAIT_MS = 20000
SLACK_S = 10


class StepError(Exception):
    pass


def reader(stream, lines, q):
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip("\n")
        lines.append(line)
        q.put(line)
    q.put(None)


class Server:
    def __init__(self, work):
        self.dir = os.path.join(work, "server")
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        self.ports = None

    def start(self):
        if self.proc:
            raise StepError("server already running")
        env = dict(os.environ, IMPLUS_USER_PASSWORD_COST="min")
        names = {"tcp": "IMPLUS_GATEWAY_TCP_PORT", "ws": "IMPLUS_GATEWAY_WS_PORT",
                 "user_http": "IMPLUS_USER_HTTP_PORT", "message_http": "IMPLUS_MESSAGE_HTTP_PORT"}
        for key, var in names.items():
            # A restart keeps the ports, so clients find the server where it was.
            env[var] = str(self.ports[key]) if self.ports else "0"
        env.setdefault("IMPLUS_GATEWAY_UDP_PORT", "0")
        env.setdefault("IMPLUS_GATEWAY_HTTP_PORT", "0")
        log = open(os.path.join(self.dir, "server.log"), "ab")
        self.proc = subprocess.Popen([os.environ["IMPLUS_SERVER"], "--data-dir", self.dir],
                                     stdout=subprocess.PIPE, stderr=log, env=env)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode()
            if not line:
                break
            if line.startswith("IMPLUS-READY"):
                self.ports = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}
                threading.Thread(target=lambda: self.proc.stdout.read(), daemon=True).start()
                return
        raise StepError("server did not print IMPLUS-READY")

    def stop(self):
        if not self.proc:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def address(self):
        return "127.0.0.1:%d:%d" % (self.ports["user_http"], self.ports["message_http"])


class App:
    """One `implus` process with its own home (data dir, settings)."""

    def __init__(self, name, work):
        self.name = name
        self.home = os.path.join(work, "apps", name)
        self.proc = None
        self.lang = None

    def start(self, lang=None):
        if self.proc:
            raise StepError("app %s already running" % self.name)
        for sub in ("data", "config", "cache"):
            os.makedirs(os.path.join(self.home, sub), exist_ok=True)
        build = os.environ.get("IMPLUS_BUILD_ROOT", "")
        src = os.environ.get("IMPLUS_SOURCE_ROOT", "")
        env = dict(os.environ,
                   HOME=self.home,
                   XDG_DATA_HOME=os.path.join(self.home, "data"),
                   XDG_CONFIG_HOME=os.path.join(self.home, "config"),
                   XDG_CACHE_HOME=os.path.join(self.home, "cache"),
                   XDG_DATA_DIRS=os.path.join(src, "data") + ":/usr/local/share:/usr/share",
                   GSETTINGS_BACKEND="keyfile",
                   GSETTINGS_SCHEMA_DIR=os.path.join(build, "data"),
                   IMPLUS_LOCALEDIR=os.path.join(build, "po"),
                   IMPLUS_TEST_DRIVER="1",
                   GTK_A11Y="none",
                   LANG="C.UTF-8",
                   LC_ALL="C.UTF-8",
                   NO_AT_BRIDGE="1")
        env.pop("LANGUAGE", None)
        self.lang = lang or self.lang
        if self.lang:
            env["LANGUAGE"] = self.lang
        self.log = open(os.path.join(self.home, "implus.log"), "ab")
        self.proc = subprocess.Popen([os.environ["IMPLUS_GTK"]], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, env=env)
        self.q = queue.Queue()
        self.lines = []
        threading.Thread(target=reader, args=(self.proc.stdout, self.lines, self.q), daemon=True).start()
        self.expect_reply(20, "ready")
        self.command("wait 20000 main-window shown")

    def expect_reply(self, timeout_s, what):
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise StepError("%s: no answer from the app within %ds" % (what, timeout_s))
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise StepError("%s: the app exited (code %s)" % (what, self.proc.poll()))
            if line.startswith("DRIVER OK"):
                return line[len("DRIVER OK "):]
            if line.startswith("DRIVER ERR"):
                raise StepError(line[len("DRIVER ERR "):])

    def command(self, line, timeout_s=SLACK_S):
        if not self.proc:
            raise StepError("app %s is not running" % self.name)
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        return self.expect_reply(timeout_s, line.split(" ")[0])

    def stop(self):
        if not self.proc:
            return
        try:
            self.command("quit")
        except StepError:
            pass
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=15)
        except (subprocess.TimeoutExpired, BrokenPipeError):
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def kill(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


class Tty:
    """One `implus-tty` process fed line by line."""

    def __init__(self, name, work):
        self.name = name
        self.dir = os.path.join(work, "tty", name)
        self.proc = None

    def start(self, server):
        os.makedirs(self.dir, exist_ok=True)
        args = [os.environ["IMPLUS_TTY"], "--server", "127.0.0.1",
                "--user-port", str(server.ports["user_http"]),
                "--message-port", str(server.ports["message_http"]),
                "--data-dir", self.dir, "--linger-s", "5"]
        self.log = open(os.path.join(self.dir, "tty.log"), "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log)
        self.q = queue.Queue()
        self.lines = []
        self.seen = 0
        threading.Thread(target=reader, args=(self.proc.stdout, self.lines, self.q), daemon=True).start()

    def next_line(self, deadline, what):
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise StepError("%s: timed out; last lines: %s" % (what, self.lines[-3:]))
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise StepError("%s: implus-tty exited" % what)
            self.log.write((line + "\n").encode())
            return line

    def do(self, line, timeout_s=30):
        if not self.proc:
            raise StepError("tty %s is not running" % self.name)
        cmd = line.split(" ")[0].lstrip("/")
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout_s
        while True:
            out = self.next_line(deadline, line.split(" ")[0])
            if out.startswith("OK %s" % cmd):
                return out
            if out.startswith("ERR %s" % cmd):
                raise StepError(out)

    def expect(self, text, timeout_s=DEFAULT_WAIT_MS / 1000):
        # Lines already printed count too (an event may come before the step asks for it).
        for i in range(self.seen, len(self.lines)):
            if text in self.lines[i]:
                self.seen = i + 1
                return self.lines[i]
        deadline = time.monotonic() + timeout_s
        while True:
            out = self.next_line(deadline, "expect " + text)
            if text in out:
                self.seen = len(self.lines)
                return out

    def stop(self):
        if not self.proc:
            return
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class Runner:
    def __init__(self, scenario, results):
        self.scenario = scenario
        self.name = os.path.splitext(os.path.basename(scenario))[0]
        self.results = os.path.join(results, self.name)
        shutil.rmtree(self.results, ignore_errors=True)
        os.makedirs(self.results)
        self.work = tempfile.mkdtemp(prefix="implus-gui-%s-" % self.name)
        self.server = Server(self.work)
        self.apps = {}
        self.ttys = {}
        self.current = None

    def expand(self, text):
        vals = {"server": self.server.address() if self.server.ports else ""}
        if self.server.ports:
            vals.update({k: str(v) for k, v in self.server.ports.items()})
        return re.sub(r"\$\{(\w+)\}", lambda m: vals.get(m.group(1), m.group(0)), text)

    def app(self, name):
        if name not in self.apps:
            self.apps[name] = App(name, self.work)
        self.current = self.apps[name]
        return self.current

    def tty(self, name):
        if name not in self.ttys:
            self.ttys[name] = Tty(name, self.work)
        return self.ttys[name]

    def step(self, words):
        kind = words[0]
        if kind == "server":
            action = words[1]
            if action == "start":
                self.server.start()
            elif action == "stop":
                self.server.stop()
            elif action == "restart":
                self.server.stop()
                self.server.start()
            else:
                raise StepError("unknown server action %s" % action)
        elif kind == "app":
            app = self.app(words[1])
            action = words[2]
            rest = words[3:]
            if action == "start":
                app.start(lang=rest[0] if rest else None)
            elif action == "stop":
                app.stop()
            elif action == "restart":
                app.stop()
                app.start()
            elif action == "crash":
                app.kill()
            elif action in ("register", "signin"):
                user, password = rest[0], rest[1]
                app.command("type server-entry " + self.server.address())
                app.command("type username-entry " + user)
                app.command("type password-entry " + password)
                app.command("click %s" % ("register-button" if action == "register" else "login-button"))
                app.command("wait %d conversation-list shown" % DEFAULT_WAIT_MS, DEFAULT_WAIT_MS / 1000 + SLACK_S)
            elif action == "wait":
                app.command("wait %d %s" % (DEFAULT_WAIT_MS, " ".join(rest)), DEFAULT_WAIT_MS / 1000 + SLACK_S)
            elif action == "shot":
                pass  # every step is shot; the label only names it
            else:
                answer = app.command(" ".join([action] + rest))
                if action == "text":
                    print("    " + answer, flush=True)
        elif kind == "tty":
            tty = self.tty(words[1])
            action = words[2]
            if action == "start":
                tty.start(self.server)
            elif action == "do":
                tty.do(" ".join(words[3:]))
            elif action == "expect":
                tty.expect(" ".join(words[3:]))
            elif action == "stop":
                tty.stop()
            else:
                raise StepError("unknown tty action %s" % action)
        else:
            raise StepError("unknown step kind %s" % kind)

    def shoot(self, n, line):
        app = self.current
        if app is None or app.proc is None:
            return ""
        slug = re.sub(r"[^A-Za-z0-9]+", "-", line)[:40].strip("-")
        png = "%02d-%s.png" % (n, slug)
        try:
            app.command("shot " + os.path.join(self.results, png))
            return png
        except StepError as e:
            return "(no screenshot: %s)" % e

    def run(self):
        with open(self.scenario, encoding="utf-8") as f:
            steps = [(i + 1, l.strip()) for i, l in enumerate(f) if l.strip() and not l.strip().startswith("#")]
        report = open(os.path.join(self.results, "report.txt"), "w", encoding="utf-8")
        failed = False
        try:
            self.server.start()
            for n, (lineno, line) in enumerate(steps, 1):
                if failed:
                    report.write("%02d SKIP %s\n" % (n, line))
                    continue
                expanded = self.expand(line)
                started = time.monotonic()
                try:
                    self.step(shlex.split(expanded))
                    status, detail = "PASS", ""
                except (StepError, OSError, IndexError, KeyError) as e:
                    status, detail, failed = "FAIL", " -- %s" % e, True
                shot = self.shoot(n, line)
                msg = "%02d %s %s [%.1fs] %s%s" % (n, status, line, time.monotonic() - started, shot, detail)
                report.write(msg + "\n")
                report.flush()
                print(msg, flush=True)
        finally:
            for t in self.ttys.values():
                t.stop()
            for a in self.apps.values():
                a.stop()
            self.server.stop()
            report.write("RESULT %s\n" % ("FAIL" if failed else "PASS"))
            report.close()
            if not failed and not os.environ.get("IMPLUS_GUI_KEEP"):
                shutil.rmtree(self.work, ignore_errors=True)
            else:
                print("work dir kept: %s" % self.work)
        return 1 if failed else 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario")
    p.add_argument("--results", default=os.path.join(os.environ.get("IMPLUS_BUILD_ROOT", "."), "tests", "gui", "results"))
    args = p.parse_args()
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        # Not under a display: run under our own Xvfb.
        os.execvp("xvfb-run", ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24 -nolisten tcp",
                               sys.executable] + sys.argv)
    sys.exit(Runner(args.scenario, args.results).run())


if __name__ == "__main__":
    main()
