#!/usr/bin/env python3
"""Idle daemon over a window (default 60 s): CPU time, wake-ups and RSS of scep-agent's daemon (one
certificate enrolled, nothing due for days) beside certmonger 0.79's daemon (on a private D-Bus
session bus, nothing tracked), measured over the same window from /proc.

    python3 Benchmarks/idle.py [--seconds 60] [--binary PATH]

Wake-ups are context switches (voluntary + involuntary) of the process during the window: each
time it leaves a wait. Only 127.0.0.1 is used."""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "integration"))
from scepca import ScepCA  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def sample(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu_ticks = int(fields[11]) + int(fields[12])
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    switches = int(status["voluntary_ctxt_switches"]) + int(status["nonvoluntary_ctxt_switches"])
    return cpu_ticks, switches, int(status["VmRSS"].split()[0]), int(status["VmHWM"].split()[0])


def asleep(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "S"


def resident_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1])


def settled_rss_kib(pid, timeout=30):
    """VmRSS once the process sleeps with the same RSS twice in a row, 0.5 s apart (its wait has begun and
    nothing is being touched any more); the last reading if that never happens within `timeout` s."""
    deadline = time.monotonic() + timeout
    readings = []
    while time.monotonic() < deadline and not (len(readings) >= 2 and readings[-1] == readings[-2]):
        time.sleep(0.5)
        if asleep(pid):
            readings.append(resident_kib(pid))
    return readings[-1] if readings else resident_kib(pid)


def write_config(work, ca):
    with open(os.path.join(work, "challenge"), "w") as f:
        f.write(ca.challenge + "\n")
    config = os.path.join(work, "agent.conf")
    with open(config, "w") as f:
        f.write(f"""[agent]
state_dir = {work}/state
[cert wifi]
url = {ca.url}
ca_fingerprint = {ca.ca_fingerprint_sha256}
subject = CN=idle
challenge_file = {work}/challenge
key = {work}/key.pem
cert = {work}/cert.pem
""")
    return config


def start_enrolled_daemon(binary, work, ca):
    """`scep-agent run` with one certificate, returned once it has enrolled (nothing due for days then)."""
    agent = subprocess.Popen([binary, "run", "--config", write_config(work, ca), "--quiet"])
    deadline = time.monotonic() + 20
    while not os.path.exists(os.path.join(work, "cert.pem")) and time.monotonic() < deadline:
        time.sleep(0.1)
    return agent


def idle_daemon_rss_kib(binary):
    """RSS of the daemon asleep after enrolling, against a scepserver of its own on 127.0.0.1."""
    work = tempfile.mkdtemp(prefix="scep-idle-")
    ca = ScepCA(os.path.join(work, "ca"), crtvalid=30).start()
    agent = None
    try:
        agent = start_enrolled_daemon(binary, work, ca)
        return settled_rss_kib(agent.pid) if agent.poll() is None else None
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(timeout=10)
        ca.stop()
        shutil.rmtree(work, ignore_errors=True)


def children_pid(parent, name):
    for _ in range(50):
        out = subprocess.run(["pgrep", "-P", str(parent), "-x", name], capture_output=True, text=True).stdout.split()
        if out:
            return int(out[0])
        time.sleep(0.1)
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--binary", default=os.path.join(HERE, "..", ".build-embedded", "release", "scep-agent"))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="scep-idle-")
    processes = []
    try:
        ca = ScepCA(os.path.join(work, "ca"), crtvalid=30).start()
        agent = start_enrolled_daemon(args.binary, work, ca)
        processes.append(agent)
        rows = [("scep-agent run", agent.pid)]
        if shutil.which("certmonger") and shutil.which("dbus-run-session"):
            session = subprocess.Popen(["dbus-run-session", "--", "certmonger", "-n", "-s", "-B"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            processes.append(session)
            pid = children_pid(session.pid, "certmonger")
            if pid:
                rows.append(("certmonger -n -s", pid))
        else:
            print("certmonger or dbus-run-session missing (apt-get install certmonger dbus): measuring scep-agent alone")
        time.sleep(2)  # let both settle after start-up
        before = {pid: sample(pid) for _, pid in rows}
        time.sleep(args.seconds)
        after = {pid: sample(pid) for _, pid in rows}
        print(f"idle over {args.seconds} s ({os.uname().machine}, {os.cpu_count()} CPUs)")
        print("| daemon | CPU ms | wake-ups | RSS MiB | peak RSS MiB |")
        print("| --- | --- | --- | --- | --- |")
        for name, pid in rows:
            cpu = (after[pid][0] - before[pid][0]) * 1000 / TICKS
            print(f"| {name} | {cpu:.0f} | {after[pid][1] - before[pid][1]} | {after[pid][2] / 1024:.1f} | {after[pid][3] / 1024:.1f} |")
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGTERM) if process.args[0] == "dbus-run-session" else process.send_signal(signal.SIGTERM)
                process.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                process.kill()
        try:
            ca.stop()
        except NameError:
            pass
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
