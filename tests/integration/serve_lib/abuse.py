"""Abuse load for serve_abuse.sh: slow, dropped and garbage connections,
while a good device is timed every 0.25 s.  Prints one JSON summary."""
import json, os, selectors, socket, ssl, sys, threading, time

port = int(sys.argv[1])
ca, crt, key = sys.argv[2:5]
n_tls, n_raw, n_drop, n_garbage = (int(x) for x in sys.argv[5:9])
duration = float(sys.argv[9])

def ctx():
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.load_verify_locations(ca)
    c.load_cert_chain(crt, key)
    return c

good = {"n": 0, "fail": 0, "max": 0.0, "errors": []}
stop = threading.Event()

def good_device():
    c = ctx()
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                with c.wrap_socket(s, server_hostname="prov.test.example") as t:
                    t.sendall(b"GET /spa2102.cfg HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    data = b""
                    while True:
                        d = t.recv(65536)
                        if not d:
                            break
                        data += d
            ok = data.startswith(b"HTTP/1.1 200")
        except Exception as e:  # noqa: BLE001
            ok = False
            good["errors"].append(str(e))
        dt = time.monotonic() - t0
        good["n"] += 1
        good["max"] = max(good["max"], dt)
        if not ok:
            good["fail"] += 1
        time.sleep(0.25)

sel = selectors.DefaultSelector()
opened = {}   # fd -> (sock, kind, t_open)
closed = {"raw": [], "tls": [], "drop": 0, "garbage": []}
start = time.monotonic()

c = ctx()
# A real ClientHello, to be dribbled a byte at a time.
_in, _out = ssl.MemoryBIO(), ssl.MemoryBIO()
_obj = c.wrap_bio(_in, _out, server_hostname="prov.test.example")
try:
    _obj.do_handshake()
except ssl.SSLWantReadError:
    pass
hello = _out.read()
dribble_pos = {}
# The good device starts with the abuse: it is timed while the 700
# connections are being opened as well as while they dribble.
g = threading.Thread(target=good_device)
g.start()
for i in range(n_tls):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    t = c.wrap_socket(s, server_hostname="prov.test.example")
    t.sendall(b"GET /spa2102.cfg HTTP/1.1\r\n")
    t.setblocking(False)
    opened[t.fileno()] = (t, "tls", time.monotonic())
for i in range(n_raw):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setblocking(False)
    opened[s.fileno()] = (s, "raw", time.monotonic())
for i in range(n_drop):
    # Half a ClientHello, then gone.
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(20))
    s.close()
    closed["drop"] += 1
for i in range(n_garbage):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /profiles/000e08aaaa01.xml HTTP/1.1\r\nHost: x\r\n\r\n")
    s.setblocking(False)
    opened[s.fileno()] = (s, "garbage", time.monotonic())
for fd, (s, kind, t) in opened.items():
    sel.register(s, selectors.EVENT_READ, fd)

garbage_plain_http = 0
while time.monotonic() - start < duration and opened:
    for key_, _ in sel.select(timeout=0.2):
        fd = key_.data
        s, kind, t = opened[fd]
        try:
            d = s.recv(4096)
        except (ssl.SSLWantReadError, BlockingIOError):
            continue
        except (ssl.SSLError, OSError):
            d = b""
        if kind == "garbage" and d.startswith(b"HTTP/"):
            garbage_plain_http += 1
        if d and kind != "garbage":
            continue  # tls: a response would be a bug; raw: an alert
        sel.unregister(s)
        s.close()
        del opened[fd]
        closed[kind].append(round(time.monotonic() - t, 3))
    # Dribble: one byte per connection per round.
    for fd, (s, kind, t) in list(opened.items()):
        try:
            if kind == "tls":
                s.send(b"X")
            elif kind == "raw":
                p = dribble_pos.get(fd, 0)
                if p < len(hello):
                    s.send(hello[p:p + 1])
                    dribble_pos[fd] = p + 1
        except (ssl.SSLWantWriteError, BlockingIOError, ssl.SSLWantReadError):
            pass
        except (ssl.SSLError, OSError):
            pass
stop.set()
g.join()
print(json.dumps({
    "good_n": good["n"], "good_fail": good["fail"], "good_max": round(good["max"], 3),
    "good_errors": good["errors"][:3],
    "tls_closed": len(closed["tls"]), "tls_max": max(closed["tls"] or [0]),
    "raw_closed": len(closed["raw"]), "raw_max": max(closed["raw"] or [0]),
    "garbage_closed": len(closed["garbage"]), "garbage_max": max(closed["garbage"] or [0]),
    "garbage_plain_http": garbage_plain_http, "still_open": len(opened),
}))
