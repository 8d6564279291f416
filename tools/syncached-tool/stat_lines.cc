#include "stat_lines.h"

#include <cctype>

namespace syncached::tool {

namespace {

// Perl's \s (no locale): space, \t, \n, \v, \f, \r.
bool PerlSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string_view StripEol(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

std::optional<std::pair<std::string, std::string>> ParseStatLinePerl(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);  // chomp
  if (line.substr(0, 4) != "STAT") return std::nullopt;
  size_t i = 4;
  size_t ws = i;
  while (i < line.size() && PerlSpace(line[i])) ++i;
  if (i == ws) return std::nullopt;
  size_t name_start = i;
  while (i < line.size() && !PerlSpace(line[i])) ++i;
  std::string name(line.substr(name_start, i - name_start));
  // A name that ends the line leaves nothing for the second \s+: no match.
  ws = i;
  while (i < line.size() && PerlSpace(line[i])) ++i;
  if (i == ws) return std::nullopt;
  return std::make_pair(std::move(name), std::string(line.substr(i)));
}

std::string UrlDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexDigit(s[i + 1]);
      int lo = HexDigit(s[i + 2]);
      int v = hi < 0 ? 0 : (lo < 0 ? hi : hi * 16 + lo);
      out += static_cast<char>(v);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::optional<MetadumpEntry> ParseMetadumpLine(std::string_view line) {
  line = StripEol(line);
  if (line.substr(0, 4) != "key=") return std::nullopt;
  size_t sp = line.find(' ', 4);
  if (sp == std::string_view::npos || sp == 4) return std::nullopt;
  std::string_view key = line.substr(4, sp - 4);
  std::string_view rest = line.substr(sp + 1);
  if (rest.substr(0, 4) != "exp=") return std::nullopt;
  rest.remove_prefix(4);
  bool neg = !rest.empty() && rest[0] == '-';
  if (neg) rest.remove_prefix(1);
  size_t n = 0;
  int64_t v = 0;
  while (n < rest.size() && isdigit(static_cast<unsigned char>(rest[n]))) {
    v = v * 10 + (rest[n] - '0');
    ++n;
  }
  if (n == 0 || n >= rest.size() || rest[n] != ' ') return std::nullopt;
  MetadumpEntry e;
  e.key = UrlDecode(key);
  e.exp = neg ? (v == 1 ? 0 : -v) : v;
  return e;
}

}  // namespace syncached::tool
