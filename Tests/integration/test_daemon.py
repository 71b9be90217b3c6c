"""The daemon against a real scepserver (-crtvalid 1 -allowrenew 0) on 127.0.0.1: it enrolls, renews when
due, runs its hook, answers SIGHUP and renew-now, stops cleanly, survives kill -9 at every install point,
and refuses bad configuration with file, line and key."""
import json
import pathlib
import os
import signal
import subprocess
import time
import types

import pytest

from helpers import ExitCode, certificate_fingerprint_sha256, certificate_serial, openssl, openssl_text, wait_for
from recording_proxy import RecordingProxy
from scepca import ScepCA


@pytest.fixture
def short_ca(tmp_path):
    with ScepCA(tmp_path / "ca", crtvalid=1, allowrenew=0) as server:
        yield server


class Gateway:
    """A config file, its state directory and its output files in one temporary directory."""

    def __init__(self, agent, ca, renew_at="0.5", jitter="0", extra=""):
        self.agent = agent
        self.ca = ca
        self.dir = agent.workdir
        (self.dir / "challenge").write_text(ca.challenge + "\n")
        self.hook_log = self.dir / "hook.log"
        self.config = self.dir / "agent.conf"
        self.config.write_text(f"""
[agent]
state_dir = {self.dir}/state
metrics_file = {self.dir}/metrics.prom

[cert wifi]
url = {ca.url}
ca_fingerprint = {ca.ca_fingerprint_sha256}
subject = CN=gw-daemon,O=Example
sans = dns:gw-daemon.example.net
challenge_file = {self.dir}/challenge
renew_with_challenge = yes
key = {self.dir}/key.pem
cert = {self.dir}/cert.pem
chain = {self.dir}/chain.pem
ca = {self.dir}/ca.pem
renew_at = {renew_at}
jitter = {jitter}
retry_min = 1s
retry_max = 2s
min_renewal_interval = 1s
post_renew = /bin/sh -c "echo renewed >> {self.hook_log}"
""")
        if extra:
            # The extra line replaces the base line with the same key.
            key = extra.split("=", 1)[0].strip()
            lines = [line for line in self.config.read_text().splitlines() if line.split("=", 1)[0].strip() != key]
            self.config.write_text("\n".join(lines + [extra]) + "\n")

    def start(self, env=None):
        full_env = dict(os.environ, **(env or {}))
        self.process = subprocess.Popen([str(self.agent.binary), "run", "--config", str(self.config)],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)
        return self.process

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def hooks(self):
        return len(self.hook_log.read_text().splitlines()) if self.hook_log.exists() else 0

    def wait_for(self, predicate, timeout=30, what="condition"):
        """helpers.wait_for, failing at once when the daemon (once started) has exited."""
        wait_for(predicate, timeout, what, process=getattr(self, "process", None))

    def serial(self):
        return certificate_serial(self.dir / "cert.pem")

    def status(self):
        result = self.agent.run("status", "--config", self.config, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["certificates"][0]

    def assert_valid_set(self):
        key, cert, chain, ca = (self.dir / name for name in ("key.pem", "cert.pem", "chain.pem", "ca.pem"))
        assert openssl_text("pkey", "-in", key, "-pubout") == openssl_text("x509", "-in", cert, "-noout", "-pubkey"), "key and cert must match"
        assert openssl_text("verify", "-CAfile", ca, cert).strip().endswith("OK")
        assert openssl_text("verify", "-CAfile", chain, cert).strip().endswith("OK")
        assert oct(key.stat().st_mode & 0o777) == "0o600"


def test_daemon_enrolls_renews_when_due_and_runs_the_hook(agent, short_ca):
    # renew_at 0.00002 of a one-day certificate: due 1.7 s after issue.
    gateway = Gateway(agent, short_ca, renew_at="0.00002")
    gateway.start()
    try:
        gateway.wait_for(lambda: gateway.hooks() >= 1, what="the first enrollment")
        first = gateway.serial()
        # Renewals come every 1.7 s: wait for the installed serial itself to change.
        gateway.wait_for(lambda: gateway.serial() != first and gateway.hooks() >= 2, what="a renewal")
        gateway.assert_valid_set()
        assert (agent.workdir / "cert.pem.prev").exists()
    finally:
        assert gateway.stop() == 0
    status = gateway.status()
    assert status["lastResult"].startswith("issued")
    assert status["consecutiveFailures"] == 0
    metrics = (agent.workdir / "metrics.prom").read_text()
    assert 'scep_agent_certificate_expiry_timestamp_seconds{name="wifi"}' in metrics
    assert 'scep_agent_failures_total{name="wifi"} 0' in metrics


def test_sighup_and_renew_now_renew_at_once_and_sigterm_stops(agent, short_ca):
    gateway = Gateway(agent, short_ca, renew_at="0.5")
    gateway.start()
    try:
        gateway.wait_for(lambda: gateway.hooks() >= 1, what="the first enrollment")
        time.sleep(1)
        assert gateway.hooks() == 1, "nothing is due for twelve hours"
        serial = gateway.serial()
        gateway.process.send_signal(signal.SIGHUP)
        gateway.wait_for(lambda: gateway.hooks() >= 2, what="the SIGHUP renewal")
        assert gateway.serial() != serial
        result = agent.run("renew-now", "--config", gateway.config, "--name", "wifi")
        assert result.returncode == 0 and "asked the daemon" in result.stdout, result.stderr
        gateway.wait_for(lambda: gateway.hooks() >= 3, what="the renew-now renewal")
        gateway.assert_valid_set()
        status = gateway.status()
        assert status["serial"] and status["nextRenewal"] and status["lastResult"].startswith("issued")
    finally:
        started = time.monotonic()
        assert gateway.stop() == 0
        assert time.monotonic() - started < 5
    assert not (agent.workdir / "state" / "scep-agent.pid").exists()


def test_one_daemon_renewal_asks_for_the_ca_once(agent, short_ca):
    """Each pass that enrolls or renews also checks the CA (rollover); the check reuses the discovery
    (GetCACaps, GetCACert, verified under the pin) the enrollment or renewal just made instead of asking
    again. Counted at a recording proxy in front of the real scepserver."""
    with RecordingProxy(short_ca.base_url) as proxy:
        through_proxy = types.SimpleNamespace(url=proxy.url, ca_fingerprint_sha256=short_ca.ca_fingerprint_sha256,
                                              challenge=short_ca.challenge)
        gateway = Gateway(agent, through_proxy)
        metrics = agent.workdir / "metrics.prom"
        gateway.start()
        try:
            # The metrics file is replaced (a new inode) once per pass, after its CA check.
            gateway.wait_for(metrics.exists, what="the first pass: enrollment, then the CA check")
            enrollment = [exchange.operation for exchange in proxy.exchanges]
            written = metrics.stat().st_ino
            proxy.clear()
            gateway.process.send_signal(signal.SIGHUP)
            gateway.wait_for(lambda: metrics.stat().st_ino != written, what="the SIGHUP pass: renewal, then the CA check")
            renewal = [exchange.operation for exchange in proxy.exchanges]
        finally:
            assert gateway.stop() == 0
    assert gateway.hooks() == 2
    assert sorted(enrollment) == ["GetCACaps", "GetCACert", "PKIOperation"], enrollment
    assert sorted(renewal) == ["GetCACaps", "GetCACert", "PKIOperation"], renewal
    assert gateway.status()["ca"]["lastCheck"].lower().startswith("checked: ca sha256 " + short_ca.ca_fingerprint_sha256.lower())


def test_renew_now_without_a_daemon_renews_in_process(agent, short_ca):
    gateway = Gateway(agent, short_ca)
    first = agent.run("renew-now", "--config", gateway.config)
    assert first.returncode == 0, first.stderr
    assert gateway.hooks() == 1
    gateway.assert_valid_set()
    serial = gateway.serial()
    second = agent.run("renew-now", "--config", gateway.config)
    assert second.returncode == 0, second.stderr
    assert gateway.serial() != serial


def test_failure_is_retried_with_backoff_and_reported(agent, short_ca):
    gateway = Gateway(agent, short_ca)
    (agent.workdir / "challenge").write_text("wrong-challenge\n")
    result = agent.run("renew-now", "--config", gateway.config)
    assert result.returncode == ExitCode.serverFailure
    status = gateway.status()
    assert status["lastResult"].startswith("failed") and "badRequest" in status["lastResult"]
    assert status["consecutiveFailures"] == 1 and status["installed"] is False
    assert not (agent.workdir / "key.pem").exists()


FAULT_POINTS = [
    "install.written.1", "install.written.2", "install.written.3", "install.written.4",
    "install.journal-written",
    "install.previous-linked.key.pem", "install.previous-linked.cert.pem", "install.previous-linked.chain.pem", "install.previous-linked.ca.pem",
    "install.previous.key.pem", "install.previous.cert.pem", "install.previous.chain.pem", "install.previous.ca.pem",
    "install.committed",
    "install.renamed.key.pem", "install.renamed.cert.pem", "install.renamed.chain.pem", "install.renamed.ca.pem",
    "install.synced", "daemon.installed", "daemon.hook-ran",
]


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_kill_9_during_a_renewal_leaves_a_set_the_next_run_completes(agent, short_ca, point):
    gateway = Gateway(agent, short_ca)
    assert agent.run("renew-now", "--config", gateway.config).returncode == 0
    old_serial = gateway.serial()
    killed = agent.run("renew-now", "--config", gateway.config, env={"SCEP_AGENT_FAULT": point})
    assert killed.returncode == -signal.SIGKILL, (point, killed.returncode, killed.stderr)
    journal = agent.workdir / ".cert.pem.scep-install"
    if not journal.exists():
        gateway.assert_valid_set()  # before the commit point: the old set; after the renames: the new one
    gateway.start()
    try:
        gateway.wait_for(lambda: not journal.exists(), what="the roll-forward")
        gateway.assert_valid_set()
    finally:
        assert gateway.stop() == 0
    again = agent.run("renew-now", "--config", gateway.config)
    assert again.returncode == 0, again.stderr
    gateway.assert_valid_set()
    assert gateway.serial() != old_serial
    leftovers = [p.name for p in (*agent.workdir.iterdir(), *(agent.workdir / "state").iterdir())
                 if p.name.endswith((".scep-new", ".scep-install", ".scep-pending", ".tmp"))]
    assert leftovers == []


@pytest.mark.parametrize("line,message", [
    ("renew_at = 1.5", "key 'renew_at'"),
    ("renew_at = soon", "key 'renew_at'"),
    ("jitter = -1", "key 'jitter'"),
    ("retry_min = 5 minutes", "key 'retry_min'"),
    ("colour = blue", "key 'colour': unknown"),
    ("post_renew = wpa_cli reconfigure", "absolute path"),
    ("post_renew = /usr/sbin/wpa_cli \"unbalanced", "unbalanced quotes"),
    ("key_mode = 0644", "must not be accessible to others"),
    ("key_owner = no-such-user-here", "no user"),
    ("sans = dns:ok, ip:999.1.1.1", "key 'sans'"),
])
def test_check_config_names_file_line_and_key(agent, short_ca, line, message):
    gateway = Gateway(agent, short_ca, extra=line)
    result = agent.run("check-config", "--config", gateway.config)
    assert result.returncode == ExitCode.config, result.stderr
    assert f"{gateway.config}:" in result.stderr and message in result.stderr, result.stderr
    line_number = next(i for i, text in enumerate(gateway.config.read_text().splitlines(), 1) if text == line)
    assert f":{line_number}:" in result.stderr


def test_check_config_accepts_the_documented_example(agent, short_ca):
    gateway = Gateway(agent, short_ca)
    result = agent.run("check-config", "--config", gateway.config)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_systemd_readiness_status_and_stopping_reach_notify_socket(agent, short_ca, tmp_path):
    import socket
    path = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.settimeout(20)
    gateway = Gateway(agent, short_ca)
    gateway.start(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
    messages = []
    try:
        while not any(m.startswith("STATUS=wifi: issued") for m in messages):
            messages.append(listener.recv(4096).decode())
        assert "READY=1" in messages
        # With WatchdogSec=2s the daemon pings every second even though nothing is due.
        watchdogs = 0
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline:
            try:
                if listener.recv(4096).decode() == "WATCHDOG=1":
                    watchdogs += 1
            except socket.timeout:
                break
        assert watchdogs >= 2
        # `systemctl reload` (SIGHUP): RELOADING=1, the renewal, then READY=1 ends the reload; without it
        # systemd would wait out TimeoutStartSec and log the reload as failed.
        gateway.process.send_signal(signal.SIGHUP)
        after_hup = []
        deadline = time.monotonic() + 20
        while "READY=1" not in after_hup and time.monotonic() < deadline:
            after_hup.append(listener.recv(4096).decode())
        assert "READY=1" in after_hup, after_hup
        assert after_hup.index("RELOADING=1") < after_hup.index("READY=1"), after_hup
        assert any(m.startswith("STATUS=wifi: issued") for m in after_hup[after_hup.index("RELOADING=1"):]), after_hup
    finally:
        assert gateway.stop() == 0
        listener.settimeout(1)
        tail = []
        try:
            while True:
                tail.append(listener.recv(4096).decode())
        except socket.timeout:
            pass
        listener.close()
        assert "STOPPING=1" in tail


def test_unit_file_is_accepted_by_systemd_analyze(tmp_path):
    import shutil
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    unit = pathlib.Path(__file__).resolve().parents[2] / "dist" / "systemd" / "scep-agent.service"
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True)
    problems = [line for line in result.stderr.splitlines() if "scep-agent.service" in line and "Command /usr/sbin/scep-agent" not in line]
    assert problems == [], result.stderr


def make_next_ca(directory, ca, signer_key=None, signer_cert=None, next_ext=("basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"),
                 sign_options=(), next_pem=None):
    """A successor CA certificate and a GetNextCACert reply as RFC 8894 §4.7.1 has it: the CA (or signer_cert)
    signs, with signed attributes, a content that is a certs-only SignedData holding the successor (made here, or next_pem).
    next_ext: the successor's extensions; sign_options: extra `openssl cms -sign` options (-noattr, -econtent_type)."""
    directory.mkdir(exist_ok=True)
    if next_pem is None:
        next_pem = directory / "next.pem"
        extensions = [arg for ext in next_ext for arg in ("-addext", ext)]
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", directory / "next.key", "-out", next_pem,
                "-subj", "/O=scep-agent test CA/CN=Next CA", "-days", "3650", *extensions)
    openssl("crl2pkcs7", "-nocrl", "-certfile", next_pem, "-outform", "DER", "-out", directory / "inner.der")
    openssl("cms", "-sign", "-binary", "-nodetach", "-outform", "DER", "-in", directory / "inner.der", "-md", "sha256",
            "-signer", signer_cert or ca.ca_cert_pem_path, "-inkey", signer_key or ca.ca_key_path, "-passin", "pass:",
            *sign_options, "-out", directory / "nextca.p7")
    fingerprint = certificate_fingerprint_sha256(next_pem)
    return (directory / "nextca.p7").read_bytes(), fingerprint


def with_get_next_ca_cert(body):
    return body.rstrip(b"\n") + b"\nGetNextCACert\n"
