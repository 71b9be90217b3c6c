#!/usr/bin/env python3
"""Enrollment time by key location: a new software key, a new key in SoftHSM2, a new key in a TPM 2.0
(swtpm + tpm2-pkcs11), against one scepserver on 127.0.0.1 in the same run. Runs alternate between the
three; each makes a new RSA-2048 key and a new certificate. Prints the median wall time of the agent
process and the medians of its own phase timings (--json timingsMs).

    python3 Benchmarks/keys.py AGENT [-n RUNS]
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "Tests" / "integration"))
from scepca import ScepCA  # noqa: E402
from tokens import TPM, SoftHSM  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("agent")
    parser.add_argument("-n", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scep-keys-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        softhsm = SoftHSM(tmp / "softhsm")
        tpm = TPM(tmp / "tpm")
        try:
            with ScepCA(tmp / "ca", allowrenew=0) as ca:
                challenge = tmp / "challenge"
                challenge.write_text(ca.challenge + "\n")
                kinds = [("software", None), ("softhsm", softhsm), ("tpm", tpm)]
                results = {name: [] for name, _ in kinds}
                for run in range(args.n):
                    order = kinds[run % 3:] + kinds[:run % 3]
                    for name, token in order:
                        work = tmp / f"{name}-{run}"
                        work.mkdir()
                        key = str(work / "key.pem") if token is None else token.uri(f"bench-{run}")
                        command = [args.agent, "enroll", "--quiet", "--json", "--url", ca.url, "--ca-fingerprint", ca.ca_fingerprint_sha256,
                                   "--subject", f"CN=bench-{name}-{run}", "--challenge-file", str(challenge), "--key", key,
                                   "--cert", str(work / "cert.pem")]
                        env = dict(os.environ)
                        if token is not None:
                            command += [str(a) for a in token.agent_args()]
                            env.update(token.env)
                        start = time.monotonic()
                        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
                        wall = (time.monotonic() - start) * 1000
                        if result.returncode != 0:
                            sys.exit(f"{name} run {run} failed ({result.returncode}): {result.stderr}")
                        results[name].append((wall, json.loads(result.stdout)["timingsMs"]))
        finally:
            softhsm.close()
            tpm.close()
    print(f"enrollment with a new RSA-2048 key, {args.n} runs each, medians in ms ({pathlib.Path(args.agent).name}: {args.agent})")
    print(f"{'key':<10} {'wall':>8} {'keygen':>8} {'discover':>9} {'enroll':>8} {'install':>8}")
    for name, runs in results.items():
        def median(phase):
            return statistics.median(t.get(phase, 0) for _, t in runs)
        print(f"{name:<10} {statistics.median(w for w, _ in runs):8.0f} {median('keygen'):8.0f} {median('discover'):9.0f} "
              f"{median('enroll'):8.0f} {median('install'):8.0f}")


if __name__ == "__main__":
    main()
