// Worker, part 1: the loop (epoll_wait, dispatch, holds' deadlines, idle kicks), Post()ed
// tasks and wakeups, the anchor timer, stopping, and the counters and connection lists
// other threads read.
#include "net/worker.h"

#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <exception>

#include "common/log.h"

namespace syncached::net {
namespace {

constexpr int kMaxEvents = 256;
// The anchor timer's period (see Worker::UpdateAnchorTimer), and how long the worker
// must see no event before it disarms it.
constexpr int64_t kAnchorTimerNs = 2'000'000;
constexpr int kAnchorIdleMs = 50;
// An epoll_wait that took this long slept: its CPU may have gone idle.
constexpr int64_t kSleptNs = 5'000;

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

constexpr size_t kMaxPooled = 128;  // per worker

thread_local const Shared* tls_shared = nullptr;
thread_local Worker* tls_worker = nullptr;

uint32_t CoarseUnixSeconds() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<uint32_t>(ts.tv_sec);
}

}  // namespace

int64_t MonotonicMs() { return MonotonicNs() / 1'000'000; }

Worker::Worker(Shared* shared, int index)
    : shared_(shared),
      index_(index),
      high_water_(shared->opts.output_high_water),
      read_chunk_(std::max<size_t>(shared->opts.read_chunk, 64)) {}

Worker::~Worker() {
  if (ep_ >= 0) close(ep_);
  if (wake_fd_ >= 0) close(wake_fd_);
  if (anchor_fd_ >= 0) close(anchor_fd_);
}

const Shared* Worker::Current() { return tls_shared; }
Worker* Worker::CurrentWorker() { return tls_worker; }

Status Worker::Init() {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) return Status::Io(std::string("epoll_create1: ") + std::strerror(errno));
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return Status::Io(std::string("eventfd: ") + std::strerror(errno));
  anchor_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);  // -1: go without
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) {
    return Status::Io(std::string("epoll_ctl eventfd: ") + std::strerror(errno));
  }
  for (size_t i = 0; i < shared_->listeners.size(); ++i) {
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.u64 = i + 1;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, shared_->listeners[i].fd, &ev) != 0) {
      return Status::Io("epoll_ctl " + shared_->listeners[i].name + ": " + std::strerror(errno));
    }
  }
  listening_ = true;
  return Status::Ok();
}

void Worker::Run() {
  tls_shared = shared_;
  tls_worker = this;
  epoll_event events[kMaxEvents];
  while (!shared_->stopping.load(std::memory_order_acquire)) {
    int timeout = -1;
    // With an idle timeout, wake once a second to look for idle connections; without
    // one an idle server sleeps in epoll_wait and costs nothing.
    if (shared_->opts.idle_timeout_secs) timeout = 1000;
    // Connections that yielded (-R) continue right after this poll, without waiting.
    if (!yielded_.empty() || !tls_buffered_.empty()) timeout = 0;
    if (backoff_until_ms_ != 0) {
      timeout = static_cast<int>(std::max<int64_t>(0, backoff_until_ms_ - MonotonicMs()));
    }
    if (!held_.empty()) timeout = HoldTimeoutMs(timeout);
    if (anchor_armed_) timeout = timeout < 0 ? kAnchorIdleMs : std::min(timeout, kAnchorIdleMs);
    int64_t wait_start_ns = anchor_fd_ >= 0 ? MonotonicNs() : 0;
    int n = epoll_wait(ep_, events, kMaxEvents, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      SC_LOG(kError, "net worker %d: epoll_wait: %s", index_, std::strerror(errno));
      break;
    }
    UpdateAnchorTimer(wait_start_ns, n);
    now_ = CoarseUnixSeconds();
    std::vector<Conn*> resume;
    resume.swap(yielded_);
    std::vector<Conn*> buffered;
    buffered.swap(tls_buffered_);
    for (int i = 0; i < n; ++i) Dispatch(events[i]);
    for (Conn* c : buffered) {
      if (c->open_ && c->tls_more_ && !c->held()) HandleRead(c, kReadRounds);
    }
    for (Conn* c : resume) {
      c->wake_ = true;
      Schedule(c);
    }
    if (!held_.empty()) ExpireHolds();
    ProcessScheduled();
    for (;;) {
      while (shared_->handler->OnLoopEnd(index_)) ProcessScheduled();
      if (!FlushDeferred()) break;
      ProcessScheduled();
    }
    if (shared_->opts.idle_timeout_secs && now_ != last_idle_scan_) KickIdle();
    Recycle();
    if (backoff_until_ms_ != 0 && MonotonicMs() >= backoff_until_ms_) {
      backoff_until_ms_ = 0;
      UpdateListeners();
    }
  }
  DrainHeld();
  CloseAll();
  tls_shared = nullptr;
  tls_worker = nullptr;
}

// Stopping with held connections: their output is waiting for something that may come any
// moment (a handler's OnWake), so they get until their hold ends, capped at
// stop_hold_grace_ms, to send it. Everything else closes now, as without holds; nothing is
// read or accepted any more, and released connections are flushed once and closed.
void Worker::DrainHeld() {
  if (held_.empty()) return;
  if (listening_) {
    accepting_ = false;
    UpdateListeners();
  }
  draining_ = true;
  drain_deadline_ms_ = MonotonicMs() + shared_->opts.stop_hold_grace_ms;
  for (Conn* c : held_) c->hold_deadline_ms_ = std::min(c->hold_deadline_ms_, drain_deadline_ms_);
  std::vector<Conn*> others;
  for (const auto& c : open_) {
    if (!c->held()) others.push_back(c.get());
  }
  for (Conn* c : others) Close(c);
  yielded_.clear();
  epoll_event events[kMaxEvents];
  while (!held_.empty()) {
    Recycle();
    int n = epoll_wait(ep_, events, kMaxEvents, HoldTimeoutMs(-1));
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) Dispatch(events[i]);
    ExpireHolds();
    ProcessScheduled();
  }
}

// Between two requests of a lightly loaded server the worker's CPU goes idle, and the NOHZ
// idle path stops the tick on entry and restarts it on exit. Each time the tick is the
// nearest timer, that reprograms the local APIC timer; in a VM every reprogramming is a
// TSC_DEADLINE MSR write and a VM exit, two or three per request. With a timer of ours
// pending nearer than the next tick, the clock event stays where it is and stopping or
// restarting the tick writes nothing. On the reference VM at one request in flight (lat1)
// this took MSR writes from 2.95 to 1.49 per request and server CPU per request by about
// a quarter (docs/PERFORMANCE.md). The timer is a periodic timerfd nobody reads or polls:
// it fires and wakes no one. It is armed when traffic wakes a sleeping worker and disarmed
// after kAnchorIdleMs without events, so an idle server is not woken and a busy one makes
// no syscall for it (re-arming a one-shot timer cost memtier's traffic 1 % more syscalls
// per request than memcached). A worker that never sleeps never arms it.
void Worker::UpdateAnchorTimer(int64_t wait_start_ns, int events) {
  if (anchor_fd_ < 0) return;
  int64_t now_ns = MonotonicNs();
  if (events > 0) {
    anchor_last_event_ns_ = now_ns;
    if (anchor_armed_ || now_ns - wait_start_ns < kSleptNs) return;
  } else if (!anchor_armed_ || now_ns - anchor_last_event_ns_ < kAnchorIdleMs * 1'000'000LL) {
    return;
  }
  anchor_armed_ = !anchor_armed_;
  itimerspec its{};
  if (anchor_armed_) {
    its.it_value.tv_nsec = kAnchorTimerNs;
    its.it_interval.tv_nsec = kAnchorTimerNs;
  }
  timerfd_settime(anchor_fd_, 0, &its, nullptr);
}

void Worker::Dispatch(const epoll_event& ev) {
  uint64_t tag = ev.data.u64;
  if (tag == 0) {
    RunTasks();
    // After the eventfd read in RunTasks: a WakeHandler() that finds the flag cleared here
    // notifies again. seq_cst both sides, so OnWake sees what the waker published before.
    if (wake_handler_.exchange(false)) {
      try {
        shared_->handler->OnWake(index_);
      } catch (const std::exception& e) {
        SC_LOG(kError, "net worker %d: OnWake threw: %s", index_, e.what());
      }
    }
    return;
  }
  if (tag <= shared_->listeners.size()) {
    if (listening_) Accept(shared_->listeners[tag - 1]);
    return;
  }
  Conn* c = static_cast<Conn*>(ev.data.ptr);
  if (!c->open_) return;  // closed earlier in this batch
  if (c->connecting_ && !FinishConnect(c)) return;
  if (ev.events & EPOLLERR) return Close(c);
  if (c->held()) {
    // Nothing is read or written while held, and level-triggered epoll would report this
    // readiness every turn: no interest until Release (a hold itself costs no epoll_ctl, and
    // a client waiting for its reply sends nothing). Hung up: nothing held can arrive.
    if (ev.events & EPOLLHUP) return Close(c);
    SetInterest(c, 0);
    return;
  }
  if (ev.events & EPOLLOUT) HandleWrite(c);
  if (!c->open_) return;
  if (ev.events & EPOLLHUP) {
    // Both directions are shut (a unix peer closed, or a reset). Take what it sent before
    // closing, then close: nothing we write can arrive.
    HandleRead(c, 1 << 30);
    c->note_close(CloseReason::kPeerClosed);
    if (c->open_) Close(c);
    return;
  }
  if (ev.events & EPOLLIN) HandleRead(c, kReadRounds);
}

void Worker::Post(std::function<void()> fn) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(tasks_mu_);
    was_empty = tasks_.empty();
    tasks_.push_back(std::move(fn));
  }
  if (was_empty) Notify();  // otherwise a wakeup is already on its way
}

void Worker::WakeHandler() {
  if (!wake_handler_.exchange(true)) Notify();  // else a wake is pending: it will see ours
}

void Worker::Notify() {
  uint64_t one = 1;
  ssize_t r = write(wake_fd_, &one, sizeof one);
  (void)r;  // EAGAIN only if the counter is saturated: a wakeup is pending anyway
}

void Worker::RunTasks() {
  uint64_t count;
  ssize_t r = read(wake_fd_, &count, sizeof count);  // read first: a later Post re-notifies
  (void)r;
  {
    std::lock_guard<std::mutex> lock(tasks_mu_);
    running_.swap(tasks_);
  }
  for (auto& fn : running_) {
    try {
      fn();
    } catch (const std::exception& e) {
      SC_LOG(kError, "net worker %d: posted task threw: %s", index_, e.what());
    }
  }
  running_.clear();
}

void Worker::Recycle() {
  for (auto& c : dead_) {
    if (pool_.size() >= kMaxPooled) continue;  // freed below
    c->Discard(read_chunk_);
    KeepSpareInput(c->ReturnBuffer());  // a pooled Conn holds none, as an idle one
    pool_.push_back(std::move(c));
  }
  dead_.clear();
}

void Worker::CloseAll() {
  if (listening_) {
    accepting_ = false;
    UpdateListeners();
  }
  while (!open_.empty()) {
    open_.back()->note_close(CloseReason::kStopped);
    Close(open_.back().get());
  }
  scheduled_.clear();
  Recycle();
}

void Worker::KickIdle() {
  last_idle_scan_ = now_;
  std::vector<Conn*> idle;
  for (const auto& c : open_) {
    if (!c->closing() && !c->no_idle_timeout() &&
        now_ - c->last_active() > shared_->opts.idle_timeout_secs) {
      idle.push_back(c.get());
    }
  }
  for (Conn* c : idle) {
    Bump(counters_.idle_kicks, 1);
    c->note_close(CloseReason::kIdleTimeout);
    Close(c);
  }
}

void Worker::AddStats(Stats* s) const {
  s->idle_kicks += counters_.idle_kicks.load(std::memory_order_relaxed);
  s->total_connections += counters_.total.load(std::memory_order_relaxed);
  s->rejected_connections += counters_.rejected.load(std::memory_order_relaxed);
  s->bytes_read += counters_.bytes_read.load(std::memory_order_relaxed);
  s->bytes_written += counters_.bytes_written.load(std::memory_order_relaxed);
  s->listen_disabled_num += counters_.listen_disabled.load(std::memory_order_relaxed);
}

void Worker::AppendConnections(std::vector<ConnInfo>* out, uint32_t now) const {
  std::lock_guard<std::mutex> lock(conns_mu_);
  for (const auto& c : open_) {
    if (c->outgoing()) continue;  // not a client's
    ConnInfo info;
    info.id = c->id();
    info.fd = c->fd();
    info.peer = c->peer();
    info.state = ConnStateName(c->state());
    uint32_t last = c->last_active();
    info.idle_secs = now > last ? now - last : 0;
    info.unix_socket = info.peer == "unix";
    if (c->listen_name_) info.listen_addr = *c->listen_name_;
    out->push_back(std::move(info));
  }
}

}  // namespace syncached::net
