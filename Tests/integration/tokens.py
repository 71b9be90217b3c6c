"""Throwaway PKCS#11 tokens for the tests and benchmarks: SoftHSM2 with its own SOFTHSM2_CONF and token
directory, and a TPM 2.0 (swtpm in socket mode on 127.0.0.1, fresh state) behind a resource manager
(tpm2-abrmd on a private D-Bus session bus) and tpm2-pkcs11."""
import os
import pathlib
import socket
import subprocess
import time

from scepca import die_with_parent, free_port, terminate_pid

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TPM2_MODULE = "/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so"
SO_PIN = "000000"
USER_PIN = "1234"
LABEL = "gw"


def _port_free(port):
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class Token:
    """Common part: module, environment for every process that loads it, PIN file, pkcs11-tool."""

    module = None

    def __init__(self, workdir):
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env = {}
        self.pin_file = self.workdir / "user.pin"
        self.pin_file.write_text(USER_PIN + "\n")
        self.pin_file.chmod(0o600)

    def uri(self, obj="device-key"):
        return f"pkcs11:token={LABEL};object={obj};type=private"

    def tool(self, *args, login=True, check=True):
        full_env = dict(os.environ)
        full_env.update(self.env)
        command = ["pkcs11-tool", "--module", self.module, "--token-label", LABEL]
        if login:
            command += ["--login", "--pin", USER_PIN]
        result = subprocess.run(command + list(map(str, args)), capture_output=True, text=True, env=full_env, timeout=60)
        if check and result.returncode != 0:
            raise RuntimeError(f"pkcs11-tool {' '.join(map(str, args))} failed: {result.stdout}{result.stderr}")
        return result

    def objects(self):
        """[{kind, label, id, access}] from pkcs11-tool --list-objects."""
        out = []
        for line in self.tool("--list-objects").stdout.splitlines():
            if not line.startswith(" ") and "Object;" in line:
                out.append({"kind": line.split(" Object;")[0], "header": line})
            elif out and ":" in line:
                name, _, value = line.strip().partition(":")
                out[-1][name.strip().lower()] = value.strip()
        return out

    def private_keys(self):
        return [entry for entry in self.objects() if entry["kind"] == "Private Key"]

    def public_key_der(self, label="device-key"):
        """The token's public key for `label`, as DER SubjectPublicKeyInfo (read with pkcs11-tool)."""
        path = self.workdir / "pub.der"
        self.tool("--read-object", "--type", "pubkey", "--label", label, "--output-file", path)
        return path.read_bytes()

    def agent_args(self):
        return ["--pkcs11-module", self.module, "--pin-file", self.pin_file]


class SoftHSM(Token):
    module = SOFTHSM_MODULE

    def __init__(self, workdir):
        super().__init__(workdir)
        tokens = self.workdir / "tokens"
        tokens.mkdir()
        conf = self.workdir / "softhsm2.conf"
        conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
        self.env = {"SOFTHSM2_CONF": str(conf)}
        full_env = dict(os.environ, **self.env)
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", LABEL, "--so-pin", SO_PIN, "--pin", USER_PIN],
                       check=True, capture_output=True, env=full_env)

    def close(self):
        pass


class TPM(Token):
    """swtpm on 127.0.0.1 with a fresh state directory, tpm2-abrmd in front of it, and a tpm2-pkcs11 store
    of its own.

    The resource manager is what a gateway has too (the kernel's /dev/tpmrm0): a TPM holds only 3 loaded
    transient objects, and tpm2-pkcs11 keeps its primary key plus every key it used loaded, so a renewal
    (old key and new key in one run) fails on bare swtpm with "out of memory for object contexts".
    tpm2-abrmd swaps objects out and in (context save/load) and flushes a client's objects when it
    disconnects. It runs on a private dbus-daemon session bus: no system bus, no systemd."""

    module = TPM2_MODULE

    def __init__(self, workdir):
        super().__init__(workdir)
        self.proc = self.dbus = self.abrmd = None
        state = self.workdir / "swtpm-state"
        store = self.workdir / "tpm2-pkcs11-store"
        state.mkdir()
        store.mkdir()
        # The swtpm TCTI talks to the control channel on port + 1.
        self.port = free_port()
        while not _port_free(self.port + 1):
            self.port = free_port()
        self.ctrl_port = self.port + 1
        self.log = open(self.workdir / "swtpm.log", "wb")
        try:
            self._start(state, store)
        except BaseException:
            self.close()
            raise

    def _start(self, state, store):
        self.proc = subprocess.Popen(
            ["swtpm", "socket", "--tpm2",
             "--server", f"type=tcp,port={self.port},bindaddr=127.0.0.1",
             "--ctrl", f"type=tcp,port={self.ctrl_port},bindaddr=127.0.0.1",
             "--tpmstate", f"dir={state}", "--flags", "not-need-init,startup-clear"],
            stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("swtpm did not start: " + (self.workdir / "swtpm.log").read_text())
                time.sleep(0.05)
        # A private session bus (unix socket in the work directory) for tpm2-abrmd and its clients.
        self.dbus = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1",
             f"--address=unix:path={self.workdir / 'bus'}"],
            stdout=subprocess.PIPE, stderr=self.log, text=True, preexec_fn=die_with_parent)
        address = self.dbus.stdout.readline().strip()
        if not address:
            raise RuntimeError("dbus-daemon did not start: " + (self.workdir / "swtpm.log").read_text())
        abrmd = ["tpm2-abrmd", "--session", "--logger=stdout", "--flush-all",
                 f"--tcti=swtpm:host=127.0.0.1,port={self.port}"]
        if os.geteuid() == 0:
            abrmd.append("--allow-root")
        bus_env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=address)
        self.abrmd = subprocess.Popen(abrmd, stdout=self.log, stderr=subprocess.STDOUT, env=bus_env,
                                      preexec_fn=die_with_parent)
        self.tcti = "tabrmd:bus_type=session"
        self.env = {"TPM2_PKCS11_STORE": str(store), "TPM2_PKCS11_TCTI": self.tcti,
                    "DBUS_SESSION_BUS_ADDRESS": address, "TPM2_PKCS11_LOG_LEVEL": "0"}
        full_env = dict(os.environ, **self.env)
        # Ready when a TPM command goes through the broker.
        deadline = time.monotonic() + 15
        while subprocess.run(["tpm2_getrandom", "--hex", "4"], capture_output=True, timeout=30,
                             env=dict(full_env, TPM2TOOLS_TCTI=self.tcti)).returncode != 0:
            if time.monotonic() > deadline or self.abrmd.poll() is not None:
                raise RuntimeError("tpm2-abrmd did not start: " + (self.workdir / "swtpm.log").read_text())
            time.sleep(0.1)
        subprocess.run(["pkcs11-tool", "--module", self.module, "--slot-index", "0", "--init-token", "--label", LABEL, "--so-pin", SO_PIN],
                       check=True, capture_output=True, env=full_env, timeout=60)
        subprocess.run(["pkcs11-tool", "--module", self.module, "--token-label", LABEL, "--login", "--login-type", "so",
                        "--so-pin", SO_PIN, "--init-pin", "--pin", USER_PIN], check=True, capture_output=True, env=full_env, timeout=60)

    def close(self):
        for proc in (self.abrmd, self.dbus, self.proc):
            if proc and proc.poll() is None:
                terminate_pid(proc.pid)
                proc.wait()
        if self.dbus and self.dbus.stdout:
            self.dbus.stdout.close()
        self.log.close()


KINDS = {"softhsm": SoftHSM, "tpm": TPM}
