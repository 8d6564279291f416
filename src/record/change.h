// The change record: the resulting state of one successful mutation (the whole item,
// a delete marker, or a flush), never the command that caused it (docs/FORMATS.md). One
// record type serves replication and persistence alike; codec.h turns it into bytes.
// Internal header: include "record/record.h".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "record/version.h"

namespace syncached::record {

// Limits the codec enforces; they match memcached's (key ≤ 250 bytes, -I ≤ 1 GiB).
inline constexpr size_t kMaxKeySize = 250;
inline constexpr size_t kMaxValueSize = size_t{1} << 30;

enum class Kind : uint8_t {
  kPut = 1,       // key now holds value/flags/exptime at version
  kDelete = 2,    // key deleted at version (replicas keep a tombstone)
  kFlush = 3,     // everything older than version is gone as of exptime; no key, no value
  kStalePut = 4,  // like kPut, and the item is marked stale (meta invalidation: md I, ms I)
};

// Name for logs and test messages ("put", "delete", "flush", "unknown").
const char* KindName(Kind kind);

// A borrowed change: key and value point into someone else's memory (an item, an input
// buffer) and are valid only as long as that memory is.
//   kPut:    key 1..kMaxKeySize bytes, value 0..kMaxValueSize bytes.
//   kDelete: key 1..kMaxKeySize bytes, empty value.
//   kFlush:  empty key and value; exptime = Unix second it takes effect (0 = now).
// exptime is absolute Unix seconds (0 = never) so it means the same on every node.
struct ChangeView {
  Kind kind = Kind::kPut;
  Version version;
  std::string_view key;
  std::string_view value;
  uint32_t flags = 0;
  uint32_t exptime = 0;

  // Field by field; key and value compare by content.
  friend bool operator==(const ChangeView&, const ChangeView&) = default;
};

// Whether `c` satisfies the rules above; the codec encodes only valid changes and
// decodes only valid ones.
bool IsValid(const ChangeView& c);

// An owning change, for queues and tests that keep a change past the life of its source.
struct Change {
  Kind kind = Kind::kPut;
  Version version;
  std::string key;
  std::string value;
  uint32_t flags = 0;
  uint32_t exptime = 0;

  Change() = default;
  explicit Change(const ChangeView& v)
      : kind(v.kind),
        version(v.version),
        key(v.key),
        value(v.value),
        flags(v.flags),
        exptime(v.exptime) {}
  // Borrows from this Change: valid until it is modified or destroyed.
  ChangeView view() const { return ChangeView{kind, version, key, value, flags, exptime}; }
  operator ChangeView() const { return view(); }  // NOLINT: like string -> string_view

  friend bool operator==(const Change&, const Change&) = default;
};

// "put k=... v=<n bytes> f=... e=... @version", for logs and test failures.
std::string DebugString(const ChangeView& c);

// Sink: the one interface through which storage and engine publish every successful
// mutation, after it is applied; replication and persistence subscribe to it.
//
// Threading: OnChange is called from worker threads, concurrently, for different keys
// and possibly the same key, so implementations must be thread-safe. It runs on the
// request path and must not block: no disk I/O, no fsync, no lock held across I/O, no
// waiting on a network peer. Copy what is needed (Change, or EncodeChange into a
// buffer) and hand it to a background thread. Callers do not promise an order between
// threads; subscribers do not need one, because every consumer applies changes by
// version (newest wins), whatever the order of arrival.
// Lifetime: `change` and the bytes it points to are valid only during the call.
class Sink {
 public:
  virtual ~Sink();
  virtual void OnChange(const ChangeView& change) = 0;
};

}  // namespace syncached::record
