"""Board profiles (boards/*/scep-agent.conf, format docs/config.md): the [board] section names a real
toolchain file and a supported arch, and each built scep-agent accepts the file with `check-config`
(that check turns itself on once the binary's --help lists check-config)."""
import configparser
import re
import subprocess

import pytest

from conftest import BINARIES, ROOT

BOARDS = sorted((ROOT / "boards").glob("*/scep-agent.conf"))
ARCHES = {"aarch64", "armhf", "x86_64"}


def read_profile(path):
    """The profile as sections of key/value pairs; inline '#' comments (outside quotes) dropped."""
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=None, comment_prefixes=("#",))
    text = "\n".join(re.sub(r'\s+#(?=(?:[^"]*"[^"]*")*[^"]*$).*$', "", line) for line in path.read_text().splitlines())
    parser.read_string(text, source=str(path))
    return parser


def test_there_are_board_profiles():
    names = {path.parent.name for path in BOARDS}
    assert {"raspberrypi4", "beaglebone-black", "generic-x86_64"} <= names


@pytest.mark.parametrize("profile", BOARDS, ids=lambda path: path.parent.name)
def test_board_section(profile):
    config = read_profile(profile)
    board = config["board"]
    for key in ("name", "arch", "toolchain", "key_backend", "notes"):
        assert board.get(key), f"{profile}: [board] {key} missing"
    assert board["arch"] in ARCHES
    assert board["key_backend"] in {"file", "pkcs11", "tpm"}
    toolchain = ROOT / board["toolchain"]
    assert toolchain.is_file(), f"{profile}: toolchain {toolchain} does not exist"
    assert config["agent"].get("state_dir", "").startswith("/")
    wifi = config["cert wifi"]
    assert re.fullmatch(r"[0-9a-fA-F]{64}", wifi["ca_fingerprint"].replace(":", ""))
    assert wifi["url"].startswith(("http://", "https://"))
    assert wifi["post_renew"].startswith("/usr/sbin/wpa_cli -i ") and wifi["post_renew"].endswith(" reconfigure")
    for key in ("subject", "key", "cert", "chain", "ca"):
        assert wifi.get(key), f"{profile}: [cert wifi] {key} missing"


def has_check_config(binary):
    try:
        result = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=30)
    except OSError:
        return False
    return "check-config" in result.stdout + result.stderr


def binary_params():
    """One param per binary under test, skipped (skipif) while its --help does not list check-config."""
    params = []
    for name in sorted(BINARIES):
        binary = BINARIES[name]
        params.append(pytest.param(binary, id=name, marks=pytest.mark.skipif(
            not has_check_config(binary),
            reason=f"{name}: {binary} has no check-config command yet (its --help does not list it)")))
    return params


@pytest.mark.parametrize("profile", BOARDS, ids=lambda path: path.parent.name)
@pytest.mark.parametrize("binary", binary_params())
def test_check_config_accepts_the_profile(binary, profile):
    result = subprocess.run([str(binary), "check-config", "--config", str(profile)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
