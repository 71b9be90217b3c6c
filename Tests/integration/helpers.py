"""What the end-to-end suites and the harness scripts share (stdlib only, so the scripts can import it too):
the openssl CLI as the judge, a certificate's serial, the agent's exit codes by name, and polling.
The pytest fixtures and the agent runner are in conftest.py."""
import enum
import pathlib
import re
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


class OpenSSLError(subprocess.CalledProcessError):
    """An openssl command that failed. A CalledProcessError, so callers can catch either; its message
    also carries what OpenSSL printed on stderr."""

    def __str__(self):
        return f"{super().__str__()}\n{self.stderr.decode(errors='replace').rstrip()}"


def openssl(*args, input=None, cwd=None):
    """Runs `openssl ARGS` (paths may be pathlib.Path; `input`: bytes or str for stdin) and returns its
    stdout as bytes. Raises OpenSSLError when openssl fails."""
    command = ["openssl", *map(str, args)]
    if isinstance(input, str):
        input = input.encode()
    result = subprocess.run(command, input=input, capture_output=True, cwd=cwd, timeout=60)
    if result.returncode != 0:
        raise OpenSSLError(result.returncode, command, result.stdout, result.stderr)
    return result.stdout


def openssl_text(*args, input=None, cwd=None):
    """openssl() with stdout decoded: for PEM, `-text`, `-serial`, `verify` and the like."""
    return openssl(*args, input=input, cwd=cwd).decode()


def certificate_serial(path):
    """The serial number of the (first) certificate in a PEM file, as OpenSSL prints it: upper-case hex,
    without the `serial=` label."""
    return openssl_text("x509", "-in", path, "-noout", "-serial").strip().split("=", 1)[1]


def certificate_fingerprint_sha256(path):
    """The SHA-256 fingerprint of the (first) certificate in a PEM file, in lower-case hex without colons:
    the form --ca-fingerprint and `ca_fingerprint` take."""
    printed = openssl_text("x509", "-in", path, "-noout", "-fingerprint", "-sha256").strip().split("=", 1)[1]
    return printed.replace(":", "").lower()


def certificate_public_key_der(path):
    """The DER SubjectPublicKeyInfo of the (first) certificate in a PEM file: what a token's public key is
    compared with."""
    return openssl("pkey", "-pubin", "-outform", "DER", input=openssl("x509", "-in", path, "-noout", "-pubkey"))


def _exit_codes_from_source():
    """(name, number) of every case of the agent's `enum ExitCode` in Sources/<module>/ExitCode.swift, the
    file the binary is built from: a renumbering there is one here, and a case renamed there fails here
    by name."""
    sources = sorted(ROOT.glob("Sources/*/ExitCode.swift"))
    if len(sources) != 1:
        raise RuntimeError(f"helpers.py reads the exit codes from Sources/*/ExitCode.swift: found {sources or 'none'}")
    cases = [(name, int(number)) for name, number in
             re.findall(r"^\s*case (\w+) = (\d+)\s*$", sources[0].read_text(), re.M)]
    numbers = [number for _, number in cases]
    # The codes are 0…N without gaps; anything else means this reading of the Swift no longer fits it.
    if sorted(numbers) != list(range(len(numbers))) or len({name for name, _ in cases}) != len(cases):
        raise RuntimeError(f"helpers.py could not read enum ExitCode from {sources[0]}: got {cases}")
    return cases


ExitCode = enum.IntEnum("ExitCode", _exit_codes_from_source())
ExitCode.__doc__ = "The agent's exit codes, with the case names of Swift's `ExitCode` (ExitCode.verification == 7)."


def wait_for(predicate, timeout=30, what="condition", process=None, interval=0.1):
    """Polls `predicate` every `interval` seconds until it returns something true; fails after `timeout`
    seconds, or at once when `process` (a Popen, e.g. the daemon that should make it true) has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if process is not None and process.poll() is not None:
            stderr = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"process exited {process.returncode} while waiting for {what}: {stderr}")
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
