// memcached's stats under memcached_exporter's names, labels and types (its
// pkg/exporter/exporter.go), emitted exactly when the exporter would emit them from the
// same stats, so its dashboards and alerts work on syncached unchanged. HELP texts are
// our own.
#include <algorithm>
#include <cstring>
#include <string>

#include "metrics/exposition.h"

namespace syncached::metrics {
namespace {

constexpr Type kG = Type::kGauge;
constexpr Type kC = Type::kCounter;

struct Map {
  const char* stat;
  const char* metric;
  Type type;
  const char* help;
};

// `stats` keys with one metric each (absent keys emit nothing, as in the exporter).
constexpr Map kGeneral[] = {
    {"uptime", "memcached_uptime_seconds", kC, "Seconds since the server started."},
    {"time", "memcached_time_seconds", kG, "The server's current Unix time."},
    {"rusage_user", "memcached_process_user_cpu_seconds_total", kC,
     "User CPU time of the process."},
    {"rusage_system", "memcached_process_system_cpu_seconds_total", kC,
     "System CPU time of the process."},
    {"bytes", "memcached_current_bytes", kG, "Bytes used by the stored items."},
    {"limit_maxbytes", "memcached_limit_bytes", kG, "Bytes the server may use for items (-m)."},
    {"curr_items", "memcached_current_items", kG, "Items stored now."},
    {"total_items", "memcached_items_total", kC, "Items stored since the start."},
    {"bytes_read", "memcached_read_bytes_total", kC, "Bytes read from clients."},
    {"bytes_written", "memcached_written_bytes_total", kC, "Bytes sent to clients."},
    {"curr_connections", "memcached_current_connections", kG, "Open client connections."},
    {"total_connections", "memcached_connections_total", kC,
     "Client connections opened since the start."},
    {"rejected_connections", "memcached_connections_rejected_total", kC,
     "Connections refused for exceeding -c."},
    {"conn_yields", "memcached_connections_yielded_total", kC,
     "Times a connection yielded after -R requests."},
    {"listen_disabled_num", "memcached_connections_listener_disabled_total", kC,
     "Times accepting paused because the process ran out of descriptors."},
    {"evictions", "memcached_items_evicted_total", kC, "Live items evicted to make room."},
    {"reclaimed", "memcached_items_reclaimed_total", kC,
     "Stores that reused an expired item's memory."},
    {"store_too_large", "memcached_item_too_large_total", kC, "Stores refused as larger than -I."},
    {"store_no_memory", "memcached_item_no_memory_total", kC, "Stores refused for lack of memory."},
    {"lru_crawler_starts", "memcached_lru_crawler_starts_total", kC, "LRU crawler runs started."},
    {"direct_reclaims", "memcached_direct_reclaims_total", kC,
     "Times workers reclaimed or evicted items themselves."},
    {"crawler_items_checked", "memcached_lru_crawler_items_checked_total", kC,
     "Items examined by the LRU crawler."},
    {"crawler_reclaimed", "memcached_lru_crawler_reclaimed_total", kC,
     "Expired items freed by the LRU crawler."},
    {"moves_to_cold", "memcached_lru_crawler_moves_to_cold_total", kC,
     "Items moved to the COLD LRU."},
    {"moves_to_warm", "memcached_lru_crawler_moves_to_warm_total", kC,
     "Items moved to the WARM LRU."},
    {"moves_within_lru", "memcached_lru_crawler_moves_within_lru_total", kC,
     "Items moved within the HOT or WARM LRU."},
    {"accepting_conns", "memcached_accepting_connections", kG,
     "1 while new connections are accepted."},
};

// `stats settings` keys the exporter reads only while lru_crawler is "yes".
constexpr Map kCrawlerSettings[] = {
    {"lru_crawler_sleep", "memcached_lru_crawler_sleep", kG,
     "Microseconds the crawler sleeps between items."},
    {"lru_crawler_tocrawl", "memcached_lru_crawler_to_crawl", kG,
     "Items crawled per class per run at most."},
    {"hot_lru_pct", "memcached_lru_crawler_hot_percent", kG,
     "Percent of a class's memory for the HOT LRU."},
    {"warm_lru_pct", "memcached_lru_crawler_warm_percent", kG,
     "Percent of a class's memory for the WARM LRU."},
    {"hot_max_factor", "memcached_lru_crawler_hot_max_factor", kG,
     "HOT age limit as a factor of COLD age."},
    {"warm_max_factor", "memcached_lru_crawler_warm_max_factor", kG,
     "WARM age limit as a factor of COLD age."},
};

// `stats items` fields, labelled {slab}.
constexpr Map kItems[] = {
    {"number", "memcached_slab_current_items", kG, "Items stored now in the class."},
    {"age", "memcached_slab_items_age_seconds", kG,
     "Seconds since the class's oldest item was used."},
    {"crawler_reclaimed", "memcached_slab_items_crawler_reclaimed_total", kC,
     "Expired items of the class freed by the LRU crawler."},
    {"evicted", "memcached_slab_items_evicted_total", kC, "Live items of the class evicted."},
    {"evicted_nonzero", "memcached_slab_items_evicted_nonzero_total", kC,
     "Evicted items of the class that had an expiry time."},
    // The exporter reports these two as counters, whatever their meaning.
    {"evicted_time", "memcached_slab_items_evicted_time_seconds", kC,
     "Seconds since the last eviction's item was used."},
    {"evicted_unfetched", "memcached_slab_items_evicted_unfetched_total", kC,
     "Evicted items of the class never fetched."},
    {"expired_unfetched", "memcached_slab_items_expired_unfetched_total", kC,
     "Expired items of the class never fetched."},
    {"outofmemory", "memcached_slab_items_outofmemory_total", kC,
     "Stores of the class refused for memory."},
    {"reclaimed", "memcached_slab_items_reclaimed_total", kC,
     "Expired items of the class reclaimed."},
    {"tailrepairs", "memcached_slab_items_tailrepairs_total", kC, "LRU tail repairs in the class."},
    {"mem_requested", "memcached_slab_mem_requested_bytes", kC, "Bytes the class's items take."},
    {"moves_to_cold", "memcached_slab_items_moves_to_cold", kC,
     "Items of the class moved to COLD."},
    {"moves_to_warm", "memcached_slab_items_moves_to_warm", kC,
     "Items of the class moved to WARM."},
    {"moves_within_lru", "memcached_slab_items_moves_within_lru", kC,
     "Items of the class moved within HOT or WARM."},
    {"number_hot", "memcached_slab_hot_items", kG, "Items of the class in the HOT LRU."},
    {"number_warm", "memcached_slab_warm_items", kG, "Items of the class in the WARM LRU."},
    {"number_cold", "memcached_slab_cold_items", kG, "Items of the class in the COLD LRU."},
    {"number_temp", "memcached_slab_temporary_items", kG, "Items of the class in the TEMP LRU."},
    {"age_hot", "memcached_slab_hot_age_seconds", kG, "Age of the class's oldest HOT item."},
    {"age_warm", "memcached_slab_warm_age_seconds", kG, "Age of the class's oldest WARM item."},
};

// `stats slabs` fields, labelled {slab}.
constexpr Map kSlabs[] = {
    {"chunk_size", "memcached_slab_chunk_size_bytes", kG, "Bytes per chunk of the class."},
    {"chunks_per_page", "memcached_slab_chunks_per_page", kG, "Chunks per page of the class."},
    {"total_pages", "memcached_slab_current_pages", kG, "Pages of the class."},
    {"total_chunks", "memcached_slab_current_chunks", kG, "Chunks of the class."},
    {"used_chunks", "memcached_slab_chunks_used", kG, "Chunks of the class holding an item."},
    {"free_chunks", "memcached_slab_chunks_free", kG, "Free chunks of the class."},
    {"free_chunks_end", "memcached_slab_chunks_free_end", kG,
     "Free chunks at the end of the last page."},
    {"mem_requested", "memcached_slab_mem_requested_bytes", kG, "Bytes the class's items take."},
};

constexpr const char* kOps[] = {"get", "delete", "incr", "decr", "cas", "touch"};
constexpr const char kCommands[] = "memcached_commands_total";
constexpr const char kCommandsHelp[] = "Requests by command and outcome.";
constexpr const char kSlabCommands[] = "memcached_slab_commands_total";
constexpr const char kSlabCommandsHelp[] = "Requests by size class, command and outcome.";

void Command(const StatList& s, std::string_view stat, std::string_view cmd,
             std::string_view status, Exposition* e) {
  double v;
  if (NumberOf(s, stat, &v))
    e->Add(kCommands, kC, kCommandsHelp, v, {{"command", cmd}, {"status", status}});
}

void Commands(const StatList& s, Exposition* e) {
  std::string name;
  for (const char* op : kOps) {
    Command(s, (name = op) += "_hits", op, "hit", e);
    Command(s, (name = op) += "_misses", op, "miss", e);
  }
  Command(s, "cas_badval", "cas", "badval", e);
  Command(s, "cmd_flush", "flush", "hit", e);
  // cmd_set counts cas requests too: sets are the rest.
  double set, hits, misses, badval;
  if (NumberOf(s, "cmd_set", &set) && NumberOf(s, "cas_hits", &hits) &&
      NumberOf(s, "cas_misses", &misses) && NumberOf(s, "cas_badval", &badval)) {
    e->Add(kCommands, kC, kCommandsHelp, std::max(0.0, set - hits - misses - badval),
           {{"command", "set"}, {"status", "hit"}});
  }
}

void Simple(const StatList& s, const Map* begin, const Map* end, Exposition* e) {
  double v;
  for (const Map* m = begin; m != end; ++m) {
    if (NumberOf(s, m->stat, &v)) e->Add(m->metric, m->type, m->help, v);
  }
}

// "items:<id>:<field>" (items) or "<id>:<field>" (slabs): class id and field.
bool SplitClass(std::string_view name, std::string_view prefix, std::string_view* id,
                std::string_view* field) {
  if (name.substr(0, prefix.size()) != prefix) return false;
  name.remove_prefix(prefix.size());
  size_t colon = name.find(':');
  if (colon == 0 || colon == std::string_view::npos) return false;
  *id = name.substr(0, colon);
  *field = name.substr(colon + 1);
  return id->find_first_not_of("0123456789") == std::string_view::npos;
}

void PerClass(const StatList& stats, std::string_view prefix, const Map* begin, const Map* end,
              Exposition* e) {
  std::string_view id, field;
  double v;
  for (const auto& [name, value] : stats) {
    if (!SplitClass(name, prefix, &id, &field) || !Number(value, &v)) continue;
    for (const Map* m = begin; m != end; ++m) {
      if (field == m->stat) e->Add(m->metric, m->type, m->help, v, {{"slab", id}});
    }
    if (prefix == "items:" && field.substr(0, 8) == "hits_to_") {
      std::string_view lru = field.substr(8);
      if (lru == "temp") lru = "temporary";
      if (lru == "hot" || lru == "warm" || lru == "cold" || lru == "temporary") {
        e->Add("memcached_slab_lru_hits_total", kC, "Hits by size class and LRU.", v,
               {{"slab", id}, {"lru", lru}});
      }
    }
  }
}

// Per class: <op>_hits, cas_badval, and sets as cmd_set less cas.
void SlabCommands(const StatList& stats, Exposition* e) {
  std::string_view id, field;
  double v;
  for (const auto& [name, value] : stats) {
    if (!SplitClass(name, "", &id, &field) || !Number(value, &v)) continue;
    for (const char* op : kOps) {
      if (field.size() == strlen(op) + 5 && field.substr(0, strlen(op)) == op &&
          field.substr(strlen(op)) == "_hits") {
        e->Add(kSlabCommands, kC, kSlabCommandsHelp, v,
               {{"slab", id}, {"command", op}, {"status", "hit"}});
      }
    }
    if (field == "cas_badval") {
      e->Add(kSlabCommands, kC, kSlabCommandsHelp, v,
             {{"slab", id}, {"command", "cas"}, {"status", "badval"}});
    } else if (field == "cmd_set") {
      std::string prefix = std::string(id) + ":";
      double hits, badval;
      if (NumberOf(stats, prefix + "cas_hits", &hits) &&
          NumberOf(stats, prefix + "cas_badval", &badval)) {
        e->Add(kSlabCommands, kC, kSlabCommandsHelp, std::max(0.0, v - hits - badval),
               {{"slab", id}, {"command", "set"}, {"status", "hit"}});
      }
    }
  }
}

}  // namespace

void RenderMemcached(const StatList& general, const StatList& settings, const StatList& items,
                     const StatList& slabs, Exposition* e) {
  if (const std::string_view* version = Find(general, "version")) {
    e->Add("memcached_version", kG, "The server's version.", 1, {{"version", *version}});
  }
  Commands(general, e);
  Simple(general, std::begin(kGeneral), std::end(kGeneral), e);
  // `stats slabs`' total: the exporter's client merges it into the general stats.
  double v;
  if (NumberOf(slabs, "total_malloced", &v)) {
    e->Add("memcached_malloced_bytes", kG, "Bytes of memory given to size classes.", v);
  }
  if (NumberOf(settings, "maxconns", &v)) {
    e->Add("memcached_max_connections", kG, "Client connections allowed (-c).", v);
  }
  const std::string_view* crawler = Find(settings, "lru_crawler");
  if (crawler && *crawler == "yes") {
    e->Add("memcached_lru_crawler_enabled", kG, "1 while the LRU crawler is enabled.", 1);
    Simple(settings, std::begin(kCrawlerSettings), std::end(kCrawlerSettings), e);
    if (const std::string_view* m = Find(settings, "lru_maintainer_thread")) {
      if (*m == "yes" || *m == "no") {
        e->Add("memcached_lru_crawler_maintainer_thread", kG, "1 with the LRU maintainer on.",
               *m == "yes" ? 1 : 0);
      }
    }
  }
  PerClass(items, "items:", std::begin(kItems), std::end(kItems), e);
  PerClass(slabs, "", std::begin(kSlabs), std::end(kSlabs), e);
  SlabCommands(slabs, e);
}

}  // namespace syncached::metrics
