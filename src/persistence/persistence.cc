#include "persistence/persistence.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "common/log.h"
#include "persistence/format.h"
#include "persistence/impl.h"

namespace syncached::persistence {
namespace {
// A writer that cannot keep up (a stalled disk) must not grow memory without bound:
// past this the buffer is dropped and a snapshot, which captures the store, replaces it.
constexpr size_t kMaxBuffer = 256u << 20;

// The newest append this thread made, and to which instance.
struct LastAppend {
  const void* owner = nullptr;
  uint64_t seq = 0;
  uint64_t waited = 0;  // the newest seq BeginDurableWait returned
};
thread_local LastAppend tl_last;
}  // namespace

bool ParseFsyncPolicy(const std::string& name, FsyncPolicy* out) {
  if (name == "always") {
    *out = FsyncPolicy::kAlways;
  } else if (name == "everysec") {
    *out = FsyncPolicy::kEverySec;
  } else if (name == "no") {
    *out = FsyncPolicy::kNo;
  } else {
    return false;
  }
  return true;
}

const char* FsyncPolicyName(FsyncPolicy p) {
  switch (p) {
    case FsyncPolicy::kAlways:
      return "always";
    case FsyncPolicy::kEverySec:
      return "everysec";
    case FsyncPolicy::kNo:
      return "no";
  }
  return "unknown";
}

bool WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  fsync(fd);
  close(fd);
}

Persistence::Persistence(const Options& options, storage::Store* store)
    : impl_(std::make_unique<Impl>(options, store)) {}

Persistence::~Persistence() { Close(); }

Status Persistence::Impl::Lock() {
  // mkdir -p: every missing level of the path.
  for (size_t i = 1; i <= opts.dir.size(); ++i) {
    if (i == opts.dir.size() || opts.dir[i] == '/') {
      std::string part = opts.dir.substr(0, i);
      if (mkdir(part.c_str(), 0750) != 0 && errno != EEXIST) {
        return Status::Io("--data-dir: cannot create " + part + ": " + strerror(errno));
      }
    }
  }
  lock_fd = ::open(Path("LOCK").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (lock_fd < 0)
    return Status::Io("--data-dir: cannot open " + Path("LOCK") + ": " + strerror(errno));
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    return Status::Unavailable("--data-dir: " + opts.dir + " is in use by another process");
  }
  return Status::Ok();
}

Status Persistence::Open(Recovery* recovered) {
  Impl& m = *impl_;
  Status st = m.Lock();
  uint64_t generation = 0;
  {
    MutexLock wl(m.write_mu);  // no other thread yet: taken for the analysis' sake
    if (st.ok()) st = m.Load(&m.recovered);
    if (st.ok()) st = m.OpenJournal(m.generation + 1);
    m.st_journal_bytes = m.journal_bytes;
    generation = m.generation;
  }
  if (!st.ok()) {
    if (m.lock_fd >= 0) close(m.lock_fd);  // releases the flock
    m.lock_fd = -1;
    return st;
  }
  if (recovered) *recovered = m.recovered;
  {
    MutexLock lock(m.mu);
    // The next snapshot must carry what earlier runs saved, not only what this one does.
    m.meta = m.recovered.meta;
    m.open = true;
  }
  m.keep_from_generation = m.recovered.snapshot_generation;
  m.writer = std::thread([&m] { m.WriterLoop(); });
  m.compactor = std::thread([&m] { m.CompactorLoop(); });
  SC_LOG(kInfo, "persistence: %s, fsync %s, journal generation %" PRIu64, m.opts.dir.c_str(),
         FsyncPolicyName(m.opts.fsync), generation);
  return Status::Ok();
}

void Persistence::Close() {
  Impl& m = *impl_;
  {
    MutexLock lock(m.mu);  // Sync() reads both under it
    if (!m.open) return;
    m.open = false;
    m.stop = true;
  }
  m.wake.NotifyAll();
  if (m.writer.joinable()) m.writer.join();
  {
    MutexLock lock(m.compact_mu);
    m.compact_stop = true;
  }
  m.compact_cv.NotifyAll();
  if (m.compactor.joinable()) m.compactor.join();
  {
    MutexLock wl(m.write_mu);
    m.CloseJournal();
  }
  if (m.lock_fd >= 0) close(m.lock_fd);  // releases the flock
  m.lock_fd = -1;
}

void Persistence::OnChange(const record::ChangeView& change) {
  Impl& m = *impl_;
  {
    MutexLock lock(m.mu);
    if (m.buf.size() > kMaxBuffer) {
      // Dropped changes are in the store: the snapshot this asks for writes them.
      ++m.st_write_errors;
      m.buf.clear();
      m.snapshot_requested = true;
      SC_LOG(kError,
             "persistence: the disk is not keeping up; dropped the journal buffer, "
             "a snapshot will replace it");
    }
    record::EncodeChange(change, &m.buf);
    ++m.records_appended;
    if (tl_last.owner != this) tl_last = {this, 0, 0};
    tl_last.seq = ++m.appended_seq;
  }
  // No wakeup: workers write their changes through in Commit; the writer comes by
  // every few milliseconds for the rest (peers' changes, the maintenance thread's).
}

void Persistence::SaveMeta(const std::string& name, const std::string& value) {
  Impl& m = *impl_;
  if (name.empty() || name.size() > 255 || value.size() > kMaxMetaValue) return;
  MutexLock lock(m.mu);
  EncodeMeta(name, value, &m.buf);
  ++m.appended_seq;
  m.meta[name] = value;
}

void Persistence::Commit() {
  Impl& m = *impl_;
  if (tl_last.owner != this || tl_last.seq <= m.written_seq.load(std::memory_order_acquire)) {
    return;
  }
  MutexLock wl(m.write_mu);
  if (tl_last.seq <= m.written_seq.load(std::memory_order_acquire)) return;  // written meanwhile
  m.WriteBufferLocked(m.opts.fsync == FsyncPolicy::kAlways);
}

bool Persistence::Uncommitted() const {
  return tl_last.owner == this && tl_last.seq > impl_->written_seq.load(std::memory_order_acquire);
}

uint64_t Persistence::BeginDurableWait() {
  Impl& m = *impl_;
  if (m.opts.fsync != FsyncPolicy::kAlways || tl_last.owner != this) return 0;
  uint64_t t = tl_last.seq;
  if (t <= tl_last.waited || t <= m.written_seq.load(std::memory_order_acquire)) return 0;
  tl_last.waited = t;
  ++m.st_fsync_waits;
  // The holder fsyncs it itself (Commit, once for all it holds); should it not, the
  // writer does at its next tick.
  uint64_t wanted = m.wanted_seq.load(std::memory_order_relaxed);
  while (wanted < t && !m.wanted_seq.compare_exchange_weak(wanted, t)) {
  }
  return t;
}

bool Persistence::IsDurable(uint64_t ticket) const {
  return impl_->written_seq.load(std::memory_order_seq_cst) >= ticket;
}

void Persistence::EndDurableWait(uint64_t waited_us, bool timed_out) {
  impl_->st_fsync_wait_us.fetch_add(waited_us, std::memory_order_relaxed);
  if (timed_out) impl_->st_fsync_timeouts.fetch_add(1, std::memory_order_relaxed);
}

void Persistence::SetDurableListener(std::function<void(uint64_t)> fn) {
  MutexLock wl(impl_->write_mu);  // the writer calls it under write_mu
  impl_->durable_listener = std::move(fn);
}

void Persistence::RequestSnapshot() {
  Impl& m = *impl_;
  {
    MutexLock lock(m.mu);
    m.snapshot_requested = true;
    m.writer_sleeping = false;
  }
  m.wake.NotifyOne();
}

void Persistence::Sync() {
  Impl& m = *impl_;
  MutexLock lock(m.mu);
  if (!m.open || m.stop) return;
  uint64_t target = ++m.appended_batches;
  m.writer_sleeping = false;
  m.wake.NotifyOne();
  while (m.written_batches < target && !m.stop) m.written.Wait(m.mu);
}

void Persistence::AppendStats(std::string* out) const {
  const Impl& m = *impl_;
  char line[512];
  auto stat = [&](const char* fmt, auto... args) {
    int n = snprintf(line, sizeof line, fmt, args...);
    out->append(line, static_cast<size_t>(std::max(0, std::min<int>(n, sizeof line - 1))));
  };
  const Recovery& r = m.recovered;
  stat("STAT data_dir %s\r\n", m.opts.dir.c_str());
  stat("STAT fsync %s\r\n", FsyncPolicyName(m.opts.fsync));
  stat("STAT generation %" PRIu64 "\r\n", m.st_generation.load());
  stat("STAT journal_bytes %" PRIu64 "\r\n", m.st_journal_bytes.load());
  uint64_t records;
  {
    MutexLock lock(m.mu);
    records = m.records_appended;
  }
  stat("STAT journal_records %" PRIu64 "\r\n", records);
  stat("STAT journal_bytes_written %" PRIu64 "\r\n", m.st_bytes.load());
  stat("STAT fsyncs %" PRIu64 "\r\n", m.st_fsyncs.load());
  stat("STAT fsync_waits %" PRIu64 "\r\n", m.st_fsync_waits.load());
  stat("STAT fsync_wait_us %" PRIu64 "\r\n", m.st_fsync_wait_us.load());
  stat("STAT fsync_timeouts %" PRIu64 "\r\n", m.st_fsync_timeouts.load());
  stat("STAT write_errors %" PRIu64 "\r\n", m.st_write_errors.load());
  stat("STAT snapshots %" PRIu64 "\r\n", m.st_snapshots.load());
  stat("STAT last_snapshot_records %" PRIu64 "\r\n", m.st_snapshot_records.load());
  stat("STAT last_snapshot_bytes %" PRIu64 "\r\n", m.st_snapshot_bytes.load());
  stat("STAT last_snapshot_ms %" PRIu64 "\r\n", m.st_snapshot_ms.load());
  stat("STAT last_snapshot_time %" PRIu64 "\r\n", m.st_last_snapshot_unix.load());
  stat("STAT recovered_snapshot_generation %" PRIu64 "\r\n", r.snapshot_generation);
  stat("STAT recovered_snapshot_records %" PRIu64 "\r\n", r.snapshot_records);
  stat("STAT recovered_journal_segments %" PRIu64 "\r\n", r.journal_segments);
  stat("STAT recovered_journal_records %" PRIu64 "\r\n", r.journal_records);
  stat("STAT recovered_dropped_bytes %" PRIu64 "\r\n", r.dropped_bytes);
}

}  // namespace syncached::persistence
