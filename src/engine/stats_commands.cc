// The `stats` command's subcommands (reset, detail, cachedump, conns, replication,
// persistence, cluster, or a group) and `lru_crawler` (crawl, metadump, its settings).
#include <cstdio>

#include "engine/commands.h"
#include "engine/ops.h"
#include "protocol/reply.h"

namespace syncached::engine {
namespace {

std::string_view NextToken(std::string_view* s) {
  while (!s->empty() && s->front() == ' ') s->remove_prefix(1);
  size_t end = s->find(' ');
  std::string_view tok = s->substr(0, end);
  s->remove_prefix(end == std::string_view::npos ? s->size() : end);
  return tok;
}

// `stats cachedump <class> <limit>`: keys of one size class (memcached's class ids, as
// `stats items` reports them), limit 0 = all, capped like memcached at a 2 MB reply.
// memcached walks the class's cold LRU; we walk the table, so the order differs.
void CacheDump(Engine& e, std::string_view args, std::string* out) {
  if (!e.settings().dump_enabled) {
    protocol::AppendTextError(out, protocol::TextError::kCachedumpDisabled);
    return;
  }
  std::string_view id_tok = NextToken(&args);
  std::string_view limit_tok = NextToken(&args);
  if (limit_tok.empty()) {
    protocol::AppendTextError(out, protocol::TextError::kCachedumpBadArgs);
    return;
  }
  uint64_t id, limit;
  if (!protocol::ParseU64(id_tok, &id) || !protocol::ParseU64(limit_tok, &limit) ||
      id > UINT32_MAX || limit > UINT32_MAX) {
    protocol::AppendTextError(out, protocol::TextError::kBadFormat);
    return;
  }
  if (id >= 64) {  // memcached's MAX_NUMBER_OF_SLAB_CLASSES
    protocol::AppendTextError(out, protocol::TextError::kIllegalSlabId);
    return;
  }
  constexpr size_t kMaxReply = 2 * 1024 * 1024 - 6;
  size_t start = out->size();
  uint64_t shown = 0;
  bool full = false;
  storage::Store& store = *e.store();
  store.ForEach([&](const storage::ItemRef& it) {
    if (full || (limit != 0 && shown >= limit) || it.key_binary()) return;
    if (store.SizeClassOf(it.key().size(), it.value().size(), it.flags()) != id) return;
    char line[320];
    int n = snprintf(line, sizeof line, "ITEM %.*s [%zu b; %u s]\r\n",
                     static_cast<int>(it.key().size()), it.key().data(), it.value().size(),
                     it.exptime());
    if (out->size() - start + static_cast<size_t>(n) > kMaxReply) {
      full = true;
      return;
    }
    out->append(line, static_cast<size_t>(n));
    ++shown;
  });
  out->append("END\r\n", 5);
}

}  // namespace

void ExecuteStats(Engine& e, Session& s, std::string_view args, std::string* out) {
  std::string_view rest = args;
  std::string_view sub = NextToken(&rest);
  if (sub == "reset") {
    e.ResetStats();
    AppendLine(out, "RESET");
    return;
  } else if (sub == "detail") {
    std::string_view arg = NextToken(&rest);
    if (arg == "on" || arg == "off") {
      e.prefix_stats().SetEnabled(arg == "on");
      AppendLine(out, "OK");
    } else if (arg == "dump") {
      e.prefix_stats().Dump(out);
    } else {
      protocol::AppendTextError(out, protocol::TextError::kStatsDetailUsage);
    }
    return;
  } else if (sub == "cachedump") {
    CacheDump(e, rest, out);
    return;
  } else if (sub == "conns") {
    if (e.host()) e.host()->AppendConnStats(out);
  } else if (sub == "replication") {
    if (e.host()) e.host()->AppendReplicationStats(out);
  } else if (sub == "persistence") {
    if (e.host()) e.host()->AppendPersistenceStats(out);
  } else if (sub == "cluster") {
    if (e.host()) e.host()->AppendClusterStats(out);
  } else {
    if (!AppendStatsText(e, sub, out)) {
      protocol::AppendTextError(out, protocol::TextError::kError);
      return;
    }
  }
  (void)s;
  out->append("END\r\n", 5);
}

// "all" (or "hash" for metadump) or a comma-separated list of memcached class ids, as a
// bitmask of ids; false for anything else (memcached's BADCLASS).
bool ParseCrawlClasses(std::string_view arg, bool allow_hash, uint64_t* mask) {
  if (arg == "all" || (allow_hash && arg == "hash")) {
    *mask = ~uint64_t{0};
    return true;
  }
  *mask = 0;
  while (!arg.empty()) {
    size_t comma = arg.find(',');
    uint32_t id;
    if (!protocol::ParseU32(arg.substr(0, comma), &id) || id == 0 || id >= 64) return false;
    *mask |= uint64_t{1} << id;
    arg.remove_prefix(comma == std::string_view::npos ? arg.size() : comma + 1);
  }
  return *mask != 0;
}

namespace {

// One shard's lines of `lru_crawler metadump` for the classes in the mask.
void AppendMetadump(storage::Store& store, size_t shard, uint64_t classes, bool cas_enabled,
                    std::string* out) {
  store.ForEachInShard(shard, [&](const storage::ItemRef& it) {
    size_t size = protocol::MemcachedItemSize(it.key().size(), it.value().size(), it.flags());
    uint32_t cls = store.SizeClassOf(it.key().size(), it.value().size(), it.flags());
    if (cls >= 64 || !(classes >> cls & 1)) return;
    out->append("key=");
    protocol::UriEncode(it.key(), out);
    out->append(" exp=");
    AppendI64(out, it.exptime() == 0 ? -1 : static_cast<int64_t>(it.exptime()));
    out->append(" la=");
    AppendU64(out, it.last_access());
    out->append(" cas=");
    AppendU64(out, cas_enabled ? it.cas() : 0);
    out->append(it.fetched() ? " fetch=yes" : " fetch=no");
    out->append(" cls=");
    AppendU64(out, cls);
    out->append(" size=");
    AppendU64(out, size);
    // syncached: the item's version (HLC reading and origin node), so tools can
    // check that replicas converged.
    out->append(" ver=");
    AppendU64(out, it.version().hlc);
    out->push_back('.');
    AppendU64(out, it.version().node);
    out->push_back('\n');
  });
}

// lru_crawler crawl, tocrawl, sleep, enable, disable (and memcached's ERROR otherwise).
void ExecuteCrawlerSetting(Engine& e, std::string_view sub, std::string_view arg, bool two,
                           std::string* out) {
  Settings& cfg = e.mutable_settings();
  uint64_t classes = 0;
  if (sub == "crawl" && two) {
    if (!cfg.runtime.lru_crawler) {
      protocol::AppendTextError(out, protocol::TextError::kCrawlerDisabled);
    } else if (!ParseCrawlClasses(arg, false, &classes)) {
      protocol::AppendTextError(out, protocol::TextError::kBadClass);
    } else {
      // memcached crawls in the background and answers at once; ours is done before
      // the OK, so lru_crawler_running never needs polling.
      e.store()->Crawl(classes);
      AppendLine(out, "OK");
    }
  } else if ((sub == "tocrawl" || sub == "sleep") && two) {
    uint32_t v;
    if (!protocol::ParseU32(arg, &v)) {
      protocol::AppendTextError(out, protocol::TextError::kBadFormat);
    } else if (sub == "sleep" && v > 1000000) {
      protocol::AppendTextError(out, protocol::TextError::kCrawlerSleepTooLong);
    } else {
      (sub == "sleep" ? cfg.runtime.lru_crawler_sleep : cfg.runtime.lru_crawler_tocrawl) = v;
      AppendLine(out, "OK");
    }
  } else if ((sub == "enable" || sub == "disable") && arg.empty()) {
    cfg.runtime.lru_crawler = sub == "enable";
    e.store()->SetCrawlerEnabled(cfg.runtime.lru_crawler);
    AppendLine(out, "OK");
  } else {
    protocol::AppendTextError(out, protocol::TextError::kError);
  }
}

}  // namespace

bool ExecuteLruCrawler(Engine& e, Session& s, std::string_view args, std::string* out,
                       size_t out_limit) {
  std::string_view rest = args;
  std::string_view sub = NextToken(&rest);
  std::string_view arg = NextToken(&rest);
  bool two = !arg.empty() && NextToken(&rest).empty();
  Settings& cfg = e.mutable_settings();
  uint64_t classes = 0;
  if (sub == "metadump" && two) {
    if (!cfg.runtime.lru_crawler) {
      protocol::AppendTextError(out, protocol::TextError::kCrawlerDisabled);
      return true;
    }
    if (!cfg.dump_enabled) {
      protocol::AppendTextError(out, protocol::TextError::kMetadumpDisabled);
      return true;
    }
    // memcached hands the connection to the crawler thread, so replies of requests
    // earlier in the same batch could not be sent first: it refuses the pipeline.
    if (!out->empty() && s.resume == 0) {
      protocol::AppendTextError(out, protocol::TextError::kMetadumpPipelined);
      return true;
    }
    if (!ParseCrawlClasses(arg, true, &classes)) {
      protocol::AppendTextError(out, protocol::TextError::kBadClass);
      return true;
    }
    // A shard at a time, stopping at the output limit (memcached's crawler writes through
    // a bounded buffer): a dump of millions of items to a slow reader is not made whole.
    storage::Store& store = *e.store();
    for (size_t shard = s.resume; shard < store.shard_count(); ++shard) {
      if (shard > s.resume && out->size() >= out_limit) {
        s.resume = static_cast<uint32_t>(shard);
        return false;
      }
      AppendMetadump(store, shard, classes, cfg.cas_enabled, out);
    }
    s.resume = 0;
    AppendLine(out, "END");
    return true;
  }
  ExecuteCrawlerSetting(e, sub, arg, two, out);
  return true;
}

}  // namespace syncached::engine
