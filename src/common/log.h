// One line per event with a level, to stderr (memcached logs to stderr too, so unit
// files that capture it keep working). Thread-safe.
#pragma once

#include <cstdarg>

namespace syncached::log {

enum class Level { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

void SetLevel(Level level);
Level GetLevel();
bool Enabled(Level level);
void Write(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace syncached::log

#define SC_LOG(level, ...)                                                  \
  do {                                                                      \
    if (::syncached::log::Enabled(::syncached::log::Level::level))          \
      ::syncached::log::Write(::syncached::log::Level::level, __VA_ARGS__); \
  } while (0)
