#include "net/conn.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>

#include "net/worker.h"

namespace syncached::net {

// recvfrom rather than read: read goes through the VFS layer first (file position lock,
// rw_verify_area, the file permission hook), about 1% of a 4 KB request's server CPU.
ssize_t SysRecv(int fd, void* buf, size_t n) {
  return syscall(SYS_recvfrom, fd, buf, n, 0, nullptr, nullptr);
}

ssize_t SysSend(int fd, const void* buf, size_t n, int flags) {
  return syscall(SYS_sendto, fd, buf, n, flags, nullptr, 0);
}

ssize_t SysSendmsg(int fd, const struct msghdr* msg, int flags) {
  return syscall(SYS_sendmsg, fd, msg, flags);
}

const char* ConnStateName(ConnState s) {
  switch (s) {
    case ConnState::kWaiting:
      return "conn_waiting";
    case ConnState::kRead:
      return "conn_read";
    case ConnState::kNread:
      return "conn_nread";
    case ConnState::kParse:
      return "conn_parse_cmd";
    case ConnState::kWrite:
      return "conn_mwrite";
    case ConnState::kClosing:
      return "conn_closing";
    case ConnState::kHeld:
      return "conn_io_queue";
  }
  return "conn_unknown";
}

// Connection's methods only record the request; the worker acts on it after the current
// callback returns (or, outside callbacks, after the current loop turn's tasks).
void Connection::CloseAfterWrite() {
  NoteClose(CloseReason::kRequested);
  close_after_write_ = true;
  static_cast<Conn*>(this)->worker_->Schedule(static_cast<Conn*>(this));
}

void Connection::CloseNow() {
  NoteClose(CloseReason::kRequested);
  close_now_ = true;
  static_cast<Conn*>(this)->worker_->Schedule(static_cast<Conn*>(this));
}

void Connection::Wake() {
  auto* c = static_cast<Conn*>(this);
  if (c->in_handler_) return;
  c->wake_ = true;
  c->worker_->Schedule(c);
}

void Connection::WantDrain() {
  auto* c = static_cast<Conn*>(this);
  c->want_drain_ = true;
  c->worker_->Schedule(c);
}

void Connection::Yield() { static_cast<Conn*>(this)->yield_ = true; }

bool Connection::DeferOutput() {
  auto* c = static_cast<Conn*>(this);
  return c->worker_->Defer(c);
}

void Connection::Hold(uint32_t timeout_ms) {
  auto* c = static_cast<Conn*>(this);
  c->worker_->Hold(c, timeout_ms);
}

void Connection::Release() {
  auto* c = static_cast<Conn*>(this);
  c->worker_->Release(c);
}

void Conn::Reset(int fd, uint64_t id, std::string peer, uint32_t now) {
  fd_ = fd;
  id_ = id;
  peer_ = std::move(peer);
  user = nullptr;
  close_after_write_ = close_now_ = held_ = false;
  no_idle_timeout_ = close_reason_known_ = outgoing_ = false;
  connecting_ = false;
  close_reason_ = CloseReason::kError;
  out_.clear();
  sending_.clear();
  send_off_ = 0;
  in_start_ = in_end_ = 0;  // no input buffer: fresh, or recycled without one
  events_ = 0;
  open_ = true;
  in_handler_ = scheduled_ = wake_ = want_write_ = rerun_ = want_drain_ = deferred_ = false;
  ssl_ = nullptr;
  tls_more_ = tls_read_wants_write_ = tls_failed_ = tls_established_ = false;
  set_last_active(now);
  set_state(ConnState::kWaiting);
}

void Conn::ShrinkBuffers(size_t read_chunk) {
  if (in_start_ == in_end_ && cap_ > read_chunk) ReturnBuffer();  // dropped
  // Replies up to a few chunks keep their capacity (no allocation per request); a buffer
  // left big by one huge reply goes.
  size_t keep = 4 * read_chunk;
  if (out_.empty() && out_.capacity() > keep) std::string().swap(out_);
  if (send_off_ == sending_.size() && sending_.capacity() > keep) {
    std::string().swap(sending_);
    send_off_ = 0;
  }
}

void Conn::Discard(size_t read_chunk) {
  user = nullptr;
  in_start_ = in_end_ = 0;
  out_.clear();
  sending_.clear();
  send_off_ = 0;
  ShrinkBuffers(read_chunk);
}

char* Conn::ReadSpaceSlow(size_t* room) {
  size_t used = in_end_ - in_start_;
  if (used == 0) {
    in_start_ = in_end_ = 0;
  } else if (in_start_ > 0 && cap_ - in_end_ < cap_ / 2) {
    std::memmove(buf_.get(), buf_.get() + in_start_, used);  // a partial request: short
    in_start_ = 0;
    in_end_ = used;
  }
  if (cap_ - in_end_ < cap_ / 8) {
    // One request is bigger than the buffer: the handler needs it whole. No limit here; the
    // handler bounds requests by consuming or closing.
    size_t cap = cap_ * 2;
    std::unique_ptr<char[]> bigger(new char[cap]);
    std::memcpy(bigger.get(), buf_.get() + in_start_, used);
    buf_ = std::move(bigger);
    cap_ = cap;
    in_start_ = 0;
    in_end_ = used;
  }
  *room = cap_ - in_end_;
  return buf_.get() + in_end_;
}

namespace {
constexpr size_t kSpareOutput = 64 * 1024;
}  // namespace

void Conn::KeepUnsent(size_t sent) {
  sending_.swap(out_);  // sending_ was empty: no copy, and out_ keeps a spare buffer
  send_off_ = sent;
  out_.clear();
  // Unless it is large: a peer that does not read would keep two such buffers per
  // connection while one would do.
  if (out_.capacity() > kSpareOutput) std::string().swap(out_);
}

ssize_t Conn::WritePlain() {
  size_t tail = sending_.size() - send_off_;
  ssize_t n;
  if (tail == 0) {
    n = SysSend(fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
    if (n < 0) return n;
  } else {
    iovec iov[2] = {{sending_.data() + send_off_, tail}, {out_.data(), out_.size()}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = out_.empty() ? 1 : 2;
    n = SysSendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (n < 0) return n;
    if (static_cast<size_t>(n) < tail) {
      send_off_ += n;
      return n;
    }
    sending_.clear();
    send_off_ = 0;
  }
  size_t from_out = static_cast<size_t>(n) - tail;
  if (from_out == out_.size()) {
    out_.clear();
  } else {
    KeepUnsent(from_out);
  }
  return n;
}

}  // namespace syncached::net
