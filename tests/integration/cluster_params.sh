#!/bin/bash
# Issue 13, cluster test 1: three `sprov serve` nodes on one PostgreSQL
# database.  A parameter set with `sprov db params` (its own connection to
# the database, as from any machine) is served by every node within one
# second: each node is polled for up to 1 s after the command returns, and
# the test fails otherwise.  The same for a default that every device
# inherits, and for a device disabled elsewhere.
SPROV_TEST_STORE=pg
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"
. "$SPROV_SRCDIR/tests/lib/cluster.sh"
N=3

serve_pki
serve_db
# No proxy-from: the test asks each node directly.
cluster_start $N proxy-from=

# on_node I DEV PATH: ask node I.
on_node() { PORT=${NODE_PORT[$1]} get "$2" "$3"; }

# all_within_1s DEV PATH TEXT: every node serves TEXT within 1 s of now.
all_within_1s() {
	local dev=$1 path=$2 text=$3 deadline i
	deadline=$(($(date +%s%N) + 1000000000))
	for ((i = 1; i <= N; i++)); do
		while :; do
			on_node "$i" "$dev" "$path"
			case "$BODY" in *"$text"*) break ;; esac
			[ "$(date +%s%N)" -lt "$deadline" ] ||
				fail "node $i still serves the old profile 1 s after the change (HTTP $CODE): $BODY"
			sleep 0.02
		done
	done
	_TESTS_RUN=$((_TESTS_RUN + 1))
}

note "every node serves (and caches) both devices"
for ((i = 1; i <= N; i++)); do
	on_node "$i" "$DEV_A" /profiles/000e08aaaa01.xml
	expect_code 200
	case "$BODY" in *"<Password_1_>secretAAAA</Password_1_>"*) ;; *) fail "node $i: $BODY" ;; esac
	on_node "$i" "$DEV_B" /spa000e08aaaa02.cfg
	expect_code 200
done

note "a device's parameter set with sprov db params: on every node within 1 s"
"$SPROV" db params set --device 000e08aaaa01 Password_1_=clusterAAAA >/dev/null
all_within_1s "$DEV_A" /profiles/000e08aaaa01.xml "<Password_1_>clusterAAAA</Password_1_>"

note "a default changed: every node serves it to device B within 1 s"
"$SPROV" db params set --default Proxy_1_=sip2.example.net --access na >/dev/null
all_within_1s "$DEV_B" /spa000e08aaaa02.cfg "sip2.example.net"

note "the check can fail: a value nobody set is not served within 1 s"
if (all_within_1s "$DEV_A" /profiles/000e08aaaa01.xml "<Password_1_>neverSet<") 2>"$T/neg.err"; then
	fail "all_within_1s passed for a value nobody set"
fi
grep -q "node 1 still serves the old profile 1 s after the change (HTTP 200)" "$T/neg.err" ||
	fail "the failing check said: $(cat "$T/neg.err")"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "a device disabled with sprov db: refused by every node within 1 s"
"$SPROV" db devices disable 000e08aaaa01 >/dev/null
deadline=$(($(date +%s%N) + 1000000000))
for ((i = 1; i <= N; i++)); do
	while on_node "$i" "$DEV_A" /profiles/000e08aaaa01.xml; [ "$CODE" = 200 ]; do
		[ "$(date +%s%N)" -lt "$deadline" ] || fail "node $i still serves it 1 s after disable"
		sleep 0.02
	done
	expect_code 404
done

for ((i = 1; i <= N; i++)); do node_stop "$i"; done
finish
