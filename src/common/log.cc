#include "common/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>

namespace syncached::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::kWarn)};
std::mutex g_file_mu;
std::string g_file;  // OpenFile's path; guarded by g_file_mu

const char* Name(Level l) {
  switch (l) {
    case Level::kError:
      return "ERROR";
    case Level::kWarn:
      return "WARN";
    case Level::kInfo:
      return "INFO";
    case Level::kDebug:
      return "DEBUG";
  }
  return "?";
}

// dup2 swaps the file behind fd 2 atomically: a concurrent Write lands whole in the
// old file or whole in the new one.
Status PointStderrAt(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
  if (fd < 0) return Status::Io("cannot open log file " + path + ": " + strerror(errno));
  if (fd != STDERR_FILENO) {
    int rc = dup2(fd, STDERR_FILENO);
    int err = errno;
    close(fd);
    if (rc < 0) return Status::Io("cannot log to " + path + ": " + strerror(err));
  }
  return Status::Ok();
}
}  // namespace

void SetLevel(Level level) { g_level = static_cast<int>(level); }
Level GetLevel() { return static_cast<Level>(g_level.load()); }
bool Enabled(Level level) {
  return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed);
}

void Write(Level level, const char* fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  gmtime_r(&ts.tv_sec, &t);
  char line[1100];
  int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s\n",
                   t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                   ts.tv_nsec / 1000000, Name(level), msg);
  if (n <= 0) return;
  size_t len = static_cast<size_t>(n) < sizeof line ? static_cast<size_t>(n) : sizeof line - 1;
  line[len - 1] = '\n';  // a truncated line still ends the line
  // One write per line (O_APPEND for a file), so threads never interleave within a line.
  ssize_t w;
  do {
    w = write(STDERR_FILENO, line, len);
  } while (w < 0 && errno == EINTR);
}

Status OpenFile(const std::string& path) {
  std::lock_guard lock(g_file_mu);
  Status st = PointStderrAt(path);
  if (st.ok()) g_file = path;
  return st;
}

Status ReopenFile() {
  std::lock_guard lock(g_file_mu);
  if (g_file.empty()) return Status::Ok();
  return PointStderrAt(g_file);
}

}  // namespace syncached::log
