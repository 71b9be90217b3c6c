"""Keys that never leave the hardware: enroll and renew with the key in SoftHSM2 and in a TPM 2.0 (swtpm +
tpm2-pkcs11) against a real scepserver on 127.0.0.1. Runs once per built binary (normal and Embedded)."""
import json
import os
import pathlib
import subprocess

import pytest

from helpers import ExitCode, certificate_public_key_der, openssl, openssl_text
from tokens import KINDS, SOFTHSM_MODULE, SoftHSM


@pytest.fixture(params=sorted(KINDS))
def token(request, tmp_path):
    made = KINDS[request.param](tmp_path / ("token-" + request.param))
    yield made
    made.close()


@pytest.fixture
def softhsm(tmp_path):
    made = SoftHSM(tmp_path / "token-softhsm")
    yield made
    made.close()


def enroll_args(agent, ca, token, extra=()):
    challenge = agent.path("challenge")
    challenge.write_text(ca.challenge + "\n")
    return ["enroll", "--url", ca.url, "--ca-fingerprint", ca.ca_fingerprint_sha256, "--subject", "CN=gw-0042,O=Example",
            "--challenge-file", challenge, "--key", token.uri(), "--cert", agent.path("cert.pem"),
            "--chain", agent.path("chain.pem"), *token.agent_args(), *extra]


def renew_args(agent, ca, token, extra=()):
    return ["renew", "--url", ca.url, "--ca-fingerprint", ca.ca_fingerprint_sha256, "--challenge-file", agent.path("challenge"),
            "--key", token.uri(), "--cert", agent.path("cert.pem"), "--chain", agent.path("chain.pem"), *token.agent_args(), *extra]


def assert_no_private_key_files(root, skip):
    """No file under root (outside the CA's depot and the token's own store) holds a private key."""
    for dirpath, _, names in os.walk(root):
        if any(pathlib.Path(dirpath).is_relative_to(s) for s in skip):
            continue
        for name in names:
            data = (pathlib.Path(dirpath) / name).read_bytes()
            assert b"PRIVATE KEY" not in data, f"{dirpath}/{name} holds a private key"
            assert b"scep-pending" not in name.encode()


def assert_key_stays_in_token(token):
    keys = token.private_keys()
    assert [key["label"] for key in keys] == ["device-key"], keys
    access = keys[0]["access"]
    assert "never extractable" in access and "sensitive" in access, access
    assert "decrypt" in keys[0]["usage"] and "sign" in keys[0]["usage"], keys[0]


class TestTokenEnrollment:
    def test_enroll_then_renew_with_the_key_on_the_token(self, agent, ca, token, tmp_path):
        result = agent.run(*enroll_args(agent, ca, token, extra=["--json"]), env=token.env)
        assert result.returncode == ExitCode.ok, result.stderr
        report = json.loads(result.stdout)
        assert report["key"] == token.uri()
        assert sorted(report["written"]) == sorted(str(agent.path(n)) for n in ("cert.pem", "chain.pem"))
        assert openssl_text("verify", "-CAfile", ca.ca_cert_pem_path, agent.path("cert.pem")).strip().endswith("OK")
        assert certificate_public_key_der(agent.path("cert.pem")) == token.public_key_der()
        assert_key_stays_in_token(token)
        first_serial = report["serial"]
        first_key = token.public_key_der()

        result = agent.run(*renew_args(agent, ca, token, extra=["--json"]), env=token.env)
        assert result.returncode == ExitCode.ok, result.stderr
        report = json.loads(result.stdout)
        assert report["serial"] != first_serial
        assert report["key"] == token.uri()
        assert token.public_key_der() != first_key, "renewal makes a new key"
        assert certificate_public_key_der(agent.path("cert.pem")) == token.public_key_der()
        assert_key_stays_in_token(token)
        assert len([o for o in token.objects() if o["kind"] == "Public Key"]) == 1, "the old pair is destroyed"
        assert_no_private_key_files(tmp_path, skip=[tmp_path / "ca", token.workdir])

    def test_existing_key_on_the_token(self, agent, ca, token):
        token.tool("--keypairgen", "--key-type", "rsa:2048", "--label", "device-key", "--id", "01")
        before = token.public_key_der()
        result = agent.run(*enroll_args(agent, ca, token, extra=["--existing-key"]), env=token.env)
        assert result.returncode == ExitCode.ok, result.stderr
        assert certificate_public_key_der(agent.path("cert.pem")) == before
        assert "key         " + token.uri() in result.stdout

    def test_enroll_refuses_when_the_key_exists_without_existing_key(self, agent, ca, softhsm):
        softhsm.tool("--keypairgen", "--key-type", "rsa:2048", "--label", "device-key", "--id", "01")
        result = agent.run(*enroll_args(agent, ca, softhsm), env=softhsm.env)
        assert result.returncode == ExitCode.file, result.stderr
        assert "--existing-key" in result.stderr


class TestTokenFailures:
    def test_a_certificate_of_another_key_is_refused_without_printing_the_pin(self, agent, softhsm, tmp_path):
        # The key's URI carries pin-value: the refusal names the key as status and --json do, without it.
        softhsm.tool("--keypairgen", "--key-type", "EC:prime256v1", "--label", "device-key", "--id", "01")
        other = tmp_path / "other"
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=other",
                "-days", "1", "-keyout", f"{other}.key", "-out", f"{other}.pem")
        result = agent.run("renew", "--url", "http://127.0.0.1:1/scep", "--insecure-skip-ca-pin", "--key", softhsm.uri() + "?pin-value=1234",
                           "--pkcs11-module", SOFTHSM_MODULE, "--cert", f"{other}.pem", env=softhsm.env)
        assert result.returncode == ExitCode.verification, result.stderr
        assert "does not belong to key " + softhsm.uri() in result.stderr
        assert "1234" not in result.stdout + result.stderr

    def test_wrong_pin_is_exit_10_and_tried_once(self, agent, ca, softhsm):
        softhsm.pin_file.write_text("999999\n")
        result = agent.run(*enroll_args(agent, ca, softhsm), env=softhsm.env)
        assert result.returncode == ExitCode.token, result.stderr
        assert "wrong PIN" in result.stderr and "--pin-file" in result.stderr
        info = softhsm.tool("--list-token-slots", login=False).stdout
        assert "locked" not in info and "final" not in info.lower(), info
        softhsm.tool("--list-objects")  # the right PIN still works: the token is not locked
        assert not agent.path("cert.pem").exists()

    def test_missing_module_is_exit_10_with_the_path(self, agent, ca, softhsm):
        args = enroll_args(agent, ca, softhsm)
        args[args.index(SOFTHSM_MODULE)] = "/nonexistent/libpkcs11.so"
        result = agent.run(*args, env=softhsm.env)
        assert result.returncode == ExitCode.token, result.stderr
        assert "/nonexistent/libpkcs11.so" in result.stderr and "--pkcs11-module" in result.stderr

    def test_missing_token_is_exit_10(self, agent, ca, softhsm):
        args = enroll_args(agent, ca, softhsm)
        args[args.index(softhsm.uri())] = "pkcs11:token=absent;object=device-key"
        result = agent.run(*args, env=softhsm.env)
        assert result.returncode == ExitCode.token, result.stderr
        assert "absent" in result.stderr and "tokens present: gw" in result.stderr

    def test_malformed_uri_is_a_usage_error(self, agent, ca, softhsm):
        args = enroll_args(agent, ca, softhsm)
        args[args.index(softhsm.uri())] = "pkcs11:token=gw;token=other"
        result = agent.run(*args, env=softhsm.env)
        assert result.returncode == ExitCode.usage, result.stderr
        assert "more than once" in result.stderr


class TestCSROnToken:
    def test_csr_with_a_new_ec_key_on_softhsm(self, agent, softhsm):
        out = agent.path("req.pem")
        result = agent.run("csr", "--subject", "CN=gw-0042", "--key-type", "ec:p256", "--key", softhsm.uri(), "--out", out,
                           *softhsm.agent_args(), env=softhsm.env)
        assert result.returncode == ExitCode.ok, result.stderr
        assert b"verify OK" in subprocess.run(["openssl", "req", "-in", out, "-verify", "-noout"], capture_output=True).stderr
        req_key = openssl("pkey", "-pubin", "-outform", "DER", input=openssl("req", "-in", out, "-noout", "-pubkey"))
        assert req_key == softhsm.public_key_der()


def test_a_uri_with_id_names_the_key_after_every_renewal(agent, ca, softhsm):
    """A URI that names the key by `id=` as well as `object=` (issue 19): each new key gets the URI's
    CKA_ID, so the URI still matches after a renewal (new keys used to get a random one)."""
    uri = softhsm.uri() + ";id=%42%19"
    with_id = lambda args: [uri if part == softhsm.uri() else part for part in args]  # noqa: E731
    result = agent.run(*with_id(enroll_args(agent, ca, softhsm)), env=softhsm.env)
    assert result.returncode == 0, result.stderr
    for _ in range(2):
        result = agent.run(*with_id(renew_args(agent, ca, softhsm)), env=softhsm.env)
        assert result.returncode == 0, result.stderr
        assert certificate_public_key_der(agent.path("cert.pem")) == softhsm.public_key_der("device-key")
    assert [key.get("id") for key in softhsm.private_keys()] == ["4219"], softhsm.private_keys()
