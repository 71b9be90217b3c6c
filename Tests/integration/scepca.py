#!/usr/bin/env python3
"""Throwaway micromdm scepserver CA for integration tests (Python 3 stdlib only).

    with ScepCA(tmpdir) as ca:            # or ca = ScepCA(tmpdir); ca.start(); ...; ca.stop()
        ca.url                            # http://127.0.0.1:P/scep
        ca.challenge                      # random unless given
        ca.ca_cert_der, ca.ca_cert_pem_path, ca.ca_fingerprint_sha256

CLI (the server keeps running after the command returns):

    python3 Tests/integration/scepca.py start --dir D [--challenge C] [--crtvalid N] [--allowrenew N]
    python3 Tests/integration/scepca.py stop --dir D

Layout of the work directory: depot/ (the CA: ca.pem, ca.key, issued certs), scepserver.log,
scepca-init.log, scepca.json (state written by the CLI). An existing depot/ca.pem is reused, so a CA can
be restarted with other options. scepserver listens on every interface (it has no bind flag): this
module only ever sends to 127.0.0.1.
"""

import argparse
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

SCEPSERVER = "scepserver"
LOOPBACK = "127.0.0.1"


class ScepCAError(RuntimeError):
    pass


def free_port(host=LOOPBACK):
    """A TCP port that is free on `host` right now (the caller must cope with losing a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _opener(context=None):
    """urllib opener that ignores http_proxy/https_proxy: tests talk to loopback only."""
    handlers = [urllib.request.ProxyHandler({})]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers)


def http_get(url, timeout=2.0, context=None):
    """GET url; returns (status, headers, body). HTTP errors are returned, not raised."""
    try:
        with _opener(context).open(url, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def _tail(path, lines=20):
    try:
        with open(path, "rb") as f:
            data = f.read()[-8192:]
        return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def pem_to_der(pem_bytes):
    import base64
    text = pem_bytes.decode("ascii")
    begin = text.index("-----BEGIN CERTIFICATE-----") + len("-----BEGIN CERTIFICATE-----")
    end = text.index("-----END CERTIFICATE-----", begin)
    return base64.b64decode("".join(text[begin:end].split()))


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def terminate_pid(pid, timeout=5.0):
    """SIGTERM pid, wait up to timeout, then SIGKILL. Only for pids this harness started."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop_owned(proc, pid, owns, timeout=5.0):
    """Stops a server we started: through its Popen (SIGTERM, then SIGKILL after `timeout`), or, for
    one started by an earlier process, by pid, and only when `owns(pid)` confirms it is ours."""
    if proc is not None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
    elif pid is not None and owns(pid):
        terminate_pid(pid, timeout)


def die_with_parent():
    """preexec_fn: SIGTERM the child when the process that started it dies (Linux prctl), so a killed
    test run does not leave servers behind. Not used for detached (CLI) servers."""
    import ctypes
    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


class ChildServer:
    """A server this harness runs as a child process on a free 127.0.0.1 port (scepserver, nginx): start()
    tries another port when it loses the race for one, stop() ends only a process that is ours, `with`
    starts and stops it. A subclass names its `Error`, and gives _prepare() (run once before the first
    try), _spawn_and_wait(detach) (launch with _launch(), then _wait_until_ready()) and _owns(pid)."""

    Error = RuntimeError
    name = "server"
    requested_port = None  # a fixed port gets one try: losing it to another process is the caller's problem
    start_timeout = 10.0
    port = None
    proc = None
    _pid = None

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else self._pid

    def start(self, detach=False):
        """detach=True leaves the server running when this Python process exits (used by the CLIs)."""
        if self.proc is not None:
            raise self.Error("already started")
        self._prepare()
        last_error = None
        for _ in range(1 if self.requested_port else 5):
            self.port = self.requested_port or free_port()
            try:
                self._spawn_and_wait(detach)
                break
            except self.Error as e:  # most likely lost the port race: retry on another port
                last_error = e
                self.stop()
        else:
            raise last_error
        if detach:
            self.proc = None  # forget the Popen so nothing waits for or kills it at exit; _pid stays
        return self

    def _launch(self, command, log_path, cwd, detach):
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                                         start_new_session=True, close_fds=True,
                                         preexec_fn=None if detach else die_with_parent)
        self._pid = self.proc.pid

    def _wait_until_ready(self, ready, what, logs):
        """Polls ready() (False, or an OSError, while the server is not up yet) for start_timeout seconds;
        raises Error with the tail of `logs` when the server exits or the time runs out."""
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise self.Error(f"{self.name} exited with {self.proc.returncode}:\n" + "\n".join(map(_tail, logs)))
            try:
                if ready():
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise self.Error(f"{self.name} did not {what} within {self.start_timeout}s:\n" + "\n".join(map(_tail, logs)))
            time.sleep(0.05)

    def stop(self, timeout=5.0):
        stop_owned(self.proc, self._pid, self._owns, timeout)
        self.proc = None
        self._pid = None

    def running(self):
        return self.pid is not None and pid_alive(self.pid)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class ScepCA(ChildServer):
    """A micromdm scepserver 2.1.0 CA on 127.0.0.1 (it actually listens on all interfaces)."""

    Error = ScepCAError
    name = "scepserver"

    def __init__(self, workdir, challenge=None, crtvalid=None, allowrenew=None, port=None,
                 key_size=2048, organization="scep-agent test CA", debug=False, extra_args=(),
                 start_timeout=15.0):
        self.workdir = os.path.abspath(str(workdir))
        # challenge=None: random; challenge="": no challenge enforced.
        self.challenge = secrets.token_urlsafe(12) if challenge is None else challenge
        self.crtvalid = crtvalid
        self.allowrenew = allowrenew
        self.requested_port = port
        self.key_size = key_size
        self.organization = organization
        self.debug = debug
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.depot = os.path.join(self.workdir, "depot")
        self.log_path = os.path.join(self.workdir, "scepserver.log")

    # ---- public properties
    @property
    def base_url(self):
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def url(self):
        return f"{self.base_url}/scep"

    @property
    def ca_cert_pem_path(self):
        return os.path.join(self.depot, "ca.pem")

    @property
    def ca_key_path(self):
        return os.path.join(self.depot, "ca.key")

    @property
    def ca_cert_der(self):
        with open(self.ca_cert_pem_path, "rb") as f:
            return pem_to_der(f.read())

    @property
    def ca_fingerprint_sha256(self):
        return hashlib.sha256(self.ca_cert_der).hexdigest()

    # ---- lifecycle
    def _check_binary(self):
        if shutil.which(SCEPSERVER) is None:
            raise ScepCAError(f"{SCEPSERVER} not found on PATH: install the Debian package `scep` "
                              "(micromdm scepserver 2.1.0)")

    def init_ca(self):
        self._check_binary()
        os.makedirs(self.workdir, exist_ok=True)
        if os.path.exists(self.ca_cert_pem_path):
            return
        log = os.path.join(self.workdir, "scepca-init.log")
        cmd = [SCEPSERVER, "ca", "-init", "-depot", self.depot, "-keySize", str(self.key_size),
               "-organization", self.organization, "-years", "2"]
        with open(log, "wb") as out:
            r = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=60)
        if r.returncode != 0 or not os.path.exists(self.ca_cert_pem_path):
            raise ScepCAError(f"`{' '.join(cmd)}` failed ({r.returncode}):\n{_tail(log)}")

    def command(self):
        cmd = [SCEPSERVER, "-depot", self.depot, "-port", str(self.port)]
        if self.challenge:
            cmd += ["-challenge", self.challenge]
        if self.crtvalid is not None:
            cmd += ["-crtvalid", str(self.crtvalid)]
        if self.allowrenew is not None:
            cmd += ["-allowrenew", str(self.allowrenew)]
        if self.debug:
            cmd += ["-debug"]
        return cmd + self.extra_args

    def _prepare(self):
        self.init_ca()

    def _spawn_and_wait(self, detach):
        """Start scepserver and wait until GetCACaps answers."""
        self._launch(self.command(), self.log_path, self.workdir, detach)
        caps_url = f"{self.url}?operation=GetCACaps"

        def answers():
            status, _, body = http_get(caps_url, timeout=1.0)
            return status == 200 and b"SCEPStandard" in body
        self._wait_until_ready(answers, f"answer {caps_url}", [self.log_path])
        # Make sure the server on that port is ours (and not someone else's that won a race).
        status, _, body = http_get(f"{self.url}?operation=GetCACert", timeout=2.0)
        if status != 200 or body != self.ca_cert_der:
            raise ScepCAError(f"the server on port {self.port} is not serving our CA")

    def _owns(self, pid):
        cmd = _cmdline(pid)
        return bool(cmd) and os.path.basename(cmd[0]) == SCEPSERVER and self.depot in cmd

    def info(self):
        return {"url": self.url, "challenge": self.challenge, "fingerprint": self.ca_fingerprint_sha256,
                "pid": self.pid, "port": self.port, "ca_cert_pem": self.ca_cert_pem_path,
                "depot": self.depot, "log": self.log_path}

    # ---- CLI state
    def state_path(self):
        return os.path.join(self.workdir, "scepca.json")

    @classmethod
    def from_state(cls, workdir):
        path = os.path.join(os.path.abspath(workdir), "scepca.json")
        with open(path) as f:
            st = json.load(f)
        ca = cls(workdir, challenge=st["challenge"])
        ca.port = st["port"]
        ca._pid = st["pid"]
        return ca


def _main(argv=None):
    p = argparse.ArgumentParser(description="throwaway micromdm scepserver CA on 127.0.0.1")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start", help="start in the background and print JSON")
    s.add_argument("--dir", required=True)
    s.add_argument("--challenge", help="default: random; '' for none")
    s.add_argument("--crtvalid", type=int)
    s.add_argument("--allowrenew", type=int)
    s.add_argument("--port", type=int)
    s.add_argument("--debug", action="store_true")
    t = sub.add_parser("stop", help="stop the server started with `start --dir D`")
    t.add_argument("--dir", required=True)
    a = p.parse_args(argv)
    try:
        if a.cmd == "start":
            state = os.path.join(os.path.abspath(a.dir), "scepca.json")
            if os.path.exists(state):
                old = ScepCA.from_state(a.dir)
                if old._pid and pid_alive(old._pid) and old._owns(old._pid):
                    raise ScepCAError(f"already running (pid {old._pid}); stop it first")
            ca = ScepCA(a.dir, challenge=a.challenge, crtvalid=a.crtvalid, allowrenew=a.allowrenew,
                        port=a.port, debug=a.debug)
            ca.start(detach=True)
            info = ca.info()
            with open(ca.state_path(), "w") as f:
                json.dump(info, f, indent=2)
            print(json.dumps(info))
        else:
            ca = ScepCA.from_state(a.dir)
            ca.stop()
            os.unlink(ca.state_path())
            print(json.dumps({"stopped": True}))
    except (ScepCAError, OSError) as e:
        print(f"scepca: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main())
