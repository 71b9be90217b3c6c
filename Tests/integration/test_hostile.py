"""scep-agent against a SCEP server that lies, stalls and cheats (hostile_ca.py, on 127.0.0.1 only).

Every case first installs a good set from the well-behaved server, then runs `renew` (and `enroll`
into a fresh directory) against one misbehaviour: it must end with the documented exit code and a
clear message, leave the installed files byte-identical and leave no temporaries (a PENDING request's
key in `.KEY.scep-pending` is the documented exception). Cases that must succeed (chunked, BER,
NDES-style RA certificates, each content cipher) are judged by OpenSSL.

With HOSTILE_REPORT=FILE, the outcome of every case is written there as Markdown table rows (the
README's hostile-server table is made from it)."""
import os
import pathlib
import time

import pytest

from conftest import files_snapshot, write_agent_config
from helpers import ExitCode, openssl_text
from hostile_ca import HostileCA

TEMPORARY_MARKERS = (".scep-new", ".scep-install", ".scep-pending", ".tmp")

_REPORT = []


@pytest.fixture(scope="module", autouse=True)
def report_file():
    yield
    path = os.environ.get("HOSTILE_REPORT")
    if path and _REPORT:
        with open(path, "a") as out:
            for row in _REPORT:
                out.write("| " + " | ".join(row) + " |\n")


def record(case, result, intact, binary):
    message = next((line.split("error: ", 1)[1] for line in result.stderr.splitlines() if "error: " in line), "issued")
    _REPORT.append(("/".join(binary.parts[-4:]), case, str(result.returncode), message[:160],
                    "yes" if intact else "NO"))


class Device:
    """One set of key, certificate and chain in its own directory, enrolled and renewed by the agent."""

    def __init__(self, agent, ca, name="device"):
        self.agent, self.ca = agent, ca
        self.timeout = "5"
        self.dir = agent.workdir / name
        self.dir.mkdir(exist_ok=True)
        self.challenge = agent.workdir / "challenge"
        self.challenge.write_text(ca.challenge + "\n")

    def path(self, name):
        return self.dir / name

    def common(self):
        return ["--url", self.ca.url, "--ca-fingerprint", self.ca.ca_fingerprint_sha256, "--key", self.path("key.pem"),
                "--cert", self.path("cert.pem"), "--chain", self.path("chain.pem"), "--timeout", self.timeout, "--connect-timeout", "2"]

    def enroll(self, *extra):
        return self.agent.run("enroll", *self.common(), "--subject", "CN=gw-hostile,O=Example", "--san", "dns:gw-hostile.example.net",
                              "--challenge-file", self.challenge, *extra, timeout=60)

    def renew(self, *extra):
        return self.agent.run("renew", *self.common(), *extra, timeout=60)

    def snapshot(self):
        return files_snapshot(self.dir)

    def installed(self):
        """The snapshot without a PENDING request's key (the documented exception)."""
        return {name: value for name, value in self.snapshot().items() if not name.endswith(".scep-pending")}

    def temporaries(self):
        return sorted(entry.name for entry in self.dir.iterdir() if entry.name.endswith(TEMPORARY_MARKERS))

    def assert_valid(self):
        key, cert, chain = self.path("key.pem"), self.path("cert.pem"), self.path("chain.pem")
        assert oct(key.stat().st_mode & 0o777) == "0o600"
        assert openssl_text("verify", "-CAfile", self.ca.ca_cert_pem_path, cert).strip().endswith("OK")
        assert openssl_text("verify", "-CAfile", chain, cert).strip().endswith("OK")
        assert openssl_text("pkey", "-in", key, "-pubout") == openssl_text("x509", "-in", cert, "-noout", "-pubkey")


def installed_device(agent, ca):
    device = Device(agent, ca)
    result = device.enroll()
    assert result.returncode == ExitCode.ok, result.stderr
    device.assert_valid()
    return device


def expect_refusal(agent, ca, case, mode, exit_code, fragment, on=None, renew_args=(), fresh=True, **enroll_kw):
    """Enroll well, then renew (and enroll afresh) against `mode`: exit code, message, nothing touched."""
    device = installed_device(agent, ca)
    before = device.snapshot()
    ca.misbehave(mode, on=on)
    started = time.monotonic()
    result = device.renew(*renew_args)
    elapsed = time.monotonic() - started
    intact = device.snapshot() == before and not device.temporaries()
    record(case + " (renew)", result, intact, agent.binary)
    assert result.returncode == exit_code, result.stdout + result.stderr
    assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "Fatal error" not in result.stderr
    assert device.snapshot() == before, "a refused renewal must not touch the installed files"
    assert device.temporaries() == []
    if fresh:
        other = Device(agent, ca, "fresh")
        result = other.enroll()
        record(case + " (enroll)", result, not any(other.dir.iterdir()), agent.binary)
        assert result.returncode == exit_code, result.stdout + result.stderr
        assert fragment in result.stderr, result.stderr
        assert list(other.dir.iterdir()) == [], "a refused enrollment leaves nothing behind"
    return elapsed


@pytest.fixture
def hostile(tmp_path):
    with HostileCA(tmp_path / "ca") as ca:
        yield ca


@pytest.fixture
def ndes(tmp_path):
    with HostileCA(tmp_path / "ndes", ra=True) as ca:
        yield ca


# ---- the CertRep lies: exit 7 (verification-failed)

VERIFY_CASES = [
    ("CertRep signed by an unrelated key", "rogue-signer", "neither the pinned CA nor one of its RAs"),
    ("CertRep signed by another key under the CA's issuer and serial", "rogue-signer-same-name", "signature does not verify"),
    ("wrong transactionID", "wrong-transaction-id", "is not ours"),
    ("wrong recipientNonce", "wrong-recipient-nonce", "does not echo our senderNonce"),
    ("no recipientNonce", "missing-recipient-nonce", "has no recipientNonce"),
    ("certificate for a key that is not ours", "foreign-key", "none carries our public key"),
    ("certificate from another CA with the pinned CA's name", "other-ca", "does not chain to the pinned CA"),
    ("expired certificate", "expired", "the CA issued a certificate that expired at"),
]


@pytest.mark.parametrize("case,mode,fragment", VERIFY_CASES, ids=[case[1] for case in VERIFY_CASES])
def test_certrep_lies_are_refused(agent, hostile, case, mode, fragment):
    expect_refusal(agent, hostile, case, mode, ExitCode.verification, fragment)


def test_replayed_certrep_is_refused(agent, hostile):
    # The earlier transaction's SUCCESS reply, byte for byte: every transaction has a new transactionID...
    expect_refusal(agent, hostile, "CertRep replayed from an earlier transaction", "replay", ExitCode.verification, "is not ours", fresh=False)


def test_replayed_certrep_for_the_same_key_is_refused(agent, hostile):
    # ...with --reuse-key too (it is random, not derived from the key); a reply whose transactionID
    # matches but whose recipientNonce does not is the wrong-recipient-nonce case.
    expect_refusal(agent, hostile, "CertRep replayed, same key (--reuse-key)", "replay", ExitCode.verification, "is not ours",
                   renew_args=["--reuse-key"], fresh=False)


def test_ndes_certrep_signed_by_the_encryption_only_ra_is_refused(agent, ndes):
    expect_refusal(agent, ndes, "NDES: CertRep signed by the keyEncipherment-only RA", "wrong-ra-signs", ExitCode.verification,
                   "neither the pinned CA nor one of its RAs")


# ---- the server refuses or speaks nonsense

def test_failure_with_failinfo(agent, hostile):
    expect_refusal(agent, hostile, "FAILURE with failInfo badCertId", "failure", ExitCode.serverFailure, "failInfo badCertId")


@pytest.mark.parametrize("mode", ["unknown-message-type", "request-message-type"])
def test_reply_that_is_not_a_certrep(agent, hostile, mode):
    expect_refusal(agent, hostile, f"reply with messageType {'99' if mode.startswith('unknown') else '19'}", mode, ExitCode.badReply,
                   "expected 3 (CertRep)")


def test_garbage_instead_of_pkcs7(agent, hostile):
    expect_refusal(agent, hostile, "random bytes instead of PKCS#7", "garbage", ExitCode.badReply,
                   "PKIOperation reply from " + hostile.url + " is not a PKCS#7 CertRep", on=["PKIOperation"])


@pytest.mark.parametrize("operation,fragment", [
    ("GetCACaps", "GetCACaps reply from {url} is not a capability list (one keyword per line) (Content-Type text/html"),
    ("GetCACert", "GetCACert reply from {url} is not a DER certificate or a PKCS#7 certificate chain (Content-Type text/html"),
    ("PKIOperation", "PKIOperation reply from {url} is not a PKCS#7 CertRep (Content-Type text/html"),
])
def test_html_page_with_wrong_content_type(agent, hostile, operation, fragment):
    expect_refusal(agent, hostile, f"{operation}: HTML page, Content-Type text/html", "html", ExitCode.badReply,
                   fragment.format(url=hostile.url), on=[operation])


def test_correct_body_under_a_wrong_content_type_is_accepted_with_a_warning(agent, hostile):
    device = installed_device(agent, hostile)
    hostile.misbehave("wrong-content-type", on=["GetCACert", "PKIOperation"])
    result = device.renew()
    record("GetCACert and PKIOperation: correct body labelled text/html", result, True, agent.binary)
    assert result.returncode == ExitCode.ok, result.stderr
    assert "GetCACert reply has Content-Type text/html" in result.stderr
    assert "PKIOperation reply has Content-Type text/html" in result.stderr
    device.assert_valid()


def test_http_500(agent, hostile):
    expect_refusal(agent, hostile, "PKIOperation: HTTP 500", "http-500", ExitCode.transport, "answered HTTP 500 Internal Server Error: internal trouble",
                   on=["PKIOperation"])


# ---- HTTP framing and time: exit 4 (transport-error)

@pytest.mark.parametrize("operation", ["GetCACert", "PKIOperation"])
def test_truncated_body(agent, hostile, operation):
    expect_refusal(agent, hostile, f"{operation}: body truncated (half of Content-Length, then close)", "truncated", ExitCode.transport,
                   "bytes of the Content-Length body missing", on=[operation])


@pytest.mark.parametrize("mode,fragment", [
    ("oversized", "Content-Length 1048577 exceeds the cap of 1048576 bytes"),
    ("oversized-unframed", "body exceeds the cap of 1048576 bytes"),
    ("oversized-chunked", "chunked body exceeds the cap of 1048576 bytes"),
])
def test_oversized_body(agent, hostile, mode, fragment):
    label = {"oversized": "Content-Length 1 MiB + 1", "oversized-unframed": "1 MiB + 64 KiB, no length",
             "oversized-chunked": "1 MiB + 64 KiB chunked"}[mode]
    expect_refusal(agent, hostile, f"PKIOperation: body over the 1 MiB cap ({label})", mode, ExitCode.transport, "is too large: " + fragment,
                   on=["PKIOperation"])


def test_slow_drip_hits_the_timeout(agent, hostile):
    device = installed_device(agent, hostile)
    before = device.snapshot()
    hostile.misbehave("slow-drip", on=["PKIOperation"])
    device.timeout = "1"
    started = time.monotonic()
    result = device.renew()
    elapsed = time.monotonic() - started
    record("PKIOperation: one byte every 0.2 s, --timeout 1", result, device.snapshot() == before, agent.binary)
    assert result.returncode == ExitCode.transport, result.stderr
    assert "timed out waiting for data" in result.stderr and "the --timeout of 1000 ms passed" in result.stderr
    assert elapsed < 4, f"--timeout 1 took {elapsed:.1f} s"
    assert device.snapshot() == before and device.temporaries() == []


def test_redirect_loop(agent, hostile):
    expect_refusal(agent, hostile, "redirect loop /scep <-> /scep-loop", "redirect-loop", ExitCode.transport, "redirect loop: ")


# ---- PENDING: exit 6, the key kept, and a rerun finishes the same transaction

def test_pending_forever_keeps_the_key_and_a_rerun_completes_it(agent, hostile):
    hostile.misbehave("pending")
    device = Device(agent, hostile)
    args = ("--poll-interval", "1", "--max-poll-time", "1")
    result = device.enroll(*args)
    record("PENDING forever, enroll --max-poll-time 1", result, True, agent.binary)
    assert result.returncode == ExitCode.pending, result.stderr
    assert "still PENDING" in result.stderr and "run the same command again" in result.stderr
    pending = device.path(".key.pem.scep-pending")
    assert sorted(p.name for p in device.dir.iterdir()) == [pending.name], "only the pending key, nothing installed"
    assert oct(pending.stat().st_mode & 0o777) == "0o600"
    pending_public = openssl_text("pkey", "-in", pending, "-pubout")
    first_transaction = {entry["transactionID"] for entry in hostile.operations("PKIOperation")}
    assert len(first_transaction) == 1
    assert [e["messageType"] for e in hostile.operations("PKIOperation")][:2] == ["PKCSReq", "CertPoll"]

    hostile.misbehave("good")
    result = device.enroll(*args)
    record("PENDING, then the CA issues: enroll rerun", result, True, agent.binary)
    assert result.returncode == ExitCode.ok, result.stderr
    device.assert_valid()
    assert openssl_text("pkey", "-in", device.path("key.pem"), "-pubout") == pending_public, "the rerun must enroll the same key"
    assert {entry["transactionID"] for entry in hostile.operations("PKIOperation")} == first_transaction
    assert device.temporaries() == []


def test_pending_renewal_keeps_the_installed_set(agent, hostile):
    device = installed_device(agent, hostile)
    before = device.snapshot()
    hostile.misbehave("pending")
    result = device.renew("--poll-interval", "1", "--max-poll-time", "1")
    record("PENDING forever, renew --max-poll-time 1", result, device.installed() == before, agent.binary)
    assert result.returncode == ExitCode.pending, result.stderr
    assert device.installed() == before
    assert device.temporaries() == [".key.pem.scep-pending"], "the documented exception: the new key waits"
    pending_public = openssl_text("pkey", "-in", device.path(".key.pem.scep-pending"), "-pubout")
    hostile.misbehave("good")
    result = device.renew("--poll-interval", "1", "--max-poll-time", "1")
    assert result.returncode == ExitCode.ok, result.stderr
    device.assert_valid()
    assert openssl_text("pkey", "-in", device.path("key.pem"), "-pubout") == pending_public
    assert device.temporaries() == []


def test_daemon_renew_now_exits_6_on_pending(agent, hostile):
    device = Device(agent, hostile)
    config = write_agent_config(agent.workdir / "agent.conf", hostile, state_dir=agent.workdir / "state",
                                challenge_file=device.challenge, key=device.path("key.pem"),
                                cert=device.path("cert.pem"), chain=device.path("chain.pem"), extra="timeout = 5s")
    first = agent.run("renew-now", "--config", config)
    assert first.returncode == ExitCode.ok, first.stdout + first.stderr
    device.assert_valid()
    before = device.snapshot()
    hostile.misbehave("pending")
    result = agent.run("renew-now", "--config", config)
    record("PENDING, daemon `renew-now` (in-process)", result, device.installed() == before, agent.binary)
    assert result.returncode == ExitCode.pending, result.stdout + result.stderr
    assert "pending" in result.stdout + result.stderr
    assert device.installed() == before
    status = agent.run("status", "--config", config)
    assert status.returncode == 0 and "pending" in status.stdout, status.stdout
    hostile.misbehave("good")
    again = agent.run("renew-now", "--config", config)
    assert again.returncode == ExitCode.ok, again.stdout + again.stderr
    device.assert_valid()
    assert device.snapshot() != before


# ---- what must work

@pytest.mark.parametrize("mode", ["chunked", "ber"])
def test_unusual_but_valid_encodings_succeed(agent, hostile, mode):
    hostile.misbehave(mode)
    device = Device(agent, hostile)
    result = device.enroll()
    record({"chunked": "Transfer-Encoding: chunked (97-byte chunks), every operation",
            "ber": "BER: indefinite lengths and constructed OCTET STRINGs in GetCACert and CertRep"}[mode], result, True, agent.binary)
    assert result.returncode == ExitCode.ok, result.stderr
    device.assert_valid()
    result = device.renew()
    assert result.returncode == ExitCode.ok, result.stderr
    device.assert_valid()
    assert {entry["mode"] for entry in hostile.operations()} == {mode}


def test_ndes_style_ra_certificates(agent, ndes):
    device = Device(agent, ndes)
    result = device.enroll()
    record("NDES: GetCACert = signing RA + encryption RA + CA; enroll and renew", result, True, agent.binary)
    assert result.returncode == ExitCode.ok, result.stderr
    device.assert_valid()
    result = device.renew()
    assert result.returncode == ExitCode.ok, result.stderr
    device.assert_valid()
    requests = ndes.operations("PKIOperation")
    assert [entry["encryptedTo"] for entry in requests] == ["ra-encryption", "ra-encryption"], requests
    chain = device.path("chain.pem").read_text()
    assert chain.count("BEGIN CERTIFICATE") == 1 and "Hostile Test CA" in openssl_text("x509", "-in", device.path("chain.pem"), "-noout", "-subject")


@pytest.mark.parametrize("caps,cipher", [
    (("SHA-256", "AES", "POSTPKIOperation", "Renewal"), "aes128"),
    (("SHA-256", "AES256", "POSTPKIOperation", "Renewal"), "aes256"),
    (("SHA-256", "DES3", "POSTPKIOperation", "Renewal"), "des3"),
])
def test_each_content_cipher_is_understood_by_the_server(agent, tmp_path, caps, cipher):
    with HostileCA(tmp_path / "caps", caps=caps) as ca:
        device = Device(agent, ca)
        result = device.enroll()
        assert result.returncode == ExitCode.ok, result.stderr
        device.assert_valid()
        assert [entry["cipher"] for entry in ca.operations("PKIOperation")] == [cipher]
        assert ("sending 3DES (weak)" in result.stderr) == (cipher == "des3"), result.stderr
