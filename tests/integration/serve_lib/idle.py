# idle.py PORT N READYFILE: hold N TCP connections from 127.0.0.2 to
# 127.0.0.1:PORT that never send a byte (no ClientHello); write N to
# READYFILE once all are open, then hold them for 60 s.
import socket, sys, time
port, n, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
held = [socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0))
        for _ in range(n)]
open(ready, "w").write("%d\n" % len(held))
time.sleep(60)
