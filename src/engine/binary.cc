// Binary protocol front end: replies byte for byte as memcached 1.6 writes them
// (doc/protocol-binary.txt), error texts from StatusMessage's table (protocol/binary.h).
// Command semantics come from ops.h; this file only translates requests and outcomes.
//
// Quiet opcodes (SETQ, GETQ, ...) suppress the success reply only; errors are always
// answered, and GETQ/GETKQ/GATQ/GATKQ answer hits but not misses, so a client sends
// GETKQ... NOOP and reads hits until the NOOP's reply. Each reply echoes the request's
// opcode (quiet or not) and opaque.
#include "protocol/binary.h"

#include <algorithm>

#include "common/log.h"
#include "engine/commands.h"
#include "engine/ops.h"
#include "engine/sasl.h"

namespace syncached::engine {
namespace {

namespace bin = protocol::binary;
using protocol::Command;
using protocol::Request;

// The 32-bit expiry the parser carried bit for bit in Request::exptime.
uint32_t Exptime32(const Request& req) { return static_cast<uint32_t>(req.exptime); }

void Respond(const Request& req, std::string* out, uint64_t cas, std::string_view extras = {},
             std::string_view key = {}, std::string_view value = {}) {
  bin::AppendResponse(out, req.opcode, bin::kSuccess, req.opaque, cas, extras, key, value);
}

// A success reply, unless the opcode is quiet.
void Done(const Request& req, std::string* out, uint64_t cas = 0) {
  if (!req.quiet) Respond(req, out, cas);
}

void Fail(const Request& req, std::string* out, uint16_t status, const char* text = nullptr) {
  bin::AppendResponse(out, req.opcode, status, req.opaque, 0, {}, {},
                      text ? text : bin::StatusMessage(status));
}

// GET GETQ GETK GETKQ, TOUCH, GAT GATQ GATK GATKQ (memcached's process_bin_get_or_touch).
void Get(Engine& e, Session& s, const Request& req, std::string* out) {
  bool touch = req.cmd != Command::kGet;
  uint32_t exptime = touch ? e.AbsoluteExptime(Exptime32(req)) : 0;
  bool cas_enabled = e.settings().cas_enabled;
  storage::Store& store = *e.store();
  bool hit = store.Access(req.key, [&](storage::Accessor& acc) {
    storage::ItemRef it = acc.Find();
    LogGet(e.LogFor(s), store, req.key, it, acc);
    CountGet(store, *s.stats, it, touch);
    if (!it) return false;
    if (touch) acc.SetExptime(exptime);
    acc.MarkFetched();
    std::string flags;
    bin::AppendBE32(&flags, it.flags());
    Respond(req, out, cas_enabled ? it.cas() : 0, flags, req.return_key ? it.key() : "",
            req.cmd == Command::kTouch ? "" : it.value());
    return true;
  });
  e.prefix_stats().RecordGet(req.key, hit);
  if (hit || req.quiet) return;
  if (req.return_key) {
    // GETK/GATK misses carry the key and no text.
    bin::AppendResponse(out, req.opcode, bin::kKeyEnoent, req.opaque, 0, {}, req.key, {});
  } else {
    Fail(req, out, bin::kKeyEnoent);
  }
}

// SET ADD REPLACE APPEND PREPEND and their quiet forms (complete_update_bin).
void Update(Engine& e, Session& s, const Request& req, std::string* out) {
  StoreArgs a;
  a.mode = StoreModeFor(req.cmd, StoreMode::kSet);
  bool cas_enabled = e.settings().cas_enabled;
  a.cas = cas_enabled ? req.cas : 0;  // -C: memcached drops the request's CAS
  bool appending = a.mode == StoreMode::kAppend || a.mode == StoreMode::kPrepend;
  // A CAS turns set, add and replace alike into a cas command (memcached's NREAD_CAS).
  if (a.cas != 0 && !appending) a.mode = StoreMode::kCas;
  a.key = req.key;
  a.value = req.data;
  a.flags = appending ? 0 : req.flags;
  a.exptime = appending ? 0 : e.AbsoluteExptime(Exptime32(req));
  s.stats->cmd_set.Add();
  e.prefix_stats().RecordSet(req.key);
  StoreOutcome o = DoStore(*e.store(), *s.stats, a, e.LogFor(s));
  switch (o.result) {
    case StoreResult::kStored:
      return Done(req, out, cas_enabled ? o.cas : 0);
    case StoreResult::kExists:
      return Fail(req, out, bin::kKeyEexists);
    case StoreResult::kNotFound:
      return Fail(req, out, bin::kKeyEnoent);
    case StoreResult::kNoMemory:
      // memcached fails the allocation before storing (out_of_memory()).
      return Fail(req, out, bin::kEnomem, bin::NoMemoryMessage(bin::NoMemory::kAllocatingItem));
    case StoreResult::kTooLarge:
      if (!appending) return Fail(req, out, bin::kE2big);
      [[fallthrough]];  // an append that outgrows -I is not stored, as in memcached
    case StoreResult::kNotStored:
      if (a.mode == StoreMode::kAdd) return Fail(req, out, bin::kKeyEexists);
      if (a.mode == StoreMode::kReplace) return Fail(req, out, bin::kKeyEnoent);
      return Fail(req, out, bin::kNotStored);
  }
}

void Delete(Engine& e, Session& s, const Request& req, std::string* out) {
  e.prefix_stats().RecordDelete(req.key);
  uint64_t cas = e.settings().cas_enabled ? req.cas : 0;
  switch (DoDelete(*e.store(), *s.stats, req.key, cas, e.LogFor(s), watch::DeleteCmd::kDelete)) {
    case DeleteResult::kDeleted:
      return Done(req, out);
    case DeleteResult::kNotFound:
      return Fail(req, out, bin::kKeyEnoent);
    case DeleteResult::kExists:
      return Fail(req, out, bin::kKeyEexists);
  }
}

// INCREMENT DECREMENT (+Q): extras delta(8) initial(8) expiration(4); an expiration of
// 0xffffffff means "do not create" (complete_incr_bin). The reply value is 8 bytes BE.
void Arith(Engine& e, Session& s, const Request& req, std::string* out) {
  bool cas_enabled = e.settings().cas_enabled;
  ArithArgs a;
  a.key = req.key;
  a.incr = req.cmd == Command::kIncr;
  a.delta = req.delta;
  a.cas = cas_enabled ? req.cas : 0;
  a.create = Exptime32(req) != 0xffffffffu;
  a.initial = req.initial;
  a.create_exptime = a.create ? e.AbsoluteExptime(Exptime32(req)) : 0;
  ArithOutcome o = DoArith(*e.store(), *s.stats, a, e.LogFor(s));
  switch (o.result) {
    case ArithResult::kOk:
    case ArithResult::kCreated: {
      if (req.quiet) return;
      std::string value;
      bin::AppendBE64(&value, o.value);
      return Respond(req, out, cas_enabled ? o.cas : 0, {}, {}, value);
    }
    case ArithResult::kNotFound:
      return Fail(req, out, bin::kKeyEnoent);
    case ArithResult::kExists:
      return Fail(req, out, bin::kKeyEexists);
    case ArithResult::kNonNumeric:
      return Fail(req, out, bin::kDeltaBadval);
    case ArithResult::kNoMemory:
      return Fail(req, out, bin::kEnomem, bin::NoMemoryMessage(bin::NoMemory::kIncrementing));
  }
}

void Flush(Engine& e, Session& s, const Request& req, std::string* out) {
  // memcached answers a disabled flush (-F) with an auth error, and does not count it.
  if (!e.settings().flush_enabled) return Fail(req, out, bin::kAuthError);
  s.stats->cmd_flush.Add();
  uint32_t delay = Exptime32(req);
  e.store()->FlushAll(delay > 0 ? e.AbsoluteExptime(delay) : 0);
  Done(req, out);
}

// Each stat is one STAT packet (key = name, value = value); an empty one ends the list.
class BinaryStatSink final : public StatSink {
 public:
  BinaryStatSink(const Request& req, std::string* out) : req_(req), out_(out) {}
  void Add(std::string_view name, std::string_view value) override {
    bin::AppendResponse(out_, bin::kStat, bin::kSuccess, req_.opaque, 0, {}, name, value);
  }
  void End() { Add({}, {}); }

 private:
  const Request& req_;
  std::string* out_;
};

// STAT <group> (process_bin_stat): the groups memcached answers in binary, which are
// the text ones but `conns`. reset, settings and detail match as prefixes, as there.
void Stats(Engine& e, const Request& req, std::string* out) {
  std::string_view group = req.key;
  BinaryStatSink sink(req, out);
  if (group.starts_with("reset")) {
    e.ResetStats();
  } else if (group.starts_with("settings")) {
    ProduceStats(e, "settings", sink);
  } else if (group.starts_with("detail")) {
    std::string_view sub = group.substr(6);
    if (sub.starts_with(" dump")) {
      std::string dump;
      e.prefix_stats().Dump(&dump);
      sink.Add("detailed", dump);
    } else if (sub.starts_with(" on") || sub.starts_with(" off")) {
      e.prefix_stats().SetEnabled(sub.starts_with(" on"));
    } else {
      return Fail(req, out, bin::kKeyEnoent);
    }
  } else if (!ProduceStats(e, group, sink)) {
    return Fail(req, out, bin::kKeyEnoent);
  }
  sink.End();
}

// SASL_LIST_MECHS, SASL_AUTH, SASL_STEP (process_bin_sasl_auth and friends).
void Sasl(Engine& e, Session& s, const Request& req, std::string* out) {
  if (!e.settings().sasl) return Fail(req, out, bin::kUnknownCommand);
  s.authenticated = false;  // memcached's init_sasl_conn: any SASL command starts over
  if (req.cmd == Command::kSaslListMechs) {
    std::string mechs;
    if (!SaslListMechs(&s.sasl, &mechs)) return Fail(req, out, bin::kAuthError);
    return Respond(req, out, 0, {}, {}, mechs);
  }
  SaslReply r = req.cmd == Command::kSaslAuth ? SaslStart(&s.sasl, req.key, req.data)
                                              : SaslStep(&s.sasl, req.data);
  switch (r.outcome) {
    case SaslOutcome::kOk:
      s.authenticated = true;
      s.stats->auth_cmds.Add();
      return Respond(req, out, 0, {}, {}, "Authenticated");
    case SaslOutcome::kContinue:
      return bin::AppendResponse(out, req.opcode, bin::kAuthContinue, req.opaque, 0, {}, {},
                                 r.data);
    case SaslOutcome::kFail:
      s.stats->auth_cmds.Add();
      s.stats->auth_errors.Add();
      SC_LOG(kWarn, "SASL authentication failed (mechanism %s, user '%s'): %s", r.mech.c_str(),
             r.user.c_str(), r.error.c_str());
      return Fail(req, out, bin::kAuthError);
  }
}

void Error(Engine& e, Session& s, const Request& req, std::string* out) {
  uint16_t status = req.status;
  bool sasl_opcode = req.opcode >= bin::kSaslListMechs && req.opcode <= bin::kSaslStep;
  // Without -S memcached refuses SASL opcodes before looking at their payload.
  if (sasl_opcode && !e.settings().sasl && !req.close_after_error) {
    status = bin::kUnknownCommand;
  }
  if (status == bin::kE2big) s.stats->store_too_large.Add();
  if (req.delete_on_error) {
    e.store()->Access(req.key, [](storage::Accessor& acc) {
      acc.Delete();
      return 0;
    });
  }
  Fail(req, out, status);
  if (req.close_after_error) s.close = true;
}

// With -S, memcached answers every opcode but these with an auth error and closes
// before reading the body (memcached's authenticated()). True when it did so.
bool RefuseUnauthenticated(std::string_view in, std::string* out) {
  bin::Header h;
  if (!bin::DecodeHeader(in, &h) || h.magic != bin::kRequestMagic) return false;
  if (size_t{h.keylen} + h.extlen > h.bodylen) return false;  // framing errors come first
  switch (h.opcode) {
    case bin::kSaslListMechs:
    case bin::kSaslAuth:
    case bin::kSaslStep:
    case bin::kVersion:
      return false;
    default:
      bin::AppendResponse(out, h.opcode, bin::kAuthError, h.opaque, 0, {}, {},
                          bin::StatusMessage(bin::kAuthError));
      return true;
  }
}

}  // namespace

void ExecuteBinary(Engine& e, Session& s, const Request& req, std::string* out) {
  switch (req.cmd) {
    case Command::kGet:
    case Command::kGat:
    case Command::kTouch:
      return Get(e, s, req, out);
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
      return Update(e, s, req, out);
    case Command::kDelete:
      return Delete(e, s, req, out);
    case Command::kIncr:
    case Command::kDecr:
      return Arith(e, s, req, out);
    case Command::kFlushAll:
      return Flush(e, s, req, out);
    case Command::kNoop:
      return Respond(req, out, 0);
    case Command::kVersion:
      return Respond(req, out, 0, {}, {}, e.settings().version);
    case Command::kQuit:
      s.close = true;
      return Done(req, out);
    case Command::kVerbosity:
      e.mutable_settings().runtime.verbosity = std::min<uint32_t>(req.number, 2);
      return Respond(req, out, 0);
    case Command::kStats:
      return Stats(e, req, out);
    case Command::kSaslListMechs:
    case Command::kSaslAuth:
    case Command::kSaslStep:
      return Sasl(e, s, req, out);
    default:
      return Error(e, s, req, out);
  }
}

size_t Engine::ProcessBinary(Session& s, std::string_view in, std::string* out, size_t out_limit) {
  size_t consumed = 0;
  protocol::Request& req = s.req;
  while (!in.empty() && !s.close && out->size() < out_limit) {
    if (settings_.sasl && !s.authenticated && RefuseUnauthenticated(in, out)) {
      s.close = true;
      return consumed + in.size();
    }
    protocol::ParseResult r = protocol::ParseBinary(in, settings_.item_size_max, &req);
    if (r.status == protocol::ParseResult::kNeedMore) break;
    if (r.status == protocol::ParseResult::kClose) {
      s.close = true;
      return consumed + in.size();
    }
    bool sasl = req.cmd == protocol::Command::kSaslListMechs ||
                req.cmd == protocol::Command::kSaslAuth || req.cmd == protocol::Command::kSaslStep;
    if (syncing() && !AllowedWhileSyncing(req.cmd) && !sasl) {
      // Join gate, --join-mode error: the text protocol's SERVER_ERROR syncing.
      bin::AppendResponse(out, req.opcode, bin::kTmpFail, req.opaque, 0, {}, {},
                          bin::StatusMessage(bin::kTmpFail));
    } else if (router_ && s.defer_forwards &&
               (s.deferred_node = ForwardTarget(*this, s, req, true)) != Router::kLocal) {
      s.deferred = r.consumed;  // not consumed: the host takes it from here
      s.deferred_failure = ForwardFailureFor(req, true);
      break;
    } else if (router_ && !s.defer_forwards &&
               RouteBinary(*this, s, req, in.substr(0, r.consumed), out)) {
      // ran on an owner elsewhere; its reply is in `out` (a deferring session has just
      // asked the router: the request runs here)
    } else {
      ExecuteBinary(*this, s, req, out);
    }
    if (s.close) return consumed + in.size();
    if (!StepPast(s, req, r.consumed, &in, &consumed)) break;
  }
  return consumed;
}

}  // namespace syncached::engine
