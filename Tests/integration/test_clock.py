"""The daemon under a wrong clock, against a real scepserver on 127.0.0.1 (issue 19).

- The device clock runs 300 days ahead (an LD_PRELOAD shim this test builds with gcc shifts
  CLOCK_REALTIME, time() and gettimeofday(), and the absolute expiry the daemon gives its timerfd): every
  year-long certificate is past its renew_at the moment it is issued. The daemon makes one attempt, says
  why it backs off (status, metrics), and does not renew again.
- One [cert]'s installed certificate is not valid yet (its notBefore days ahead): that certificate waits,
  and the other [cert] of the same daemon goes on enrolling and renewing."""
import datetime
import pathlib
import shutil
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from helpers import certificate_serial, openssl
from scepca import ScepCA
from test_daemon import Gateway

CLOCK_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>

static long offset(void) {
    const char *text = getenv("SCEP_TEST_CLOCK_OFFSET");
    return text ? atol(text) : 0;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    static int (*real)(clockid_t, struct timespec *);
    if (!real) real = dlsym(RTLD_NEXT, "clock_gettime");
    int result = real(id, ts);
    if (result == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) ts->tv_sec += offset();
    return result;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out) *out = ts.tv_sec;
    return ts.tv_sec;
}

int gettimeofday(struct timeval *tv, void *tz) {
    (void)tz;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (tv) { tv->tv_sec = ts.tv_sec; tv->tv_usec = ts.tv_nsec / 1000; }
    return 0;
}

/* The kernel's timer runs on the real clock: an absolute expiry in shifted time goes back by the shift. */
int timerfd_settime(int fd, int flags, const struct itimerspec *value, struct itimerspec *old) {
    static int (*real)(int, int, const struct itimerspec *, struct itimerspec *);
    if (!real) real = dlsym(RTLD_NEXT, "timerfd_settime");
    struct itimerspec shifted = *value;
    if ((flags & TFD_TIMER_ABSTIME) && shifted.it_value.tv_sec > 0) {
        shifted.it_value.tv_sec -= offset();
        if (shifted.it_value.tv_sec <= 0) shifted.it_value.tv_sec = 1;
    }
    return real(fd, flags, &shifted, old);
}
"""

DAY = 86_400


@pytest.fixture(scope="module")
def clock_shim(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the clock shim")
    directory = tmp_path_factory.mktemp("clock-shim")
    source = directory / "clock_shim.c"
    source.write_text(CLOCK_SHIM)
    library = directory / "clock_shim.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", library, source, "-ldl"], check=True, capture_output=True)
    return library


def without_min_interval(gateway):
    """Gateway sets min_renewal_interval = 1s for fast tests: here the documented default must hold."""
    lines = [line for line in gateway.config.read_text().splitlines() if not line.startswith("min_renewal_interval")]
    gateway.config.write_text("\n".join(lines) + "\n")


def test_a_clock_300_days_ahead_gets_one_certificate_then_backs_off(agent, ca, clock_shim):
    gateway = Gateway(agent, ca, renew_at="0.66", jitter="0.1")
    without_min_interval(gateway)
    env = {"LD_PRELOAD": str(clock_shim), "SCEP_TEST_CLOCK_OFFSET": str(300 * DAY)}
    shifted = subprocess.run(["date", "+%s"], capture_output=True, text=True, env={**env, "PATH": "/usr/bin:/bin"}).stdout
    assert int(shifted) > time.time() + 299 * DAY, "the shim shifts the clock"
    gateway.start(env=env)
    try:
        gateway.wait_for(lambda: gateway.hooks() >= 1, what="the first enrollment")
        first = gateway.serial()
        time.sleep(8)  # the old daemon issued 56-65 certificates in 8 s here
        assert gateway.hooks() == 1 and gateway.serial() == first, "one certificate, not a storm"
        gateway.wait_for(lambda: "the clock or the CA is wrong" in gateway.status().get("lastResult", ""), what="status saying why")
        status = gateway.status()
        assert status["issuedAlreadyDue"] == 1, status
        next_renewal = datetime.datetime.fromisoformat(status["nextRenewal"].replace("Z", "+00:00")).timestamp()
        assert next_renewal >= time.time() + 300 * DAY + 36 * DAY, ("at least 10% of the lifetime later (shifted time)", status)
        assert 'scep_agent_issued_already_due{name="wifi"} 1' in (agent.workdir / "metrics.prom").read_text()
        gateway.assert_valid_set()
    finally:
        assert gateway.stop() == 0


def issue_not_yet_valid(ca, key_path, certificate_path, days_ahead):
    """A certificate for the installed key, signed by the CA, valid only from `days_ahead` days on."""
    # `scepserver ca -init` encrypts ca.key with an empty password: openssl decrypts it for cryptography.
    ca_key_pem = openssl("pkey", "-in", ca.ca_key_path, "-passin", "pass:")
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    ca_cert = x509.load_pem_x509_certificate(pathlib.Path(ca.ca_cert_pem_path).read_bytes())
    key = serialization.load_pem_private_key(pathlib.Path(key_path).read_bytes(), password=None)
    start = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days_ahead)
    certificate = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=gw-future,O=Example"))
                   .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=365))
                   .sign(ca_key, hashes.SHA256()))
    pathlib.Path(certificate_path).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def test_a_certificate_not_valid_yet_waits_alone_and_the_other_goes_on_renewing(agent, tmp_path):
    with ScepCA(tmp_path / "short-ca", crtvalid=1, allowrenew=0) as short_ca:
        gateway = Gateway(agent, short_ca, renew_at="0.00002")
        assert agent.run("renew-now", "--config", gateway.config).returncode == 0, agent.last.stderr
        issue_not_yet_valid(short_ca, agent.path("key.pem"), agent.path("cert.pem"), days_ahead=3)
        future = gateway.serial()
        directory = agent.workdir
        with open(gateway.config, "a") as config:
            config.write(f"""
[cert vpn]
url = {short_ca.url}
ca_fingerprint = {short_ca.ca_fingerprint_sha256}
subject = CN=gw-vpn,O=Example
challenge_file = {directory}/challenge
renew_with_challenge = yes
key = {directory}/vpn-key.pem
cert = {directory}/vpn-cert.pem
renew_at = 0.00002
jitter = 0
min_renewal_interval = 1s
""")
        vpn = directory / "vpn-cert.pem"
        serials = set()
        gateway.start()
        try:
            def renewed_twice():
                if vpn.exists():
                    serials.add(certificate_serial(vpn))
                return len(serials) >= 3
            gateway.wait_for(renewed_twice, timeout=40, what="the other [cert] enrolling and renewing")
            assert gateway.serial() == future, "the not-yet-valid certificate is left as it is"
            assert "notBefore" in gateway.status()["lastResult"], gateway.status()
        finally:
            assert gateway.stop() == 0
