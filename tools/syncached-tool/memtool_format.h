// memcached-tool's output, byte for byte (Debian's memcached 1.6.18
// /usr/share/memcached/scripts/memcached-tool): the display table and the
// stats/settings/sizes listings. Pure functions of the server's reply lines.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "stat_lines.h"

namespace syncached::tool {

// The STAT lines of a reply (each with its "\r\n") as memcached-tool's hash: values
// keep the "\r" that its chomp leaves.
StatMap PerlStatMap(const std::vector<std::string>& lines);

// "stats": "#%-22s %5s %13s\n" then "%29s %14s\n" per stat, sorted by name.
std::string FormatStatsListing(const std::string& addr, const StatMap& stats);
// "settings" (title "Field"/"Value") and "sizes" ("Size"/"Count"): "#%-17s %5s %11s\n"
// then "%24s %12s\n".
std::string FormatNarrowListing(const std::string& addr, const char* left, const char* right,
                                const StatMap& stats);

struct SlabRow {
  int64_t id = 0;
  int64_t chunk_size = 0;
  int64_t age = 0;
  int64_t pages = 0;
  int64_t count = 0;
  bool full = false;
  int64_t evicted = 0;
  int64_t evict_time = 0;
  int64_t oom = 0;
};

// The classes memcached-tool's display mode lists, from the lines of `stats items`
// and `stats slabs`: 1 up to the last class `stats slabs` names, skipping those
// without pages (a missing field counts 0, as in Perl).
std::vector<SlabRow> SlabRows(const std::vector<std::string>& items_lines,
                              const std::vector<std::string>& slabs_lines);
// "  #  Item_Size  Max_age ..." and one line per row.
std::string FormatDisplay(const std::vector<SlabRow>& rows);
// memcached-tool's Item_Size cell: "96B" or "3.5K".
std::string ItemSizeCell(int64_t chunk_size);

}  // namespace syncached::tool
