// memcached-tool's display, stats, settings, sizes and keys modes (and their --json).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "json.h"
#include "memtool_format.h"
#include "modes.h"
#include "stat_lines.h"

namespace syncached::tool {

bool ConnectOrComplain(const Options& o, Client* c) {
  if (c->Connect(o.address, static_cast<int>(o.io_timeout_s * 1000))) return true;
  // memcached-tool's words, then why.
  fprintf(stderr, "Couldn't connect to %s\n", o.address.display.c_str());
  fprintf(stderr, "(%s)\n", c->error().c_str());
  return false;
}

namespace {

int Fail(const Client& c) {
  fprintf(stderr, "syncached-tool: %s\n", c.error().c_str());
  return 1;
}

void Out(const std::string& s) { fwrite(s.data(), 1, s.size(), stdout); }

}  // namespace

int RunDisplay(const Options& o) {
  Client c;
  if (!ConnectOrComplain(o, &c)) return 1;
  std::vector<std::string> items, slabs;
  if (!c.StatLines("items", &items) || !c.StatLines("slabs", &slabs)) return Fail(c);
  std::vector<SlabRow> rows = SlabRows(items, slabs);
  if (!o.json) {
    Out(FormatDisplay(rows));
    return 0;
  }
  std::string out = "[";
  for (size_t i = 0; i < rows.size(); ++i) {
    const SlabRow& r = rows[i];
    char buf[512];
    snprintf(buf, sizeof buf,
             "%s{\"class\": %lld, \"chunk_size\": %lld, \"max_age\": %lld, \"pages\": %lld, "
             "\"count\": %lld, \"full\": %s, \"evicted\": %lld, \"evict_time\": %lld, "
             "\"oom\": %lld}",
             i ? ", " : "", static_cast<long long>(r.id), static_cast<long long>(r.chunk_size),
             static_cast<long long>(r.age), static_cast<long long>(r.pages),
             static_cast<long long>(r.count), r.full ? "true" : "false",
             static_cast<long long>(r.evicted), static_cast<long long>(r.evict_time),
             static_cast<long long>(r.oom));
    out += buf;
  }
  Out(out + "]\n");
  return 0;
}

int RunStats(const Options& o, const std::string& group) {
  Client c;
  if (!ConnectOrComplain(o, &c)) return 1;
  std::vector<std::string> lines;
  if (!c.StatLines(group, &lines)) return Fail(c);
  if (o.json) {
    // Sorted by name as the text listing, values without the "\r".
    std::vector<std::pair<std::string, std::string>> kv;
    for (const std::string& l : lines) {
      if (auto p = ParseStatLinePerl(StripEol(l))) kv.push_back(*p);
    }
    StatMap sorted;
    for (const auto& p : kv) sorted[p.first] = p.second;  // the last duplicate wins
    Out(JsonObject({sorted.begin(), sorted.end()}) + "\n");
    return 0;
  }
  StatMap m = PerlStatMap(lines);
  if (group.empty()) {
    Out(FormatStatsListing(o.address.display, m));
  } else if (group == "settings") {
    Out(FormatNarrowListing(o.address.display, "Field", "Value", m));
  } else {
    Out(FormatNarrowListing(o.address.display, "Size", "Count", m));
  }
  return 0;
}

int RunKeys(const Options& o) {
  long limit = o.args.empty() ? 0 : strtol(o.args[0].c_str(), nullptr, 10);
  Client c;
  if (!ConnectOrComplain(o, &c)) return 1;
  fprintf(stderr, "Dumping memcache keys");
  if (limit) fprintf(stderr, " (limiting to %ld keys)", limit);
  fprintf(stderr, "\n");
  if (!c.Send("lru_crawler metadump all\r\n")) return Fail(c);
  std::string line;
  long count = 0;
  for (;;) {
    if (!c.ReadLine(&line)) return Fail(c);
    if (line.rfind("END", 0) == 0 || (limit && count == limit)) break;
    if (ParseMetadumpLine(line)) Out(line);
    ++count;
  }
  return 0;
}

}  // namespace syncached::tool
