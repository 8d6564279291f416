// Worker: one thread, one epoll set, the connections it accepted. Internal to net.
//
// Epoll registrations (level-triggered) and their data tags:
//   eventfd            EPOLLIN                 0             Post()ed tasks and Stop()
//   each listener      EPOLLIN|EPOLLEXCLUSIVE  1 + index     added/removed to pause accepts
//                                                            (EXCLUSIVE forbids EPOLL_CTL_MOD)
//   each connection    EPOLLIN and/or EPOLLOUT Conn*         changed only on transitions
//
// A connection is read while it is not closing, not held and its unsent output is below high
// water; it waits for EPOLLOUT while a write was partial. A held connection (Connection::Hold)
// neither reads nor writes; its interest drops to nothing at its first event. Closed Conns are
// parked in dead_ until the end of the loop turn (later events of the same epoll batch may
// still name them), then pooled.
//
// Holds: held_ lists the held connections, each with a deadline. Only while it is non-empty
// does a loop turn look at the clock for them (a scan of held_, which holds only the
// connections waiting right now) and shorten epoll_wait's timeout to the nearest deadline.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "net/conn.h"
#include "net/listener.h"
#include "net/net.h"
#include "net/tls.h"

namespace syncached::net {

int64_t MonotonicMs();  // CLOCK_MONOTONIC in milliseconds (vDSO, no syscall)

// State shared by the Server and all workers. Listeners are set before workers start and
// closed after they are joined.
struct Shared {
  Shared(Options o, Handler* h) : opts(std::move(o)), handler(h) {}
  const Options opts;
  Handler* const handler;
  std::vector<Listener> listeners;
  std::unique_ptr<TlsContext> tls;  // with Options::tls.enabled; set before workers start
  std::atomic<int> open_conns{0};   // all workers; checked against max_conns on accept
  std::atomic<uint64_t> next_id{1};
  std::atomic<bool> stopping{false};
};

class Worker {
 public:
  Worker(Shared* shared, int index);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  Status Init();  // epoll set, eventfd, listener registrations; before Run
  void Run();     // the thread body; returns after Shared::stopping is set and Notify()
  // The Shared of the worker running on this thread, or null on other threads.
  static const Shared* Current();
  // The worker running on this thread, or null.
  static Worker* CurrentWorker();

  // Any thread.
  void Post(std::function<void()> fn);
  void Notify();       // interrupts epoll_wait
  void WakeHandler();  // Handler::OnWake on this worker soon (Server::WakeWorker)
  void AddStats(Stats* s) const;
  void AppendConnections(std::vector<ConnInfo>* out, uint32_t now) const;

  // Worker thread only.
  void SetAccepting(bool on);
  void Schedule(Conn* c);  // act on a Connection request made outside its callbacks
  void Hold(Conn* c, uint32_t timeout_ms);                         // Connection::Hold
  void Release(Conn* c);                                           // Connection::Release
  bool Defer(Conn* c);                                             // Connection::DeferOutput
  Conn* Connect(const sockaddr* addr, socklen_t len, void* user);  // net::Connect

 private:
  // Written only by the worker thread (load+store, no locked add); read by any.
  struct alignas(64) Counters {
    std::atomic<uint64_t> total{0}, rejected{0}, bytes_read{0}, bytes_written{0};
    std::atomic<uint64_t> listen_disabled{0};
    std::atomic<uint64_t> idle_kicks{0};
  };

  static constexpr int kReadRounds = 8;  // reads per readable event, for fairness

  // Single-writer counter: a plain load+store, no locked instruction on the hot path.
  static void Bump(std::atomic<uint64_t>& a, uint64_t n) {
    a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  static bool WouldBlock(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

  // worker.cc: the loop, tasks, lifecycle.
  // Runs one Handler callback for c (`what` names it in the log): marked as inside the
  // handler, and an exception closes c instead of escaping the worker.
  template <typename F>
  void CallHandler(Conn* c, const char* what, F&& fn) {
    c->in_handler_ = true;
    try {
      fn();
    } catch (const std::exception& e) {
      SC_LOG(kError, "%s %s: %s", what, c->peer().c_str(), e.what());
      c->CloseNow();
    }
    c->in_handler_ = false;
  }
  void UpdateAnchorTimer(int64_t wait_start_ns, int events);
  void Dispatch(const epoll_event& ev);
  void RunTasks();
  void Recycle();
  void DrainHeld();
  void CloseAll();
  // worker_accept.cc: new connections, accepted or connected.
  void Accept(const Listener& l);
  std::unique_ptr<Conn> TakeConn();  // pooled or new
  bool FinishConnect(Conn* c);       // outgoing: false if the connect failed (closed)
  void Backoff(int err);
  void UpdateListeners();
  // Holds (worker_io.cc).
  int HoldTimeoutMs(int timeout) const;  // epoll_wait timeout shortened to the nearest deadline
  void ExpireHolds();
  void Unhold(Conn* c);
  // worker_io.cc: one connection's I/O.
  void HandleRead(Conn* c, int max_rounds);
  void HandleWrite(Conn* c);
  void RunHandler(Conn* c);
  void RunDrain(Conn* c);
  bool Flush(Conn* c);  // false if the connection was closed on a write error
  void Settle(Conn* c);
  bool SetInterest(Conn* c, uint32_t want);  // false if the connection was closed on error
  void Close(Conn* c);
  void ProcessScheduled();
  // The end of a turn, after Handler::OnLoopEnd: sends what DeferOutput held back. True if
  // that scheduled connections (a deferred one stopped at high water with input left).
  bool FlushDeferred();

  Shared* const shared_;
  const int index_;
  const size_t high_water_;
  const size_t read_chunk_;
  int ep_ = -1;
  int wake_fd_ = -1;
  int anchor_fd_ = -1;                // timerfd, see UpdateAnchorTimer
  bool anchor_armed_ = false;         // firing every kAnchorTimerNs
  int64_t anchor_last_event_ns_ = 0;  // monotonic
  uint32_t now_ = 0;                  // coarse unix seconds, refreshed each loop turn
  uint32_t last_idle_scan_ = 0;
  void KickIdle();  // closes connections idle past Options::idle_timeout_secs

  bool accepting_ = true;         // Server::SetAccepting
  bool listening_ = false;        // listeners are in our epoll set
  int64_t backoff_until_ms_ = 0;  // accepts paused after EMFILE/ENFILE until then (monotonic)
  bool backoff_logged_ = false;

  mutable std::mutex conns_mu_;              // guards open_ (structure) for snapshots
  std::vector<std::unique_ptr<Conn>> open_;  // Conn::slot_ is the index
  std::vector<std::unique_ptr<Conn>> dead_;  // closed this turn
  std::vector<std::unique_ptr<Conn>> pool_;  // reusable
  // Input buffers of idle connections, reused LIFO (a warm one for the next reader);
  // beyond kSpareInputs they are freed.
  std::unique_ptr<char[]> SpareInput();
  void KeepSpareInput(std::unique_ptr<char[]> b);
  static constexpr size_t kSpareInputs = 16;
  std::vector<std::unique_ptr<char[]>> spare_inputs_;
  std::vector<Conn*> scheduled_;
  std::vector<Conn*> yielded_;       // re-run next turn (Connection::Yield)
  std::vector<Conn*> tls_buffered_;  // TLS input buffered in OpenSSL: read next turn
  std::vector<Conn*> held_;          // Conn::hold_slot_ is the index
  std::vector<Conn*> expired_;       // scratch for ExpireHolds
  std::vector<Conn*> deferred_;      // output sent at the end of the turn (DeferOutput)
  std::vector<Conn*> flushing_;      // scratch for FlushDeferred
  bool draining_ = false;            // stopping: only held connections are left, none is read
  int64_t drain_deadline_ms_ = 0;
  std::atomic<bool> wake_handler_{false};  // WakeHandler() pending

  std::mutex tasks_mu_;
  std::vector<std::function<void()>> tasks_;    // guarded by tasks_mu_
  std::vector<std::function<void()>> running_;  // worker only; swapped with tasks_

  Counters counters_;
};

}  // namespace syncached::net
