"""The .deb packages (Scripts/package-deb.sh), installed where a gateway maker would install them.

amd64: dpkg -i into a fresh Debian 12 chroot made by debootstrap in this suite's own directory; the installed
binary, default config and unit checked there; removal and purge. arm64 and armhf: dpkg-deb --info and
--contents, and the packaged binary enrolls under qemu against scepserver. lintian on all three.

Needs root (chroot), debootstrap, lintian, man-db and the firmware toolchains (Scripts/install-deps.sh and
Scripts/install-cross-deps.sh install them); without them the suite skips with the reason, except under CI=true,
where it fails. The debootstrap tarball (downloaded from deb.debian.org once) is kept in .cache/debootstrap/
(git-ignored), so later runs only unpack it."""
import fcntl
import gzip
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, Agent, skip_or_fail_in_ci
from helpers import ExitCode
from test_firmware import ARCHES as FIRMWARE_ARCHES

MIRROR = "http://deb.debian.org/debian"
# systemd for `systemd-analyze verify` and `systemctl enable` in the chroot; procps for the unit's /bin/kill.
# Both are in every standard Debian 12 system, but not in debootstrap's minbase.
CHROOT_INCLUDES = "systemd,procps"
TARBALL = ROOT / ".cache" / "debootstrap" / f"bookworm-minbase-{CHROOT_INCLUDES.replace(',', '-')}.tgz"
# dpkg's own records change with every install, and /run and /tmp are a tmpfs on a running system (systemctl
# leaves a file in /run); the rest of the chroot must come back as it was after a purge.
NOT_COMPARED = ("var/lib/dpkg/", "var/log/", "var/cache/debconf/", "tmp/", "run/")
FIRMWARE_ARCH = {"amd64": "x86_64", "arm64": "aarch64", "armhf": "armhf"}
CONFIG = "/etc/scep-agent/scep-agent.conf"
UNIT = "lib/systemd/system/scep-agent.service"


def require(*tools, root=False):
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if root and os.geteuid() != 0:
        missing.append("root (chroot)")
    if missing:
        skip_or_fail_in_ci(f"PACKAGES NOT TESTED: {', '.join(missing)} missing; run Scripts/install-deps.sh and "
                           "Scripts/install-cross-deps.sh as root")


def run(*command, check=True, timeout=600, **kwargs):
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=timeout, **kwargs)
    if check:
        assert result.returncode == 0, f"{' '.join(map(str, command))} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def packages():
    """{arch: path} of the three .debs, built once (Scripts/package-deb.sh builds the firmware it needs)."""
    require("dpkg-deb", "dpkg-shlibdeps", "cmake", "ninja", "swiftc", "aarch64-linux-gnu-gcc", "arm-linux-gnueabihf-gcc",
            "qemu-aarch64-static", "qemu-arm-static")
    result = run(ROOT / "Scripts" / "package-deb.sh", "amd64", "arm64", "armhf", timeout=1800)
    built = {}
    for line in result.stdout.splitlines():
        match = re.match(r"^(\S+/scep-agent_([^_]+)_(amd64|arm64|armhf)\.deb) ", line)
        if match:
            built[match.group(3)] = pathlib.Path(match.group(1))
    assert sorted(built) == ["amd64", "arm64", "armhf"], result.stdout
    return built


def package_version(deb):
    return deb.name.split("_")[1]


def debootstrap_tarball():
    """The Debian 12 packages debootstrap installs, downloaded once into .cache/ (one writer at a time)."""
    TARBALL.parent.mkdir(parents=True, exist_ok=True)
    with open(TARBALL.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not TARBALL.exists():
            partial = TARBALL.with_name(TARBALL.name + ".partial")
            work = TARBALL.parent / "work"
            shutil.rmtree(work, ignore_errors=True)
            run("debootstrap", "--variant=minbase", f"--include={CHROOT_INCLUDES}", f"--make-tarball={partial}",
                "bookworm", work, MIRROR)
            shutil.rmtree(work, ignore_errors=True)
            partial.rename(TARBALL)
    return TARBALL


def tree(root):
    """Every path under root (relative, directories with a trailing /) but those in NOT_COMPARED."""
    paths = set()
    for directory, subdirectories, files in os.walk(root):
        relative = os.path.relpath(directory, root)
        prefix = "" if relative == "." else relative + "/"
        paths.update(prefix + name + "/" for name in subdirectories if not os.path.islink(os.path.join(directory, name)))
        paths.update(prefix + name for name in files)
        paths.update(prefix + name for name in subdirectories if os.path.islink(os.path.join(directory, name)))
    return {path for path in paths if not path.startswith(NOT_COMPARED)}


class Chroot:
    def __init__(self, root):
        self.root = root

    def run(self, *command, check=True):
        # A clean environment: nothing of the host's (proxies, PATH of a toolchain) leaks into the chroot.
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
        return run("chroot", self.root, *command, check=check, env=env)

    def path(self, absolute):
        return self.root / absolute.lstrip("/")


@pytest.fixture(scope="module")
def installed(packages, tmp_path_factory):
    """A fresh Debian 12 chroot with the amd64 package installed by dpkg -i; `before` is its tree before that."""
    require("debootstrap", "chroot", root=True)
    root = tmp_path_factory.mktemp("debian12") / "root"
    run("debootstrap", "--variant=minbase", f"--include={CHROOT_INCLUDES}", f"--unpack-tarball={debootstrap_tarball()}",
        "bookworm", root, MIRROR)
    chroot = Chroot(root)
    chroot.before = tree(root)
    shutil.copy(packages["amd64"], root / "tmp" / packages["amd64"].name)
    chroot.install = chroot.run("dpkg", "-i", "/tmp/" + packages["amd64"].name, check=False)
    yield chroot
    shutil.rmtree(root.parent, ignore_errors=True)  # about 250 MB; nothing is mounted in it


def test_dpkg_installs_it_in_a_fresh_debian_12(installed, packages):
    assert installed.install.returncode == 0, installed.install.stdout + installed.install.stderr
    status = installed.run("dpkg-query", "-W", "-f=${Status} ${Version} ${Conffiles}", "scep-agent").stdout
    assert status.startswith("install ok installed " + package_version(packages["amd64"])), status
    assert CONFIG in status, f"{CONFIG} is not a conffile: {status}"
    modes = {path: installed.path(path).stat().st_mode & 0o7777 for path in
             ("/usr/sbin/scep-agent", "/var/lib/scep-agent", CONFIG, "/" + UNIT)}
    assert modes == {"/usr/sbin/scep-agent": 0o755, "/var/lib/scep-agent": 0o700, CONFIG: 0o644, "/" + UNIT: 0o644}
    # Installed, not enabled (and nothing can have started in a chroot without systemd running).
    assert installed.run("systemctl", "is-enabled", "scep-agent.service", check=False).stdout.strip() == "disabled"


def test_installed_binary_runs_and_checks_the_default_config(installed, packages):
    version = installed.run("scep-agent", "version")
    assert version.stdout.strip() == "scep-agent " + package_version(packages["amd64"])
    # The default config pins no CA yet: the daemon must not start on it, and says where and why.
    default = installed.run("scep-agent", "check-config", "--config", CONFIG, check=False)
    assert default.returncode == ExitCode.config, default.stdout + default.stderr
    assert f"{CONFIG}:1: no [cert NAME] section" in default.stderr
    # Its commented example is a valid [cert] once a user uncomments it.
    example = re.sub(r"^#(\[cert |[a-z_]+ = )", r"\1", installed.path(CONFIG).read_text(), flags=re.M)
    installed.path("/tmp/uncommented.conf").write_text(example)
    checked = installed.run("scep-agent", "check-config", "--config", "/tmp/uncommented.conf", check=False)
    assert checked.returncode == 0 and "[cert wifi]" in checked.stdout, checked.stdout + checked.stderr


def test_systemd_analyze_verify_accepts_the_installed_unit(installed):
    result = installed.run("systemd-analyze", "verify", "--man=no", "/" + UNIT, check=False)
    assert result.returncode == 0 and result.stderr == "", result.stdout + result.stderr


def rendered(page, device="ascii"):
    """groff's text of a man page, and its warnings (-ww: all of them)."""
    source = gzip.decompress(page.read_bytes()).decode()
    result = subprocess.run(["groff", "-ww", "-man", f"-T{device}", "-P-cbou"], input=source, capture_output=True,
                            text=True)
    return result.stdout, result.stderr


def test_man_pages_render_without_warnings(installed):
    require("man", "groff")
    for page in ("/usr/share/man/man8/scep-agent.8.gz", "/usr/share/man/man5/scep-agent.conf.5.gz"):
        text, warnings = rendered(installed.path(page), "utf8")
        assert warnings == "" and "NAME" in text, f"groff -ww on {page}:\n{warnings}"
        shown = subprocess.run(["man", "-l", str(installed.path(page))], capture_output=True, text=True,
                               env={**os.environ, "MANROFFOPT": "-ww", "MANWIDTH": "80", "LC_ALL": "C.UTF-8"})
        assert shown.returncode == 0 and shown.stderr == "", f"man -l {page}:\n{shown.stderr}"


def test_man_pages_hold_every_command_option_exit_code_and_key(installed):
    require("groff")
    page, _ = rendered(installed.path("/usr/share/man/man8/scep-agent.8.gz"))
    overview = installed.run("scep-agent", "--help").stdout
    commands = re.findall(r"^\s+([a-z][a-z0-9-]*)\s{2,}\S", overview.split("commands:", 1)[1].split("\n\n", 1)[0], re.M)
    assert len(commands) >= 10, overview
    # ASCII rendering: each command is a subsection header indented by three spaces.
    parts = re.split(r"^   ([a-z][a-z0-9-]*)$", page.split("\nCOMMANDS\n", 1)[1].split("\nEXIT STATUS\n", 1)[0], flags=re.M)
    sections = dict(zip(parts[1::2], parts[2::2]))
    assert sorted(sections) == sorted(commands), f"scep-agent(8) documents {sorted(sections)}, --help lists {commands}"
    for command in commands:
        options = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", installed.run("scep-agent", "help", command).stdout))
        missing = sorted(option for option in options if option not in sections[command])
        assert not missing, f"scep-agent(8) lacks {missing} of {command}"
    for code in range(11):
        assert re.search(rf"^       {code} \(", page, re.M), f"scep-agent(8) lacks exit code {code}"
    config_page, _ = rendered(installed.path("/usr/share/man/man5/scep-agent.conf.5.gz"))
    keys = re.findall(r"^\| `([a-z_]+)`", (ROOT / "docs" / "config.md").read_text(), re.M)
    assert len(keys) >= 20
    missing = sorted(key for key in keys if not re.search(rf"^       {key}\b", config_page, re.M))
    assert not missing, f"scep-agent.conf(5) lacks {missing}"


def test_lintian_reports_no_errors_or_warnings(packages):
    """Each warning the packages keep is overridden with its reason in dist/debian/lintian-overrides."""
    require("lintian")
    result = run("lintian", "--info", "--pedantic", *packages.values(), check=False, timeout=300)
    print(result.stdout)
    problems = [line for line in result.stdout.splitlines() if line.startswith(("E:", "W:"))]
    assert problems == [] and result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("arch", ["arm64", "armhf"])
def test_arm_package_info_and_contents(arch, packages):
    deb = packages[arch]
    info = run("dpkg-deb", "--info", deb).stdout
    fields = dict(re.findall(r"^ ([A-Z][\w-]+): (.*)$", info, re.M))
    assert fields["Package"] == "scep-agent" and fields["Architecture"] == arch, info
    assert fields["Version"] == package_version(deb)
    assert re.fullmatch(r"libc6 \(>= 2\.\d+\)", fields["Depends"]), f"{arch} Depends: {fields['Depends']}"
    for script in ("postinst", "prerm", "postrm", "conffiles"):
        assert re.search(rf"^\s+\d+ bytes,\s+\d+ lines\s+\*?\s+{script}\b", info, re.M), f"{arch} has no {script}:\n{info}"
    listing = {}
    for line in run("dpkg-deb", "--contents", deb).stdout.splitlines():
        mode, owner, _size, _date, _time, path = line.split(None, 5)
        listing[path.removeprefix("./")] = (mode, owner)
    expected = {
        "usr/sbin/scep-agent": "-rwxr-xr-x",
        UNIT: "-rw-r--r--",
        CONFIG.lstrip("/"): "-rw-r--r--",
        "var/lib/scep-agent/": "drwx------",
        "usr/share/man/man8/scep-agent.8.gz": "-rw-r--r--",
        "usr/share/man/man5/scep-agent.conf.5.gz": "-rw-r--r--",
        "usr/share/doc/scep-agent/copyright": "-rw-r--r--",
    }
    expected.update({f"usr/share/scep-agent/{board.relative_to(ROOT)}": "-rw-r--r--"
                     for board in ROOT.glob("boards/*/scep-agent.conf")})
    for path, mode in expected.items():
        assert listing.get(path) == (mode, "root/root"), f"{arch}: {path} is {listing.get(path)}, expected {mode} root/root"
    amd64_paths = {line.split(None, 5)[5] for line in run("dpkg-deb", "--contents", packages["amd64"]).stdout.splitlines()}
    assert set(f"./{path}" for path in listing) == amd64_paths, "the three packages hold different files"


@pytest.mark.parametrize("arch", ["arm64", "armhf"])
def test_packaged_arm_binary_enrolls_under_qemu(arch, packages, ca, tmp_path):
    unpacked = tmp_path / "unpacked"
    run("dpkg-deb", "-x", packages[arch], unpacked)
    binary = unpacked / "usr" / "sbin" / "scep-agent"
    agent = Agent(binary, tmp_path, prefix=FIRMWARE_ARCHES[FIRMWARE_ARCH[arch]][1])
    assert agent.run("version").stdout.strip() == "scep-agent " + package_version(packages[arch])
    challenge = tmp_path / "challenge"
    challenge.write_text(ca.challenge + "\n")
    result = agent.run("enroll", "--url", ca.url, "--ca-fingerprint", ca.ca_fingerprint_sha256,
                       "--subject", f"CN=deb-{arch},O=Example", "--challenge-file", challenge, "--key", tmp_path / "key.pem",
                       "--cert", tmp_path / "cert.pem", "--chain", tmp_path / "chain.pem", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    verify = run("openssl", "verify", "-CAfile", ca.ca_cert_pem_path, tmp_path / "cert.pem", check=False)
    assert verify.returncode == 0 and verify.stdout.strip().endswith("OK"), verify.stdout + verify.stderr
    key_pub = run("openssl", "pkey", "-in", tmp_path / "key.pem", "-pubout").stdout
    cert_pub = run("openssl", "x509", "-in", tmp_path / "cert.pem", "-noout", "-pubkey").stdout
    assert key_pub == cert_pub


def test_remove_keeps_config_and_state_purge_leaves_only_what_the_user_made(installed, packages):
    """Runs last: it removes the package from the chroot the tests above share."""
    chroot = installed
    # What a user does: enable the unit, keep a challenge and a key beside the config, edit the config; the
    # daemon leaves state.
    chroot.run("systemctl", "enable", "scep-agent.service")
    link = chroot.path("/etc/systemd/system/multi-user.target.wants/scep-agent.service")
    assert link.is_symlink()
    # The site's own copy of the unit (README's install by hand), enabled for another target: the purge must
    # tell that link, which names the same unit, from the one to the packaged unit.
    site_unit = "/etc/systemd/system/scep-agent.service"
    user_files = {"/etc/scep-agent/wifi.challenge": "challenge\n", "/etc/ssl/private/wifi.key": "key\n",
                  site_unit: chroot.path("/" + UNIT).read_text()}
    for path, content in user_files.items():
        chroot.path(path).parent.mkdir(parents=True, exist_ok=True)
        chroot.path(path).write_text(content)
    site_link = chroot.path("/etc/systemd/system/timers.target.wants/scep-agent.service")
    site_link.symlink_to(site_unit)
    chroot.path(CONFIG).write_text(chroot.path(CONFIG).read_text() + "# edited by the site\n")
    chroot.path("/var/lib/scep-agent/wifi.state").write_text("state\n")

    # A reinstall (an upgrade that ships the same config) keeps the edited conffile.
    chroot.run("dpkg", "-i", "/tmp/" + packages["amd64"].name)
    assert chroot.path(CONFIG).read_text().endswith("# edited by the site\n")

    chroot.run("dpkg", "--remove", "scep-agent")
    assert not chroot.path("/usr/sbin/scep-agent").exists() and not chroot.path("/" + UNIT).exists()
    assert chroot.path(CONFIG).exists() and chroot.path("/var/lib/scep-agent/wifi.state").exists() and link.is_symlink()

    chroot.run("dpkg", "--purge", "scep-agent")
    left = tree(chroot.root) - chroot.before
    made_by_user = set()
    for path in user_files:
        made_by_user.add(path.lstrip("/"))
        made_by_user.update(str(parent) + "/" for parent in pathlib.PurePath(path.lstrip("/")).parents
                            if str(parent) != "." and str(parent) + "/" not in chroot.before)
    made_by_user.add(str(site_link.relative_to(chroot.root)))
    assert left == made_by_user, f"purge left {sorted(left - made_by_user)}, removed {sorted(made_by_user - left)}"
    assert chroot.before - tree(chroot.root) == set(), "purge removed something the package did not install"
    for path, content in user_files.items():
        assert chroot.path(path).read_text() == content
    # dpkg removes a conffile on purge even when edited: the edit is the site's configuration of this package.
    assert not chroot.path(CONFIG).exists() and not link.is_symlink() and not chroot.path("/var/lib/scep-agent").exists()
    assert os.readlink(site_link) == site_unit
