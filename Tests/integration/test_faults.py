"""File-system faults against a real scepserver on 127.0.0.1: a full disk, a read-only mount, a directory
the agent may not write, a missing directory, and unreadable or garbage key and certificate files.

Each must end with exit 8 (file-error) and a message naming the path, leave the installed key,
certificate and chain byte-identical with no temporaries, and the next run after the fault is gone must
install a valid set. Runs as root with real mounts (tmpfs) and a real unprivileged user (nobody)."""
import contextlib
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

from conftest import files_snapshot, write_agent_config
from helpers import ExitCode, openssl_text
from recording_proxy import RecordingProxy
from test_enroll import assert_valid_set, enroll_args

PAGE = os.sysconf("SC_PAGE_SIZE")
TEMPORARY_MARKERS = (".scep-new", ".scep-old", ".scep-install", ".scep-pending", ".tmp")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts and setpriv need root")


def run(*args):
    subprocess.run([*map(str, args)], check=True, capture_output=True)


class Tmpfs:
    """A small tmpfs mounted at `path`, always unmounted on exit (lazily as a last resort)."""

    def __init__(self, path, size="256k"):
        self.path = pathlib.Path(path)
        self.size = size

    def __enter__(self):
        self.path.mkdir(parents=True, exist_ok=True)
        run("mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0755", "tmpfs", self.path)
        return self

    def __exit__(self, *exc):
        for attempt in (["umount", self.path], ["umount", "-l", self.path]):
            if subprocess.run(attempt, capture_output=True).returncode == 0:
                return False
        # Still mounted after umount -l would mean something is badly wrong: say so loudly.
        raise RuntimeError(f"could not unmount {self.path}")

    def remount(self, mode):
        run("mount", "-o", f"remount,{mode}", self.path)

    def free(self):
        info = os.statvfs(self.path)
        return info.f_bavail * info.f_frsize

    def fill(self, leave):
        """Fills the file system with one filler file so that `leave` bytes stay free."""
        filler = self.path / "filler"
        size = self.free() - leave
        assert size > 0
        with open(filler, "wb") as handle:
            handle.write(b"\0" * size)
            handle.flush()
            os.fsync(handle.fileno())
        assert self.free() == leave, (self.free(), leave)
        return filler


def set_paths(directory):
    directory = pathlib.Path(directory)
    return directory / "key.pem", directory / "cert.pem", directory / "chain.pem"


def enroll_into(agent, ca, directory, url=None):
    key, cert, chain = set_paths(directory)
    args = enroll_args(agent, ca, url=url)
    for flag, path in (("--key", key), ("--cert", cert), ("--chain", chain)):
        args[args.index(flag) + 1] = path
    return agent.run(*args)


def renew_in(agent, ca, directory, url=None, extra=(), env=None):
    key, cert, chain = set_paths(directory)
    return agent.run("renew", "--url", url or ca.url, "--ca-fingerprint", ca.ca_fingerprint_sha256, "--key", key, "--cert", cert,
                     "--chain", chain, "--challenge-file", agent.path("challenge"), *extra, env=env)


def assert_valid_set_in(ca, directory):
    key, cert, chain = set_paths(directory)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert openssl_text("verify", "-CAfile", ca.ca_cert_pem_path, cert).strip().endswith("OK")
    assert openssl_text("verify", "-CAfile", chain, cert).strip().endswith("OK")
    assert openssl_text("pkey", "-in", key, "-pubout") == openssl_text("x509", "-in", cert, "-noout", "-pubkey"), "key and cert must match"


def installed(directory):
    """The installed set and its .prev links (what a failure must never change)."""
    return {name: value for name, value in files_snapshot(directory).items() if name != "filler"}


def assert_no_temporaries(directory):
    left = [entry.name for entry in pathlib.Path(directory).iterdir() if entry.name.endswith(TEMPORARY_MARKERS)]
    assert not left, f"temporaries left behind: {left}"


class TestRenameFailsAfterTheCommitPoint:
    """EIO on one rename after the commit point (`SCEP_AGENT_FAULT=eio:install.rename.TEMPORARY`, the
    error a failing disk gives): the command returns with the whole old set or the whole new set, never
    a new key beside the old certificate."""

    @pytest.mark.parametrize("temporary", [".key.pem.scep-new", ".cert.pem.scep-new", ".chain.pem.scep-new"])
    def test_a_rename_that_keeps_failing_puts_the_previous_set_back(self, agent, ca, tmp_path, temporary):
        directory = tmp_path / "set"
        directory.mkdir()
        assert enroll_into(agent, ca, directory).returncode == ExitCode.ok, agent.last.stderr
        before = installed(directory)
        result = renew_in(agent, ca, directory, env={"SCEP_AGENT_FAULT": "eio:install.rename." + temporary})
        assert result.returncode == ExitCode.file, (result.returncode, result.stderr)
        assert "Input/output error" in result.stderr and temporary in result.stderr, result.stderr
        assert "previous set was put back" in result.stderr, result.stderr
        the_set = lambda files: {name: files[name] for name in ("key.pem", "cert.pem", "chain.pem")}  # noqa: E731
        assert the_set(installed(directory)) == the_set(before), "the whole old set, byte for byte"
        assert_no_temporaries(directory)
        assert renew_in(agent, ca, directory).returncode == ExitCode.ok, agent.last.stderr
        assert_valid_set_in(ca, directory)

    def test_a_rename_that_fails_once_is_retried_and_the_new_set_installed(self, agent, ca, tmp_path):
        directory = tmp_path / "set"
        directory.mkdir()
        assert enroll_into(agent, ca, directory).returncode == ExitCode.ok, agent.last.stderr
        before = installed(directory)
        result = renew_in(agent, ca, directory, env={"SCEP_AGENT_FAULT": "eio:install.rename..cert.pem.scep-new@1"})
        assert result.returncode == ExitCode.ok, result.stderr
        assert_valid_set_in(ca, directory)
        assert set_paths(directory)[1].read_bytes() != before["cert.pem"][0]
        assert_no_temporaries(directory)

    def test_an_enroll_whose_rename_keeps_failing_leaves_its_committed_set_for_the_next_run(self, agent, ca, tmp_path):
        # No previous set to go back to: the journal stays committed and the next run finishes it.
        directory = tmp_path / "set"
        directory.mkdir()
        key, cert, chain = set_paths(directory)
        args = enroll_args(agent, ca)
        for flag, path in (("--key", key), ("--cert", cert), ("--chain", chain)):
            args[args.index(flag) + 1] = path
        result = agent.run(*args, env={"SCEP_AGENT_FAULT": "eio:install.rename..cert.pem.scep-new"})
        assert result.returncode == ExitCode.file, result.stderr
        assert "next run" in result.stderr, result.stderr
        assert (directory / ".cert.pem.scep-install").exists()
        assert renew_in(agent, ca, directory).returncode == ExitCode.ok, agent.last.stderr
        assert_valid_set_in(ca, directory)
        assert_no_temporaries(directory)


@pytest.fixture
def mounted(tmp_path):
    with Tmpfs(tmp_path / "mnt") as fs:
        yield fs


class TestFullDisk:
    # Free pages when the renewal starts: each file takes one page on tmpfs, so 0..3 pages fail at the
    # new key, the certificate, the chain and the journal in turn.
    @pytest.mark.parametrize("pages", [0, 1, 2, 3])
    def test_renew_on_a_full_disk_fails_cleanly_and_recovers(self, agent, ca, mounted, pages):
        assert enroll_into(agent, ca, mounted.path).returncode == ExitCode.ok, agent.last.stderr
        before = installed(mounted.path)
        filler = mounted.fill(pages * PAGE)
        result = renew_in(agent, ca, mounted.path)
        assert result.returncode == ExitCode.file, result.stderr
        assert "No space left on device" in result.stderr
        assert str(mounted.path) in result.stderr
        assert installed(mounted.path) == before
        assert_no_temporaries(mounted.path)
        filler.unlink()
        result = renew_in(agent, ca, mounted.path)
        assert result.returncode == ExitCode.ok, result.stderr
        assert_valid_set_in(ca, mounted.path)
        assert_no_temporaries(mounted.path)
        assert set_paths(mounted.path)[1].read_bytes() != before["cert.pem"][0]

    def test_enroll_on_a_full_disk_installs_nothing(self, agent, ca, mounted):
        filler = mounted.fill(PAGE)
        result = enroll_into(agent, ca, mounted.path)
        assert result.returncode == ExitCode.file, result.stderr
        assert "No space left on device" in result.stderr and str(mounted.path) in result.stderr
        assert not any(path.exists() for path in set_paths(mounted.path))
        assert_no_temporaries(mounted.path)
        filler.unlink()
        assert enroll_into(agent, ca, mounted.path).returncode == ExitCode.ok, agent.last.stderr
        assert_valid_set_in(ca, mounted.path)

    def test_daemon_renew_now_on_a_full_disk(self, agent, ca, mounted, tmp_path):
        (agent.workdir / "challenge").write_text(ca.challenge + "\n")
        key, cert, chain = set_paths(mounted.path)
        config = write_agent_config(agent.workdir / "agent.conf", ca, state_dir=agent.workdir / "state",
                                    challenge_file=agent.workdir / "challenge", key=key, cert=cert, chain=chain)
        first = agent.run("renew-now", "--config", config)
        assert first.returncode == ExitCode.ok, first.stderr
        before = installed(mounted.path)
        filler = mounted.fill(PAGE)
        failed = agent.run("renew-now", "--config", config)
        assert failed.returncode == ExitCode.file, failed.stdout + failed.stderr
        assert "No space left on device" in failed.stderr and str(mounted.path) in failed.stderr
        assert installed(mounted.path) == before
        assert_no_temporaries(mounted.path)
        filler.unlink()
        again = agent.run("renew-now", "--config", config)
        assert again.returncode == ExitCode.ok, again.stderr
        assert_valid_set_in(ca, mounted.path)
        assert cert.read_bytes() != before["cert.pem"][0]


class TestReadOnly:
    def test_renew_on_a_read_only_mount_fails_and_recovers_after_remount(self, agent, ca, mounted):
        assert enroll_into(agent, ca, mounted.path).returncode == ExitCode.ok, agent.last.stderr
        before = installed(mounted.path)
        mounted.remount("ro")
        try:
            with RecordingProxy(ca.base_url) as proxy:
                result = renew_in(agent, ca, mounted.path, url=proxy.url)
                operations = [exchange.operation for exchange in proxy.exchanges]
            assert result.returncode == ExitCode.file, result.stderr
            assert "Read-only file system" in result.stderr and str(mounted.path) in result.stderr
            assert "PKIOperation" not in operations, "a renewal that cannot be installed must not be sent"
            assert installed(mounted.path) == before
        finally:
            mounted.remount("rw")
        assert_no_temporaries(mounted.path)
        result = renew_in(agent, ca, mounted.path)
        assert result.returncode == ExitCode.ok, result.stderr
        assert_valid_set_in(ca, mounted.path)

    def test_enroll_on_a_read_only_mount(self, agent, ca, mounted):
        mounted.remount("ro")
        try:
            result = enroll_into(agent, ca, mounted.path)
        finally:
            mounted.remount("rw")
        assert result.returncode == ExitCode.file, result.stderr
        assert "Read-only file system" in result.stderr and str(mounted.path) in result.stderr
        assert list(mounted.path.iterdir()) == []


@pytest.fixture
def public_dir():
    """A directory every user can reach (pytest's own tmp is 0700 root), removed afterwards."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="scep-faults-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class TestPermission:
    AS_NOBODY = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")

    @pytest.mark.parametrize("command", ["enroll", "renew"])
    def test_unprivileged_user_in_a_root_directory(self, agent, ca, public_dir, command):
        if shutil.which("setpriv") is None:
            pytest.skip("setpriv is missing")
        out = public_dir / "out"
        out.mkdir(mode=0o755)
        challenge = public_dir / "challenge"
        challenge.write_text(ca.challenge + "\n")
        challenge.chmod(0o644)
        if command == "renew":
            assert enroll_into(agent, ca, out).returncode == ExitCode.ok, agent.last.stderr
            for path in set_paths(out):
                path.chmod(0o644)  # readable, so only the directory's permission is in the way
        before = files_snapshot(out)
        key, cert, chain = set_paths(out)
        args = [command, "--url", ca.url, "--ca-fingerprint", ca.ca_fingerprint_sha256, "--key", key, "--cert", cert,
                "--chain", chain, "--challenge-file", challenge]
        if command == "enroll":
            args += ["--subject", "CN=gw-0042,O=Example"]
        result = subprocess.run([*self.AS_NOBODY, str(agent.binary), *map(str, args)], capture_output=True, text=True, timeout=60,
                                cwd=public_dir)
        assert result.returncode == ExitCode.file, result.stderr
        assert "Permission denied" in result.stderr and str(out) in result.stderr
        assert files_snapshot(out) == before
        assert_no_temporaries(out)


class TestMissingDirectory:
    @pytest.mark.parametrize("command", ["enroll", "renew"])
    def test_missing_output_directory_is_refused_before_the_ca_is_asked(self, agent, ca, command):
        good = agent.workdir / "good"
        good.mkdir()
        missing = agent.workdir / "no-such-dir"
        if command == "renew":
            assert enroll_into(agent, ca, good).returncode == ExitCode.ok, agent.last.stderr
        before = files_snapshot(good)
        with RecordingProxy(ca.base_url) as proxy:
            if command == "enroll":
                result = enroll_into(agent, ca, missing, url=proxy.url)
            else:
                key, cert, _ = set_paths(good)
                result = agent.run("renew", "--url", proxy.url, "--ca-fingerprint", ca.ca_fingerprint_sha256, "--key", key,
                                   "--cert", cert, "--chain", missing / "chain.pem", "--challenge-file", agent.path("challenge"))
            operations = [exchange.operation for exchange in proxy.exchanges]
        assert result.returncode == ExitCode.file, result.stderr
        assert str(missing) in result.stderr and "No such file or directory" in result.stderr
        assert "PKIOperation" not in operations
        assert not missing.exists()
        assert files_snapshot(good) == before


class TestBadFiles:
    @pytest.mark.parametrize("damage", ["garbage-key", "garbage-cert", "empty-key", "truncated-cert", "key-is-directory",
                                        "cert-missing", "key-unreadable"])
    def test_renew_with_a_bad_key_or_certificate(self, agent, ca, damage):
        assert agent.run(*enroll_args(agent, ca)).returncode == ExitCode.ok, agent.last.stderr
        key, cert = agent.path("key.pem"), agent.path("cert.pem")
        target = key if "key" in damage else cert
        if damage.startswith("garbage"):
            target.write_bytes(os.urandom(900))
        elif damage == "empty-key":
            target.write_bytes(b"")
        elif damage == "truncated-cert":
            target.write_bytes(target.read_bytes()[:300])
        elif damage == "key-is-directory":
            target.unlink()
            target.mkdir()
        elif damage == "cert-missing":
            target.unlink()
        elif damage == "key-unreadable":
            target.chmod(0o000)  # owned by nobody below: its owner may not read it
        before = files_snapshot(agent.workdir)
        with RecordingProxy(ca.base_url) as proxy:
            args = ["renew", "--url", proxy.url, "--ca-fingerprint", ca.ca_fingerprint_sha256, "--key", key, "--cert", cert,
                    "--chain", agent.path("chain.pem"), "--challenge-file", agent.path("challenge")]
            if damage == "key-unreadable":
                result = self.run_as_nobody_with_unreadable_key(agent, args)
                before = files_snapshot(agent.workdir)
            else:
                result = agent.run(*args)
            operations = [exchange.operation for exchange in proxy.exchanges]
        assert result.returncode == ExitCode.file, result.stderr
        assert str(target) in result.stderr
        assert "PKIOperation" not in operations
        assert files_snapshot(agent.workdir) == before
        assert_no_temporaries(agent.workdir)

    @staticmethod
    def run_as_nobody_with_unreadable_key(agent, args):
        """Root reads any mode: hand the directory to nobody, whose own key is mode 000, and run as nobody
        (pytest's tmp is 0700 root, so its ancestors are opened to others for the run)."""
        for path in [agent.workdir, *agent.workdir.iterdir()]:
            os.chown(path, 65534, 65534)
        opened = []
        for parent in agent.workdir.parents:
            mode = parent.stat().st_mode & 0o777
            if mode & 0o001 == 0:
                opened.append((parent, mode))
                parent.chmod(mode | 0o011)
        try:
            return subprocess.run([*TestPermission.AS_NOBODY, str(agent.binary), *map(str, args)], capture_output=True, text=True,
                                  timeout=60, cwd="/")
        finally:
            for parent, mode in opened:
                parent.chmod(mode)
