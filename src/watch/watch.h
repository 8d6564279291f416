// watch: memcached's `watch` command (doc/protocol.txt "Watchers"): connections that
// stream log lines of what the server does. This module formats the lines and keeps the
// watchers' bounded buffers; it knows nothing of sockets. Producers (engine for fetchers,
// mutations and deletions, storage evictions through the engine, server for connection
// events) call Hub::Log*; the server moves a watcher's buffer to its connection on the
// watcher's own worker, woken through the function given to Hub::Add.
//
// Cost when nobody watches: producers test Hub::Wants(kind), one relaxed atomic load,
// before building an event. With watchers: one atomic gid, one gettimeofday, one line
// formatted per event, then per interested watcher a short mutex-held copy into its
// preallocated buffer (no I/O, no allocation under the lock). A full buffer drops the line
// and counts it; the next line that fits is preceded by memcached's "skipped=N".
//
// Threads: every Hub member is safe from any thread. A Watcher is drained by one thread at
// a time (its connection's worker). Hub must outlive its Watchers.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace syncached::watch {

// Event kinds a watcher asks for: memcached's LOG_* bits.
enum Kind : uint32_t {
  kSysEvents = 1u << 1,
  kFetchers = 1u << 2,
  kMutations = 1u << 3,
  kConnEvents = 1u << 5,
  kEvictions = 1u << 6,
  kRawCmds = 1u << 9,
  kProxyReqs = 1u << 10,
  kProxyEvents = 1u << 11,
  kProxyUser = 1u << 12,
  kDeletions = 1u << 13,
};

// The arguments of `watch` (space-separated kind names). None: fetchers, memcached's
// default. False on an unknown name (memcached answers ERROR).
bool ParseKinds(std::string_view args, uint32_t* kinds);

// Event payloads: the fields of memcached's logger entries, already relative
// where memcached's lines are (ttl = seconds left).
enum class GetStatus : uint8_t { kNotFound, kFound, kFlushed, kExpired };
struct ItemGet {
  GetStatus status = GetStatus::kNotFound;
  std::string_view key;
  uint32_t clsid = 0;
  int cfd = 0;
  uint32_t size = 0;  // value bytes
};

enum class StoreStatus : uint8_t { kNotStored, kStored, kExists, kNotFound, kTooLarge, kNoMemory };
enum class StoreCmd : uint8_t { kNull, kAdd, kSet, kReplace, kAppend, kPrepend, kCas };
struct ItemStore {
  StoreStatus status = StoreStatus::kNotStored;
  StoreCmd cmd = StoreCmd::kNull;
  std::string_view key;
  uint32_t ttl = 0;  // exptime - now as memcached's unsigned rel_time_t; 0 = none
  uint32_t clsid = 0;
  int cfd = 0;
  uint32_t size = 0;
};

struct Eviction {
  std::string_view key;
  bool fetched = false;
  int64_t ttl = -1;          // seconds left; -1 = no expiry
  uint32_t last_access = 0;  // seconds since
  uint32_t clsid = 0;
  uint32_t size = 0;
};

enum class DeleteCmd : uint8_t { kNull, kDelete, kMetaDelete };
struct Deletion {
  std::string_view key;
  DeleteCmd cmd = DeleteCmd::kDelete;
  uint32_t clsid = 0;
  uint32_t size = 0;
};

enum class Transport : uint8_t { kLocal, kTcp, kUdp };
enum class CloseReason : uint8_t { kError, kNormal, kIdleTimeout, kShutdown };
struct ConnEvent {
  std::string_view rip;  // "127.0.0.1", "::1", "unix"
  uint16_t rport = 0;
  Transport transport = Transport::kTcp;
  CloseReason reason = CloseReason::kNormal;  // conn_close only
  int cfd = 0;
};

// Line formatting (format.cc), exposed for tests. Each appends one line ending in '\n'
// exactly as memcached 1.6's logger prints it (ts's microseconds are not zero-padded
// there either).
struct Stamp {
  int64_t sec = 0;
  int32_t usec = 0;
  uint64_t gid = 0;
};
void AppendUriEncoded(std::string_view key, std::string* out);  // memcached's uriencode
void FormatItemGet(const Stamp& st, const ItemGet& e, std::string* out);
void FormatItemStore(const Stamp& st, const ItemStore& e, std::string* out);
void FormatEviction(const Stamp& st, const Eviction& e, std::string* out);
void FormatDeletion(const Stamp& st, const Deletion& e, std::string* out);
void FormatConnNew(const Stamp& st, const ConnEvent& e, std::string* out);
void FormatConnClose(const Stamp& st, const ConnEvent& e, std::string* out);

class Hub;

// One watching connection's bounded buffer of formatted lines. Destroying it unsubscribes.
class Watcher {
 public:
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Appends everything buffered to *out; returns the bytes moved. Call from the thread
  // that serves the watcher's connection; after a wake, or any time.
  size_t Drain(std::string* out);
  uint32_t kinds() const { return kinds_; }

 private:
  friend class Hub;
  Watcher(Hub* hub, uint32_t kinds, uint64_t min_gid, size_t limit, std::function<void()> wake);
  // Producer side: buffers `line` or drops it (full). Returns true if the watcher must be
  // woken (its buffer just became non-empty since the last Drain).
  bool Offer(std::string_view line);

  Hub* const hub_;
  const uint32_t kinds_;
  const uint64_t min_gid_;  // lines logged before the watcher existed are not shown
  const size_t limit_;
  const std::function<void()> wake_;
  std::mutex mu_;
  std::string buf_;            // guarded by mu_; capacity reserved up front
  uint64_t skipped_ = 0;       // guarded by mu_: lines dropped since the last one kept
  bool wake_pending_ = false;  // guarded by mu_: woken, not drained since
  std::string spare_;          // drainer only: swapped with buf_
};

struct HubStats {
  uint64_t watchers = 0;  // log_watchers
  uint64_t sent = 0;      // log_watcher_sent: lines buffered for watchers
  uint64_t skipped = 0;   // log_watcher_skipped: lines dropped, a watcher being full
  uint64_t written = 0;   // log_worker_written: events logged
};

class Hub {
 public:
  // memcached's WATCHER_LIMIT and default watcher_logbuf_size (256 KiB).
  static constexpr int kMaxWatchers = 20;
  explicit Hub(size_t watcher_buffer_bytes = 256 << 10) : limit_(watcher_buffer_bytes) {}
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // The hot-path test: is anyone watching `kind`? One relaxed load.
  bool Wants(uint32_t kind) const { return (mask_.load(std::memory_order_relaxed) & kind) != 0; }
  // The kinds anyone watches, for a gate kept elsewhere (storage evictions).
  const std::atomic<uint32_t>* mask() const { return &mask_; }

  // Subscribes a watcher of `kinds`. `wake` is called from any producer thread (which may
  // hold its own locks, e.g. a storage shard's) when the watcher's buffer becomes non-empty;
  // it must only schedule a Drain on the watcher's thread, never drain or block. Null when
  // kMaxWatchers already watch. Takes a gid, as memcached does: the watcher sees only
  // events logged after it.
  std::unique_ptr<Watcher> Add(uint32_t kinds, std::function<void()> wake);

  void LogItemGet(const ItemGet& e);
  void LogItemStore(const ItemStore& e);
  void LogEviction(const Eviction& e);
  void LogDeletion(const Deletion& e);
  void LogConnNew(const ConnEvent& e);
  void LogConnClose(const ConnEvent& e);

  HubStats Stats() const;

 private:
  friend class Watcher;
  void Remove(Watcher* w);
  Stamp Next();
  void Deliver(uint32_t kind, uint64_t gid, std::string_view line);

  const size_t limit_;
  std::atomic<uint32_t> mask_{0};
  std::atomic<uint64_t> gid_{0};
  mutable std::shared_mutex mu_;
  std::vector<Watcher*> watchers_;  // guarded by mu_
  std::atomic<uint64_t> sent_{0}, skipped_{0}, written_{0};
};

}  // namespace syncached::watch
