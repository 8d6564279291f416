// One line per event with a level, to stderr (memcached logs to stderr too, so unit
// files that capture it keep working), or to the file given to OpenFile (--log-file).
// Thread-safe: each line is one write(2), so lines of concurrent threads never mix.
#pragma once

#include <cstdarg>
#include <string>

#include "common/status.h"

namespace syncached::log {

enum class Level { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

void SetLevel(Level level);
Level GetLevel();
bool Enabled(Level level);
void Write(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// Sends the log to `path` (created 0640, appended to) from now on. The file takes the
// place of file descriptor 2, so whatever else writes to stderr (a library's assertion,
// a sanitizer report) lands in it too. On error nothing changes: the log stays where it
// was. Call once at start, after daemonizing (daemon(3) points fd 2 at /dev/null).
Status OpenFile(const std::string& path);

// Opens the OpenFile path again (SIGHUP: logrotate has moved the old file away): lines
// written after it returns go to the new file, none is lost or split between the two.
// On error the old file stays in use. Ok and nothing done without an OpenFile.
Status ReopenFile();

}  // namespace syncached::log

#define SC_LOG(level, ...)                                                  \
  do {                                                                      \
    if (::syncached::log::Enabled(::syncached::log::Level::level))          \
      ::syncached::log::Write(::syncached::log::Level::level, __VA_ARGS__); \
  } while (0)
