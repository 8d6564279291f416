// Incremental parser for the responses to the loadgen's own requests.
//
// Responses arrive in request order on a connection, so the parser is told
// which request the next bytes answer (Expect) and parses exactly that reply:
// it checks framing, matches returned keys against the requested ones, checks
// value lengths and (with --verify full) value bytes, and counts hits, misses
// and error replies. Value bytes are streamed: a response may be larger than
// the receive buffer. A line or binary header must fit in the buffer
// (kMaxLine); anything that cannot be framed is a desync, after which the
// connection is unusable.
//
// One parser per connection; not thread-safe. Borrowed KeySpace and Encoder
// must outlive it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "encoder.h"
#include "options.h"

namespace syncached::bench {

enum class Op : uint8_t { kGet, kSet };

struct Expect {
  Op op;
  int nkeys;             // gets: keys requested
  const uint32_t* keys;  // gets: the requested key indices, in request order
};

struct Outcome {
  uint32_t hits = 0;
  uint32_t misses = 0;
  uint32_t error_replies = 0;  // ERROR / CLIENT_ERROR / SERVER_ERROR / NOT_STORED / bad status
  uint32_t bad_values = 0;     // wrong length, wrong bytes, or a key that was not asked for
};

class ResponseParser {
 public:
  static constexpr size_t kMaxLine = 2048;

  enum class Step { kNeedMore, kDone, kDesync };

  ResponseParser(Proto proto, const KeySpace& keys, const Encoder& enc, Verify verify, bool multi);

  // Parses as much of [data, data+len) as belongs to the reply to `e`, adding
  // the consumed byte count to *used. kDone: the reply is complete and its
  // outcome is in *out; the parser is ready for the next request. kNeedMore:
  // everything usable was consumed (an incomplete line or header may remain).
  Step Parse(const Expect& e, const char* data, size_t len, size_t* used, Outcome* out);

  // Why the last kDesync happened.
  const char* error() const { return error_; }

 private:
  enum class Line { kNeedMore, kOk, kBad };

  Step ParseText(const Expect& e, const char* p, const char* end, size_t* used);
  Step ParseMeta(const Expect& e, const char* p, const char* end, size_t* used);
  Step ParseBinary(const Expect& e, const char* p, const char* end, size_t* used);

  // Consumes value bytes (and their "\r\n" trailer in text/meta). Returns
  // false on a bad trailer.
  bool ConsumeData(const char** p, const char* end);
  void StartValue(size_t len, size_t trailer);
  // Matches a returned key against e.keys from cursor_ on; false if absent.
  bool MatchKey(const Expect& e, const char* key, size_t len);
  Step Finish(Outcome* out);
  Step Desync(const char* why) {
    error_ = why;
    return Step::kDesync;
  }

  const Proto proto_;
  const KeySpace& keys_;
  const Encoder& enc_;
  const Verify verify_;
  const bool multi_;

  // Per-reply state, reset by Finish.
  Outcome cur_;
  int cursor_ = 0;            // next position in Expect::keys a returned key may match
  size_t value_left_ = 0;     // value bytes still to consume
  size_t value_off_ = 0;      // offset of the next value byte within the value
  size_t trailer_left_ = 0;   // "\r\n" bytes still to consume after the value
  bool check_bytes_ = false;  // compare value bytes with the Encoder's value
  bool done_after_data_ = false;
  bool in_data_ = false;
  const char* error_ = "";
};

}  // namespace syncached::bench
