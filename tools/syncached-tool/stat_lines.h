// Parsing the server's reply lines: STAT lines the way memcached-tool's regexes
// read them, and `lru_crawler metadump` lines.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace syncached::tool {

// The line without its trailing "\r\n" or "\n".
std::string_view StripEol(std::string_view line);

// memcached-tool's /^STAT\s+(\S*)\s+(.*)/ on a line after Perl's chomp: the value
// keeps the "\r" of "\r\n" (the script prints it; matching its bytes means doing the
// same). nullopt when the line does not match.
std::optional<std::pair<std::string, std::string>> ParseStatLinePerl(std::string_view line);

// %XX -> byte, as memcached-tool's s/%(.{2})/chr hex $1/eg (a bad pair decodes
// to what Perl's hex() makes of it: its leading hex digits, else 0).
std::string UrlDecode(std::string_view s);

struct MetadumpEntry {
  std::string key;  // decoded
  int64_t exp = 0;  // absolute unix seconds; 0 = never (metadump's -1)
};

// "key=foo exp=2147483647 la=... " -> entry; nullopt for any other line
// (memcached-tool's /^key=(\S+) exp=(-?\d+) .*/).
std::optional<MetadumpEntry> ParseMetadumpLine(std::string_view line);

// Stats as name -> value, the last of duplicates winning (a Perl hash), sorted
// by name bytewise (Perl's sort).
using StatMap = std::map<std::string, std::string>;

}  // namespace syncached::tool
