#include "response_parser.h"

#include <cstring>
#include <string_view>

namespace syncached::bench {
namespace {

using std::string_view;

// Finds the next "\r\n"-terminated line in [p, end). kOk: *line is the line
// without its terminator and *next points past it.
enum class LineResult { kNeedMore, kOk, kBad };

LineResult NextLine(const char* p, const char* end, string_view* line, const char** next) {
  const void* nl = std::memchr(p, '\n', static_cast<size_t>(end - p));
  if (nl == nullptr) {
    return static_cast<size_t>(end - p) > ResponseParser::kMaxLine ? LineResult::kBad
                                                                   : LineResult::kNeedMore;
  }
  const char* n = static_cast<const char*>(nl);
  if (n == p || n[-1] != '\r') return LineResult::kBad;
  *line = string_view(p, static_cast<size_t>(n - 1 - p));
  *next = n + 1;
  return LineResult::kOk;
}

bool StartsWith(string_view s, string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// "EN" alone or "EN <flags>": meta status words may carry returned flags.
bool IsWord(string_view line, string_view word) {
  return StartsWith(line, word) && (line.size() == word.size() || line[word.size()] == ' ');
}

bool IsErrorLine(string_view line) {
  return line == "ERROR" || StartsWith(line, "CLIENT_ERROR") || StartsWith(line, "SERVER_ERROR");
}

// Splits off the next space-separated token of *s.
string_view Token(string_view* s) {
  size_t sp = s->find(' ');
  string_view t = s->substr(0, sp);
  *s = sp == string_view::npos ? string_view() : s->substr(sp + 1);
  return t;
}

bool ParseSize(string_view s, size_t* out) {
  if (s.empty() || s.size() > 10) return false;
  size_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  *out = v;
  return true;
}

uint16_t Be16(const char* p) {
  return static_cast<uint16_t>((static_cast<uint8_t>(p[0]) << 8) | static_cast<uint8_t>(p[1]));
}

uint32_t Be32(const char* p) { return (static_cast<uint32_t>(Be16(p)) << 16) | Be16(p + 2); }

}  // namespace

ResponseParser::ResponseParser(Proto proto, const KeySpace& keys, const Encoder& enc, Verify verify,
                               bool multi)
    : proto_(proto), keys_(keys), enc_(enc), verify_(verify), multi_(multi) {}

ResponseParser::Step ResponseParser::Parse(const Expect& e, const char* data, size_t len,
                                           size_t* used, Outcome* out) {
  const char* end = data + len;
  Step s = Step::kNeedMore;
  switch (proto_) {
    case Proto::kText:
      s = ParseText(e, data, end, used);
      break;
    case Proto::kMeta:
      s = ParseMeta(e, data, end, used);
      break;
    case Proto::kBinary:
      s = ParseBinary(e, data, end, used);
      break;
  }
  return s == Step::kDone ? Finish(out) : s;
}

ResponseParser::Step ResponseParser::Finish(Outcome* out) {
  *out = cur_;
  cur_ = Outcome();
  cursor_ = 0;
  in_data_ = done_after_data_ = false;
  return Step::kDone;
}

void ResponseParser::StartValue(size_t len, size_t trailer) {
  in_data_ = true;
  value_left_ = len;
  value_off_ = 0;
  trailer_left_ = trailer;
  check_bytes_ = false;
  if (verify_ != Verify::kNone && len != enc_.value_size()) {
    ++cur_.bad_values;
  } else {
    check_bytes_ = verify_ == Verify::kFull;
  }
}

bool ResponseParser::ConsumeData(const char** pp, const char* end) {
  const char* p = *pp;
  size_t n = std::min(value_left_, static_cast<size_t>(end - p));
  if (check_bytes_ && n > 0 && std::memcmp(p, enc_.value() + value_off_, n) != 0) {
    ++cur_.bad_values;
    check_bytes_ = false;
  }
  p += n;
  value_left_ -= n;
  value_off_ += n;
  while (value_left_ == 0 && trailer_left_ > 0 && p < end) {
    if (*p != (trailer_left_ == 2 ? '\r' : '\n')) return false;
    ++p;
    --trailer_left_;
  }
  if (value_left_ == 0 && trailer_left_ == 0) in_data_ = false;
  *pp = p;
  return true;
}

bool ResponseParser::MatchKey(const Expect& e, const char* key, size_t len) {
  char want[256];
  if (len != keys_.key_len()) return false;
  for (int i = cursor_; i < e.nkeys; ++i) {
    keys_.Format(e.keys[i], want);
    if (std::memcmp(want, key, len) == 0) {
      cursor_ = i + 1;
      return true;
    }
  }
  return false;
}

// Text protocol, doc/protocol.txt "Retrieval command" and "Storage commands".
ResponseParser::Step ResponseParser::ParseText(const Expect& e, const char* p, const char* end,
                                               size_t* used) {
  const char* start = p;
  for (;;) {
    if (in_data_) {
      if (!ConsumeData(&p, end)) return Desync("value not followed by \\r\\n");
      *used += static_cast<size_t>(p - start);
      start = p;
      if (in_data_) return Step::kNeedMore;
    }
    string_view line;
    const char* next;
    LineResult r = NextLine(p, end, &line, &next);
    if (r == LineResult::kNeedMore) return Step::kNeedMore;
    if (r == LineResult::kBad) return Desync("unterminated or overlong reply line");
    p = next;
    *used += static_cast<size_t>(p - start);
    start = p;
    if (e.op == Op::kSet) {
      if (line == "STORED") return Step::kDone;
      if (IsErrorLine(line) || line == "NOT_STORED" || line == "EXISTS" || line == "NOT_FOUND") {
        ++cur_.error_replies;
        return Step::kDone;
      }
      return Desync("unexpected reply to set");
    }
    if (StartsWith(line, "VALUE ")) {
      string_view rest = line.substr(6);
      string_view key = Token(&rest);
      Token(&rest);  // flags
      size_t bytes;
      if (!ParseSize(Token(&rest), &bytes)) return Desync("bad VALUE line");
      if (MatchKey(e, key.data(), key.size())) {
        ++cur_.hits;
      } else {
        ++cur_.bad_values;
      }
      StartValue(bytes, 2);
      continue;
    }
    if (line == "END") {
      cur_.misses = static_cast<uint32_t>(e.nkeys) - std::min<uint32_t>(cur_.hits, e.nkeys);
      return Step::kDone;
    }
    if (IsErrorLine(line)) {  // an error ends a get; memcached sends no END after it
      ++cur_.error_replies;
      return Step::kDone;
    }
    return Desync("unexpected reply to get");
  }
}

// Meta protocol, doc/protocol.txt "Meta Get" / "Meta Set" / "Meta No-Op".
ResponseParser::Step ResponseParser::ParseMeta(const Expect& e, const char* p, const char* end,
                                               size_t* used) {
  const char* start = p;
  for (;;) {
    if (in_data_) {
      if (!ConsumeData(&p, end)) return Desync("value not followed by \\r\\n");
      *used += static_cast<size_t>(p - start);
      start = p;
      if (in_data_) return Step::kNeedMore;
      if (done_after_data_) return Step::kDone;
    }
    string_view line;
    const char* next;
    LineResult r = NextLine(p, end, &line, &next);
    if (r == LineResult::kNeedMore) return Step::kNeedMore;
    if (r == LineResult::kBad) return Desync("unterminated or overlong reply line");
    p = next;
    *used += static_cast<size_t>(p - start);
    start = p;
    if (e.op == Op::kSet) {
      if (IsWord(line, "HD")) return Step::kDone;
      if (IsErrorLine(line) || IsWord(line, "NS") || IsWord(line, "EX") || IsWord(line, "NF")) {
        ++cur_.error_replies;
        return Step::kDone;
      }
      return Desync("unexpected reply to ms");
    }
    if (IsWord(line, "VA")) {
      if (line.size() < 4) return Desync("bad VA line");
      string_view rest = line.substr(3);
      size_t bytes;
      if (!ParseSize(Token(&rest), &bytes)) return Desync("bad VA line");
      bool matched = false;
      while (!rest.empty()) {
        string_view flag = Token(&rest);
        if (!flag.empty() && flag[0] == 'k') {
          matched = MatchKey(e, flag.data() + 1, flag.size() - 1);
        }
      }
      if (matched) {
        ++cur_.hits;
      } else {
        ++cur_.bad_values;
      }
      StartValue(bytes, 2);
      done_after_data_ = !multi_;
      continue;
    }
    if (multi_ && IsWord(line, "MN")) {
      cur_.misses = static_cast<uint32_t>(e.nkeys) - std::min<uint32_t>(cur_.hits, e.nkeys);
      return Step::kDone;
    }
    if (IsWord(line, "EN")) {  // a miss; with q only sent if the server ignores q
      if (!multi_) {
        cur_.misses = 1;
        return Step::kDone;
      }
      continue;
    }
    if (IsErrorLine(line)) {
      ++cur_.error_replies;
      if (!multi_) return Step::kDone;
      continue;  // one mg failed; the batch still ends with MN
    }
    return Desync("unexpected reply to mg");
  }
}

// Binary protocol, doc/protocol-binary.txt. Response header: magic, opcode,
// key length, extras length, data type, status, total body, opaque, cas.
ResponseParser::Step ResponseParser::ParseBinary(const Expect& e, const char* p, const char* end,
                                                 size_t* used) {
  using namespace binproto;
  const char* start = p;
  for (;;) {
    if (in_data_) {
      ConsumeData(&p, end);  // no trailer in binary
      *used += static_cast<size_t>(p - start);
      start = p;
      if (in_data_) return Step::kNeedMore;
      if (done_after_data_) return Step::kDone;
    }
    if (static_cast<size_t>(end - p) < kHeaderLen) return Step::kNeedMore;
    if (static_cast<uint8_t>(p[0]) != kResMagic) return Desync("bad binary response magic");
    const uint8_t op = static_cast<uint8_t>(p[1]);
    const size_t key_len = Be16(p + 2);
    const size_t extras = static_cast<uint8_t>(p[4]);
    const uint16_t status = Be16(p + 6);
    const size_t body = Be32(p + 8);
    const uint32_t opaque = Be32(p + 12);
    if (key_len + extras > body || key_len > 1024) return Desync("bad binary body length");
    if (static_cast<size_t>(end - p) < kHeaderLen + extras + key_len) return Step::kNeedMore;
    const char* key = p + kHeaderLen + extras;
    const size_t value_len = body - extras - key_len;
    p += kHeaderLen + extras + key_len;
    *used += static_cast<size_t>(p - start);
    start = p;

    // Default: skip the body (error text) as opaque data, without checks.
    auto skip = [&](bool done_after) {
      in_data_ = true;
      value_left_ = value_len;
      trailer_left_ = 0;
      check_bytes_ = false;
      done_after_data_ = done_after;
      if (value_len == 0) in_data_ = false;
    };
    // Singles are sent with opaque 0, the NOOP ending a batch with ~0 and each
    // key of a batch with its position (Encoder): a reply with another opaque
    // answers some other request.
    const bool batch_key = multi_ && e.op == Op::kGet && op == kOpGetKQ;
    const uint32_t want = multi_ && op == kOpNoop ? 0xffffffffu : 0;
    if (!batch_key && opaque != want) ++cur_.bad_values;
    if (e.op == Op::kSet) {
      if (op != kOpSet) return Desync("unexpected binary reply to SET");
      if (status != kStatusOk) ++cur_.error_replies;
      skip(true);
    } else if (!multi_) {
      if (op != kOpGetK) return Desync("unexpected binary reply to GETK");
      if (status == kStatusOk) {
        if (MatchKey(e, key, key_len)) {
          ++cur_.hits;
        } else {
          ++cur_.bad_values;
        }
        StartValue(value_len, 0);
        done_after_data_ = true;
        if (value_len == 0) in_data_ = false;
      } else {
        if (status == kStatusNotFound) {
          ++cur_.misses;
        } else {
          ++cur_.error_replies;
        }
        skip(true);
      }
    } else if (op == kOpGetKQ) {
      if (status == kStatusOk) {
        // The opaque is the key's position in the batch (Encoder::EncodeGet);
        // hits come back in request order.
        bool in_order =
            opaque < static_cast<uint32_t>(e.nkeys) && static_cast<int>(opaque) >= cursor_;
        if (in_order) cursor_ = static_cast<int>(opaque);
        if (in_order && MatchKey(e, key, key_len) && cursor_ == static_cast<int>(opaque) + 1) {
          ++cur_.hits;
        } else {
          ++cur_.bad_values;
        }
        StartValue(value_len, 0);
        done_after_data_ = false;
        if (value_len == 0) in_data_ = false;
      } else {
        ++cur_.error_replies;  // quiet gets send no miss; anything else is an error
        skip(false);
      }
    } else if (op == kOpNoop) {
      cur_.misses = static_cast<uint32_t>(e.nkeys) - std::min<uint32_t>(cur_.hits, e.nkeys);
      skip(true);
    } else {
      return Desync("unexpected binary reply in multi-get");
    }
    if (!in_data_ && done_after_data_) return Step::kDone;
  }
}

}  // namespace syncached::bench
