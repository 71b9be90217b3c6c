#!/usr/bin/env python3
"""Enrollment benchmark against a fresh local scepserver 2.1.0: Debian's scepclient as the baseline.

    python3 Benchmarks/scepclient_baseline.py [-n 20] [--warmup 1] [--json results.json]
        [--client 'NAME=COMMAND TEMPLATE' ...] [--pwri-client 'NAME=COMMAND TEMPLATE' ...] [--only NAME ...]

Each client is a named command template (split like a shell line, then each word is formatted) with
these placeholders:
    {url}         http://127.0.0.1:P/scep           {challenge}  the CA's challenge password
    {key}         a pre-generated RSA-2048 key, PKCS#1 PEM, copied into the run's own directory
    {key_pkcs8}   the same key as PKCS#8 PEM          {cert}       where to write the issued cert (PEM)
    {cn}          a distinct CN per run               {workdir}    the run's own empty directory
    {ca_pem}      the CA certificate (PEM)            {fingerprint} its SHA-256, lowercase hex
    {key_ec}      a pre-generated EC P-256 key (PKCS#8 PEM), copied into the run's directory
A `--pwri-client` runs against Tests/integration/hostile_ca.py instead (scepserver refuses EC CSRs),
which answers an EC key's request with PasswordRecipientInfo under the challenge (RFC 8894 §3.1).
Example of adding the Swift client later:
    --client 'scep-agent=.build/release/scep-agent enroll --url {url} --challenge {challenge} --key {key} --cn {cn} --out {cert}'

Runs alternate between clients (the order rotates every round) against one scepserver started with
`-allowrenew 0`; each run gets a fresh directory (scepclient writes csr.pem next to its key and reuses a
stale one) and its own CN. Per run: wall time and CPU time (user+sys) of the client process and its
children from os.wait4's rusage, and peak RSS from GNU time's %M (install Debian's `time`; without it
the RSS column would be Python's own, see GNU_TIME below). A run counts when the command exits 0 and {cert} exists (if
the template names it). The table shows medians and ratios to the first client. The server's own cost
is not included. Only 127.0.0.1 is used.
"""

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "integration"))

from hostile_ca import HostileCA  # noqa: E402
from scepca import ScepCA  # noqa: E402

# Peak RSS: the rusage of a child spawned from Python reports Python's own peak (the forked or
# vfork-shared memory counts before exec), so the client runs under GNU time, a small C program, and
# its %M (the client's own peak RSS) is used. Wall and CPU come from wait4 on the `time` process: CPU
# includes the launcher's fork/exec (measured with /bin/true and printed as "launcher").
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None

DEFAULT_CLIENTS = [
    ("scepclient", "scepclient -private-key {key} -certificate {cert} -server-url {url} "
                   "-challenge {challenge} -cn {cn}"),
]


def run_once(name, template, ca, keys, workdir, cn, timeout=60.0):
    os.makedirs(workdir)
    key = os.path.join(workdir, "key.pem")
    shutil.copy(keys["pkcs1"], key)
    key_ec = os.path.join(workdir, "key-ec.pem")
    shutil.copy(keys["ec"], key_ec)
    values = {"url": ca.url, "challenge": ca.challenge, "key": key, "key_pkcs8": keys["pkcs8"], "key_ec": key_ec,
              "cert": os.path.join(workdir, "cert.pem"), "cn": cn, "workdir": workdir,
              "ca_pem": ca.ca_cert_pem_path, "fingerprint": ca.ca_fingerprint_sha256}
    argv = [word.format(**values) for word in shlex.split(template)]
    rss_file = os.path.join(workdir, "time.out")
    if GNU_TIME:
        argv = [GNU_TIME, "-f", "%M", "-o", rss_file, *argv]
    log = open(os.path.join(workdir, "output.log"), "wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    watchdog = threading.Timer(timeout, proc.kill)  # blocking wait4 keeps the timing exact
    watchdog.start()
    try:
        _, status, ru = os.wait4(proc.pid, 0)
    finally:
        watchdog.cancel()
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting again
    log.close()
    maxrss_kb = ru.ru_maxrss
    if GNU_TIME:
        try:
            with open(rss_file) as f:
                maxrss_kb = int(f.read().split()[-1])
        except (OSError, ValueError, IndexError):
            maxrss_kb = 0
    ok = proc.returncode == 0 and ("{cert}" not in template or os.path.exists(values["cert"]))
    return {"client": name, "cn": cn, "ok": ok, "exit": proc.returncode, "wall_s": wall,
            "cpu_s": ru.ru_utime + ru.ru_stime, "user_s": ru.ru_utime, "sys_s": ru.ru_stime,
            "maxrss_kb": maxrss_kb, "log": os.path.join(workdir, "output.log")}


def summarize(results, names):
    rows = []
    for name in names:
        ok = [r for r in results if r["client"] == name and r["ok"]]
        total = sum(1 for r in results if r["client"] == name)
        if ok:
            row = {"client": name, "runs": total, "ok": len(ok),
                   "wall_ms": statistics.median(r["wall_s"] for r in ok) * 1000,
                   "wall_min_ms": min(r["wall_s"] for r in ok) * 1000,
                   "wall_max_ms": max(r["wall_s"] for r in ok) * 1000,
                   "cpu_ms": statistics.median(r["cpu_s"] for r in ok) * 1000,
                   "rss_mb": statistics.median(r["maxrss_kb"] for r in ok) / 1024}
        else:
            row = {"client": name, "runs": total, "ok": 0}
        rows.append(row)
    return rows


def print_table(rows):
    base = rows[0] if rows and rows[0].get("ok") else None
    head = (f"{'client':<16}{'ok/runs':>9}{'wall ms':>10}{'(min-max)':>16}{'cpu ms':>9}{'RSS MB':>9}"
            f"{'wall x':>8}{'cpu x':>8}{'RSS x':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        if not r["ok"]:
            print(f"{r['client']:<16}{'0/' + str(r['runs']):>9}   (no successful run)")
            continue
        ratio = lambda k: f"{r[k] / base[k]:.2f}" if base and base[k] else "-"  # noqa: E731
        rng = f"{r['wall_min_ms']:.0f}-{r['wall_max_ms']:.0f}"
        print(f"{r['client']:<16}{str(r['ok']) + '/' + str(r['runs']):>9}{r['wall_ms']:>10.1f}{rng:>16}"
              f"{r['cpu_ms']:>9.1f}{r['rss_mb']:>9.1f}{ratio('wall_ms'):>8}{ratio('cpu_ms'):>8}"
              f"{ratio('rss_mb'):>8}")
    print("medians over successful runs; ratios are to the first client; server cost not included")


def main(argv=None):
    ap = argparse.ArgumentParser(description="SCEP enrollment benchmark against a local scepserver")
    ap.add_argument("-n", "--runs", type=int, default=20, help="measured runs per client (default 20)")
    ap.add_argument("--warmup", type=int, default=1, help="unmeasured runs per client first (default 1)")
    ap.add_argument("--client", action="append", default=[], metavar="NAME=TEMPLATE",
                    help="add a client command template (see the module doc)")
    ap.add_argument("--pwri-client", action="append", default=[], metavar="NAME=TEMPLATE",
                    help="a client run against the hostile CA's PasswordRecipientInfo replies (EC keys)")
    ap.add_argument("--only", action="append", default=[], metavar="NAME", help="run only these clients")
    ap.add_argument("--json", help="also write all per-run results and the summary here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args(argv)

    clients = list(DEFAULT_CLIENTS)
    pwri_clients = set()
    for spec, pwri in [(spec, False) for spec in a.client] + [(spec, True) for spec in a.pwri_client]:
        name, sep, template = spec.partition("=")
        if not sep or not name or not template:
            ap.error(f"--client wants NAME=TEMPLATE, got {spec!r}")
        clients.append((name, template))
        if pwri:
            pwri_clients.add(name)
    if a.only:
        clients = [c for c in clients if c[0] in a.only]
    if not clients:
        ap.error("no client to run")
    for name, template in clients:
        exe = shlex.split(template)[0]
        if shutil.which(exe) is None:
            sys.exit(f"{name}: {exe} not found" + (" (install the Debian package `scep`)"
                                                   if exe == "scepclient" else ""))

    work = tempfile.mkdtemp(prefix="scep-bench-")
    results = []
    try:
        keys = {"pkcs1": os.path.join(work, "key-pkcs1.pem"), "pkcs8": os.path.join(work, "key-pkcs8.pem")}
        subprocess.run(["openssl", "genrsa", "-traditional", "-out", keys["pkcs1"], "2048"],
                       check=True, capture_output=True)
        subprocess.run(["openssl", "pkcs8", "-topk8", "-nocrypt", "-in", keys["pkcs1"], "-out", keys["pkcs8"]],
                       check=True, capture_output=True)
        keys["ec"] = os.path.join(work, "key-ec.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keys["ec"]],
                       check=True, capture_output=True)
        with ScepCA(os.path.join(work, "ca"), allowrenew=0) as ca, HostileCA(os.path.join(work, "pwri-ca")) as pwri_ca:
            counter = 0
            for rnd in range(a.warmup + a.runs):
                shift = rnd % len(clients)
                for name, template in clients[shift:] + clients[:shift]:
                    counter += 1
                    r = run_once(name, template, pwri_ca if name in pwri_clients else ca, keys, os.path.join(work, f"run-{counter:04d}-{name}"),
                                 f"bench-{name}-{counter}")
                    if not r["ok"]:
                        with open(r["log"], "rb") as f:
                            tail = f.read()[-400:].decode(errors="replace")
                        print(f"warning: {name} run {counter} failed (exit {r['exit']}): {tail}",
                              file=sys.stderr)
                    if rnd >= a.warmup:
                        results.append(r)
        launcher = []
        for i in range(5):
            r = run_once("launcher", "/bin/true", ca, keys, os.path.join(work, f"launcher-{i}"), "none")
            launcher.append(r)
        rows = summarize(results, [c[0] for c in clients])
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
        print(f"{a.runs} runs per client (+{a.warmup} warmup), RSA-2048 key, scepserver 2.1.0 on 127.0.0.1"
              f"{' (' + ', '.join(sorted(pwri_clients)) + ': EC P-256 key, hostile_ca.py PWRI replies)' if pwri_clients else ''}; "
              f"{platform.machine()}, {os.cpu_count()} CPUs, {cpu}")
        if not GNU_TIME:
            print("warning: /usr/bin/time missing (apt-get install time): RSS column is the Python parent's",
                  file=sys.stderr)
        print_table(rows)
        print(f"launcher (/bin/true through the same path): wall "
              f"{statistics.median(r['wall_s'] for r in launcher) * 1000:.1f} ms, cpu "
              f"{statistics.median(r['cpu_s'] for r in launcher) * 1000:.1f} ms, RSS "
              f"{statistics.median(r['maxrss_kb'] for r in launcher) / 1024:.1f} MB")
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"clients": dict(clients), "summary": rows, "runs": results, "launcher": launcher}, f, indent=2)
        return 0 if all(r["ok"] == r["runs"] for r in rows) else 1
    finally:
        if a.keep:
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
