#!/bin/bash
# CRLs published to the store (`sprov ca crl --publish`) and two nodes with
# crl-from-store = on: a CRL published once is in force on both within
# crl-poll (the revoked device is refused by both, the other still served)
# and /metrics on each shows its number.  Refused, nothing stored: a stale
# CRL (number not above the published one), a file of two CRLs.  A store
# row the node cannot take (not a CRL; a rollback to a lower number) is
# refused in one line, its copy left as it was and the CRL in force stays.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
export SPROV_TEST_STORE=pg
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

sql() { psql -qAtX -v ON_ERROR_STOP=1 "$SPROV_STORE" -c "$1"; }
cluster_rows() { sql "SELECT name || ':' || version || ':' || md5(data) FROM cluster_data ORDER BY 1"; }
crl_metric() { curl -s "http://127.0.0.1:$1/metrics" | grep '^sprov_crl_number{'; }

serve_pki
serve_db

note "--from needs --publish, and no DIR, --ca or --out"
expect_rc 2 "$SPROV" ca crl --from "$T/device-ca.crl"
expect_err_contains "--from needs --publish STORE"
expect_rc 2 "$SPROV" ca crl "$T/ca" --ca device --publish "$SPROV_STORE" --from "$T/device-ca.crl"
expect_err_contains "--from publishes a file: no DIR, --ca or --out"

note "the first CRL is published; a node needs none of its own to start"
expect_rc 0 "$SPROV" ca crl "$T/ca" --ca device -o "$T/crl2.crl" --publish "$SPROV_STORE"
expect_out_contains "published CRL number 2 of 'O=Test, CN=Test Device CA' to "
[ "$(sql "SELECT version FROM cluster_data WHERE name LIKE 'crl/%'")" = 2 ] ||
	fail "not stored: $(cluster_rows)"

note "a stale CRL and a file of two CRLs are refused, nothing stored"
before=$(cluster_rows)
expect_rc 1 "$SPROV" ca crl --publish "$SPROV_STORE" --from "$T/device-ca.crl"
[ "$ERR" = "sprov ca crl: CRL number 1 of 'O=Test, CN=Test Device CA' is not above the published 2: refusing a stale CRL" ] ||
	fail "stale: stderr was: $ERR"
expect_rc 1 "$SPROV" ca crl --publish "$SPROV_STORE" --from "$T/crl2.crl"
expect_err_contains "CRL number 2 of 'O=Test, CN=Test Device CA' is not above the published 2"
cat "$T/device-ca.crl" "$T/crl2.crl" >"$T/two.crl"
expect_rc 1 "$SPROV" ca crl --publish "$SPROV_STORE" --from "$T/two.crl"
[ "$ERR" = "sprov ca crl: $T/two.crl holds 2 CRLs: publish one at a time" ] || fail "two: $ERR"
[ "$(cluster_rows)" = "$before" ] || fail "a refused publish stored something"

# node NAME: a node whose CRL copy is $T/NAME.crl; ports in PORT_NAME, APORT_NAME.
node() {
	serve_start --crl-from-store on --crl "$T/$1.crl" --crl-poll 1 --access-log "$T/$1.log"
	eval "PORT_$1=$PORT APORT_$1=$APORT PID_$1=$SERVE_PID"
}
on() { eval "PORT=\$PORT_$1 APORT=\$APORT_$1 SERVE_PID=\$PID_$1"; }
node A
node B
for n in A B; do
	on $n
	get "$DEV_A" /spa2102.cfg
	expect_code 200
	[ "$(crl_metric "$APORT")" = 'sprov_crl_number{issuer="Test Device CA"} 2' ] ||
		fail "$n metric: $(crl_metric "$APORT")"
done

note "a revocation published once is in force on both nodes within crl-poll"
seen=$(cat "$T/A.log" "$T/B.log" | grep -c 'mac=000e08aaaa01')
"$SPROV" ca revoke "$T/ca" --mac 000e08aaaa01 >/dev/null
expect_rc 0 "$SPROV" ca crl "$T/ca" --ca device -o "$T/crl3.crl" --publish "$SPROV_STORE"
for n in A B; do
	on $n
	for i in $(seq 50); do
		[ "$(crl_metric "$APORT")" = 'sprov_crl_number{issuer="Test Device CA"} 3' ] && break
		sleep 0.1
	done
	[ "$(crl_metric "$APORT")" = 'sprov_crl_number{issuer="Test Device CA"} 3' ] ||
		fail "$n did not take CRL 3: $(crl_metric "$APORT")"
	get "$DEV_A" /spa2102.cfg
	[ "$CODE" = 000 ] || fail "$n served the revoked device: $CODE"
	get "$DEV_B" /spa962.cfg
	expect_code 200
done
[ "$(cat "$T/A.log" "$T/B.log" | grep -c 'mac=000e08aaaa01')" = "$seen" ] ||
	fail "a request of the revoked device reached a node"

note "a row that is not a CRL: one line, the copy unchanged, CRL 3 stays in force"
h=$(sha256sum "$T/A.crl")
sql "INSERT INTO cluster_data (name, version, created, data)
	SELECT name, 4, 0, 'not a CRL'::bytea FROM cluster_data WHERE name LIKE 'crl/%' LIMIT 1"
on A
for i in $(seq 50); do grep -q 'CRL from the store: ' "$T/serve.err" && break; sleep 0.1; done
grep -q "serve: CRL from the store: crl/[0-9a-f]*: no CRL in PEM, and not one whole DER CRL (bad encoding or trailing bytes); the CRL in force stays" "$T/serve.err" ||
	fail "no one-line refusal: $(grep 'CRL from' "$T/serve.err" | tail -2)"
[ "$(sha256sum "$T/A.crl")" = "$h" ] || fail "A's copy changed"
get "$DEV_A" /spa2102.cfg
[ "$CODE" = 000 ] || fail "the revoked device is served again: $CODE"
[ "$(crl_metric "$APORT")" = 'sprov_crl_number{issuer="Test Device CA"} 3' ] || fail "metric moved"

note "a rollback in the store (CRL 2 newest again) is refused, CRL 3 stays in force"
sql "DELETE FROM cluster_data WHERE name LIKE 'crl/%'"
expect_rc 0 "$SPROV" ca crl --publish "$SPROV_STORE" --from "$T/crl2.crl"
for i in $(seq 50); do grep -q 'refused (rollback)' "$T/serve.err" && break; sleep 0.1; done
grep -q "serve: CRL from the store: store CRL of 'O=Test, CN=Test Device CA' has number 2, below the 3 in force: refused (rollback); the CRL in force stays" "$T/serve.err" ||
	fail "no rollback refusal: $(grep 'CRL from' "$T/serve.err" | tail -2)"
get "$DEV_A" /spa2102.cfg
[ "$CODE" = 000 ] || fail "the rollback un-revoked the device: $CODE"
[ "$(sha256sum "$T/A.crl")" = "$h" ] || fail "A's copy changed"
[ "$(crl_metric "$APORT")" = 'sprov_crl_number{issuer="Test Device CA"} 3' ] || fail "metric moved"
for n in A B; do on $n; serve_stop; done
finish
