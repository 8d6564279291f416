"""Scrapes PID's /metrics on PORT N times (keep-alive unless `newconn`, plain unless
`gzip`) and prints the server's CPU per scrape (from /proc/PID/stat), its thread count
and the body size. Usage: scrape.py PID PORT N [newconn] [gzip]"""
import os, re, socket, sys, time
pid, port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
gzip = "gzip" in sys.argv
tck = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tck
def threads():
    return len(os.listdir("/proc/%d/task" % pid))
req = b"GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: Prometheus/2.42.0\r\nAccept: text/plain;version=0.0.4\r\n" + (b"Accept-Encoding: gzip\r\n" if gzip else b"") + b"\r\n"
newconn = "newconn" in sys.argv
s = socket.create_connection(("127.0.0.1", port))
size = 0
def one():
    global size, s
    if newconn:
        s.close()
        s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    data = b""
    while b"\r\n\r\n" not in data:
        c = s.recv(65536)
        if not c: raise SystemExit("closed")
        data += c
    head, body = data.split(b"\r\n\r\n", 1)
    m = re.search(rb"(?i)content-length: (\d+)", head)
    length = int(m.group(1))
    while len(body) < length:
        body += s.recv(65536)
    size = length
for _ in range(20): one()
t0, w0 = cpu(), time.monotonic()
for _ in range(n): one()
t1, w1 = cpu(), time.monotonic()
print("threads %d  body %d B  server CPU per scrape %.1f us  wall per scrape %.1f us" % (threads(), size, (t1-t0)/n*1e6, (w1-w0)/n*1e6))
