#!/usr/bin/env python3
"""Hostile-client figures for one running server (bench/hostile.sh starts it).

  hostile.py --pid PID --port PORT --bind-dn DN --password PW --base BASE --uid UID

1. Server CPU per unauthenticated request, for requests built to be expensive: a search with
   110,000 attribute names (1.3 MB), a message header declaring 50 MB, a filter nested 10,000
   deep, 20,000 pipelined rootDSE searches that are never read. CPU is read from
   /proc/PID/stat (user + system) around N requests, each on a new connection.
2. With four clients sending attribute-list bombs back to back, the latency of a service
   account's (uid=UID) search: p50, p99 and max over DURATION seconds.
Prints one JSON object.
"""
import argparse, json, os, socket, threading, time

import ldap

TICK = os.sysconf("SC_CLK_TCK")


def ber_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, body):
    return bytes([tag]) + ber_len(len(body)) + body


def integer(n):
    return tlv(0x02, n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True))


def octets(s):
    return tlv(0x04, s if isinstance(s, bytes) else s.encode())


def search(msgid, base, attrs, filt=None):
    filt = filt if filt is not None else tlv(0x87, b"objectClass")
    body = (octets(base) + tlv(0x0A, b"\x00") + tlv(0x0A, b"\x00") + integer(0) + integer(0)
            + tlv(0x01, b"\x00") + filt + tlv(0x30, b"".join(octets(a) for a in attrs)))
    return tlv(0x30, integer(msgid) + tlv(0x63, body))


def deep_filter(depth):
    # (!(!(!...(objectClass=*)...))) built inside out without recursion.
    f = tlv(0x87, b"objectClass")
    for _ in range(depth):
        f = tlv(0xA2, f)
    return f


def cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / TICK


def send_and_drain(port, payload, read=True):
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(payload)
    except OSError:
        pass
    if read:
        s.settimeout(10)
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass
    s.close()


def cost(pid, port, payload, n, read=True):
    before = cpu(pid)
    t = time.time()
    for _ in range(n):
        send_and_drain(port, payload, read)
    return {"requests": n, "cpu_ms_per_request": round((cpu(pid) - before) * 1000 / n, 3),
            "wall_s": round(time.time() - t, 2)}


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--pid", type=int, required=True)
    a.add_argument("--port", type=int, required=True)
    a.add_argument("--bind-dn", required=True)
    a.add_argument("--password", required=True)
    a.add_argument("--base", required=True)
    a.add_argument("--uid", required=True)
    a.add_argument("--n", type=int, default=300)
    a.add_argument("--duration", type=float, default=10)
    args = a.parse_args()
    port = args.port

    bomb = search(1, "", [f"attr{i:06}" for i in range(110_000)])
    header = tlv(0x30, b"")[:1] + bytes([0x84]) + (50_000_000).to_bytes(4, "big")
    deep = search(1, "", ["1.1"], deep_filter(10_000))
    pipeline = b"".join(search(i + 1, "", ["namingContexts"]) for i in range(20_000))
    out = {"cpu_per_unauthenticated_request": {
        "attribute_list_110k_1.3MB": cost(args.pid, port, bomb, args.n),
        "header_declaring_50MB": cost(args.pid, port, header, args.n),
        "filter_nested_10000_deep": cost(args.pid, port, deep, args.n),
        "20000_pipelined_unread": cost(args.pid, port, pipeline, 20, read=False),
    }}

    stop = threading.Event()
    sent = [0]

    def hostile():
        while not stop.is_set():
            send_and_drain(port, bomb)
            sent[0] += 1

    threads = [threading.Thread(target=hostile, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    c = ldap.initialize(f"ldap://127.0.0.1:{port}")
    c.simple_bind_s(args.bind_dn, args.password)
    lat = []
    end = time.time() + args.duration
    while time.time() < end:
        t = time.perf_counter()
        r = c.search_s(args.base, ldap.SCOPE_SUBTREE, f"(uid={args.uid})", ["uid"])
        lat.append((time.perf_counter() - t) * 1000)
        assert len(r) == 1, r
    stop.set()
    for t in threads:
        t.join()
    lat.sort()
    out["service_search_with_4_hostile_clients"] = {
        "searches": len(lat), "bombs_sent": sent[0],
        "p50_ms": round(lat[len(lat) // 2], 3), "p99_ms": round(lat[int(len(lat) * 0.99)], 3),
        "max_ms": round(lat[-1], 3)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
