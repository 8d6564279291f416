// Meta commands, after memcached 1.6's process_m*_command and _meta_flag_preparse.
// Checks run in memcached's order so the same bad request gets the same error reply
// (and the same number of swallowed bytes for ms).
#include "protocol/meta_parser.h"

namespace syncached::protocol {
namespace {

constexpr TextError kBadFormat = TextError::kBadFormat;
constexpr TextError kBadToken = TextError::kMetaBadToken;

ParseResult MetaError(Request* req, TextError error, size_t consumed, uint64_t swallow = 0) {
  req->cmd = Command::kError;
  req->error = error;
  req->swallow = swallow;
  req->error_ignores_noreply = true;
  return {ParseResult::kOk, consumed};
}

// Returns kNone when the flags are fine, else the error memcached answers.
TextError PreparseFlags(const std::string_view* tokens, size_t start, size_t n, char which,
                        Request* req) {
  MetaFlags& m = req->meta;
  TextError err = TextError::kNone;
  bool seen[128] = {};
  for (size_t i = start; i < n; ++i) {
    std::string_view tok = tokens[i];
    unsigned char o = static_cast<unsigned char>(tok[0]);
    if (o >= 127 || seen[o]) return TextError::kMetaDuplicateFlag;
    seen[o] = true;
    if (o >= 'A' && o <= 'z') m.seen |= uint64_t{1} << (o - 'A');
    std::string_view arg = tok.substr(1);
    switch (o) {
      case 'b': {
        size_t len = 0;
        if (!Base64DecodeTo(req->key, req->key_buf, sizeof req->key_buf - 1, &len) || len == 0) {
          err = TextError::kMetaBadKeyEncoding;
        } else {
          req->key = std::string_view(req->key_buf, len);
          req->key_binary = true;
        }
        break;
      }
      case 'N':
        if (!ParseI32(arg, &m.vivify_ttl)) err = kBadToken;
        break;
      case 'T':
        if (!ParseI32(arg, &m.ttl)) err = kBadToken;
        break;
      case 'R':
        if (!ParseI32(arg, &m.recache_ttl)) err = kBadToken;
        break;
      case 'F':
        // Keeps an earlier flag's error, unlike the others (memcached's order).
        if (!ParseU32(arg, &m.client_flags) && err == TextError::kNone) err = kBadFormat;
        break;
      case 'C':
        if (!ParseU64(arg, &m.compare_cas)) err = kBadToken;
        break;
      case 'E':  // newer memcached: explicit CAS for the new item
        if (!ParseU64(arg, &m.new_cas)) err = kBadToken;
        break;
      case 'M':
        if (tok.size() != 2)
          err = TextError::kMetaBadModeLength;
        else
          m.mode = tok[1];
        break;
      case 'J':
        if (!ParseU64(arg, &m.initial)) err = TextError::kMetaBadInitial;
        break;
      case 'D':
        if (!ParseU64(arg, &m.delta)) err = TextError::kMetaBadDelta;
        break;
      case 'q':
        req->noreply = true;
        break;
      case 'O':
      case 'P':
      case 'L':
      case 'l':
      case 'k':
      case 's':
      case 't':
      case 'c':
      case 'f':
      case 'v':
      case 'h':
      case 'u':
      case 'I':
        break;
      case 'x':  // md only (newer memcached): drop the value, keep the item
        if (which != 'd') return TextError::kMetaInvalidFlag;
        break;
      default:
        return TextError::kMetaInvalidFlag;
    }
  }
  return err;
}

void KeepTokens(const std::string_view* tokens, size_t start, size_t n, Request* req) {
  for (size_t i = start; i < n && req->meta.ntokens < kMaxMetaTokens; ++i) {
    req->meta.tokens[req->meta.ntokens++] = tokens[i];
  }
}

bool OpaqueTooLong(const Request& req) {
  for (size_t i = 0; i < req.meta.ntokens; ++i) {
    if (req.meta.tokens[i][0] == 'O' && req.meta.tokens[i].size() > kMaxOpaqueLength) return true;
  }
  return false;
}

ParseResult ParseMetaSet(std::string_view in, size_t line_end, const std::string_view* tokens,
                         size_t n, size_t item_size_max, Request* req) {
  if (tokens[1].size() > kMaxKeyLength) return MetaError(req, kBadFormat, line_end);
  if (n == 2) return MetaError(req, kBadFormat, line_end);
  if (n + 1 > kMaxMetaTokens) return MetaError(req, TextError::kMetaFlagsTooLong, line_end);
  int32_t vlen;
  if (!ParseI32(tokens[2], &vlen) || vlen < 0 || vlen > INT32_MAX - 2) {
    return MetaError(req, kBadFormat, line_end);
  }
  uint64_t total = static_cast<uint64_t>(vlen) + 2;
  req->key = tokens[1];
  if (TextError err = PreparseFlags(tokens, 3, n, 's', req); err != TextError::kNone) {
    return MetaError(req, err, line_end, total);
  }
  KeepTokens(tokens, 3, n, req);
  if (OpaqueTooLong(*req)) return MetaError(req, TextError::kMetaOpaqueTooLong, line_end, total);
  switch (req->meta.mode) {
    case 0:
    case 'E':
    case 'A':
    case 'P':
    case 'R':
    case 'S':
      break;
    default:
      return MetaError(req, TextError::kMetaBadSetMode, line_end, total);
  }
  if (MemcachedItemSize(req->key.size(), static_cast<size_t>(vlen), req->meta.client_flags) >
      item_size_max) {
    req->delete_on_error = true;  // ms drops the old value whatever the mode (memcached)
    return MetaError(req, TextError::kTooLarge, line_end, total);
  }
  if (in.size() - line_end < total) return {ParseResult::kNeedMore, 0};
  std::string_view block = in.substr(line_end, total);
  if (block[vlen] != '\r' || block[vlen + 1] != '\n') {
    return MetaError(req, TextError::kBadDataChunk, line_end + total);
  }
  req->cmd = Command::kMetaSet;
  req->data = block.substr(0, static_cast<size_t>(vlen));
  return {ParseResult::kOk, line_end + static_cast<size_t>(total)};
}

}  // namespace

ParseResult ParseMeta(std::string_view in, size_t line_end, char which,
                      const std::string_view* tokens, size_t n, size_t item_size_max,
                      Request* req) {
  switch (which) {
    case 'n':
      req->cmd = Command::kMetaNoop;
      return {ParseResult::kOk, line_end};
    case 'e': {
      if (n < 2 || tokens[1].size() > kMaxKeyLength) return MetaError(req, kBadFormat, line_end);
      req->key = tokens[1];
      if (n >= 3 && tokens[2] == "b") {
        size_t len = 0;
        if (!Base64DecodeTo(req->key, req->key_buf, sizeof req->key_buf - 1, &len) || len == 0) {
          return MetaError(req, kBadFormat, line_end);
        }
        req->key = std::string_view(req->key_buf, len);
        req->key_binary = true;
      }
      req->cmd = Command::kMetaDebug;
      return {ParseResult::kOk, line_end};
    }
    case 's':
      if (n < 2) return MetaError(req, TextError::kError, line_end);
      return ParseMetaSet(in, line_end, tokens, n, item_size_max, req);
    case 'g':
    case 'd':
    case 'a':
      break;
    default:
      req->cmd = Command::kError;
      req->error = TextError::kError;
      return {ParseResult::kOk, line_end};
  }
  if (n < 2) return MetaError(req, TextError::kError, line_end);
  if (tokens[1].size() > kMaxKeyLength) return MetaError(req, kBadFormat, line_end);
  if (n + 1 > kMaxMetaTokens) {
    return MetaError(req,
                     which == 'g' ? TextError::kMetaGetFlagsTooLong : TextError::kMetaFlagsTooLong,
                     line_end);
  }
  req->key = tokens[1];
  if (TextError err = PreparseFlags(tokens, 2, n, which, req); err != TextError::kNone) {
    return MetaError(req, which == 'g' ? err : TextError::kMetaInvalidOrDuplicateFlag, line_end);
  }
  KeepTokens(tokens, 2, n, req);
  if (OpaqueTooLong(*req)) return MetaError(req, TextError::kMetaOpaqueTooLong, line_end);
  if (which == 'a') {
    switch (req->meta.mode) {
      case 0:
      case 'I':
      case 'i':
      case '+':
      case 'D':
      case 'd':
      case '-':
        break;
      default:
        return MetaError(req, TextError::kMetaBadArithMode, line_end);
    }
  }
  req->cmd = which == 'g'   ? Command::kMetaGet
             : which == 'd' ? Command::kMetaDelete
                            : Command::kMetaArith;
  return {ParseResult::kOk, line_end};
}

}  // namespace syncached::protocol
