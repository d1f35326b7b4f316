#!/usr/bin/env python3
"""Record what real LDAP clients send, as seeds for the ldap_frames and ldap_requests targets.

  record.py LISTEN_PORT SERVER_PORT OUT_DIR

A TCP proxy on 127.0.0.1:LISTEN_PORT in front of the server's plain LDAP port: every client
connection's bytes (client to server only) are written to OUT_DIR/<n>.ldap when it closes. Run
clients against LISTEN_PORT (fuzz/seeds/record.sh does), then stop it with Ctrl-C.
"""
import os, socket, sys, threading

listen_port, server_port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
os.makedirs(out, exist_ok=True)
count = [0]
lock = threading.Lock()


def pump(src, dst, record):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if record is not None:
                record.append(data)
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def handle(client):
    server = socket.create_connection(("127.0.0.1", server_port))
    sent = []
    t = threading.Thread(target=pump, args=(server, client, None), daemon=True)
    t.start()
    pump(client, server, sent)
    t.join(5)
    if sent:
        with lock:
            count[0] += 1
            n = count[0]
        with open(os.path.join(out, f"{n:03}.ldap"), "wb") as f:
            f.write(b"".join(sent))
    client.close()
    server.close()


s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", listen_port))
s.listen(64)
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
