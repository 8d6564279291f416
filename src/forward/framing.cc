// Where the sentinel's reply is among a node's replies. Text replies are walked line
// by line, stepping over data blocks, so a value holding "MN\r\n" is not mistaken for
// the sentinel's reply; binary replies by their headers' body lengths.
#include <cstring>

#include "forward/forward.h"
#include "protocol/protocol.h"

namespace syncached::forward {
namespace {

constexpr char kTextSentinel[] = "mn\r\n";
// A NOOP request with opaque 0x5eed5eed; nothing else forwarded is a NOOP.
constexpr unsigned char kBinarySentinel[24] = {0x80, 0x0a, 0,    0,    0, 0, 0, 0, 0, 0, 0, 0,
                                               0x5e, 0xed, 0x5e, 0xed, 0, 0, 0, 0, 0, 0, 0, 0};

// Token `n` (0-based, space-separated) of `line`; empty if absent.
std::string_view Token(std::string_view line, int n) {
  size_t pos = 0;
  for (int i = 0; i < n; ++i) {
    pos = line.find(' ', pos);
    if (pos == std::string_view::npos) return {};
    ++pos;
  }
  return line.substr(pos, line.find(' ', pos) - pos);
}

// A data block's length: protocol's own parser of plain digits.
bool ParseLength(std::string_view s, size_t* n) {
  uint64_t v;
  if (!protocol::ParsePlainDigits(s, &v)) return false;
  *n = static_cast<size_t>(v);
  return true;
}

bool FindText(std::string_view buf, size_t* scanned, size_t* before, size_t* after) {
  size_t pos = *scanned;
  while (true) {
    size_t eol = buf.find("\r\n", pos);
    if (eol == std::string_view::npos) return false;
    std::string_view line = buf.substr(pos, eol - pos);
    if (line == "MN") {
      *before = pos;
      *after = eol + 2;
      return true;
    }
    size_t next = eol + 2, data = 0;
    // A data block follows VALUE (get: its 4th token) and VA (meta: its 2nd).
    if (line.starts_with("VALUE ") && ParseLength(Token(line, 3), &data)) next += data + 2;
    if (line.starts_with("VA ") && ParseLength(Token(line, 1), &data)) next += data + 2;
    if (next > buf.size()) return false;
    pos = next;
    *scanned = pos;
  }
}

bool FindBinary(std::string_view buf, size_t* scanned, size_t* before, size_t* after) {
  size_t pos = *scanned;
  while (buf.size() - pos >= 24) {
    const auto* h = reinterpret_cast<const unsigned char*>(buf.data() + pos);
    size_t body = (size_t{h[8]} << 24) | (size_t{h[9]} << 16) | (size_t{h[10]} << 8) | h[11];
    size_t next = pos + 24 + body;
    if (next > buf.size()) return false;
    if (h[1] == 0x0a && memcmp(h + 12, kBinarySentinel + 12, 4) == 0) {
      *before = pos;
      *after = next;
      return true;
    }
    pos = next;
    *scanned = pos;
  }
  return false;
}

}  // namespace

std::string_view Sentinel(Wire wire) {
  if (wire == Wire::kText) return {kTextSentinel, 4};
  return {reinterpret_cast<const char*>(kBinarySentinel), sizeof kBinarySentinel};
}

bool FindSentinelReply(Wire wire, std::string_view buf, size_t* scanned, size_t* before,
                       size_t* after) {
  return wire == Wire::kText ? FindText(buf, scanned, before, after)
                             : FindBinary(buf, scanned, before, after);
}

}  // namespace syncached::forward
