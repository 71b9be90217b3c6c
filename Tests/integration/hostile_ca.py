#!/usr/bin/env python3
"""A SCEP responder for tests that can be told to misbehave (Python 3, `cryptography` and `asn1crypto`).

    with HostileCA(workdir, ra=False) as ca:     # listens on 127.0.0.1, an ephemeral port
        ca.url, ca.challenge, ca.ca_fingerprint_sha256, ca.ca_cert_pem_path
        ca.misbehave("wrong-transaction-id")     # from now on; ca.misbehave("good") to stop
        ca.log                                   # one dict per request: operation, messageType, cipher, ...

It is a real SCEP server (RFC 8894): GetCACaps, GetCACert (its CA alone, or with `ra=True` the CA and
two NDES-style RA certificates: one with keyUsage digitalSignature that signs CertReps, one with
keyEncipherment that requests are encrypted to), and PKIOperation: it verifies the request's
SignedData (RSA or ECDSA), decrypts the EnvelopedData (AES-128, AES-256 or 3DES with RSA key
transport, or with `ec_ca=True`, whose CA key is EC P-256, PasswordRecipientInfo under its
challenge), issues a certificate for the CSR's key and answers a CertRep (messageType 3, pkiStatus,
transactionID, recipientNonce = the request's senderNonce, a fresh senderNonce) whose content is a
certs-only PKCS#7 enveloped to the request's signer certificate, or, when that key is EC and cannot
decrypt, to the challenge password with PasswordRecipientInfo (RFC 8894 §3.1; built and opened by
the openssl CLI, since `cryptography` has no PWRI). CertPoll is answered for requests it holds.

The response encoder is our own (`Node`), so a mode can send BER (indefinite lengths) or structures
that no honest CA sends. MODES lists every misbehaviour. It only ever binds 127.0.0.1.
"""

import base64
import datetime
import hashlib
import http.server
import os
import secrets
import threading
import time
import urllib.parse

from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from asn1crypto import csr as asn1_csr
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding as sym_padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from background_http import BackgroundHTTPServer, ServesInBackground
from helpers import OpenSSLError, openssl

try:  # cryptography >= 43 moved 3DES here; Debian 12 has 38
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover
    TripleDES = algorithms.TripleDES

LOOPBACK = "127.0.0.1"
MAX_BODY = 1024 * 1024  # the agent's response cap

# ---- OIDs
OID_DATA = "1.2.840.113549.1.7.1"
OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_SIGNING_TIME = "1.2.840.113549.1.9.5"
OID_RSA = "1.2.840.113549.1.1.1"
OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
OID_SHA256 = "2.16.840.1.101.3.4.2.1"
OID_AES128_CBC = "2.16.840.1.101.3.4.1.2"
OID_AES256_CBC = "2.16.840.1.101.3.4.1.42"
OID_DES3_CBC = "1.2.840.113549.3.7"
SCEP_MESSAGE_TYPE = "2.16.840.1.113733.1.9.2"
SCEP_PKI_STATUS = "2.16.840.1.113733.1.9.3"
SCEP_FAIL_INFO = "2.16.840.1.113733.1.9.4"
SCEP_SENDER_NONCE = "2.16.840.1.113733.1.9.5"
SCEP_RECIPIENT_NONCE = "2.16.840.1.113733.1.9.6"
SCEP_TRANSACTION_ID = "2.16.840.1.113733.1.9.7"
FAIL_INFO_TEXT = "1.3.6.1.5.5.7.24.1"
CHALLENGE_PASSWORD = "1.2.840.113549.1.9.7"

# Microsoft's Certificate Request Agent extended key usage, which NDES RA certificates carry.
RA_USAGE = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.1")

CIPHERS = {  # OID: (name, key bytes, algorithm factory)
    OID_AES128_CBC: ("aes128", 16, algorithms.AES),
    OID_AES256_CBC: ("aes256", 32, algorithms.AES),
    OID_DES3_CBC: ("des3", 24, TripleDES),
}
CIPHER_OIDS = {name: oid for oid, (name, _, _) in CIPHERS.items()}

MESSAGE_TYPES = {"3": "CertRep", "17": "RenewalReq", "19": "PKCSReq", "20": "CertPoll", "21": "GetCert", "22": "GetCRL"}

# Every misbehaviour, by name. "good" is a well-behaved CA.
MODES = {
    "good": "a well-behaved CA",
    "rogue-signer": "CertRep signed by an unrelated key (a self-signed certificate of its own)",
    "rogue-signer-same-name": "CertRep signed by an unrelated key whose certificate copies the CA's issuer and serial",
    "wrong-transaction-id": "CertRep with another transactionID",
    "wrong-recipient-nonce": "CertRep whose recipientNonce is not our senderNonce",
    "missing-recipient-nonce": "CertRep without recipientNonce",
    "replay": "the CertRep of the previous successful transaction, byte for byte",
    "foreign-key": "certificate issued for a key that is not the requester's",
    "other-ca": "certificate issued by another CA that copies the pinned CA's name",
    "expired": "certificate that expired yesterday",
    "wrong-ra-signs": "NDES: CertRep signed by the RA certificate that has only keyEncipherment",
    "failure": "CertRep FAILURE with failInfo badCertId and a failInfoText",
    "pending": "CertRep PENDING to every request and poll",
    "unknown-message-type": "reply with messageType 99",
    "request-message-type": "reply with messageType 19 (PKCSReq) instead of 3",
    "garbage": "200 application/x-pki-message with random bytes",
    "html": "200 text/html with a login page, on the operations in `on`",
    "wrong-content-type": "the correct body labelled text/html, on the operations in `on`",
    "http-500": "HTTP 500 with a text body",
    "truncated": "Content-Length of the whole reply, half of it sent, then the connection closed",
    "oversized": "a Content-Length of 1 MiB + 1 and that many bytes",
    "oversized-unframed": "1 MiB + 64 KiB without Content-Length, read to close",
    "oversized-chunked": "1 MiB + 64 KiB in chunks",
    "slow-drip": "headers at once, then one body byte every 0.2 s",
    "redirect-loop": "302 between /scep and /scep-loop forever",
    "chunked": "the correct reply with Transfer-Encoding: chunked in 97-byte chunks",
    "ber": "the CertRep and GetCACert PKCS#7 with BER indefinite lengths and constructed OCTET STRINGs",
    "forged-ra": "GetCACert also lists an RA certificate issued in the CA's name by another key; CertReps are signed by it",
    "forged-ra-pending": "as forged-ra, and every request is answered PENDING, signed by the forged RA",
    "sha1-issued": "the issued certificate is signed with SHA-1",
    "forged-getcert": "GetCert answers a certificate with the requested serial, issued in the CA's name by another key",
    "forged-crl": "GetCRL answers a CRL in the CA's name signed by another key",
    "unsigned-crl": "GetCRL answers the CA's CRL with its signature zeroed",
    "forged-text": "HTTP 500 whose body (FORGED_TEXT) forges log lines, a journal priority, an sd_notify assignment and terminal escapes",
    "forged-failinfo-text": "CertRep FAILURE whose failInfoText is FORGED_TEXT",
}

# Server text that tries to become more than text: a new log line with journal priority 0 (emerg), an
# sd_notify assignment on a line of its own, terminal escapes (clear screen, window title, a C1 CSI, a
# right-to-left override) and bytes that are not UTF-8.
FORGED_TEXT = "x\n<0>FORGED\nWATCHDOG=trigger\r\n\x1b[2J\x1b]0;pwned\x07 \u009b31m \u202egnp.exe end"
FORGED_BYTES = FORGED_TEXT.encode() + b" \xff\xfe\x00tail"


# ---- a small DER/BER encoder (ours, so a reply can be made non-DER on purpose)

def _length(n):
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


class Node:
    """A TLV: `value` is bytes (primitive) or a list of Nodes/bytes (constructed). `indefinite`
    encodes a constructed node with BER's 0x80 length and an end-of-contents marker."""

    def __init__(self, tag, value, indefinite=False):
        self.tag, self.value, self.indefinite = tag, value, indefinite

    def encode(self):
        if isinstance(self.value, (bytes, bytearray)):
            return bytes([self.tag]) + _length(len(self.value)) + bytes(self.value)
        inner = b"".join(part.encode() if isinstance(part, Node) else bytes(part) for part in self.value)
        if self.indefinite:
            return bytes([self.tag, 0x80]) + inner + b"\x00\x00"
        return bytes([self.tag]) + _length(len(inner)) + inner


def seq(*parts, indefinite=False):
    return Node(0x30, list(parts), indefinite)


def set_of(*parts, indefinite=False):
    encoded = sorted(p.encode() if isinstance(p, Node) else bytes(p) for p in parts)  # DER order
    return Node(0x31, encoded, indefinite)


def explicit(n, *parts, indefinite=False):
    return Node(0xA0 | n, list(parts), indefinite)


def oid(dotted):
    return asn1_core.ObjectIdentifier(dotted).dump()


def integer(value):
    return asn1_core.Integer(value).dump()


def octets(data, chunk=None):
    """OCTET STRING; with `chunk`, BER's constructed form (indefinite) of primitive pieces."""
    if chunk is None:
        return Node(0x04, bytes(data))
    return Node(0x24, [Node(0x04, bytes(data[i:i + chunk])) for i in range(0, len(data), chunk)] or [Node(0x04, b"")],
                indefinite=True)


def printable(text):
    return Node(0x13, text.encode("ascii"))


def algorithm(dotted, parameters=b"\x05\x00"):
    return seq(oid(dotted), parameters)


def content_info(content_type, content, ber=False):
    return seq(oid(content_type), explicit(0, content, indefinite=ber), indefinite=ber)


def attribute(dotted, value):
    return seq(oid(dotted), set_of(value))


# ---- keys and certificates

def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def new_key(bits=2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def name(common_name, organization="scep-agent hostile CA"):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificate(subject, public_key, issuer, issuer_key, *, ca=False, key_usage=None, serial=None,
                     not_before=None, not_after=None, extended_usage=None, extensions=()):
    now = _now()
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
               .serial_number(serial or x509.random_serial_number())
               .not_valid_before(not_before or now - datetime.timedelta(minutes=5))
               .not_valid_after(not_after or now + datetime.timedelta(days=365)))
    builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    if key_usage is not None:
        usage = dict(digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
                     key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False)
        usage.update({k: True for k in key_usage})
        builder = builder.add_extension(x509.KeyUsage(**usage), critical=True)
    if extended_usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended_usage), critical=False)
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def resigned_with_sha1(certificate, issuer_key):
    """The same certificate signed with sha1WithRSAEncryption (cryptography no longer signs with SHA-1)."""
    parsed = asn1_x509.Certificate.load(der(certificate))
    tbs = parsed["tbs_certificate"]
    tbs["signature"] = {"algorithm": "sha1_rsa"}
    parsed["signature_algorithm"] = {"algorithm": "sha1_rsa"}
    parsed["signature_value"] = issuer_key.sign(tbs.dump(force=True), padding.PKCS1v15(), hashes.SHA1())
    return x509.load_der_x509_certificate(parsed.dump(force=True))


def der(certificate):
    return certificate.public_bytes(serialization.Encoding.DER)


class Identity:
    """A key and its certificate."""

    def __init__(self, key, certificate):
        self.key, self.certificate = key, certificate
        self.der = der(certificate)

    @property
    def issuer_and_serial(self):
        return seq(self.certificate.issuer.public_bytes(), integer(self.certificate.serial_number))


_KEY_POOL = []
_KEY_LOCK = threading.Lock()


def pooled_key(index):
    """RSA-2048 keys made once per process (key generation is the slow part of a CA)."""
    with _KEY_LOCK:
        while len(_KEY_POOL) <= index:
            _KEY_POOL.append(new_key())
        return _KEY_POOL[index]


# ---- parsing a request

class RequestError(Exception):
    pass


class Request:
    """A verified, decrypted pkiMessage."""

    def __init__(self, body, recipients, password):
        info = asn1_cms.ContentInfo.load(body)
        if info["content_type"].dotted != OID_SIGNED_DATA:
            raise RequestError("not a SignedData")
        signed = info["content"]
        signers = signed["signer_infos"]
        if len(signers) != 1:
            raise RequestError(f"{len(signers)} signers")
        signer = signers[0]
        certificates = [c.chosen.dump() for c in signed["certificates"]]
        sid = signer["sid"].chosen
        self.signer_der = None
        for candidate in certificates:
            parsed = x509.load_der_x509_certificate(candidate)
            if (parsed.serial_number == sid["serial_number"].native
                    and parsed.issuer.public_bytes() == sid["issuer"].dump()):
                self.signer_der = candidate
        if self.signer_der is None:
            raise RequestError("the signer's certificate is not in the SignedData")
        self.signer_certificate = x509.load_der_x509_certificate(self.signer_der)
        content = signed["encap_content_info"]["content"].native
        attributes = {a["type"].dotted: a["values"] for a in signer["signed_attrs"]}
        digest_name = signer["digest_algorithm"]["algorithm"].native
        hash_algorithm = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256(), "sha512": hashes.SHA512(),
                          "sha384": hashes.SHA384()}[digest_name]
        self.digest = digest_name
        expected = attributes[OID_MESSAGE_DIGEST][0].native
        actual = hashlib.new(digest_name, content).digest()
        if expected != actual:
            raise RequestError("messageDigest does not match")
        signed_attributes = bytearray(signer["signed_attrs"].dump())
        signed_attributes[0] = 0x31
        signer_key = self.signer_certificate.public_key()
        if isinstance(signer_key, ec.EllipticCurvePublicKey):
            signer_key.verify(signer["signature"].native, bytes(signed_attributes), ec.ECDSA(hash_algorithm))
        else:
            signer_key.verify(signer["signature"].native, bytes(signed_attributes), padding.PKCS1v15(), hash_algorithm)

        def text(oid_):
            return attributes[oid_][0].parse(asn1_core.PrintableString).native

        self.message_type = text(SCEP_MESSAGE_TYPE)
        self.transaction_id = text(SCEP_TRANSACTION_ID)
        self.sender_nonce = attributes[SCEP_SENDER_NONCE][0].parse(asn1_core.OctetString).native

        envelope = asn1_cms.ContentInfo.load(content)["content"]
        encrypted = envelope["encrypted_content_info"]
        cipher_oid = encrypted["content_encryption_algorithm"]["algorithm"].dotted
        if cipher_oid not in CIPHERS:
            raise RequestError(f"content cipher {cipher_oid}")
        self.cipher, key_size, factory = CIPHERS[cipher_oid]
        if envelope["recipient_infos"][0].name == "pwri":
            self.encrypted_to = "password"
            self.message_data = pwri_decrypt(content, password)
            return
        recipient = envelope["recipient_infos"][0].chosen
        rid = recipient["rid"].chosen
        key = None
        for role, identity in recipients.items():
            if (identity.certificate.serial_number == rid["serial_number"].native
                    and identity.certificate.issuer.public_bytes() == rid["issuer"].dump()):
                key, self.encrypted_to = identity.key, role
        if key is None:
            raise RequestError("encrypted to a certificate this CA does not hold")
        if not isinstance(key, rsa.RSAPrivateKey):
            raise RequestError("key transport to a key that cannot decrypt (RFC 8894 §3.1 wants PasswordRecipientInfo)")
        content_key = key.decrypt(recipient["encrypted_key"].native, padding.PKCS1v15())
        iv = encrypted["content_encryption_algorithm"]["parameters"].native
        decryptor = Cipher(factory(content_key), modes.CBC(iv)).decryptor()
        padded = decryptor.update(encrypted["encrypted_content"].native) + decryptor.finalize()
        unpadder = sym_padding.PKCS7(factory.block_size).unpadder()
        self.message_data = unpadder.update(padded) + unpadder.finalize()

    def csr(self):
        return x509.load_der_x509_csr(self.message_data)

    def challenge(self):
        for attribute_ in asn1_csr.CertificationRequest.load(self.message_data)["certification_request_info"]["attributes"]:
            if attribute_["type"].dotted == CHALLENGE_PASSWORD:
                return attribute_["values"][0].native
        return None


# ---- the server

class HostileCA(ServesInBackground):
    def __init__(self, workdir, ra=False, caps=("Renewal", "SHA-256", "AES", "DES3", "SCEPStandard", "POSTPKIOperation"),
                 challenge=None, validity_days=365, ec_ca=False):
        self.workdir = os.path.abspath(str(workdir))
        os.makedirs(self.workdir, exist_ok=True)
        self.challenge = secrets.token_urlsafe(12) if challenge is None else challenge
        self.caps = list(caps)
        self.validity_days = validity_days
        # An EC CA key cannot decrypt: requests to it come with PasswordRecipientInfo.
        ca_key = ec.generate_private_key(ec.SECP256R1()) if ec_ca else pooled_key(0)
        ca_name = name("Hostile Test CA")
        self.ca = Identity(ca_key, make_certificate(ca_name, ca_key.public_key(), ca_name, ca_key, ca=True,
                                                    key_usage=("key_cert_sign", "crl_sign", "digital_signature")))
        self.ra = ra
        if ra:  # NDES: one RA certificate signs, another decrypts; the CA itself does neither.
            sign_key, encrypt_key = pooled_key(1), pooled_key(2)
            self.ra_signer = Identity(sign_key, make_certificate(name("Hostile RA signer"), sign_key.public_key(), ca_name, ca_key,
                                                                 key_usage=("digital_signature",), extended_usage=[RA_USAGE]))
            self.ra_encryption = Identity(encrypt_key, make_certificate(name("Hostile RA encryption"), encrypt_key.public_key(),
                                                                        ca_name, ca_key, key_usage=("key_encipherment",),
                                                                        extended_usage=[RA_USAGE]))
        rogue_key = pooled_key(3)
        # Another CA with the very same name as ours, and a signer that copies our CA's issuer and serial.
        self.rogue_ca = Identity(rogue_key, make_certificate(ca_name, rogue_key.public_key(), ca_name, rogue_key, ca=True,
                                                             key_usage=("key_cert_sign", "digital_signature"),
                                                             serial=self.ca.certificate.serial_number))
        rogue_name = name("Rogue signer", "somebody else")
        self.rogue = Identity(rogue_key, make_certificate(rogue_name, rogue_key.public_key(), rogue_name, rogue_key,
                                                          key_usage=("digital_signature",)))
        # An RA "issued" in our CA's name by the rogue key: only a signature check tells it apart.
        self.forged_ra = Identity(rogue_key, make_certificate(name("Hostile RA"), rogue_key.public_key(), ca_name, rogue_key,
                                                              key_usage=("digital_signature", "key_encipherment"),
                                                              extended_usage=[RA_USAGE]))
        self.mode = "good"
        self.mode_on = None
        self.log = []
        self.pending = {}  # transactionID -> CSR waiting while PENDING
        self.last_success = None  # the bytes of the last SUCCESS CertRep (for "replay")
        self.issued = []
        # Extra certificates GetCACert lists first (label -> Identity), as a man in the middle would add
        # them; the CA can decrypt what is encrypted to them (to show who can read a request).
        self.extra_ras = {}
        # When set, CertReps are signed by this Identity instead of the CA (or RA).
        self.certrep_signer = None
        self._lock = threading.Lock()
        self._server = None
        with open(self.ca_cert_pem_path, "wb") as f:
            f.write(self.ca.certificate.public_bytes(serialization.Encoding.PEM))

    # ---- public
    @property
    def port(self):
        return self._server.port

    @property
    def base_url(self):
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def url(self):
        return f"{self.base_url}/scep"

    @property
    def ca_cert_pem_path(self):
        return os.path.join(self.workdir, "hostile-ca.pem")

    @property
    def ca_cert_der(self):
        return self.ca.der

    @property
    def ca_fingerprint_sha256(self):
        return hashlib.sha256(self.ca.der).hexdigest()

    def misbehave(self, mode, on=None):
        """From now on behave as `mode` (a key of MODES). `on`: the operations it applies to
        (default: PKIOperation for CertRep modes, every operation for the HTTP ones)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        with self._lock:
            self.mode = mode
            self.mode_on = set(on) if on else None

    def operations(self, name_=None):
        with self._lock:
            return [entry for entry in self.log if name_ is None or entry["operation"] == name_]

    def start(self):
        ca = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30

            def log_message(self, *args):
                pass

            def do_GET(self):
                ca._handle(self)

            def do_POST(self):
                ca._handle(self)

        self._server = BackgroundHTTPServer(Handler, "hostile-ca", poll_interval=0.05)
        return self

    # ---- HTTP
    def _applies(self, operation, default_ops):
        with self._lock:
            mode, on = self.mode, self.mode_on
        return mode if operation in (on if on is not None else default_ops) else "good"

    def _handle(self, handler):
        url = urllib.parse.urlsplit(handler.path)
        query = urllib.parse.parse_qs(url.query)
        operation = (query.get("operation") or [""])[0]
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        entry = {"operation": operation, "method": handler.command, "path": url.path}
        with self._lock:
            self.log.append(entry)
        all_ops = {"GetCACaps", "GetCACert", "PKIOperation", "GetNextCACert"}
        mode = self._applies(operation, all_ops if self.mode in _HTTP_MODES else {"PKIOperation"})
        entry["mode"] = mode
        if mode == "redirect-loop":
            other = "/scep-loop" if url.path == "/scep" else "/scep"
            return self._send(handler, 302, "text/plain", b"moved\n", extra=[("Location", other + "?" + url.query)])
        if url.path != "/scep":
            return self._send(handler, 404, "text/plain", b"not found\n")
        if operation == "GetCACaps":
            status, content_type, reply = 200, "text/plain", ("\n".join(self.caps) + "\n").encode()
        elif operation == "GetCACert":
            status, content_type, reply = 200, *self._ca_certificates(ber=mode == "ber", forged_ra=mode.startswith("forged-ra"))
        elif operation == "PKIOperation":
            if handler.command == "GET":
                message = (query.get("message") or [""])[0]
                body = base64.b64decode(message)
            status, content_type, reply = self._pki_operation(body, mode, entry)
        else:
            status, content_type, reply = 400, "text/plain", b"unknown operation\n"
        self._deliver(handler, mode, status, content_type, reply)

    def _ca_certificates(self, ber=False, forged_ra=False):
        if not self.ra and not ber and not forged_ra and not self.extra_ras:
            return "application/x-x509-ca-cert", self.ca.der
        # NDES lists the RA certificates before the CA.
        certificates = ([self.ra_signer.der, self.ra_encryption.der] if self.ra else []) + [self.ca.der]
        if forged_ra:
            certificates.insert(0, self.forged_ra.der)
        certificates = [identity.der for identity in self.extra_ras.values()] + certificates
        return "application/x-x509-ca-ra-cert", degenerate(certificates, ber=ber)

    def _deliver(self, handler, mode, status, content_type, reply):
        if mode == "http-500":
            return self._send(handler, 500, "text/plain", b"internal trouble: the CA database is locked\n")
        if mode == "forged-text":
            return self._send(handler, 500, "text/plain", FORGED_BYTES)
        if mode == "garbage":
            return self._send(handler, 200, content_type, os.urandom(700))
        if mode == "html":
            return self._send(handler, 200, "text/html", b"<!DOCTYPE html><html><body><form>Please log in to the "
                                                         b"guest network</form></body></html>\n")
        if mode == "wrong-content-type":
            return self._send(handler, 200, "text/html", reply)
        if mode == "truncated":
            return self._raw(handler, _head(200, content_type, len(reply)) + reply[:len(reply) // 2])
        if mode == "oversized":
            size = MAX_BODY + 1
            return self._raw(handler, _head(200, content_type, size), filler=size)
        if mode == "oversized-unframed":
            return self._raw(handler, _head(200, content_type, None), filler=MAX_BODY + 64 * 1024)
        if mode == "oversized-chunked":
            return self._raw(handler, _head(200, content_type, None, chunked=True), filler=MAX_BODY + 64 * 1024, chunked=True)
        if mode == "slow-drip":
            handler.close_connection = True
            try:
                handler.wfile.write(_head(200, content_type, len(reply)))
                handler.wfile.flush()
                for i in range(len(reply)):
                    handler.wfile.write(reply[i:i + 1])
                    handler.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass
            return
        if mode == "chunked":
            handler.close_connection = True
            pieces = b"".join(f"{len(reply[i:i + 97]):x}\r\n".encode() + reply[i:i + 97] + b"\r\n"
                              for i in range(0, len(reply), 97))
            return self._raw(handler, _head(status, content_type, None, chunked=True) + pieces + b"0\r\n\r\n")
        self._send(handler, status, content_type, reply)

    def _send(self, handler, status, content_type, body, extra=()):
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for key, value in extra:
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body)

    def _raw(self, handler, data, filler=0, chunked=False):
        handler.close_connection = True
        try:
            handler.wfile.write(data)
            block = b"\x30" * 65536
            sent = 0
            while sent < filler:
                piece = block[:min(len(block), filler - sent)]
                handler.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece)
                sent += len(piece)
            if chunked and filler:
                handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except OSError:
            pass  # the client gave up: that is the point

    # ---- SCEP
    def _pki_operation(self, body, mode, entry):
        try:
            recipients = {"ra-encryption": self.ra_encryption} if self.ra else {"ca": self.ca, "forged-ra": self.forged_ra}
            request = Request(body, {**recipients, **self.extra_ras}, self.challenge)
        except Exception as e:  # noqa: BLE001 - a real CA answers 500 to what it cannot read
            entry["error"] = repr(e)
            return 500, "text/plain", f"bad request: {e}\n".encode()
        entry.update(messageType=MESSAGE_TYPES.get(request.message_type, request.message_type), cipher=request.cipher,
                     digest=request.digest, transactionID=request.transaction_id, encryptedTo=request.encrypted_to)
        if mode == "replay" and self.last_success is not None:
            return 200, "application/x-pki-message", self.last_success
        if request.message_type in ("19", "17"):
            csr = request.csr()
            if request.message_type == "19" and request.challenge() != self.challenge:
                return self._cert_rep(request, "2", fail_info="2", fail_text="wrong challenge password")
            self.pending[request.transaction_id] = csr
        elif request.message_type in ("21", "22"):
            return self._query(request, mode)
        elif request.message_type == "20":
            csr = self.pending.get(request.transaction_id)
            if csr is None:
                return self._cert_rep(request, "2", fail_info="4", fail_text="no such transaction")
        else:
            return self._cert_rep(request, "2", fail_info="2", fail_text="operation not supported")
        if mode in ("pending", "forged-ra-pending"):
            return self._cert_rep(request, "3", mode=mode)
        if mode == "failure":
            return self._cert_rep(request, "2", fail_info="4", fail_text="hostile CA refuses: certificate identity rejected")
        if mode == "forged-failinfo-text":
            return self._cert_rep(request, "2", fail_info="2", fail_text=FORGED_TEXT)
        self.pending.pop(request.transaction_id, None)
        certificates = [der(self._issue(csr, mode))]
        if mode == "other-ca":
            certificates.append(self.rogue_ca.der)
        reply = self._cert_rep(request, "0", certificates=certificates, mode=mode)
        if mode == "good":
            self.last_success = reply[2]
        return reply

    def _query(self, request, mode):
        """GetCert (21) and GetCRL (22): the content is an IssuerAndSerialNumber."""
        serial = asn1_cms.IssuerAndSerialNumber.load(request.message_data)["serial_number"].native
        if request.message_type == "22":
            crl = self._crl(mode)
            return self._cert_rep(request, "0", crls=[crl], mode=mode)
        issued = next((c for c in self.issued if c.serial_number == serial), None)
        if issued is None:
            return self._cert_rep(request, "2", fail_info="4", fail_text="no certificate with that serial")
        if mode == "forged-getcert":
            issued = make_certificate(issued.subject, issued.public_key(), self.ca.certificate.subject, self.rogue_ca.key, serial=serial)
        # The CA first: a client must still put the requested certificate first.
        return self._cert_rep(request, "0", certificates=[self.ca.der, der(issued)], mode=mode)

    def _crl(self, mode):
        now = _now()
        signer = self.rogue_ca if mode == "forged-crl" else self.ca
        crl = der(x509.CertificateRevocationListBuilder().issuer_name(self.ca.certificate.subject).last_update(now)
                  .next_update(now + datetime.timedelta(days=7)).sign(signer.key, hashes.SHA256()))
        if mode == "unsigned-crl":  # the signature is the last 256 bytes (RSA-2048)
            crl = crl[:-256] + bytes(256)
        return crl

    def _issue(self, csr, mode):
        now = _now()
        public_key = csr.public_key()
        issuer = self.ca
        not_before, not_after = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=self.validity_days)
        if mode == "foreign-key":
            public_key = pooled_key(4).public_key()
        elif mode == "other-ca":
            issuer = self.rogue_ca
        elif mode == "expired":
            not_before, not_after = now - datetime.timedelta(days=30), now - datetime.timedelta(days=1)
        extensions = []
        try:
            extensions.append(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        except x509.ExtensionNotFound:
            pass
        certificate = make_certificate(csr.subject, public_key, self.ca.certificate.subject, issuer.key,
                                       key_usage=("digital_signature", "key_encipherment")
                                       if isinstance(public_key, rsa.RSAPublicKey) else ("digital_signature",),
                                       extended_usage=[ExtendedKeyUsageOID.CLIENT_AUTH], not_before=not_before,
                                       not_after=not_after, extensions=extensions)
        if mode == "sha1-issued":
            certificate = resigned_with_sha1(certificate, issuer.key)
        self.issued.append(certificate)
        return certificate

    def _cert_rep(self, request, status, fail_info=None, fail_text=None, certificates=(), crls=(), mode="good"):
        ber = mode == "ber"
        content = None
        if status == "0":
            inner = degenerate(list(certificates), ber=ber, crls=crls)
            if isinstance(request.signer_certificate.public_key(), rsa.RSAPublicKey):
                content = envelope(inner, request.signer_certificate, request.cipher, ber=ber)
            else:  # RFC 8894 §3.1: a key that cannot decrypt gets the reply under the challenge
                content = pwri_envelope(inner, request.cipher, self.challenge)
        message_type = {"unknown-message-type": "99", "request-message-type": "19"}.get(mode, "3")
        transaction_id = request.transaction_id if mode != "wrong-transaction-id" else "DEADBEEF" + request.transaction_id[8:]
        recipient_nonce = request.sender_nonce if mode != "wrong-recipient-nonce" else secrets.token_bytes(16)
        attributes = [
            attribute(SCEP_MESSAGE_TYPE, printable(message_type)),
            attribute(SCEP_PKI_STATUS, printable(status)),
            attribute(SCEP_TRANSACTION_ID, printable(transaction_id)),
            attribute(SCEP_SENDER_NONCE, octets(secrets.token_bytes(16))),
        ]
        if mode != "missing-recipient-nonce":
            attributes.append(attribute(SCEP_RECIPIENT_NONCE, octets(recipient_nonce)))
        if fail_info is not None:
            attributes.append(attribute(SCEP_FAIL_INFO, printable(fail_info)))
        if fail_text is not None:
            attributes.append(attribute(FAIL_INFO_TEXT, Node(0x0C, fail_text.encode())))
        signer = self.ra_signer if self.ra else self.ca
        if mode == "wrong-ra-signs":
            signer = self.ra_encryption
        elif mode == "rogue-signer":
            signer = self.rogue
        elif mode == "rogue-signer-same-name":
            signer = self.rogue_ca
        elif mode.startswith("forged-ra"):
            signer = self.forged_ra
        if self.certrep_signer is not None:
            signer = self.certrep_signer
        return 200, "application/x-pki-message", signed_data(content, attributes, signer, ber=ber)


_HTTP_MODES = {"redirect-loop", "http-500", "garbage", "html", "wrong-content-type", "truncated", "oversized",
               "oversized-unframed", "oversized-chunked", "slow-drip", "chunked", "ber"}


def _head(status, content_type, length, chunked=False):
    reason = {200: "OK", 500: "Internal Server Error"}.get(status, "Status")
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}", "Connection: close"]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# ---- CMS builders

def degenerate(certificates, ber=False, crls=()):
    """A certs-only (or CRLs-only) SignedData (RFC 8894 §3.4)."""
    parts = [integer(1), set_of(), seq(oid(OID_DATA), indefinite=ber)]
    if certificates or not crls:
        parts.append(Node(0xA0, list(certificates), indefinite=ber))
    if crls:
        parts.append(Node(0xA1, list(crls), indefinite=ber))
    signed = seq(*parts, set_of(), indefinite=ber)
    return content_info(OID_SIGNED_DATA, signed, ber=ber).encode()


def envelope(content, recipient_certificate, cipher_name, ber=False):
    """EnvelopedData for one RSA recipient, with the cipher the request used."""
    cipher_oid = CIPHER_OIDS[cipher_name]
    _, key_size, factory = CIPHERS[cipher_oid]
    key, iv = secrets.token_bytes(key_size), secrets.token_bytes(factory.block_size // 8)
    padder = sym_padding.PKCS7(factory.block_size).padder()
    encryptor = Cipher(factory(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(content) + padder.finalize()) + encryptor.finalize()
    encrypted_key = recipient_certificate.public_key().encrypt(key, padding.PKCS1v15())
    recipient = seq(integer(0), seq(recipient_certificate.issuer.public_bytes(), integer(recipient_certificate.serial_number)),
                    algorithm(OID_RSA), octets(encrypted_key))
    if ber:
        encrypted_content = Node(0xA0, [Node(0x04, ciphertext[i:i + 64]) for i in range(0, len(ciphertext), 64)], indefinite=True)
    else:
        encrypted_content = Node(0x80, ciphertext)
    enveloped = seq(integer(0), set_of(recipient),
                    seq(oid(OID_DATA), seq(oid(cipher_oid), octets(iv)), encrypted_content, indefinite=ber), indefinite=ber)
    return content_info(OID_ENVELOPED_DATA, enveloped, ber=ber).encode()


def pwri_envelope(content, cipher_name, password):
    """EnvelopedData to `password` (PasswordRecipientInfo), made by OpenSSL (PBKDF2-HMAC-SHA1, 2048
    iterations, the RFC 3211 wrap with the content cipher)."""
    flag = {"aes128": "-aes128", "aes256": "-aes256", "des3": "-des3"}[cipher_name]
    return openssl("cms", "-encrypt", "-pwri_password", password, flag, "-binary", "-outform", "DER", input=content)


def pwri_decrypt(envelope_der, password):
    """The content of a PasswordRecipientInfo EnvelopedData, opened by OpenSSL."""
    try:
        return openssl("cms", "-decrypt", "-pwri_password", password, "-inform", "DER", "-binary", input=envelope_der)
    except OpenSSLError as error:
        raise RequestError("PasswordRecipientInfo does not open with the challenge: " + error.stderr.decode(errors="replace")[:200])


def signed_data(content, attributes, signer, ber=False):
    """A SignedData ContentInfo signed by `signer` with SHA-256 over the signed attributes."""
    content_bytes = content if content is not None else b""
    signed_attributes = set_of(attribute(OID_CONTENT_TYPE, oid(OID_DATA)),
                               attribute(OID_MESSAGE_DIGEST, octets(hashlib.sha256(content_bytes).digest())),
                               *attributes)
    to_sign = signed_attributes.encode()
    if isinstance(signer.key, ec.EllipticCurvePrivateKey):
        signature = signer.key.sign(to_sign, ec.ECDSA(hashes.SHA256()))
        signature_algorithm = seq(oid(OID_ECDSA_SHA256))
    else:
        signature = signer.key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256())
        signature_algorithm = algorithm(OID_RSA)
    signer_info = seq(integer(1), signer.issuer_and_serial, algorithm(OID_SHA256),
                      b"\xa0" + to_sign[1:], signature_algorithm, octets(signature))
    if content is None:
        encapsulated = seq(oid(OID_DATA), indefinite=ber)
    else:
        encapsulated = seq(oid(OID_DATA), explicit(0, octets(content, chunk=200 if ber else None), indefinite=ber), indefinite=ber)
    signed = seq(integer(1), set_of(algorithm(OID_SHA256)), encapsulated,
                 Node(0xA0, [signer.der], indefinite=ber), set_of(signer_info), indefinite=ber)
    return content_info(OID_SIGNED_DATA, signed, ber=ber).encode()


if __name__ == "__main__":  # a manual run: python3 hostile_ca.py [MODE] [--ra] [--ec-ca]
    import sys
    import tempfile
    if "--help" in sys.argv or "-h" in sys.argv:
        print("usage: python3 hostile_ca.py [MODE] [--ra] [--ec-ca]   (serves on 127.0.0.1 until Ctrl-C)\nmodes:")
        for mode, what in MODES.items():
            print(f"  {mode:24} {what}")
        sys.exit(0)
    with HostileCA(tempfile.mkdtemp(prefix="hostile-ca-"), ra="--ra" in sys.argv, ec_ca="--ec-ca" in sys.argv) as server:
        for arg in sys.argv[1:]:
            if arg in MODES:
                server.misbehave(arg)
        print(f"url {server.url}\nfingerprint {server.ca_fingerprint_sha256}\nchallenge {server.challenge}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
