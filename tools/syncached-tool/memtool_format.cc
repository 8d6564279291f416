#include "memtool_format.h"

#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <map>

namespace syncached::tool {

namespace {

template <typename... Args>
void Appendf(std::string* out, const char* fmt, Args... args) {
  char buf[1024];
  int n = snprintf(buf, sizeof buf, fmt, args...);
  if (n < 0) return;
  if (static_cast<size_t>(n) < sizeof buf) {
    out->append(buf, static_cast<size_t>(n));
  } else {  // a long value: format again into a buffer that fits
    std::string big(static_cast<size_t>(n) + 1, '\0');
    snprintf(big.data(), big.size(), fmt, args...);
    out->append(big.data(), static_cast<size_t>(n));
  }
}

// Perl's (\d+) followed by a space; returns the digits' value and advances.
bool Digits(std::string_view* s, int64_t* v) {
  size_t n = 0;
  int64_t x = 0;
  while (n < s->size() && isdigit(static_cast<unsigned char>((*s)[n]))) {
    x = x * 10 + ((*s)[n] - '0');
    ++n;
  }
  if (n == 0) return false;
  *v = x;
  s->remove_prefix(n);
  return true;
}

// Perl's \w+: letters, digits, underscore.
bool Word(std::string_view* s, std::string* w) {
  size_t n = 0;
  while (n < s->size() && (isalnum(static_cast<unsigned char>((*s)[n])) || (*s)[n] == '_')) ++n;
  if (n == 0) return false;
  w->assign(s->substr(0, n));
  s->remove_prefix(n);
  return true;
}

// /^STAT <prefix>(\d+):(\w+) (\d+)/
bool ClassStat(std::string_view line, std::string_view prefix, int64_t* cls, std::string* field,
               int64_t* value) {
  std::string_view s = line;
  if (s.substr(0, 5) != "STAT ") return false;
  s.remove_prefix(5);
  if (s.substr(0, prefix.size()) != prefix) return false;
  s.remove_prefix(prefix.size());
  if (!Digits(&s, cls) || s.empty() || s[0] != ':') return false;
  s.remove_prefix(1);
  if (!Word(&s, field) || s.empty() || s[0] != ' ') return false;
  s.remove_prefix(1);
  return Digits(&s, value);
}

}  // namespace

StatMap PerlStatMap(const std::vector<std::string>& lines) {
  StatMap m;
  for (const std::string& l : lines) {
    if (auto kv = ParseStatLinePerl(l)) m[kv->first] = kv->second;
  }
  return m;
}

std::string FormatStatsListing(const std::string& addr, const StatMap& stats) {
  std::string out;
  Appendf(&out, "#%-22s %5s %13s\n", addr.c_str(), "Field", "Value");
  for (const auto& [k, v] : stats) Appendf(&out, "%29s %14s\n", k.c_str(), v.c_str());
  return out;
}

std::string FormatNarrowListing(const std::string& addr, const char* left, const char* right,
                                const StatMap& stats) {
  std::string out;
  Appendf(&out, "#%-17s %5s %11s\n", addr.c_str(), left, right);
  for (const auto& [k, v] : stats) Appendf(&out, "%24s %12s\n", k.c_str(), v.c_str());
  return out;
}

std::vector<SlabRow> SlabRows(const std::vector<std::string>& items_lines,
                              const std::vector<std::string>& slabs_lines) {
  std::map<int64_t, std::map<std::string, int64_t>> items;
  int64_t max = 0;
  int64_t cls = 0, value = 0;
  std::string field;
  for (const std::string& l : items_lines) {
    if (ClassStat(l, "items:", &cls, &field, &value)) items[cls][field] = value;
  }
  for (const std::string& l : slabs_lines) {
    if (ClassStat(l, "", &cls, &field, &value)) {
      items[cls][field] = value;
      max = cls;  // the script keeps the last class seen, not the largest
    }
  }
  std::vector<SlabRow> rows;
  for (int64_t n = 1; n <= max; ++n) {
    auto it = items.find(n);
    if (it == items.end()) continue;
    auto get = [&](const char* f) -> int64_t {
      auto v = it->second.find(f);
      return v == it->second.end() ? 0 : v->second;
    };
    if (get("total_pages") == 0) continue;
    SlabRow r;
    r.id = n;
    r.chunk_size = get("chunk_size");
    r.age = get("age");
    r.pages = get("total_pages");
    r.count = get("number");
    r.full = get("used_chunks") == get("total_chunks");
    r.evicted = get("evicted");
    r.evict_time = get("evicted_time");
    r.oom = get("outofmemory");
    rows.push_back(r);
  }
  return rows;
}

std::string ItemSizeCell(int64_t chunk_size) {
  std::string s;
  if (chunk_size < 1024) {
    Appendf(&s, "%" PRId64 "B", chunk_size);
  } else {
    Appendf(&s, "%.1fK", static_cast<double>(chunk_size) / 1024.0);
  }
  return s;
}

std::string FormatDisplay(const std::vector<SlabRow>& rows) {
  std::string out = "  #  Item_Size  Max_age   Pages   Count   Full?  Evicted Evict_Time OOM\n";
  for (const SlabRow& r : rows) {
    Appendf(&out,
            "%3" PRId64 " %8s %9" PRId64 "s %7" PRId64 " %7" PRId64 " %7s %8" PRId64 " %8" PRId64
            " %4" PRId64 "\n",
            r.id, ItemSizeCell(r.chunk_size).c_str(), r.age, r.pages, r.count,
            r.full ? "yes" : " no", r.evicted, r.evict_time, r.oom);
  }
  return out;
}

}  // namespace syncached::tool
