#!/usr/bin/env python3
"""Raw clients for cluster_proxy.sh: what a PROXY-protocol peer can send.

rawclient.py MODE SRC PORT [CERTDIR CAFILE]
  proxy-tls  from SRC: a PROXY v2 header claiming 10.9.9.9, then a TLS
             handshake with the device certificate and one GET.
             Exit 0 and print "served ..." if anything was served; 3 if the
             handshake or the request failed (printed).
  garbage    from SRC: a PROXY signature with version 3; then wait for the
             server to close.  Exit 3 when closed (no byte back), 1 if not.
  partial    from SRC: 10 bytes of the signature, then silence; the same.
"""
import socket
import ssl
import struct
import sys
import time

SIG = b"\r\n\r\n\0\r\nQUIT\n"
mode, src, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket()
s.bind((src, 0))
s.connect(("127.0.0.1", port))
if mode == "proxy-tls":
    certdir, cafile = sys.argv[4], sys.argv[5]
    s.sendall(SIG + b"\x21\x11\x00\x0c" + socket.inet_aton("10.9.9.9") +
              socket.inet_aton("127.0.0.1") + struct.pack(">HH", 4444, 443))
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    ctx.load_cert_chain(certdir + "/client.crt", certdir + "/client.key")
    try:
        t = ctx.wrap_socket(s, server_hostname="prov.test.example")
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
