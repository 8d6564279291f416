#!/usr/bin/env python3
"""Peak RSS under abuse, syncached beside Debian's memcached (issue 21's "abuse
check"; docs/PERFORMANCE.md). Each server, `-m 64`, goes through the same steps in
order, and its RSS and peak RSS (VmHWM) are printed after each:

  idle; 500 idle connections; 100 connections sending 256 KB without a newline;
  50 sets declaring 1 GB followed by 512 KB; 200 MB of 100 KB values stored;
  50 connections pipelining 200 gets of a 500 KB value without reading;
  200 connections each sending a get of 4,000 missing 250-byte keys.

Loopback ports 29921-29922. Python 3 stdlib only.

  /usr/bin/python3 bench/abuse.py [--syncached PATH] [--memcached PATH]
"""
import argparse
import os
import socket
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_kb(pid):
    got = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmHWM:", "VmRSS:")):
                got[line.split(":")[0]] = int(line.split()[1])
    return got["VmRSS"], got["VmHWM"]


def connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    return s


def send_quietly(s, data):
    try:
        s.sendall(data)
    except OSError:  # the server closed it or its buffers are full: both are fine here
        pass


def steps(port):
    """Yields a label after each step; the sockets stay open until the end."""
    held = []
    yield "idle"
    held += [connect(port) for _ in range(500)]
    yield "500 idle connections"
    junk = [connect(port) for _ in range(100)]
    held += junk
    for s in junk:
        send_quietly(s, b"x" * (256 << 10))
    yield "100 x 256 KB without a newline"
    for s in junk[:50]:
        send_quietly(s, b"\r\nset k 0 0 1073741824\r\n" + b"y" * (512 << 10))
    yield "50 sets declaring 1 GB"
    c = connect(port)
    held.append(c)
    value = b"v" * (100 << 10)
    for i in range(2000):
        c.sendall(b"set big%d 0 0 %d noreply\r\n%s\r\n" % (i, len(value), value))
    c.sendall(b"version\r\n")
    c.recv(100)
    yield "200 MB of 100 KB values"
    huge = b"w" * (500 << 10)
    c.sendall(b"set huge 0 0 %d\r\n%s\r\n" % (len(huge), huge))
    c.recv(100)
    readers = [connect(port) for _ in range(50)]
    for s in readers:
        s.setblocking(False)
        send_quietly(s, b"get huge\r\n" * 200)
    yield "50 x 200 unread gets of 500 KB"
    for s in readers:
        s.close()
    line = b"get " + b" ".join(b"k" * 240 + b"%09d" % i for i in range(4000)) + b"\r\n"
    multi = [connect(port) for _ in range(200)]
    held += multi
    for s in multi:
        s.setblocking(False)
        send_quietly(s, line)
    yield "200 gets of 4,000 missing keys"
    for s in held:
        s.close()


def measure(binary, port):
    args = [binary, "-p", str(port), "-l", "127.0.0.1", "-m", "64", "-U", "0"]
    if os.geteuid() == 0:
        args += ["-u", "root"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = []
    try:
        deadline = time.time() + 10
        while True:
            try:
                connect(port).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        for label in steps(port):
            time.sleep(0.5)
            rows.append((label,) + rss_kb(proc.pid))
    finally:
        proc.kill()
        proc.wait()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--syncached", default=os.path.join(REPO, "build", "bin", "syncached"))
    ap.add_argument("--memcached", default="/usr/bin/memcached")
    a = ap.parse_args()
    ours, theirs = measure(a.syncached, 29921), measure(a.memcached, 29922)
    print("| step | syncached RSS / peak MiB | memcached RSS / peak MiB |")
    print("|---|---:|---:|")
    for (label, r1, p1), (_, r2, p2) in zip(ours, theirs):
        print("| %s | %.1f / %.1f | %.1f / %.1f |" % (label, r1 / 1024, p1 / 1024, r2 / 1024,
                                                      p2 / 1024))


if __name__ == "__main__":
    main()
