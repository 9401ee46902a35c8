# sprov db: every subcommand, and every refusal leaves the database as it was
# (compared with `sqlite3 DB .dump | sha256sum` before and after).
. "$SPROV_SRCDIR/tests/lib/testlib.sh"

command -v sqlite3 >/dev/null || fail "sqlite3 (the CLI) is needed"
unset SPROV_STORE
cd "$T"
DB="$T/p.db"
S="sqlite:$DB"

dbhash() { sqlite3 "$DB" .dump | sha256sum | cut -d' ' -f1; }
# refused RC TEXT CMD...: exit status RC, TEXT on stderr, database unchanged.
refused() {
	local rc=$1 text=$2 before; shift 2
	before=$(dbhash)
	expect_rc "$rc" "$@"
	expect_err_contains "$text"
	[ "$(dbhash)" = "$before" ] || fail "'$*' changed the database"
}
db() { "$SPROV" db "$@" --store "$S"; }
json_ok() { printf '%s' "$OUT" | python3 -m json.tool >/dev/null || fail "not JSON: $OUT"; }

note "help and usage"
expect_rc 0 "$SPROV" db --help
expect_out_contains "devices"
expect_out_contains "sqlite:sprov.db"
expect_rc 2 "$SPROV" db
expect_rc 2 "$SPROV" db nope
expect_err_contains "unknown command 'nope'"
for c in "init" "import" "devices add" "devices list" "devices show" "devices rm" \
    "devices enable" "devices disable" "devices import" "params set" \
    "params unset" "params list"; do
	# shellcheck disable=SC2086
	expect_rc 0 "$SPROV" db $c --help
	expect_out_contains "usage: sprov db $c"
done
expect_rc 0 "$SPROV" db devices help add
expect_out_contains "usage: sprov db devices add"
expect_rc 2 "$SPROV" db devices
expect_rc 2 "$SPROV" db params frob

note "no store yet: refused, nothing created"
expect_rc 1 "$SPROV" db devices list --store "$S"
expect_err_contains "does not exist: run 'sprov db init'"
[ ! -e "$DB" ] || fail "a refused command created the database"
expect_rc 1 "$SPROV" db devices list --store "postgresql://u:hunter2@127.0.0.1:1/sprov?connect_timeout=2"
expect_err_contains "sprov db devices list: postgresql store 'sprov' on 127.0.0.1: connecting: "
case "$ERR" in *hunter2*) fail "the URI password was echoed" ;; esac
expect_rc 2 "$SPROV" db init --store "mysql://db.example/sprov"
expect_err_contains "unknown store URI scheme"
expect_rc 2 "$SPROV" db init --store "p.db"
[ ! -e "$T/p.db" ] || fail "created p.db"

note "init"
expect_rc 0 "$SPROV" db init --store "$S"
expect_out_contains "store $S is ready"
[ "$(stat -c %a "$DB")" = 600 ] || fail "store mode is $(stat -c %a "$DB"), not 600"
[ "$(sqlite3 "$DB" 'PRAGMA user_version')" = 7 ] || fail "schema version"
[ "$(sqlite3 "$DB" 'PRAGMA journal_mode')" = wal ] || fail "not WAL"
h=$(dbhash)
expect_rc 0 "$SPROV" db init --store "$S"
[ "$(dbhash)" = "$h" ] || fail "a second init changed the database"
refused 2 "unexpected argument" "$SPROV" db init extra --store "$S"
# SPROV_STORE, then the default sqlite:sprov.db in the current directory.
SPROV_STORE="$S" expect_rc 0 "$SPROV" db devices list
expect_out_contains "no devices"
mkdir "$T/cwd"
(cd "$T/cwd" && "$SPROV" db init >/dev/null) || fail "init with the default store"
[ -f "$T/cwd/sprov.db" ] || fail "the default store is not ./sprov.db"
# "file:" is a file name here, never an SQLite URI (Debian builds USE_URI).
(cd "$T/cwd" && "$SPROV" db init --store 'sqlite:file:x.db?mode=memory' >/dev/null) ||
    fail "init sqlite:file:..."
[ -f "$T/cwd/file:x.db?mode=memory" ] || fail "file: was read as a URI"
# A foreign SQLite file is refused and left alone.
sqlite3 "$T/foreign.db" 'CREATE TABLE t(x); INSERT INTO t VALUES (1);'
fh=$(sqlite3 "$T/foreign.db" .dump | sha256sum)
expect_rc 1 "$SPROV" db init --store "sqlite:$T/foreign.db"
expect_err_contains "not an sprov store"
[ "$(sqlite3 "$T/foreign.db" .dump | sha256sum)" = "$fh" ] || fail "foreign db changed"

note "devices add"
expect_rc 0 db devices add 00:0E:08:AA:BB:CC --serial 88012BA01234 --product SPA-962 --group office
expect_out_contains "added device 000e08aabbcc"
expect_rc 0 db devices add 000E08000002 --product SPA-2102 --disabled
[ "$(sqlite3 "$DB" "SELECT mac, enabled FROM devices ORDER BY mac" | tr '\n' ' ')" = \
    "000e08000002|0 000e08aabbcc|1 " ] || fail "devices rows"
refused 1 "device 000e08aabbcc already exists" db devices add 000e08aabbcc
refused 1 "device 000e08aabbcc already exists" db devices add 00:0e:08:AA:bb:cc --serial X
refused 1 "is not a MAC address" db devices add 000e08aabbcz
refused 1 "is not a MAC address" db devices add 00-0e-08-aa-bb-cd
refused 2 "expected one MAC" db devices add
refused 2 "expected one MAC" db devices add 000e08000003 000e08000004
refused 2 "unknown option '--bogus'" db devices add 000e08000003 --bogus
refused 2 "needs a value" "$SPROV" db devices add 000e08000003 --store "$S" --serial
refused 1 "only printable ASCII" db devices add 000e08000003 --serial "$(printf 'SN\001')"
refused 1 "longer than 64" db devices add 000e08000003 --product "$(printf 'P%.0s' $(seq 65))"
refused 1 "leading or trailing space" db devices add 000e08000003 --group " g"

note "devices list"
expect_rc 0 db devices list
expect_out_contains "000e08aabbcc  88012BA01234"
expect_out_contains "disabled"
expect_rc 0 db devices list --json
json_ok
[ "$(printf '%s' "$OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d), d[0]["mac"], d[1]["group"], d[0]["enabled"])')" = \
    "2 000e08000002 office False" ] || fail "list --json content: $OUT"
refused 2 "unexpected argument" db devices list foo

note "params set / unset / list"
expect_rc 0 db params set --default Line_Enable_1_=Yes --access na
expect_out_contains "set Line_Enable_1_ for defaults"
expect_rc 0 db params set --default Proxy_1_=default.example.net
expect_rc 0 db params set --product SPA-962 Proxy_1_=sip.example.net
expect_rc 0 db params set --group office --field "Dial Plan[1]" "(xx.|<9>xx)"
expect_out_contains "set Dial_Plan_1_ for group office"
expect_rc 0 db params set --device 00:0e:08:aa:bb:cc "Password_1_=s3<cr>&t" --access na
case "$OUT$ERR" in *s3*) fail "params set echoed the value" ;; esac
expect_rc 0 db params set --device 000e08aabbcc Line_Enable_1_=No
printf 'from stdin secret\r\n' >"$T/pw"
expect_rc 0 db params set --device 000e08aabbcc Password_2_ --stdin <"$T/pw"
case "$OUT$ERR" in *secret*) fail "params set echoed the value" ;; esac
[ "$(sqlite3 "$DB" "SELECT value FROM device_params WHERE name='Password_2_'")" = "from stdin secret" ] || fail "--stdin value"
expect_rc 0 db params set --group office --field "Display Name(2)" --stdin <"$T/pw"
expect_out_contains "set Display_Name_2_ for group office"
refused 2 "--stdin takes one NAME (no =VALUE)" db params set --default A=1 --stdin <"$T/pw"
refused 2 "--stdin with --field takes no argument" db params set --default --field A x --stdin <"$T/pw"
refused 2 "exactly one of" db params set A=1
refused 2 "exactly one of" db params set --default --product P A=1
refused 2 "expected NAME=VALUE" db params set --default A
refused 2 "expected one NAME=VALUE" db params set --default
refused 2 "--access takes na, ro or rw" db params set --default A=1 --access xx
refused 1 "parameter name 'Dial Plan' is not" db params set --default "Dial Plan=1"
refused 1 "no device 000e08000009" db params set --device 000e08000009 A=1
refused 1 "is not a MAC address" db params set --device nope A=1
refused 2 "the product level needs a name" db params set --product "" A=1
refused 1 "leading or trailing whitespace" db params set --default "A= hunter2"
case "$ERR" in *hunter2*) fail "a refused value was echoed" ;; esac
refused 1 "control byte" db params set --default "$(printf 'A=hunter2\nX')"
case "$ERR" in *hunter2*) fail "a refused value was echoed" ;; esac
refused 1 "not valid UTF-8" db params set --default "$(printf 'A=\303\050')"
expect_rc 0 db params list --device 000e08aabbcc
expect_out_contains "Password_1_"
expect_out_contains "s3<cr>&t"
expect_rc 0 db params list --default --json
json_ok
expect_out_contains '"name": "Line_Enable_1_", "value": "Yes", "access": "na"'
refused 2 "exactly one of" db params list
expect_rc 0 db params set --default Tmp=1
expect_rc 0 db params unset --default Tmp
expect_out_contains "unset Tmp for defaults"
refused 1 "Tmp is not set in the defaults" db params unset --default Tmp
refused 1 "is not set for product 'SPA-962'" db params unset --product SPA-962 --field "Dial Plan[1]"
refused 2 "expected one NAME" db params unset --default

note "devices show: record, effective profile, last contact"
expect_rc 0 db devices show 000E08AABBCC
expect_out_contains "serial       88012BA01234"
expect_out_contains "last contact never"
expect_out_contains '<Password_1_ ua="na">s3&lt;cr&gt;&amp;t</Password_1_>'
expect_out_contains '<Proxy_1_>sip.example.net</Proxy_1_>'     # product over defaults
expect_out_contains '<Dial_Plan_1_>(xx.|&lt;9&gt;xx)</Dial_Plan_1_>'
expect_out_contains '<Line_Enable_1_ ua="na">No</Line_Enable_1_>' # device value, inherited access
expect_rc 0 db devices show 000e08000002
expect_out_contains '<Proxy_1_>default.example.net</Proxy_1_>'
case "$OUT" in *Password_1_*|*Dial_Plan*) fail "another device's params leaked" ;; esac
# A contact as the server's batch writes it, with a hostile User-Agent byte.
sqlite3 "$DB" "INSERT INTO contacts (mac, time, ip, ua, ua_vendor, ua_product, ua_swver, ua_mac, ua_serial, etag, status)
    VALUES ('000e08aabbcc', 1700000000, '192.0.2.7', 'Cisco/SPA-962-6.1.5 (88012BA01234)', 'Cisco', 'SPA-962', '6.1.5', NULL, '88012BA01234', '\"e1\"', 200),
           ('000e08000002', 1700000001, '192.0.2.8', 'evil' || char(27) || '[31m', NULL, NULL, NULL, NULL, NULL, '', 404)"
expect_rc 0 db devices show 000e08aabbcc
expect_out_contains "last contact 2023-11-14T22:13:20Z from 192.0.2.7, status 200, etag \"e1\""
expect_out_contains "vendor Cisco, product SPA-962, version 6.1.5, serial 88012BA01234"
expect_rc 0 db devices show 000e08000002
expect_out_contains 'evil\x1b[31m'
case "$OUT" in *$'\033'*) fail "a raw escape byte reached the terminal" ;; esac
expect_rc 0 db devices show 000e08000002 --json
json_ok
expect_rc 0 db devices show 000e08aabbcc --json
json_ok
[ "$(printf '%s' "$OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["last_contact"]["ua_swver"], d["last_contact"]["status"], "Password_1_" in d["profile"])')" = \
    "6.1.5 200 True" ] || fail "show --json content"
expect_rc 0 db devices list
expect_out_contains "2023-11-14T22:13:20Z"
refused 1 "no device 000e08000009" db devices show 000e08000009
refused 2 "expected one MAC" db devices show

note "devices enable / disable, pending devices"
expect_rc 0 db devices disable 000e08aabbcc
expect_out_contains "disabled device 000e08aabbcc"
[ "$(sqlite3 "$DB" "SELECT enabled FROM devices WHERE mac='000e08aabbcc'")" = 0 ] || fail "not disabled"
expect_rc 0 db devices show 000e08aabbcc
expect_out_contains "served       not this profile: a disabled device gets 404"
expect_rc 0 db devices enable 00:0e:08:aa:bb:cc
[ "$(sqlite3 "$DB" "SELECT enabled FROM devices WHERE mac='000e08aabbcc'")" = 1 ] || fail "not enabled"
refused 1 "no device 000e08000009" db devices enable 000e08000009
refused 1 "no device 000e08000009" db devices disable 000e08000009
# A device the server saw and recorded as pending: listed, marked, adoptable.
sqlite3 "$DB" "INSERT INTO devices (mac, serial, product, grp, enabled, pending, created)
    VALUES ('000e08cccccc', 'SNP', 'SPA-962', '', 0, 1, 1700000000),
           ('000e08dddddd', '', '', '', 0, 1, 1700000000)"
expect_rc 0 db devices list
expect_out_contains "000e08cccccc  SNP               SPA-962           -                 pending"
expect_rc 0 db devices list --json
expect_out_contains '"pending": true, "state": "pending"'
expect_rc 0 db devices add 000e08cccccc --serial SNP --product SPA-962 --group office
expect_out_contains "adopted pending device 000e08cccccc"
[ "$(sqlite3 "$DB" "SELECT pending, enabled, grp FROM devices WHERE mac='000e08cccccc'")" = "0|1|office" ] || fail "not adopted"
expect_rc 0 db devices enable 000e08dddddd
[ "$(sqlite3 "$DB" "SELECT pending, enabled FROM devices WHERE mac='000e08dddddd'")" = "0|1" ] || fail "enable did not adopt"

note "devices import CSV"
printf 'mac,serial,product,group\r\n000e08100001,SN1,SPA-962,office\r\n# a comment\r\n\r\n00:0E:08:10:00:02, SN2 ,"SPA-2102",\r\n"000e08100003","S""N3",PAP2T\r\n' >good.csv
expect_rc 0 db devices import good.csv
expect_out_contains "imported 3 devices from good.csv"
[ "$(sqlite3 "$DB" "SELECT serial || '/' || product || '/' || grp FROM devices WHERE mac LIKE '000e0810000%' ORDER BY mac" | tr '\n' ' ')" = \
    'SN1/SPA-962/office SN2/SPA-2102/ S"N3/PAP2T/ ' ] || fail "csv rows"
printf '000e08200001,A,P\n000e08200002,B,P\nnot-a-mac,C,P\n' >badmac.csv
refused 1 "badmac.csv:3: 'not-a-mac' is not a MAC address" db devices import badmac.csv
printf '000e08200001,A,P\n000e08200001,B,P\n' >dup.csv
refused 1 "dup.csv:2: device 000e08200001 already exists" db devices import dup.csv
printf '000e08200001,A,P\n000e08100001,B,P\n' >exists.csv
refused 1 "exists.csv:2: device 000e08100001 already exists" db devices import exists.csv
printf '000e08200001,A\n' >short.csv
refused 1 "short.csv:1: expected mac,serial,product[,group], got 2 fields" db devices import short.csv
printf '000e08200001,A,P,G,X\n' >long.csv
refused 1 "long.csv:1: expected mac,serial,product[,group], got 5 fields" db devices import long.csv
printf '000e08200001,"A,P\n' >quote.csv
refused 1 "quote.csv:1: unterminated quoted field" db devices import quote.csv
printf 'mac,serial,product\n' >empty.csv
refused 1 "no devices in the file" db devices import empty.csv
refused 1 "missing.csv" db devices import missing.csv
refused 2 "expected one CSV file" db devices import

note "db import DIR (nginx/Apache profile tree)"
mkdir tree
cat >tree/_defaults.xml <<'EOF'
<flat-profile>
  <Resync_Periodic>3600</Resync_Periodic>
  <Proxy_1_>tree-default.example.net</Proxy_1_>
</flat-profile>
EOF
cat >tree/000e08aabbcc.xml <<'EOF'
<?xml version="1.0"?>
<flat-profile>
  <Password_1_ ua="na">imported-secret</Password_1_>
  <Display_Name_1_>Alice &amp; Bob</Display_Name_1_>
</flat-profile>
EOF
cat >tree/SPA000E08300001.XML <<'EOF'
<device><flat-profile><User_ID_1_>1001</User_ID_1_><Password_1_>pw1001</Password_1_></flat-profile></device>
EOF
echo "not a profile" >tree/README.txt
expect_rc 0 db import tree
expect_out_contains "imported 2 device files (1 new device, 4 parameters) and _defaults.xml (2 parameters) from tree; skipped 1 other file"
expect_err_contains "skipping 'README.txt'"
expect_rc 0 db devices show 000e08300001
expect_out_contains "<Password_1_>pw1001</Password_1_>"
expect_out_contains "<Resync_Periodic>3600</Resync_Periodic>"
expect_out_contains "<Proxy_1_>tree-default.example.net</Proxy_1_>"
expect_rc 0 db devices show 000e08aabbcc
expect_out_contains '<Password_1_ ua="na">imported-secret</Password_1_>'
expect_out_contains "<Display_Name_1_>Alice &amp; Bob</Display_Name_1_>"
expect_out_contains "<Proxy_1_>sip.example.net</Proxy_1_>"   # product still wins
# A malformed file aborts everything, with its name.
mkdir badtree
cp tree/_defaults.xml badtree/
printf '<flat-profile><A>1</A></flat-profile>\n' >badtree/000e08400001.xml
printf '<flat-profile><B>1</C></flat-profile>\n' >badtree/000e08400002.xml
refused 1 "000e08400002.xml" db import badtree
[ -z "$(sqlite3 "$DB" "SELECT mac FROM devices WHERE mac = '000e08400001'")" ] || fail "partial import"
# A value the renderer could not serve aborts too.
mkdir badval
printf '<flat-profile><A>1</A></flat-profile>\n' >badval/000e08400001.xml
printf '<flat-profile><B>&#1;</B></flat-profile>\n' >badval/000e08400003.xml
refused 1 "000e08400003.xml" db import badval
# Two files for one device.
mkdir duptree
printf '<flat-profile><A>1</A></flat-profile>\n' >duptree/000e08400001.xml
printf '<flat-profile><A>2</A></flat-profile>\n' >duptree/spa000E08400001.xml
refused 1 "are both for device 000e08400001" db import duptree
mkdir emptytree
touch emptytree/notes.txt
refused 1 "no profile files" db import emptytree
refused 1 "nosuchdir" db import nosuchdir
refused 2 "expected one directory" db import

note "devices rm"
expect_rc 0 db devices rm 00:0E:08:AA:BB:CC
expect_out_contains "removed device 000e08aabbcc"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM device_params WHERE mac='000e08aabbcc'")" = 0 ] || fail "device params left behind"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM contacts WHERE mac='000e08aabbcc'")" = 0 ] || fail "contact left behind"
refused 1 "no device 000e08aabbcc" db devices rm 000e08aabbcc
refused 1 "is not a MAC address" db devices rm xyz
refused 2 "expected one MAC" db devices rm

note "generation moves with every change"
g1=$(sqlite3 "$DB" "SELECT v FROM meta WHERE k='generation'")
expect_rc 0 db params set --default Gen_Test=1
g2=$(sqlite3 "$DB" "SELECT v FROM meta WHERE k='generation'")
[ "$g2" -gt "$g1" ] || fail "generation did not move ($g1 -> $g2)"
expect_rc 0 db devices list
[ "$(sqlite3 "$DB" "SELECT v FROM meta WHERE k='generation'")" = "$g2" ] || fail "a read moved the generation"

finish
