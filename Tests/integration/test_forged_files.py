"""Files and processes someone else planted (issue 12): an install journal, lock or state directory
that is not the agent's own, a journal naming renames outside its set, a stale pid file, a state file
whose times overflow. The agent refuses them with exit 8 and the path named, and touches nothing; the
attacker's files are made by the test, as user nobody where it matters, from nothing secret."""
import os
import pathlib
import pwd
import signal
import subprocess
import time
import types

import pytest

from conftest import files_snapshot, install_journal
from helpers import ExitCode, openssl_text
from test_daemon import Gateway, short_ca  # noqa: F401 (fixture)

NOBODY = pwd.getpwnam("nobody")
# Nothing listens on the discard port: a run that gets as far as the network fails there, fast.
UNREACHABLE_CA = types.SimpleNamespace(url="http://127.0.0.1:9/scep", ca_fingerprint_sha256="00" * 32, challenge="not-a-secret")


def shared_directory(tmp_path):
    """A sticky, world-writable directory, like /tmp (the tmp_path above it is root's, 0700)."""
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(0o1777)
    return directory


def as_nobody(directory, plant):
    """Runs plant() in a child that entered `directory` as root and then became nobody: what a local
    user who can write to a shared directory can do there, and nothing more."""
    pid = os.fork()
    if pid == 0:
        try:
            os.chdir(directory)
            os.setgroups([])
            os.setgid(NOBODY.pw_gid)
            os.setuid(NOBODY.pw_uid)
            plant()
            os._exit(0)
        except BaseException as error:  # noqa: BLE001 (report anything, never return into pytest)
            os.write(2, f"plant as nobody failed: {error!r}\n".encode())
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the test could not plant its files as nobody"


def csr(agent, directory):
    return agent.run("csr", "--subject", "CN=gw-forged,O=Example", "--key-type", "ec:p256",
                     "--key", directory / "key.pem", "--out", directory / "req.pem")


def assert_refused(result, path):
    assert result.returncode == ExitCode.file, (result.returncode, result.stdout, result.stderr)
    assert "refusing" in result.stderr and str(path) in result.stderr, result.stderr


def test_a_journal_planted_by_another_user_is_refused_and_nothing_is_renamed(agent, tmp_path):
    shared = shared_directory(tmp_path)
    journal = shared / ".req.pem.scep-install"

    def plant():
        pathlib.Path("marker").write_text("nobody's file\n")
        pathlib.Path(".req.pem.scep-install").write_bytes(install_journal([(f"{shared}/marker", f"{shared}/moved-by-root")]))

    as_nobody(shared, plant)
    before = files_snapshot(shared)
    result = csr(agent, shared)
    assert_refused(result, journal)
    assert "owned by uid " + str(NOBODY.pw_uid) in result.stderr
    assert not (shared / "moved-by-root").exists(), "root renamed a file because nobody's journal said so"
    assert files_snapshot(shared) == before, "a refused journal leaves the directory as it was"


@pytest.mark.parametrize("target", [
    "moved-by-root",  # a target outside the set
    "req.pem",  # the set's target, but from a temporary that is not the name the set writes
])
def test_a_journal_of_ours_naming_a_rename_outside_the_set_is_refused(agent, target):
    directory = agent.workdir
    (directory / "marker").write_text("a file of root's that is not part of the set\n")
    journal = directory / ".req.pem.scep-install"
    # Owned by root and 0600, like a real journal: only the pair is wrong.
    journal.write_bytes(install_journal([(f"{directory}/marker", f"{directory}/{target}")]))
    journal.chmod(0o600)
    before = files_snapshot(directory)
    assert_refused(csr(agent, directory), journal)
    assert files_snapshot(directory) == before, "nothing was renamed"


def test_a_group_writable_journal_of_ours_is_refused(agent):
    directory = agent.workdir
    journal = directory / ".req.pem.scep-install"
    journal.write_bytes(install_journal([(f"{directory}/.req.pem.scep-new", f"{directory}/req.pem")]))
    journal.chmod(0o620)
    result = csr(agent, directory)
    assert_refused(result, journal)
    assert "lets group or others write it" in result.stderr


def gateway_without_ca(agent):
    return Gateway(agent, UNREACHABLE_CA)


def leave_a_temporary(agent):
    """A stray temporary beside the certificate: recovery takes the set's lock before removing it."""
    (agent.workdir / ".cert.pem.scep-new").write_text("left by a killed run\n")


def test_a_symlinked_install_lock_is_refused_and_not_followed(agent, tmp_path):
    gateway = gateway_without_ca(agent)
    leave_a_temporary(agent)
    lock = agent.workdir / ".cert.pem.scep-lock"
    victim = tmp_path / "created-through-the-lock"
    lock.symlink_to(victim)
    result = agent.run("renew-now", "--config", gateway.config)
    assert_refused(result, lock)
    assert "symbolic link" in result.stderr
    assert not victim.exists(), "open(2) followed the planted symlink and created its target"
    assert (agent.workdir / ".cert.pem.scep-new").exists(), "nothing is touched after a refusal"


def test_an_install_lock_planted_by_another_user_is_refused(agent, tmp_path):
    shared = shared_directory(tmp_path)
    config = Gateway(agent, UNREACHABLE_CA).config
    config.write_text(config.read_text().replace(f"{agent.workdir}/cert.pem", f"{shared}/cert.pem"))
    (shared / ".cert.pem.scep-new").write_text("left by a killed run\n")
    as_nobody(shared, lambda: pathlib.Path(".cert.pem.scep-lock").write_text(""))
    result = agent.run("renew-now", "--config", config)
    assert_refused(result, shared / ".cert.pem.scep-lock")


def run_daemon_briefly(agent, config):
    """`run` that should refuse at once; one that does not is stopped and reported."""
    try:
        return agent.run("run", "--config", config, timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("the daemon started instead of refusing")


def test_a_symlinked_daemon_lock_is_refused_and_not_followed(agent, tmp_path):
    gateway = gateway_without_ca(agent)
    state = agent.workdir / "state"
    state.mkdir(mode=0o700)
    victim = tmp_path / "created-through-the-daemon-lock"
    (state / "daemon.lock").symlink_to(victim)
    result = run_daemon_briefly(agent, gateway.config)
    assert_refused(result, state / "daemon.lock")
    assert not victim.exists()


def test_a_symlinked_state_dir_is_refused(agent, tmp_path):
    gateway = gateway_without_ca(agent)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (agent.workdir / "state").symlink_to(elsewhere)
    for command in ("renew-now", "run"):
        result = run_daemon_briefly(agent, gateway.config) if command == "run" else agent.run(command, "--config", gateway.config)
        assert_refused(result, agent.workdir / "state")
        assert "symbolic link" in result.stderr
    assert list(elsewhere.iterdir()) == [], "nothing was written through the link"


@pytest.mark.parametrize("owner,mode,problem", [
    ("nobody", 0o700, "owned by uid"),
    ("root", 0o777, "lets group or others write it"),
    ("root", 0o770, "lets group or others write it"),
])
def test_a_state_dir_others_can_write_is_refused(agent, owner, mode, problem):
    gateway = gateway_without_ca(agent)
    state = agent.workdir / "state"
    state.mkdir()
    state.chmod(mode)
    if owner == "nobody":
        os.chown(state, NOBODY.pw_uid, NOBODY.pw_gid)
    for command in ("renew-now", "run"):
        result = run_daemon_briefly(agent, gateway.config) if command == "run" else agent.run(command, "--config", gateway.config)
        assert_refused(result, state)
        assert problem in result.stderr
    assert list(state.iterdir()) == []


def test_a_missing_state_dir_is_made_0700(agent):
    gateway = gateway_without_ca(agent)
    result = agent.run("renew-now", "--config", gateway.config)
    assert result.returncode == ExitCode.transport, result.stderr
    assert (agent.workdir / "state").stat().st_mode & 0o7777 == 0o700


def test_a_state_file_of_another_user_is_refused(agent):
    gateway = gateway_without_ca(agent)
    state = agent.workdir / "state"
    state.mkdir(mode=0o700)
    planted = state / "wifi.state"
    planted.write_text("next_due=1\n")
    os.chown(planted, NOBODY.pw_uid, NOBODY.pw_gid)
    result = agent.run("status", "--config", gateway.config)
    assert_refused(result, planted)


def start_sleep():
    """A process that SIGHUP kills (sleep keeps the default action): the proof it was not signalled."""
    return subprocess.Popen(["sleep", "600"])


def test_renew_now_ignores_a_stale_pid_file_and_renews_here(agent, short_ca):  # noqa: F811
    gateway = Gateway(agent, short_ca)
    state = agent.workdir / "state"
    state.mkdir(mode=0o700)
    bystander = start_sleep()
    try:
        # A daemon crashed: its pid file stays, and its pid now belongs to another process.
        (state / "scep-agent.pid").write_text(f"{bystander.pid}\n")
        (state / "daemon.lock").write_text("4242\n")
        (state / "daemon.lock").chmod(0o600)
        result = agent.run("renew-now", "--config", gateway.config)
        assert bystander.poll() is None, "renew-now sent SIGHUP to a process that is not the daemon"
        assert "asked the daemon" not in result.stdout
        assert "no daemon is running" in result.stderr, result.stderr
        assert result.returncode == 0, result.stderr
        gateway.assert_valid_set()
    finally:
        bystander.kill()
        bystander.wait()


def test_renew_now_signals_the_daemon_that_holds_the_lock_not_the_pid_file(agent, short_ca):  # noqa: F811
    gateway = Gateway(agent, short_ca)
    lock = agent.workdir / "state" / "daemon.lock"
    bystander = start_sleep()
    gateway.start()
    try:
        gateway.wait_for(lambda: gateway.hooks() >= 1, what="the first enrollment")
        (agent.workdir / "state" / "scep-agent.pid").write_text(f"{bystander.pid}\n")
        result = agent.run("renew-now", "--config", gateway.config)
        assert result.returncode == 0 and f"asked the daemon (pid {gateway.process.pid})" in result.stdout, (result.stdout, result.stderr)
        assert lock.read_text().strip() == str(gateway.process.pid), "the lock carries the daemon's pid"
        gateway.wait_for(lambda: gateway.hooks() >= 2, what="the renew-now renewal")
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
        assert gateway.stop() == 0


@pytest.mark.parametrize("value", ["9223372036854775806", "-9223372036854775807"])
def test_a_huge_next_due_is_ignored_with_a_warning_not_a_crash(agent, value):
    gateway = gateway_without_ca(agent)
    state = agent.workdir / "state"
    state.mkdir(mode=0o700)
    state_file = state / "wifi.state"
    state_file.write_text(f"next_due={value}\nconsecutive_failures=9223372036854775807\n")
    state_file.chmod(0o600)
    gateway.start()
    try:
        # The schedule is planned again: no certificate, so it tries to enroll, fails (no CA) and saves
        # a retry time. The daemon is alive after that.
        gateway.wait_for(lambda: "last_result=failed" in state_file.read_text(), what="the first attempt")
        assert gateway.process.poll() is None
        saved = dict(line.split("=", 1) for line in state_file.read_text().splitlines())
        assert 0 < int(saved["next_due"]) < 253402300800 and int(saved["consecutive_failures"]) < 100
    finally:
        assert gateway.stop() == 0
    assert "ignoring next_due" in gateway.process.stderr.read()


def test_csr_with_a_challenge_is_written_0600(agent):
    challenge = agent.path("challenge")
    challenge.write_text("a-challenge-password\n")
    result = agent.run("csr", "--subject", "CN=gw-csr", "--key-type", "ec:p256", "--challenge-file", challenge,
                       "--key", agent.path("key.pem"), "--out", agent.path("req.pem"))
    assert result.returncode == 0, result.stderr
    assert "a-challenge-password" in openssl_text("req", "-in", agent.path("req.pem"), "-noout", "-text")
    assert agent.path("req.pem").stat().st_mode & 0o777 == 0o600


def test_csr_without_a_challenge_stays_0644(agent):
    result = agent.run("csr", "--subject", "CN=gw-csr", "--key-type", "ec:p256",
                       "--key", agent.path("key.pem"), "--out", agent.path("req.pem"))
    assert result.returncode == 0, result.stderr
    assert agent.path("req.pem").stat().st_mode & 0o777 == 0o644
