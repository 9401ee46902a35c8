#!/usr/bin/env python3
"""Check the issuance invariants after bulk runs (used by ca_crash.sh and
ca_concurrent.sh):

  ca_invariants.py CA_DB MACLIST OUTDIR...

- every MAC of MACLIST (one per line, 12 hex) has exactly one bundle in the
  OUTDIRs, complete (client.crt, client.key 0600, server-ca.crt, and
  firmware-ca.crt when the CA has one), the CA certificates the CA's own;
- no half-written file under a final name, no .tmp-* leftovers;
- every bundle's certificate serial is in the database, valid, for that MAC,
  delivered, recorded with that OUTDIR; serials are all distinct;
- the database holds no valid device certificate of these MACs without its
  bundle;
- revoked device rows are crash leftovers: superseded, never delivered, and
  their serial is in no bundle.
"""
import base64, os, sqlite3, sys


def der_serial(pem):
    body = "".join(l for l in pem.splitlines() if l and not l.startswith("-----"))
    d = base64.b64decode(body, validate=True)

    def hdr(i):
        tag, ln = d[i], d[i + 1]
        i += 2
        if ln & 0x80:
            n = ln & 0x7F
            ln = int.from_bytes(d[i:i + n], "big")
            i += n
        return tag, ln, i

    tag, ln, i = hdr(0)            # Certificate
    assert tag == 0x30 and i + ln == len(d), "certificate DER length"
    tag, ln, i = hdr(i)            # TBSCertificate
    assert tag == 0x30
    tag, ln, j = hdr(i)
    if tag == 0xA0:                # [0] version
        i = j + ln
        tag, ln, j = hdr(i)
    assert tag == 0x02, "serial"
    s = d[j:j + ln].lstrip(b"\0")
    return s.hex()


def main():
    db, maclist, outdirs = sys.argv[1], sys.argv[2], sys.argv[3:]
    errors = []
    macs = [l.strip() for l in open(maclist) if l.strip()]
    con = sqlite3.connect(db)
    macset = set(macs)
    cadir = os.path.dirname(os.path.abspath(db))
    ca_files = {f: open(os.path.join(cadir, f), "rb").read()
                for f in ("server-ca.crt", "firmware-ca.crt")
                if os.path.exists(os.path.join(cadir, f))}
    want_files = sorted(["client.crt", "client.key"] + list(ca_files))
    # Only this batch's rows: other batches may share the database.
    rows = {r[0]: r for r in con.execute(
        "select serial, mac, status, delivered, outdir, reason from certs where ca='device'")
        if r[1] in macset}
    bundles = {}   # serial -> (outdir, mac)
    per_mac = {}
    for od in outdirs:
        real = os.path.realpath(od)
        for name in os.listdir(od):
            p = os.path.join(od, name)
            if name.startswith(".tmp-"):
                errors.append("leftover temporary directory %s" % p)
                continue
            if name.startswith("."):
                continue
            files = sorted(os.listdir(p))
            if files != want_files:
                errors.append("incomplete bundle %s: %s" % (p, files))
                continue
            for f in files:
                if f.endswith("-ca.crt") and \
                        open(os.path.join(p, f), "rb").read() != ca_files[f]:
                    errors.append("%s/%s differs from the CA's" % (p, f))
            if os.stat(os.path.join(p, "client.key")).st_mode & 0o777 != 0o600:
                errors.append("%s/client.key is not 0600" % p)
            key = open(os.path.join(p, "client.key")).read()
            if not key.startswith("-----BEGIN PRIVATE KEY-----") or \
                    not key.endswith("-----END PRIVATE KEY-----\n"):
                errors.append("%s/client.key is not a whole PEM key" % p)
            try:
                s = der_serial(open(os.path.join(p, "client.crt")).read())
            except Exception as e:
                errors.append("%s/client.crt does not parse: %s" % (p, e))
                continue
            if s in bundles:
                errors.append("serial %s in two bundles: %s and %s" % (s, bundles[s], p))
            bundles[s] = (real, name)
            per_mac.setdefault(name, []).append(p)
            r = rows.get(s)
            if r is None:
                errors.append("bundle %s (serial %s) is not in the database" % (p, s))
            elif r[1] != name or r[2] != "valid" or r[3] != 1 or r[4] != real:
                errors.append("bundle %s does not match its row %s" % (p, r))
    for m in macs:
        n = len(per_mac.get(m, []))
        if n != 1:
            errors.append("MAC %s has %d bundles" % (m, n))
    for s, r in rows.items():
        if r[2] == "valid" and s not in bundles:
            errors.append("valid certificate %s (MAC %s) has no bundle" % (s, r[1]))
        if r[2] == "revoked" and (s in bundles or r[3] != 0 or r[5] != 4):
            errors.append("revoked row %s is not a crash leftover: %s" % (s, r))
    valid = sum(1 for r in rows.values() if r[2] == "valid")
    revoked = sum(1 for r in rows.values() if r[2] == "revoked")
    for e in errors[:20]:
        print("INVARIANT:", e, file=sys.stderr)
    print("checked %d bundles, %d valid rows, %d revoked leftovers, %d errors" %
          (len(bundles), valid, revoked, len(errors)))
    return 1 if errors else 0


sys.exit(main())
