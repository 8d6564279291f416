#include "engine/prefix_stats.h"

#include <cstdio>

namespace syncached::engine {

PrefixStats::Counts* PrefixStats::Find(std::string_view key) {
  size_t colon = key.find(':');
  if (colon == std::string_view::npos) return nullptr;
  std::string_view prefix = key.substr(0, colon);
  auto it = prefixes_.find(prefix);
  if (it == prefixes_.end()) it = prefixes_.emplace(std::string(prefix), Counts{}).first;
  return &it->second;
}

void PrefixStats::Clear() {
  std::lock_guard lock(mu_);
  prefixes_.clear();
}

void PrefixStats::RecordGet(std::string_view key, bool hit) {
  if (!enabled()) return;
  std::lock_guard lock(mu_);
  if (Counts* c = Find(key)) {
    ++c->get;
    if (hit) ++c->hit;
  }
}

void PrefixStats::RecordSet(std::string_view key) {
  if (!enabled()) return;
  std::lock_guard lock(mu_);
  if (Counts* c = Find(key)) ++c->set;
}

void PrefixStats::RecordDelete(std::string_view key) {
  if (!enabled()) return;
  std::lock_guard lock(mu_);
  if (Counts* c = Find(key)) ++c->del;
}

void PrefixStats::Dump(std::string* out) const {
  std::lock_guard lock(mu_);
  char line[512];
  for (const auto& [prefix, c] : prefixes_) {
    int n =
        snprintf(line, sizeof line, "PREFIX %.*s get %llu hit %llu set %llu del %llu\r\n",
                 static_cast<int>(prefix.size()), prefix.data(),
                 static_cast<unsigned long long>(c.get), static_cast<unsigned long long>(c.hit),
                 static_cast<unsigned long long>(c.set), static_cast<unsigned long long>(c.del));
    out->append(line, static_cast<size_t>(n));
  }
  out->append("END\r\n", 5);
}

}  // namespace syncached::engine
