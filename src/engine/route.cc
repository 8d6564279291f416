// Sharded nodes: which keyed requests run elsewhere, and relaying them (router.h).
// A request that runs on another node is sent as the client sent it, so that node
// answers it exactly as if the client had asked it: q, noreply, O, k, opaque and quiet
// misses need no translation here. Only a multi-key get is split per owner and its
// VALUE blocks merged back in the client's key order.
#include <deque>
#include <string>
#include <vector>

#include "engine/commands.h"
#include "protocol/binary.h"
#include "protocol/reply.h"

namespace syncached::engine {
namespace {

using protocol::Command;
using protocol::Request;
namespace bin = protocol::binary;

// Picks per request: one per owner at most, plus a spare for a pick that races a node
// coming back.
constexpr int kMaxAttempts = 8;

bool IsKeyedText(Command c) {
  switch (c) {
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kCas:
    case Command::kDelete:
    case Command::kIncr:
    case Command::kDecr:
    case Command::kTouch:
    case Command::kMetaGet:
    case Command::kMetaSet:
    case Command::kMetaDelete:
    case Command::kMetaArith:
    case Command::kMetaDebug:
      return true;
    default:
      return false;
  }
}

bool IsKeyedBinary(Command c) {
  switch (c) {
    case Command::kGet:
    case Command::kGat:
    case Command::kTouch:
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kDelete:
    case Command::kIncr:
    case Command::kDecr:
      return true;
    default:
      return false;
  }
}

enum class Routed : uint8_t { kLocal, kDone, kFailed, kTooLarge };

// One request for one key: sent to the node the router picks, again to the next pick
// while nodes turn out unreachable before anything was sent.
Routed RouteOne(Router& r, bool relayed, std::string_view key, Router::Wire wire,
                std::string_view raw, std::string* out) {
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    int node = r.Pick(key, relayed);
    if (node == Router::kLocal) return Routed::kLocal;
    if (node == Router::kNoOwner) break;
    Router::Sent sent = r.Forward(node, wire, raw, out);
    if (sent == Router::Sent::kOk) return Routed::kDone;
    if (sent == Router::Sent::kTooLarge) return Routed::kTooLarge;
    // It may have run there: sending it again could apply it twice (an incr).
    if (sent == Router::Sent::kFailed) break;
  }
  r.CountFailure();
  return Routed::kFailed;
}

// The VALUE blocks of a get reply ("VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n"
// ... "END\r\n"), each with its key. False when the reply is anything else (an error).
struct Block {
  std::string_view key, bytes;
};
bool SplitValueBlocks(std::string_view reply, std::vector<Block>* blocks) {
  while (true) {
    size_t eol = reply.find("\r\n");
    if (eol == std::string_view::npos) return false;
    std::string_view line = reply.substr(0, eol);
    if (line == "END") return eol + 2 == reply.size();
    if (!line.starts_with("VALUE ")) return false;
    std::string_view rest = line.substr(6), key, flags, len;
    if (!protocol::NextKey(&rest, &key) || !protocol::NextKey(&rest, &flags) ||
        !protocol::NextKey(&rest, &len)) {
      return false;
    }
    uint64_t n;
    if (!protocol::ParseU64(len, &n) || n > reply.size()) return false;
    size_t end = eol + 2 + static_cast<size_t>(n) + 2;
    if (end > reply.size()) return false;
    blocks->push_back({key, reply.substr(0, end)});
    reply.remove_prefix(end);
  }
}

// get/gets/gat/gats over keys of several owners: one request per owner with its keys
// in the client's order, then the hits in the client's order and one END. A failed
// owner's keys are picked again (a get may run twice); any key left without a live
// owner fails the whole request, as a get that cannot answer every key.
Routed RouteGet(Engine& e, Session& s, Router& r, const Request& req, std::string* out) {
  {
    // The common case on an owner, all keys here, checked without allocating.
    bool remote = false;
    std::string_view rest = req.keys, key;
    while (!remote && protocol::NextKey(&rest, &key))
      remote = r.Pick(key, s.relayed) != Router::kLocal;
    if (!remote) return Routed::kLocal;
  }
  std::vector<std::string_view> keys;
  std::vector<int> node;
  bool remote = false;
  std::string_view rest = req.keys, key;
  while (protocol::NextKey(&rest, &key)) {
    int n = r.Pick(key, s.relayed);
    if (n == Router::kNoOwner) {
      r.CountFailure();
      return Routed::kFailed;
    }
    remote |= n != Router::kLocal;
    keys.push_back(key);
    node.push_back(n);
  }
  if (!remote) return Routed::kLocal;  // a node came back since the check above
  std::deque<std::string> replies;     // kept in place: hits point into them
  std::vector<std::string_view> hit(keys.size());
  std::vector<bool> answered(keys.size(), false);
  std::string line;
  std::vector<Block> blocks;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    bool pending = false;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (node[i] == Router::kLocal || answered[i]) continue;
      // A request for every key of node[i] not yet answered.
      int target = node[i];
      line.clear();
      switch (req.cmd) {
        case Command::kGets:
          line = "gets";
          break;
        case Command::kGat:
        case Command::kGats:
          line = req.cmd == Command::kGat ? "gat " : "gats ";
          AppendI64(&line, req.exptime);
          break;
        default:
          line = "get";
          break;
      }
      std::vector<size_t> mine;
      for (size_t j = i; j < keys.size(); ++j) {
        if (node[j] != target || answered[j]) continue;
        mine.push_back(j);
        line.push_back(' ');
        line.append(keys[j]);
      }
      line.append("\r\n", 2);
      replies.emplace_back();
      std::string& reply = replies.back();
      Router::Sent sent = r.Forward(target, Router::Wire::kText, line, &reply);
      blocks.clear();
      if (sent == Router::Sent::kOk && SplitValueBlocks(reply, &blocks)) {
        // Blocks come in the order of `mine`, misses absent.
        size_t b = 0;
        for (size_t j : mine) {
          answered[j] = true;
          if (b < blocks.size() && blocks[b].key == keys[j]) hit[j] = blocks[b++].bytes;
        }
        continue;
      }
      if (sent == Router::Sent::kTooLarge) return Routed::kTooLarge;
      if (sent == Router::Sent::kOk) {
        // The owner answered with an error line (it is syncing, say): relay it.
        out->append(reply);
        return Routed::kDone;
      }
      for (size_t j : mine) {
        node[j] = r.Pick(keys[j], s.relayed);
        if (node[j] == Router::kNoOwner) {
          r.CountFailure();
          return Routed::kFailed;
        }
        pending = true;
      }
    }
    if (!pending) break;
    if (attempt + 1 == kMaxAttempts) {
      r.CountFailure();
      return Routed::kFailed;
    }
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    if (node[i] == Router::kLocal) {
      ExecuteGetKey(e, s, req, keys[i], out);
    } else {
      out->append(hit[i]);
    }
  }
  out->append("END\r\n", 5);
  return Routed::kDone;
}

}  // namespace

bool RouteText(Engine& e, Session& s, const Request& req, std::string_view raw, std::string* out) {
  Router& r = *e.router();
  Routed routed;
  if (req.cmd == Command::kGet || req.cmd == Command::kGets || req.cmd == Command::kGat ||
      req.cmd == Command::kGats) {
    routed = RouteGet(e, s, r, req, out);
  } else if (IsKeyedText(req.cmd)) {
    routed = RouteOne(r, s.relayed, req.key, Router::Wire::kText, raw, out);
  } else {
    return false;  // stats, version, flush_all...: about this node
  }
  if (routed == Routed::kLocal) return false;
  if (routed == Routed::kFailed) {
    protocol::AppendTextError(out, protocol::TextError::kForwardingFailed);
  } else if (routed == Routed::kTooLarge) {
    protocol::AppendTextError(out, protocol::TextError::kNoMemoryWritingGet);
  }
  return true;
}

namespace {
int Target(int pick) { return pick == Router::kNoOwner ? Router::kSplit : pick; }
}  // namespace

int ForwardTarget(Engine& e, const Session& s, const Request& req, bool binary) {
  Router& r = *e.router();
  if (binary) {
    return IsKeyedBinary(req.cmd) ? Target(r.Pick(req.key, s.relayed)) : Router::kLocal;
  }
  if (req.cmd == Command::kGet || req.cmd == Command::kGets || req.cmd == Command::kGat ||
      req.cmd == Command::kGats) {
    std::string_view rest = req.keys, key;
    int target = Router::kLocal;
    bool first = true;
    while (protocol::NextKey(&rest, &key)) {
      int pick = Target(r.Pick(key, s.relayed));
      if (!first && pick != target) return Router::kSplit;
      target = pick;
      first = false;
    }
    return target;
  }
  return IsKeyedText(req.cmd) ? Target(r.Pick(req.key, s.relayed)) : Router::kLocal;
}

ForwardFailure ForwardFailureFor(const Request& req, bool binary) {
  ForwardFailure f;
  f.binary = binary;
  f.silent = !binary && req.noreply && !IsMeta(req.cmd);
  f.opcode = req.opcode;
  f.opaque = req.opaque;
  return f;
}

namespace {
// A request's error in its own protocol: binary with its opcode and opaque (answered
// even to quiet opcodes), text unless it was sent noreply.
void AppendRequestError(const ForwardFailure& f, bin::Status status, protocol::TextError text,
                        std::string* out) {
  if (f.binary) {
    bin::AppendResponse(out, f.opcode, status, f.opaque, 0, {}, {}, bin::StatusMessage(status));
  } else if (!f.silent) {
    protocol::AppendTextError(out, text);
  }
}
}  // namespace

void AppendForwardFailure(const ForwardFailure& f, std::string* out) {
  AppendRequestError(f, bin::kTmpFail, protocol::TextError::kForwardingFailed, out);
}

void AppendReplyTooLarge(const ForwardFailure& f, std::string* out) {
  AppendRequestError(f, bin::kEnomem, protocol::TextError::kNoMemoryWritingGet, out);
}

bool RouteBinary(Engine& e, Session& s, const Request& req, std::string_view raw,
                 std::string* out) {
  if (!IsKeyedBinary(req.cmd)) return false;
  Routed routed = RouteOne(*e.router(), s.relayed, req.key, Router::Wire::kBinary, raw, out);
  if (routed == Routed::kLocal) return false;
  if (routed == Routed::kFailed) {
    // Errors are answered even to quiet opcodes.
    bin::AppendResponse(out, req.opcode, bin::kTmpFail, req.opaque, 0, {}, {},
                        bin::StatusMessage(bin::kTmpFail));
  } else if (routed == Routed::kTooLarge) {
    AppendReplyTooLarge(ForwardFailureFor(req, true), out);
  }
  return true;
}

}  // namespace syncached::engine
