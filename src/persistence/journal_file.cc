// The journal segment being written. Space is allocated ahead of the writes
// (fallocate), so that the fdatasync after an append writes the data alone: an append
// that grows the file makes the fdatasync commit its new size and blocks too, which
// here costs about a third more per fdatasync (docs/PERSISTENCE.md). A segment that is
// closed is cut back to what was written; one a crash left open ends in zeros, which
// recovery reads as its end (format.cc).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "persistence/format.h"
#include "persistence/impl.h"

namespace syncached::persistence {

namespace {
constexpr uint64_t kAllocateAhead = 4 << 20;

bool PwriteAll(int fd, const char* data, size_t n, uint64_t offset) {
  while (n > 0) {
    ssize_t w = pwrite(fd, data, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return true;
}
}  // namespace

Status Persistence::Impl::OpenJournal(uint64_t g) {
  std::string path = Path(JournalName(g));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) return Status::Io("cannot create " + path + ": " + strerror(errno));
  std::string header;
  EncodeFileHeader(kJournalMagic, g, &header);
  if (!WriteAll(fd, header.data(), header.size()) || fdatasync(fd) != 0) {
    Status st = Status::Io("cannot write " + path + ": " + strerror(errno));
    close(fd);
    return st;
  }
  SyncDir(opts.dir);
  CloseJournal();
  journal_fd = fd;
  journal_end = journal_allocated = header.size();
  generation = g;
  st_generation = g;
  return Status::Ok();
}

bool Persistence::Impl::AppendJournal(const char* data, size_t n) {
  if (preallocate && journal_end + n > journal_allocated) {
    uint64_t len = std::max<uint64_t>(kAllocateAhead, journal_end + n - journal_allocated);
    if (fallocate(journal_fd, 0, static_cast<off_t>(journal_allocated), static_cast<off_t>(len)) ==
        0) {
      journal_allocated += len;
    } else if (errno != ENOSPC && errno != EINTR) {
      preallocate = false;  // not supported here: appends grow the file as they go
    }
  }
  // A failed write leaves journal_end where it was: the next one writes over whatever
  // part of it reached the file, so the segment never holds a torn frame mid-way.
  if (!PwriteAll(journal_fd, data, n, journal_end)) return false;
  journal_end += n;
  return true;
}

void Persistence::Impl::CloseJournal() {
  if (journal_fd < 0) return;
  if (journal_allocated > journal_end &&
      ftruncate(journal_fd, static_cast<off_t>(journal_end)) != 0) {
    SC_LOG(kWarn, "persistence: cannot cut journal segment %llu to its end: %s",
           static_cast<unsigned long long>(generation), strerror(errno));
  }
  close(journal_fd);
  journal_fd = -1;
}

}  // namespace syncached::persistence
