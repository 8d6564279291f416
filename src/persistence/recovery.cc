// Loading at start: the newest complete snapshot, then every journal segment of its
// generation and later, replayed in order (ApplyMode::kRestore: the log's order per
// key is the order the changes were made).
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common/log.h"
#include "persistence/format.h"
#include "persistence/impl.h"

namespace syncached::persistence {

namespace {

// Zeros at least this long end a journal segment as allocated space (journal_file.cc).
constexpr size_t kZeroRun = 512;

// A read-only view of a whole file.
class MappedFile {
 public:
  Status Open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::Io("cannot open " + path + ": " + strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0) {
      close(fd);
      return Status::Io("cannot stat " + path + ": " + strerror(errno));
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        close(fd);
        return Status::Io("cannot map " + path + ": " + strerror(errno));
      }
      data_ = static_cast<const char*>(p);
      madvise(p, size_, MADV_SEQUENTIAL);
    }
    close(fd);
    return Status::Ok();
  }
  ~MappedFile() {
    if (data_) munmap(const_cast<char*>(data_), size_);
  }
  std::string_view view() const { return {data_ ? data_ : "", size_}; }

 private:
  const char* data_ = nullptr;
  size_t size_ = 0;
};

// Maps `path` and checks its header names this kind of file and generation g; on
// success *body is what follows the header.
bool MapBody(const std::string& path, const char* magic, uint64_t g, MappedFile* f,
             std::string_view* body) {
  uint64_t header_gen = 0;
  if (!f->Open(path).ok() || !DecodeFileHeader(f->view(), magic, &header_gen) || header_gen != g) {
    return false;
  }
  *body = f->view().substr(kFileHeaderSize);
  return true;
}

uint64_t DecodeCount(std::string_view v) {
  uint64_t n = 0;
  for (size_t i = std::min<size_t>(8, v.size()); i-- > 0;)
    n = (n << 8) | static_cast<uint8_t>(v[i]);
  return n;
}

}  // namespace

Status Persistence::Impl::Load(Recovery* r) {
  std::vector<uint64_t> journals, snapshots;
  DIR* d = opendir(opts.dir.c_str());
  if (!d) return Status::Io("--data-dir: cannot read " + opts.dir + ": " + strerror(errno));
  while (dirent* e = readdir(d)) {
    bool journal;
    uint64_t g;
    if (!ParseFileName(e->d_name, &journal, &g)) continue;
    (journal ? journals : snapshots).push_back(g);
    generation = std::max(generation, g);
  }
  closedir(d);
  std::sort(journals.begin(), journals.end());
  std::sort(snapshots.rbegin(), snapshots.rend());

  // A delayed flush_all that came due (maybe while the node was down) killed every
  // item stored before its time; the journal goes on with items stored between the
  // command and that time, which the running node had dropped then. Replayed in
  // order, they must stay dropped even after the store's own flush bookkeeping
  // moved on. (An immediate flush needs nothing: replay removes what precedes it.)
  uint32_t now = store->clock()->NowSeconds();
  record::Version floor{};
  auto restore = [&](const record::ChangeView& c) {
    if (c.kind == record::Kind::kFlush) {
      record::Version due{record::MakeHlc(uint64_t{c.exptime} * 1000, 0), 0};
      if (c.exptime != 0 && c.exptime <= now && floor < due) floor = due;
    } else if (c.kind != record::Kind::kDelete && c.version < floor) {
      return;
    }
    store->Apply(c, storage::ApplyMode::kRestore);
  };
  // The newest snapshot that is whole: checked end to end before anything is applied,
  // so a damaged one falls back to the one before it (its journal is still there until
  // a newer snapshot is known good).
  for (uint64_t g : snapshots) {
    std::string path = Path(SnapshotName(g));
    MappedFile f;
    std::string_view body;
    if (!MapBody(path, kSnapshotMagic, g, &f, &body)) {
      SC_LOG(kError, "persistence: %s is unreadable or not a snapshot; skipped", path.c_str());
      continue;
    }
    uint64_t records = 0, declared = UINT64_MAX;
    ScanResult scan = ScanFrames(
        body, [&](const record::ChangeView&) { ++records; },
        [&](std::string_view name, std::string_view value) {
          if (name == kSnapshotEnd) declared = DecodeCount(value);
        });
    if (scan.torn || scan.corrupt || declared != records) {
      SC_LOG(kError, "persistence: snapshot %s is incomplete or damaged (%s); skipped",
             path.c_str(), scan.corrupt ? scan.reason.c_str() : "no end mark");
      continue;
    }
    ScanFrames(body, restore, [&](std::string_view name, std::string_view value) {
      if (name != kSnapshotEnd) r->meta[std::string(name)] = std::string(value);
    });
    r->snapshot_generation = g;
    r->snapshot_records = records;
    break;
  }
  for (uint64_t g : journals) {
    if (g < r->snapshot_generation) continue;
    std::string path = Path(JournalName(g));
    MappedFile f;
    std::string_view body;
    if (!MapBody(path, kJournalMagic, g, &f, &body)) {
      // A segment cut short while its header was being written holds nothing.
      SC_LOG(kWarn, "persistence: %s has no valid header; skipped", path.c_str());
      r->dropped_bytes += f.view().size();
      continue;
    }
    uint64_t before = r->journal_records;
    ScanResult scan = ScanFrames(
        body,
        [&](const record::ChangeView& c) {
          restore(c);
          ++r->journal_records;
        },
        [&](std::string_view name, std::string_view value) {
          r->meta[std::string(name)] = std::string(value);
        });
    ++r->journal_segments;
    journal_bytes += scan.consumed;
    // A long run of zeros at the end is space allocated ahead of the writes, not data
    // (a frame cut short may itself end in a few zeros).
    size_t data_end = body.size();
    if (size_t last = body.find_last_not_of('\0') + 1; body.size() - last >= kZeroRun) {
      data_end = last;  // 0 when all zeros (npos + 1)
    }
    if (scan.consumed < data_end) {
      size_t dropped = data_end - scan.consumed;
      r->dropped_bytes += dropped;
      bool last = g == journals.back();
      // The last segment ending mid-record is what kill -9 leaves (a frame cut short,
      // or one cut short in space allocated ahead, then zeros); anything else is
      // damage worth a warning.
      const char* what = scan.corrupt ? scan.reason.c_str() : "torn tail";
      auto kept = static_cast<unsigned long long>(r->journal_records - before);
      if (last && (scan.torn || body.back() == '\0')) {
        SC_LOG(kInfo, "persistence: %s: torn tail after %llu records; %zu bytes dropped",
               path.c_str(), kept, dropped);
      } else {
        SC_LOG(kWarn, "persistence: %s: %s after %llu records; %zu bytes dropped", path.c_str(),
               what, kept, dropped);
      }
    }
  }
  if (r->had_data()) {
    SC_LOG(kInfo,
           "persistence: loaded %llu records from snapshot %llu and %llu from %llu journal "
           "segment(s)",
           static_cast<unsigned long long>(r->snapshot_records),
           static_cast<unsigned long long>(r->snapshot_generation),
           static_cast<unsigned long long>(r->journal_records),
           static_cast<unsigned long long>(r->journal_segments));
  }
  return Status::Ok();
}

}  // namespace syncached::persistence
