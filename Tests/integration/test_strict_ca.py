"""Renewal and EC keys against CAs that follow RFC 8894 strictly (issue 14).

- EC P-256 and P-384 device keys cannot decrypt: the hostile CA's `good` mode answers them with a
  PasswordRecipientInfo envelope under the challenge (RFC 8894 §3.1, built by the openssl CLI), and a
  CA whose own key is EC (`ec_ca=True`) gets requests encrypted the same way (opened by the openssl CLI).
- Every transaction has a fresh transactionID (`renew --reuse-key` included), and a PENDING request
  resumes with the one it began with.
- `renew_with_challenge` defaults to `auto`: a renewal goes without the challenge, once more with it
  after FAILURE badRequest, and the daemon remembers that the CA wants it.
scepserver refuses EC CSRs (INTEROP.md), so the EC cases run against hostile_ca.py only."""
import signal
import subprocess

import pytest
from asn1crypto import cms as asn1_cms

from conftest import files_snapshot, write_agent_config
from helpers import ExitCode, certificate_serial, openssl_text, wait_for
from hostile_ca import HostileCA, SCEP_MESSAGE_TYPE, SCEP_PKI_STATUS, SCEP_TRANSACTION_ID
from recording_proxy import RecordingProxy
from scepca import ScepCA
from test_hostile import Device as HostileDevice
from tokens import SoftHSM

CURVES = {"p256": "prime256v1", "p384": "secp384r1"}


def scep_attributes(message):
    """{messageType, pkiStatus, transactionID} of a pkiMessage (request or CertRep), from its signed attributes."""
    signer = asn1_cms.ContentInfo.load(message)["content"]["signer_infos"][0]
    wanted = {SCEP_MESSAGE_TYPE: "messageType", SCEP_PKI_STATUS: "pkiStatus", SCEP_TRANSACTION_ID: "transactionID"}
    out = {}
    for attribute in signer["signed_attrs"]:
        if attribute["type"].dotted in wanted:
            out[wanted[attribute["type"].dotted]] = attribute["values"][0].native
    return out


class Device(HostileDevice):
    """test_hostile's device with a key type, and the challenge (or another file) on every request."""

    def __init__(self, agent, ca, key_type, name="device"):
        super().__init__(agent, ca, name)
        self.key_type = key_type
        self.timeout = "10"

    def enroll(self, *extra, challenge=None):
        return self.agent.run("enroll", *self.common(), "--subject", "CN=gw-ec,O=Example", "--key-type", self.key_type,
                              "--challenge-file", challenge or self.challenge, *extra)

    def renew(self, *extra, challenge=None):
        return self.agent.run("renew", *self.common(), "--challenge-file", challenge or self.challenge, *extra)

    def serial(self):
        return certificate_serial(self.path("cert.pem"))

    def assert_valid(self, curve):
        super().assert_valid()
        assert CURVES[curve] in openssl_text("pkey", "-in", self.path("key.pem"), "-noout", "-text")


@pytest.fixture
def hostile(tmp_path):
    with HostileCA(tmp_path / "ca") as ca:
        yield ca


def pki_requests(ca):
    return [entry for entry in ca.operations("PKIOperation") if "transactionID" in entry]


# ---- EC device keys: the CertRep comes under PasswordRecipientInfo

@pytest.mark.parametrize("curve", ["p256", "p384"])
def test_ec_key_enrolls_and_renews_through_password_recipient_info(agent, hostile, curve):
    device = Device(agent, hostile, "ec:" + curve)
    result = device.enroll()
    assert result.returncode == ExitCode.ok, result.stderr
    device.assert_valid(curve)
    first_serial, first_key = device.serial(), openssl_text("pkey", "-in", device.path("key.pem"), "-pubout")

    result = device.renew()
    assert result.returncode == ExitCode.ok, result.stderr
    device.assert_valid(curve)
    assert device.serial() != first_serial
    assert openssl_text("pkey", "-in", device.path("key.pem"), "-pubout") != first_key, "a renewal makes a new key"

    result = device.renew("--reuse-key")
    assert result.returncode == ExitCode.ok, result.stderr
    device.assert_valid(curve)
    requests = pki_requests(hostile)
    assert [entry["messageType"] for entry in requests] == ["PKCSReq", "RenewalReq", "RenewalReq"]
    assert len({entry["transactionID"] for entry in requests}) == 3, "every transaction has its own transactionID"
    assert device.temporaries() == []


@pytest.mark.parametrize("curve", ["p256", "p384"])
def test_ec_pending_then_poll_then_issued(agent, hostile, curve):
    hostile.misbehave("pending")
    device = Device(agent, hostile, "ec:" + curve)
    args = ("--poll-interval", "1", "--max-poll-time", "1")
    result = device.enroll(*args)
    assert result.returncode == ExitCode.pending, result.stderr
    pending = device.path(".key.pem.scep-pending")
    assert sorted(p.name for p in device.dir.iterdir()) == [pending.name]
    assert oct(pending.stat().st_mode & 0o777) == "0o600"
    first = {entry["transactionID"] for entry in pki_requests(hostile)}
    assert len(first) == 1
    assert [entry["messageType"] for entry in pki_requests(hostile)][:2] == ["PKCSReq", "CertPoll"]
    assert f"scep-transaction-id: {next(iter(first))}" in pending.read_text(), "the transaction is saved with its key"

    hostile.misbehave("good")
    result = device.enroll(*args)
    assert result.returncode == ExitCode.ok, result.stderr
    device.assert_valid(curve)
    assert {entry["transactionID"] for entry in pki_requests(hostile)} == first, "the rerun resumes the same transaction"
    assert device.temporaries() == []


def test_token_key_pending_then_issued_resumes_the_same_transaction(agent, hostile, tmp_path):
    """A SoftHSM key: the pending pair waits on the token, its transactionID beside the certificate."""
    token = SoftHSM(tmp_path / "token")
    try:
        hostile.misbehave("pending")
        device = Device(agent, hostile, "ec:p256")
        token_args = ["--key", token.uri(), *token.agent_args(), "--poll-interval", "1", "--max-poll-time", "1"]
        common = ["--url", hostile.url, "--ca-fingerprint", hostile.ca_fingerprint_sha256, "--cert", device.path("cert.pem"),
                  "--chain", device.path("chain.pem"), "--challenge-file", device.challenge, "--subject", "CN=gw-token",
                  "--key-type", "ec:p256"]
        result = agent.run("enroll", *common, *token_args, env=token.env)
        assert result.returncode == ExitCode.pending, result.stderr
        first = {entry["transactionID"] for entry in pki_requests(hostile)}
        assert len(first) == 1
        saved = device.path(".cert.pem.scep-pending")
        assert saved.read_text() == f"scep-transaction-id: {next(iter(first))}\n"
        assert oct(saved.stat().st_mode & 0o777) == "0o600"
        hostile.misbehave("good")
        result = agent.run("enroll", *common, *token_args, env=token.env)
        assert result.returncode == ExitCode.ok, result.stderr
        assert {entry["transactionID"] for entry in pki_requests(hostile)} == first
        assert device.temporaries() == []
    finally:
        token.close()


def test_ec_renewal_with_a_wrong_challenge_fails_with_exit_7_and_changes_nothing(agent, hostile):
    """The CA issues the renewal (authenticated by the current certificate) and encrypts it to the
    challenge it issued; ours is another, so the RFC 3211 check bytes refuse it."""
    device = Device(agent, hostile, "ec:p256")
    assert device.enroll().returncode == ExitCode.ok
    before = files_snapshot(device.dir)
    wrong = agent.workdir / "wrong"
    wrong.write_text("not-the-challenge\n")
    result = device.renew(challenge=wrong)
    assert result.returncode == ExitCode.verification, result.stderr
    assert "not our challenge" in result.stderr and "check bytes" in result.stderr, result.stderr
    assert "not-the-challenge" not in result.stderr + result.stdout, "the challenge is never printed"
    assert files_snapshot(device.dir) == before
    assert device.temporaries() == []


def test_ec_enrollment_with_a_wrong_challenge_is_refused_and_leaves_nothing(agent, hostile):
    device = Device(agent, hostile, "ec:p256")
    wrong = agent.workdir / "wrong"
    wrong.write_text("not-the-challenge\n")
    result = device.enroll(challenge=wrong)
    assert result.returncode == ExitCode.serverFailure, result.stderr
    assert "wrong challenge password" in result.stderr
    assert list(device.dir.iterdir()) == []


# ---- a CA whose own key is EC: requests are encrypted to the challenge

@pytest.mark.parametrize("key_type", ["ec:p256", "rsa:2048"])
def test_requests_to_an_ec_ca_use_password_recipient_info(agent, tmp_path, key_type):
    with HostileCA(tmp_path / "ec-ca", ec_ca=True) as ca:
        device = Device(agent, ca, key_type)
        result = device.enroll()
        assert result.returncode == ExitCode.ok, result.stderr
        result = device.renew()
        assert result.returncode == ExitCode.ok, result.stderr
        assert openssl_text("verify", "-CAfile", ca.ca_cert_pem_path, device.path("cert.pem")).strip().endswith("OK")
        assert [entry["encryptedTo"] for entry in pki_requests(ca)] == ["password", "password"]


# ---- a fresh transactionID for every transaction (real scepserver)

def test_renew_reuse_key_is_a_new_transaction(agent, ca):
    challenge = agent.workdir / "challenge"
    challenge.write_text(ca.challenge + "\n")
    with RecordingProxy(ca.base_url) as proxy:
        common = ["--url", proxy.url, "--ca-fingerprint", ca.ca_fingerprint_sha256, "--key", agent.path("key.pem"),
                  "--cert", agent.path("cert.pem"), "--chain", agent.path("chain.pem"), "--challenge-file", challenge]
        result = agent.run("enroll", *common, "--subject", "CN=gw-reuse,O=Example")
        assert result.returncode == ExitCode.ok, result.stderr
        first_serial = certificate_serial(agent.path("cert.pem"))
        result = agent.run("renew", *common, "--reuse-key")
        assert result.returncode == ExitCode.ok, result.stderr
        requests = [scep_attributes(exchange.request_body) for exchange in proxy.by_operation("PKIOperation")]
    assert certificate_serial(agent.path("cert.pem")) != first_serial
    transaction_ids = [request["transactionID"] for request in requests]
    assert len(transaction_ids) >= 2 and len(set(transaction_ids)) == len(transaction_ids), transaction_ids


# ---- renew_with_challenge = auto (real scepserver, which wants the challenge on renewals)

def test_daemon_learns_that_the_ca_wants_the_challenge(agent, tmp_path):
    """`run` with no renew_with_challenge line (auto) and one-day certificates due 1.7 s after issue."""
    with ScepCA(tmp_path / "ca", crtvalid=1, allowrenew=0) as ca, RecordingProxy(ca.base_url) as proxy:
        challenge = agent.workdir / "challenge"
        challenge.write_text(ca.challenge + "\n")
        state = agent.workdir / "state"
        config = write_agent_config(agent.workdir / "agent.conf", ca, state_dir=state, challenge_file=challenge,
                                    key=agent.path("key.pem"), cert=agent.path("cert.pem"), chain=agent.path("chain.pem"),
                                    renew_with_challenge=None, url=proxy.url,
                                    extra="renew_at = 0.00002\njitter = 0\nmin_renewal_interval = 1s\nretry_min = 1s\nretry_max = 2s")
        assert "renew_with_challenge" not in config.read_text()

        def exchanges():
            """(messageType, pkiStatus) of every PKIOperation: 19 PKCSReq, 17 RenewalReq; 0 SUCCESS, 2 FAILURE."""
            out = []
            for exchange in proxy.by_operation("PKIOperation"):
                if exchange.status == 200:
                    out.append((scep_attributes(exchange.request_body)["messageType"], scep_attributes(exchange.response_body)["pkiStatus"]))
            return out

        daemon = subprocess.Popen([str(agent.binary), "run", "--config", str(config)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            # Enrollment, then renewal 1: without the challenge (FAILURE badRequest), again with it; renewal 2: with it at once.
            wait_for(lambda: len(exchanges()) >= 4, 60, "the enrollment, renewal 1's two requests and renewal 2", process=daemon)
            assert exchanges()[:4] == [("19", "0"), ("17", "2"), ("17", "0"), ("17", "0")]
            learned = dict(line.split("=", 1) for line in (state / "wifi.state").read_text().splitlines())["renew_needs_challenge"]
            assert learned == ca.ca_fingerprint_sha256.lower(), "the state names the CA that wants the challenge"
            assert not (state / "wifi.renew-needs-challenge").exists(), "no file of its own any more"
            wait_for(lambda: len(exchanges()) >= 5, 60, "renewal 3", process=daemon)
        finally:
            daemon.send_signal(signal.SIGTERM)
            _, stderr = daemon.communicate(timeout=10)
        assert exchanges()[:5] == [("19", "0"), ("17", "2"), ("17", "0"), ("17", "0"), ("17", "0")], "one request, not two"
        assert "wants the challenge on renewals" in stderr
        assert ca.challenge not in stderr, "the challenge is never logged"
