// Per-prefix counters for `stats detail on|off|dump` (memcached's stats_prefix_*): a
// key's prefix is what precedes the first ':'. Off by default; when off the hot path
// pays one relaxed load. When on, a mutex guards the map: this is a debugging aid.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace syncached::engine {

class PrefixStats {
 public:
  void SetEnabled(bool on) { enabled_.store(on, std::memory_order_relaxed); }
  void Clear();  // stats reset
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  void RecordGet(std::string_view key, bool hit);
  void RecordSet(std::string_view key);
  void RecordDelete(std::string_view key);
  // "PREFIX <p> get <n> hit <n> set <n> del <n>\r\n" lines then "END\r\n".
  void Dump(std::string* out) const;

 private:
  struct Counts {
    uint64_t get = 0, hit = 0, set = 0, del = 0;
  };
  Counts* Find(std::string_view key);  // null when the key has no prefix; mu_ held

  std::atomic<bool> enabled_{false};
  mutable std::mutex mu_;
  std::map<std::string, Counts, std::less<>> prefixes_;
};

}  // namespace syncached::engine
