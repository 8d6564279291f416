"""A small network made of namespaces for tests of what crosses a real network
(multicast): one namespace per node, each with one veth whose other end sits on
a bridge in a namespace of its own, addresses 10.<net>.0.<n>/24 and a route
for multicast. Nodes run with `ip netns exec`; this process talks to them
through setns(2) (sockets made while entered stay in that namespace). Needs
root and iproute2; `Lab.make` skips the test with the reason otherwise.
Everything is deleted at teardown, nodes first."""

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import time

import pytest

import harness

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


@contextlib.contextmanager
def entered(name):
    """This thread in network namespace `name` (sockets made meanwhile stay in it)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns into " + name)
        try:
            yield
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(own)
        os.close(target)


def _run(argv, check=True):
    r = subprocess.run(argv, capture_output=True, timeout=10)
    if check and r.returncode != 0:
        raise OSError("%s: %s" % (" ".join(argv), r.stderr.decode().strip()))
    return r


class Host:
    """One namespace with one address on the bridge."""

    def __init__(self, lab, index):
        self.lab = lab
        self.index = index
        self.name = "%s-h%d" % (lab.prefix, index)
        self.addr = "%s.%d" % (lab.net, index)
        self.procs = []

    def ip(self, *args):
        return _run(["ip", "-n", self.name] + list(args))

    def nft(self, rules):
        """Loads nftables rules (text) in this namespace."""
        r = subprocess.run(["ip", "netns", "exec", self.name, "nft", "-f", "-"],
                           input=rules.encode(), capture_output=True, timeout=10)
        if r.returncode != 0:
            raise OSError("nft in %s: %s" % (self.name, r.stderr.decode().strip()))

    def entered(self):
        return entered(self.name)

    def client(self, port, timeout=harness.IO_TIMEOUT):
        with self.entered():
            return harness.Client(self.addr, port, timeout)

    def spawn(self, argv, log_path):
        with open(log_path, "wb") as out:
            p = subprocess.Popen(["ip", "netns", "exec", self.name] + list(argv),
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 preexec_fn=harness._die_with_parent)
        self.procs.append(p)
        return p


class Lab:
    def __init__(self, prefix, net, count):
        self.prefix = prefix
        self.net = net
        self.bridge_ns = prefix + "-br"
        self.hosts = [Host(self, i + 1) for i in range(count)]

    @classmethod
    @contextlib.contextmanager
    def make(cls, count, net="10.231.0"):
        if os.geteuid() != 0:
            pytest.skip("network namespaces need root (ip netns add)")
        if not shutil.which("ip"):
            pytest.skip("no ip command (Debian package iproute2)")
        prefix = "sc%d" % (os.getpid() % 100000)
        lab = cls(prefix, net, count)
        made = []
        try:
            for ns in [lab.bridge_ns] + [h.name for h in lab.hosts]:
                r = _run(["ip", "netns", "add", ns], check=False)
                if r.returncode != 0:
                    pytest.skip("ip netns add failed: %s" % r.stderr.decode().strip())
                made.append(ns)
            try:
                lab._wire()
            except OSError as e:
                pytest.skip("cannot build the namespaces' network: %s" % e)
            yield lab
        finally:
            for h in lab.hosts:
                for p in h.procs:
                    if p.poll() is None:
                        p.send_signal(signal.SIGKILL)
                        p.wait(5)
            for ns in made:
                _run(["ip", "netns", "del", ns], check=False)

    def _wire(self):
        br = ["ip", "-n", self.bridge_ns]
        _run(br + ["link", "set", "lo", "up"])
        _run(br + ["link", "add", "br0", "type", "bridge", "mcast_snooping", "0"])
        _run(br + ["link", "set", "br0", "up"])
        for h in self.hosts:
            inside, outside = "eth%d" % h.index, "p%d" % h.index
            _run(br + ["link", "add", outside, "type", "veth", "peer", "name", inside])
            _run(br + ["link", "set", inside, "netns", h.name])
            _run(br + ["link", "set", outside, "master", "br0"])
            _run(br + ["link", "set", outside, "up"])
            h.ip("link", "set", "lo", "up")
            h.ip("addr", "add", h.addr + "/24", "dev", inside)
            h.ip("link", "set", inside, "up")
            h.ip("route", "add", "224.0.0.0/4", "dev", inside)
            h.iface = inside

    def wait(self, predicate, timeout, what):
        if not harness.wait_for(predicate, timeout=timeout, interval=0.1):
            raise AssertionError("timed out waiting for " + what)


def time_left(deadline):
    return max(0.0, deadline - time.monotonic())
