// Writing the journal: the writer thread drains the buffer in the background, fsyncs
// by policy and starts a new segment (handing the old ones to compaction) when the
// journal outgrows the data; workers write through it in Commit before they reply.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "persistence/impl.h"

namespace syncached::persistence {

void Persistence::Impl::WriteBufferLocked(bool sync,
                                          std::map<std::string, std::string>* meta_at_swap) {
  uint64_t seq;
  {
    MutexLock lock(mu);
    out.swap(buf);
    seq = appended_seq;
    if (meta_at_swap) *meta_at_swap = meta;
  }
  if (!out.empty()) {
    if (AppendJournal(out.data(), out.size())) {
      journal_bytes += out.size();
      st_bytes += out.size();
      st_journal_bytes = journal_bytes;
      dirty = true;
    } else {
      // The changes are still in the store: a snapshot carries them once the disk takes
      // writes again.
      ++st_write_errors;
      uint64_t now = static_cast<uint64_t>(time(nullptr));
      if (now != last_error_log) {
        SC_LOG(kError, "persistence: journal write failed: %s", strerror(errno));
        last_error_log = now;
      }
      MutexLock lock(mu);
      snapshot_requested = true;
    }
    if (out.capacity() > (16u << 20)) {
      std::string().swap(out);
    } else {
      out.clear();
    }
  }
  if (sync && dirty) {
    if (fdatasync(journal_fd) == 0) ++st_fsyncs;
    dirty = false;
    last_sync = std::chrono::steady_clock::now();
  }
  if (sync && opts.fsync == FsyncPolicy::kAlways) {
    written_seq.store(seq, std::memory_order_seq_cst);  // see IsDurable
    if (durable_listener) durable_listener(seq);
  } else {
    written_seq.store(seq, std::memory_order_release);
  }
}

void Persistence::Impl::Rotate() {
  {
    MutexLock lock(mu);
    snapshot_requested = false;
  }
  // Everything saved up to the end of this segment goes with the snapshot; every
  // position in it covers changes already in the store, which the walk (after this
  // point) sees. What is saved later is in the next segment.
  std::map<std::string, std::string> meta_now;
  WriteBufferLocked(true, &meta_now);
  uint64_t closed = generation;
  Status st = OpenJournal(generation + 1);
  if (!st.ok()) {
    SC_LOG(kError, "persistence: cannot start journal segment after %llu: %s",
           static_cast<unsigned long long>(closed), st.message().c_str());
    return;
  }
  prev_journal_bytes = journal_bytes;
  journal_bytes = 0;
  st_journal_bytes = 0;
  MutexLock cl(compact_mu);
  compact_pending = true;
  compaction_busy = true;
  compact_generation = generation;
  compact_meta = std::move(meta_now);
  compact_cv.NotifyOne();
}

void Persistence::Impl::WriterLoop() {
  using Clock = std::chrono::steady_clock;
  const auto kSecond = std::chrono::seconds(1);
  // Nobody wakes the writer for a change (that would cost every write a futex wake
  // and a context switch); it comes by this often, or at once when asked to.
  const auto kTick = std::chrono::milliseconds(5);
  mu.lock();
  for (;;) {
    // A held reply waiting for its fsync (BeginDurableWait) keeps the writer going: the
    // changes published during one fdatasync share the next.
    if (!stop && !(snapshot_requested && !compaction_busy) && written_batches == appended_batches &&
        written_seq.load(std::memory_order_acquire) >= wanted_seq.load(std::memory_order_acquire)) {
      writer_sleeping = true;
      wake.WaitFor(mu, kTick);
      writer_sleeping = false;
    }
    uint64_t batch = appended_batches;
    bool stopping = stop;
    mu.unlock();
    {
      MutexLock wl(write_mu);
      bool due = opts.fsync == FsyncPolicy::kAlways ||
                 (opts.fsync == FsyncPolicy::kEverySec && Clock::now() - last_sync >= kSecond);
      WriteBufferLocked(due || stopping);
      bool requested;
      {
        MutexLock l(mu);
        requested = snapshot_requested;
      }
      // The journal kept on disk is the segment closed at the last rotation (the
      // fallback for the newest snapshot) plus the current one: together they stay
      // within about the threshold, even when a compaction ran long under writes.
      uint64_t threshold = std::max<uint64_t>(opts.compact_min_bytes, store->used_bytes());
      uint64_t kept = prev_journal_bytes + journal_bytes;
      if (!stopping && !compaction_busy && (requested || kept >= threshold)) {
        Rotate();
      }
    }
    mu.lock();
    written_batches = batch;
    written.NotifyAll();
    if (stopping && buf.empty()) break;
  }
  mu.unlock();
}

}  // namespace syncached::persistence
