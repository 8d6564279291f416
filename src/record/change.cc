#include "record/change.h"

namespace syncached::record {

Sink::~Sink() = default;

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kPut:
      return "put";
    case Kind::kDelete:
      return "delete";
    case Kind::kFlush:
      return "flush";
    case Kind::kStalePut:
      return "stale-put";
  }
  return "unknown";
}

bool IsValid(const ChangeView& c) {
  switch (c.kind) {
    case Kind::kPut:
    case Kind::kStalePut:
      return !c.key.empty() && c.key.size() <= kMaxKeySize && c.value.size() <= kMaxValueSize;
    case Kind::kDelete:
      return !c.key.empty() && c.key.size() <= kMaxKeySize && c.value.empty();
    case Kind::kFlush:
      return c.key.empty() && c.value.empty();
  }
  return false;
}

std::string DebugString(const ChangeView& c) {
  std::string s = KindName(c.kind);
  if (c.kind != Kind::kFlush) {
    s += " k=";
    s.append(c.key.substr(0, 64));
    if (c.key.size() > 64) s += "...";
  }
  if (c.kind == Kind::kPut || c.kind == Kind::kStalePut) {
    s += " v=<" + std::to_string(c.value.size()) + " bytes> f=" + std::to_string(c.flags);
  }
  s += " e=" + std::to_string(c.exptime) + " @" + c.version.ToString();
  return s;
}

}  // namespace syncached::record
