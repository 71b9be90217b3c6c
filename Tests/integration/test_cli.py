"""The first hour of a new user: every option documented, every mistake explained once, with the exit
code README promises. Each case checks the exit code, that the message appears exactly once (stdout and
stderr together) and what it says."""
import pathlib
import re

import pytest

from conftest import ROOT, write_agent_config
from helpers import ExitCode
from hostile_ca import HostileCA
from scepca import ScepCA

SOURCES = ROOT / "Sources" / "scep-agent"
README = (ROOT / "README.md").read_text()
# Every option name the executable's sources spell: what dispatch could accept, found without the table.
# --help is answered before dispatch, for every command (the overview says so).
OPTIONS = sorted(set(re.findall(r'"(--[a-z0-9][a-z0-9-]*)"', "".join(p.read_text() for p in SOURCES.glob("*.swift")))) - {"--help"})
COMMANDS = re.findall(r'name: "([a-z-]+)"', (SOURCES / "CommandTable.swift").read_text())


def once(result, *fragments):
    """Each fragment appears exactly once in everything the command printed."""
    text = result.stdout + result.stderr
    for fragment in fragments:
        assert text.count(fragment) == 1, f"{fragment!r} appears {text.count(fragment)} times in:\n{text}"


def accepts(agent, command, option):
    """Whether `command` takes `option`: anything but 'unknown option' (it then fails on what is missing)."""
    result = agent.run(command, option)
    return "unknown option " + option not in result.stderr


# ---- help: one table behind dispatch, --help and the overview

def test_the_overview_lists_every_command_of_the_table(agent):
    overview = agent.run("--help")
    assert overview.returncode == 0
    assert COMMANDS and all(re.search(r"^  " + re.escape(name) + r" ", overview.stdout, re.M) for name in COMMANDS)
    unknown = agent.run("help", "nosuch")
    assert unknown.returncode == ExitCode.usage
    once(unknown, "no command 'nosuch'")


@pytest.mark.parametrize("option", OPTIONS)
def test_each_accepted_option_is_in_that_commands_help_and_in_readme(agent, option):
    takers = [command for command in COMMANDS if accepts(agent, command, option)]
    for command in takers:
        helped = agent.run(command, "--help")
        assert helped.returncode == 0 and re.search(r"^  " + re.escape(option) + r"\b", helped.stdout, re.M), \
            f"'{command}' accepts {option} but its --help does not document it"
    if takers:
        assert option in README, f"{option} (accepted by {', '.join(takers)}) is not in README"


def test_overview_exit_codes_are_readmes_table(agent):
    overview = agent.run("--help").stdout
    printed = re.findall(r"^ +(\d+)  ([a-z-]+) ", overview.split("exit codes:")[1], re.M)
    documented = re.findall(r"^\| (\d+) \| `([a-z-]+)` \|", README.split("## Exit codes")[1], re.M)
    assert printed and printed == documented


def test_the_suites_exit_code_names_are_the_binarys(agent):
    """helpers.ExitCode is read from ExitCode.swift: the binary under test prints the same numbers, so a
    name in a suite means what the binary returns (a stale binary or a misread enum fails here)."""
    overview = agent.run("--help").stdout
    printed = [int(number) for number in re.findall(r"^ +(\d+)  [a-z-]+ ", overview.split("exit codes:")[1], re.M)]
    assert printed == [code.value for code in ExitCode], [(code.name, code.value) for code in ExitCode]


def test_help_shows_defaults(agent):
    text = agent.run("enroll", "--help").stdout
    for line in ("--timeout SECONDS", "--connect-timeout SECONDS", "--poll-interval SECONDS", "--max-poll-time SECONDS", "--key-type TYPE"):
        assert re.search(re.escape(line) + r".*\(default [^)]+\)", text), line


# ---- renew-now and the config commands

@pytest.fixture
def config(agent, ca):
    """A config whose [cert wifi] has nothing installed and no challenge_file."""
    path = write_agent_config(agent.path("agent.conf"), ca, state_dir=agent.path("state"), challenge_file=agent.path("challenge"),
                              key=agent.path("key.pem"), cert=agent.path("cert.pem"), chain=agent.path("chain.pem"))
    path.write_text("\n".join(line for line in path.read_text().splitlines() if not line.startswith("challenge_file")) + "\n")
    return path


def test_renew_now_with_nothing_to_enroll_with_is_a_config_error(agent, config, ca):
    result = agent.run("renew-now", "--config", config)
    assert result.returncode == ExitCode.config, result.stderr
    once(result, "no challenge_file is configured", "add challenge_file to [cert wifi]")
    assert "FAILURE" not in result.stderr and "no CA was contacted" in result.stderr


@pytest.mark.parametrize("command", ["renew-now", "wpa-config"])
def test_no_such_name_exits_3(agent, config, command):
    result = agent.run(command, "--config", config, "--name", "nosuch")
    assert result.returncode == ExitCode.config, result.stderr
    once(result, "[cert nosuch]")


def test_check_config_reports_every_error_in_file_order(agent, tmp_path):
    path = tmp_path / "five.conf"
    path.write_text("[agent]\nstate_dir = relative\n\n[cert wifi]\nurl = ftp://ca\ninsecure_skip_ca_pin = yes\nsubject = XX=1\n"
                    "key = key.pem\ncert = /tmp/cert.pem\nrenew_at = 2\ncolour = blue\n")
    result = agent.run("check-config", "--config", path)
    assert result.returncode == ExitCode.config
    lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert [re.search(r"five.conf:(\d+):", line).group(1) for line in lines] == ["2", "5", "7", "8", "10", "11"], result.stderr
    for key in ("state_dir", "url", "subject", "key", "renew_at", "colour"):
        once(result, f"key '{key}'")


def config_with_key(tmp_path, key):
    """A config file whose [cert wifi] has `key` on line 5."""
    path = tmp_path / "token.conf"
    path.write_text("[cert wifi]\nurl = http://127.0.0.1:1/scep\ninsecure_skip_ca_pin = yes\nsubject = CN=gw\n"
                    f"key = {key}\ncert = {tmp_path}/cert.pem\n")
    return path


# A key URI check-config let through used to fail only at the first renewal, hours later: check-config
# reads `key` with the parser enroll and renew use (case-insensitive scheme, every RFC 7512 rule).
@pytest.mark.parametrize("uri, problem", [
    ("pkcs11:object=a;object=b", "gives attribute object more than once"),
    ("PKCS11:id=%zz", "attribute id has a % not followed by two hex digits"),
    ("pkcs11:token=gw;object=k?pin-source=/p&pin-value=1234", "gives both pin-source and pin-value"),
])
def test_check_config_refuses_a_key_uri_the_agent_cannot_use(agent, tmp_path, uri, problem):
    path = config_with_key(tmp_path, uri)
    result = agent.run("check-config", "--config", path)
    assert result.returncode == ExitCode.config, result.stdout + result.stderr
    once(result, f"{path}:5: key 'key': PKCS#11 URI {problem}")
    assert "1234" not in result.stdout + result.stderr, "a PIN in the URI is never printed"


def test_check_config_takes_a_key_uri_in_any_case_like_enroll(agent, tmp_path):
    path = config_with_key(tmp_path, f"PKCS11:token=gw;object=k?pin-source={tmp_path}/pin")
    result = agent.run("check-config", "--config", path)
    assert result.returncode == 0, result.stdout + result.stderr
    once(result, f"{path}: OK")


@pytest.mark.parametrize("command", ["run", "check-config", "status", "renew-now"])
def test_config_file_errors_name_the_option(agent, command):
    result = agent.run(command, "--config", "/nonexistent/agent.conf")
    assert result.returncode == ExitCode.file
    once(result, "config file (--config): open /nonexistent/agent.conf")


def test_run_with_a_bad_config_exits_3_once(agent, tmp_path):
    path = tmp_path / "bad.conf"
    path.write_text("[cert wifi]\nurl = http://127.0.0.1:1/scep\n")
    result = agent.run("run", "--config", path)
    assert result.returncode == ExitCode.config
    once(result, "key 'ca_fingerprint'")


def test_daemon_challenge_file_error_names_its_key(agent, ca):
    path = write_agent_config(agent.path("agent.conf"), ca, state_dir=agent.path("state"), challenge_file="/nonexistent/challenge",
                              key=agent.path("key.pem"), cert=agent.path("cert.pem"), chain=agent.path("chain.pem"))
    result = agent.run("renew-now", "--config", path)
    assert result.returncode == ExitCode.file, result.stderr
    once(result, "challenge file (challenge_file in [cert wifi]): open /nonexistent/challenge")


# ---- one-shot commands

def enroll_args(agent, ca, *extra, challenge=None):
    pw = agent.path("pw")
    pw.write_text((challenge or ca.challenge) + "\n")
    return ("enroll", "--url", ca.url, "--ca-fingerprint", ca.ca_fingerprint_sha256, "--subject", "CN=gw-cli,O=Example",
            "--challenge-file", pw, "--key", agent.path("key.pem"), "--cert", agent.path("cert.pem"), *extra)


def test_getcaps_on_a_wrong_path_exits_4_with_a_hint(agent, ca):
    wrong = ca.url.replace("/scep", "/scpe")
    result = agent.run("getcaps", "--url", wrong)
    assert result.returncode == ExitCode.transport, result.stdout + result.stderr
    once(result, "GetCACaps at " + wrong + " answered HTTP 404", "is the URL's path right?")
    assert "legacy" not in result.stderr


def test_enroll_on_a_wrong_path_is_no_legacy_server(agent, ca):
    wrong = ca.url.replace("/scep", "/scpe")
    args = list(enroll_args(agent, ca))
    args[args.index(ca.url)] = wrong
    result = agent.run(*args)
    assert result.returncode == ExitCode.transport
    once(result, "answered HTTP 404", "is the URL's path right?")
    assert "legacy" not in result.stderr and not agent.path("key.pem").exists()


def test_legacy_server_without_getcacaps_still_enrolls(agent, tmp_path):
    # GetCACaps refused but GetCACert works at the same URL: a legacy server (3DES, SHA-1), with a warning.
    with HostileCA(tmp_path / "legacy") as legacy:
        legacy.misbehave("http-500", on=["GetCACaps"])
        result = agent.run(*enroll_args(agent, legacy))
    assert result.returncode == 0, result.stderr
    once(result, "treating it as a legacy server")


def test_wrong_challenge_names_the_likely_causes(agent, ca):
    result = agent.run(*enroll_args(agent, ca, challenge="not-the-challenge"))
    assert result.returncode == ExitCode.serverFailure
    once(result, "failInfo badRequest", "a wrong challenge password", "will not issue twice", "a key type it refuses")


def test_a_dn_issued_already_gets_the_same_hint(agent, tmp_path):
    with ScepCA(tmp_path / "strict") as strict:  # scepserver's default -allowrenew 14: one valid certificate per DN
        assert agent.run(*enroll_args(agent, strict)).returncode == 0
        for name in ("key.pem", "cert.pem"):
            agent.path(name).unlink()
        result = agent.run(*enroll_args(agent, strict))
    assert result.returncode == ExitCode.serverFailure
    once(result, "will not issue twice")


def test_json_failure_is_reported_once(agent, ca):
    result = agent.run(*enroll_args(agent, ca, "--json", challenge="not-the-challenge"))
    assert result.returncode == ExitCode.serverFailure
    assert result.stdout.count("\n") == 1 and f'"exitCode":{int(ExitCode.serverFailure)}' in result.stdout
    once(result, "PKCSReq refused by the CA")


@pytest.mark.parametrize("role,args", [
    ("challenge file (--challenge-file): open /nonexistent/pw", ["--challenge-file", "/nonexistent/pw"]),
    ("key (--key): access /nonexistent", ["--key", "/nonexistent/key.pem"]),
    ("certificate (--cert): access /nonexistent", ["--cert", "/nonexistent/cert.pem"]),
], ids=["challenge", "key", "cert"])
def test_enroll_file_errors_name_role_and_option(agent, ca, role, args):
    base = list(enroll_args(agent, ca))
    for name, value in zip(args[::2], args[1::2]):
        base[base.index(name) + 1] = value
    result = agent.run(*base)
    assert result.returncode == ExitCode.file, result.stderr
    once(result, role)


def test_renew_file_errors_name_role_and_option(agent, ca):
    result = agent.run("renew", "--url", ca.url, "--ca-fingerprint", ca.ca_fingerprint_sha256,
                       "--key", agent.path("missing-key.pem"), "--cert", agent.path("cert.pem"))
    assert result.returncode == ExitCode.file
    once(result, "key (--key): open ")


def test_pin_file_error_names_the_option(agent):
    result = agent.run("csr", "--subject", "CN=x", "--key", "pkcs11:token=t;object=k", "--pin-file", "/nonexistent/pin",
                       "--out", agent.path("req.pem"))
    assert result.returncode == ExitCode.file, result.stderr
    once(result, "PIN file (--pin-file): open /nonexistent/pin")


def test_csr_says_what_it_wrote(agent):
    result = agent.run("csr", "--subject", "CN=gw-cli,O=Example", "--key", agent.path("k.pem"), "--out", agent.path("r.pem"))
    assert result.returncode == 0
    once(result, "r.pem", "k.pem (new, mode 0600)")


# ---- --quiet keeps security warnings; progress with --verbose

@pytest.mark.parametrize("flag,warning", [
    (["--insecure-skip-ca-pin"], "INSECURE: --insecure-skip-ca-pin"),
    (["--challenge", "secret-in-argv"], "--challenge puts the challenge password in argv"),
])
def test_quiet_still_prints_security_warnings(agent, flag, warning):
    args = ["enroll", "--url", "http://127.0.0.1:1/scep", "--subject", "CN=x", "--key", agent.path("k.pem"),
            "--cert", agent.path("c.pem"), "--quiet", *flag]
    if "--insecure-skip-ca-pin" not in flag:
        args += ["--insecure-skip-ca-pin"]
    result = agent.run(*args)
    assert result.returncode == ExitCode.transport
    once(result, warning)
    assert "secret-in-argv" not in result.stdout + result.stderr


def test_key_generation_progress_only_when_asked(agent):
    quiet = agent.run("csr", "--subject", "CN=x", "--key", agent.path("a.pem"), "--out", agent.path("a.csr"))
    assert "generating" not in quiet.stderr, "stderr is no terminal here: no progress without --verbose"
    verbose = agent.run("csr", "--subject", "CN=x", "--key", agent.path("b.pem"), "--out", agent.path("b.csr"), "--verbose")
    once(verbose, "generating rsa:2048 key...")


def test_pending_polls_show_progress(agent, tmp_path):
    with HostileCA(tmp_path / "pending") as pending:
        pending.misbehave("pending")
        result = agent.run(*enroll_args(agent, pending, "--poll-interval", "1", "--max-poll-time", "1", "--verbose"))
    assert result.returncode == ExitCode.pending
    once(result, "waiting for approval: poll 1, next in 1 s, gives up in 1 s", "still PENDING")
