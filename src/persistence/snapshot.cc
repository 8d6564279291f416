// Compaction: the store walked into a snapshot file while it keeps serving. The
// snapshot of generation g is written after journal segment g began, so it holds at
// least everything before that segment; replaying segment g and later on top of it,
// in order, ends in the same state whatever the walk saw of later changes.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "common/log.h"
#include "persistence/format.h"
#include "persistence/impl.h"

namespace syncached::persistence {

void Persistence::Impl::CompactorLoop() {
  compact_mu.lock();
  for (;;) {
    while (!compact_pending && !compact_stop) compact_cv.Wait(compact_mu);
    if (compact_stop) break;
    uint64_t g = compact_generation;
    std::map<std::string, std::string> m = std::move(compact_meta);
    compact_pending = false;
    compacting = true;
    compact_mu.unlock();
    auto start = std::chrono::steady_clock::now();
    uint64_t bytes = 0, records = 0;
    Status st = WriteSnapshot(g, m, &bytes, &records);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    if (st.ok()) {
      RemoveOlderThan(keep_from_generation);
      keep_from_generation = g;
      ++st_snapshots;
      st_snapshot_bytes = bytes;
      st_snapshot_records = records;
      st_snapshot_ms = static_cast<uint64_t>(ms);
      st_last_snapshot_unix = static_cast<uint64_t>(time(nullptr));
      SC_LOG(kInfo, "persistence: snapshot %llu written: %llu records, %llu bytes, %lld ms",
             static_cast<unsigned long long>(g), static_cast<unsigned long long>(records),
             static_cast<unsigned long long>(bytes), static_cast<long long>(ms));
    } else if (st.code() != Status::Code::kUnavailable) {
      ++st_write_errors;
      SC_LOG(kError, "persistence: snapshot %llu failed: %s", static_cast<unsigned long long>(g),
             st.message().c_str());
    }
    compact_mu.lock();
    compacting = false;
    compaction_busy = compact_pending;
    {
      // A snapshot asked for meanwhile can start now.
      MutexLock l(mu);
      writer_sleeping = false;
    }
    wake.NotifyOne();
  }
  compact_mu.unlock();
}

Status Persistence::Impl::WriteSnapshot(uint64_t g, const std::map<std::string, std::string>& meta,
                                        uint64_t* bytes, uint64_t* records) {
  std::string final_path = Path(SnapshotName(g));
  std::string tmp = final_path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return Status::Io("cannot create " + tmp + ": " + strerror(errno));
  std::string out;
  EncodeFileHeader(kSnapshotMagic, g, &out);
  uint64_t n = 0;
  bool ok = true;
  auto add = [&](const record::ChangeView& c) {
    record::EncodeChange(c, &out);
    ++n;
  };
  auto flush_out = [&] {
    ok = ok && WriteAll(fd, out.data(), out.size());
    *bytes += out.size();
    out.clear();
  };
  // Flushes first: replayed after the items, a flush would remove what it must not.
  store->SnapshotFlushes(add);
  for (size_t i = 0; i < store->shard_count() && ok; ++i) {
    store->SnapshotShard(i, add);  // encodes under the shard's lock, writes after
    if (out.size() >= (4u << 20)) flush_out();
    MutexLock l(mu);
    if (stop) ok = false;  // closing: the journal still has everything
  }
  for (const auto& [name, value] : meta) EncodeMeta(name, value, &out);
  std::string count(8, '\0');
  for (int i = 0; i < 8; ++i) count[static_cast<size_t>(i)] = static_cast<char>(n >> (8 * i));
  EncodeMeta(kSnapshotEnd, count, &out);
  flush_out();
  bool closing = false;
  {
    MutexLock l(mu);
    closing = stop;
  }
  int err = 0;
  if (ok && fdatasync(fd) != 0) {
    ok = false;
    err = errno;
  } else if (!ok && !closing) {
    err = errno;
  }
  close(fd);
  if (ok && rename(tmp.c_str(), final_path.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    unlink(tmp.c_str());
    if (closing && err == 0) return Status::Unavailable("abandoned: closing");
    return Status::Io("cannot write " + tmp + ": " + strerror(err));
  }
  SyncDir(opts.dir);
  *records = n;
  return Status::Ok();
}

void Persistence::Impl::RemoveOlderThan(uint64_t g) {
  DIR* d = opendir(opts.dir.c_str());
  if (!d) return;
  std::vector<std::string> doomed;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    bool journal;
    uint64_t gen;
    if (ParseFileName(name, &journal, &gen) && gen < g) doomed.push_back(name);
    if (name.ends_with(".dat.tmp")) {
      std::string base = name.substr(0, name.size() - 4);
      if (ParseFileName(base, &journal, &gen) && gen < g) doomed.push_back(name);
    }
  }
  closedir(d);
  for (const std::string& name : doomed) unlink(Path(name).c_str());
  SyncDir(opts.dir);
}

}  // namespace syncached::persistence
