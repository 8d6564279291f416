#include "server/option_kinds.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <sstream>

namespace syncached::server {

void Fail(const std::string& what) { throw ConfigError(what); }
void FailVerbatim(const std::string& what) { throw ConfigError(what, true); }

void RangeDoesNotFitTheField() { std::abort(); }

void ApplyNothing(const Action&, const Where&, const char*, Config*) {}

uint64_t ParseUnsigned(const Where& w, const char* arg, uint64_t min, uint64_t max) {
  const std::string name(w.option);
  errno = 0;
  char* end = nullptr;
  // strtoull would take "-1" as 2^64-1 and skip leading blanks.
  if (!arg || !*arg || *arg == '-')
    Fail("invalid value for " + name + ": '" + (arg ? arg : "") + "'");
  unsigned long long v = strtoull(arg, &end, 10);
  if (errno || *end != '\0' || v < min || v > max) {
    Fail("invalid value for " + name + ": '" + arg + "' (expected " + std::to_string(min) + ".." +
         std::to_string(max) + ")");
  }
  return v;
}

uint64_t ParseSize(const Where& w, const char* arg, uint64_t min, uint64_t max) {
  std::string s(arg ? arg : "");
  uint64_t mult = 1;
  if (!s.empty()) {
    char u = static_cast<char>(tolower(s.back()));
    if (u == 'k') mult = 1ull << 10;
    if (u == 'm') mult = 1ull << 20;
    if (u == 'g') mult = 1ull << 30;
    if (mult != 1) s.pop_back();
  }
  uint64_t v = ParseUnsigned(w, s.c_str(), 0, max) * mult;
  if (v < min || v > max) {
    Fail("invalid value for " + std::string(w.option) + ": '" + arg + "' (" + std::to_string(min) +
         " to " + std::to_string(max) + " bytes)");
  }
  return v;
}

double ParseDouble(const Where& w, const char* arg, double low, double high) {
  errno = 0;
  char* end = nullptr;
  double v = strtod(arg, &end);
  if (errno || end == arg || *end != '\0' || !(v >= low && v <= high)) {
    Fail("invalid value for " + std::string(w.option) + ": '" + std::string(arg) + "'");
  }
  return v;
}

void SplitInto(const std::string& s, char sep, std::vector<std::string>* out) {
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, sep)) {
    if (!part.empty()) out->push_back(part);
  }
}

void FailChoice(const Action& a, const Where& w, const char* arg) {
  std::string list;
  for (size_t i = 0; i < a.choices.size(); ++i) {
    if (i > 0) list += i + 1 == a.choices.size() ? " or " : ", ";
    list += a.choices[i].name;
  }
  Fail(std::string(w.option) + ": " + list + ", got '" + (arg ? arg : "") + "'");
}

}  // namespace syncached::server
