// persistence: the store on disk (docs/PERSISTENCE.md), so a node survives kill -9 and a
// whole cluster survives a restart.
//
// Every change the store publishes (local mutations and peers' changes alike) is
// appended to a journal: the record codec's checksummed change records, plus small
// named "meta" frames that other modules use to remember where they were (replication
// saves each peer stream's position this way, so a restarted node catches up from the
// peers' backlogs instead of taking a full copy). When the journal outgrows the data,
// it is compacted: the writer starts a new journal segment, a background thread walks
// the store into a snapshot, and older files are deleted once the snapshot is durable.
// On start the newest complete snapshot is loaded and every later journal segment is
// replayed in order; a torn tail (the record a crash cut short) is dropped, not fatal.
// docs/FORMATS.md ("Journal and snapshot files") has the bytes.
//
// Threads: OnChange and SaveMeta are called from any thread and only append to a
// buffer under a mutex (the record::Sink contract: no I/O on the request path). One
// writer thread writes and fsyncs the buffer; one compaction thread writes snapshots.
// A change is on disk (it survives kill -9 of this process) microseconds after it was
// made; it survives a power loss after the next fsync (--fsync).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"
#include "record/record.h"
#include "storage/storage.h"

namespace syncached::persistence {

enum class FsyncPolicy {
  kAlways,    // fdatasync after every write of the buffer (group commit)
  kEverySec,  // at most a second of changes is lost on a power loss (the default)
  kNo,        // leave it to the kernel
};
// "always", "everysec", "no"; false for anything else.
bool ParseFsyncPolicy(const std::string& name, FsyncPolicy* out);
const char* FsyncPolicyName(FsyncPolicy p);

struct Options {
  std::string dir;  // --data-dir; created if missing
  FsyncPolicy fsync = FsyncPolicy::kEverySec;
  // Compact once the journal since the last snapshot exceeds both this and the
  // store's size, so the journal stays within about twice the data.
  uint64_t compact_min_bytes = 64ull << 20;
};

// What Load found.
struct Recovery {
  uint64_t snapshot_generation = 0;  // 0: no snapshot
  uint64_t snapshot_records = 0;
  uint64_t journal_segments = 0;
  uint64_t journal_records = 0;
  uint64_t dropped_bytes = 0;               // torn tails and corrupt stretches skipped
  std::map<std::string, std::string> meta;  // the newest value saved under each name
  bool had_data() const { return snapshot_records + journal_records > 0; }
};

class Persistence final : public record::Sink {
 public:
  Persistence(const Options& options, storage::Store* store);
  ~Persistence() override;
  Persistence(const Persistence&) = delete;
  Persistence& operator=(const Persistence&) = delete;

  // Locks the directory (one process per data dir), loads the newest snapshot and the
  // journal after it into the store (which must be empty and have no sink yet), then
  // opens a new journal segment and starts the writer. Call once, before serving.
  Status Open(Recovery* recovered);
  // Writes and fsyncs everything appended so far; stops the threads. Idempotent.
  void Close();

  // record::Sink: every change the store makes, in the order it made them per key.
  void OnChange(const record::ChangeView& change) override;
  // Saves `value` under `name` (<= 255 bytes, value <= 4096): ordered after every
  // change this thread published before the call, so a saved position never claims a
  // change that is not on disk before it. Recovery::meta returns the newest value.
  void SaveMeta(const std::string& name, const std::string& value);

  // Called by a worker before it sends the replies to requests whose changes it
  // published: returns once those changes are in the journal file (so they survive
  // kill -9), and with --fsync always once they are fsynced. Cheap when this thread
  // published nothing since its last call, or someone else already wrote it.
  void Commit();
  // Whether this thread published changes that Commit would still write.
  bool Uncommitted() const;

  // --fsync always, batched (server::AckWait): the ticket of the newest change the
  // calling thread published since its last call, or 0 when there is nothing to wait for
  // (another policy, no new change, or already fsynced). The caller holds its reply and
  // later calls Commit once for all it holds (every change appended by then, by any
  // thread, shares that fdatasync); the writer thread fsyncs it at its next tick if no
  // one does. Holders release their replies when IsDurable says so (the durable listener
  // tells when to look again); EndDurableWait accounts the wait.
  uint64_t BeginDurableWait();
  // Any thread; a seq_cst load, ordered after the caller's earlier seq_cst stores.
  bool IsDurable(uint64_t ticket) const;
  void EndDurableWait(uint64_t waited_us, bool timed_out);
  // Called with each new fsynced ticket, on the thread that fsynced (the writer, or a
  // worker in Commit); must not block. Any time (null: none).
  void SetDurableListener(std::function<void(uint64_t durable_ticket)> fn);

  // Starts a compaction now (tests, and the `persistence snapshot` admin path).
  void RequestSnapshot();
  // Blocks until everything appended before the call is written (not necessarily
  // fsynced). Tests use it; so does SIGTERM's drain.
  void Sync();

  // `stats persistence` lines ("STAT name value\r\n").
  void AppendStats(std::string* out) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace syncached::persistence
