"""A fault-injecting TCP proxy for the replication links of a test cluster.

Each directed link (node A subscribing to node B) gets its own proxy port, so
a test can cut one direction and keep the other (asymmetric partitions), cut
some links and not others (partial partitions), or isolate a node:

    net = FaultNet()
    net.wire(nodes)                  # rewrites every node's --peers through proxies
    net.cut(a, b, "blackhole")       # a stops hearing b; b still hears a
    net.heal_all(reset=True)

Modes of a cut link:
  blackhole  bytes stop in both directions and connections stay open, as when
             a switch drops packets; healing either lets them flow again
             (TCP retransmitted in time) or resets them (it gave up).
  reset      open connections get an RST and new ones are closed at once, as
             when a firewall rejects.
One thread serves every proxy with a selector; all traffic stays on 127.0.0.1.
"""

import selectors
import socket
import struct
import threading

import harness

HOST = harness.HOST
_BUFFER_LIMIT = 1 << 20   # per direction; reading stops above it (back pressure)


class _Pipe:
    """One proxied connection: a client side and an upstream side."""

    def __init__(self, client, upstream):
        self.socks = (client, upstream)
        self.out = {client: bytearray(), upstream: bytearray()}  # bytes waiting to go to sock
        self.connected = False

    def other(self, sock):
        return self.socks[1] if sock is self.socks[0] else self.socks[0]


class _Link:
    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((HOST, 0))
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.mode = "up"
        self.pipes = []


class FaultNet:
    def __init__(self):
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._links = {}        # (subscriber id, publisher id) -> _Link
        self._owner = {}        # socket -> (_Link, _Pipe) for proxied sockets
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._stop = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    # -- topology -----------------------------------------------------------
    def wire(self, nodes):
        """Points each node's --peers at a proxy per directed link."""
        with self._lock:
            for a in nodes:
                a.peers = []
                for b in nodes:
                    if a is b:
                        continue
                    link = _Link(b.rport)
                    self._links[(a.node_id, b.node_id)] = link
                    self._refresh(link)
                    a.peers.append("%s:%d" % (HOST, link.port))
        self._wake()

    def cut(self, a, b, mode):
        """a stops hearing b (b's changes and a's acks to b), in the given mode."""
        assert mode in ("blackhole", "reset")
        with self._lock:
            link = self._links[(a.node_id, b.node_id)]
            link.mode = mode
            if mode == "reset":
                self._reset_pipes(link)
            self._refresh(link)
        self._wake()

    def heal_all(self, reset=False):
        for (ai, bi) in list(self._links):
            with self._lock:
                link = self._links[(ai, bi)]
                if link.mode != "up":
                    if reset:
                        self._reset_pipes(link)
                    link.mode = "up"
                    self._refresh(link)
        self._wake()

    def close(self):
        self._stop = True
        self._wake()
        self._thread.join(5)
        with self._lock:
            for link in self._links.values():
                self._reset_pipes(link)
                link.listener.close()
        self._wake_r.close()
        self._wake_w.close()
        self._sel.close()

    # -- event loop ---------------------------------------------------------
    def _wake(self):
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _loop(self):
        while not self._stop:
            events = self._sel.select(0.5)
            with self._lock:
                for key, mask in events:
                    if key.fileobj is self._wake_r:
                        try:
                            self._wake_r.recv(4096)
                        except OSError:
                            pass
                    elif isinstance(key.data, _Link):
                        self._accept(key.data)
                    elif key.fileobj in self._owner:
                        self._service(key.fileobj, mask)

    def _accept(self, link):
        try:
            client, _ = link.listener.accept()
        except OSError:
            return
        if link.mode == "reset":
            _rst(client)
            return
        client.setblocking(False)
        upstream = socket.socket()
        upstream.setblocking(False)
        try:
            upstream.connect((HOST, link.target_port))
        except BlockingIOError:
            pass
        except OSError:
            _rst(client)
            upstream.close()
            return
        pipe = _Pipe(client, upstream)
        link.pipes.append(pipe)
        for s in pipe.socks:
            self._owner[s] = (link, pipe)
            self._sel.register(s, selectors.EVENT_WRITE, pipe)
        self._refresh(link)

    def _service(self, sock, mask):
        link, pipe = self._owner[sock]
        if not pipe.connected and sock is pipe.socks[1]:
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                self._close_pipe(link, pipe)  # the node behind is down: like a refused connect
                return
            pipe.connected = True
        try:
            if mask & selectors.EVENT_READ:
                data = sock.recv(65536)
                if not data:
                    self._close_pipe(link, pipe)
                    return
                pipe.out[pipe.other(sock)] += data
            if mask & selectors.EVENT_WRITE and pipe.out[sock]:
                n = sock.send(pipe.out[sock])
                del pipe.out[sock][:n]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._close_pipe(link, pipe)
            return
        self._refresh_pipe(link, pipe)

    def _refresh(self, link):
        # A blackholed listener is not watched: its queue just grows, silently.
        if link.mode == "blackhole":
            if self._registered(link.listener):
                self._sel.unregister(link.listener)
        elif not self._registered(link.listener):
            self._sel.register(link.listener, selectors.EVENT_READ, link)
        for pipe in list(link.pipes):
            self._refresh_pipe(link, pipe)

    def _refresh_pipe(self, link, pipe):
        for s in pipe.socks:
            if s.fileno() < 0:
                return
            events = 0
            if link.mode == "up":
                if not pipe.connected and s is pipe.socks[1]:
                    events = selectors.EVENT_WRITE  # connect completion
                else:
                    if len(pipe.out[pipe.other(s)]) < _BUFFER_LIMIT and pipe.connected:
                        events |= selectors.EVENT_READ
                    if pipe.out[s]:
                        events |= selectors.EVENT_WRITE
            if not events:
                if self._registered(s):
                    self._sel.unregister(s)
            elif self._registered(s):
                self._sel.modify(s, events, pipe)
            else:
                self._sel.register(s, events, pipe)

    def _registered(self, sock):
        try:
            self._sel.get_key(sock)
            return True
        except KeyError:
            return False

    def _close_pipe(self, link, pipe):
        for s in pipe.socks:
            self._owner.pop(s, None)
            if self._registered(s):
                self._sel.unregister(s)
            _rst(s)
        if pipe in link.pipes:
            link.pipes.remove(pipe)

    def _reset_pipes(self, link):
        for pipe in list(link.pipes):
            self._close_pipe(link, pipe)
        if link.mode != "up":
            # Connections queued while blackholed never reached the node behind.
            while True:
                try:
                    c, _ = link.listener.accept()
                except OSError:
                    break
                _rst(c)


def _rst(sock):
    """Closes with an RST, as a rejecting firewall or a timed-out peer would."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()
