"""Shared fixtures for the end-to-end suites: the scep-agent binaries under test and a throwaway CA."""
import os
import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from scepca import ScepCA  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_BINARIES = {
    "normal": ROOT / ".build" / "debug" / "scep-agent",
    "embedded": ROOT / ".build-embedded" / "release" / "scep-agent",
    # The firmware build of the host (CMake, mbedTLS static): Scripts/build-firmware.sh x86_64.
    "cmake-x86_64": ROOT / "build-x86_64" / "scep-agent",
}


def agent_binaries():
    """SCEP_AGENT_BINARIES=name=path,name=path overrides; by default every built mode is tested."""
    spec = os.environ.get("SCEP_AGENT_BINARIES")
    if spec:
        return {name: pathlib.Path(path).resolve() for name, path in (item.split("=", 1) for item in spec.split(","))}
    built = {name: path for name, path in DEFAULT_BINARIES.items() if path.exists()}
    # One Embedded binary is enough: the firmware build (the one that ships) when it exists, else
    # SwiftPM's. Both compile the same sources in the same mode; testing both doubled CI time.
    if "cmake-x86_64" in built:
        built.pop("embedded", None)
    return built


BINARIES = agent_binaries()


def skip_or_fail_in_ci(reason):
    """A suite whose tools are missing skips with the reason, except under CI=true: CI installs them."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(params=sorted(BINARIES), scope="session")
def agent_binary(request):
    path = BINARIES[request.param]
    if not path.exists():
        pytest.fail(f"scep-agent binary {path} is missing: build it first")
    return path


class Agent:
    """Runs scep-agent and keeps what it printed. prefix: a command to run it under (e.g. an emulator)."""

    def __init__(self, binary, workdir, prefix=()):
        self.binary = binary
        self.workdir = pathlib.Path(workdir)
        self.prefix = [str(part) for part in prefix]

    def run(self, *args, env=None, timeout=120):
        full_env = dict(os.environ)
        for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
            full_env.pop(name, None)
        full_env.update(env or {})
        result = subprocess.run([*self.prefix, str(self.binary), *map(str, args)], capture_output=True, text=True,
                                timeout=timeout, env=full_env, cwd=self.workdir)
        self.last = result
        return result

    def path(self, name):
        return self.workdir / name


@pytest.fixture
def agent(agent_binary, tmp_path):
    work = tmp_path / "agent"
    work.mkdir()
    return Agent(agent_binary, work)


@pytest.fixture
def ca(tmp_path):
    with ScepCA(tmp_path / "ca", allowrenew=0) as server:
        yield server


def files_snapshot(directory):
    """{name: (bytes, mode)} of every file in a directory, to prove a failure changed nothing."""
    out = {}
    for entry in sorted(pathlib.Path(directory).iterdir()):
        if entry.is_file():
            out[entry.name] = (entry.read_bytes(), entry.stat().st_mode & 0o777)
    return out


def write_agent_config(path, ca, *, state_dir, challenge_file, key, cert, chain, name="wifi", cn="gw-daemon", extra="",
                       renew_with_challenge="yes", url=None):
    """A config file with one [cert NAME] section enrolling from `ca` (anything with url and
    ca_fingerprint_sha256; `url` overrides its URL, e.g. a recording proxy's); `extra` lines go at the
    end of the section; `renew_with_challenge=None` leaves that line out (the default, auto). Returns the path."""
    path = pathlib.Path(path)
    renewal_line = "" if renew_with_challenge is None else f"renew_with_challenge = {renew_with_challenge}"
    path.write_text(f"""[agent]
state_dir = {state_dir}

[cert {name}]
url = {url or ca.url}
ca_fingerprint = {ca.ca_fingerprint_sha256}
subject = CN={cn},O=Example
challenge_file = {challenge_file}
{renewal_line}
key = {key}
cert = {cert}
chain = {chain}
{extra}
""")
    return path


JOURNAL_MAGIC = b"scep-agent install journal 2"


def install_journal(pairs, owner=None):
    """The bytes of an install journal (`.CERT.scep-install`) naming (temporary, target) pairs, each
    temporary made for `owner` (default: this process's euid): NUL-terminated fields after a magic."""
    owner = os.geteuid() if owner is None else owner
    fields = [JOURNAL_MAGIC] + [str(part).encode() for temporary, target in pairs for part in (temporary, target, owner)]
    return b"".join(field + b"\0" for field in fields)


def read_install_journal(path):
    """The (temporary, target) pairs of an install journal."""
    fields = pathlib.Path(path).read_bytes().split(b"\0")
    assert fields[0] == JOURNAL_MAGIC and fields[-1] == b"", fields
    fields = fields[1:-1]
    return [(fields[i].decode(), fields[i + 1].decode()) for i in range(0, len(fields), 3)]
