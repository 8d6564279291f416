// Front ends of the engine (internal): each turns a parsed request into calls on
// ops.h and storage, and writes the protocol's reply.
#pragma once

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>

#include "engine/engine.h"

namespace syncached::engine {

inline bool IsMeta(protocol::Command c) {
  using protocol::Command;
  return c == Command::kMetaGet || c == Command::kMetaSet || c == Command::kMetaDelete ||
         c == Command::kMetaArith || c == Command::kMetaNoop || c == Command::kMetaDebug;
}

// False: a get or a metadump stopped at out_limit with more to come (Session::resume);
// the request is not done and stays unconsumed.
bool ExecuteText(Engine& e, Session& s, const protocol::Request& req, std::string* out,
                 size_t out_limit);
// Every text request but get/gets/gat/gats and lru_crawler (ExecuteText's own).
void ExecuteOther(Engine& e, Session& s, const protocol::Request& req, std::string* out);
// One key of a get/gets/gat/gats: its VALUE block if it is a hit (no END).
void ExecuteGetKey(Engine& e, Session& s, const protocol::Request& req, std::string_view key,
                   std::string* out);
void ExecuteMeta(Engine& e, Session& s, const protocol::Request& req, std::string* out);
void ExecuteStats(Engine& e, Session& s, std::string_view args, std::string* out);
void ExecuteBinary(Engine& e, Session& s, const protocol::Request& req, std::string* out);

// Sharded nodes (engine/router.h, route.cc): runs a keyed request on the node the
// router picks, writing its reply to `out`. False: nothing done, run it here. `raw` is
// the request's bytes as the client sent them.
bool RouteText(Engine& e, Session& s, const protocol::Request& req, std::string_view raw,
               std::string* out);
bool RouteBinary(Engine& e, Session& s, const protocol::Request& req, std::string_view raw,
                 std::string* out);
// Where RouteText/RouteBinary would run this request: Router::kLocal (here), a node
// that runs it exactly as the client sent it, or Router::kSplit (a get over several
// owners, or no live owner: only Route* can answer it).
int ForwardTarget(Engine& e, const Session& s, const protocol::Request& req, bool binary);
// The reply to `req` if forwarding it fails after it was sent.
ForwardFailure ForwardFailureFor(const protocol::Request& req, bool binary);

// Receives `stats` output as name/value pairs; each protocol formats them its own way
// (text "STAT name value" lines, binary one packet per stat).
class StatSink {
 public:
  virtual ~StatSink() = default;
  virtual void Add(std::string_view name, std::string_view value) = 0;
};
// The one producer of the stats groups both protocols answer: "" (general), settings,
// items, slabs, sizes. False for any other group. (reset, detail and conns are commands
// each protocol handles itself.)
bool ProduceStats(Engine& e, std::string_view group, StatSink& sink);
// False: a metadump stopped at out_limit (Session::resume), as ExecuteText.
bool ExecuteLruCrawler(Engine& e, Session& s, std::string_view args, std::string* out,
                       size_t out_limit);
// -Y: the first request must be "set <any> <flags> <exptime> <n>\r\nuser pass\r\n".
// Returns bytes consumed (0: need more).
size_t AsciiAuth(Engine& e, Session& s, std::string_view in, std::string* out);

// Moves past a request of `parsed` bytes and the bytes it asked to discard (a refused
// value). Returns false when the discard runs past `in`: the session keeps swallowing
// as more bytes arrive, and the caller stops for now.
inline bool StepPast(Session& s, const protocol::Request& req, size_t parsed, std::string_view* in,
                     size_t* consumed) {
  *consumed += parsed;
  in->remove_prefix(parsed);
  if (!req.swallow) return true;
  size_t n = static_cast<size_t>(std::min<uint64_t>(req.swallow, in->size()));
  s.swallow = req.swallow - n;
  *consumed += n;
  in->remove_prefix(n);
  return s.swallow == 0;
}

// Small formatting helpers shared by the front ends.
inline void AppendU64(std::string* out, uint64_t v) {
  char buf[24];
  char* p = buf + sizeof buf;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  out->append(p, static_cast<size_t>(buf + sizeof buf - p));
}
inline void AppendI64(std::string* out, int64_t v) {
  if (v < 0) {
    out->push_back('-');
    AppendU64(out, static_cast<uint64_t>(-(v + 1)) + 1);
  } else {
    AppendU64(out, static_cast<uint64_t>(v));
  }
}
inline void AppendLine(std::string* out, std::string_view line) {
  out->append(line);
  out->append("\r\n", 2);
}
// A literal reply ("STORED"): no strlen, and one append instead of two.
template <size_t N>
inline void AppendLine(std::string* out, const char (&line)[N]) {
  char buf[N + 1];
  memcpy(buf, line, N - 1);
  buf[N - 1] = '\r';
  buf[N] = '\n';
  out->append(buf, N + 1);
}

}  // namespace syncached::engine
