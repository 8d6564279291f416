"""Certificates made with the openssl CLI at test time, and a TLS client, for the
tests that speak TLS to the server (test_tls.py, test_walkthrough.py)."""

import os
import shutil
import socket
import ssl
import subprocess

import harness

OPENSSL = shutil.which("openssl")


def openssl(*args, cwd):
    subprocess.run([OPENSSL] + list(args), cwd=cwd, check=True, capture_output=True, timeout=30)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", name + ".key", "-out", name + ".crt", "-days", "2",
             "-subj", "/CN=" + name, cwd=d)


def make_cert(d, name, ca, serial, server):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name, cwd=d)
    ext = name + ".ext"
    with open(os.path.join(d, ext), "w") as f:
        if server:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        else:
            f.write("extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
             "-set_serial", str(serial), "-days", "2", "-extfile", ext, "-out", name + ".crt",
             cwd=d)


def context(certs, client=None, **kw):
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.crt"))
    if client:
        ctx.load_cert_chain(os.path.join(certs, client + ".crt"), os.path.join(certs, client + ".key"))
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


class TlsClient(harness.Client):
    """harness.Client over TLS (same deadlines)."""

    def __init__(self, port, ctx, timeout=harness.IO_TIMEOUT):
        self.timeout = timeout
        raw = socket.create_connection((harness.HOST, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = ctx.wrap_socket(raw, server_hostname=harness.HOST)
        self.buf = b""

    def _fill(self, deadline, want):
        try:
            super()._fill(deadline, want)
        except ssl.SSLZeroReturnError:
            raise ConnectionError("TLS closed while waiting for %s" % want)

    def serial(self):
        return int(self.sock.getpeercert()["serialNumber"], 16)
