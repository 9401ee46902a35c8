#!/usr/bin/env python3
"""Raw clients for cluster_proxy.sh: what a PROXY-protocol peer can send.

rawclient.py MODE SRC PORT [CERTDIR CAFILE | CLAIM OTHER]
  proxy-tls  from SRC: a PROXY v2 header claiming 10.9.9.9, then a TLS
             handshake with the device certificate and one GET.
             Exit 0 and print "served ..." if anything was served; 3 if the
             handshake or the request failed (printed).
  proxy-cap  CLAIM OTHER, from SRC: three PROXY v2 headers, each followed
             by nothing (a TLS handshake that never starts): one claiming
             CLAIM, 0.3 s later a second claiming CLAIM (the first is in
             the handshake by then), then one claiming OTHER.  Exit 0 if
             the second is closed within 2 s while the first and the third
             stay open (handshakes-per-source = 1 counts the claimed
             address); else 1, saying which.
  garbage    from SRC: a PROXY signature with version 3; then wait for the
             server to close.  Exit 3 when closed (no byte back), 1 if not.
  partial    from SRC: 10 bytes of the signature, then silence; the same.
"""
import select
import os
import socket
import ssl
import struct
import sys
import time

SIG = b"\r\n\r\n\0\r\nQUIT\n"
mode, src, port = sys.argv[1], sys.argv[2], int(sys.argv[3])


def connect():
    c = socket.socket()
    c.bind((src, 0))
    c.connect(("127.0.0.1", port))
    return c


def header(claim):
    return (SIG + b"\x21\x11\x00\x0c" + socket.inet_aton(claim) +
            socket.inet_aton("127.0.0.1") + struct.pack(">HH", 4444, 443))


def closed_within(c, secs):
    """True if the server closed c (EOF or reset) within secs."""
    r, _, _ = select.select([c], [], [], secs)
    if not r:
        return False
    try:
        return c.recv(1) == b""
    except ConnectionResetError:
        return True


if mode == "proxy-cap":
    first = connect()
    first.sendall(header(sys.argv[4]))
    time.sleep(0.3)
    second = connect()
    second.sendall(header(sys.argv[4]))
    c2 = closed_within(second, 2)
    third = connect()
    third.sendall(header(sys.argv[5]))
    c3 = closed_within(third, 0.5)
    c1 = closed_within(first, 0)
    print("first closed %s, second closed %s, third closed %s" % (c1, c2, c3))
    sys.exit(0 if c2 and not c1 and not c3 else 1)
s = connect()
if mode == "proxy-tls":
    certdir, cafile = sys.argv[4], sys.argv[5]
    s.sendall(header("10.9.9.9"))
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    ctx.load_cert_chain(certdir + "/client.crt", certdir + "/client.key")
    try:
        t = ctx.wrap_socket(s, server_hostname="prov.test.example")
        if os.environ.get("RAW_HTTP10"):
            # HTTP/1.0: the answer, then the node closes (read to EOF).
            t.sendall(b"GET /profiles/000e08aaaa01.xml HTTP/1.0\r\n\r\n")
            t.settimeout(5)
            data = b""
            try:
                while True:
                    d = t.recv(4096)
                    if not d:
                        break
                    data += d
            except socket.timeout:
                print("not closed 5 s after an HTTP/1.0 answer:", data[:40])
                sys.exit(1)
        else:
            t.sendall(b"GET /profiles/000e08aaaa01.xml HTTP/1.1\r\nHost: x\r\n\r\n")
            data = t.recv(200)
    except (ssl.SSLError, OSError) as e:
        print("refused:", e)
        sys.exit(3)
    if not data:
        print("refused: closed after the handshake")
        sys.exit(3)
    print("served", data[:40])
    sys.exit(0)
s.sendall(SIG + b"\x31\x11\x00\x0c" if mode == "garbage" else SIG[:10])
s.settimeout(10)
t0 = time.monotonic()
try:
    data = s.recv(100)
except ConnectionResetError:
    data = b""
except socket.timeout:
    print("still open after 10 s")
    sys.exit(1)
if data:
    print("got bytes back:", data)
    sys.exit(1)
print("closed after %.2f s" % (time.monotonic() - t0))
sys.exit(3)
