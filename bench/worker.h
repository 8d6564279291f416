// One loadgen thread: its share of the connections, one epoll loop, and its
// own counters and latency histogram (no sharing, no locks on the hot path).
//
// The loop is closed: each connection keeps up to --depth requests in flight
// and sends a replacement as each reply completes, so the offered load adapts
// to the server. Replies on a connection are matched to requests in FIFO
// order. Requests completed in one read are replaced by one send().
//
// A Worker is created and used by one thread; main reads its Tally after join.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "encoder.h"
#include "histogram.h"
#include "options.h"
#include "response_parser.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace syncached::bench {

enum class Phase { kPreload, kMeasure, kReadback };

struct Tally {
  uint64_t ops = 0;            // requests completed (a multi-get is one)
  uint64_t ops_in_window = 0;  // ... before the measurement deadline
  uint64_t gets = 0;
  uint64_t sets = 0;
  uint64_t keys = 0;  // keys asked for by gets
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t error_replies = 0;
  uint64_t bad_values = 0;
  uint64_t desyncs = 0;      // unparseable replies (connection dropped)
  uint64_t conn_errors = 0;  // connections lost
  uint64_t timeouts = 0;     // stalls longer than --stall-timeout
  int64_t start_ns = 0;      // phase start / end on CLOCK_MONOTONIC
  int64_t end_ns = 0;
  int64_t window_end_ns = 0;  // measurement: deadline or end, whichever first
  Histogram latency;          // nanoseconds, in-window requests only

  void Merge(const Tally& o);
  uint64_t errors() const { return error_replies + bad_values + desyncs + conn_errors + timeouts; }
};

int64_t NowNs();

class Worker {
 public:
  Worker(const Options& opt, const KeySpace& keys, const Encoder& enc, int id);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Opens this worker's connections; on failure sets *err and returns false.
  bool Connect(std::string* err);
  // Runs one phase to completion. A stall or the loss of every connection
  // ends it early (counted in the tally); later phases then do nothing.
  void Run(Phase phase);
  const Tally& tally(Phase p) const { return tallies_[static_cast<int>(p)]; }

 private:
  struct Conn;

  bool NextRequest(Conn& c, Op* op, uint32_t* keys, int* n);
  void Fill(Conn& c);
  void Flush(Conn& c);
  void OnReadable(Conn& c);
  void Complete(Conn& c, const Outcome& o);
  void Drop(Conn& c, uint64_t Tally::*counter, const char* why);
  void SetWantOut(Conn& c, bool want);
  bool StartTls(Conn& c, std::string* err);
  ssize_t Send(Conn& c, const char* p, size_t n);
  ssize_t Recv(Conn& c, char* p, size_t n);

  const Options& opt_;
  const KeySpace& keys_;
  const Encoder& enc_;
  const int id_;
  const bool multi_;
  int epfd_ = -1;
  ::ssl_ctx_st* tls_ctx_ = nullptr;  // --tls
  std::vector<std::unique_ptr<Conn>> conns_;
  int alive_ = 0;  // connections not dropped
  int drops_logged_ = 0;
  Tally tallies_[3];

  // Current phase.
  Phase phase_ = Phase::kPreload;
  Tally* t_ = nullptr;
  int64_t now_ = 0;
  int64_t deadline_ = 0;
  uint64_t quota_ = 0;  // --requests share of this worker, 0: none
  uint64_t issued_ = 0;
  uint32_t cursor_ = 0;  // sequential phases: next key, up to cursor_end_
  uint32_t cursor_end_ = 0;
  bool stop_issuing_ = false;
  bool failed_ = false;
  uint64_t in_flight_ = 0;
  int64_t last_progress_ = 0;
};

}  // namespace syncached::bench
