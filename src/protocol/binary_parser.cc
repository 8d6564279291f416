// Binary protocol parser. Which header shapes each opcode accepts, and what a bad one
// gets, follow memcached 1.6's binary protocol code (try_read_command_binary and
// dispatch_bin_command). Where memcached's framing goes wrong we keep the frame intact
// instead (each case is marked "memcached:").
//
// Buffering is bounded: besides a value of at most -I bytes (or a SASL payload of the
// same bound) a request holds at most 24 + 20 + 250 bytes; anything larger is refused
// from its header and the rest of its body is swallowed, never buffered.
#include "protocol/binary.h"
#include "protocol/protocol.h"

namespace syncached::protocol {

namespace binary {

const char* StatusMessage(uint16_t status) {
  switch (status) {
    case kKeyEnoent:
      return "Not found";
    case kKeyEexists:
      return "Data exists for key.";
    case kE2big:
      return "Too large.";
    case kEinval:
      return "Invalid arguments";
    case kNotStored:
      return "Not stored.";
    case kDeltaBadval:
      return "Non-numeric server-side value for incr or decr";
    case kAuthError:
      return "Auth failure.";
    case kUnknownCommand:
      return "Unknown command";
    case kEnomem:
      return "Out of memory";
    case kTmpFail:
      return "Temporary failure";
    default:
      return "";
  }
}

const char* NoMemoryMessage(NoMemory what) {
  switch (what) {
    case NoMemory::kAllocatingItem:
      return "Out of memory allocating item";
    case NoMemory::kIncrementing:
      return "Out of memory incrementing value";
  }
  return "";
}

}  // namespace binary

namespace {

using namespace binary;  // NOLINT: opcode and status names

struct Frame {
  Header h;
  size_t vlen = 0;       // bodylen - extlen - keylen
  size_t head_size = 0;  // header + extras + key
  size_t total = 0;      // the whole frame
};

// An error reply; the connection stays open and `swallow` more bytes are discarded.
ParseResult Error(Request* req, uint16_t status, size_t consumed, uint64_t swallow) {
  req->cmd = Command::kError;
  req->status = status;
  req->swallow = swallow;
  return {ParseResult::kOk, consumed};
}

// An error reply after which the connection closes (memcached's protocol errors).
ParseResult Fatal(Request* req, uint16_t status) {
  ParseResult r = Error(req, status, kHeaderSize, 0);
  req->close_after_error = true;
  return r;
}

// The shape each opcode must have; memcached answers any other with EINVAL and closes
// (handle_binary_protocol_error).
bool ShapeOk(const Header& h) {
  const uint32_t body = h.bodylen;
  const uint16_t k = h.keylen;
  const uint8_t e = h.extlen;
  switch (h.opcode) {
    case kVersion:
    case kNoop:
    case kQuit:
    case kQuitQ:
    case kSaslListMechs:
      return e == 0 && k == 0 && body == 0;
    case kFlush:
    case kFlushQ:
      return k == 0 && body == e && (e == 0 || e == 4);
    case kSet:
    case kSetQ:
    case kAdd:
    case kAddQ:
    case kReplace:
    case kReplaceQ:
      return e == 8 && k != 0 && body >= k + 8u;
    case kGet:
    case kGetQ:
    case kGetK:
    case kGetKQ:
    case kDelete:
    case kDeleteQ:
      return e == 0 && k != 0 && body == k;
    case kIncrement:
    case kIncrementQ:
    case kDecrement:
    case kDecrementQ:
      return e == 20 && k != 0 && body == k + 20u;
    case kAppend:
    case kAppendQ:
    case kPrepend:
    case kPrependQ:
    case kSaslAuth:
    case kSaslStep:
      return e == 0 && k != 0;
    // memcached: STAT and the touch family do not check the body length, so extra
    // body bytes are read as the next request; we refuse such frames instead.
    case kStat:
      return e == 0 && body == k;
    case kTouch:
    case kGat:
    case kGatQ:
    case kGatK:
    case kGatKQ:
      return e == 4 && k != 0 && body == k + 4u;
    // Not in memcached 1.6 (it answers Unknown command); the original binary protocol
    // spec's form: 4 bytes of extras, the new level.
    case kVerbosity:
      return e == 4 && k == 0 && body == 4;
    default:
      return true;
  }
}

bool Known(uint8_t op) {
  return op <= kPrependQ || (op >= kVerbosity && op <= kGatKQ && op != 0x1f);
}

void SetCommand(const Frame& f, std::string_view in, Request* req) {
  const Header& h = f.h;
  const char* extras = in.data() + kHeaderSize;
  std::string_view key = in.substr(kHeaderSize + h.extlen, h.keylen);
  std::string_view value = in.substr(f.head_size, f.vlen);
  req->key = key;
  switch (h.opcode) {
    case kGetKQ:
      req->quiet = true;
      [[fallthrough]];
    case kGetK:
      req->return_key = true;
      req->cmd = Command::kGet;
      break;
    case kGetQ:
      req->quiet = true;
      [[fallthrough]];
    case kGet:
      req->cmd = Command::kGet;
      break;
    case kGatKQ:
      req->quiet = true;
      [[fallthrough]];
    case kGatK:
      req->return_key = true;
      req->cmd = Command::kGat;
      break;
    case kGatQ:
      req->quiet = true;
      [[fallthrough]];
    case kGat:
      req->cmd = Command::kGat;
      break;
    case kTouch:
      req->cmd = Command::kTouch;
      break;
    case kSetQ:
    case kAddQ:
    case kReplaceQ:
      req->quiet = true;
      [[fallthrough]];
    case kSet:
    case kAdd:
    case kReplace: {
      uint8_t base = h.opcode >= kSetQ ? static_cast<uint8_t>(h.opcode - kSetQ + kSet) : h.opcode;
      req->cmd = base == kSet ? Command::kSet : base == kAdd ? Command::kAdd : Command::kReplace;
      req->flags = LoadBE32(extras);
      req->data = value;
      break;
    }
    case kAppendQ:
    case kPrependQ:
      req->quiet = true;
      [[fallthrough]];
    case kAppend:
    case kPrepend:
      req->cmd =
          (h.opcode == kAppend || h.opcode == kAppendQ) ? Command::kAppend : Command::kPrepend;
      req->data = value;
      break;
    case kDeleteQ:
      req->quiet = true;
      [[fallthrough]];
    case kDelete:
      req->cmd = Command::kDelete;
      break;
    case kIncrementQ:
    case kDecrementQ:
      req->quiet = true;
      [[fallthrough]];
    case kIncrement:
    case kDecrement:
      req->cmd =
          (h.opcode == kIncrement || h.opcode == kIncrementQ) ? Command::kIncr : Command::kDecr;
      req->delta = LoadBE64(extras);
      req->initial = LoadBE64(extras + 8);
      req->exptime = static_cast<int32_t>(LoadBE32(extras + 16));
      break;
    case kQuitQ:
      req->quiet = true;
      [[fallthrough]];
    case kQuit:
      req->cmd = Command::kQuit;
      break;
    case kFlushQ:
      req->quiet = true;
      [[fallthrough]];
    case kFlush:
      req->cmd = Command::kFlushAll;
      break;
    case kNoop:
      req->cmd = Command::kNoop;
      break;
    case kVersion:
      req->cmd = Command::kVersion;
      break;
    case kStat:
      req->cmd = Command::kStats;
      req->args = key;
      break;
    case kVerbosity:
      req->cmd = Command::kVerbosity;
      req->number = LoadBE32(extras);
      break;
    case kSaslListMechs:
      req->cmd = Command::kSaslListMechs;
      break;
    case kSaslAuth:
      req->cmd = Command::kSaslAuth;
      req->data = value;
      break;
    case kSaslStep:
      req->cmd = Command::kSaslStep;
      req->data = value;
      break;
    default:
      break;
  }
  // The touch family, set/add/replace and a flush with extras carry a 32-bit expiry as
  // their last extra.
  if (req->cmd == Command::kGat || req->cmd == Command::kTouch ||
      (req->cmd == Command::kFlushAll && h.extlen == 4)) {
    req->exptime = static_cast<int32_t>(LoadBE32(extras));
  } else if (req->cmd == Command::kSet || req->cmd == Command::kAdd ||
             req->cmd == Command::kReplace) {
    req->exptime = static_cast<int32_t>(LoadBE32(extras + 4));
  }
}

}  // namespace

ParseResult ParseBinary(std::string_view in, size_t item_size_max, Request* req) {
  Frame f;
  if (!DecodeHeader(in, &f.h)) return {ParseResult::kNeedMore, 0};
  const Header& h = f.h;
  // memcached closes at once on a bad magic byte, without a reply.
  if (h.magic != kRequestMagic) return {ParseResult::kClose, 0};
  req->Reset();
  req->opcode = h.opcode;
  req->opaque = h.opaque;
  req->cas = h.cas;
  // Lengths that do not add up: memcached answers Unknown command and closes.
  if (size_t{h.keylen} + h.extlen > h.bodylen) return Fatal(req, kUnknownCommand);
  f.vlen = h.bodylen - h.keylen - h.extlen;
  f.head_size = kHeaderSize + h.extlen + h.keylen;
  f.total = kHeaderSize + size_t{h.bodylen};
  // The request model keeps memcached's 250-byte keys (binary allows 65535).
  if (h.keylen > kMaxKeyLength) return Fatal(req, kEinval);
  if (!Known(h.opcode)) {
    // memcached: swallows bodylen bytes after the extras and key it already read, i.e.
    // extlen + keylen bytes of the next request; we skip exactly this frame's body.
    return Error(req, kUnknownCommand, kHeaderSize, h.bodylen);
  }
  if (!ShapeOk(h)) return Fatal(req, kEinval);

  // A value is refused from the header when it cannot fit, and swallowed unread.
  switch (h.opcode) {
    case kSet:
    case kSetQ:
    case kAdd:
    case kAddQ:
    case kReplace:
    case kReplaceQ:
    case kAppend:
    case kAppendQ:
    case kPrepend:
    case kPrependQ: {
      if (in.size() < f.head_size) return {ParseResult::kNeedMore, 0};
      uint32_t flags = h.extlen == 8 ? LoadBE32(in.data() + kHeaderSize) : 0;
      if (MemcachedItemSize(h.keylen, f.vlen, flags) > item_size_max) {
        req->key = in.substr(kHeaderSize + h.extlen, h.keylen);
        // memcached unlinks the old value of a refused set rather than keep serving it.
        req->delete_on_error = h.opcode == kSet || h.opcode == kSetQ;
        return Error(req, kE2big, f.head_size, f.vlen);
      }
      break;
    }
    case kSaslAuth:
    case kSaslStep:
      if (in.size() < f.head_size) return {ParseResult::kNeedMore, 0};
      if (h.keylen > kMaxSaslMechLength) return Error(req, kEinval, f.head_size, f.vlen);
      // memcached reads the payload into an item: one that cannot exist is ENOMEM.
      if (MemcachedItemSize(h.keylen, f.vlen, 0) > item_size_max) {
        return Error(req, kEnomem, f.head_size, f.vlen);
      }
      break;
    default:
      break;
  }
  if (in.size() < f.total) return {ParseResult::kNeedMore, 0};
  SetCommand(f, in, req);
  return {ParseResult::kOk, f.total};
}

}  // namespace syncached::protocol
