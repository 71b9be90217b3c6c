"""CA rollover (RFC 8894 §4.7) against a real scepserver behind the recording proxy, which adds GetNextCACert
to GetCACaps and answers it itself (scepserver 2.1.0 has no GetNextCACert): the conforming reply is
accepted; forged and non-conforming ones are refused with exit 7 and nothing is installed."""
import hashlib
import json
import pathlib
import subprocess

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509

from helpers import ExitCode, certificate_fingerprint_sha256, openssl, openssl_text
from recording_proxy import RecordingProxy
from scepca import ScepCA, pem_to_der
from test_daemon import Gateway, make_next_ca, short_ca, with_get_next_ca_cert  # noqa: F401 (fixture)

NEXT_CA_TYPE = "application/x-x509-next-ca-cert"


def self_signed(directory, subject, extensions=("basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"), days=3650):
    directory.mkdir(exist_ok=True)
    extension_args = [arg for ext in extensions for arg in ("-addext", ext)]
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", directory / "key.pem", "-out", directory / "cert.pem",
            "-subj", subject, "-days", str(days), *extension_args)
    return directory / "cert.pem", directory / "key.pem"


def forged_next_ca(directory, ca):
    """The forgery of issue 13, from public data only: the pinned CA certificate's own TBSCertificate as
    eContent and its signatureValue as a SignerInfo signature without signed attributes (so the signature
    does verify with the CA's key), and an attacker's CA certificate in the outer, unsigned `certificates`."""
    attacker_cert, _ = self_signed(directory, "/O=Attacker/CN=Attacker CA")
    pinned = asn1_x509.Certificate.load(ca.ca_cert_der)
    attacker = asn1_x509.Certificate.load(pem_to_der(attacker_cert.read_bytes()))
    digest = pinned["signature_algorithm"].hash_algo
    signer = asn1_cms.SignerInfo({
        "version": "v1",
        "sid": asn1_cms.SignerIdentifier({"issuer_and_serial_number": asn1_cms.IssuerAndSerialNumber({
            "issuer": pinned["tbs_certificate"]["issuer"], "serial_number": pinned["tbs_certificate"]["serial_number"].native})}),
        "digest_algorithm": {"algorithm": digest},
        "signature_algorithm": {"algorithm": "rsassa_pkcs1v15"},
        "signature": pinned["signature_value"].native,
    })
    signed = asn1_cms.SignedData({
        "version": "v1",
        "digest_algorithms": [{"algorithm": digest}],
        "encap_content_info": {"content_type": "data", "content": pinned["tbs_certificate"].dump()},
        "certificates": [attacker],
        "signer_infos": [signer],
    })
    reply = asn1_cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()
    (directory / "forged.p7").write_bytes(reply)
    # The forgery is a valid signature by the CA's key over what it carries: OpenSSL accepts it.
    openssl("cms", "-verify", "-inform", "DER", "-in", directory / "forged.p7", "-binary", "-noverify",
            "-certfile", ca.ca_cert_pem_path, "-nointern", "-out", directory / "forged.content")
    return reply


def offering_next_ca(ca, reply):
    return RecordingProxy(ca.base_url, rewrite_caps=with_get_next_ca_cert, overrides={"GetNextCACert": (200, NEXT_CA_TYPE, reply)})


def refused_reply(case, ca, tmp_path):
    """A non-conforming GetNextCACert reply, and the words its refusal must contain."""
    if case == "forged":
        return forged_next_ca(tmp_path / "forged", ca), "no signed attributes"
    if case == "signed-by-another-key":
        stranger_cert, stranger_key = self_signed(tmp_path / "stranger", "/O=scep-agent test CA/CN=Stranger")
        return make_next_ca(tmp_path / "next", ca, signer_key=stranger_key, signer_cert=stranger_cert)[0], "neither the current CA"
    options = {
        "not-a-ca": ({"next_ext": ("basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature")}, "holds no CA certificate"),
        "ca-without-keycertsign": ({"next_ext": ("basicConstraints=critical,CA:TRUE", "keyUsage=critical,digitalSignature")}, "holds no CA certificate"),
        "no-signed-attributes": ({"sign_options": ("-noattr",)}, "no signed attributes"),
        "wrong-content-type": ({"sign_options": ("-econtent_type", "1.2.840.113549.1.7.3")}, "expected data"),
    }
    arguments, words = options[case]
    return make_next_ca(tmp_path / "next", ca, **arguments)[0], words


REFUSALS = ["forged", "not-a-ca", "ca-without-keycertsign", "signed-by-another-key", "no-signed-attributes", "wrong-content-type"]


def test_getnextca_prints_and_writes_the_successor_from_a_conforming_reply(agent, ca, tmp_path):
    reply, fingerprint = make_next_ca(tmp_path / "next", ca)
    out = agent.path("next-ca.pem")
    with offering_next_ca(ca, reply) as proxy:
        result = agent.run("getnextca", "--url", proxy.url, "--ca-fingerprint", ca.ca_fingerprint_sha256, "--out", out, "--json")
        assert proxy.by_operation("GetNextCACert")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sha256"] == fingerprint and report["written"] == [str(out)]
    assert certificate_fingerprint_sha256(out) == fingerprint


@pytest.mark.parametrize("case", REFUSALS)
def test_getnextca_refuses_a_nonconforming_reply_and_writes_nothing(agent, ca, tmp_path, case):
    reply, words = refused_reply(case, ca, tmp_path)
    out = agent.path("next-ca.pem")
    with offering_next_ca(ca, reply) as proxy:
        result = agent.run("getnextca", "--url", proxy.url, "--ca-fingerprint", ca.ca_fingerprint_sha256, "--out", out, "--json")
    assert result.returncode == ExitCode.verification, result.stdout + result.stderr
    # With --json the failure is the one object on stdout, not repeated on stderr.
    report = json.loads(result.stdout)
    assert report["status"] == "verification-failed" and words in report["message"], report
    assert sorted(p.name for p in agent.workdir.iterdir()) == [], "nothing written, not even a temporary"


def test_getnextca_without_the_capability_exits_9(agent, ca):
    result = agent.run("getnextca", "--url", ca.url, "--ca-fingerprint", ca.ca_fingerprint_sha256)
    assert result.returncode == ExitCode.badReply, result.stderr
    assert "does not offer GetNextCACert" in result.stderr


def state_lines(gateway):
    path = gateway.dir / "state" / "wifi.state"
    return dict(line.split("=", 1) for line in path.read_text().splitlines()) if path.exists() else {}


def certificates_in(path):
    """SHA-256 fingerprints of the PEM certificates in a file, in order."""
    text = pathlib.Path(path).read_text()
    blocks = [block + "-----END CERTIFICATE-----\n" for block in text.split("-----END CERTIFICATE-----\n") if "BEGIN CERTIFICATE" in block]
    return [hashlib.sha256(pem_to_der(block.encode())).hexdigest() for block in blocks]


def rollover_gateway(agent, ca, proxy, renew_at="0.5"):
    gateway = Gateway(agent, ca, renew_at=renew_at, extra="ca_rollover = 1000d")
    gateway.config.write_text(gateway.config.read_text().replace(ca.url, proxy.url))
    return gateway


def test_daemon_installs_the_successor_from_a_conforming_reply_beside_the_ca(agent, short_ca, tmp_path):
    reply, next_fingerprint = make_next_ca(tmp_path / "next", short_ca)
    with offering_next_ca(short_ca, reply) as proxy:
        gateway = rollover_gateway(agent, short_ca, proxy)
        result = agent.run("renew-now", "--config", gateway.config, "--verbose")
        assert result.returncode == 0, result.stderr
        assert proxy.by_operation("GetNextCACert"), "the agent asked for the next CA"
    assert certificates_in(gateway.dir / "ca.pem") == [short_ca.ca_fingerprint_sha256, next_fingerprint], "the CA in use, then its successor"
    assert state_lines(gateway)["next_ca"] == next_fingerprint
    assert gateway.hooks() == 2, "post_renew after the enrollment and again after ca changed"
    gateway.assert_valid_set()
    ca_status = gateway.status()["ca"]
    assert ca_status["nextKnown"] is True and ca_status["next"] == next_fingerprint
    assert ca_status["notAfter"] == openssl_date(short_ca.ca_cert_pem_path)


def openssl_date(pem):
    """notAfter of a certificate as scep-agent prints it (2028-11-29T21:24:26Z)."""
    import datetime
    text = openssl_text("x509", "-in", pem, "-noout", "-enddate").strip().split("=", 1)[1]
    return datetime.datetime.strptime(text, "%b %d %H:%M:%S %Y %Z").strftime("%Y-%m-%dT%H:%M:%SZ")


def test_daemon_refuses_the_forged_successor_and_installs_nothing(agent, short_ca, tmp_path):
    """Issue 13's forgery from public data. Before the fix this put the attacker CA into ca.pem and the state."""
    with RecordingProxy(short_ca.base_url) as proxy:
        gateway = rollover_gateway(agent, short_ca, proxy)
        first = agent.run("renew-now", "--config", gateway.config)
        assert first.returncode == 0, first.stderr
        ca_before = (gateway.dir / "ca.pem").read_bytes()
        proxy.rewrite_caps = with_get_next_ca_cert
        proxy.overrides["GetNextCACert"] = (200, NEXT_CA_TYPE, forged_next_ca(tmp_path / "forged", short_ca))
        result = agent.run("renew-now", "--config", gateway.config)
        assert proxy.by_operation("GetNextCACert")
    assert result.returncode == ExitCode.verification, result.stderr
    assert "GetNextCACert reply's SignerInfo has no signed attributes" in result.stderr
    assert (gateway.dir / "ca.pem").read_bytes() == ca_before, "ca unchanged: only the pinned CA"
    state = state_lines(gateway)
    assert "next_ca" not in state and state["ca_check_result"] == "failed" and state["ca_check_reason"].startswith("GetNextCACert")
    assert state["ca_check_code"] == "messageSignatureInvalid"
    assert not (gateway.dir / "state" / "wifi.next-ca").exists()
    assert gateway.status()["ca"]["nextKnown"] is False
    assert gateway.status()["ca"]["lastCheck"].startswith("failed: GetNextCACert")


SUCCESSOR_KEY_PASSWORD = "successor-test"


def successor_depot(directory, old_ca):
    """A CA to succeed old_ca, made with OpenSSL (scepserver's `ca -init` makes only first CAs) and put where
    scepserver reads its CA: depot/ca.pem and depot/ca.key (PKCS#1 PEM, which scepserver wants encrypted: start it
    with `-capass SUCCESSOR_KEY_PASSWORD`). Same subject as the old CA, a new key, valid ten years: it starts now,
    before the old CA ends, and ends after it."""
    depot = directory / "depot"
    depot.mkdir(parents=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", directory / "key.pem", "-out", depot / "ca.pem",
            "-subj", "/C=US/O=scep-agent test CA/OU=SCEP CA", "-days", "3650",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("rsa", "-in", directory / "key.pem", "-traditional", "-des3", "-passout", "pass:" + SUCCESSOR_KEY_PASSWORD,
            "-out", depot / "ca.key")
    return depot / "ca.pem"


def metric(gateway, name):
    path = gateway.dir / "metrics.prom"
    for line in (path.read_text() if path.exists() else "").splitlines():
        if line.startswith(name + "{"):
            return line.split()[-1]
    return None


def test_daemon_keeps_renewing_across_a_real_ca_switch_without_a_config_change(agent, tmp_path):
    """Two real scepservers: the old CA, and its successor in a depot of its own. The proxy serves GetNextCACert
    (the old CA signs the successor) in front of the old one, then moves its upstream to the new one."""
    with ScepCA(tmp_path / "old", crtvalid=1, allowrenew=0) as old:
        successor_pem = successor_depot(tmp_path / "new", old)
        reply, new_fingerprint = make_next_ca(tmp_path / "next", old, next_pem=successor_pem)
        with ScepCA(tmp_path / "new", challenge=old.challenge, crtvalid=1, allowrenew=0,
                                                                                           extra_args=["-capass", SUCCESSOR_KEY_PASSWORD]) as new, offering_next_ca(old, reply) as proxy:
            assert new.ca_fingerprint_sha256 == new_fingerprint
            gateway = rollover_gateway(agent, old, proxy, renew_at="0.00002")
            config_before = gateway.config.read_bytes()
            gateway.start()
            try:
                gateway.wait_for(lambda: state_lines(gateway).get("next_ca") == new_fingerprint and metric(gateway, "scep_agent_next_ca_known") == "1",
                                 what="the successor to be known")
                assert certificates_in(gateway.dir / "ca.pem") == [old.ca_fingerprint_sha256, new_fingerprint]
                assert metric(gateway, "scep_agent_ca_not_after_timestamp_seconds") is not None
                # The CA switches: GetCACert and every issuance now come from the successor.
                proxy.overrides.clear()
                proxy.rewrite_caps = None
                proxy.upstream_port = new.port
                gateway.wait_for(lambda: state_lines(gateway).get("ca_pin") == new_fingerprint, what="the switch to be recorded")
                switched_serials = set()
                gateway.wait_for(lambda: issued_by(gateway, new, switched_serials) >= 2, what="two renewals from the new CA")
                assert certificates_in(gateway.dir / "ca.pem") == [new_fingerprint, old.ca_fingerprint_sha256], "the old CA stays until it expires"
                assert openssl_text("verify", "-CAfile", successor_pem, gateway.dir / "cert.pem").strip().endswith("OK")
                status = gateway.status()
                assert status["ca"]["pin"] == new_fingerprint and status["ca"]["previous"] == old.ca_fingerprint_sha256 and "switchedAt" in status["ca"]
                assert status["consecutiveFailures"] == 0
                assert metric(gateway, "scep_agent_next_ca_known") == "0", "no successor of the successor yet"
            finally:
                assert gateway.stop() == 0
            assert gateway.config.read_bytes() == config_before, "nobody re-pinned"
            stderr = gateway.process.stderr.read()
            assert "the CA switched to its successor" in stderr and "fingerprint mismatch" not in stderr


def issued_by(gateway, ca, serials):
    """How many distinct serials issued by `ca` (signature checked by OpenSSL) have been installed so far."""
    try:
        if openssl_text("verify", "-CAfile", ca.ca_cert_pem_path, gateway.dir / "cert.pem").strip().endswith("OK"):
            serials.add(gateway.serial())
    except subprocess.CalledProcessError:
        pass
    return len(serials)
