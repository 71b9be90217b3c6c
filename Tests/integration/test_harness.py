"""Sanity tests of the integration harness itself (pytest; a few seconds).

    python3 -m pytest -q Tests/integration/test_harness.py

Everything runs on 127.0.0.1; every process started here is stopped by a fixture finalizer.
"""

import base64
import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from helpers import openssl, openssl_text  # noqa: E402
from recording_proxy import RecordingProxy  # noqa: E402
from scepca import ScepCA, _opener, http_get, pem_to_der, pid_alive  # noqa: E402
from tls_proxy import TLSProxy  # noqa: E402

INTEROP_CAPS = ["Renewal", "SHA-1", "SHA-256", "AES", "DES3", "SCEPStandard", "POSTPKIOperation"]

pytestmark = pytest.mark.skipif(shutil.which("scepserver") is None or shutil.which("scepclient") is None,
                                reason="Debian package `scep` not installed")


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    ca = ScepCA(tmp_path_factory.mktemp("ca"), allowrenew=0)
    ca.start()
    try:
        yield ca
    finally:
        ca.stop()


@pytest.fixture(scope="module")
def tls(ca, tmp_path_factory):
    if not os.access("/usr/sbin/nginx", os.X_OK):
        pytest.skip("nginx not installed")
    proxy = TLSProxy(tmp_path_factory.mktemp("tls"), ca.url)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="module")
def client_key(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("key") / "key.pem")
    openssl("genrsa", "-traditional", "-out", path, "2048")
    return path


def scepclient(tmp_path, key, url, challenge, cn, env=None):
    """scepclient in a fresh directory: it writes csr.pem next to the key and reuses a stale one."""
    d = tmp_path / cn
    d.mkdir()
    shutil.copy(key, d / "key.pem")
    cert = d / "cert.pem"
    r = subprocess.run(["scepclient", "-private-key", str(d / "key.pem"), "-certificate", str(cert),
                        "-server-url", url, "-challenge", challenge, "-cn", cn],
                       cwd=d, capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, **(env or {})))
    return r, cert


def cert_text(pem_path):
    return openssl_text("x509", "-in", str(pem_path), "-noout", "-subject", "-ext",
                        "keyUsage,extendedKeyUsage")


# ---- scepserver CA

def test_getcacaps_matches_interop(ca):
    status, headers, body = http_get(ca.url + "?operation=GetCACaps")
    assert status == 200
    assert headers.get_content_type() == "text/plain"
    assert body.decode().split("\n") == INTEROP_CAPS


def test_getcacert_is_the_ca_der(ca):
    status, headers, body = http_get(ca.url + "?operation=GetCACert")
    assert status == 200
    assert headers.get_content_type() == "application/x-x509-ca-cert"
    assert body == ca.ca_cert_der
    assert hashlib.sha256(body).hexdigest() == ca.ca_fingerprint_sha256
    assert len(ca.challenge) >= 12 and ca.url.startswith("http://127.0.0.1:")


def test_wrong_path_is_404(ca):
    status, _, _ = http_get(ca.base_url + "/other?operation=GetCACaps")
    assert status == 404


def test_context_manager_stops_the_server(tmp_path):
    with ScepCA(tmp_path / "ca2") as ca2:
        pid, port = ca2.pid, ca2.port
        assert pid_alive(pid)
    assert not pid_alive(pid)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_cli_start_stop(tmp_path):
    script = os.path.join(HERE, "scepca.py")
    d = str(tmp_path / "cli")
    r = subprocess.run([sys.executable, script, "start", "--dir", d, "--challenge", "s3cret"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    try:
        assert info["challenge"] == "s3cret" and len(info["fingerprint"]) == 64
        assert http_get(info["url"] + "?operation=GetCACaps")[0] == 200
    finally:
        r = subprocess.run([sys.executable, script, "stop", "--dir", d], capture_output=True, text=True,
                           timeout=30)
    assert r.returncode == 0, r.stderr
    assert not pid_alive(info["pid"])


# ---- nginx TLS proxy

def test_tls_proxy_forwards_with_the_right_ca(tls, ca):
    assert tls.url.startswith("https://127.0.0.1:")
    status, _, body = http_get(tls.url + "?operation=GetCACaps", context=tls.client_context())
    assert status == 200 and body.decode().split("\n") == INTEROP_CAPS
    status, _, body = http_get(tls.url + "?operation=GetCACert", context=tls.client_context())
    assert status == 200 and body == ca.ca_cert_der


def test_tls_proxy_certificate_names(tls):
    ctx = tls.client_context()
    for name in ("127.0.0.1", "localhost"):  # both in the SAN; always connect to 127.0.0.1
        with socket.create_connection(("127.0.0.1", tls.port), timeout=5) as s:
            with ctx.wrap_socket(s, server_hostname=name) as t:
                assert t.version() in ("TLSv1.2", "TLSv1.3")
    with socket.create_connection(("127.0.0.1", tls.port), timeout=5) as s:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(s, server_hostname="scep.example")


def test_tls_proxy_fails_with_the_wrong_ca(tls):
    with pytest.raises(urllib.error.URLError) as e:
        _opener(tls.client_context(tls.wrong_ca_bundle_path)).open(tls.url + "?operation=GetCACaps", timeout=5)
    assert isinstance(e.value.reason, ssl.SSLCertVerificationError)


# ---- scepclient through the harness

def test_scepclient_enrolls_through_recording_proxy(ca, client_key, tmp_path):
    with RecordingProxy(ca.base_url) as proxy:
        r, cert = scepclient(tmp_path, client_key, proxy.url, ca.challenge, "harness-ok")
        assert r.returncode == 0, r.stderr
        ops = [(e.method, e.operation, e.status) for e in proxy.exchanges]
        assert ops == [("GET", "GetCACert", 200), ("GET", "GetCACaps", 200), ("POST", "PKIOperation", 200)]
        pki = proxy.exchanges[-1]
        assert pki.response_headers["content-type"] == "application/x-pki-message"
        assert pki.request_body[:1] == b"\x30" and pki.response_body[:1] == b"\x30"

        # The same pkiMessage as GET (standard base64, percent-encoded) is recorded identically and
        # scepserver answers it (-allowrenew 0 lets the same DN enroll again).
        message = urllib.parse.quote(base64.b64encode(pki.request_body).decode(), safe="")
        status, headers, body = http_get(f"{proxy.url}?operation=PKIOperation&message={message}", timeout=10)
        assert status == 200 and headers.get_content_type() == "application/x-pki-message"
        get = proxy.exchanges[-1]
        assert get.method == "GET" and get.request_body == pki.request_body and get.response_body == body

    openssl("verify", "-CAfile", ca.ca_cert_pem_path, str(cert))
    text = cert_text(cert)
    assert "CN = harness-ok" in text and "Digital Signature" in text and "TLS Web Client Authentication" in text


def test_scepclient_wrong_challenge_fails(ca, client_key, tmp_path):
    r, cert = scepclient(tmp_path, client_key, ca.url, "not-" + ca.challenge, "harness-bad")
    assert r.returncode != 0
    assert not cert.exists()


def test_scepclient_enrolls_through_tls_proxy(tls, ca, client_key, tmp_path):
    # Go reads SSL_CERT_FILE for its trust store.
    r, cert = scepclient(tmp_path, client_key, tls.url, ca.challenge, "harness-tls",
                         env={"SSL_CERT_FILE": tls.ca_bundle_path})
    assert r.returncode == 0, r.stderr
    assert pem_to_der(cert.read_bytes())[:1] == b"\x30"
    r, cert = scepclient(tmp_path, client_key, tls.url, ca.challenge, "harness-tls-wrong",
                         env={"SSL_CERT_FILE": tls.wrong_ca_bundle_path})
    assert r.returncode != 0 and not cert.exists()
