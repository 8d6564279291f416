#include "persistence/format.h"

#include <xxhash.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace syncached::persistence {
namespace {
constexpr uint8_t kRecordMagic = 0xC5;  // the record codec's first byte
constexpr size_t kMetaFixed = 8;
constexpr size_t kChecksumSize = 4;

// Same checksum as the record codec: the low 32 bits of XXH3-64 (docs/FORMATS.md).
uint32_t Checksum32(const void* p, size_t n) { return static_cast<uint32_t>(XXH3_64bits(p, n)); }

void Put32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
uint32_t Get32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
}  // namespace

void EncodeFileHeader(const char* magic, uint64_t generation, std::string* out) {
  out->append(magic, 8);
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(generation >> (8 * i)));
}

bool DecodeFileHeader(std::string_view in, const char* magic, uint64_t* generation) {
  if (in.size() < kFileHeaderSize || memcmp(in.data(), magic, 8) != 0) return false;
  uint64_t g = 0;
  for (int i = 15; i >= 8; --i) g = (g << 8) | static_cast<uint8_t>(in[static_cast<size_t>(i)]);
  *generation = g;
  return true;
}

void EncodeMeta(std::string_view name, std::string_view value, std::string* out) {
  size_t start = out->size();
  out->push_back(static_cast<char>(kMetaMagic));
  out->push_back(static_cast<char>(name.size()));
  out->append(2, '\0');
  Put32(out, static_cast<uint32_t>(value.size()));
  out->append(name);
  out->append(value);
  Put32(out, Checksum32(out->data() + start, out->size() - start));
}

ScanResult ScanFrames(std::string_view in,
                      const std::function<void(const record::ChangeView&)>& on_change,
                      const std::function<void(std::string_view, std::string_view)>& on_meta) {
  ScanResult r;
  auto corrupt = [&](std::string why) {
    r.corrupt = true;
    r.reason = std::move(why);
    return r;
  };
  while (r.consumed < in.size()) {
    std::string_view rest = in.substr(r.consumed);
    auto magic = static_cast<uint8_t>(rest[0]);
    if (magic == 0 && rest.find_first_not_of('\0') == std::string_view::npos) {
      r.zero_tail = true;
      return r;
    }
    if (magic == kRecordMagic) {
      record::ChangeView c;
      record::DecodeResult d = record::DecodeChange(rest, &c);
      if (d.need_more()) {
        r.torn = true;
        return r;
      }
      if (d.corrupt()) return corrupt(std::string("change record: ") + d.reason());
      on_change(c);
      r.consumed += d.consumed;
    } else if (magic == kMetaMagic) {
      if (rest.size() < kMetaFixed) {
        r.torn = true;
        return r;
      }
      size_t name_len = static_cast<uint8_t>(rest[1]);
      uint32_t value_len = Get32(rest.data() + 4);
      if (name_len == 0 || rest[2] != 0 || rest[3] != 0 || value_len > kMaxMetaValue) {
        return corrupt("meta frame: bad header");
      }
      size_t total = kMetaFixed + name_len + value_len + kChecksumSize;
      if (rest.size() < total) {
        r.torn = true;
        return r;
      }
      if (Checksum32(rest.data(), total - kChecksumSize) !=
          Get32(rest.data() + total - kChecksumSize)) {
        return corrupt("meta frame: bad checksum");
      }
      on_meta(rest.substr(kMetaFixed, name_len), rest.substr(kMetaFixed + name_len, value_len));
      r.consumed += total;
    } else {
      char why[64];
      snprintf(why, sizeof why, "unknown frame type 0x%02x", magic);
      return corrupt(why);
    }
  }
  return r;
}

std::string JournalName(uint64_t generation) {
  char name[64];
  snprintf(name, sizeof name, "journal-%016" PRIx64 ".log", generation);
  return name;
}

std::string SnapshotName(uint64_t generation) {
  char name[64];
  snprintf(name, sizeof name, "snapshot-%016" PRIx64 ".dat", generation);
  return name;
}

bool ParseFileName(std::string_view name, bool* is_journal, uint64_t* generation) {
  std::string_view digits;
  if (name.size() == 8 + 16 + 4 && name.starts_with("journal-") && name.ends_with(".log")) {
    *is_journal = true;
    digits = name.substr(8, 16);
  } else if (name.size() == 9 + 16 + 4 && name.starts_with("snapshot-") && name.ends_with(".dat")) {
    *is_journal = false;
    digits = name.substr(9, 16);
  } else {
    return false;
  }
  uint64_t g = 0;
  for (char c : digits) {
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0) return false;
    g = (g << 4) | static_cast<uint64_t>(v);
  }
  *generation = g;
  return true;
}

}  // namespace syncached::persistence
