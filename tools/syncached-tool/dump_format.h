// The dump file: memcached-tool's own dump output, so a file from either tool
// restores with either `syncached-tool restore` or `nc`:
//
//   add <key> <flags> <exptime> <bytes>\r\n<value>\r\n
//
// exptime is the item's absolute expiry in Unix seconds (0: never), as
// `lru_crawler metadump` reports it. `restore` turns it into the time remaining
// when it sends the item (skipping items that expired meanwhile), so a restore
// into a server whose clock differs, or a file restored hours later, expires
// each item when it would have expired anyway.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace syncached::tool {

struct DumpRecord {
  std::string verb = "add";  // as read ("add" or "set"); dumps write "add"
  std::string key;
  uint32_t flags = 0;
  int64_t exp = 0;  // absolute Unix seconds, 0 = never
  std::string value;
};

std::string FormatDumpRecord(const std::string& key, const std::string& flags, int64_t exp,
                             const std::string& value);

// Reads records one by one from a stream (a file, or stdin).
class DumpReader {
 public:
  explicit DumpReader(FILE* f) : f_(f) {}
  // False at the end (error() empty) or on a malformed record (error() says
  // where).
  bool Next(DumpRecord* r);
  const std::string& error() const { return error_; }
  uint64_t offset() const { return offset_; }

 private:
  FILE* f_;
  uint64_t offset_ = 0;
  uint64_t line_ = 0;  // records read
  std::string error_;
};

// memcached reads an exptime above 30 days as an absolute time.
constexpr int64_t kMaxRelativeExptime = 60 * 60 * 24 * 30;

// The exptime to send for an item expiring at absolute `exp` (0 = never) when the
// time is `now`: the seconds remaining, or `exp` itself when that is more than 30
// days away. nullopt-like -1 when the item has expired.
int64_t ExptimeToSend(int64_t exp, int64_t now);

}  // namespace syncached::tool
