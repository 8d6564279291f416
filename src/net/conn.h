// Conn: a Connection plus the worker's bookkeeping and buffers. Internal to net; owned and
// touched only by its Worker's thread, except the fields marked for snapshots.
//
// Input buffer (lent by the worker while there is input, see LendBuffer; grown only when a
// single request needs more):
//
//   buf_: [ consumed | unconsumed input  | free space to read into ]
//         0          in_start_           in_end_                   cap_
//
// Output: the handler appends to out_. A write that the kernel only partly takes leaves the
// unsent tail in sending_ (by swapping buffers, not copying); the next write is one sendmsg
// of [sending_ tail, out_]. Pending output = both.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "net/net.h"

namespace syncached::net {

class Worker;

// The per-request syscalls, made without glibc's wrappers: read/send/sendmsg are
// cancellation points, and in a threaded process each call switches the thread to
// asynchronous cancellation and back around the syscall (~60 instructions per request).
// Workers are never cancelled, so these are the same calls without that. Every
// connection is an accepted socket, so reads are recvfrom.
ssize_t SysRecv(int fd, void* buf, size_t n);
ssize_t SysSend(int fd, const void* buf, size_t n, int flags);
ssize_t SysSendmsg(int fd, const struct msghdr* msg, int flags);

// kNread: a command line arrived and its data block is still coming (memcached's
// conn_nread), as opposed to kRead, part of a command line. kHeld: output held
// (Connection::Hold), shown as memcached's conn_io_queue (a connection parked until work done
// elsewhere completes).
enum class ConnState : uint8_t { kWaiting, kRead, kNread, kParse, kWrite, kClosing, kHeld };
const char* ConnStateName(ConnState s);

class Conn final : public Connection {
 public:
  Conn(Worker* worker, int worker_index) : worker_(worker) { worker_index_ = worker_index; }

  // Makes a fresh or pooled Conn represent a newly accepted socket.
  void Reset(int fd, uint64_t id, std::string peer, uint32_t now);
  // Drops oversized buffers before pooling or when idle.
  void ShrinkBuffers(size_t read_chunk);
  // Whether ShrinkBuffers has anything to do (checked each time a connection goes idle).
  bool Oversized(size_t read_chunk) const {
    size_t keep = 4 * read_chunk;
    return cap_ > read_chunk || out_.capacity() > keep || sending_.capacity() > keep;
  }
  // The input buffer, lent by the worker while there is input to read or hold: idle, a
  // connection holds none (as memcached's read buffers go back to their thread's cache).
  bool has_buffer() const { return buf_ != nullptr; }
  void LendBuffer(std::unique_ptr<char[]> b, size_t cap) {
    buf_ = std::move(b);
    cap_ = cap;
    in_start_ = in_end_ = 0;
  }
  // Everything consumed: the buffer back (null without one).
  std::unique_ptr<char[]> ReturnBuffer() {
    in_start_ = in_end_ = cap_ = 0;
    return std::move(buf_);
  }
  // Forgets buffered input and output (the connection is closed) and shrinks the buffers.
  void Discard(size_t read_chunk);

  std::string_view input() const { return {buf_.get() + in_start_, in_end_ - in_start_}; }
  size_t input_size() const { return in_end_ - in_start_; }
  void Consume(size_t n) { in_start_ += n; }
  // Space to read into: compacts, or grows when unconsumed input fills most of the buffer.
  char* ReadSpace(size_t* room) {
    if (in_start_ == in_end_) {  // the usual case: everything was consumed
      in_start_ = in_end_ = 0;
      *room = cap_;
      return buf_.get();
    }
    return ReadSpaceSlow(room);
  }
  void Commit(size_t n) { in_end_ += n; }

  size_t pending_out() const { return sending_.size() - send_off_ + out_.size(); }
  void set_out_room(size_t room) { out_room_ = room; }
  // One send()/sendmsg() of all pending output (TLS: SSL_writes until sent or the socket is
  // full). Returns bytes written or -1 with errno.
  // After a write that sent `sent` bytes of out_ (sending_ was empty): the rest becomes
  // sending_'s tail, without a copy.
  void KeepUnsent(size_t sent);
  ssize_t WriteOnce() {
    if (ssl_) [[unlikely]]
      return WriteTls();
    return WritePlain();
  }
  // The connection's SSL, from a TLS listener; freed (close_notify sent) by TlsClose.
  void set_ssl(::ssl_st* ssl) { ssl_ = ssl; }
  ::ssl_st* ssl() const { return ssl_; }

  bool close_requested() const { return close_now_; }
  bool close_after_write() const { return close_after_write_; }
  void set_close_after_write() { close_after_write_ = true; }
  void note_close(CloseReason r) { NoteClose(r); }
  void set_fd(int fd) { fd_ = fd; }
  void set_last_active(uint32_t t) { last_active_.store(t, std::memory_order_relaxed); }
  void set_state(ConnState s) { state_.store(s, std::memory_order_relaxed); }
  ConnState state() const { return state_.load(std::memory_order_relaxed); }

  Worker* const worker_;
  const std::string* listen_name_ = nullptr;  // the listener it came through (stable)
  uint32_t events_ = 0;                       // current epoll interest
  size_t slot_ = 0;                           // index in the worker's open list
  bool open_ = false;                         // between accept and Close
  bool in_handler_ = false;                   // a Handler callback for this Conn is running
  bool scheduled_ = false;                    // queued for Worker::ProcessScheduled
  bool wake_ = false;                         // Wake() called: re-present input
  bool yield_ = false;       // Yield() called inside OnData: re-run after other connections
  bool want_write_ = false;  // last write was partial; EPOLLOUT registered
  bool rerun_ = false;       // stopped at high water with input left: re-run OnData on drain
  bool deferred_ = false;    // DeferOutput(): unsent until the worker's FlushDeferred
  // While held_ (Connection::Hold): its deadline (monotonic ms) and its index in the worker's
  // held list. The epoll interest is left as it was and cut to nothing only if an event comes
  // (so a request-reply client costs no epoll_ctl per hold).
  int64_t hold_deadline_ms_ = 0;
  size_t hold_slot_ = 0;
  void set_held(bool h) { held_ = h; }
  bool want_drain_ = false;  // WantDrain(): call OnDrain once output is below high water
  // TLS (tls.h): OpenSSL holds decrypted-to-be bytes epoll cannot see; the handshake must
  // write before it can read on (EPOLLOUT re-runs the read); a fatal error (no close_notify).
  bool tls_more_ = false;
  bool tls_read_wants_write_ = false;
  bool tls_failed_ = false;
  bool tls_established_ = false;  // the handshake completed
  bool connecting_ = false;       // outgoing: connect() in progress
  void set_outgoing(bool o) { outgoing_ = o; }

 private:
  char* ReadSpaceSlow(size_t* room);
  ssize_t WritePlain();
  ssize_t WriteTls();  // tls.cc

  std::unique_ptr<char[]> buf_;  // null while idle (LendBuffer)
  size_t cap_ = 0, in_start_ = 0, in_end_ = 0;
  std::string sending_;
  size_t send_off_ = 0;
  std::atomic<ConnState> state_{ConnState::kWaiting};  // read by Server::Connections
};

}  // namespace syncached::net
