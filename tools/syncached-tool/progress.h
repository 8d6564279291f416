// Progress of a dump or restore on stderr: a bar redrawn in place when stderr is
// a terminal, otherwise only the final count (logs and CI output stay readable).
#pragma once

#include <cstdint>
#include <string>

namespace syncached::tool {

class Progress {
 public:
  // total 0: unknown (a count without a bar).
  Progress(std::string what, uint64_t total);
  // Redraws at most ten times a second.
  void Update(uint64_t done, uint64_t items);
  // Ends the bar's line and prints `summary` on a line of its own.
  void Finish(const std::string& summary);

  // "[#####-----]  50%" for done/total in a bar `width` wide (for tests).
  static std::string Bar(uint64_t done, uint64_t total, int width);

 private:
  std::string what_;
  uint64_t total_;
  bool tty_;
  int64_t last_draw_ms_ = 0;
  bool drawn_ = false;
};

}  // namespace syncached::tool
