#!/bin/bash
# bench/idle_rss.sh SPROV BACKEND N: peak RSS (VmHWM) of a fresh `sprov serve` holding
# N idle mutual-TLS connections from Python ssl clients, alone, without the rest of
# bench/run.sh around it; for A/B of two binaries on memory.  Not a test.
set -eu
S=$1; B=$2; N=$3
T=$(mktemp -d "${TMPDIR:-/tmp}/sprov-rss.XXXXXX")
export SPROV_STORE="sqlite:$T/db"
$S ca init $T/ca --org X >/dev/null
$S req --cn prov.example.net --key-out $T/p.key --out $T/p.csr >/dev/null
$S ca sign $T/ca $T/p.csr -o $T/p.crt >/dev/null
$S ca issue $T/ca --mac 000e08000001 --serial S1 --product SPA2102 --out $T/dev >/dev/null
$S db init >/dev/null
$S db devices add 000e08000001 --serial S1 --product SPA2102 >/dev/null
P=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ulimit -n 10000
$S serve --listen 127.0.0.1:$P --admin off --cert $T/p.crt --key $T/p.key --client-ca $T/ca/device-ca.crt --tls-backend $B --access-log off --max-connections $((N+1000)) --idle-timeout 600 --handshakes-per-source 0 2>$T/err &
SP=$!
sleep 1
python3 - $P $T/dev/000e08000001 $T/ca/server-ca.crt $N <<'PY' &
import socket, ssl, sys, time
port, dev, ca, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.load_verify_locations(ca); ctx.check_hostname = False
ctx.load_cert_chain(dev + "/client.crt", dev + "/client.key")
conns = [ctx.wrap_socket(socket.create_connection(("127.0.0.1", port))) for i in range(n)]
print("open", flush=True); time.sleep(600)
PY
CP=$!
for i in $(seq 600); do sleep 0.2; c=$(ls /proc/$SP/fd | wc -l); [ $c -ge $N ] && break; done
sleep 1
grep -E "VmHWM|VmRSS" /proc/$SP/status | tr '\n' ' '; echo " fds=$(ls /proc/$SP/fd | wc -l) $B $(basename $S)"
kill $CP $SP; wait 2>/dev/null; rm -rf $T
