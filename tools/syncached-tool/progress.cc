#include "progress.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "common/clock.h"

namespace syncached::tool {

namespace {

int64_t NowMs() { return static_cast<int64_t>(SteadyMillis()); }

}  // namespace

Progress::Progress(std::string what, uint64_t total)
    : what_(std::move(what)), total_(total), tty_(isatty(STDERR_FILENO) == 1) {}

std::string Progress::Bar(uint64_t done, uint64_t total, int width) {
  if (total == 0) return "";
  if (done > total) done = total;
  int fill = static_cast<int>(done * static_cast<uint64_t>(width) / total);
  // Appended piece by piece: GCC 12 at -O3 warns (-Wrestrict) on "[" + string.
  std::string s = "[";
  s.append(static_cast<size_t>(fill), '#');
  s.append(static_cast<size_t>(width - fill), '-');
  s += ']';
  char pct[16];
  snprintf(pct, sizeof pct, " %3d%%", static_cast<int>(done * 100 / total));
  return s + pct;
}

void Progress::Update(uint64_t done, uint64_t items) {
  if (!tty_) return;
  int64_t now = NowMs();
  if (drawn_ && now - last_draw_ms_ < 100 && done != total_) return;
  last_draw_ms_ = now;
  drawn_ = true;
  fprintf(stderr, "\r%s %s %llu items\033[K", what_.c_str(), Bar(done, total_, 30).c_str(),
          static_cast<unsigned long long>(items));
  fflush(stderr);
}

void Progress::Finish(const std::string& summary) {
  if (tty_ && drawn_) fputs("\r\033[K", stderr);
  fprintf(stderr, "%s\n", summary.c_str());
}

}  // namespace syncached::tool
