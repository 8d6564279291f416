// Meta commands (doc/protocol.txt "Meta Commands"): mg ms md ma mn me. Return flags
// are written in the order the client asked for them, after the status code, as
// memcached 1.6 does; q suppresses only the nominal replies (mg EN, ms/md HD, ma HD/VA),
// never errors. Error replies come from protocol/reply.h's table.
#include "engine/commands.h"
#include "engine/ops.h"
#include "protocol/reply.h"

namespace syncached::engine {
namespace {

using protocol::Request;
using protocol::TextError;

void AppendKeyFlag(std::string* out, std::string_view key, bool binary) {
  out->append(" k", 2);
  if (!binary) {
    out->append(key);
    return;
  }
  protocol::Base64Encode(key, out);
  out->append(" b", 2);
}

// The O and k flags every meta reply echoes.
void AppendEchoFlags(const Request& req, std::string_view key, bool binary, std::string* out) {
  for (size_t i = 0; i < req.meta.ntokens; ++i) {
    std::string_view tok = req.meta.tokens[i];
    if (tok[0] == 'O') {
      out->push_back(' ');
      out->append(tok);
    } else if (tok[0] == 'k') {
      AppendKeyFlag(out, key, binary);
    }
  }
}

void MetaGet(Engine& e, Session& s, const Request& req, std::string* out) {
  const protocol::MetaFlags& m = req.meta;
  storage::Store& store = *e.store();
  uint32_t now = store.clock()->NowSeconds();
  bool cas_enabled = e.settings().cas_enabled;
  store.Access(req.key, [&](storage::Accessor& acc) {
    storage::ItemRef it = acc.Find();
    LogGet(e.LogFor(s), store, req.key, it, acc);
    bool created = false, won = false, ttl_set = false;
    if (!it && m.Has('N')) {
      storage::PutArgs put;
      put.exptime = e.AbsoluteExptime(m.vivify_ttl);
      put.key_binary = req.key_binary;
      put.cas = m.new_cas;
      if (acc.Put(put, &it) == storage::PutStatus::kOk) created = true;
    }
    if (!it) {
      CountGet(store, *s.stats, it, m.Has('T'));
      if (req.noreply) return;
      out->append("EN", 2);
      AppendEchoFlags(req, req.key, req.key_binary, out);
      out->append("\r\n", 2);
      return;
    }
    bool was_fetched = it.fetched();
    uint32_t last_access = it.last_access();
    if (m.Has('v')) {
      out->append("VA ", 3);
      AppendU64(out, it.value().size());
    } else {
      out->append("HD", 2);
    }
    for (size_t i = 0; i < m.ntokens; ++i) {
      std::string_view tok = m.tokens[i];
      switch (tok[0]) {
        case 'T':
          ttl_set = true;
          acc.SetExptime(e.AbsoluteExptime(m.ttl));
          break;
        case 'N':
          if (created) won = true;
          break;
        case 'R':
          if (!it.win_token_sent() && !created && it.exptime() != 0 &&
              it.exptime() < e.AbsoluteExptime(m.recache_ttl)) {
            won = true;
          }
          break;
        case 's':
          out->append(" s", 2);
          AppendU64(out, it.value().size());
          break;
        case 't':
          out->append(" t", 2);
          if (it.exptime() == 0)
            out->append("-1", 2);
          else
            AppendU64(out, static_cast<uint32_t>(it.exptime() - now));
          break;
        case 'c':
          out->append(" c", 2);
          AppendU64(out, cas_enabled ? it.cas() : 0);
          break;
        case 'f':
          out->append(" f", 2);
          AppendU64(out, it.flags());
          break;
        case 'l':
          out->append(" l", 2);
          AppendU64(out, now - last_access);
          break;
        case 'h':
          out->append(was_fetched ? " h1" : " h0", 3);
          break;
        case 'O':
          out->push_back(' ');
          out->append(tok);
          break;
        case 'k':
          AppendKeyFlag(out, it.key(), it.key_binary());
          break;
        default:
          break;
      }
    }
    if (it.win_token_sent()) out->append(" Z", 2);
    if (it.stale()) {
      out->append(" X", 2);
      if (!it.win_token_sent()) won = true;
    }
    if (won) {
      out->append(" W", 2);
      acc.SetWinTokenSent();
    }
    out->append("\r\n", 2);
    if (m.Has('v')) {
      out->append(it.value());
      out->append("\r\n", 2);
    }
    CountGet(store, *s.stats, it, ttl_set);
    if (!m.Has('u')) acc.MarkFetched();
  });
}

void MetaSet(Engine& e, Session& s, const Request& req, std::string* out) {
  const protocol::MetaFlags& m = req.meta;
  StoreArgs a;
  switch (m.mode) {
    case 'E':
      a.mode = StoreMode::kAdd;
      break;
    case 'A':
      a.mode = StoreMode::kAppend;
      break;
    case 'P':
      a.mode = StoreMode::kPrepend;
      break;
    case 'R':
      a.mode = StoreMode::kReplace;
      break;
    default:
      a.mode = StoreMode::kSet;
      break;
  }
  // A CAS turns set/replace into cas; add ignores it; append/prepend check it.
  if (m.Has('C') && (a.mode == StoreMode::kSet || a.mode == StoreMode::kReplace)) {
    a.mode = StoreMode::kCas;
  }
  a.key = req.key;
  a.value = req.data;
  a.flags = m.client_flags;
  a.exptime = m.Has('T') ? e.AbsoluteExptime(m.ttl) : 0;
  a.cas = m.Has('C') ? m.compare_cas : 0;
  a.new_cas = m.new_cas;
  a.set_stale = m.Has('I') && a.mode == StoreMode::kCas;
  a.key_binary = req.key_binary;
  s.stats->cmd_set.Add();
  StoreOutcome o = DoStore(*e.store(), *s.stats, a, e.LogFor(s));
  switch (o.result) {
    case StoreResult::kStored:
      if (req.noreply) return;
      out->append("HD", 2);
      break;
    case StoreResult::kExists:
      out->append("EX", 2);
      break;
    case StoreResult::kNotFound:
      out->append("NF", 2);
      break;
    case StoreResult::kNotStored:
      out->append("NS", 2);
      break;
    case StoreResult::kTooLarge:
      protocol::AppendTextError(out, TextError::kTooLarge);
      return;
    case StoreResult::kNoMemory:
      protocol::AppendTextError(out, TextError::kNoMemoryStoring);
      return;
  }
  for (size_t i = 0; i < m.ntokens; ++i) {
    std::string_view tok = m.tokens[i];
    if (tok[0] == 'O') {
      out->push_back(' ');
      out->append(tok);
    } else if (tok[0] == 'k') {
      AppendKeyFlag(out, req.key, req.key_binary);
    } else if (tok[0] == 'c') {
      out->append(" c", 2);
      AppendU64(out, e.settings().cas_enabled ? o.cas : 0);
    }
  }
  out->append("\r\n", 2);
}

void MetaDelete(Engine& e, Session& s, const Request& req, std::string* out) {
  const protocol::MetaFlags& m = req.meta;
  storage::Store& store = *e.store();
  size_t status_at = out->size();
  const char* status = store.Access(req.key, [&](storage::Accessor& acc) -> const char* {
    storage::ItemRef it = acc.Find(false);
    LogGet(e.LogFor(s), store, req.key, it, acc);
    if (!it) {
      s.stats->delete_misses.Add();
      return "NF";
    }
    if (m.Has('C') && it.cas() != m.compare_cas) {
      s.stats->delete_misses.Add();
      return "EX";
    }
    if (m.Has('x')) {
      // Newer memcached: drop the value, keep the item (flags and TTL stay).
      storage::PutArgs put;
      put.flags = it.flags();
      put.exptime = m.Has('T') ? e.AbsoluteExptime(m.ttl) : it.exptime();
      put.key_binary = it.key_binary();
      put.stale = m.Has('I');
      if (acc.Put(put, nullptr) != storage::PutStatus::kOk) acc.Delete();
      return "HD";
    }
    if (m.Has('I')) {
      // Invalidate: keep the item, mark it stale so the next reader wins a recache.
      if (m.Has('T')) acc.SetExptime(e.AbsoluteExptime(m.ttl));
      acc.MarkStale(true);
      return "HD";
    }
    s.stats->Class(ClassOf(store, it)).delete_hits.Add();
    s.stats->delete_hits.Add();
    LogDeletion(e.hub(), store, it, watch::DeleteCmd::kMetaDelete);
    acc.Delete();
    return "HD";
  });
  if (req.noreply && status[0] == 'H') return;
  out->append(status, 2);
  AppendEchoFlags(req, req.key, req.key_binary, out);
  out->append("\r\n", 2);
  (void)status_at;
}

void MetaArith(Engine& e, Session& s, const Request& req, std::string* out) {
  const protocol::MetaFlags& m = req.meta;
  ArithArgs a;
  a.key = req.key;
  a.incr = !(m.mode == 'D' || m.mode == 'd' || m.mode == '-');
  a.delta = m.delta;
  a.cas = m.Has('C') ? m.compare_cas : 0;
  a.create = m.Has('N');
  a.initial = m.initial;
  a.create_exptime = m.Has('N') ? e.AbsoluteExptime(m.vivify_ttl) : 0;
  a.set_exptime = m.Has('T');
  a.exptime = m.Has('T') ? e.AbsoluteExptime(m.ttl) : 0;
  ArithOutcome o = DoArith(*e.store(), *s.stats, a, e.LogFor(s));
  switch (o.result) {
    case ArithResult::kNonNumeric:
      protocol::AppendTextError(out, TextError::kNonNumeric);
      return;
    case ArithResult::kNoMemory:
      protocol::AppendTextError(out, TextError::kNoMemory);
      return;
    case ArithResult::kNotFound:
    case ArithResult::kExists:
      out->append(o.result == ArithResult::kNotFound ? "NF" : "EX", 2);
      AppendEchoFlags(req, req.key, req.key_binary, out);
      out->append("\r\n", 2);
      return;
    case ArithResult::kOk:
    case ArithResult::kCreated:
      break;
  }
  // memcached skips a successful reply under q, but not one that created the item.
  if (req.noreply && o.result == ArithResult::kOk) return;
  char num[24];
  int n = snprintf(num, sizeof num, "%llu", static_cast<unsigned long long>(o.value));
  if (m.Has('v')) {
    out->append("VA ", 3);
    AppendU64(out, static_cast<uint64_t>(n));
  } else {
    out->append("HD", 2);
  }
  uint32_t now = e.store()->clock()->NowSeconds();
  bool ttl_applied = false;  // memcached applies T where it stands among the flags
  for (size_t i = 0; i < m.ntokens; ++i) {
    std::string_view tok = m.tokens[i];
    switch (tok[0]) {
      case 'T':
        ttl_applied = true;
        break;
      case 'c':
        out->append(" c", 2);
        AppendU64(out, e.settings().cas_enabled ? o.cas : 0);
        break;
      case 't': {
        uint32_t exptime = ttl_applied ? o.exptime : o.exptime_before;
        out->append(" t", 2);
        if (exptime == 0)
          out->append("-1", 2);
        else
          AppendU64(out, static_cast<uint32_t>(exptime - now));
        break;
      }
      case 'O':
        out->push_back(' ');
        out->append(tok);
        break;
      case 'k':
        AppendKeyFlag(out, req.key, req.key_binary);
        break;
      default:
        break;
    }
  }
  if (m.Has('v')) {
    out->append("\r\n", 2);
    out->append(num, static_cast<size_t>(n));
  }
  out->append("\r\n", 2);
}

void MetaDebug(Engine& e, Session& s, const Request& req, std::string* out) {
  storage::Store& store = *e.store();
  uint32_t now = store.clock()->NowSeconds();
  store.Access(req.key, [&](storage::Accessor& acc) {
    storage::ItemRef it = acc.Find();
    if (!it) {
      AppendLine(out, "EN");
      return;
    }
    out->append("ME ", 3);
    if (it.key_binary())
      protocol::Base64Encode(it.key(), out);
    else
      out->append(it.key());
    size_t size = protocol::MemcachedItemSize(it.key().size(), it.value().size(), it.flags());
    // memcached prints exp as current_time - exptime: negative while the item lives.
    out->append(" exp=", 5);
    AppendI64(out, it.exptime() == 0 ? -1 : static_cast<int32_t>(now - it.exptime()));
    out->append(" la=", 4);
    AppendU64(out, now - it.last_access());
    out->append(" cas=", 5);
    AppendU64(out, e.settings().cas_enabled ? it.cas() : 0);
    out->append(it.fetched() ? " fetch=yes" : " fetch=no");
    out->append(" cls=", 5);
    AppendU64(out, store.SizeClassOf(it.key().size(), it.value().size(), it.flags()));
    out->append(" size=", 6);
    AppendU64(out, size);
    out->append("\r\n", 2);
  });
  s.stats->cmd_meta.Add();
}

}  // namespace

void ExecuteMeta(Engine& e, Session& s, const Request& req, std::string* out) {
  switch (req.cmd) {
    case protocol::Command::kMetaGet:
      return MetaGet(e, s, req, out);
    case protocol::Command::kMetaSet:
      return MetaSet(e, s, req, out);
    case protocol::Command::kMetaDelete:
      return MetaDelete(e, s, req, out);
    case protocol::Command::kMetaArith:
      return MetaArith(e, s, req, out);
    case protocol::Command::kMetaDebug:
      return MetaDebug(e, s, req, out);
    case protocol::Command::kMetaNoop:
      AppendLine(out, "MN");
      return;
    default:
      protocol::AppendTextError(out, TextError::kError);
      return;
  }
}

}  // namespace syncached::engine
