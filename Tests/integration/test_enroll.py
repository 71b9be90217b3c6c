"""scep-agent against a real scepserver on 127.0.0.1: enroll, renew and every failure a factory line meets.

OpenSSL's CLI judges what ends up on disk. Runs once per built binary (normal and Embedded)."""
import http.server
import json
import os
import pathlib
import socket
import stat
import subprocess
import threading

import pytest

from conftest import files_snapshot
from helpers import ExitCode, certificate_fingerprint_sha256, certificate_serial, openssl, openssl_text
from recording_proxy import RecordingProxy
from scepca import free_port
from tls_proxy import TLSProxy


def write_challenge(agent, ca):
    path = agent.path("challenge")
    path.write_text(ca.challenge + "\n")
    return path


def enroll_args(agent, ca, url=None, subject="CN=gw-0042,O=Example", extra=()):
    return ["enroll", "--url", url or ca.url, "--ca-fingerprint", ca.ca_fingerprint_sha256, "--subject", subject,
            "--challenge-file", write_challenge(agent, ca), "--key", agent.path("key.pem"),
            "--cert", agent.path("cert.pem"), "--chain", agent.path("chain.pem"), *extra]


def assert_valid_set(agent, ca, subject_cn="gw-0042"):
    """The installed key, certificate and chain belong together and chain to the CA, as OpenSSL sees it."""
    key, cert, chain = agent.path("key.pem"), agent.path("cert.pem"), agent.path("chain.pem")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert openssl_text("verify", "-CAfile", ca.ca_cert_pem_path, cert).strip().endswith("OK")
    assert openssl_text("verify", "-CAfile", chain, cert).strip().endswith("OK")
    assert openssl_text("pkey", "-in", key, "-pubout") == openssl_text("x509", "-in", cert, "-noout", "-pubkey")
    assert f"CN = {subject_cn}" in openssl_text("x509", "-in", cert, "-noout", "-subject")


class TestEnroll:
    def test_enroll_rsa2048_by_post(self, agent, ca):
        with RecordingProxy(ca.base_url) as proxy:
            result = agent.run(*enroll_args(agent, ca, url=proxy.url, extra=["--san", "dns:gw-0042.example.net", "--san", "ip:192.0.2.7", "--json"]))
            assert result.returncode == ExitCode.ok, result.stderr
            operations = proxy.by_operation("PKIOperation")
        assert [exchange.method for exchange in operations] == ["POST"]
        assert_valid_set(agent, ca)
        text = openssl_text("x509", "-in", agent.path("cert.pem"), "-noout", "-text")
        assert "DNS:gw-0042.example.net" in text and "IP Address:192.0.2.7" in text
        report = json.loads(result.stdout)
        assert report["status"] == "issued"
        assert report["messageType"] == "PKCSReq"
        serial = certificate_serial(agent.path("cert.pem"))
        assert int(report["serial"], 16) == int(serial, 16)
        assert sorted(report["written"]) == sorted(str(agent.path(n)) for n in ("key.pem", "cert.pem", "chain.pem"))
        assert report["timingsMs"]["total"] >= 0
        assert ca.challenge not in result.stdout + result.stderr, "the challenge must never be printed"

    def test_enroll_by_get_when_post_is_not_offered(self, agent, ca):
        def without_post(body):
            return b"\n".join(line for line in body.split(b"\n") if line.strip() not in (b"POSTPKIOperation", b"SCEPStandard"))

        with RecordingProxy(ca.base_url, rewrite_caps=without_post) as proxy:
            result = agent.run(*enroll_args(agent, ca, url=proxy.url))
            assert result.returncode == ExitCode.ok, result.stderr
            operations = proxy.by_operation("PKIOperation")
        assert [exchange.method for exchange in operations] == ["GET"]
        assert operations[0].request_body[:1] == b"\x30", "the GET message decodes to DER"
        assert_valid_set(agent, ca)

    def test_request_uses_aes_and_sha256_from_capabilities(self, agent, ca):
        with RecordingProxy(ca.base_url) as proxy:
            assert agent.run(*enroll_args(agent, ca, url=proxy.url)).returncode == ExitCode.ok
            request = proxy.by_operation("PKIOperation")[0].request_body
        printed = openssl_text("cms", "-cmsout", "-print", "-inform", "DER", input=request)
        assert "sha256" in printed
        envelope = openssl("cms", "-verify", "-noverify", "-inform", "DER", "-binary", input=request)
        assert envelope[:1] == b"\x30", "the signature verifies and the content is DER"
        assert "aes-128-cbc" in openssl_text("asn1parse", "-inform", "DER", input=envelope)

    def test_wrong_challenge_is_server_failure_and_changes_nothing(self, agent, ca):
        agent.path("challenge").write_text("not-the-challenge\n")
        args = enroll_args(agent, ca)
        args[args.index("--challenge-file") + 1] = agent.path("wrong")
        agent.path("wrong").write_text("not-the-challenge\n")
        before = files_snapshot(agent.workdir)
        result = agent.run(*args)
        assert result.returncode == ExitCode.serverFailure, result.stderr
        assert "badRequest" in result.stderr
        assert files_snapshot(agent.workdir) == before

    def test_wrong_fingerprint_is_refused_before_the_csr_is_sent(self, agent, ca):
        with RecordingProxy(ca.base_url) as proxy:
            args = enroll_args(agent, ca, url=proxy.url)
            args[args.index("--ca-fingerprint") + 1] = "ab" * 32
            result = agent.run(*args)
            operations = [exchange.operation for exchange in proxy.exchanges]
        assert result.returncode == ExitCode.verification, result.stderr
        assert "fingerprint mismatch" in result.stderr
        assert "PKIOperation" not in operations
        assert not agent.path("key.pem").exists() and not agent.path("cert.pem").exists()

    def test_ec_key_gets_a_clean_failure_from_this_server(self, agent, ca):
        result = agent.run(*enroll_args(agent, ca, extra=["--key-type", "ec:p256"]))
        assert result.returncode == ExitCode.serverFailure, result.stderr
        assert not agent.path("key.pem").exists()

    def test_server_down_is_a_transport_error(self, agent, ca):
        url = f"http://127.0.0.1:{free_port()}/scep"
        result = agent.run(*enroll_args(agent, ca, url=url, extra=["--connect-timeout", "2"]))
        assert result.returncode == ExitCode.transport, result.stderr
        assert not agent.path("key.pem").exists()

    def test_http_500_with_text_is_a_transport_error_that_shows_the_text(self, agent, ca, tmp_path):
        class Failing(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = b"internal trouble: database locked\n"
                self.send_response(500)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Failing)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            result = agent.run(*enroll_args(agent, ca, url=f"http://127.0.0.1:{server.server_address[1]}/scep"))
        finally:
            server.shutdown()
        assert result.returncode == ExitCode.transport, result.stderr
        assert "500" in result.stderr and "database locked" in result.stderr

    def test_existing_key_is_not_overwritten(self, agent, ca):
        agent.path("key.pem").write_text("precious\n")
        result = agent.run(*enroll_args(agent, ca))
        assert result.returncode == ExitCode.file
        assert "--existing-key" in result.stderr
        assert agent.path("key.pem").read_text() == "precious\n"

    def test_existing_key_is_enrolled_with_the_flag(self, agent, ca):
        openssl_text("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", agent.path("key.pem"))
        original = agent.path("key.pem").read_bytes()
        result = agent.run(*enroll_args(agent, ca, extra=["--existing-key"]))
        assert result.returncode == ExitCode.ok, result.stderr
        assert agent.path("key.pem").read_bytes() == original
        assert openssl_text("pkey", "-in", agent.path("key.pem"), "-pubout") == openssl_text("x509", "-in", agent.path("cert.pem"), "-noout", "-pubkey")

    def test_challenge_from_environment(self, agent, ca):
        args = enroll_args(agent, ca)
        index = args.index("--challenge-file")
        args[index:index + 2] = ["--challenge-env", "FACTORY_CHALLENGE"]
        result = agent.run(*args, env={"FACTORY_CHALLENGE": ca.challenge})
        assert result.returncode == ExitCode.ok, result.stderr

    def test_challenge_in_argv_warns(self, agent, ca):
        args = enroll_args(agent, ca)
        index = args.index("--challenge-file")
        args[index:index + 2] = ["--challenge", ca.challenge]
        result = agent.run(*args)
        assert result.returncode == ExitCode.ok, result.stderr
        assert "other users can read it" in result.stderr

    def test_no_pin_is_a_usage_error_and_opt_out_is_loud(self, agent, ca):
        args = enroll_args(agent, ca)
        index = args.index("--ca-fingerprint")
        del args[index:index + 2]
        result = agent.run(*args)
        assert result.returncode == ExitCode.usage
        assert "--ca-fingerprint" in result.stderr
        result = agent.run(*args, "--insecure-skip-ca-pin")
        assert result.returncode == ExitCode.ok, result.stderr
        assert "INSECURE" in result.stderr

    def test_json_failure_is_one_object(self, agent, ca):
        args = enroll_args(agent, ca, url=f"http://127.0.0.1:{free_port()}/scep", extra=["--json"])
        result = agent.run(*args)
        report = json.loads(result.stdout)
        assert report["status"] == "transport-error" and report["exitCode"] == ExitCode.transport


class TestRenew:
    def test_renew_makes_a_new_key_and_serial_and_keeps_the_old_set(self, agent, ca):
        assert agent.run(*enroll_args(agent, ca)).returncode == ExitCode.ok
        old_key, old_cert = agent.path("key.pem").read_bytes(), agent.path("cert.pem").read_bytes()
        with RecordingProxy(ca.base_url) as proxy:
            result = agent.run("renew", "--url", proxy.url, "--ca-fingerprint", ca.ca_fingerprint_sha256,
                               "--key", agent.path("key.pem"), "--cert", agent.path("cert.pem"), "--chain", agent.path("chain.pem"),
                               "--challenge-file", agent.path("challenge"), "--json")
            assert result.returncode == ExitCode.ok, result.stderr
            request = proxy.by_operation("PKIOperation")[0].request_body
        report = json.loads(result.stdout)
        assert report["messageType"] == "RenewalReq"
        assert "2.16.840.1.113733.1.9.2" in openssl_text("cms", "-cmsout", "-print", "-inform", "DER", input=request)
        assert agent.path("key.pem").read_bytes() != old_key
        assert agent.path("cert.pem.prev").read_bytes() == old_cert
        assert agent.path("key.pem.prev").read_bytes() == old_key
        old_serial = certificate_serial(agent.path("cert.pem.prev"))
        assert certificate_serial(agent.path("cert.pem")) != old_serial
        assert_valid_set(agent, ca)

    def test_renew_with_reuse_key_keeps_the_key(self, agent, ca):
        assert agent.run(*enroll_args(agent, ca)).returncode == ExitCode.ok
        old_key = agent.path("key.pem").read_bytes()
        result = agent.run("renew", "--url", ca.url, "--ca-fingerprint", ca.ca_fingerprint_sha256, "--key", agent.path("key.pem"),
                           "--cert", agent.path("cert.pem"), "--chain", agent.path("chain.pem"), "--reuse-key",
                           "--challenge-file", agent.path("challenge"))
        assert result.returncode == ExitCode.ok, result.stderr
        assert agent.path("key.pem").read_bytes() == old_key
        assert_valid_set(agent, ca)

    def test_renew_refused_leaves_the_installed_set(self, agent, ca):
        assert agent.run(*enroll_args(agent, ca)).returncode == ExitCode.ok
        agent.path("wrong").write_text("nope\n")
        before = files_snapshot(agent.workdir)
        result = agent.run("renew", "--url", ca.url, "--ca-fingerprint", ca.ca_fingerprint_sha256, "--key", agent.path("key.pem"),
                           "--cert", agent.path("cert.pem"), "--chain", agent.path("chain.pem"), "--challenge-file", agent.path("wrong"))
        assert result.returncode == ExitCode.serverFailure, result.stderr
        assert files_snapshot(agent.workdir) == before


class TestHTTPS:
    def test_https_through_tls_proxy_with_the_right_and_the_wrong_ca(self, agent, ca, tmp_path):
        with TLSProxy(tmp_path / "tls", ca.url) as proxy:
            wrong = agent.run(*enroll_args(agent, ca, url=proxy.url, extra=["--tls-ca", proxy.wrong_ca_bundle_path]))
            assert wrong.returncode == ExitCode.transport, wrong.stderr
            assert not agent.path("key.pem").exists()
            right = agent.run(*enroll_args(agent, ca, url=proxy.url, extra=["--tls-ca", proxy.ca_bundle_path]))
            assert right.returncode == ExitCode.ok, right.stderr
        assert_valid_set(agent, ca)


class TestDiscovery:
    def test_getca_prints_the_pin(self, agent, ca):
        result = agent.run("getca", "--url", ca.url, "--out", agent.path("ca.pem"))
        assert result.returncode == ExitCode.ok, result.stderr
        assert ca.ca_fingerprint_sha256 in result.stdout.replace(":", "")
        assert result.stdout.startswith("CA")
        assert certificate_fingerprint_sha256(agent.path("ca.pem")) == ca.ca_fingerprint_sha256

    def test_getca_with_a_wrong_pin_fails(self, agent, ca):
        result = agent.run("getca", "--url", ca.url, "--ca-fingerprint", "00" * 32)
        assert result.returncode == ExitCode.verification

    def test_getcaps_lists_keywords(self, agent, ca):
        result = agent.run("getcaps", "--url", ca.url, "--json")
        assert result.returncode == ExitCode.ok, result.stderr
        report = json.loads(result.stdout)
        assert "POSTPKIOperation" in report["capabilities"] and report["post"] is True
        assert report["cipher"] == "AES-128-CBC" and report["digest"] == "SHA-256"


class TestCommandLine:
    def test_csr_is_verified_by_openssl(self, agent):
        agent.path("pw").write_text("factory-secret\n")
        result = agent.run("csr", "--subject", "CN=gw-0042,O=Example,C=DE", "--san", "dns:gw.example.net", "--san", "ip:::1",
                           "--challenge-file", agent.path("pw"), "--key", agent.path("k.pem"), "--out", agent.path("r.pem"))
        assert result.returncode == ExitCode.ok, result.stderr
        text = openssl_text("req", "-in", agent.path("r.pem"), "-verify", "-noout", "-text")
        assert "challengePassword" in text and "factory-secret" in text and "DNS:gw.example.net" in text
        assert stat.S_IMODE(agent.path("k.pem").stat().st_mode) == 0o600
        again = agent.run("csr", "--subject", "CN=x", "--key", agent.path("k.pem"), "--out", agent.path("r2.der"))
        assert again.returncode == ExitCode.file
        reuse = agent.run("csr", "--subject", "CN=x", "--key", agent.path("k.pem"), "--out", agent.path("r2.der"), "--der", "--existing-key")
        assert reuse.returncode == ExitCode.ok, reuse.stderr
        openssl_text("req", "-inform", "DER", "-in", agent.path("r2.der"), "-verify", "-noout")

    @pytest.mark.parametrize("key_type,expected", [
        ("rsa:2048", "Public-Key: (2048 bit)"), ("rsa:3072", "Public-Key: (3072 bit)"),
        ("ec:p256", "NIST CURVE: P-256"), ("ec:p384", "NIST CURVE: P-384"),
    ])
    def test_every_key_type_makes_that_key(self, agent, key_type, expected):
        result = agent.run("csr", "--subject", "CN=x", "--key-type", key_type, "--key", agent.path("k.pem"), "--out", agent.path("r.pem"))
        assert result.returncode == ExitCode.ok, result.stderr
        assert expected in openssl_text("req", "-in", agent.path("r.pem"), "-verify", "-noout", "-text")

    def test_key_is_0600_even_with_a_permissive_umask(self, agent):
        result = subprocess.run(["sh", "-c", 'umask 000; exec "$0" "$@"', str(agent.binary), "csr", "--subject", "CN=x",
                                 "--key", str(agent.path("k.pem")), "--out", str(agent.path("r.pem"))], capture_output=True)
        assert result.returncode == 0, result.stderr
        assert stat.S_IMODE(agent.path("k.pem").stat().st_mode) == 0o600

    @pytest.mark.parametrize("args", [
        ["enroll", "--url"],
        ["enroll", "--bogus"],
        ["frobnicate"],
        ["csr", "--subject", "CN=x", "--key", "k", "--out", "r", "--key-type", "rsa:1024"],
        ["csr", "--subject", "XX=1", "--key", "k", "--out", "r"],
        ["enroll", "--url", "ftp://127.0.0.1/scep", "--insecure-skip-ca-pin", "--subject", "CN=x", "--key", "k", "--cert", "c"],
        ["enroll", "--url", "http://127.0.0.1:1/scep", "--ca-fingerprint", "zz", "--subject", "CN=x", "--key", "k", "--cert", "c"],
    ])
    def test_usage_errors_exit_2_with_a_message(self, agent, args):
        result = agent.run(*args)
        assert result.returncode == ExitCode.usage, (result.returncode, result.stderr)
        assert result.stderr.strip(), "a usage error explains itself"

    def test_help_and_version(self, agent):
        assert agent.run("--help").returncode == 0
        for command in ("enroll", "renew", "getca", "getcaps", "getcert", "getcrl", "csr"):
            result = agent.run(command, "--help")
            assert result.returncode == 0 and "usage: scep-agent " + command in result.stdout
        assert agent.run("version").stdout.startswith("scep-agent ")


def p12_contents(path, passphrase):
    """(key public key PEM, certificate subjects) of a PKCS#12 file, as OpenSSL reads it."""
    opened = openssl("pkcs12", "-in", path, "-nodes", "-passin", "pass:" + passphrase)
    public = openssl("pkey", "-pubout", input=opened)
    return public, opened.count(b"BEGIN CERTIFICATE")


def test_enroll_and_renew_also_write_a_pkcs12_file(agent, ca):
    (agent.workdir / "p12.pass").write_text("a passphrase\n")
    p12 = agent.path("bundle.p12")
    options = ["--p12", p12, "--p12-passphrase-file", agent.path("p12.pass")]
    result = agent.run(*enroll_args(agent, ca, extra=options))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(p12.stat().st_mode) == 0o600
    key_public = openssl("pkey", "-in", agent.path("key.pem"), "-pubout")
    assert p12_contents(p12, "a passphrase") == (key_public, 2), "the key, its certificate and the CA"
    renewed = agent.run("renew", "--url", ca.url, "--ca-fingerprint", ca.ca_fingerprint_sha256, "--challenge-file", agent.path("challenge"),
                        "--key", agent.path("key.pem"), "--cert", agent.path("cert.pem"), "--chain", agent.path("chain.pem"), *options)
    assert renewed.returncode == 0, renewed.stderr
    new_public = openssl("pkey", "-in", agent.path("key.pem"), "-pubout")
    assert new_public != key_public and p12_contents(p12, "a passphrase")[0] == new_public, "renewed with the set"
    assert agent.path("bundle.p12.prev").exists()
    refused = agent.run(*enroll_args(agent, ca, extra=["--p12", p12, "--existing-key"]))
    assert refused.returncode == ExitCode.usage and "--p12-unencrypted" in refused.stderr, refused.stderr
