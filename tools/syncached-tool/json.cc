#include "json.h"

#include <cstdio>

namespace syncached::tool {

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

namespace {

bool IsJsonNumber(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  if (i >= s.size()) return false;
  if (s[i] == '0') {
    ++i;
  } else if (s[i] >= '1' && s[i] <= '9') {
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  } else {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start) return false;
  }
  return i == s.size();
}

}  // namespace

std::string JsonScalar(std::string_view s) {
  return IsJsonNumber(s) ? std::string(s) : JsonString(s);
}

std::string JsonObject(const std::vector<std::pair<std::string, std::string>>& stats) {
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : stats) {
    if (!first) out += ", ";
    first = false;
    out += JsonString(k) + ": " + JsonScalar(v);
  }
  return out + "}";
}

}  // namespace syncached::tool
