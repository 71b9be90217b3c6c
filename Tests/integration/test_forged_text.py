"""What a server, a token URI or a hook can make the agent print, log, store or pass on (issue 12).

- Server text (an HTTP error body, a CertRep failInfoText) that forges log lines, a journal priority,
  an sd_notify assignment and terminal escapes (hostile_ca.FORGED_TEXT) reaches the terminal, `--json`,
  the journal (stderr with priority prefixes), syslog (/dev/log, captured in a private mount namespace),
  sd_notify, the state file and `status` only as printable ASCII, one record per line.
- post_renew hooks start with an empty signal mask, no ignored signals, in their own process group (the
  timeout kills grandchildren too) and with PATH plus SCEP_AGENT_* only.
- A `pin-value=` PIN and the challenge appear in no output, state file or error message.
- Core dumps are off (RLIMIT_CORE 0, not dumpable) in the daemon.
Everything runs on 127.0.0.1 and in namespaces the tests make."""
import json
import os
import pathlib
import re
import resource
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from helpers import ExitCode, wait_for
from hostile_ca import HostileCA
from test_daemon import Gateway
from tokens import SoftHSM

# Injected lines, priorities and assignments as they would appear if the text got through unescaped.
INJECTED = ("<0>FORGED", "WATCHDOG=trigger")
PRINTABLE_LINE = re.compile(rb"[\x20-\x7e]*")


def assert_printable_lines(data, where, line_pattern=None):
    """Every byte printable ASCII or a line end; every line matches `line_pattern` (a compiled bytes regex)."""
    bad = sorted({b for b in data if not (0x20 <= b <= 0x7E or b == 0x0A)})
    assert not bad, f"{where}: control or non-ASCII bytes {[hex(b) for b in bad]} in {data!r}"
    for line in data.split(b"\n"):
        if line == b"":
            continue
        for injected in INJECTED:
            assert not line.startswith(injected.encode()), f"{where}: injected line {line!r}"
        if line_pattern is not None:
            assert line_pattern.fullmatch(line), f"{where}: line {line!r} is not one record"


@pytest.fixture
def hostile(tmp_path):
    caps = ("Renewal", "SHA-256", "AES", "SCEPStandard", "POSTPKIOperation", "x", "<0>FORGED", "WATCHDOG=trigger")
    with HostileCA(tmp_path / "ca", caps=caps) as ca:
        yield ca


MODES = [("forged-text", ExitCode.transport), ("forged-failinfo-text", ExitCode.serverFailure)]


@pytest.mark.parametrize("mode,exit_code", MODES)
def test_forged_server_text_reaches_the_terminal_escaped(agent, hostile, mode, exit_code):
    hostile.misbehave(mode)
    (agent.workdir / "challenge").write_text(hostile.challenge + "\n")
    common = ["enroll", "--url", hostile.url, "--ca-fingerprint", hostile.ca_fingerprint_sha256, "--subject", "CN=gw-forged",
              "--challenge-file", agent.path("challenge"), "--key", agent.path("key.pem"), "--cert", agent.path("cert.pem"), "--verbose"]
    result = subprocess.run([str(agent.binary), *map(str, common)], capture_output=True, cwd=agent.workdir, timeout=60)
    assert result.returncode == exit_code, result.stderr
    assert_printable_lines(result.stderr, "stderr", re.compile(rb"scep-agent: (debug|info|notice|warning|error): [\x20-\x7e]*"))
    assert b"\\n<0>FORGED\\nWATCHDOG=trigger" in result.stderr, "the text is shown, escaped"

    result = subprocess.run([str(agent.binary), *map(str, common), "--json"], capture_output=True, cwd=agent.workdir, timeout=60)
    assert result.returncode == exit_code
    assert_printable_lines(result.stdout, "--json stdout")
    assert len(result.stdout.splitlines()) == 1
    message = json.loads(result.stdout)["message"]
    assert_printable_lines(message.encode(), "--json message")
    assert "FORGED" in message


def collect(listener, until, timeout=30):
    """Datagrams from `listener` until one satisfies `until` (or the timeout)."""
    messages = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listener.settimeout(max(deadline - time.monotonic(), 0.1))
        try:
            messages.append(listener.recv(65536))
        except socket.timeout:
            break
        if until(messages[-1]):
            break
    return messages


def unix_listener(path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    return listener


@pytest.mark.parametrize("mode,exit_code", MODES)
def test_forged_server_text_reaches_journal_sd_notify_state_and_status_escaped(agent, hostile, mode, exit_code, tmp_path):
    hostile.misbehave(mode)
    listener = unix_listener(tmp_path / "notify.sock")
    gateway = Gateway(agent, hostile)
    # JOURNAL_STREAM: stderr lines carry <N> priority prefixes, as under systemd.
    gateway.start(env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "JOURNAL_STREAM": "8:12345"})
    try:
        datagrams = collect(listener, lambda m: m.startswith(b"STATUS=") and b"FORGED" in m)
    finally:
        stopped = gateway.stop()
        listener.close()
    stderr = gateway.process.stderr.buffer.read()
    assert stopped == 0, stderr
    assert any(b"FORGED" in d for d in datagrams), datagrams
    for datagram in datagrams:
        assert b"\n" not in datagram and b"\r" not in datagram, f"sd_notify datagram with a line break: {datagram!r}"
        assert_printable_lines(datagram, "sd_notify")
    assert_printable_lines(stderr, "journal stream", re.compile(rb"<[3-7]>[\x20-\x7e]*"))
    assert b"FORGED" in stderr

    state = (agent.workdir / "state" / "wifi.state").read_bytes()
    assert_printable_lines(state, "state file", re.compile(rb"[a-z_]+=[\x20-\x7e]*"))
    assert b"FORGED" in state
    status = agent.run("status", "--config", gateway.config)
    assert_printable_lines(status.stdout.encode(), "status")
    status_json = subprocess.run([str(agent.binary), "status", "--config", str(gateway.config), "--json"], capture_output=True)
    assert_printable_lines(status_json.stdout, "status --json")
    last = json.loads(status_json.stdout)["certificates"][0]["lastResult"]
    assert "FORGED" in last
    assert_printable_lines(last.encode(), "status --json lastResult")


# In a private mount namespace: /dev becomes a tmpfs with the few device nodes a process needs bound
# from the real /dev, and /dev/log a symlink to the test's socket. Nothing outside the namespace changes.
PRIVATE_DEV_LOG = r"""
set -e
mkdir -p "$WORK/realdev"
mount --rbind /dev "$WORK/realdev"
mount -t tmpfs -o mode=0755 scep-test-dev /dev
for node in null zero full random urandom; do touch /dev/$node; mount --bind "$WORK/realdev/$node" /dev/$node; done
ln -s "$SYSLOG_SOCKET" /dev/log
exec "$@"
"""


def test_forged_server_text_reaches_syslog_escaped(agent, hostile, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("a private mount namespace for /dev/log needs root")
    hostile.misbehave("forged-text")
    listener = unix_listener(tmp_path / "syslog.sock")
    gateway = Gateway(agent, hostile)
    gateway.config.write_text(gateway.config.read_text().replace("[agent]\n", "[agent]\nlog = syslog\n"))
    env = dict(os.environ, WORK=str(tmp_path), SYSLOG_SOCKET=str(tmp_path / "syslog.sock"))
    process = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", PRIVATE_DEV_LOG, "sh",
                                str(agent.binary), "run", "--config", str(gateway.config), "--verbose"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        records = collect(listener, lambda m: b"FORGED" in m)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
        listener.close()
    assert process.returncode == 0, stderr
    assert any(b"FORGED" in r for r in records), (records, stderr)
    # glibc syslog(3): "<PRI>Mmm dd hh:mm:ss scep-agent[PID]: message", PRI = LOG_DAEMON (24) + level 3..7.
    record_format = re.compile(rb"<(2[7-9]|3[01])>[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d scep-agent\[\d+\]: [\x20-\x7e]*")
    for record in records:
        assert record_format.fullmatch(record), f"syslog record {record!r}"


# Builtins only for the status: while the shell waits for a child it blocks every signal itself.
HOOK = r"""#!/bin/sh
out="$1"
while IFS= read -r line; do
    case "$line" in SigBlk:*|SigIgn:*) echo "$line";; esac
done < /proc/$$/status > "$out/hook.status"
cat /proc/$$/environ > "$out/hook.environ"
sleep 300 &
echo $! > "$out/grandchild.pid"
wait
"""


def process_alive(pid):
    try:
        text = pathlib.Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in text


def test_hook_runs_with_default_signals_own_group_and_minimal_environment(agent, hostile):
    (agent.workdir / "hook.sh").write_text(HOOK)
    gateway = Gateway(agent, hostile, extra=f"post_renew = /bin/sh {agent.workdir / 'hook.sh'} {agent.workdir}")
    gateway.config.write_text(gateway.config.read_text() + "post_renew_timeout = 1s\n")
    # What a daemon under systemd has and a hook must not get.
    gateway.start(env={"NOTIFY_SOCKET": str(agent.workdir / "no.sock"), "WATCHDOG_USEC": "60000000",
                       "https_proxy": "http://127.0.0.1:9", "SECRET_TOKEN": "leak-me"})
    grandchild = None
    try:
        gateway.wait_for(lambda: (agent.workdir / "grandchild.pid").exists() and (agent.workdir / "grandchild.pid").read_text().strip(),
                         what="the hook's grandchild")
        grandchild = int((agent.workdir / "grandchild.pid").read_text())
        wait_for(lambda: not process_alive(grandchild), 15, "the hook's timeout to end its whole process group")
    finally:
        if grandchild and process_alive(grandchild):
            os.kill(grandchild, signal.SIGKILL)
        assert gateway.stop() == 0
    status = dict(line.split(":\t") for line in (agent.workdir / "hook.status").read_text().splitlines())
    assert status == {"SigBlk": "0000000000000000", "SigIgn": "0000000000000000"}, status
    environ = dict(entry.split("=", 1) for entry in (agent.workdir / "hook.environ").read_text().split("\0") if entry)
    assert environ == {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "SCEP_AGENT_NAME": "wifi",
        "SCEP_AGENT_EVENT": "enrolled",
        "SCEP_AGENT_KEY": str(agent.workdir / "key.pem"),
        "SCEP_AGENT_CERT": str(agent.workdir / "cert.pem"),
        "SCEP_AGENT_CHAIN": str(agent.workdir / "chain.pem"),
        "SCEP_AGENT_CA": str(agent.workdir / "ca.pem"),
    }


PIN = "Zq8PINsecret42"


def test_pin_value_and_challenge_appear_in_no_output(agent, ca, tmp_path):
    token = SoftHSM(tmp_path / "token")
    full_env = dict(os.environ, **token.env)
    subprocess.run(["pkcs11-tool", "--module", token.module, "--token-label", "gw", "--login", "--pin", "1234",
                    "--change-pin", "--new-pin", PIN], check=True, capture_output=True, env=full_env)
    uri = f"{token.uri()}?module-path={token.module}&pin-value={PIN}"
    gateway = Gateway(agent, ca, extra=f"key = {uri}")
    outputs = {}

    def run(name, *args):
        result = subprocess.run([str(agent.binary), *map(str, args)], capture_output=True, env=full_env, cwd=agent.workdir, timeout=120)
        outputs[name] = result.stdout + result.stderr
        return result

    assert run("check-config", "check-config", "--config", gateway.config).returncode == 0
    assert run("renew-now", "renew-now", "--config", gateway.config, "--verbose").returncode == 0, outputs["renew-now"]
    run("status", "status", "--config", gateway.config)
    status = run("status --json", "status", "--config", gateway.config, "--json")
    assert json.loads(status.stdout)["certificates"][0]["key"] == token.uri() + "?module-path=" + token.module
    run("wpa-config", "wpa-config", "--config", gateway.config, "--name", "wifi")
    gateway.start(env=token.env)
    time.sleep(1)
    assert gateway.stop() == 0
    outputs["run"] = gateway.process.stderr.buffer.read()
    one_shot = ["enroll", "--url", ca.url, "--ca-fingerprint", ca.ca_fingerprint_sha256, "--subject", "CN=gw-pin",
                "--challenge-file", agent.path("challenge"), "--cert", agent.path("one.pem"), "--verbose"]
    other = f"pkcs11:token=gw;object=other-key;type=private?module-path={token.module}&pin-value={PIN}"
    assert run("enroll", *one_shot, "--key", other).returncode == 0, outputs["enroll"]
    run("enroll --json", *one_shot, "--key", other, "--existing-key", "--json")
    # Failures that name the key: no such token, a wrong module, a malformed URI, a stray argument.
    for name, key in [("no token", f"pkcs11:token=nosuch;object=k?module-path={token.module}&pin-value={PIN}"),
                      ("no module", f"pkcs11:token=gw;object=k?module-path=/nonexistent.so&pin-value={PIN}"),
                      ("malformed", f"pkcs11:token=gw;objekt=k?pin-value={PIN}")]:
        assert run(name, *one_shot, "--key", key, "--json").returncode != 0
    assert run("stray argument", "getcaps", "--url", ca.url, other).returncode == ExitCode.usage
    for path in (agent.workdir / "state").iterdir():
        outputs[path.name] = path.read_bytes()
    for name, output in outputs.items():
        assert PIN.encode() not in output and b"pin-value" not in output, f"{name}: {output!r}"
        assert ca.challenge.encode() not in output, f"{name}: {output!r}"


def test_daemon_runs_with_core_dumps_off(agent_binary, tmp_path):
    """As nobody (root may read any /proc entry): a non-dumpable process's /proc files belong to root."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run the daemon as another user")
    work = pathlib.Path(tempfile.mkdtemp(prefix="scep-core-"))
    try:
        work.chmod(0o755)
        os.chown(work, 65534, 65534)
        config = work / "agent.conf"
        config.write_text(f"""[agent]
state_dir = {work}/state

[cert wifi]
url = http://127.0.0.1:9/scep
ca_fingerprint = {"00" * 32}
subject = CN=gw-core
key = {work}/key.pem
cert = {work}/cert.pem
retry_min = 60s
""")

        def as_nobody_with_cores_allowed():
            resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)

        process = subprocess.Popen([str(agent_binary), "run", "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   preexec_fn=as_nobody_with_cores_allowed)
        try:
            wait_for(lambda: (work / "state" / "scep-agent.pid").exists(), 10, "the daemon's pid file", process=process, interval=0.05)
            assert process.poll() is None, process.stderr.read()
            limits = pathlib.Path(f"/proc/{process.pid}/limits").read_text()
            core = next(line for line in limits.splitlines() if line.startswith("Max core file size"))
            assert core.split()[4:6] == ["0", "0"], core
            assert "Uid:\t65534" in pathlib.Path(f"/proc/{process.pid}/status").read_text()
            assert os.stat(f"/proc/{process.pid}/status").st_uid == 0, "PR_SET_DUMPABLE 0 makes /proc/PID root's"
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=10)
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=True)
