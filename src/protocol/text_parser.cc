// Text and meta protocol parser. Token rules follow memcached's tokenize_command:
// split on ' ' only, at most 24 tokens (23 real plus "the rest"), a line ends at '\n'
// with one preceding '\r' dropped. Argument checks and which error each earns follow
// memcached 1.6's text protocol (process_command_ascii and friends).
#include <cstddef>
#include <cstring>

#include "protocol/meta_parser.h"
#include "protocol/protocol.h"

namespace syncached::protocol {
namespace {

constexpr size_t kMaxTokens = 24;  // memcached's MAX_TOKENS, terminal token included

constexpr TextError kBadFormat = TextError::kBadFormat;
constexpr TextError kBadExptime = TextError::kBadExptime;

struct Tokens {
  Tokens() {}  // leaves t alone: only t[0..n) is ever read (zeroing it cost ~60 instructions)
  union {
    std::string_view t[kMaxTokens];
  };
  size_t n = 0;            // real tokens
  bool truncated = false;  // more tokens followed (memcached's non-null terminal)
  std::string_view rest;   // everything after the first token
};

// The end of the token starting at p (the next ' ' or `end`). Numbers and command words are
// short: a few bytes inline, then memchr for keys.
const char* TokenEnd(const char* p, const char* end) {
  for (int i = 0; i < 4; ++i, ++p) {
    if (p == end || *p == ' ') return p;
  }
  const char* space = static_cast<const char*>(memchr(p, ' ', static_cast<size_t>(end - p)));
  return space ? space : end;
}

void Tokenize(std::string_view line, Tokens* tk) {
  const char* p = line.data();
  const char* end = p + line.size();
  size_t n = 0;
  while (true) {
    while (p < end && *p == ' ') ++p;
    if (p == end) break;
    if (n == kMaxTokens - 1) {
      // The slot a "too many tokens" line counts as its last (ParseText sets n to
      // kMaxTokens): empty, like memcached's terminal token, never a stale view.
      tk->t[n] = std::string_view();
      tk->truncated = true;
      break;
    }
    const char* start = p;
    p = TokenEnd(p, end);
    tk->t[n++] = std::string_view(start, static_cast<size_t>(p - start));
  }
  tk->n = n;
  if (n > 0) {
    size_t after = static_cast<size_t>(tk->t[0].data() + tk->t[0].size() - line.data());
    tk->rest = line.substr(after);
  }
}

// memcached's ntokens counts the terminal token too.
size_t NTokens(const Tokens& tk) { return tk.n + 1; }

ParseResult Error(Request* req, TextError error, size_t consumed, uint64_t swallow = 0) {
  req->cmd = Command::kError;
  req->error = error;
  req->swallow = swallow;
  return {ParseResult::kOk, consumed};
}

bool IsNoreply(const Tokens& tk) { return tk.n > 0 && tk.t[tk.n - 1] == "noreply"; }

// set/add/replace/append/prepend/cas <key> <flags> <exptime> <bytes> [cas] [noreply]
ParseResult ParseStorage(std::string_view in, size_t line_end, const Tokens& tk, Command cmd,
                         size_t item_size_max, Request* req) {
  bool is_cas = cmd == Command::kCas;
  size_t nt = NTokens(tk);
  if (is_cas ? (nt != 7 && nt != 8) : (nt != 6 && nt != 7)) {
    return Error(req, TextError::kError, line_end);
  }
  req->noreply = IsNoreply(tk);
  if (tk.t[1].size() > kMaxKeyLength) return Error(req, kBadFormat, line_end);
  int32_t vlen;
  if (!ParseU32Fast(tk.t[2], &req->flags) || !ParseI32Fast(tk.t[3], &req->exptime) ||
      !ParseI32Fast(tk.t[4], &vlen)) {
    return Error(req, kBadFormat, line_end);
  }
  if (is_cas && !ParseU64Fast(tk.t[5], &req->cas)) return Error(req, kBadFormat, line_end);
  if (vlen < 0 || vlen > INT32_MAX - 2) return Error(req, kBadFormat, line_end);
  req->key = tk.t[1];
  size_t total = static_cast<size_t>(vlen) + 2;
  if (MemcachedItemSize(req->key.size(), static_cast<size_t>(vlen), req->flags) > item_size_max) {
    // memcached unlinks the old value of a failed set rather than keep serving it.
    req->delete_on_error = cmd == Command::kSet;
    return Error(req, TextError::kTooLarge, line_end, total);
  }
  if (in.size() - line_end < total) return {ParseResult::kNeedMore, 0};
  std::string_view block = in.substr(line_end, total);
  if (block[vlen] != '\r' || block[vlen + 1] != '\n') {
    return Error(req, TextError::kBadDataChunk, line_end + total);
  }
  req->cmd = cmd;
  req->data = block.substr(0, static_cast<size_t>(vlen));
  return {ParseResult::kOk, line_end + total};
}

// The key list of a get family command: checks every key's length. `need_key`: the
// caller has not tokenized, so an empty list (memcached: too few tokens) is ERROR here.
ParseResult ParseGetKeys(std::string_view keys, Command cmd, size_t line_end, bool need_key,
                         Request* req) {
  // A key over 250 bytes anywhere fails the whole request, as in memcached (which
  // drops the hits it already gathered).
  bool any = false;
  std::string_view rest = keys, key;
  while (NextKey(&rest, &key)) {
    if (key.size() > kMaxKeyLength) return Error(req, kBadFormat, line_end);
    any = true;
  }
  if (need_key && !any) return Error(req, TextError::kError, line_end);
  req->cmd = cmd;
  req->keys = keys;
  return {ParseResult::kOk, line_end};
}

ParseResult ParseGet(const Tokens& tk, Command cmd, size_t line_end, Request* req) {
  if (NTokens(tk) < 3) return Error(req, TextError::kError, line_end);
  std::string_view keys = tk.rest;
  if (cmd == Command::kGat || cmd == Command::kGats) {
    if (!ParseI32(tk.t[1], &req->exptime)) return Error(req, kBadExptime, line_end);
    keys = keys.substr(keys.find(tk.t[1]) + tk.t[1].size());
  }
  return ParseGetKeys(keys, cmd, line_end, false, req);
}

ParseResult ParseKeyed(const Tokens& tk, Command cmd, size_t line_end, Request* req) {
  size_t nt = NTokens(tk);
  req->noreply = IsNoreply(tk);
  switch (cmd) {
    case Command::kIncr:
    case Command::kDecr:
      if (nt != 4 && nt != 5) return Error(req, TextError::kError, line_end);
      if (tk.t[1].size() > kMaxKeyLength) return Error(req, kBadFormat, line_end);
      if (!ParseU64(tk.t[2], &req->delta)) {
        return Error(req, TextError::kBadDelta, line_end);
      }
      break;
    case Command::kTouch:
      if (nt != 4 && nt != 5) return Error(req, TextError::kError, line_end);
      if (tk.t[1].size() > kMaxKeyLength) return Error(req, kBadFormat, line_end);
      if (!ParseI32(tk.t[2], &req->exptime)) return Error(req, kBadExptime, line_end);
      break;
    case Command::kDelete: {
      if (nt < 3 || nt > 5) return Error(req, TextError::kError, line_end);
      if (nt > 3) {
        bool hold_is_zero = tk.t[2] == "0";
        bool valid = (nt == 4 && (hold_is_zero || req->noreply)) ||
                     (nt == 5 && hold_is_zero && req->noreply);
        if (!valid) {
          return Error(req, TextError::kBadDeleteFormat, line_end);
        }
      }
      if (tk.t[1].size() > kMaxKeyLength) return Error(req, kBadFormat, line_end);
      break;
    }
    default:
      break;
  }
  req->cmd = cmd;
  req->key = tk.t[1];
  return {ParseResult::kOk, line_end};
}

ParseResult ParseMisc(const Tokens& tk, std::string_view cmd, size_t line_end, Request* req) {
  size_t nt = NTokens(tk);
  req->args = tk.rest;
  if (cmd == "flush_all") {
    if (nt < 2 || nt > 4) return Error(req, TextError::kError, line_end);
    req->noreply = IsNoreply(tk);
    if (nt != (req->noreply ? 3u : 2u) && !ParseI32(tk.t[1], &req->exptime)) {
      return Error(req, kBadExptime, line_end);
    }
    req->cmd = Command::kFlushAll;
  } else if (cmd == "version") {
    req->cmd = Command::kVersion;
  } else if (cmd == "quit") {
    req->cmd = Command::kQuit;
  } else if (cmd == "verbosity") {
    if (nt != 3 && nt != 4) return Error(req, TextError::kError, line_end);
    req->noreply = IsNoreply(tk);
    if (!ParseU32(tk.t[1], &req->number)) return Error(req, kBadFormat, line_end);
    req->cmd = Command::kVerbosity;
  } else if (cmd == "stats") {
    req->cmd = Command::kStats;
  } else if (cmd == "shutdown") {
    req->cmd = Command::kShutdown;
  } else if (cmd == "watch") {
    req->noreply = IsNoreply(tk);  // then "noreply" is an unknown kind: a silent ERROR
    req->cmd = Command::kWatch;
  } else if (cmd == "lru_crawler") {
    req->cmd = Command::kLruCrawler;
  } else if (cmd == "slabs") {
    req->cmd = Command::kSlabs;
  } else if (cmd == "refresh_certs") {
    req->noreply = IsNoreply(tk);
    req->cmd = Command::kRefreshCerts;
  } else if (cmd == "repair") {
    req->noreply = IsNoreply(tk);
    req->cmd = Command::kRepair;
  } else if (cmd == "members") {
    if (nt != 3) return Error(req, TextError::kError, line_end);
    req->args = tk.t[1];
    req->cmd = Command::kMembers;
  } else if (cmd == "debugtime") {
    if (nt < 2) return Error(req, TextError::kError, line_end);
    req->cmd = Command::kDebugTime;
  } else if (cmd == "cache_memlimit") {
    if (nt != 3 && nt != 4) return Error(req, TextError::kError, line_end);
    req->noreply = IsNoreply(tk);
    if (!ParseU32(tk.t[1], &req->number)) return Error(req, kBadFormat, line_end);
    req->cmd = Command::kCacheMemlimit;
  } else if (tk.n > 0 && tk.t[tk.n - 1].substr(0, 5) == "HTTP/") {
    req->cmd = Command::kClose;  // someone pointed a browser at us
  } else {
    return Error(req, TextError::kError, line_end);
  }
  return {ParseResult::kOk, line_end};
}

}  // namespace

ParseResult ParseText(std::string_view in, size_t item_size_max, Request* req) {
  const char* nl = static_cast<const char*>(memchr(in.data(), '\n', in.size()));
  if (!nl) {
    if (in.size() <= kMaxLineLength) return {ParseResult::kNeedMore, 0};
    size_t sp = in.find_first_not_of(' ');
    std::string_view head = sp == std::string_view::npos ? in.substr(0, 0) : in.substr(sp);
    bool is_get = sp <= 100 && (head.substr(0, 4) == "get " || head.substr(0, 5) == "gets ");
    if (is_get && in.size() <= kMaxGetLineLength) return {ParseResult::kNeedMore, 0};
    return {ParseResult::kClose, 0};
  }
  size_t line_end = static_cast<size_t>(nl - in.data()) + 1;
  std::string_view line = in.substr(0, line_end - 1);
  if (line.size() > 1 && line.back() == '\r') line.remove_suffix(1);
  // memcached handles the line as a C string: a NUL byte ends it.
  if (const void* nul = memchr(line.data(), '\0', line.size())) {
    line = line.substr(0, static_cast<size_t>(static_cast<const char*>(nul) - line.data()));
  }

  req->Reset();
  // get/gets are most of the traffic, and for them the tokenizer only finds the command
  // word and the rest of the line: skip it when the line starts with exactly that word.
  if (line.size() > 4 && line[0] == 'g' && line[1] == 'e' && line[2] == 't') {
    if (line[3] == ' ') return ParseGetKeys(line.substr(3), Command::kGet, line_end, true, req);
    if (line[3] == 's' && line[4] == ' ') {
      return ParseGetKeys(line.substr(4), Command::kGets, line_end, true, req);
    }
  }
  Tokens tk;
  Tokenize(line, &tk);
  if (tk.n == 0 || tk.t[0].size() < 2) return Error(req, TextError::kError, line_end);
  if (tk.truncated) tk.n = kMaxTokens;  // counts as "too many" like memcached's terminal

  std::string_view cmd = tk.t[0];
  if (cmd.size() == 2 && cmd[0] == 'm') {
    return ParseMeta(in, line_end, cmd[1], tk.t, tk.n, item_size_max, req);
  }
  switch (cmd[0]) {
    case 'g':
      if (cmd == "get") return ParseGet(tk, Command::kGet, line_end, req);
      if (cmd == "gets") return ParseGet(tk, Command::kGets, line_end, req);
      if (cmd == "gat") return ParseGet(tk, Command::kGat, line_end, req);
      if (cmd == "gats") return ParseGet(tk, Command::kGats, line_end, req);
      return Error(req, TextError::kError, line_end);
    case 's':
      if (cmd == "set") return ParseStorage(in, line_end, tk, Command::kSet, item_size_max, req);
      break;
    case 'a':
      if (cmd == "add") return ParseStorage(in, line_end, tk, Command::kAdd, item_size_max, req);
      if (cmd == "append") {
        return ParseStorage(in, line_end, tk, Command::kAppend, item_size_max, req);
      }
      break;
    case 'c':
      if (cmd == "cas") return ParseStorage(in, line_end, tk, Command::kCas, item_size_max, req);
      break;
    case 'r':
      if (cmd == "replace") {
        return ParseStorage(in, line_end, tk, Command::kReplace, item_size_max, req);
      }
      break;
    case 'p':
      if (cmd == "prepend") {
        return ParseStorage(in, line_end, tk, Command::kPrepend, item_size_max, req);
      }
      break;
    case 'i':
      if (cmd == "incr") return ParseKeyed(tk, Command::kIncr, line_end, req);
      break;
    case 'd':
      if (cmd == "decr") return ParseKeyed(tk, Command::kDecr, line_end, req);
      if (cmd == "delete") return ParseKeyed(tk, Command::kDelete, line_end, req);
      break;
    case 't':
      if (cmd == "touch") return ParseKeyed(tk, Command::kTouch, line_end, req);
      break;
    case 'b':
      if (cmd == "bget") return ParseGet(tk, Command::kGet, line_end, req);
      break;
    default:
      break;
  }
  return ParseMisc(tk, cmd, line_end, req);
}

}  // namespace syncached::protocol
