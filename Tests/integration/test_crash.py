"""kill -9 (SCEP_AGENT_FAULT=POINT: SIGKILL at a named point) of the one-shot enroll and renew, of a renewal
by the running daemon (`scep-agent run`), and of a renewal with the key in SoftHSM2, against a real
scepserver on 127.0.0.1. After each kill the set on disk is the complete old set or the complete new one
(a journal, if present, names the new files still to be renamed: those count as the new set), never a key
without its certificate; the next run recovers, leaves no temporaries, and a later renewal succeeds.
test_daemon.py covers every point of the install itself (through the in-process renew-now)."""
import os
import pathlib
import shutil
import signal
import stat
import subprocess
import time

import pytest

from conftest import read_install_journal
from helpers import certificate_public_key_der, certificate_serial, openssl, openssl_text
from hostile_ca import HostileCA
from test_daemon import FAULT_POINTS as INSTALL_POINTS, Gateway, short_ca  # noqa: F401 (fixture)
from tokens import KINDS, SOFTHSM_MODULE, TPM2_MODULE, SoftHSM

LEFTOVERS = (".scep-new", ".scep-install", ".scep-pending", ".tmp")


def public_key(path, certificate=True):
    """The public key of a certificate or private key file, as PEM (OpenSSL reads it)."""
    return openssl_text("x509", "-in", path, "-noout", "-pubkey") if certificate else openssl_text("pkey", "-in", path, "-pubout")


def effective_files(directory, names=("key.pem", "cert.pem", "chain.pem", "ca.pem")):
    """{name: path} of the set as the next run will see it: when the install journal exists (a kill after
    the commit point), each target the journal names is its temporary while that still exists."""
    files = {name: directory / name for name in names if (directory / name).exists()}
    journal = directory / ".cert.pem.scep-install"
    if journal.exists():
        for temporary, target in read_install_journal(journal):
            if os.path.exists(temporary):
                files[pathlib.Path(target).name] = pathlib.Path(temporary)
    return files


def assert_whole_set(directory, ca, old_serial=None, token_keys=None):
    """The set after a kill: nothing at all (an enroll killed before its commit point), or a certificate
    that chains to the CA with its key (the key file, or one of `token_keys` {label: DER}). Returns the
    certificate's serial, or None."""
    files = effective_files(directory)
    if "cert.pem" not in files:
        assert "key.pem" not in files, "a key without its certificate"
        return None
    cert = files["cert.pem"]
    assert openssl_text("verify", "-CAfile", ca.ca_cert_pem_path, cert).strip().endswith("OK")
    if "chain.pem" in files:
        assert openssl_text("verify", "-CAfile", files["chain.pem"], cert).strip().endswith("OK")
    if token_keys is None:
        assert "key.pem" in files, "a certificate without its key"
        assert public_key(files["key.pem"], certificate=False) == public_key(cert), "key and certificate must match"
        assert stat.S_IMODE(files["key.pem"].stat().st_mode) == 0o600
    else:
        assert certificate_public_key_der(cert) in token_keys.values(), ("the certificate belongs to no key on the token", list(token_keys))
    return certificate_serial(cert)


def assert_no_leftovers(*directories):
    for directory in directories:
        if directory.exists():
            left = [p.name for p in directory.iterdir() if p.name.endswith(LEFTOVERS)]
            assert left == [], (directory, left)


# One-shot commands, key in a file.

def write_challenge(agent, ca):
    path = agent.path("challenge")
    path.write_text(ca.challenge + "\n")
    return path


def one_shot_args(command, agent, ca, extra=()):
    common = ["--url", ca.url, "--ca-fingerprint", ca.ca_fingerprint_sha256, "--challenge-file", write_challenge(agent, ca),
              "--cert", agent.path("cert.pem"), "--chain", agent.path("chain.pem"), *extra]
    if command == "enroll":
        return ["enroll", "--subject", "CN=gw-crash,O=Example", *common]
    return ["renew", *common]


def run_ok(agent, command, ca, key=None, env=None, extra=()):
    key_args = ["--key", key or agent.path("key.pem")]
    result = agent.run(*one_shot_args(command, agent, ca, extra=[*key_args, *extra]), env=env)
    assert result.returncode == 0, (command, result.returncode, result.stderr)
    return result


ONE_SHOT_POINTS = [
    ("enroll", "oneshot.key-generated"), ("enroll", "scep.reply-received"), ("enroll", "oneshot.issued"),
    ("enroll", "install.committed"), ("enroll", "oneshot.installed"),
    ("renew", "oneshot.key-generated"), ("renew", "scep.reply-received"), ("renew", "oneshot.issued"),
    ("renew", "install.journal-written"), ("renew", "install.renamed.key.pem"), ("renew", "oneshot.installed"),
]


@pytest.mark.parametrize("command,point", ONE_SHOT_POINTS)
def test_kill_9_in_a_one_shot_command(agent, ca, command, point):
    old_serial = None
    if command == "renew":
        run_ok(agent, "enroll", ca)
        old_serial = certificate_serial(agent.path("cert.pem"))
    killed = agent.run(*one_shot_args(command, agent, ca, extra=["--key", agent.path("key.pem")]), env={"SCEP_AGENT_FAULT": point})
    assert killed.returncode == -signal.SIGKILL, (point, killed.returncode, killed.stderr)
    serial = assert_whole_set(agent.workdir, ca)
    if command == "renew":
        assert serial is not None
    # The next run: renew what is there (rolling a committed install forward first), else enroll again.
    run_ok(agent, "renew" if serial else "enroll", ca)
    run_ok(agent, "renew", ca)
    assert assert_whole_set(agent.workdir, ca) not in (None, old_serial, serial)
    assert_no_leftovers(agent.workdir)


def test_kill_9_after_installing_a_resumed_pending_key(agent, ca):
    """A PENDING request left its key in .key.pem.scep-pending (placed here as that run would: scepserver
    never answers PENDING). The enroll that resumes it is killed after the install, before it removes the
    pending file: that key is the installed one now, and the next renew must make a new key, not resume it."""
    pending = agent.path(".key.pem.scep-pending")
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", pending)
    pending.chmod(0o600)
    killed = agent.run(*one_shot_args("enroll", agent, ca, extra=["--key", agent.path("key.pem")]), env={"SCEP_AGENT_FAULT": "oneshot.installed"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "resuming the pending request" in killed.stderr
    assert_whole_set(agent.workdir, ca)
    assert public_key(agent.path("key.pem"), certificate=False) == public_key(pending, certificate=False)
    assert pending.exists()
    result = run_ok(agent, "renew", ca)
    assert "resuming" not in result.stderr, result.stderr
    assert not pending.exists()
    assert public_key(agent.path("cert.pem")) != public_key(agent.path("key.pem.prev"), certificate=False), "renewal made a new key"
    assert_whole_set(agent.workdir, ca)
    assert_no_leftovers(agent.workdir)


# A PENDING request's key saved for the rerun, against the hostile CA (scepserver never answers PENDING).
# It is written to .KEY.scep-pending.tmp, fsynced, and renamed: `pending-written` is between the two,
# `pending-renamed` after the rename.

PENDING_POINTS = ["oneshot.pending-written", "oneshot.pending-renamed"]


@pytest.fixture
def hostile(tmp_path):
    with HostileCA(tmp_path / "hostile") as server:
        yield server


@pytest.mark.parametrize("point", PENDING_POINTS)
def test_kill_9_while_saving_a_pending_key(agent, hostile, point):
    hostile.misbehave("pending")
    args = one_shot_args("enroll", agent, hostile, extra=["--key", agent.path("key.pem"), "--poll-interval", "1", "--max-poll-time", "0"])
    killed = agent.run(*args, env={"SCEP_AGENT_FAULT": point})
    assert killed.returncode == -signal.SIGKILL, (point, killed.returncode, killed.stderr)
    pending, temporary = agent.path(".key.pem.scep-pending"), agent.path(".key.pem.scep-pending.tmp")
    assert assert_whole_set(agent.workdir, hostile) is None, "nothing is installed while the request is PENDING"
    saved = pending.exists()
    assert saved == (point == "oneshot.pending-renamed") and temporary.exists() == (not saved)
    kept = pending if saved else temporary
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    pending_public = public_key(kept, certificate=False)  # whole: written and fsynced before the point

    hostile.misbehave("good")
    result = agent.run(*args)
    assert result.returncode == 0, result.stderr
    assert ("resuming the pending request" in result.stderr) == saved, result.stderr
    assert_whole_set(agent.workdir, hostile)
    if saved:
        assert public_key(agent.path("key.pem"), certificate=False) == pending_public, "the rerun enrolls the pending key"
        assert len({entry["transactionID"] for entry in hostile.operations("PKIOperation")}) == 1, "and resumes its transaction"
    else:
        assert "pending key" in result.stderr and str(temporary) in result.stderr, result.stderr
    assert not pending.exists() and not temporary.exists()
    assert_no_leftovers(agent.workdir)


def test_kill_9_between_linking_and_renaming_prev_keeps_the_old_prev(agent, ca):
    """.prev is linked under a temporary name and renamed over the old one: a kill (or a failed link) in
    between leaves the old .prev, the rollback set, in place."""
    run_ok(agent, "enroll", ca)
    first = agent.path("cert.pem").read_text()
    run_ok(agent, "renew", ca)
    assert agent.path("cert.pem.prev").read_text() == first
    second = agent.path("cert.pem").read_text()
    killed = agent.run(*one_shot_args("renew", agent, ca, extra=["--key", agent.path("key.pem")]),
                       env={"SCEP_AGENT_FAULT": "install.previous-linked.cert.pem"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert agent.path("cert.pem.prev").read_text() == first, "the old .prev is still there"
    assert agent.path(".cert.pem.prev.scep-new").read_text() == second
    assert agent.path("cert.pem").read_text() == second
    run_ok(agent, "renew", ca)
    assert agent.path("cert.pem.prev").read_text() == second
    assert_whole_set(agent.workdir, ca)
    assert_no_leftovers(agent.workdir)


# The daemon (`scep-agent run`) killed during a renewal it runs itself.

DAEMON_POINTS = [
    "scep.reply-received", "install.written.2", "install.committed", "install.renamed.cert.pem",
    "daemon.installed", "daemon.hook-ran", "daemon.state-written", "daemon.state-renamed",
    # The daemon writes metrics once at start-up, before the renewal: kill on the second pass.
    "daemon.metrics-written@2", "daemon.metrics-renamed@2",
]


@pytest.mark.parametrize("point", DAEMON_POINTS)
def test_kill_9_during_a_renewal_by_the_daemon(agent, short_ca, point):  # noqa: F811
    gateway = Gateway(agent, short_ca)
    state_dir = agent.workdir / "state"
    pid_file = state_dir / "scep-agent.pid"
    assert agent.run("renew-now", "--config", gateway.config).returncode == 0
    old_serial = gateway.serial()
    gateway.start(env={"SCEP_AGENT_FAULT": point})
    gateway.wait_for(pid_file.exists, what="the daemon's start")
    asked = agent.run("renew-now", "--config", gateway.config)
    assert asked.returncode == 0 and "asked the daemon" in asked.stdout, asked.stderr
    try:
        code = gateway.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        gateway.process.kill()
        raise
    assert code == -signal.SIGKILL, (point, code, gateway.process.stderr.read())
    gateway.process.stderr.close()
    gateway.process.stdout.close()
    assert assert_whole_set(agent.workdir, short_ca) is not None

    # Restart: it rolls a committed install forward, drops a killed state write, and renews on request.
    hooks = gateway.hooks()
    gateway.start()
    try:
        gateway.wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() == str(gateway.process.pid), what="the restart")
        gateway.wait_for(lambda: not (agent.workdir / ".cert.pem.scep-install").exists(), what="the roll-forward")
        gateway.assert_valid_set()
        killed_serial = gateway.serial()
        asked = agent.run("renew-now", "--config", gateway.config)
        assert asked.returncode == 0 and "asked the daemon" in asked.stdout, asked.stderr
        gateway.wait_for(lambda: gateway.hooks() > hooks, what="the renewal after the restart")
        gateway.wait_for(lambda: gateway.status().get("lastResult", "").startswith("issued"), what="the state")
    finally:
        assert gateway.stop() == 0
    gateway.assert_valid_set()
    assert gateway.serial() not in (old_serial, killed_serial)
    assert_no_leftovers(agent.workdir, state_dir)


# A renewal with the key in SoftHSM2: the new pair is made as <object>.scep-new and takes the URI's
# name only after its certificate is installed.

TOKEN_POINTS = [
    ("enroll", "token.key-generated"), ("enroll", "oneshot.installed"),
    ("renew", "token.key-generated"), ("renew", "scep.reply-received"), ("renew", "install.committed"),
    ("renew", "oneshot.installed"), ("renew", "token.old-destroyed"), ("renew", "token.relabeled"),
]


# The same with the key in a TPM 2.0 (swtpm + tpm2-abrmd + tpm2-pkcs11): after the commit point and after
# the relabel, where the TPM's store (tpm2-pkcs11's sqlite) and the files must agree.
TPM_TOKEN_POINTS = [("renew", "install.committed"), ("renew", "token.relabeled")]
TOKEN_CASES = [("softhsm", *case) for case in TOKEN_POINTS] + [("tpm", *case) for case in TPM_TOKEN_POINTS]


@pytest.fixture
def crash_token(request, tmp_path):
    kind = request.param
    if kind == "softhsm" and (shutil.which("softhsm2-util") is None or not pathlib.Path(SOFTHSM_MODULE).exists()):
        pytest.skip("SoftHSM2 is not installed (Debian package softhsm2)")
    if kind == "tpm" and (shutil.which("swtpm") is None or shutil.which("tpm2-abrmd") is None or not pathlib.Path(TPM2_MODULE).exists()):
        pytest.skip("swtpm, tpm2-abrmd or tpm2-pkcs11 is not installed")
    made = KINDS[kind](tmp_path / ("token-" + kind))
    yield made
    made.close()


@pytest.fixture
def softhsm(tmp_path):
    if shutil.which("softhsm2-util") is None or not pathlib.Path(SOFTHSM_MODULE).exists():
        pytest.skip("SoftHSM2 is not installed (Debian package softhsm2)")
    made = SoftHSM(tmp_path / "token-softhsm")
    yield made
    made.close()


def token_public_keys(token):
    """{label: DER SubjectPublicKeyInfo} of every public key on the token."""
    return {entry["label"]: token.public_key_der(entry["label"]) for entry in token.objects() if entry["kind"] == "Public Key"}


@pytest.mark.parametrize("crash_token,command,point", TOKEN_CASES, indirect=["crash_token"])
def test_kill_9_during_a_token_key_renewal(agent, ca, crash_token, command, point):
    run = lambda command, env=None: agent.run(*one_shot_args(command, agent, ca, extra=["--key", crash_token.uri(), *crash_token.agent_args()]),  # noqa: E731
                                              env={**crash_token.env, **(env or {})})
    old_serial = None
    if command == "renew":
        assert run("enroll").returncode == 0
        old_serial = certificate_serial(agent.path("cert.pem"))
    killed = run(command, env={"SCEP_AGENT_FAULT": point})
    assert killed.returncode == -signal.SIGKILL, (point, killed.returncode, killed.stderr)
    keys = token_public_keys(crash_token)
    assert set(keys) <= {"device-key", "device-key.scep-new"}, keys
    serial = assert_whole_set(agent.workdir, ca, token_keys=keys)
    if command == "renew":
        assert serial is not None

    for step in ("renew" if serial else "enroll", "renew"):
        result = run(step)
        assert result.returncode == 0, (step, result.stderr)
        assert certificate_public_key_der(agent.path("cert.pem")) == crash_token.public_key_der("device-key"), "the URI names the certified key"
    keys = token_public_keys(crash_token)
    assert list(keys) == ["device-key"], keys
    assert [key["label"] for key in crash_token.private_keys()] == ["device-key"]
    assert assert_whole_set(agent.workdir, ca, token_keys=keys) not in (None, old_serial, serial)
    assert_no_leftovers(agent.workdir)


def test_fault_list_prints_points_the_crash_tests_cover(agent, ca, softhsm):
    """`SCEP_AGENT_FAULT=list` prints each point as it passes; every one a run passes is killed somewhere."""
    covered = {point.split("@")[0] for point in
               INSTALL_POINTS + DAEMON_POINTS + PENDING_POINTS + [p for _, p in ONE_SHOT_POINTS + TOKEN_POINTS + TPM_TOKEN_POINTS]}
    covered.add("install.previous-linked.cert.pem")
    seen = []
    listing = {"SCEP_AGENT_FAULT": "list"}
    for command, key, env in (("enroll", agent.path("key.pem"), {}), ("renew", agent.path("key.pem"), {}),
                              ("enroll", softhsm.uri(), softhsm.env), ("renew", softhsm.uri(), softhsm.env)):
        args = one_shot_args(command, agent, ca, extra=["--key", key, *(softhsm.agent_args() if env else [])])
        if env:  # the token's set in a directory of its own, under the same names
            (agent.workdir / "token").mkdir(exist_ok=True)
            for option in ("--cert", "--chain"):
                args[args.index(option) + 1] = agent.workdir / "token" / pathlib.Path(args[args.index(option) + 1]).name
        result = agent.run(*args, env={**env, **listing})
        assert result.returncode == 0, result.stderr
        seen += [line.split("fault point: ", 1)[1] for line in result.stderr.splitlines() if line.startswith("fault point: ")]
    assert {"oneshot.key-generated", "scep.reply-received", "install.committed", "token.old-destroyed", "token.relabeled"} <= set(seen)
    assert set(seen) <= covered, sorted(set(seen) - covered)
