// Settings: the memcached flags the engine acts on or reports in `stats settings`.
// Filled once by server's command-line parser, then copied into the Engine; only the
// fields in Runtime change afterwards (commands on any worker), so only they are atomic.
// Everything else is plain data, so the implicit copy is complete: a new field is copied
// without anyone having to remember it.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace syncached::engine {

// std::atomic with a copy: a copy takes the value as it is now. Settings are copied
// before the workers start (and by tests), so no copy races a command.
template <typename T>
struct CopyableAtomic : std::atomic<T> {
  using std::atomic<T>::atomic;
  using std::atomic<T>::operator=;
  CopyableAtomic() = default;
  CopyableAtomic(const CopyableAtomic& o) : std::atomic<T>(o.load()) {}
  CopyableAtomic& operator=(const CopyableAtomic& o) {
    this->store(o.load());
    return *this;
  }
};

// What commands change while workers read it: `verbosity`, `lru_crawler
// enable|disable|sleep|tocrawl` (binary VERBOSITY too). Each is one independent value
// that no other data depends on, so atomics and no lock.
struct Runtime {
  CopyableAtomic<uint32_t> verbosity{0};   // -v; the verbosity command
  CopyableAtomic<bool> lru_crawler{true};  // -o no_lru_crawler; lru_crawler enable|disable
  CopyableAtomic<uint32_t> lru_crawler_sleep{100};
  CopyableAtomic<uint32_t> lru_crawler_tocrawl{0};
};

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
  bool lru_maintainer = true;  // -o no_lru_maintainer: memcached then hides its LRU stats
  uint32_t idle_timeout = 0;
  bool large_pages = false;         // -L
  bool relaxed_privileges = false;  // -o relaxed_privileges: test-only commands (debugtime)
  std::string version = "1.6.18";   // what `version` answers (memcached's, for clients
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
  Runtime runtime;
};

}  // namespace syncached::engine
