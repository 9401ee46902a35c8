# Shared by console_api*.sh: curl against the admin listener ($APORT).

# api METHOD PATH [CURL ARGS...]: sets $CODE, $BODY, headers in $T/ahdr.
api() {
	local m=$1 p=$2
	shift 2
	CODE=$(curl -sS --max-time 10 -X "$m" -D "$T/ahdr" -o "$T/abody" \
		-w '%{http_code}' "$@" "http://127.0.0.1:$APORT$p") || fail "curl $m $p"
	BODY=$(cat "$T/abody")
}
# expect CODE WHAT [JQ-FILTER VALUE]: the last answer's status (and a field).
expect() {
	[ "$CODE" = "$1" ] || fail "$2: expected HTTP $1, got $CODE: $BODY"
	[ $# -lt 3 ] || [ "$(jq -r "$3" <<<"$BODY")" = "$4" ] ||
		fail "$2: $3 is $(jq -c "$3" <<<"$BODY"), not $4"
	_TESTS_RUN=$((_TESTS_RUN + 1))
}
# hdr NAME: a header of the last answer.
# other_last STR: STR with its last character replaced by a different one.
# A token's last base64url character carries only 16 values, so a fixed
# replacement would be the same character one time in 16.
other_last() { if [[ ${1: -1} == A ]]; then printf '%sB' "${1%?}"; else printf '%sA' "${1%?}"; fi; }
hdr() { tr -d '\r' <"$T/ahdr" | awk -v h="$1:" 'tolower($1) == tolower(h) { sub(/^[^:]*: /, ""); print }'; }
