#include "dump_format.h"

#include <cctype>
#include <cstring>

namespace syncached::tool {

std::string FormatDumpRecord(const std::string& key, const std::string& flags, int64_t exp,
                             const std::string& value) {
  std::string out = "add " + key + " " + flags + " " + std::to_string(exp) + " " +
                    std::to_string(value.size()) + "\r\n";
  out += value;
  out += "\r\n";
  return out;
}

namespace {

bool Number(const std::string& s, int64_t* v, bool allow_negative) {
  if (s.empty()) return false;
  size_t i = 0;
  bool neg = false;
  if (allow_negative && s[0] == '-') {
    neg = true;
    i = 1;
  }
  if (i >= s.size() || s.size() - i > 18) return false;
  int64_t x = 0;
  for (; i < s.size(); ++i) {
    if (!isdigit(static_cast<unsigned char>(s[i]))) return false;
    x = x * 10 + (s[i] - '0');
  }
  *v = neg ? -x : x;
  return true;
}

}  // namespace

bool DumpReader::Next(DumpRecord* r) {
  error_.clear();
  std::string line;
  uint64_t start = offset_;
  int c;
  while ((c = fgetc(f_)) != EOF) {
    ++offset_;
    if (c == '\n') break;
    line += static_cast<char>(c);
  }
  if (c == EOF && line.empty()) return false;
  ++line_;
  auto fail = [&](const std::string& why) {
    error_ = "record " + std::to_string(line_) + " (byte " + std::to_string(start) + "): " + why;
    return false;
  };
  if (c == EOF) return fail("truncated record header");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  std::string parts[6];
  size_t n = 0;
  for (size_t i = 0; i < line.size();) {
    while (i < line.size() && line[i] == ' ') ++i;
    if (i >= line.size()) break;
    size_t j = line.find(' ', i);
    if (j == std::string::npos) j = line.size();
    if (n == 6) return fail("too many fields");
    parts[n++] = line.substr(i, j - i);
    i = j;
  }
  if (n != 5 || (parts[0] != "add" && parts[0] != "set")) {
    return fail("expected \"add|set <key> <flags> <exptime> <bytes>\"");
  }
  int64_t flags = 0, exp = 0, bytes = 0;
  if (!Number(parts[2], &flags, false) || flags > 0xffffffffLL) return fail("bad flags");
  if (!Number(parts[3], &exp, true)) return fail("bad exptime");
  if (!Number(parts[4], &bytes, false)) return fail("bad length");
  r->verb = parts[0];
  r->key = parts[1];
  r->flags = static_cast<uint32_t>(flags);
  r->exp = exp;
  r->value.resize(static_cast<size_t>(bytes) + 2);
  size_t got = fread(r->value.data(), 1, r->value.size(), f_);
  offset_ += got;
  if (got != r->value.size()) return fail("truncated value of " + r->key);
  if (r->value[r->value.size() - 2] != '\r' || r->value.back() != '\n') {
    return fail("value of " + r->key + " not followed by \\r\\n");
  }
  r->value.resize(static_cast<size_t>(bytes));
  return true;
}

int64_t ExptimeToSend(int64_t exp, int64_t now) {
  if (exp == 0) return 0;
  if (exp <= now) return -1;
  int64_t left = exp - now;
  return left > kMaxRelativeExptime ? exp : left;
}

}  // namespace syncached::tool
