#!/usr/bin/env python3
"""Capture real SCEP fixtures from Debian's micromdm scepclient talking to scepserver 2.1.0.

    python3 Tests/integration/capture_fixtures.py [--out Tests/Fixtures/scepserver-2.1.0] [--keep]

Starts a throwaway ScepCA, puts a RecordingProxy (127.0.0.1) between scepclient and scepserver, runs one
enrollment with the right challenge and one with a wrong challenge, and writes the recorded bodies plus
a few files derived with the openssl CLI (the oracle) into the output folder, with a README.md that
says how each file was made and shows the asn1parse outlines. Every run makes a new CA and new keys,
so all files change together: commit them together.
"""

import argparse
import datetime
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from helpers import OpenSSLError, openssl  # noqa: E402
from recording_proxy import RecordingProxy  # noqa: E402
from scepca import ScepCA, pem_to_der  # noqa: E402

DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "Fixtures", "scepserver-2.1.0"))
CHALLENGE = "fixture-challenge"
WRONG_CHALLENGE = "wrong-challenge"
CN_OK = "scep-agent-fixture"
CN_BAD = "scep-agent-fixture-badchallenge"


class CaptureError(RuntimeError):
    pass


def asn1parse(path, *extra):
    return openssl("asn1parse", "-inform", "DER", "-in", path, "-i", *extra).decode()


def first_cert_der_from_pem(pem):
    return pem_to_der(pem)


def scepclient(url, challenge, cn, workdir, key_pem_src):
    """Run scepclient in a fresh directory (it writes csr.pem next to the key and reuses a stale one)."""
    os.makedirs(workdir)
    key = os.path.join(workdir, "client-key.pem")
    shutil.copy(key_pem_src, key)
    cert = os.path.join(workdir, "cert.pem")
    cmd = ["scepclient", "-private-key", key, "-certificate", cert, "-server-url", url,
           "-challenge", challenge, "-cn", cn, "-debug"]
    r = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=60)
    return r, cert


def write(out, name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    a = ap.parse_args(argv)
    if shutil.which("scepclient") is None:
        raise CaptureError("scepclient not found: install the Debian package `scep`")

    work = tempfile.mkdtemp(prefix="scep-fixtures-")
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    files = {}
    try:
        # PKCS#1 ("traditional") RSA key: the only kind scepclient reads.
        key_src = os.path.join(work, "client-key.pem")
        openssl("genrsa", "-traditional", "-out", key_src, "2048")
        with ScepCA(os.path.join(work, "ca"), challenge=CHALLENGE, allowrenew=0) as ca, \
                RecordingProxy(ca.base_url) as proxy:
            r, cert_path = scepclient(proxy.url, CHALLENGE, CN_OK, os.path.join(work, "ok"), key_src)
            if r.returncode != 0:
                raise CaptureError(f"scepclient enrollment failed:\n{r.stdout}\n{r.stderr}")
            ok = list(proxy.exchanges)
            proxy.clear()
            r_bad, _ = scepclient(proxy.url, WRONG_CHALLENGE, CN_BAD, os.path.join(work, "bad"), key_src)
            if r_bad.returncode == 0:
                raise CaptureError("scepclient with a wrong challenge unexpectedly succeeded")
            bad = list(proxy.exchanges)
            # depot/ca.key is PEM-encrypted (3DES) with an empty password: store it in the clear.
            ca_key_pem = openssl("rsa", "-in", ca.ca_key_path, "-passin", "pass:", "-traditional")
            ca_der = ca.ca_cert_der
            issued_in_depot = sorted(f for f in os.listdir(ca.depot) if f.startswith(CN_OK + "."))

        def one(exchanges, op):
            found = [e for e in exchanges if e.operation == op]
            if len(found) != 1:
                raise CaptureError(f"expected one {op} exchange, got {found}")
            return found[0]

        caps = one(ok, "GetCACaps")
        cacert = one(ok, "GetCACert")
        pki_ok = one(ok, "PKIOperation")
        pki_bad = one(bad, "PKIOperation")
        for e in (caps, cacert, pki_ok, pki_bad):
            if e.status != 200:
                raise CaptureError(f"unexpected HTTP status in {e}")
        if cacert.response_body != ca_der:
            raise CaptureError("GetCACert body is not the depot's CA certificate")

        files["getcacaps.txt"] = caps.response_body
        files["getcacert-ca.der"] = cacert.response_body
        files["pkcsreq-scepclient.der"] = pki_ok.request_body
        files["certrep-success-des-sha1.der"] = pki_ok.response_body
        files["client-key.pem"] = open(key_src, "rb").read()
        files["pkcsreq-scepclient-badchallenge.der"] = pki_bad.request_body
        files["certrep-failure-badrequest.der"] = pki_bad.response_body
        files["ca-key.pem"] = ca_key_pem
        for name, data in files.items():
            write(out, name, data)
        p = lambda name: os.path.join(out, name)  # noqa: E731

        # Derived with the openssl CLI as the oracle.
        # The signer certificate (scepclient's self-signed cert) sits in the request's SignedData.
        signer_pem = openssl("pkcs7", "-inform", "DER", "-in", p("pkcsreq-scepclient.der"), "-print_certs")
        files["client-selfsigned.der"] = first_cert_der_from_pem(signer_pem)
        # The issued certificate as scepclient saved it.
        files["issued-cert.der"] = first_cert_der_from_pem(open(cert_path, "rb").read())
        # The CertRep's signed content (the pkcsPKIEnvelope), its decryption (a degenerate
        # certs-only SignedData), and the request's decrypted content (the PKCS#10 CSR).
        envelope = openssl("cms", "-verify", "-inform", "DER", "-in", p("certrep-success-des-sha1.der"),
                           "-CAfile", ca_pem_file(work, ca_der), "-purpose", "any",
                           "-binary")
        files["certrep-success-envelope.der"] = envelope
        for name in ("client-selfsigned.der", "issued-cert.der", "certrep-success-envelope.der"):
            write(out, name, files[name])
        degenerate = openssl("cms", "-decrypt", "-provider", "legacy", "-provider", "default",
                             "-inform", "DER", "-in", p("certrep-success-envelope.der"), "-binary",
                             "-inkey", p("client-key.pem"))
        files["certrep-success-degenerate-certs.der"] = degenerate
        write(out, "certrep-success-degenerate-certs.der", degenerate)
        req_envelope = openssl("cms", "-verify", "-noverify", "-inform", "DER", "-in",
                               p("pkcsreq-scepclient.der"), "-binary")
        csr = openssl("cms", "-decrypt", "-provider", "legacy", "-provider", "default", "-inform", "DER",
                      "-binary", "-inkey", p("ca-key.pem"), input=req_envelope)
        files["pkcsreq-csr.der"] = csr
        write(out, "pkcsreq-csr.der", csr)

        # Cross-checks: the certificate in the CertRep is the one scepclient saved, is issued by the
        # CA, and the CSR carries the challenge.
        certs_pem = openssl("pkcs7", "-inform", "DER", "-in", p("certrep-success-degenerate-certs.der"),
                            "-print_certs")
        if first_cert_der_from_pem(certs_pem) != files["issued-cert.der"]:
            raise CaptureError("the CertRep's certificate differs from scepclient's saved certificate")
        openssl("verify", "-CAfile", ca_pem_file(work, ca_der), os.path.join(work, "ok", "cert.pem"))
        csr_text = openssl("req", "-inform", "DER", "-in", p("pkcsreq-csr.der"), "-noout", "-text",
                           "-verify").decode()
        if CHALLENGE not in csr_text:
            raise CaptureError("the decrypted CSR does not carry the challenge")

        outlines = {
            "certrep": asn1parse(p("certrep-success-des-sha1.der")),
            "envelope": asn1parse(p("certrep-success-envelope.der")),
            "failure": asn1parse(p("certrep-failure-badrequest.der")),
            "request": asn1parse(p("pkcsreq-scepclient.der")),
            "request-envelope": openssl("asn1parse", "-inform", "DER", "-i", input=req_envelope).decode(),
        }
        claims = check_claims(outlines)
        write(out, "README.md", readme(files, outlines, claims, issued_in_depot).encode())
        for line in claims:
            print("verified:", line)
        print(f"wrote {len(files) + 1} files to {out}")
    finally:
        if a.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def ca_pem_file(work, ca_der):
    path = os.path.join(work, "ca-cert.pem")
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(openssl("x509", "-inform", "DER", "-outform", "PEM", input=ca_der))
    return path


def scep_attribute(outline, n):
    """Value of the SCEP authenticated attribute 2.16.840.1.113733.1.9.n in an asn1parse outline."""
    lines = outline.splitlines()
    for i, line in enumerate(lines):
        if line.rstrip().endswith(f":2.16.840.1.113733.1.9.{n}"):
            return lines[i + 2].split(":", 3)[-1].strip()
    return None


def check_envelope(outline, what):
    """des-cbc, then encryptedContent as a constructed [0] holding OCTET STRING chunk(s)."""
    env = outline.splitlines()
    des = [i for i, line in enumerate(env) if line.rstrip().endswith(":des-cbc")]
    if not des:
        raise CaptureError(f"{what}: content encryption is not des-cbc")
    after = env[des[0] + 1:]
    ec = next((i for i, line in enumerate(after) if "cont [ 0 ]" in line), None)
    if ec is None or "cons:" not in after[ec] or "OCTET STRING" not in after[ec + 1]:
        raise CaptureError(f"{what}: encryptedContent is not constructed [0] {{ OCTET STRING }}")
    chunks = sum(1 for line in after[ec + 1:] if "OCTET STRING" in line)
    return chunks


def check_claims(outlines):
    """Check INTEROP.md's claims about scepserver's CertRep against the asn1parse outlines."""
    claims = []
    chunks = check_envelope(outlines["envelope"], "CertRep envelope")
    claims.append("CertRep content encryption is des-cbc (single DES, 8-byte IV)")
    claims.append("CertRep encryptedContent is constructed (non-DER): `[0] { OCTET STRING }` "
                  f"({chunks} chunk)")
    cr = outlines["certrep"]
    if ":sha1WithRSAEncryption" not in cr or not any(l.rstrip().endswith(":sha1") for l in cr.splitlines()):
        raise CaptureError("CertRep: signature is not sha1 / sha1WithRSAEncryption")
    claims.append("CertRep digestAlgorithm sha1, signatureAlgorithm sha1WithRSAEncryption")
    if scep_attribute(cr, 3) != "0" or scep_attribute(cr, 2) != "3":
        raise CaptureError("success CertRep: messageType/pkiStatus not 3/0")
    if scep_attribute(cr, 6) != scep_attribute(outlines["request"], 5):
        raise CaptureError("CertRep recipientNonce is not the request's senderNonce")
    if scep_attribute(cr, 5) != scep_attribute(outlines["request"], 5):
        raise CaptureError("CertRep senderNonce does not repeat the request's senderNonce")
    claims.append("success CertRep: messageType 3, pkiStatus 0; its senderNonce repeats the request's "
                  "senderNonce (and recipientNonce equals it too)")
    f = outlines["failure"]
    if (scep_attribute(f, 2), scep_attribute(f, 3), scep_attribute(f, 4)) != ("3", "2", "2"):
        raise CaptureError("failure CertRep: messageType/pkiStatus/failInfo not 3/2/2")
    claims.append("failure CertRep: messageType 3, pkiStatus 2 (FAILURE), failInfo 2 (badRequest); "
                  "signed content is an empty OCTET STRING (no pkcsPKIEnvelope)")
    if scep_attribute(outlines["request"], 2) != "19":
        raise CaptureError("scepclient's request is not a PKCSReq (19)")
    check_envelope(outlines["request-envelope"], "request envelope")
    claims.append("scepclient's PKCSReq (messageType 19) is also des-cbc with the constructed `[0]` "
                  "form, signed sha1")
    return claims


def readme(files, outlines, claims, issued_in_depot):
    today = datetime.date.today().isoformat()
    versions = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    rows = "\n".join(f"| `{n}` | {len(d)} | `{hashlib.sha256(d).hexdigest()[:16]}…` |"
                     for n, d in sorted(files.items()))
    return f"""# Fixtures captured from micromdm scepserver 2.1.0 and scepclient 2.1.0

Made by `python3 Tests/integration/capture_fixtures.py` on {today}
(Debian 12 package `scep` 2.1.0, {versions}). A throwaway CA (`scepserver ca -init -keySize 2048`, then `scepserver -challenge
{CHALLENGE} -allowrenew 0`) on 127.0.0.1; Debian's `scepclient` enrolled through a recording HTTP
proxy (`Tests/integration/recording_proxy.py`) that saved each request and response body unchanged.
**All keys here are test-only and belong to a CA that no longer runs.** Re-running the script makes a
new CA and new keys: every file changes together.

## Recorded on the wire (bodies exactly as sent)

| file | what it is |
| --- | --- |
| `getcacaps.txt` | GetCACaps response body (text/plain, newline-separated, no trailing newline) |
| `getcacert-ca.der` | GetCACert response body: the single CA certificate, DER (`application/x-x509-ca-cert`); subject `C=US, O=scep-agent test CA, OU=SCEP CA` (no CN), keyUsage keyCertSign + cRLSign only |
| `pkcsreq-scepclient.der` | scepclient's PKCSReq pkiMessage (HTTP POST body, `?operation=PKIOperation`), CN `{CN_OK}`, challenge `{CHALLENGE}`; DES-CBC + SHA-1 |
| `certrep-success-des-sha1.der` | scepserver's CertRep SUCCESS answering it (`application/x-pki-message`) |
| `pkcsreq-scepclient-badchallenge.der` | scepclient's PKCSReq with the wrong challenge `{WRONG_CHALLENGE}`, CN `{CN_BAD}` (same key) |
| `certrep-failure-badrequest.der` | scepserver's CertRep FAILURE (failInfo badRequest, HTTP 200) answering it; no pkcsPKIEnvelope: the signed content is an empty OCTET STRING |

## Keys and files derived with the openssl CLI

| file | how |
| --- | --- |
| `client-key.pem` | the PKCS#1 RSA-2048 key scepclient used (`openssl genrsa -traditional`): decrypts the CertRep |
| `ca-key.pem` | the throwaway CA's key: `depot/ca.key` is PEM-encrypted with an empty password, stored here unencrypted (`openssl rsa -passin pass: -traditional`); decrypts the requests |
| `client-selfsigned.der` | scepclient's self-signed signer certificate (CN `SCEP SIGNER`), taken from the request's SignedData certificates (`openssl pkcs7 -print_certs`) |
| `issued-cert.der` | the certificate scepclient saved (`-certificate`), DER; identical to the one inside the CertRep; verified against the CA with `openssl verify` (the depot stored it as `{", ".join(issued_in_depot)}`) |
| `certrep-success-envelope.der` | the CertRep's signed content, the pkcsPKIEnvelope (EnvelopedData ContentInfo): `openssl cms -verify -inform DER -CAfile <CA> -purpose any -binary` (signature verified; `-purpose any` because the CA cert has no digitalSignature keyUsage) |
| `certrep-success-degenerate-certs.der` | that envelope decrypted with `client-key.pem`: a degenerate certs-only SignedData holding `issued-cert.der` (`openssl cms -decrypt -provider legacy -provider default`) |
| `pkcsreq-csr.der` | the request's pkcsPKIEnvelope decrypted with `ca-key.pem`: scepclient's PKCS#10 CSR (with challengePassword) |

| file | bytes | sha256 |
| --- | --- | --- |
{rows}

## What they show (checked by the script on the outlines below)

{chr(10).join("- " + c for c in claims)}
- Decrypting the CertRep needs single DES: OpenSSL 3 needs its legacy provider for it.

## `openssl asn1parse -inform DER -i -in certrep-success-des-sha1.der`

The signed content is wrapped as `[0] {{ OCTET STRING }}`; the pkcsPKIEnvelope inside that OCTET STRING
is outlined in the next section.

```
{outlines["certrep"].rstrip()}
```

## `openssl asn1parse -inform DER -i -in certrep-success-envelope.der`

Note `des-cbc` with its 8-byte IV, then `cont [ 0 ]` marked `cons:` holding OCTET STRING chunk(s):
constructed BER, not the primitive `[0] IMPLICIT OCTET STRING` DER would give. A parser must accept
both forms.

```
{outlines["envelope"].rstrip()}
```

## `openssl asn1parse -inform DER -i -in certrep-failure-badrequest.der`

```
{outlines["failure"].rstrip()}
```
"""


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (CaptureError, OpenSSLError) as e:
        print(f"capture_fixtures: {e}", file=sys.stderr)
        sys.exit(1)
