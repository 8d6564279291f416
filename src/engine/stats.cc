// `stats` groups and `lru_crawler`, with memcached 1.6's names and formats so that
// memcached_exporter, memcached-tool, collectd and friends keep working. Fields that
// describe memcached internals we do not have (slab mover, extstore) report 0.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>

#include "engine/commands.h"
#include "engine/ops.h"

namespace syncached::engine {
namespace {

// memcached's ssl_proto_text.
const char* SslProtoText(int version) {
  switch (version) {
    case 0x0301:
      return "tlsv1.0";
    case 0x0302:
      return "tlsv1.1";
    case 0x0303:
      return "tlsv1.2";
    case 0x0304:
      return "tlsv1.3";
    default:
      return "unknown";
  }
}

// Formats values for a StatSink with memcached's printf conventions.
class StatWriter {
 public:
  explicit StatWriter(StatSink& sink) : sink_(sink) {}
  void U(std::string_view name, uint64_t v) {
    char buf[24];
    char* p = buf + sizeof buf;
    do {
      *--p = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v);
    sink_.Add(name, std::string_view(p, static_cast<size_t>(buf + sizeof buf - p)));
  }
  void S(std::string_view name, std::string_view v) { sink_.Add(name, v); }
  void B(std::string_view name, bool v, const char* yes = "yes", const char* no = "no") {
    S(name, v ? yes : no);
  }
  void F(std::string_view name, const char* fmt, double v) {
    char buf[64];
    snprintf(buf, sizeof buf, fmt, v);
    S(name, buf);
  }

 private:
  StatSink& sink_;
};

// "STAT <name> <value>\r\n" lines, as the text protocol writes them.
class TextStatSink final : public StatSink {
 public:
  explicit TextStatSink(std::string* out) : out_(out) {}
  void Add(std::string_view name, std::string_view value) override {
    out_->append("STAT ", 5);
    out_->append(name);
    out_->push_back(' ');
    out_->append(value);
    out_->append("\r\n", 2);
  }

 private:
  std::string* out_;
};

void GeneralStats(Engine& e, StatWriter& w) {
  const Settings& cfg = e.settings();
  storage::StoreStats st = e.store()->Stats();
  ThreadStats t = e.SumThreadStats();
  Host::NetStats net = e.host() ? e.host()->GetNetStats() : Host::NetStats{};
  uint32_t now = e.store()->clock()->NowSeconds();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  char buf[64];
  w.U("pid", static_cast<uint64_t>(getpid()));
  w.U("uptime", now - e.started());
  w.U("time", now);
  w.S("version", cfg.version);
  w.S("libevent", "none");
  w.U("pointer_size", sizeof(void*) * 8);
  snprintf(buf, sizeof buf, "%ld.%06ld", static_cast<long>(ru.ru_utime.tv_sec),
           static_cast<long>(ru.ru_utime.tv_usec));
  w.S("rusage_user", buf);
  snprintf(buf, sizeof buf, "%ld.%06ld", static_cast<long>(ru.ru_stime.tv_sec),
           static_cast<long>(ru.ru_stime.tv_usec));
  w.S("rusage_system", buf);
  w.U("max_connections", cfg.maxconns);
  w.U("curr_connections", net.curr_connections);
  w.U("total_connections", net.total_connections);
  w.U("rejected_connections", net.rejected_connections);
  w.U("connection_structures", net.connection_structures);
  w.U("response_obj_oom", 0);
  w.U("response_obj_count", 0);
  w.U("response_obj_bytes", 0);
  w.U("read_buf_count", 0);
  w.U("read_buf_bytes", 0);
  w.U("read_buf_bytes_free", 0);
  w.U("read_buf_oom", 0);
  w.U("reserved_fds", 20);
  w.U("cmd_get", t.cmd_get.Get());
  w.U("cmd_set", t.cmd_set.Get());
  w.U("cmd_flush", t.cmd_flush.Get());
  w.U("cmd_touch", t.cmd_touch.Get());
  w.U("cmd_meta", t.cmd_meta.Get());
  w.U("get_hits", t.get_hits.Get());
  w.U("get_misses", t.get_misses.Get());
  w.U("get_expired", st.get_expired);
  w.U("get_flushed", st.get_flushed);
  w.U("delete_misses", t.delete_misses.Get());
  w.U("delete_hits", t.delete_hits.Get());
  w.U("incr_misses", t.incr_misses.Get());
  w.U("incr_hits", t.incr_hits.Get());
  w.U("decr_misses", t.decr_misses.Get());
  w.U("decr_hits", t.decr_hits.Get());
  w.U("cas_misses", t.cas_misses.Get());
  w.U("cas_hits", t.cas_hits.Get());
  w.U("cas_badval", t.cas_badval.Get());
  w.U("touch_hits", t.touch_hits.Get());
  w.U("touch_misses", t.touch_misses.Get());
  w.U("store_too_large", t.store_too_large.Get());
  w.U("store_no_memory", t.store_no_memory.Get());
  w.U("auth_cmds", t.auth_cmds.Get());
  w.U("auth_errors", t.auth_errors.Get());
  if (cfg.idle_timeout) w.U("idle_kicks", net.idle_kicks);  // memcached lists it only then
  w.U("bytes_read", net.bytes_read);
  w.U("bytes_written", net.bytes_written);
  w.U("limit_maxbytes", e.store()->max_bytes());
  w.U("accepting_conns", net.accepting ? 1 : 0);
  w.U("listen_disabled_num", net.listen_disabled_num);
  w.U("time_in_listen_disabled_us", 0);
  w.U("threads", cfg.num_threads);
  w.U("conn_yields", t.conn_yields.Get());
  w.U("hash_power_level", st.hash_power_level);
  w.U("hash_bytes", st.table_bytes);
  w.U("hash_is_expanding", st.hash_is_expanding ? 1 : 0);
  for (const char* zero :
       {"slab_reassign_rescues", "slab_reassign_chunk_rescues", "slab_reassign_evictions_nomem",
        "slab_reassign_inline_reclaim", "slab_reassign_busy_items", "slab_reassign_busy_deletes",
        "slab_reassign_running", "slabs_moved"}) {
    w.U(zero, 0);
  }
  // memcached lists these only while the crawler / maintainer are enabled (-o no_...),
  // and tools count the keys.
  if (cfg.lru_crawler) {
    w.U("lru_crawler_running", 0);
    w.U("lru_crawler_starts", 0);
  }
  if (cfg.lru_maintainer) w.U("lru_maintainer_juggles", 0);
  w.U("malloc_fails", t.store_no_memory.Get());
  watch::HubStats ws = e.hub()->Stats();
  w.U("log_worker_dropped", 0);  // lines are formatted as logged: no worker buffer to overflow
  w.U("log_worker_written", ws.written);
  w.U("log_watcher_skipped", ws.skipped);
  w.U("log_watcher_sent", ws.sent);
  w.U("log_watchers", ws.watchers);
  if (cfg.ssl_enabled) {
    if (cfg.ssl_session_cache) w.U("ssl_new_sessions", net.ssl_new_sessions);
    w.U("ssl_handshake_errors", net.ssl_handshake_errors);
    w.U("time_since_server_cert_refresh",
        now > net.ssl_cert_loaded_at ? now - net.ssl_cert_loaded_at : 0);
  }
  for (const char* zero : {"unexpected_napi_ids", "round_robin_fallback"}) w.U(zero, 0);
  w.U("bytes", st.bytes);
  w.U("curr_items", st.curr_items);
  w.U("total_items", st.total_items);
  w.U("slab_global_page_pool", 0);
  w.U("expired_unfetched", st.expired_unfetched);
  w.U("evicted_unfetched", st.evicted_unfetched);
  if (cfg.lru_maintainer) w.U("evicted_active", 0);
  w.U("evictions", st.evictions);
  w.U("reclaimed", st.reclaimed);
  w.U("crawler_reclaimed", st.crawler_reclaimed);
  w.U("crawler_items_checked", 0);
  w.U("lrutail_reflocked", 0);
  if (cfg.lru_maintainer) {
    for (const char* zero : {"moves_to_cold", "moves_to_warm", "moves_within_lru",
                             "direct_reclaims", "lru_bumps_dropped"}) {
      w.U(zero, 0);
    }
  }
}

void SettingsStats(Engine& e, StatWriter& w) {
  const Settings& c = e.settings();
  w.U("maxbytes", e.store()->max_bytes());
  w.U("maxconns", c.maxconns);
  w.U("tcpport", c.tcpport);
  w.U("udpport", c.udpport);
  w.S("inter", c.inter.empty() ? "NULL" : c.inter);
  w.U("verbosity", c.verbosity.load());
  w.U("oldest", 0);
  w.B("evictions", c.evictions, "on", "off");
  w.S("domain_socket", c.domain_socket.empty() ? "NULL" : c.domain_socket);
  char umask[16];
  snprintf(umask, sizeof umask, "%o", c.umask);
  w.S("umask", umask);
  w.B("shutdown_command", c.shutdown_command);
  w.F("growth_factor", "%.2f", c.growth_factor);
  w.U("chunk_size", c.chunk_size);
  w.U("num_threads", c.num_threads);
  w.U("num_threads_per_udp", c.num_threads);
  w.S("stat_key_prefix", ":");
  w.B("detail_enabled", false);
  w.U("reqs_per_event", c.reqs_per_event);
  w.B("cas_enabled", c.cas_enabled);
  w.U("tcp_backlog", c.tcp_backlog);
  w.S("binding_protocol", c.binding_protocol);
  w.B("auth_enabled_sasl", c.sasl);
  w.S("auth_enabled_ascii", c.auth_file.empty() ? "no" : c.auth_file);  // memcached prints the path
  w.U("item_size_max", c.item_size_max);
  w.B("maxconns_fast", true);
  w.U("hashpower_init", 0);
  w.B("slab_reassign", false);
  w.U("slab_automove", 0);
  w.F("slab_automove_ratio", "%.2f", 0.8);
  w.U("slab_automove_window", 30);
  w.U("slab_chunk_max", c.item_size_max / 2);
  w.B("lru_crawler", c.lru_crawler);
  w.U("lru_crawler_sleep", c.lru_crawler_sleep);
  w.U("lru_crawler_tocrawl", c.lru_crawler_tocrawl);
  w.U("tail_repair_time", 0);
  w.B("flush_enabled", c.flush_enabled);
  w.B("dump_enabled", c.dump_enabled);
  w.S("hash_algorithm", "xxh3");
  w.B("lru_maintainer_thread", c.lru_maintainer);
  w.B("lru_segmented", false);
  w.U("hot_lru_pct", 20);
  w.U("warm_lru_pct", 40);
  w.F("hot_max_factor", "%.2f", 0.2);
  w.F("warm_max_factor", "%.2f", 2.0);
  w.B("temp_lru", false);
  w.U("temporary_ttl", 61);
  w.U("idle_timeout", c.idle_timeout);
  w.U("watcher_logbuf_size", c.watcher_logbuf_size);
  w.U("worker_logbuf_size", 65536);
  w.U("read_buf_mem_limit", 0);
  w.B("track_sizes", false);
  w.B("inline_ascii_response", false);
  w.B("ssl_enabled", c.ssl_enabled);
  auto or_null = [](const std::string& v, const char* null) {
    return v.empty() ? std::string_view(null) : std::string_view(v);
  };
  w.S("ssl_chain_cert", or_null(c.ssl_chain_cert, "(null)"));
  w.S("ssl_key", or_null(c.ssl_key, "(null)"));
  w.S("ssl_verify_mode", std::to_string(c.ssl_verify_mode));
  w.S("ssl_keyformat", std::to_string(c.ssl_keyformat));
  w.S("ssl_ciphers", or_null(c.ssl_ciphers, "NULL"));
  w.S("ssl_ca_cert", or_null(c.ssl_ca_cert, "NULL"));
  w.U("ssl_wbuf_size", c.ssl_wbuf_size);
  w.B("ssl_session_cache", c.ssl_session_cache);
  w.B("ssl_kernel_tls", c.ssl_kernel_tls);
  w.S("ssl_min_version", SslProtoText(c.ssl_min_version));
  w.S("memory_file", c.memory_file.empty() ? "(null)" : c.memory_file.c_str());
}

void ItemsStats(Engine& e, StatWriter& w) {
  uint32_t now = e.store()->clock()->NowSeconds();
  char name[96];
  for (const storage::ClassStats& c : e.store()->ClassStatsSnapshot()) {
    if (c.items == 0 && c.evicted == 0 && c.reclaimed == 0 && c.outofmemory == 0) continue;
    auto put = [&](const char* field, uint64_t v) {
      snprintf(name, sizeof name, "items:%u:%s", c.id, field);
      w.U(name, v);
    };
    put("number", c.items);
    put("number_hot", 0);
    put("number_warm", 0);
    put("number_cold", c.items);
    put("age_hot", 0);
    put("age_warm", 0);
    put("age", c.oldest_access && c.oldest_access <= now ? now - c.oldest_access : 0);
    put("mem_requested", c.bytes);
    put("evicted", c.evicted);
    put("evicted_nonzero", c.evicted_nonzero);
    put("evicted_time", c.evicted_time);
    put("outofmemory", c.outofmemory);
    put("tailrepairs", 0);
    put("reclaimed", c.reclaimed);
    put("expired_unfetched", c.expired_unfetched);
    put("evicted_unfetched", c.evicted_unfetched);
    put("evicted_active", 0);
    put("crawler_reclaimed", c.crawler_reclaimed);
    put("crawler_items_checked", 0);
    put("lrutail_reflocked", 0);
    put("moves_to_cold", 0);
    put("moves_to_warm", 0);
    put("moves_within_lru", 0);
    put("direct_reclaims", 0);
    put("hits_to_hot", 0);
    put("hits_to_warm", 0);
    put("hits_to_cold", 0);
    put("hits_to_temp", 0);
  }
}

// This engine has no slabs: each size class is reported with one "page" per item so
// the used/total arithmetic tools do stays consistent (total_chunks = used_chunks).
void SlabsStats(Engine& e, StatWriter& w) {
  ThreadStats t = e.SumThreadStats();
  char name[96];
  uint64_t active = 0, malloced = 0;
  for (const storage::ClassStats& c : e.store()->ClassStatsSnapshot()) {
    auto& pc = t.Class(c.id);
    // memcached lists a class once it got memory, even after its items are gone.
    if (c.items == 0 && pc.cmd_set.Get() == 0 && c.reclaimed == 0 && c.evicted == 0) continue;
    ++active;
    malloced += c.bytes;
    auto put = [&](const char* field, uint64_t v) {
      snprintf(name, sizeof name, "%u:%s", c.id, field);
      w.U(name, v);
    };
    put("chunk_size", c.chunk_size);
    put("chunks_per_page", 1);
    put("total_pages", c.items);
    put("total_chunks", c.items);
    put("used_chunks", c.items);
    put("free_chunks", 0);
    put("free_chunks_end", 0);
    put("get_hits", pc.get_hits.Get());
    put("cmd_set", pc.cmd_set.Get());
    put("delete_hits", pc.delete_hits.Get());
    put("incr_hits", pc.incr_hits.Get());
    put("decr_hits", pc.decr_hits.Get());
    put("cas_hits", pc.cas_hits.Get());
    put("cas_badval", pc.cas_badval.Get());
    put("touch_hits", pc.touch_hits.Get());
  }
  w.U("active_slabs", active);
  w.U("total_malloced", malloced);
}

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
    AppendLine(out, "CLIENT_ERROR stats cachedump not allowed");
    return;
  }
  std::string_view id_tok = NextToken(&args);
  std::string_view limit_tok = NextToken(&args);
  if (limit_tok.empty()) {
    AppendLine(out, "CLIENT_ERROR bad command line");
    return;
  }
  uint64_t id, limit;
  if (!protocol::ParseU64(id_tok, &id) || !protocol::ParseU64(limit_tok, &limit) ||
      id > UINT32_MAX || limit > UINT32_MAX) {
    AppendLine(out, "CLIENT_ERROR bad command line format");
    return;
  }
  if (id >= 64) {  // memcached's MAX_NUMBER_OF_SLAB_CLASSES
    AppendLine(out, "CLIENT_ERROR Illegal slab id");
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

bool ProduceStats(Engine& e, std::string_view group, StatSink& sink) {
  StatWriter w(sink);
  if (group.empty()) {
    GeneralStats(e, w);
  } else if (group == "settings") {
    SettingsStats(e, w);
  } else if (group == "items") {
    ItemsStats(e, w);
  } else if (group == "slabs") {
    SlabsStats(e, w);
  } else if (group == "sizes") {
    w.S("sizes_status", "disabled");
  } else {
    return false;
  }
  return true;
}

bool AppendStatsText(Engine& e, std::string_view group, std::string* out) {
  TextStatSink sink(out);
  return ProduceStats(e, group, sink);
}

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
      AppendLine(out, "CLIENT_ERROR usage: stats detail on|off|dump");
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
      AppendLine(out, "ERROR");
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

void ExecuteLruCrawler(Engine& e, std::string_view args, std::string* out) {
  std::string_view rest = args;
  std::string_view sub = NextToken(&rest);
  std::string_view arg = NextToken(&rest);
  bool two = !arg.empty() && NextToken(&rest).empty();
  Settings& cfg = e.mutable_settings();
  uint64_t classes = 0;
  if (sub == "metadump" && two) {
    if (!cfg.lru_crawler) {
      AppendLine(out, "CLIENT_ERROR lru crawler disabled");
      return;
    }
    if (!cfg.dump_enabled) {
      AppendLine(out, "ERROR metadump not allowed");
      return;
    }
    // memcached hands the connection to the crawler thread, so replies of requests
    // earlier in the same batch could not be sent first: it refuses the pipeline.
    if (!out->empty()) {
      AppendLine(out, "ERROR cannot pipeline other commands before metadump");
      return;
    }
    if (!ParseCrawlClasses(arg, true, &classes)) {
      AppendLine(out, "BADCLASS invalid class id");
      return;
    }
    storage::Store& store = *e.store();
    e.store()->ForEach([&](const storage::ItemRef& it) {
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
      AppendU64(out, cfg.cas_enabled ? it.cas() : 0);
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
    AppendLine(out, "END");
  } else if (sub == "crawl" && two) {
    if (!cfg.lru_crawler) {
      AppendLine(out, "CLIENT_ERROR lru crawler disabled");
    } else if (!ParseCrawlClasses(arg, false, &classes)) {
      AppendLine(out, "BADCLASS invalid class id");
    } else {
      // memcached crawls in the background and answers at once; ours is done before
      // the OK, so lru_crawler_running never needs polling.
      e.store()->Crawl(classes);
      AppendLine(out, "OK");
    }
  } else if ((sub == "tocrawl" || sub == "sleep") && two) {
    uint32_t v;
    if (!protocol::ParseU32(arg, &v)) {
      AppendLine(out, "CLIENT_ERROR bad command line format");
    } else if (sub == "sleep" && v > 1000000) {
      AppendLine(out, "CLIENT_ERROR sleep must be one second or less");
    } else {
      (sub == "sleep" ? cfg.lru_crawler_sleep : cfg.lru_crawler_tocrawl) = v;
      AppendLine(out, "OK");
    }
  } else if ((sub == "enable" || sub == "disable") && arg.empty()) {
    cfg.lru_crawler = sub == "enable";
    e.store()->SetCrawlerEnabled(cfg.lru_crawler);
    AppendLine(out, "OK");
  } else {
    AppendLine(out, "ERROR");
  }
}

}  // namespace syncached::engine
