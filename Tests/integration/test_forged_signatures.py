"""Forged artifacts that copy the pinned CA's *name* but not its key: each must be refused by a
signature check (issue: trust rests on signatures, never on names). Every forgery is built by the test
CA (hostile_ca.py) from public data and a key of its own; the real scepserver judges strict mode."""
import pathlib
import re
import subprocess

from conftest import files_snapshot
from helpers import ExitCode, certificate_fingerprint_sha256, certificate_serial
from test_hostile import Device, expect_refusal, hostile, installed_device  # noqa: F401


def pem_blocks(path, label="CERTIFICATE"):
    return re.findall(f"-----BEGIN {label}-----.*?-----END {label}-----", pathlib.Path(path).read_text(), re.S)


def query_args(device, *extra):
    return [*device.common()[:4], "--key", device.path("key.pem"), "--cert", device.path("cert.pem"), "--timeout", "5", *extra]


def test_forged_ra_by_name_never_gets_the_request(agent, hostile):
    """An RA certificate in the CA's name from another key: the request (and its challenge) goes to
    the pinned CA, never to the forged RA."""
    hostile.misbehave("forged-ra", on=["GetCACert"])
    device = installed_device(agent, hostile)
    assert [entry["encryptedTo"] for entry in hostile.operations("PKIOperation")] == ["ca"]
    assert "does not verify under the pinned CA" in agent.last.stderr


def test_forged_ra_signing_the_certrep_is_refused(agent, hostile):
    expect_refusal(agent, hostile, "forged RA by name signs the CertRep", "forged-ra", ExitCode.verification, "CertRep",
                   on=["GetCACert", "PKIOperation"])


def test_forged_pending_is_refused(agent, hostile):
    """A forged PENDING would keep a device polling forever: it must not pass either."""
    expect_refusal(agent, hostile, "forged RA by name answers PENDING", "forged-ra-pending", ExitCode.verification, "CertRep",
                   on=["GetCACert", "PKIOperation"])


def test_certificate_signed_with_sha1_is_refused(agent, hostile):
    expect_refusal(agent, hostile, "issued certificate signed with SHA-1", "sha1-issued", ExitCode.verification, "does not chain to the pinned CA")


def test_getca_out_writes_only_what_verifies(agent, hostile):
    hostile.misbehave("forged-ra", on=["GetCACert"])
    out = agent.path("ca.pem")
    result = agent.run("getca", "--url", hostile.url, "--ca-fingerprint", hostile.ca_fingerprint_sha256, "--out", out)
    assert result.returncode == ExitCode.ok, result.stderr
    assert re.search(r"^unverified .*Hostile RA", result.stdout, re.M), result.stdout
    assert "CA  " in result.stdout and "(pinned)" in result.stdout
    blocks = pem_blocks(out)
    assert len(blocks) == 1
    assert certificate_fingerprint_sha256(out) == hostile.ca_fingerprint_sha256


def test_getcert_writes_the_requested_certificate_first(agent, hostile):
    device = installed_device(agent, hostile)
    serial = certificate_serial(device.path("cert.pem"))
    out = agent.path("fetched.pem")
    result = agent.run("getcert", *query_args(device, "--serial", serial, "--out", out))
    assert result.returncode == ExitCode.ok, result.stderr
    blocks = pem_blocks(out)
    assert len(blocks) == 2
    assert certificate_serial(out) == serial
    assert pem_blocks(device.path("cert.pem"))[0] == blocks[0]


def test_getcert_of_a_forged_certificate_is_refused(agent, hostile):
    device = installed_device(agent, hostile)
    serial = certificate_serial(device.path("cert.pem"))
    hostile.misbehave("forged-getcert")
    before = files_snapshot(agent.workdir)
    result = agent.run("getcert", *query_args(device, "--serial", serial, "--out", agent.path("fetched.pem")))
    assert result.returncode == ExitCode.verification, result.stderr
    assert "does not chain to the pinned CA" in result.stderr
    assert files_snapshot(agent.workdir) == before


def test_getcrl_checks_the_signature(agent, hostile):
    device = installed_device(agent, hostile)
    out = agent.path("ca.crl")
    result = agent.run("getcrl", *query_args(device, "--out", out))
    assert result.returncode == ExitCode.ok, result.stderr
    verified = subprocess.run(["openssl", "crl", "-in", out, "-noout", "-CAfile", hostile.ca_cert_pem_path], capture_output=True, text=True)
    assert "verify OK" in verified.stdout + verified.stderr
    out.unlink()
    for mode in ("forged-crl", "unsigned-crl"):
        hostile.misbehave(mode)
        before = files_snapshot(agent.workdir)
        result = agent.run("getcrl", *query_args(device, "--out", out))
        assert result.returncode == ExitCode.verification, mode + ": " + result.stderr
        assert "CRL" in result.stderr and "nothing was written" in result.stderr
        assert files_snapshot(agent.workdir) == before


def test_strict_refuses_scepservers_single_des_sha1_reply(agent, ca, tmp_path):
    """scepserver 2.1.0 always answers with single DES and SHA-1: tolerated by default, refused with --strict."""
    challenge = tmp_path / "challenge"
    challenge.write_text(ca.challenge + "\n")
    common = ["--url", ca.url, "--ca-fingerprint", ca.ca_fingerprint_sha256, "--subject", "CN=gw-strict,O=Example",
              "--challenge-file", challenge, "--key", agent.path("key.pem"), "--cert", agent.path("cert.pem")]
    result = agent.run("enroll", *common, "--strict")
    assert result.returncode == ExitCode.badReply, result.stderr
    assert "strict mode" in result.stderr and "SHA-1" in result.stderr
    assert not agent.path("cert.pem").exists() and not agent.path("key.pem").exists()
    result = agent.run("enroll", *common)
    assert result.returncode == ExitCode.ok, result.stderr
    assert "(weak); accepted because the server chose it" in result.stderr
    # A renewal tries two keys (the current one signs, the new one is certified): the strict refusal
    # must be what is reported, not the second key's failure to decrypt.
    before = files_snapshot(agent.workdir)
    result = agent.run("renew", *common[:4], "--key", agent.path("key.pem"), "--cert", agent.path("cert.pem"),
                       "--challenge-file", challenge, "--strict")
    assert result.returncode == ExitCode.badReply, result.stderr
    assert "strict mode" in result.stderr, result.stderr
    assert files_snapshot(agent.workdir) == before


def test_strict_refuses_a_ca_offering_only_3des(agent, tmp_path):
    from hostile_ca import HostileCA
    with HostileCA(tmp_path / "weak", caps=("Renewal", "SHA-1", "DES3", "POSTPKIOperation")) as weak:
        device = Device(agent, weak)
        result = device.enroll("--strict")
        assert result.returncode == ExitCode.badReply, result.stderr
        assert "strict mode" in result.stderr and "without AES and SHA-256" in result.stderr
        assert not weak.operations("PKIOperation"), "nothing may be sent to a CA strict mode refuses"
