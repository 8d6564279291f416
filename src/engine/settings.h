// Settings: the memcached flags the engine acts on or reports in `stats settings`.
// Filled once by server's command-line parser; verbosity and memlimit may change at
// run time (verbosity/cache_memlimit commands), so those are atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace syncached::engine {

struct Settings {
  uint64_t maxbytes = 64ull << 20;                  // -m
  uint32_t maxconns = 1024;                         // -c
  uint32_t tcpport = 11211;                         // -p
  uint32_t udpport = 0;                             // -U
  std::string inter;                                // -l, "NULL" when unset
  std::string domain_socket;                        // -s
  uint32_t umask = 0700;                            // -a
  bool evictions = true;                            // !-M
  bool shutdown_command = false;                    // -A
  double growth_factor = 1.25;                      // -f
  uint32_t chunk_size = 48;                         // -n
  uint32_t num_threads = 4;                         // -t
  uint32_t reqs_per_event = 20;                     // -R
  bool cas_enabled = true;                          // !-C
  uint32_t tcp_backlog = 1024;                      // -b
  std::string binding_protocol = "auto-negotiate";  // -B
  bool sasl = false;                                // -S
  std::string auth_file;                            // -Y
  std::string memory_file;                          // -e, reported by stats settings
  uint32_t item_size_max = 1u << 20;                // -I
  bool flush_enabled = true;                        // !-F
  bool dump_enabled = true;                         // !-X
  bool watch_enabled = true;                        // !-W
  uint32_t watcher_logbuf_size = 256 << 10;         // -o watcher_logbuf_size (KiB there)
  std::atomic<bool> lru_crawler{true};  // lru_crawler enable/disable flip it at run time
  uint32_t lru_crawler_sleep = 100;
  uint32_t lru_crawler_tocrawl = 0;
  bool lru_maintainer = true;  // -o no_lru_maintainer: memcached then hides its LRU stats
  uint32_t idle_timeout = 0;
  bool large_pages = false;            // -L
  bool relaxed_privileges = false;     // -o relaxed_privileges: test-only commands (debugtime)
  std::atomic<uint32_t> verbosity{0};  // -v / verbosity
  std::string version = "1.6.18";      // what `version` answers (memcached's, for clients
                                       // that gate features on it); see --help
  // Client TLS (-Z, -o ssl_*), as memcached stores them (OpenSSL constants) for `stats
  // settings`; empty strings print as memcached's (null) / NULL.
  bool ssl_enabled = false;
  std::string ssl_chain_cert, ssl_key, ssl_ciphers, ssl_ca_cert;
  int ssl_verify_mode = 0;         // SSL_VERIFY_* bits
  int ssl_keyformat = 1;           // SSL_FILETYPE_PEM
  uint32_t ssl_wbuf_size = 16384;  // accepted and shown; output is buffered per connection
  bool ssl_session_cache = false;
  bool ssl_kernel_tls = false;
  int ssl_min_version = 0x0303;  // TLS1_2_VERSION

  Settings() = default;
  Settings(const Settings& o) { *this = o; }
  Settings& operator=(const Settings& o) {
    if (this == &o) return *this;
    maxbytes = o.maxbytes;
    maxconns = o.maxconns;
    tcpport = o.tcpport;
    udpport = o.udpport;
    inter = o.inter;
    domain_socket = o.domain_socket;
    umask = o.umask;
    evictions = o.evictions;
    shutdown_command = o.shutdown_command;
    growth_factor = o.growth_factor;
    chunk_size = o.chunk_size;
    num_threads = o.num_threads;
    reqs_per_event = o.reqs_per_event;
    cas_enabled = o.cas_enabled;
    tcp_backlog = o.tcp_backlog;
    binding_protocol = o.binding_protocol;
    sasl = o.sasl;
    auth_file = o.auth_file;
    memory_file = o.memory_file;
    item_size_max = o.item_size_max;
    flush_enabled = o.flush_enabled;
    dump_enabled = o.dump_enabled;
    watch_enabled = o.watch_enabled;
    watcher_logbuf_size = o.watcher_logbuf_size;
    lru_crawler = o.lru_crawler.load();
    lru_crawler_sleep = o.lru_crawler_sleep;
    lru_crawler_tocrawl = o.lru_crawler_tocrawl;
    lru_maintainer = o.lru_maintainer;
    idle_timeout = o.idle_timeout;
    large_pages = o.large_pages;
    relaxed_privileges = o.relaxed_privileges;
    verbosity = o.verbosity.load();
    version = o.version;
    ssl_enabled = o.ssl_enabled;
    ssl_chain_cert = o.ssl_chain_cert;
    ssl_key = o.ssl_key;
    ssl_ciphers = o.ssl_ciphers;
    ssl_ca_cert = o.ssl_ca_cert;
    ssl_verify_mode = o.ssl_verify_mode;
    ssl_keyformat = o.ssl_keyformat;
    ssl_wbuf_size = o.ssl_wbuf_size;
    ssl_session_cache = o.ssl_session_cache;
    ssl_kernel_tls = o.ssl_kernel_tls;
    ssl_min_version = o.ssl_min_version;
    return *this;
  }
};

}  // namespace syncached::engine
