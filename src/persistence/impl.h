// Internals of persistence (not part of the public header).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "common/mutex.h"
#include "persistence/persistence.h"

namespace syncached::persistence {

// Whole-buffer write(2) that retries short writes and EINTR; false on an error (errno).
bool WriteAll(int fd, const char* data, size_t n);
// fsync(2) of a directory, so a created, renamed or deleted name is durable.
void SyncDir(const std::string& dir);

struct Persistence::Impl {
  Impl(const Options& o, storage::Store* s) : opts(o), store(s) {}

  Status Lock();
  Status Load(Recovery* r) REQUIRES(write_mu);
  // journal_file.cc: the segment being written. OpenJournal starts segment
  // `generation` (closing the one before); AppendJournal writes at the end of what is
  // written; CloseJournal cuts the file to that end and closes it.
  Status OpenJournal(uint64_t generation) REQUIRES(write_mu);
  bool AppendJournal(const char* data, size_t n) REQUIRES(write_mu);
  void CloseJournal() REQUIRES(write_mu);
  void WriterLoop() EXCLUDES(mu, write_mu);
  // The buffer to the journal file, then an fsync if `sync`.
  // meta_at_swap: when set, receives the saved meta as of the swap (a journal boundary).
  void WriteBufferLocked(bool sync, std::map<std::string, std::string>* meta_at_swap = nullptr)
      REQUIRES(write_mu) EXCLUDES(mu);
  void Rotate() REQUIRES(write_mu) EXCLUDES(mu);  // new segment, old ones to compaction
  void CompactorLoop() EXCLUDES(compact_mu, mu);
  Status WriteSnapshot(uint64_t generation, const std::map<std::string, std::string>& meta,
                       uint64_t* bytes, uint64_t* records);
  void RemoveOlderThan(uint64_t generation);
  std::string Path(const std::string& name) const { return opts.dir + "/" + name; }

  Options opts;
  storage::Store* store;
  int lock_fd = -1;

  // Filled by any thread, drained by the writer; guarded by mu.
  mutable Mutex mu;
  CondVar wake;     // the writer sleeps on it
  CondVar written;  // Sync() waits on it
  std::string buf GUARDED_BY(mu);
  std::map<std::string, std::string> meta GUARDED_BY(mu);  // newest value under each name
  bool writer_sleeping GUARDED_BY(mu) = false;
  bool stop GUARDED_BY(mu) = false;
  bool snapshot_requested GUARDED_BY(mu) = false;
  uint64_t appended_batches GUARDED_BY(mu) = 0;  // buffer swaps requested by Sync()
  uint64_t written_batches GUARDED_BY(mu) = 0;
  uint64_t records_appended GUARDED_BY(mu) = 0;

  uint64_t appended_seq GUARDED_BY(mu) = 0;  // appends so far
  // Appends written to the file so far (with --fsync always: and fsynced).
  std::atomic<uint64_t> written_seq{0};
  // --fsync always: the newest append a held reply waits for (BeginDurableWait); the
  // writer does not sleep while written_seq is below it.
  std::atomic<uint64_t> wanted_seq{0};

  // The journal file: whoever writes to it (the writer thread, or a worker in Commit)
  // holds write_mu from taking the buffer until the write returned, so the file keeps
  // the buffer's order.
  Mutex write_mu;
  std::string out GUARDED_BY(write_mu);
  int journal_fd GUARDED_BY(write_mu) = -1;
  // The segment's length written and the length allocated ahead of it (fallocate), so
  // an append's fdatasync flushes data, not the file's size and block map.
  uint64_t journal_end GUARDED_BY(write_mu) = 0;
  uint64_t journal_allocated GUARDED_BY(write_mu) = 0;
  bool preallocate GUARDED_BY(write_mu) = true;  // false once the filesystem refuses
  std::function<void(uint64_t)> durable_listener GUARDED_BY(write_mu);
  uint64_t generation GUARDED_BY(write_mu) = 0;
  // In journal segments since the newest snapshot, and in the one before them, kept
  // as a fallback.
  uint64_t journal_bytes GUARDED_BY(write_mu) = 0;
  uint64_t prev_journal_bytes GUARDED_BY(write_mu) = 0;
  bool dirty GUARDED_BY(write_mu) = false;  // written since the last fsync
  std::chrono::steady_clock::time_point last_sync GUARDED_BY(write_mu) =
      std::chrono::steady_clock::now();
  uint64_t last_error_log GUARDED_BY(write_mu) = 0;

  // Compaction: the writer hands over a generation and the meta at its start.
  Mutex compact_mu;
  CondVar compact_cv;
  bool compact_pending GUARDED_BY(compact_mu) = false;
  bool compacting GUARDED_BY(compact_mu) = false;
  bool compact_stop GUARDED_BY(compact_mu) = false;
  // compact_pending || compacting, readable under mu (the writer's wait predicate).
  std::atomic<bool> compaction_busy{false};
  // Files of generations below this are deleted by the next compaction: the previous
  // snapshot and the journal after it are kept as a fallback for a damaged newest one.
  uint64_t keep_from_generation = 0;
  uint64_t compact_generation GUARDED_BY(compact_mu) = 0;
  std::map<std::string, std::string> compact_meta GUARDED_BY(compact_mu);

  std::thread writer, compactor;
  bool open GUARDED_BY(mu) = false;

  // Stats (any thread).
  std::atomic<uint64_t> st_bytes{0}, st_fsyncs{0}, st_write_errors{0};
  std::atomic<uint64_t> st_snapshots{0}, st_snapshot_bytes{0}, st_snapshot_records{0};
  std::atomic<uint64_t> st_snapshot_ms{0}, st_last_snapshot_unix{0}, st_generation{0};
  std::atomic<uint64_t> st_journal_bytes{0};
  std::atomic<uint64_t> st_fsync_waits{0}, st_fsync_wait_us{0}, st_fsync_timeouts{0};
  Recovery recovered;
};

}  // namespace syncached::persistence
