#!/usr/bin/env python3
"""A deliberately misbehaving mutual-TLS HTTP server for device_transport.sh.

usage: device_tls_server.py PORT CERT KEY CLIENT_CA LOG

Paths:  /ok.xml    a whole profile
        /post.xml  POST only: a profile whose <Posted> holds the request body
        /half.xml  Content-Length promises 2000 bytes, 1000 are sent, then reset
        /short.xml Content-Length promises 2000 bytes, 1000 are sent, clean close
        /eof.xml   no Content-Length, half a profile, TCP close without close_notify
        /http10.xml HTTP/1.0, no Content-Length, the whole profile, close_notify
        /slow.xml  half a profile, then silence (the client gets killed)
        /huge.xml  a body beyond the device's profile size cap
Every request line is appended to LOG before anything is answered.
"""
import socket
import ssl
import struct
import sys
import threading
import time

port, cert, key, client_ca, log = sys.argv[1:6]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.load_verify_locations(client_ca)
ctx.verify_mode = ssl.CERT_REQUIRED

PROFILE = b"<flat-profile><Half_Param>" + b"x" * 1900 + b"</Half_Param></flat-profile>\n"


def reset(s):
    # SO_LINGER 0: close() sends a TCP RST, no close_notify.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def serve(raw):
    try:
        s = ctx.wrap_socket(raw, server_side=True)
    except (ssl.SSLError, OSError):
        raw.close()
        return
    req = b""
    while b"\r\n\r\n" not in req:
        chunk = s.recv(4096)
        if not chunk:
            s.close()
            return
        req += chunk
    line = req.split(b"\r\n", 1)[0].decode("latin-1")
    with open(log, "a") as f:
        f.write(line + "\n")
    path = line.split(" ")[1] if " " in line else "/"
    head, _, body = req.partition(b"\r\n\r\n")
    length = 0
    for h in head.split(b"\r\n")[1:]:
        k, _, v = h.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            break
        body += chunk
    if path == "/post.xml":
        if not line.startswith("POST "):
            s.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        else:
            echo = b"<flat-profile><Posted>" + body.replace(b"&", b"&amp;").replace(b"<", b"&lt;") + b"</Posted></flat-profile>\n"
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(echo) + echo)
        s.unwrap()
        s.close()
    elif path == "/ok.xml":
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(PROFILE) + PROFILE)
        s.unwrap()
        s.close()
    elif path == "/half.xml":
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(PROFILE) + PROFILE[:1000])
        time.sleep(0.1)
        reset(s)
    elif path == "/short.xml":
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(PROFILE) + PROFILE[:1000])
        s.unwrap()  # a clean TLS close, but 1000 bytes short
        s.close()
    elif path == "/eof.xml":
        s.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + PROFILE[:1000])
        time.sleep(0.1)
        s.shutdown(socket.SHUT_RDWR)  # TCP FIN, no close_notify
        s.close()
    elif path == "/http10.xml":
        s.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + PROFILE.replace(b"Half_Param", b"Http10_Param"))
        s.unwrap()  # close_notify: the end of the body
        s.close()
    elif path == "/slow.xml":
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(PROFILE) + PROFILE[:1000])
        time.sleep(30)
        s.close()
    elif path == "/huge.xml":
        n = 5 * 1024 * 1024
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n)
        try:
            chunk = b"<flat-profile>" + b" " * 65522
            for _ in range(n // len(chunk)):
                s.sendall(chunk)
        except OSError:
            pass
        s.close()
    else:
        s.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        s.unwrap()
        s.close()


srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(port)))
srv.listen(16)
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
