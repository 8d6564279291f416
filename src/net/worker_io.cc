// Worker, part 2: driving one connection: read -> OnData -> one write, back-pressure,
// closing. Runs on the worker thread only. See worker.h for the interest rules.
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>

#include "common/log.h"
#include "net/tls.h"
#include "net/worker.h"

namespace syncached::net {

// Reads once; reads again only if that read filled the free space (so the common case pays
// no EAGAIN read). Each read's bytes go to the handler before the next read, so the input
// buffer holds only what the handler could not consume yet.
void Worker::HandleRead(Conn* c, int max_rounds) {
  for (int round = 0; round < max_rounds; ++round) {
    if (c->closing() || c->held() || c->pending_out() >= high_water_) break;
    if (!c->has_buffer()) c->LendBuffer(SpareInput(), read_chunk_);
    size_t room;
    char* p = c->ReadSpace(&room);
    ssize_t n = c->ssl() ? TlsRead(c, p, room) : SysRecv(c->fd(), p, room);
    if (n > 0) {
      c->Commit(static_cast<size_t>(n));
      Bump(counters_.bytes_read, static_cast<uint64_t>(n));
      RunHandler(c);
      if (!c->open_) return;
      if (static_cast<size_t>(n) < room && !c->tls_more_) break;
      continue;
    }
    if (n == 0) {  // the peer finished sending: answer what it sent, then close
      c->note_close(CloseReason::kPeerClosed);
      c->set_close_after_write();
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (c->tls_read_wants_write_) [[unlikely]]
        c->want_write_ = true;  // EPOLLOUT comes back to the read (HandleWrite)
      break;
    }
    return Close(c);
  }
  Settle(c);
}

void Worker::HandleWrite(Conn* c) {
  if (c->held() || c->deferred_) return Settle(c);
  if (c->tls_read_wants_write_) [[unlikely]] {  // a TLS handshake waited to write
    c->tls_read_wants_write_ = false;
    c->want_write_ = false;
    return HandleRead(c, kReadRounds);
  }
  if (c->pending_out() > 0) {
    if (!Flush(c)) return;
  } else {
    c->want_write_ = false;
  }
  if (c->rerun_ && c->pending_out() < high_water_) RunHandler(c);
  RunDrain(c);
  Settle(c);
}

// One OnDrain call if it was asked for and output is below high water; otherwise the flag
// stays and HandleWrite (EPOLLOUT) comes back here once a partial write completes.
void Worker::RunDrain(Conn* c) {
  if (!c->want_drain_ || !c->open_ || c->closing()) return;
  if (c->pending_out() >= high_water_ && !c->want_write_ && !c->deferred_ && !Flush(c)) return;
  if (c->pending_out() >= high_water_) return;
  c->want_drain_ = false;
  c->set_last_active(now_);
  CallHandler(c, "OnDrain", [&] { shared_->handler->OnDrain(*c); });
}

// Presents input to the handler; after each call sends the batch's output with one write
// (unless a previous write is still pending: the socket is full, EPOLLOUT will come). Calls
// again only when the handler stopped at high water with input left and output drained.
void Worker::RunHandler(Conn* c) {
  while (c->input_size() > 0 && !c->closing() && !c->held() && c->pending_out() < high_water_) {
    c->rerun_ = false;
    c->set_state(ConnState::kParse);
    c->set_last_active(now_);
    size_t size = c->input_size();
    size_t n = 0;
    c->set_out_room(high_water_ - c->pending_out());  // the loop runs below high water
    CallHandler(c, "OnData", [&] { n = shared_->handler->OnData(*c, c->input()); });
    c->Consume(std::min(n, size));
    if (c->closing()) return;  // Settle flushes or closes
    if (c->held()) {           // nothing leaves, nothing more runs until Release
      c->yield_ = false;
      return;
    }
    if (c->deferred_) {  // FlushDeferred sends it, at the end of the turn
      if (c->yield_ && c->input_size() > 0) yielded_.push_back(c);
      c->yield_ = false;
      c->rerun_ = c->input_size() > 0 && c->pending_out() >= high_water_;
      return;
    }
    if (c->yield_) {
      // Send what this slice produced, then let the other connections go first.
      c->yield_ = false;
      if (!c->want_write_ && c->pending_out() > 0 && !Flush(c)) return;
      if (c->input_size() > 0) yielded_.push_back(c);
      return;
    }
    bool stopped_at_high_water = c->input_size() > 0 && c->pending_out() >= high_water_;
    if (!c->want_write_ && c->pending_out() > 0 && !Flush(c)) return;
    if (!stopped_at_high_water) return;  // all consumed, or it needs more bytes
    c->rerun_ = true;
  }
}

bool Worker::Flush(Conn* c) {
  ssize_t n = c->WriteOnce();
  if (n < 0) {
    if (!WouldBlock(errno)) {
      Close(c);
      return false;
    }
    n = 0;
  }
  Bump(counters_.bytes_written, static_cast<uint64_t>(n));
  c->want_write_ = c->pending_out() > 0 || c->tls_read_wants_write_;
  return true;
}

std::unique_ptr<char[]> Worker::SpareInput() {
  if (spare_inputs_.empty()) return std::unique_ptr<char[]>(new char[read_chunk_]);
  std::unique_ptr<char[]> b = std::move(spare_inputs_.back());
  spare_inputs_.pop_back();
  return b;
}

void Worker::KeepSpareInput(std::unique_ptr<char[]> b) {
  if (b && spare_inputs_.size() < kSpareInputs) spare_inputs_.push_back(std::move(b));
}

// Brings a connection to a resting state after any activity: closes it if asked, sends
// pending output, and sets its epoll interest.
void Worker::Settle(Conn* c) {
  if (!c->open_) return;
  if (c->close_requested()) return Close(c);
  if (c->held()) {  // its epoll interest stays as it was (see Dispatch)
    c->set_state(ConnState::kHeld);
    return;
  }
  if (draining_) {  // released while stopping: one write of its output, then close
    if (c->pending_out() > 0 && !Flush(c)) return;
    return Close(c);
  }
  if (!c->want_write_ && c->pending_out() > 0 && !c->deferred_ && !Flush(c)) return;
  if (c->close_after_write() && c->pending_out() == 0) return Close(c);
  uint32_t want = 0;
  if (c->want_write_) want |= EPOLLOUT;
  if (!c->closing() && c->pending_out() < high_water_) want |= EPOLLIN;
  if (!SetInterest(c, want)) return;
  // Bytes OpenSSL read ahead raise no epoll event: read them next turn.
  if (c->tls_more_ && (want & EPOLLIN)) [[unlikely]]
    tls_buffered_.push_back(c);
  if (c->closing()) {
    c->set_state(ConnState::kClosing);
  } else if (c->want_write_) {
    c->set_state(ConnState::kWrite);
  } else if (c->input_size() > 0) {
    // A whole line left unconsumed is a command waiting for its data block.
    std::string_view in = c->input();
    c->set_state(in.find('\n') != std::string_view::npos ? ConnState::kNread : ConnState::kRead);
  } else {
    c->set_state(ConnState::kWaiting);
    // Idle: give back what one huge request needed, and the input buffer.
    if (c->Oversized(read_chunk_)) c->ShrinkBuffers(read_chunk_);
    if (c->has_buffer()) KeepSpareInput(c->ReturnBuffer());
  }
}

bool Worker::SetInterest(Conn* c, uint32_t want) {
  if (want == c->events_) return true;
  epoll_event ev{};
  ev.events = want;
  ev.data.ptr = c;
  if (epoll_ctl(ep_, EPOLL_CTL_MOD, c->fd(), &ev) != 0) {
    SC_LOG(kError, "epoll_ctl mod %s: %s", c->peer().c_str(), std::strerror(errno));
    Close(c);
    return false;
  }
  c->events_ = want;
  return true;
}

void Worker::Close(Conn* c) {
  if (!c->open_) return;
  c->note_close(CloseReason::kError);  // unless a cause was noted before
  c->open_ = false;
  c->set_state(ConnState::kClosing);
  epoll_ctl(ep_, EPOLL_CTL_DEL, c->fd(), nullptr);  // explicit: a forked child may share fd
  c->in_handler_ = true;
  try {
    shared_->handler->OnClose(*c);
  } catch (const std::exception& e) {
    SC_LOG(kError, "OnClose %s: %s", c->peer().c_str(), e.what());
  }
  c->in_handler_ = false;
  Unhold(c);  // after OnClose, which may ask held()
  if (c->ssl()) TlsClose(c);
  close(c->fd());
  {
    std::lock_guard<std::mutex> lock(conns_mu_);
    size_t slot = c->slot_;
    dead_.push_back(std::move(open_[slot]));
    if (slot + 1 != open_.size()) {
      open_[slot] = std::move(open_.back());
      open_[slot]->slot_ = slot;
    }
    open_.pop_back();
  }
  c->set_fd(-1);
  if (!c->outgoing()) shared_->open_conns.fetch_sub(1, std::memory_order_relaxed);
}

void Worker::Schedule(Conn* c) {
  if (c->in_handler_ || c->scheduled_ || !c->open_) return;
  c->scheduled_ = true;
  scheduled_.push_back(c);
}

void Worker::ProcessScheduled() {
  // Processing may schedule more (a handler closing another connection): index loop.
  for (size_t i = 0; i < scheduled_.size(); ++i) {
    Conn* c = scheduled_[i];
    c->scheduled_ = false;
    if (!c->open_) continue;
    RunDrain(c);
    if (c->wake_ && !c->held() && !draining_) {
      c->wake_ = false;
      // A task may have queued a lot: send it first if that is what blocks the handler.
      if (c->pending_out() >= high_water_ && !c->want_write_ && !c->deferred_ && !Flush(c)) {
        continue;
      }
      if (c->pending_out() < high_water_) {
        RunHandler(c);
      } else {
        c->rerun_ = c->input_size() > 0;  // want_write_ is set: EPOLLOUT resumes it
      }
    }
    Settle(c);
  }
  scheduled_.clear();
}

void Worker::Hold(Conn* c, uint32_t timeout_ms) {
  if (!c->open_) return;
  int64_t deadline = MonotonicMs() + timeout_ms;
  if (draining_) deadline = std::min(deadline, drain_deadline_ms_);
  c->hold_deadline_ms_ = deadline;
  if (!c->held()) {
    c->set_held(true);
    c->hold_slot_ = held_.size();
    held_.push_back(c);
  }
  Schedule(c);  // outside its callbacks: Settle marks it held
}

void Worker::Release(Conn* c) {
  if (!c->held()) return;
  Unhold(c);
  if (c->in_handler_) return;  // the worker carries on with it when the callback returns
  c->wake_ = true;             // send the output, present buffered input again
  Schedule(c);
}

bool Worker::Defer(Conn* c) {
  if (draining_ || !c->open_ || c->pending_out() >= high_water_) return false;
  if (!c->deferred_) {
    c->deferred_ = true;
    deferred_.push_back(c);
  }
  return true;
}

bool Worker::FlushDeferred() {
  if (deferred_.empty()) return false;
  flushing_.swap(deferred_);
  for (Conn* c : flushing_) {
    c->deferred_ = false;
    if (!c->open_) continue;  // closed this turn: still valid until Recycle
    Settle(c);
    if (c->open_ && c->rerun_ && !c->want_write_ && !c->held()) {
      c->wake_ = true;
      Schedule(c);
    }
  }
  flushing_.clear();
  return !scheduled_.empty();
}

void Worker::Unhold(Conn* c) {
  if (!c->held()) return;
  c->set_held(false);
  size_t slot = c->hold_slot_;
  held_[slot] = held_.back();
  held_[slot]->hold_slot_ = slot;
  held_.pop_back();
}

int Worker::HoldTimeoutMs(int timeout) const {
  int64_t nearest = INT64_MAX;
  for (const Conn* c : held_) nearest = std::min(nearest, c->hold_deadline_ms_);
  int64_t wait = std::max<int64_t>(0, nearest - MonotonicMs());
  if (timeout >= 0 && timeout < wait) return timeout;
  return static_cast<int>(std::min<int64_t>(wait, INT32_MAX));
}

// Calls OnHoldExpired for each hold past its deadline, then lifts the hold unless the
// handler renewed it; the connection is then settled like any other (sent, or closed).
void Worker::ExpireHolds() {
  int64_t now = MonotonicMs();
  expired_.clear();
  for (Conn* c : held_) {
    if (c->hold_deadline_ms_ <= now) expired_.push_back(c);
  }
  // Callbacks may close or release others in the list: each is looked at again. A closed
  // Conn stays valid until Recycle at the end of the turn.
  for (Conn* c : expired_) {
    if (!c->open_ || !c->held() || c->hold_deadline_ms_ > now) continue;
    CallHandler(c, "OnHoldExpired", [&] { shared_->handler->OnHoldExpired(*c); });
    if (c->held() && c->hold_deadline_ms_ <= now) Unhold(c);
    c->wake_ = true;
    Schedule(c);
  }
  expired_.clear();
}

}  // namespace syncached::net
