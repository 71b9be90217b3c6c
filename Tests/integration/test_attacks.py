"""Red-team reproducers against the issue-12 fix (trust rests on signatures, never on names or on files
others can write). Each test is an attack built from public data only (the CA's certificate, what a
network attacker sees, what user nobody can make in a shared directory) that the fix lets through: each
FAILS on the code it was written against (branch attack-12) and must pass once the hole is closed."""
import os
import pathlib
import stat
import subprocess

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hostile_ca import Identity
from helpers import ExitCode, certificate_fingerprint_sha256, openssl
from recording_proxy import RecordingProxy
from test_daemon import Gateway, make_next_ca, short_ca, with_get_next_ca_cert  # noqa: F401 (fixture)
from test_forged_files import NOBODY, UNREACHABLE_CA, as_nobody, shared_directory
from test_hostile import Device, hostile, installed_device  # noqa: F401 (fixture)


# ---- 1. GetNextCACert: the successor is taken from the SignedData's *unsigned* certificate bag

def replace_certificate_bag(signed_data_der, certificate_ders):
    """What a man in the middle does to a CMS SignedData the pinned CA signed: the `certificates` field is
    not covered by the signature (RFC 5652 §5.3/5.4: only eContent and the signed attributes are), so
    it can be swapped without the CA's key. The signature and the signed content stay byte for byte."""
    info = asn1_cms.ContentInfo.load(signed_data_der)
    signed = info["content"]
    signed["certificates"] = [asn1_cms.CertificateChoices(name="certificate", value=asn1_x509.Certificate.load(d))
                              for d in certificate_ders]
    return info.dump(force=True)


def test_rollover_does_not_take_a_successor_from_the_unsigned_certificate_bag(agent, short_ca, tmp_path):  # noqa: F811
    """The genuine GetNextCACert reply (signed by the pinned CA; the reply is public, anyone can GET it),
    with its certificate bag replaced by a self-made CA. The agent must not install that CA into the `ca`
    file nor pin it as the next CA: with the pin, a later GetCACert holding only the rogue CA makes it the
    CA (discover()'s rollover branch), i.e. the attacker receives the challenge and issues the device's
    certificates."""
    genuine, _ = make_next_ca(tmp_path / "next", short_ca)
    rogue = tmp_path / "rogue"
    rogue.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", rogue / "key.pem", "-out", rogue / "ca.pem",
            "-subj", "/O=attacker/CN=Rogue successor CA", "-days", "3650", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    rogue_der = x509.load_pem_x509_certificate((rogue / "ca.pem").read_bytes()).public_bytes(serialization.Encoding.DER)
    forged = replace_certificate_bag(genuine, [rogue_der])
    rogue_fingerprint = certificate_fingerprint_sha256(rogue / "ca.pem")
    with RecordingProxy(short_ca.base_url, rewrite_caps=with_get_next_ca_cert,
                        overrides={"GetNextCACert": (200, "application/x-x509-next-ca-cert", forged)}) as proxy:
        gateway = Gateway(agent, short_ca, extra="ca_rollover = 1000d")
        gateway.config.write_text(gateway.config.read_text().replace(short_ca.url, proxy.url))
        result = agent.run("renew-now", "--config", gateway.config, "--verbose")
        assert proxy.by_operation("GetNextCACert"), "the agent asked for the next CA"
    # The successor's pin is the state file's next_ca (it was a file of its own, wifi.next-ca, once).
    state = agent.workdir / "state" / "wifi.state"
    assert state.exists() and f"next_ca={rogue_fingerprint}\n" not in state.read_text(), \
        "the agent pinned a CA from the unsigned certificate bag as the next CA:\n" + result.stderr
    assert "Rogue successor CA" not in (agent.workdir / "ca.pem").read_text() and "Rogue successor" not in result.stderr, \
        "the agent installed a CA from the unsigned certificate bag into the ca file:\n" + result.stderr


# ---- 2. Recovery renames a temporary that another user planted after a crash

def test_recovery_does_not_install_a_temporary_planted_by_another_user(agent, tmp_path):
    """A crash between the commit point and the renames (fault point install.renamed.key.pem) leaves
    root's own journal naming `.key.pem.scep-new`, already renamed away. In a sticky shared directory
    nobody creates that name with a key of their own; the next recovery (here renew-now's) must not
    rename it over key.pem. Today it does: key.pem becomes nobody's file, holding nobody's key."""
    shared = shared_directory(tmp_path)
    crashed = agent.run("csr", "--subject", "CN=gw-crash,O=Example", "--key-type", "ec:p256", "--key", shared / "key.pem",
                        "--out", shared / "cert.pem", env={"SCEP_AGENT_FAULT": "install.renamed.key.pem"})
    assert crashed.returncode == -9, (crashed.returncode, crashed.stderr)
    assert (shared / ".cert.pem.scep-install").exists() and not (shared / ".key.pem.scep-new").exists()
    attacker_key = openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    as_nobody(shared, lambda: pathlib.Path(".key.pem.scep-new").write_bytes(attacker_key))

    config = Gateway(agent, UNREACHABLE_CA).config
    config.write_text(config.read_text().replace(f"{agent.workdir}/key.pem", f"{shared}/key.pem")
                      .replace(f"{agent.workdir}/cert.pem", f"{shared}/cert.pem"))
    result = agent.run("renew-now", "--config", config)
    key = shared / "key.pem"
    assert key.stat().st_uid != NOBODY.pw_uid and key.read_bytes() != attacker_key, \
        "recovery renamed nobody's planted temporary over key.pem:\n" + result.stderr


# ---- 3. Any end-entity certificate of the pinned CA (another device's) becomes an RA

def stolen_identity(device):
    """What an attacker who owns one enrolled device (or any certificate of the same CA) holds."""
    key = serialization.load_pem_private_key(device.path("key.pem").read_bytes(), password=None)
    certificate = x509.load_pem_x509_certificate(device.path("cert.pem").read_bytes())
    return Identity(key, certificate)


def test_another_devices_certificate_does_not_receive_the_challenge(agent, hostile):  # noqa: F811
    """GetCACert (unauthenticated) lists, before the CA, the clientAuth certificate the same CA issued
    to a device the attacker owns (digitalSignature, keyEncipherment). It verifies under the pinned CA,
    so CARoles makes it the RA and the victim's PKCSReq (challenge included) is encrypted to it."""
    attacker = installed_device(agent, hostile)
    hostile.extra_ras = {"attacker-device": stolen_identity(attacker)}
    victim = Device(agent, hostile, name="victim")
    victim.enroll()
    targets = [entry.get("encryptedTo") for entry in hostile.operations("PKIOperation")][1:]
    assert targets and "attacker-device" not in targets, \
        "the victim's request and challenge were encrypted to another device's certificate: " + repr(targets)


def test_another_devices_certificate_cannot_sign_a_certrep(agent, hostile):  # noqa: F811
    """The same certificate signs a FAILURE CertRep for the victim's request: it must be refused as a
    signer (exit 7), not reported as the CA's answer."""
    attacker = installed_device(agent, hostile)
    stolen = stolen_identity(attacker)
    hostile.extra_ras = {"attacker-device": stolen}
    hostile.certrep_signer = stolen
    hostile.misbehave("failure")
    victim = Device(agent, hostile, name="victim")
    result = victim.enroll()
    assert result.returncode == ExitCode.verification, (result.returncode, result.stderr)


# ---- 4. A FIFO where a journal is looked for hangs the agent (open(2) blocks before fstat)

def test_a_fifo_planted_as_the_install_journal_is_refused_not_waited_on(agent, tmp_path):
    shared = shared_directory(tmp_path)
    as_nobody(shared, lambda: os.mkfifo(".req.pem.scep-install"))
    assert stat.S_ISFIFO((shared / ".req.pem.scep-install").lstat().st_mode)
    try:
        result = agent.run("csr", "--subject", "CN=gw-fifo,O=Example", "--key-type", "ec:p256",
                           "--key", shared / "key.pem", "--out", shared / "req.pem", timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("scep-agent blocked forever opening nobody's FIFO as its install journal")
    assert result.returncode == ExitCode.file and "not a regular file" in result.stderr, result.stderr


# ---- 5. A pending key another user planted in a shared directory is "resumed": the CA certifies it

def attacker_rsa_key():
    return openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")


def public_key_of(pem_path):
    return openssl("pkey", "-in", pem_path, "-pubout")


@pytest.mark.parametrize("planted", ["file", "symlink"])
def test_enroll_does_not_resume_a_pending_key_another_user_planted(agent, ca, tmp_path, planted):  # noqa: F811
    """`.KEY.scep-pending` decides which key the CA certifies and which key is installed. In a sticky
    shared directory user nobody plants one: a key of their own (the attacker then holds the device's
    private key), or a symbolic link to a key only root may read (another service's key is certified and
    copied to KEY). The agent must refuse it (exit 8, the path named) before it sends anything."""
    shared = shared_directory(tmp_path)
    attacker_key = tmp_path / "attacker.pem"
    attacker_key.write_bytes(attacker_rsa_key())
    attacker_key.chmod(0o600)
    if planted == "file":
        key_of_their_own = attacker_key.read_bytes()
        as_nobody(shared, lambda: pathlib.Path(".key.pem.scep-pending").write_bytes(key_of_their_own))
    else:
        # A key only root may read (another service's): nobody names it without reading it.
        as_nobody(shared, lambda: os.symlink(attacker_key, ".key.pem.scep-pending"))
    challenge = tmp_path / "challenge"
    challenge.write_text(ca.challenge + "\n")
    result = agent.run("enroll", "--url", ca.url, "--ca-fingerprint", ca.ca_fingerprint_sha256, "--subject", "CN=gw-planted,O=Example",
                       "--challenge-file", challenge, "--key", shared / "key.pem", "--cert", shared / "cert.pem", "--chain", shared / "chain.pem")
    key = shared / "key.pem"
    assert not (key.exists() and public_key_of(key) == public_key_of(attacker_key)), \
        "the agent resumed the planted pending key: the CA certified a key the attacker chose, installed as key.pem:\n" + result.stderr
    assert result.returncode == ExitCode.file and "refusing" in result.stderr and ".key.pem.scep-pending" in result.stderr, \
        (result.returncode, result.stderr)
