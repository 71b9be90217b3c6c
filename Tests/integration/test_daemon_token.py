"""The configuration-file path with the key on a token: `key = pkcs11:…?module-path=…&pin-source=…` in a
config file, for SoftHSM2 and a TPM 2.0 (swtpm + tpm2-abrmd + tpm2-pkcs11), against a real scepserver on
127.0.0.1. The in-process `renew-now` enrolls and renews; the `run` daemon enrolls, renews when
`renew-now` signals it, and runs its post_renew hook. After each step: the certificate carries the
public key of the token's `device-key`, which is the only private key there, no `OBJECT.scep-new` pair
is left, no private key was written anywhere, and the certificate chains to the CA."""


import pytest

from helpers import ExitCode, certificate_public_key_der, certificate_serial, openssl, openssl_text
from hostile_ca import HostileCA
from test_crash import assert_no_leftovers
from test_daemon import Gateway
from test_pkcs11 import assert_no_private_key_files, token  # noqa: F401 (fixture)
from tokens import KINDS


@pytest.fixture
def hostile(tmp_path):
    with HostileCA(tmp_path / "hostile") as server:
        yield server


def config_uri(token):
    """The key as a config file names it: module and PIN file in the URI's query."""
    return f"{token.uri()}?module-path={token.module}&pin-source={token.pin_file}"


def token_gateway(agent, ca, token):
    return Gateway(agent, ca, extra=f"key = {config_uri(token)}")


def assert_token_set(agent, ca, token, tmp_path):
    cert = agent.path("cert.pem")
    assert openssl_text("verify", "-CAfile", ca.ca_cert_pem_path, cert).strip().endswith("OK")
    assert openssl_text("verify", "-CAfile", agent.path("chain.pem"), cert).strip().endswith("OK")
    assert certificate_public_key_der(cert) == token.public_key_der("device-key"), "the certificate is for the token's device-key"
    assert [key["label"] for key in token.private_keys()] == ["device-key"], token.private_keys()
    labels = [entry.get("label", "") for entry in token.objects()]
    assert not [label for label in labels if label.endswith(".scep-new")], labels
    assert_no_private_key_files(tmp_path, skip=[tmp_path / "ca", token.workdir])
    assert not agent.path("key.pem").exists()
    assert_no_leftovers(agent.workdir, agent.workdir / "state")


def test_in_process_renew_now_enrolls_then_renews_with_the_key_on_the_token(agent, ca, token, tmp_path):
    gateway = token_gateway(agent, ca, token)
    first = agent.run("renew-now", "--config", gateway.config, env=token.env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert gateway.hooks() == 1
    assert_token_set(agent, ca, token, tmp_path)
    first_serial, first_key = certificate_serial(agent.path("cert.pem")), token.public_key_der("device-key")

    second = agent.run("renew-now", "--config", gateway.config, env=token.env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert gateway.hooks() == 2
    assert certificate_serial(agent.path("cert.pem")) != first_serial
    assert token.public_key_der("device-key") != first_key, "a renewal makes a new key on the token"
    assert_token_set(agent, ca, token, tmp_path)
    assert gateway.status()["lastResult"].startswith("issued")


def test_daemon_enrolls_and_renews_on_renew_now_with_the_key_on_the_token(agent, ca, token, tmp_path):
    gateway = token_gateway(agent, ca, token)
    gateway.start(env=token.env)
    try:
        gateway.wait_for(lambda: gateway.hooks() >= 1, timeout=60, what="the first enrollment")
        gateway.wait_for(lambda: gateway.status().get("lastResult", "").startswith("issued"), what="the state")
        assert_token_set(agent, ca, token, tmp_path)
        first_serial, first_key = certificate_serial(agent.path("cert.pem")), token.public_key_der("device-key")

        asked = agent.run("renew-now", "--config", gateway.config, env=token.env)
        assert asked.returncode == 0 and "asked the daemon" in asked.stdout, asked.stdout + asked.stderr
        gateway.wait_for(lambda: gateway.hooks() >= 2, timeout=60, what="the renewal on renew-now")
        assert certificate_serial(agent.path("cert.pem")) != first_serial
        assert token.public_key_der("device-key") != first_key, "a renewal makes a new key on the token"
        assert_token_set(agent, ca, token, tmp_path)
    finally:
        assert gateway.stop() == 0, gateway.process.stderr.read()
    assert gateway.hooks() == 2
    assert gateway.status()["lastResult"].startswith("issued")
    assert_token_set(agent, ca, token, tmp_path)


def test_reenroll_with_a_token_key_and_no_certificate(agent, ca, token, tmp_path):
    """A device whose certificate is gone (or expired) but whose key is still on the token: the daemon
    enrolls again with the challenge and a new key; the old pair goes only once the new certificate is in."""
    gateway = token_gateway(agent, ca, token)
    assert agent.run("renew-now", "--config", gateway.config, env=token.env).returncode == 0
    old_key = token.public_key_der("device-key")
    for name in ("cert.pem", "chain.pem", "ca.pem"):
        agent.path(name).unlink()
    result = agent.run("renew-now", "--config", gateway.config, env=token.env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert token.public_key_der("device-key") != old_key
    assert_token_set(agent, ca, token, tmp_path)


# A renewal killed after its certificate is installed but before the new token key takes the URI's name
# (issue 19): the daemon, started again, gives the certified key the name at once (and runs post_renew),
# instead of leaving wpa_supplicant with a key that does not match the certificate until the next renewal.
@pytest.mark.parametrize("point", ["install.committed", "oneshot.installed", "token.old-destroyed"])
def test_the_daemon_finishes_a_killed_token_renewal_at_start(agent, ca, token, tmp_path, point):
    gateway = token_gateway(agent, ca, token)
    assert agent.run("renew-now", "--config", gateway.config, env=token.env).returncode == 0
    first_serial = certificate_serial(agent.path("cert.pem"))
    killed = agent.run("renew-now", "--config", gateway.config, env={**token.env, "SCEP_AGENT_FAULT": point})
    assert killed.returncode == -9, (killed.returncode, killed.stderr)
    hooks = gateway.hooks()
    gateway.start(env=token.env)
    try:
        def finished():
            try:
                labels = [entry.get("label", "") for entry in token.objects()]
                return (not any(label.endswith(".scep-new") for label in labels)
                        and certificate_public_key_der(agent.path("cert.pem")) == token.public_key_der("device-key"))
            except RuntimeError:  # SoftHSM's file store, read while the daemon rewrites it, may miss the token
                return False
        gateway.wait_for(finished, timeout=20, what="the token key matching the certificate")
        gateway.wait_for(lambda: gateway.hooks() == hooks + 1, timeout=20, what="post_renew after the roll-forward")
        assert certificate_serial(agent.path("cert.pem")) != first_serial, "the killed run's certificate, not a new renewal"
        assert_token_set(agent, ca, token, tmp_path)
    finally:
        assert gateway.stop() == 0, gateway.process.stderr.read()


# ---- PENDING (issue 19): one key and one transactionID across polls, CertPoll after the first request,
# and a FAILURE discards the pending key.

def pending_gateway(agent, hostile, token):
    gateway = Gateway(agent, hostile, extra=f"key = {config_uri(token)}" if token else "")
    lines = gateway.config.read_text() + "poll_min = 1s\npoll_max = 1s\n"
    gateway.config.write_text(lines)
    return gateway


def pending_key(agent, token):
    """The public key (DER) waiting for the CA: the token's pending pair, or the saved key file."""
    if token:
        labels = [key["label"] for key in token.private_keys()]
        assert sorted(labels) == ["device-key", "device-key.scep-new"], labels
        return token.public_key_der("device-key.scep-new")
    return openssl("pkey", "-in", agent.path(".key.pem.scep-pending"), "-pubout", "-outform", "DER")


@pytest.fixture(params=["file", "softhsm", "tpm"])
def key_place(request, tmp_path):
    if request.param == "file":
        yield None
        return
    made = KINDS[request.param](tmp_path / ("token-" + request.param))
    yield made
    made.close()


def enrolled_then_pending(agent, hostile, token):
    """Enrolls from the hostile CA, then makes it answer PENDING; returns a runner of `renew-now`."""
    gateway = pending_gateway(agent, hostile, token)
    renew_now = lambda: agent.run("renew-now", "--config", gateway.config, env=token.env if token else {})  # noqa: E731
    assert renew_now().returncode == 0, agent.last.stderr
    hostile.misbehave("pending")
    return renew_now


def test_a_pending_renewal_keeps_one_key_and_transaction_across_polls_then_completes(agent, hostile, key_place):
    token = key_place
    renew_now = enrolled_then_pending(agent, hostile, token)
    keys = []
    for _ in range(3):
        result = renew_now()
        assert result.returncode == ExitCode.pending, (result.returncode, result.stderr)
        keys.append(pending_key(agent, token))
    assert keys[0] == keys[1] == keys[2], "one key across polls"
    hostile.misbehave("good")
    result = renew_now()
    assert result.returncode == 0, result.stderr
    renewal = [entry for entry in hostile.operations("PKIOperation") if entry["mode"] != "good" or entry["messageType"] == "CertPoll"]
    assert [entry["messageType"] for entry in renewal] == ["RenewalReq", "CertPoll", "CertPoll", "CertPoll"], renewal
    assert len({entry["transactionID"] for entry in renewal}) == 1, "one transactionID across polls"
    certified = certificate_public_key_der(agent.path("cert.pem"))
    assert certified == keys[0], "the CA issued for the pending key"
    if token:
        assert [key["label"] for key in token.private_keys()] == ["device-key"]
        assert token.public_key_der("device-key") == certified, "the pending key took the URI's name"
    assert not agent.path(".key.pem.scep-pending").exists() and not agent.path(".cert.pem.scep-pending").exists()


def test_a_failure_discards_the_pending_key_and_the_next_request_is_new(agent, hostile, key_place):
    token = key_place
    renew_now = enrolled_then_pending(agent, hostile, token)
    assert renew_now().returncode == ExitCode.pending
    refused = pending_key(agent, token)
    hostile.misbehave("failure")
    result = renew_now()
    assert result.returncode == ExitCode.serverFailure, (result.returncode, result.stderr)
    assert not agent.path(".key.pem.scep-pending").exists() and not agent.path(".cert.pem.scep-pending").exists()
    if token:
        assert [key["label"] for key in token.private_keys()] == ["device-key"], "the refused request's pair is gone"
    hostile.misbehave("good")
    before = {entry["transactionID"] for entry in hostile.operations("PKIOperation")}
    result = renew_now()
    assert result.returncode == 0, result.stderr
    last = hostile.operations("PKIOperation")[-1]
    assert last["messageType"] == "RenewalReq" and last["transactionID"] not in before, "a new transaction, not the refused one"
    assert certificate_public_key_der(agent.path("cert.pem")) != refused, "with a new key"
