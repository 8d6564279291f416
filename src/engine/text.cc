// Classic text commands (doc/protocol.txt "Commands"), replies byte for byte as
// memcached 1.6 writes them; error replies come from protocol/reply.h's table.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "common/log.h"
#include "engine/commands.h"
#include "engine/ops.h"
#include "protocol/reply.h"

namespace syncached::engine {
namespace {

using protocol::Command;
using protocol::Request;
using protocol::TextError;

// Writes the decimal digits of v ending just before `end`; returns where they start.
char* FormatU64Back(char* end, uint64_t v) {
  // Two digits per division: flags and lengths are short, but every hit formats two.
  static constexpr char kPairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445"
      "46474849"
      "50515253545556575859606162636465666768697071727374757677787980818283848586878889909192939495"
      "96979899";
  while (v >= 100) {
    uint64_t r = v % 100;
    v /= 100;
    end -= 2;
    memcpy(end, kPairs + 2 * r, 2);
  }
  if (v >= 10) {
    end -= 2;
    memcpy(end, kPairs + 2 * v, 2);
  } else {
    *--end = static_cast<char>('0' + v);
  }
  return end;
}

// "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n". One resize of `out` instead of an
// append per field: this runs once per hit and the appends' capacity checks added up.
void AppendValueBlock(std::string* out, const storage::ItemRef& it, bool with_cas,
                      bool cas_enabled) {
  // The numbers, formatted backwards into their own buffer: " <flags> <bytes>[ <cas>]\r\n".
  char nums[3 * 21 + 2];
  char* end = nums + sizeof nums;
  char* p = end;
  *--p = '\n';
  *--p = '\r';
  std::string_view value = it.value();
  if (with_cas) {
    p = FormatU64Back(p, cas_enabled ? it.cas() : 0);
    *--p = ' ';
  }
  p = FormatU64Back(p, value.size());
  *--p = ' ';
  p = FormatU64Back(p, it.flags());
  *--p = ' ';
  size_t nums_len = static_cast<size_t>(end - p);
  std::string_view key = it.key();
  size_t old = out->size();
  constexpr std::string_view kValue = "VALUE ";
  size_t total = kValue.size() + key.size() + nums_len + value.size() + 2;
  if (value.size() > 512) {
    // resize() zero-fills: for a large value that is a second pass over the whole block.
    out->reserve(old + total);
    out->append(kValue);
    out->append(key);
    out->append(p, nums_len);
    out->append(value);
    out->append("\r\n", 2);
    return;
  }
  out->resize(old + total);
  char* w = out->data() + old;
  memcpy(w, kValue.data(), kValue.size());
  w += kValue.size();
  memcpy(w, key.data(), key.size());
  w += key.size();
  memcpy(w, p, nums_len);
  w += nums_len;
  memcpy(w, value.data(), value.size());
  w += value.size();
  w[0] = '\r';
  w[1] = '\n';
}

// get/gets/gat/gats: one VALUE block per hit, then END. Stops before a key once `out`
// reached out_limit (false; s.resume counts the keys answered): memcached's replies
// point at the items, ours copy them, and one line of a few thousand keys of large values
// would otherwise copy gigabytes. The request is then left unconsumed and picked up at
// that key once the connection's output drains.
bool ExecuteGet(Engine& e, Session& s, const Request& req, std::string* out, size_t out_limit) {
  std::string_view rest = req.keys, key;
  uint32_t index = 0;
  while (protocol::NextKey(&rest, &key)) {
    if (index++ < s.resume) continue;
    if (out->size() >= out_limit && index - 1 > s.resume) {
      s.resume = index - 1;
      return false;
    }
    ExecuteGetKey(e, s, req, key, out);
  }
  s.resume = 0;
  out->append("END\r\n", 5);
  return true;
}

void ExecuteStore(Engine& e, Session& s, const Request& req, std::string* out) {
  StoreArgs a;
  a.mode = StoreModeFor(req.cmd, StoreMode::kCas);
  a.key = req.key;
  a.value = req.data;
  a.flags = req.flags;
  a.exptime = e.AbsoluteExptime(req.exptime);
  a.cas = req.cas;
  s.stats->cmd_set.Add();
  e.prefix_stats().RecordSet(req.key);
  StoreOutcome o = DoStore(*e.store(), *s.stats, a, e.LogFor(s));
  switch (o.result) {
    case StoreResult::kStored:
      AppendLine(out, "STORED");
      break;
    case StoreResult::kNotStored:
      AppendLine(out, "NOT_STORED");
      break;
    case StoreResult::kExists:
      AppendLine(out, "EXISTS");
      break;
    case StoreResult::kNotFound:
      AppendLine(out, "NOT_FOUND");
      break;
    case StoreResult::kTooLarge:
      protocol::AppendTextError(out, TextError::kTooLarge);
      break;
    case StoreResult::kNoMemory:
      protocol::AppendTextError(out, TextError::kNoMemoryStoring);
      break;
  }
}

void ExecuteArith(Engine& e, Session& s, const Request& req, std::string* out) {
  ArithArgs a;
  a.key = req.key;
  a.incr = req.cmd == Command::kIncr;
  a.delta = req.delta;
  ArithOutcome o = DoArith(*e.store(), *s.stats, a, e.LogFor(s));
  switch (o.result) {
    case ArithResult::kOk:
    case ArithResult::kCreated:
      AppendU64(out, o.value);
      out->append("\r\n", 2);
      break;
    case ArithResult::kNonNumeric:
      protocol::AppendTextError(out, TextError::kNonNumeric);
      break;
    case ArithResult::kNoMemory:
      protocol::AppendTextError(out, TextError::kNoMemory);
      break;
    default:
      AppendLine(out, "NOT_FOUND");
      break;
  }
}

void ExecuteTouch(Engine& e, Session& s, const Request& req, std::string* out) {
  uint32_t exptime = e.AbsoluteExptime(req.exptime);
  storage::Store& store = *e.store();
  bool hit = store.Access(req.key, [&](storage::Accessor& acc) {
    storage::ItemRef it = acc.Find();
    LogGet(e.LogFor(s), store, req.key, it, acc);
    CountGet(store, *s.stats, it, true);
    if (!it) return false;
    acc.SetExptime(exptime);
    acc.MarkFetched();
    return true;
  });
  AppendLine(out, hit ? "TOUCHED" : "NOT_FOUND");
}

void ExecuteFlush(Engine& e, Session& s, const Request& req, std::string* out) {
  s.stats->cmd_flush.Add();
  if (!e.settings().flush_enabled) {
    protocol::AppendTextError(out, TextError::kFlushDisabled);
    return;
  }
  // A positive delay flushes at that (relative or absolute) time; 0 or negative now.
  uint32_t at = req.exptime > 0 ? e.AbsoluteExptime(req.exptime) : 0;
  e.store()->FlushAll(at);
  AppendLine(out, "OK");
}

void ExecuteShutdown(Engine& e, const Request& req, Session& s, std::string* out) {
  if (!e.settings().shutdown_command) {
    protocol::AppendTextError(out, TextError::kShutdownDisabled);
    return;
  }
  std::string_view args = req.args;
  while (!args.empty() && args.front() == ' ') args.remove_prefix(1);
  while (!args.empty() && args.back() == ' ') args.remove_suffix(1);
  if (args.empty() || args == "graceful") {
    s.close = true;
    s.close_reason = watch::CloseReason::kShutdown;
    e.host()->Shutdown(args == "graceful");
    return;
  }
  protocol::AppendTextError(out, TextError::kBadShutdownMode);
}

void ExecuteMemlimit(Engine& e, const Request& req, std::string* out) {
  if (req.number < 8) {
    protocol::AppendTextError(out, TextError::kMemlimitTooSmall);
    return;
  }
  e.store()->SetMaxBytes(uint64_t{req.number} << 20);
  AppendLine(out, "OK");
}

// There are no slab pages to move: reassign never has a spare page, automove is a
// no-op that still validates its argument like memcached.
void ExecuteSlabs(std::string_view args, std::string* out) {
  std::string_view a = args;
  auto next = [&a] {
    while (!a.empty() && a.front() == ' ') a.remove_prefix(1);
    size_t end = a.find(' ');
    std::string_view t = a.substr(0, end);
    a.remove_prefix(end == std::string_view::npos ? a.size() : end);
    return t;
  };
  std::string_view sub = next();
  uint32_t x, y;
  if (sub == "reassign") {
    std::string_view src = next(), dst = next();
    if (!protocol::ParseU32(src, &x) || !protocol::ParseU32(dst, &y) || !next().empty()) {
      protocol::AppendTextError(out, TextError::kBadFormat);
    } else {
      protocol::AppendTextError(out, TextError::kSlabsNoSpare);
    }
  } else if (sub == "automove") {
    std::string_view level = next();
    if (!protocol::ParseU32(level, &x) || !next().empty()) {
      protocol::AppendTextError(out, TextError::kBadFormat);
    } else if (x > 2) {
      protocol::AppendTextError(out, TextError::kError);
    } else {
      AppendLine(out, "OK");
    }
  } else {
    protocol::AppendTextError(out, TextError::kError);
  }
}

// memcached's debug-build `debugtime <seconds>`: moves the server's clock.
void ExecuteDebugTime(Engine& e, std::string_view args, std::string* out) {
  while (!args.empty() && args.front() == ' ') args.remove_prefix(1);
  std::string_view tok = args.substr(0, args.find(' '));
  OffsetClock* clock = e.settings().relaxed_privileges ? e.debug_clock() : nullptr;
  if (!clock) {
    protocol::AppendTextError(out, TextError::kError);
    return;
  }
  if (tok == "p" || tok == "r") {  // pause/resume: not supported, accepted
    AppendLine(out, "OK");
    return;
  }
  char buf[32];
  if (tok.empty() || tok.size() >= sizeof buf) {
    protocol::AppendTextError(out, TextError::kError);
    return;
  }
  memcpy(buf, tok.data(), tok.size());
  buf[tok.size()] = '\0';
  char* end;
  long long delta = strtoll(buf, &end, 10);
  if (*end != '\0') {
    protocol::AppendTextError(out, TextError::kError);
    return;
  }
  clock->AdvanceSeconds(delta);
  AppendLine(out, "OK");
}

// doc/protocol.txt "Watchers"; replies as memcached's process_watch_command.
void ExecuteWatch(Engine& e, Session& s, const Request& req, std::string* out) {
  if (!e.settings().watch_enabled) {
    protocol::AppendTextError(out, TextError::kWatchDisabled);
    return;
  }
  // Replies of pipelined requests still unsent: memcached refuses, except after a get,
  // whose replies it has already let go of (checked against 1.6.18).
  bool after_get = s.last_cmd == Command::kGet || s.last_cmd == Command::kGets ||
                   s.last_cmd == Command::kGat || s.last_cmd == Command::kGats;
  if (!out->empty() && !after_get) {
    protocol::AppendTextError(out, TextError::kWatchPipelined);
    return;
  }
  uint32_t kinds;
  if (!watch::ParseKinds(req.args, &kinds)) {
    protocol::AppendTextError(out, TextError::kError);
    return;
  }
  std::function<void()> wake = e.host() ? e.host()->WatchWaker(s) : nullptr;
  if (!wake) {
    protocol::AppendTextError(out, TextError::kWatcherFailed);
    return;
  }
  s.watcher = e.hub()->Add(kinds, std::move(wake));
  if (!s.watcher) {
    protocol::AppendTextError(out, TextError::kWatcherTooMany);
    return;
  }
  AppendLine(out, "OK");
}

}  // namespace

void ExecuteGetKey(Engine& e, Session& s, const Request& req, std::string_view key,
                   std::string* out) {
  bool with_cas = req.cmd == Command::kGets || req.cmd == Command::kGats;
  bool touch = req.cmd == Command::kGat || req.cmd == Command::kGats;
  uint32_t exptime = touch ? e.AbsoluteExptime(req.exptime) : 0;
  bool cas_enabled = e.settings().cas_enabled;
  storage::Store& store = *e.store();
  store.Access(key, [&](storage::Accessor& acc) {
    storage::ItemRef it = acc.Find();
    LogGet(e.LogFor(s), store, key, it, acc);
    CountGet(store, *s.stats, it, touch);
    e.prefix_stats().RecordGet(key, static_cast<bool>(it));
    if (!it) return;
    if (touch) acc.SetExptime(exptime);
    acc.MarkFetched();
    AppendValueBlock(out, it, with_cas, cas_enabled);
  });
}

bool ExecuteText(Engine& e, Session& s, const Request& req, std::string* out, size_t out_limit) {
  switch (req.cmd) {
    case Command::kGet:
    case Command::kGets:
    case Command::kGat:
    case Command::kGats:
      return ExecuteGet(e, s, req, out, out_limit);
    case Command::kLruCrawler:
      return ExecuteLruCrawler(e, s, req.args, out, out_limit);
    default:
      ExecuteOther(e, s, req, out);
      return true;
  }
}

void ExecuteOther(Engine& e, Session& s, const Request& req, std::string* out) {
  switch (req.cmd) {
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kCas:
      return ExecuteStore(e, s, req, out);
    case Command::kIncr:
    case Command::kDecr:
      return ExecuteArith(e, s, req, out);
    case Command::kTouch:
      return ExecuteTouch(e, s, req, out);
    case Command::kDelete: {
      e.prefix_stats().RecordDelete(req.key);
      DeleteResult r =
          DoDelete(*e.store(), *s.stats, req.key, 0, e.LogFor(s), watch::DeleteCmd::kDelete);
      AppendLine(out, r == DeleteResult::kDeleted ? "DELETED" : "NOT_FOUND");
      return;
    }
    case Command::kFlushAll:
      return ExecuteFlush(e, s, req, out);
    case Command::kVersion:
      out->append("VERSION ");
      AppendLine(out, e.settings().version);
      return;
    case Command::kVerbosity:
      e.mutable_settings().runtime.verbosity = std::min<uint32_t>(req.number, 2);
      AppendLine(out, "OK");
      return;
    case Command::kQuit:
      s.close = true;
      s.close_reason = watch::CloseReason::kNormal;
      return;
    case Command::kWatch:
      return ExecuteWatch(e, s, req, out);
    case Command::kShutdown:
      return ExecuteShutdown(e, req, s, out);
    case Command::kStats:
      return ExecuteStats(e, s, req.args, out);
    case Command::kCacheMemlimit:
      return ExecuteMemlimit(e, req, out);
    case Command::kSlabs:
      return ExecuteSlabs(req.args, out);
    case Command::kDebugTime:
      return ExecuteDebugTime(e, req.args, out);
    case Command::kRefreshCerts: {
      std::string err = e.host() ? e.host()->RefreshCerts()
                                 : std::string(protocol::TextErrorLine(TextError::kTlsDisabled));
      AppendLine(out, err.empty() ? "OK" : err);
      return;
    }
    case Command::kMembers: {
      std::string err =
          e.host() ? e.host()->Members(req.args) : "SERVER_ERROR members needs --members";
      AppendLine(out, err.empty() ? "OK" : err);
      return;
    }
    case Command::kRepair: {
      std::string err = e.host() ? e.host()->StartRepair() : "SERVER_ERROR repair needs --peers";
      AppendLine(out, err.empty() ? "OK" : err);
      return;
    }
    case Command::kClose:
      s.close = true;
      return;
    case Command::kError:
      if (req.error == TextError::kTooLarge) s.stats->store_too_large.Add();
      if (req.delete_on_error) {
        e.store()->Access(req.key, [](storage::Accessor& acc) {
          acc.Delete();
          return 0;
        });
      }
      protocol::AppendTextError(out, req.error);
      return;
    default:
      return ExecuteMeta(e, s, req, out);
  }
}

}  // namespace syncached::engine
