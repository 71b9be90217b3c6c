#!/usr/bin/env bash
# The main job, end to end on one machine: install, build the shipped (Embedded Swift) binary, start a
# throwaway SCEP CA (Debian's scepserver) on 127.0.0.1 with a random challenge, enroll a device
# certificate, and show what was installed and how wpa_supplicant would use it.
# --keep-ca: leave the CA running afterwards, to try renew and the daemon against it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
keep_ca=false
[ "${1:-}" = "--keep-ca" ] && keep_ca=true
Scripts/install-deps.sh --quickstart
echo "== building scep-agent (Embedded Swift, release)"
Scripts/build-embedded.sh 2>&1 | grep -E "error|warning|Compiling|Build complete" || true
agent="$root/.build-embedded/release/scep-agent"
[ -x "$agent" ] || { echo "build failed" >&2; exit 1; }

demo=${SCEP_DEMO_DIR:-/tmp/scep-agent-demo}
rm -rf "$demo"
mkdir -p "$demo/ca" "$demo/device"
# -allowrenew 0: scepserver's default (14) refuses a new certificate for a DN that has a valid one,
# which is what a renewal asks for.
ca_json=$(python3 Tests/integration/scepca.py start --dir "$demo/ca" --allowrenew 0)
"$keep_ca" || trap 'python3 "$root/Tests/integration/scepca.py" stop --dir "$demo/ca" >/dev/null 2>&1 || true' EXIT
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$ca_json" "$1"; }
url=$(field url)
fingerprint=$(field fingerprint)
(umask 077; field challenge > "$demo/device/challenge")
echo "== throwaway CA at $url (sha256 $fingerprint)"

"$agent" getca --url "$url"
echo "== enrolling"
"$agent" enroll --url "$url" --ca-fingerprint "$fingerprint" \
    --subject "CN=gw-0042,O=scep-agent demo" --san dns:gw-0042.demo.internal \
    --challenge-file "$demo/device/challenge" \
    --key "$demo/device/key.pem" --cert "$demo/device/cert.pem" --chain "$demo/device/chain.pem"

echo
echo "== installed files"
ls -l "$demo/device/key.pem" "$demo/device/cert.pem" "$demo/device/chain.pem"
echo
echo "== what the certificate says (openssl x509)"
# The names as scep-agent prints them (certificate order, ", " between attributes).
openssl x509 -in "$demo/device/cert.pem" -noout -nameopt sep_comma_plus_space,sname -subject -issuer -serial -dates -ext subjectAltName,keyUsage,extendedKeyUsage
openssl verify -CAfile "$demo/device/chain.pem" "$demo/device/cert.pem"
echo
cat > "$demo/scep-agent.conf" <<CONF
# What the daemon would keep renewing: scep-agent run --config $demo/scep-agent.conf
[agent]
state_dir = $demo/state

[cert wifi]
url = $url
ca_fingerprint = $fingerprint
subject = CN=gw-0042,O=scep-agent demo
sans = dns:gw-0042.demo.internal
challenge_file = $demo/device/challenge
renew_with_challenge = auto   # the default: scepserver wants the challenge on renewals, and this learns it
key = $demo/device/key.pem
cert = $demo/device/cert.pem
chain = $demo/device/chain.pem
CONF
echo "== the same certificate as a daemon configuration ($demo/scep-agent.conf)"
"$agent" check-config --config "$demo/scep-agent.conf"
echo
echo "== wpa_supplicant network block (802.1X EAP-TLS), from scep-agent wpa-config"
"$agent" wpa-config --config "$demo/scep-agent.conf" --name wifi
echo
renew=("$agent" renew --url "$url" --ca-fingerprint "$fingerprint" --challenge-file "$demo/device/challenge"
       --key "$demo/device/key.pem" --cert "$demo/device/cert.pem" --chain "$demo/device/chain.pem")
if "$keep_ca"; then
    echo "== the CA keeps running (pid $(field pid)); try:"
    echo "   ${renew[*]}"
    echo "   $agent run --config $demo/scep-agent.conf --verbose      # the daemon; Ctrl-C stops it"
    echo "   $agent renew-now --config $demo/scep-agent.conf"
    echo "   python3 Tests/integration/scepca.py stop --dir $demo/ca   # when done"
else
    echo "== the throwaway CA stops now; to try renew and the daemon against a CA that stays up:"
    echo "   Scripts/quickstart.sh --keep-ca"
fi
