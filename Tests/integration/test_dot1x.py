"""802.1X end to end: a certificate scep-agent enrolled from a real scepserver authenticates a wired port.

Each test builds its own network: two network namespaces joined by a veth pair. hostapd 2.10
(driver=wired, its internal EAP-TLS server) runs in namespace A, wpa_supplicant 2.10 (-D wired) in
namespace B with the network block `scep-agent wpa-config` printed. scepserver and scep-agent stay in
the host namespace on 127.0.0.1: the agent only writes files the supplicant reads.

Trust: hostapd's own server certificate is issued (with openssl) by the scepserver CA itself, so one
CA file serves both sides: hostapd's ca_cert (which client certificates to accept) and the
supplicant's ca_cert, exactly as wpa-config prints it (the installed ca file, else the chain). Across a
CA switch (issue 13) the successor reissues hostapd's certificate and hostapd trusts both CAs for clients.
"""
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from conftest import write_agent_config
from helpers import ExitCode, certificate_serial, wait_for
from recording_proxy import RecordingProxy
from scepca import ScepCA
from test_daemon import make_next_ca, with_get_next_ca_cert
from test_rollover import NEXT_CA_TYPE, SUCCESSOR_KEY_PASSWORD, certificates_in, successor_depot

HOSTAPD = shutil.which("hostapd") or "/usr/sbin/hostapd"
WPA_SUPPLICANT = shutil.which("wpa_supplicant") or "/usr/sbin/wpa_supplicant"
WPA_CLI = shutil.which("wpa_cli") or "/usr/sbin/wpa_cli"
IP = shutil.which("ip") or "/usr/sbin/ip"

_counter = [0]


def _need_tools():
    missing = [path for path in (HOSTAPD, WPA_SUPPLICANT, WPA_CLI, IP) if not os.path.exists(path)]
    if missing:
        pytest.skip(f"802.1X tests need hostapd, wpasupplicant and iproute2 (Scripts/install-deps.sh): missing {missing}")


def run(*args, check=True, timeout=15):
    return subprocess.run([str(arg) for arg in args], capture_output=True, text=True, check=check, timeout=timeout)


class Port:
    """Two namespaces, a veth pair, hostapd in A and (once started) wpa_supplicant in B."""

    def __init__(self, tmp_path):
        _counter[0] += 1
        tag = f"{os.getpid() % 100000}{_counter[0]}"
        self.ns_a, self.ns_b = f"scepd1x-a{tag}", f"scepd1x-b{tag}"
        self.if_a, self.if_b = f"d1xa{tag}"[:15], f"d1xb{tag}"[:15]
        self.dir = pathlib.Path(tmp_path) / "dot1x"
        self.dir.mkdir()
        self.processes = []
        self.hostapd_log = self.dir / "hostapd.log"
        self.supplicant_log = self.dir / "wpa_supplicant.log"
        self.hostapd_ctrl = self.dir / "hostapd-ctrl"
        self.supplicant_ctrl = self.dir / "wpa-ctrl"

    def setup(self):
        added = run(IP, "netns", "add", self.ns_a, check=False)
        if added.returncode != 0:
            pytest.skip(f"NOT TESTED: 'ip netns add' is not permitted here ({added.stderr.strip()}); the 802.1X suite needs root")
        run(IP, "netns", "add", self.ns_b)
        run(IP, "link", "add", self.if_a, "netns", self.ns_a, "type", "veth", "peer", "name", self.if_b, "netns", self.ns_b)
        for namespace, interface in ((self.ns_a, self.if_a), (self.ns_b, self.if_b)):
            run(IP, "-n", namespace, "link", "set", "lo", "up")
            run(IP, "-n", namespace, "link", "set", interface, "up")

    def teardown(self):
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
        for namespace in (self.ns_a, self.ns_b):
            run(IP, "netns", "del", namespace, check=False)

    def server_certificate(self, issuer_cert, issuer_key):
        """hostapd's certificate, issued with openssl (serverAuth) by a CA whose key the test holds: a
        scepserver's (`ca -init` encrypts ca.key with an empty password) or an unencrypted one."""
        key, csr, cert, ext = (self.dir / name for name in ("server.key", "server.csr", "server.pem", "server.ext"))
        ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
        run("openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-subj", "/CN=radius.test", "-out", csr)
        run("openssl", "x509", "-req", "-in", csr, "-CA", issuer_cert, "-CAkey", issuer_key,
            "-passin", "pass:", "-CAcreateserial", "-CAserial", self.dir / "server.srl", "-days", "2", "-sha256", "-extfile", ext, "-out", cert)
        return key, cert

    def start_hostapd(self, ca, server_issuer=None, client_cas=None):
        """hostapd accepts client certificates of `ca` (or of the CAs in the file client_cas) and shows a
        server certificate `ca` (or server_issuer, a (certificate, key) pair) issued. A running hostapd is
        stopped first: a fresh start surely reads the new TLS files, which a reload might not."""
        if getattr(self, "hostapd", None) is not None:
            self.hostapd.terminate()
            self.hostapd.wait(timeout=10)
            (self.hostapd_ctrl / self.if_a).unlink(missing_ok=True)  # so the wait below sees the new one
        key, cert = self.server_certificate(*(server_issuer or (ca.ca_cert_pem_path, ca.ca_key_path)))
        (self.dir / "eap_users").write_text("* TLS\n")
        config = self.dir / "hostapd.conf"
        config.write_text(f"""interface={self.if_a}
driver=wired
ieee8021x=1
eap_server=1
eap_user_file={self.dir}/eap_users
ca_cert={client_cas or ca.ca_cert_pem_path}
server_cert={cert}
private_key={key}
ctrl_interface={self.hostapd_ctrl}
eap_reauth_period=0
use_pae_group_addr=1
""")
        self.hostapd = self._spawn(self.ns_a, HOSTAPD, "-dd", "-t", "-f", self.hostapd_log, config)
        wait_for(lambda: (self.hostapd_ctrl / self.if_a).exists(), 10, "hostapd's control socket")

    def start_supplicant(self, block, env=None):
        config = self.dir / "wpa_supplicant.conf"
        config.write_text(f"ctrl_interface={self.supplicant_ctrl}\n{block}")
        config.chmod(0o600)
        self.supplicant = self._spawn(self.ns_b, WPA_SUPPLICANT, "-D", "wired", "-i", self.if_b, "-c", config,
                                      "-dd", "-t", "-f", self.supplicant_log, env=env)

    def _spawn(self, namespace, *command, env=None):
        process = subprocess.Popen([IP, "netns", "exec", namespace, *map(str, command)], env=dict(os.environ, **(env or {})),
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(process)
        return process

    def wpa_cli(self, *args):
        return run(WPA_CLI, "-p", self.supplicant_ctrl, "-i", self.if_b, *args, check=False).stdout

    def status(self):
        return dict(line.split("=", 1) for line in self.wpa_cli("status").splitlines() if "=" in line)

    def authorized(self):
        status = self.status()
        return status.get("suppPortStatus") == "Authorized" and status.get("Supplicant PAE state") == "AUTHENTICATED"

    def log(self, which):
        path = self.hostapd_log if which == "hostapd" else self.supplicant_log
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_authorized(self, timeout=20):
        try:
            wait_for(self.authorized, timeout, "the port to be authorized")
        except AssertionError as error:
            raise AssertionError(f"{error}\nstatus: {self.status()}\n--- supplicant log tail ---\n"
                                 f"{self.log('supplicant')[-3000:]}\n--- hostapd log tail ---\n{self.log('hostapd')[-3000:]}")

    def authenticated_since(self, mark):
        """Whether the supplicant's last authentication after offset `mark` of its log succeeded and the port is open."""
        recent = self.log("supplicant")[mark:]
        return self.authorized() and recent.rfind("CTRL-EVENT-EAP-SUCCESS") > recent.rfind("CTRL-EVENT-EAP-STARTED") >= 0

    def wait_authenticated_since(self, mark, timeout=20):
        try:
            wait_for(lambda: self.authenticated_since(mark), timeout, "a new successful authentication")
        except AssertionError as error:
            raise AssertionError(f"{error}\n--- supplicant log since the mark ---\n{self.log('supplicant')[mark:][-3000:]}"
                                 f"\n--- hostapd log tail ---\n{self.log('hostapd')[-3000:]}")

    def server_chain_hashes(self, mark):
        """{depth: SHA-256} of the server certificates the supplicant verified after offset `mark` of its log."""
        return {int(depth): digest for depth, digest in
                re.findall(r"CTRL-EVENT-EAP-PEER-CERT depth=(\d+) subject='[^']*' hash=([0-9a-f]+)", self.log("supplicant")[mark:])}

    def peer_certificates(self, depth=0):
        """(serial in upper-case hex, subject) of each client certificate hostapd saw, in order; depth=1: the CA
        certificate hostapd chained each one to."""
        return [(serial.upper(), subject) for serial, subject in
                re.findall(rf"authsrv: peer certificate: depth={depth} serial_num=([0-9a-fA-F]+) subject=(\S*)", self.log("hostapd"))]


@pytest.fixture
def port(tmp_path):
    _need_tools()
    network = Port(tmp_path)
    try:
        network.setup()
        yield network
    finally:
        network.teardown()


def write_config(agent, ca, name="wifi", cn="gw-dot1x", extra="", url=None):
    directory = agent.workdir
    (directory / "challenge").write_text(ca.challenge + "\n")
    return write_agent_config(directory / f"{name}.conf", ca, state_dir=directory / "state",
                              challenge_file=directory / "challenge", key=directory / f"{name}-key.pem",
                              cert=directory / f"{name}-cert.pem", chain=directory / f"{name}-chain.pem",
                              name=name, cn=cn, extra="retry_min = 1s\nretry_max = 2s\n" + extra, url=url)


def enroll(agent, ca, name="wifi", cn="gw-dot1x"):
    directory = agent.workdir
    result = agent.run("enroll", "--url", ca.url, "--ca-fingerprint", ca.ca_fingerprint_sha256, "--subject", f"CN={cn},O=Example",
                       "--challenge-file", directory / "challenge", "--key", directory / f"{name}-key.pem",
                       "--cert", directory / f"{name}-cert.pem", "--chain", directory / f"{name}-chain.pem")
    assert result.returncode == 0, result.stderr


def test_enrolled_certificate_authorizes_the_port(agent, ca, port):
    port.start_hostapd(ca)
    config = write_config(agent, ca)
    enroll(agent, ca)
    block = agent.run("wpa-config", "--config", config, "--name", "wifi", "--iface", port.if_b)
    assert block.returncode == 0, block.stderr
    assert f'ca_cert="{agent.workdir}/wifi-chain.pem"' in block.stdout
    assert 'identity="gw-dot1x"' in block.stdout
    port.start_supplicant(block.stdout)
    port.wait_authorized()
    assert "CTRL-EVENT-EAP-SUCCESS" in port.log("supplicant")
    assert port.peer_certificates() == [(certificate_serial(agent.workdir / "wifi-cert.pem"), "/O=Example/CN=gw-dot1x")]
    assert "CTRL-EVENT-EAP-SUCCESS" in port.log("hostapd")


@pytest.mark.parametrize("bundle", ["files", "p12"])
def test_daemon_renewal_hook_reconfigures_and_the_next_authentication_uses_the_new_certificate(agent, tmp_path, port, bundle):
    # A one-day CA and renew_at 0.00005: the daemon renews 4.3 s after each issue and its post_renew hook
    # tells wpa_supplicant to reload, which authenticates again with the new files. With `p12` the
    # supplicant reads key and certificate from one PKCS#12 file (PBES2/AES-256, passphrase from a file).
    with ScepCA(tmp_path / "short-ca", crtvalid=1, allowrenew=0) as short_ca:
        port.start_hostapd(short_ca)
        directory = agent.workdir
        p12 = ""
        if bundle == "p12":
            (directory / "p12.pass").write_text("correct horse battery\n")
            p12 = f"p12 = {directory}/wifi.p12\np12_passphrase_file = {directory}/p12.pass\n"
        config = write_config(agent, short_ca, extra=f"""ca = {directory}/wifi-ca.pem
renew_at = 0.00005
jitter = 0
min_renewal_interval = 1s
post_renew = {WPA_CLI} -p {port.supplicant_ctrl} -i {port.if_b} reconfigure
{p12}""")
        daemon = subprocess.Popen([str(agent.binary), "run", "--config", str(config)], stdout=subprocess.DEVNULL,
                                  stderr=open(directory / "daemon.log", "w"))
        port.processes.insert(0, daemon)
        wait_for(lambda: (directory / "wifi-ca.pem").exists(), 15, "the daemon's first enrollment")
        block = agent.run("wpa-config", "--config", config, "--name", "wifi", *(["--include-pin"] if p12 else []))
        assert block.returncode == 0, block.stderr
        assert f'ca_cert="{directory}/wifi-ca.pem"' in block.stdout
        if p12:
            assert f'private_key="{directory}/wifi.p12"' in block.stdout and "client_cert" not in block.stdout, block.stdout
            assert 'private_key_passwd="correct horse battery"' in block.stdout
            assert oct((directory / "wifi.p12").stat().st_mode & 0o777) == "0o600"
        port.start_supplicant("ap_scan=0\n" + block.stdout)
        port.wait_authorized()
        first = port.peer_certificates()[0][0]
        wait_for(lambda: any(serial != first for serial, _ in port.peer_certificates()), 20,
                 "hostapd to see a renewed certificate after the hook's reconfigure")
        daemon.terminate()
        assert daemon.wait(timeout=10) == 0
        port.wait_authorized()
        seen = [serial for serial, _ in port.peer_certificates()]
        renewed = seen[-1]
        assert renewed != first
        assert renewed == certificate_serial(directory / "wifi-cert.pem"), (seen, (directory / "daemon.log").read_text())
        assert first in seen and seen.index(first) < seen.index(renewed)
        assert certificate_serial(directory / "wifi-cert.pem.prev") != renewed
        hostapd_log = port.log("hostapd")
        last_renewed = [m.start() for m in re.finditer(f"peer certificate: depth=0 serial_num={renewed}", hostapd_log, re.IGNORECASE)][-1]
        assert hostapd_log.find("CTRL-EVENT-EAP-SUCCESS", last_renewed) > 0, "the renewed certificate must authenticate"


def test_supplicant_keeps_authenticating_across_a_ca_switch(agent, tmp_path, port):
    """Issue 13 end to end: the old CA, its successor (a scepserver depot of its own made with OpenSSL) and
    the recording proxy of test_rollover.py; renew-now stands in for the daemon's schedule, and its post_renew
    hook tells wpa_supplicant to reconfigure, which rereads the installed files."""
    with ScepCA(tmp_path / "old", allowrenew=0) as old:
        successor_pem = successor_depot(tmp_path / "new", old)
        successor_key = tmp_path / "new" / "key.pem"
        reply, new_fingerprint = make_next_ca(tmp_path / "next", old, next_pem=successor_pem)
        with ScepCA(tmp_path / "new", challenge=old.challenge, allowrenew=0, extra_args=["-capass", SUCCESSOR_KEY_PASSWORD]) as new, \
                RecordingProxy(old.base_url) as proxy:
            directory = agent.workdir
            ca_file = directory / "wifi-ca.pem"
            config = write_config(agent, old, url=proxy.url, extra=f"""ca = {ca_file}
ca_rollover = 1000d
post_renew = {WPA_CLI} -p {port.supplicant_ctrl} -i {port.if_b} reconfigure
""")

            def renew_now():
                mark = len(port.log("supplicant"))
                result = agent.run("renew-now", "--config", config)
                assert result.returncode == 0, result.stderr
                return mark

            # 1. Enrolled from the old CA; the supplicant trusts the installed ca file.
            port.start_hostapd(old)
            renew_now()  # the hook has no supplicant to tell yet: it fails, logged, and the set stays
            assert certificates_in(ca_file) == [old.ca_fingerprint_sha256]
            block = agent.run("wpa-config", "--config", config, "--name", "wifi")
            assert block.returncode == 0, block.stderr
            assert f'ca_cert="{ca_file}"' in block.stdout
            port.start_supplicant("ap_scan=0\n" + block.stdout)
            port.wait_authenticated_since(0)
            assert port.server_chain_hashes(0)[1] == old.ca_fingerprint_sha256
            assert port.peer_certificates()[-1][0] == certificate_serial(directory / "wifi-cert.pem")

            # 2. The old CA announces its successor: ca holds both, and the hook's reconfigure authenticates again.
            proxy.rewrite_caps = with_get_next_ca_cert
            proxy.overrides["GetNextCACert"] = (200, NEXT_CA_TYPE, reply)
            mark = renew_now()
            assert proxy.by_operation("GetNextCACert")
            assert certificates_in(ca_file) == [old.ca_fingerprint_sha256, new_fingerprint]
            port.wait_authenticated_since(mark)
            assert port.peer_certificates()[-1][0] == certificate_serial(directory / "wifi-cert.pem")

            # 3. hostapd's certificate is reissued by the successor, and hostapd trusts both CAs for clients: the
            # supplicant (its files unchanged since step 2) verifies the new server certificate up to the successor.
            client_cas = port.dir / "client-cas.pem"
            client_cas.write_text(pathlib.Path(old.ca_cert_pem_path).read_text() + successor_pem.read_text())
            port.start_hostapd(old, server_issuer=(successor_pem, successor_key), client_cas=client_cas)
            mark = len(port.log("supplicant"))
            port.wpa_cli("reconfigure")
            port.wait_authenticated_since(mark)
            assert port.server_chain_hashes(mark)[1] == new_fingerprint
            old_issued = certificate_serial(directory / "wifi-cert.pem")
            assert port.peer_certificates()[-1][0] == old_issued
            assert port.peer_certificates(depth=1)[-1][0] == certificate_serial(old.ca_cert_pem_path)

            # 4. The CA switches: the proxy moves upstream to the successor, which issues the renewed certificate.
            proxy.overrides.clear()
            proxy.rewrite_caps = None
            proxy.upstream_port = new.port
            mark = renew_now()
            assert certificates_in(ca_file) == [new_fingerprint, old.ca_fingerprint_sha256]
            assert run("openssl", "verify", "-CAfile", successor_pem, directory / "wifi-cert.pem").stdout.strip().endswith("OK")
            port.wait_authenticated_since(mark)
            assert port.server_chain_hashes(mark)[1] == new_fingerprint
            # Each CA numbers from 2: the serial alone does not tell the CAs apart, the CA hostapd chained to does.
            assert port.peer_certificates()[-1][0] == certificate_serial(directory / "wifi-cert.pem")
            assert port.peer_certificates(depth=1)[-1][0] == certificate_serial(successor_pem)


@pytest.mark.parametrize("kind", ["softhsm", "tpm"])
def test_key_in_a_token_through_the_pkcs11_engine(agent, ca, tmp_path, port, kind):
    from tokens import TPM, SoftHSM
    engine = "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so"
    token_class = SoftHSM if kind == "softhsm" else TPM
    if not (os.path.exists(token_class.module) and os.path.exists(engine)):
        pytest.skip(f"needs {kind} and libengine-pkcs11-openssl (Scripts/install-deps.sh)")
    token = token_class(tmp_path / "token")
    try:
        port.start_hostapd(ca)
        directory = agent.workdir
        uri = token.uri("wifi-key")
        config = write_config(agent, ca, cn="gw-hsm")
        config.write_text(config.read_text().replace(f"key = {directory}/wifi-key.pem",
                                                     f"key = {uri}?module-path={token.module}&pin-source={token.pin_file}"))
        result = agent.run("enroll", "--url", ca.url, "--ca-fingerprint", ca.ca_fingerprint_sha256, "--subject", "CN=gw-hsm,O=Example",
                           "--challenge-file", directory / "challenge", "--key", uri, "--cert", directory / "wifi-cert.pem",
                           "--chain", directory / "wifi-chain.pem", *token.agent_args(), env=token.env)
        assert result.returncode == 0, result.stderr
        assert not (directory / "wifi-key.pem").exists()
        block = agent.run("wpa-config", "--config", config, "--name", "wifi", "--include-pin")
        assert block.returncode == 0, block.stderr
        assert 'engine_id="pkcs11"' in block.stdout and f'key_id="{uri}"' in block.stdout
        # The engine and the module it loads are global settings; the token's environment (SOFTHSM2_CONF,
        # or the TPM's store, TCTI and D-Bus address) reaches the module through wpa_supplicant's.
        port.start_supplicant(f"ap_scan=0\npkcs11_engine_path={engine}\npkcs11_module_path={token.module}\n" + block.stdout,
                              env=token.env)
        port.wait_authorized()
        assert port.peer_certificates() == [(certificate_serial(directory / "wifi-cert.pem"), "/O=Example/CN=gw-hsm")]
    finally:
        port.teardown()
        token.close()


def test_certificate_from_another_ca_is_rejected(agent, ca, tmp_path, port):
    port.start_hostapd(ca)
    with ScepCA(tmp_path / "other-ca", allowrenew=0, organization="other CA") as other:
        config = write_config(agent, other, cn="gw-intruder")
        enroll(agent, other, cn="gw-intruder")
        block = agent.run("wpa-config", "--config", config, "--name", "wifi")
        assert block.returncode == 0, block.stderr
        # The supplicant trusts the server (the first CA issued hostapd's certificate); its own certificate
        # comes from a CA hostapd does not trust.
        text = block.stdout.replace(f'ca_cert="{agent.workdir}/wifi-chain.pem"', f'ca_cert="{ca.ca_cert_pem_path}"')
        assert text != block.stdout
        port.start_supplicant("ap_scan=0\n" + text)
        wait_for(lambda: "CTRL-EVENT-EAP-FAILURE" in port.log("supplicant"), 20, "the supplicant's EAP failure")
        assert not port.authorized()
        assert "CTRL-EVENT-EAP-SUCCESS" not in port.log("hostapd")
        assert "Certificate verification failed, error 20 (unable to get local issuer certificate) depth 0 for '/O=Example/CN=gw-intruder'" \
            in port.log("hostapd"), port.log("hostapd")[-3000:]


# `wpa-config` on its own: no namespaces needed.

def test_wpa_config_prints_a_block_with_absolute_paths_and_the_cn(agent, ca):
    config = write_config(agent, ca, cn="gw-block", extra=f"ca = {agent.workdir}/wifi-ca.pem")
    enroll(agent, ca, cn="gw-block")
    result = agent.run("wpa-config", "--config", config, "--name", "wifi")
    assert result.returncode == 0, result.stderr
    directory = agent.workdir
    # No ca file installed (enroll writes the chain only): ca_cert falls back to the chain.
    assert result.stdout == f"""network={{
    key_mgmt=IEEE8021X
    eap=TLS
    eapol_flags=0
    identity="gw-block"
    ca_cert="{directory}/wifi-chain.pem"
    client_cert="{directory}/wifi-cert.pem"
    private_key="{directory}/wifi-key.pem"
}}
"""
    (directory / "wifi-ca.pem").write_bytes(pathlib.Path(ca.ca_cert_pem_path).read_bytes())
    result = agent.run("wpa-config", "--config", config, "--name", "wifi", "--identity", "host/gw-block.example.net", "--iface", "eth1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("# wpa_supplicant -D wired -i eth1 -c")
    assert lines[1] == "ap_scan=0"
    assert f'    ca_cert="{directory}/wifi-ca.pem"' in lines
    assert '    identity="host/gw-block.example.net"' in lines


def test_wpa_config_pkcs11_key_uses_the_engine(agent, ca):
    directory = agent.workdir
    (directory / "pin").write_text("1234\n")
    uri = f"pkcs11:token=gw;object=wifi-key;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source={directory}/pin"
    config = write_config(agent, ca, cn="gw-token")
    config.write_text(config.read_text().replace(f"key = {directory}/wifi-key.pem", f"key = {uri}"))
    enroll(agent, ca, cn="gw-token")  # a file key: wpa-config only reads the certificate
    result = agent.run("wpa-config", "--config", config, "--name", "wifi")
    assert result.returncode == 0, result.stderr
    assert "private_key" not in result.stdout and "pin=" not in result.stdout
    for line in ('engine=1', 'engine_id="pkcs11"', 'key_id="pkcs11:token=gw;object=wifi-key;type=private"'):
        assert f"    {line}\n" in result.stdout
    with_pin = agent.run("wpa-config", "--config", config, "--name", "wifi", "--include-pin")
    assert with_pin.returncode == 0, with_pin.stderr
    assert '    pin="1234"\n' in with_pin.stdout


def test_wpa_config_errors(agent, ca):
    config = write_config(agent, ca)
    missing = agent.run("wpa-config", "--config", config, "--name", "wifi")
    assert missing.returncode == ExitCode.file and "no certificate installed" in missing.stderr, missing.stderr
    unknown = agent.run("wpa-config", "--config", config, "--name", "lan")
    assert unknown.returncode == ExitCode.config and "no [cert lan]" in unknown.stderr, unknown.stderr
    broken = agent.workdir / "broken.conf"
    broken.write_text("[cert wifi]\nurl = ftp://x\n")
    assert agent.run("wpa-config", "--config", broken, "--name", "wifi").returncode == ExitCode.config
    assert agent.run("wpa-config", "--config", config).returncode == ExitCode.usage
    enroll(agent, ca)
    assert agent.run("wpa-config", "--config", config, "--name", "wifi", "--iface", "eth 1").returncode == ExitCode.usage
    quoted = agent.run("wpa-config", "--config", config, "--name", "wifi", "--identity", 'a"b')
    assert quoted.returncode == ExitCode.usage and "quote" in quoted.stderr
    help_text = agent.run("wpa-config", "--help")
    assert help_text.returncode == 0 and "usage: scep-agent wpa-config" in help_text.stdout
    assert "wpa-config" in agent.run("--help").stdout
