"""Process plumbing for bench/run.py: servers, the loadgen, /proc readers and
syscall counting. Python 3 standard library only; Linux only."""

import glob
import json
import os
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A failure that must fail the whole run (server did not start, loadgen errors...)."""


# --tls: the servers run with -Z and every connection here and from the loadgen is TLS
# (the self-signed certificate is not verified: a benchmark, not a security test).
_tls_context = None


def enable_tls(workdir):
    """Makes a self-signed EC certificate in workdir; returns the server flags for it."""
    global _tls_context
    crt, key = os.path.join(workdir, "bench.crt"), os.path.join(workdir, "bench.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "2", "-subj", "/CN=bench"], check=True, capture_output=True,
                   timeout=30)
    _tls_context = ssl.create_default_context()
    _tls_context.check_hostname = False
    _tls_context.verify_mode = ssl.CERT_NONE
    return ["-Z", "-o", f"ssl_chain_cert={crt},ssl_key={key}"]


def tls_enabled():
    return _tls_context is not None


def connect(port, timeout):
    """A connection to a bench server on 127.0.0.1 (TLS with --tls)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return _tls_context.wrap_socket(s) if _tls_context else s


def free_port():
    """A currently free TCP port on 127.0.0.1 (the server binds it shortly after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_seconds(pid):
    """utime + stime of the whole process (all threads, live and exited)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds():
    """CPU seconds all cpus spent busy (user nice system irq softirq steal) since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / CLK_TCK


def proc_ctx_switches(pid):
    """voluntary + nonvoluntary context switches summed over every thread."""
    total = 0
    for status in glob.glob(f"/proc/{pid}/task/*/status"):
        try:
            with open(status) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except FileNotFoundError:  # thread exited meanwhile
            pass
    return total


def proc_rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise BenchError(f"no VmRSS for pid {pid}")


class Server:
    """One memcached-compatible server process on a fresh loopback port,
    pinned with taskset (taskset execs, so the pid is the server's)."""

    def __init__(self, name, binary, threads, memory, cpus, extra_args=()):
        self.name, self.binary, self.cpus = name, binary, cpus
        self.args = ["-t", str(threads), "-m", str(memory)] + list(extra_args)
        self.proc = None
        self.port = None
        self.log = None

    @property
    def pid(self):
        return self.proc.pid

    def start(self, timeout=10.0):
        self.port = free_port()
        cmd = ["taskset", "-c", self.cpus, self.binary, "-l", "127.0.0.1", "-p", str(self.port),
               "-U", "0"] + self.args
        if os.geteuid() == 0:
            cmd += ["-u", "root"]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited at start (status {self.proc.returncode}): "
                                 f"{' '.join(cmd)}\n{self._log_text()}")
            try:
                with connect(self.port, 0.5) as s:
                    s.sendall(b"version\r\n")
                    if s.recv(100).startswith(b"VERSION"):
                        return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise BenchError(f"{self.name} did not answer on port {self.port} within {timeout}s: "
                         f"{' '.join(cmd)}\n{self._log_text()}")

    def exit_report(self):
        """Why the server is gone: exit status (or signal) and its last output."""
        rc = self.proc.poll()
        how = f"killed by signal {-rc}" if rc is not None and rc < 0 else f"exit status {rc}"
        return f"{self.name} (pid {self.proc.pid}) {how}; its output:\n{self._log_text()}"

    def _log_text(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    def stats(self):
        """The text protocol 'stats' reply as a dict of strings."""
        out = {}
        with connect(self.port, 5) as s:
            s.sendall(b"stats\r\n")
            buf = b""
            while not buf.endswith(b"END\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        for line in buf.decode().splitlines():
            parts = line.split(" ", 2)
            if len(parts) == 3 and parts[0] == "STAT":
                out[parts[1]] = parts[2]
        return out

    def stop(self, wait=True):
        """SIGTERM; with wait, SIGKILL if still there after 5 s. Without wait
        the exit is left to reap_all() (memcached takes ~0.5 s to exit)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        if not wait:
            _stopping.append(self.proc)
            return
        _wait_or_kill(self.proc)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


_stopping = []


def _wait_or_kill(proc):
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def reap_all():
    """Waits for servers stopped with wait=False."""
    while _stopping:
        _wait_or_kill(_stopping.pop())


class Loadgen:
    """Runs syncached-loadgen pinned to the client cpus and returns its JSON,
    plus the CPU seconds it used (from the children's rusage)."""

    def __init__(self, path, cpus):
        self.path, self.cpus = path, cpus

    def run(self, port, args, timeout):
        cmd = ["taskset", "-c", self.cpus, self.path, "--port", str(port)] + [str(a) for a in args]
        if tls_enabled():
            cmd.append("--tls")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BenchError(f"loadgen timed out after {timeout}s: {' '.join(cmd)}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            out = json.loads(p.stdout)
        except ValueError:
            raise BenchError(f"loadgen failed (status {p.returncode}): {' '.join(cmd)}\n"
                             f"{p.stderr.decode(errors='replace')[-2000:]}")
        out["client_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        out["stderr"] = p.stderr.decode(errors="replace")[-2000:]
        out["cmd"] = " ".join(cmd)
        return out


class SyscallCounter:
    """Counts the system calls a process makes over a window, all threads.

    perf: `perf stat -e raw_syscalls:sys_enter -p PID` (a counting tracepoint,
    cheap). strace: `strace -c -f -p PID` (ptrace; slows the server a lot, so
    only its count is meaningful). The window is measured on a separate
    loadgen pass so the counting does not perturb throughput or CPU numbers.
    """

    def __init__(self, method):
        self.method = method
        self.proc = None
        self.out = None

    @staticmethod
    def detect(server):
        """First method that counts the syscalls of a request to `server`
        (a started Server), or 'none'."""
        for method in ("perf", "strace"):
            if shutil.which(method) is None:
                continue
            c = SyscallCounter(method)
            try:
                c.start(server.pid)
                with connect(server.port, 5) as s:
                    s.sendall(b"version\r\n")
                    s.recv(100)
                n = c.stop()
                if n:
                    return method
            except (OSError, BenchError):
                pass
        return "none"

    def start(self, pid):
        if self.method == "none":
            return
        self.out = tempfile.NamedTemporaryFile(prefix="syscalls.", delete=False)
        self.out.close()
        if self.method == "perf":
            cmd = ["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-p", str(pid),
                   "-o", self.out.name]
        else:
            cmd = ["strace", "-c", "-f", "-p", str(pid), "-o", self.out.name]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        # Wait until every thread of the target is counted, so the count covers
        # the whole loadgen pass that follows.
        deadline = time.monotonic() + 10
        while not self._attached(pid):
            if self.proc.poll() is not None:
                raise BenchError(f"{self.method} exited at start (status {self.proc.returncode})")
            if time.monotonic() > deadline:
                self.stop()
                raise BenchError(f"{self.method} did not attach to pid {pid}")
            time.sleep(0.005)

    def _attached(self, pid):
        threads = len(os.listdir(f"/proc/{pid}/task"))
        if self.method == "perf":  # one perf_event fd per thread and event
            fds = 0
            for fd in os.listdir(f"/proc/{self.proc.pid}/fd"):
                try:
                    fds += "perf_event" in os.readlink(f"/proc/{self.proc.pid}/fd/{fd}")
                except OSError:
                    pass
            return fds >= threads
        tracers = []
        for status in glob.glob(f"/proc/{pid}/task/*/status"):
            with open(status) as f:
                tracers += [line.split()[1] for line in f if line.startswith("TracerPid:")]
        return len(tracers) >= threads and all(t == str(self.proc.pid) for t in tracers)

    def stop(self):
        """Number of system calls since start, or None if not counted."""
        if self.method == "none" or self.proc is None:
            return None
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with open(self.out.name) as f:
            text = f.read()
        os.unlink(self.out.name)
        if self.method == "perf":
            for line in text.splitlines():
                parts = line.split(",")
                if len(parts) > 2 and parts[2] == "raw_syscalls:sys_enter":
                    if parts[0] == "<not counted>":  # attached, but no syscall happened
                        return 0
                    return int(parts[0]) if parts[0].isdigit() else None
            return None
        for line in text.splitlines():  # strace -c: "100.00 secs usecs/call calls [errors] total"
            parts = line.split()
            if len(parts) >= 5 and parts[-1] == "total" and parts[3].isdigit():
                return int(parts[3])
        return None
