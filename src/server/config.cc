#include "server/config.h"

#include <getopt.h>
#include <pwd.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>

#include "server/config_file.h"
#include "server/membership.h"
#include "server/peer_security.h"
#include "server/version.h"

namespace syncached::server {
namespace {

enum LongOnly {
  kOptConfig = 1000,
  kOptNodeId,
  kOptPeers,
  kOptReplicationPort,
  kOptClusterName,
  kOptClusterSecretFile,
  kOptBacklogSize,
  kOptJoinTimeout,
  kOptJoinMode,
  kOptDataDir,
  kOptFsync,
  kOptJournalSize,
  kOptSyncReplicas,
  kOptSyncTimeout,
  kOptSyncTimeoutMode,
  kOptTombstoneTtl,
  kOptInsecurePeers,
  kOptLogFile,
  kOptTestClockOffset,
  kOptMetricsPort,
  kOptMetricsAddr,
  kOptMembers,
  kOptReplicationFactor,
  kOptRing,
  kOptRingKeyPrefix,
};

const option kLongOptions[] = {
    {"port", required_argument, nullptr, 'p'},
    {"udp-port", required_argument, nullptr, 'U'},
    {"unix-socket", required_argument, nullptr, 's'},
    {"unix-mask", required_argument, nullptr, 'a'},
    {"enable-shutdown", no_argument, nullptr, 'A'},
    {"listen", required_argument, nullptr, 'l'},
    {"daemon", no_argument, nullptr, 'd'},
    {"enable-coredumps", no_argument, nullptr, 'r'},
    {"user", required_argument, nullptr, 'u'},
    {"memory-limit", required_argument, nullptr, 'm'},
    {"disable-evictions", no_argument, nullptr, 'M'},
    {"conn-limit", required_argument, nullptr, 'c'},
    {"lock-memory", no_argument, nullptr, 'k'},
    {"verbose", optional_argument, nullptr, 'v'},
    {"help", no_argument, nullptr, 'h'},
    {"license", no_argument, nullptr, 'i'},
    {"version", no_argument, nullptr, 'V'},
    {"pidfile", required_argument, nullptr, 'P'},
    {"slab-growth-factor", required_argument, nullptr, 'f'},
    {"slab-min-size", required_argument, nullptr, 'n'},
    {"enable-largepages", no_argument, nullptr, 'L'},
    {"threads", required_argument, nullptr, 't'},
    {"max-reqs-per-event", required_argument, nullptr, 'R'},
    {"disable-cas", no_argument, nullptr, 'C'},
    {"listen-backlog", required_argument, nullptr, 'b'},
    {"protocol", required_argument, nullptr, 'B'},
    {"max-item-size", required_argument, nullptr, 'I'},
    {"enable-sasl", no_argument, nullptr, 'S'},
    {"disable-flush-all", no_argument, nullptr, 'F'},
    {"disable-dumping", no_argument, nullptr, 'X'},
    {"disable-watch", no_argument, nullptr, 'W'},
    {"auth-file", required_argument, nullptr, 'Y'},
    {"memory-file", required_argument, nullptr, 'e'},
    {"extended", required_argument, nullptr, 'o'},
    {"enable-ssl", no_argument, nullptr, 'Z'},
    {"config", required_argument, nullptr, kOptConfig},
    {"node-id", required_argument, nullptr, kOptNodeId},
    {"peers", required_argument, nullptr, kOptPeers},
    {"replication-port", required_argument, nullptr, kOptReplicationPort},
    {"cluster-name", required_argument, nullptr, kOptClusterName},
    {"cluster-secret-file", required_argument, nullptr, kOptClusterSecretFile},
    {"insecure-peers", no_argument, nullptr, kOptInsecurePeers},
    {"backlog-size", required_argument, nullptr, kOptBacklogSize},
    {"join-timeout", required_argument, nullptr, kOptJoinTimeout},
    {"join-mode", required_argument, nullptr, kOptJoinMode},
    {"data-dir", required_argument, nullptr, kOptDataDir},
    {"fsync", required_argument, nullptr, kOptFsync},
    {"journal-size", required_argument, nullptr, kOptJournalSize},
    {"tombstone-ttl", required_argument, nullptr, kOptTombstoneTtl},
    {"sync-replicas", required_argument, nullptr, kOptSyncReplicas},
    {"sync-timeout", required_argument, nullptr, kOptSyncTimeout},
    {"sync-timeout-mode", required_argument, nullptr, kOptSyncTimeoutMode},
    {"log-file", required_argument, nullptr, kOptLogFile},
    {"test-clock-offset-ms", required_argument, nullptr, kOptTestClockOffset},
    {"metrics-port", required_argument, nullptr, kOptMetricsPort},
    {"metrics-addr", required_argument, nullptr, kOptMetricsAddr},
    {"members", required_argument, nullptr, kOptMembers},
    {"replication-factor", required_argument, nullptr, kOptReplicationFactor},
    {"ring", required_argument, nullptr, kOptRing},
    {"ring-key-prefix", required_argument, nullptr, kOptRingKeyPrefix},
    {nullptr, 0, nullptr, 0},
};
const char kShortOptions[] = ":p:U:s:a:Al:dru:m:Mc:kvhiVP:f:n:LD:t:R:Cb:B:I:SFXWY:e:o:Z";

[[noreturn]] void Fail(const std::string& what) { throw ConfigError(what); }
[[noreturn]] void FailVerbatim(const std::string& what) { throw ConfigError(what, true); }

std::string Name(int opt) {
  for (const option* o = kLongOptions; o->name; ++o) {
    if (o->val == opt && opt >= kOptConfig) return std::string("--") + o->name;
  }
  return std::string("-") + static_cast<char>(opt);
}

uint64_t ParseUnsigned(int opt, const char* arg, uint64_t min, uint64_t max);

// Sizes with an optional k/m/g suffix (powers of 1024).
uint64_t ParseSize(int opt, const char* arg, uint64_t min, uint64_t max) {
  std::string s(arg);
  uint64_t mult = 1;
  if (!s.empty()) {
    char u = static_cast<char>(tolower(s.back()));
    if (u == 'k') mult = 1ull << 10;
    if (u == 'm') mult = 1ull << 20;
    if (u == 'g') mult = 1ull << 30;
    if (mult != 1) s.pop_back();
  }
  uint64_t v = ParseUnsigned(opt, s.c_str(), 0, max) * mult;
  if (v < min || v > max) {
    Fail("invalid value for " + Name(opt) + ": '" + arg + "' (" + std::to_string(min) + " to " +
         std::to_string(max) + " bytes)");
  }
  return v;
}

uint64_t ParseUnsigned(int opt, const char* arg, uint64_t min, uint64_t max) {
  errno = 0;
  char* end = nullptr;
  if (!arg || !*arg || *arg == '-')
    Fail("invalid value for " + Name(opt) + ": '" + (arg ? arg : "") + "'");
  unsigned long long v = strtoull(arg, &end, 10);
  if (errno || *end != '\0' || v < min || v > max) {
    Fail("invalid value for " + Name(opt) + ": '" + arg + "' (expected " + std::to_string(min) +
         ".." + std::to_string(max) + ")");
  }
  return v;
}

double ParseDouble(int opt, const char* arg, double min, double max) {
  errno = 0;
  char* end = nullptr;
  double v = strtod(arg, &end);
  if (errno || end == arg || *end != '\0' || !(v >= min && v <= max)) {
    Fail("invalid value for " + Name(opt) + ": '" + std::string(arg) + "'");
  }
  return v;
}

// -I accepts k/m suffixes like memcached; min 1k, max 1g (1024m).
uint32_t ParseItemSize(const char* arg) {
  std::string s(arg);
  uint64_t mult = 1;
  if (!s.empty() && (s.back() == 'k' || s.back() == 'K'))
    mult = 1024, s.pop_back();
  else if (!s.empty() && (s.back() == 'm' || s.back() == 'M'))
    mult = 1024 * 1024, s.pop_back();
  uint64_t v = ParseUnsigned('I', s.c_str(), 1, 1ull << 30) * mult;
  if (v < 1024) Fail("invalid value for -I: '" + std::string(arg) + "' (minimum is 1k)");
  if (v > (1ull << 30)) Fail("invalid value for -I: '" + std::string(arg) + "' (maximum is 1024m)");
  return static_cast<uint32_t>(v);
}

void SplitInto(const std::string& s, char sep, std::vector<std::string>* out) {
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, sep)) {
    if (!part.empty()) out->push_back(part);
  }
}

// memcached's safe_strtol: the whole string, base 10.
bool SslNumber(const std::string& v, long* out) {
  if (v.empty()) return false;
  char* end;
  errno = 0;
  *out = strtol(v.c_str(), &end, 10);
  return errno == 0 && (*end == '\0' || isspace(static_cast<unsigned char>(*end)));
}

// -o ssl_*, with memcached's messages. memcached 1.6.18 takes ssl_min_version as 0..3; the
// names it prints (tlsv1.2...) are accepted too. False: not an ssl_ option memcached has.
bool ParseSslOption(const std::string& name, const std::string& sub, const std::string& value,
                    engine::Settings* e) {
  bool has_value = sub.find('=') != std::string::npos;
  auto need = [&](const char* what) {
    if (!has_value) FailVerbatim(std::string("Missing ") + what + " argument");
  };
  long n = 0;
  if (name == "ssl_chain_cert") {
    need("ssl_chain_cert");
    e->ssl_chain_cert = value;
  } else if (name == "ssl_key") {
    need("ssl_key");
    e->ssl_key = value;
  } else if (name == "ssl_verify_mode") {
    need("ssl_verify_mode");
    if (!SslNumber(value, &n)) FailVerbatim("could not parse argument to ssl_verify_mode");
    static const int kModes[] = {0, 1, 3, 7};  // SSL_VERIFY_NONE, PEER, |FAIL_IF_NO_PEER_CERT,
                                               // |CLIENT_ONCE
    if (n < 0 || n > 3) FailVerbatim("Invalid ssl_verify_mode. Use help to see valid options.");
    e->ssl_verify_mode = kModes[n];
  } else if (name == "ssl_keyformat") {
    need("ssl_keyformat");
    if (!SslNumber(value, &n)) FailVerbatim("could not parse argument to ssl_keyformat");
    e->ssl_keyformat = static_cast<int>(n);
  } else if (name == "ssl_ciphers") {
    need("ssl_ciphers");
    e->ssl_ciphers = value;
  } else if (name == "ssl_ca_cert") {
    need("ssl_ca_cert");
    e->ssl_ca_cert = value;
  } else if (name == "ssl_wbuf_size") {
    need("ssl_wbuf_size");
    if (!SslNumber(value, &n) || n < 0) FailVerbatim("could not parse argument to ssl_wbuf_size");
    e->ssl_wbuf_size = static_cast<uint32_t>(n) * 1024;
  } else if (name == "ssl_session_cache") {
    e->ssl_session_cache = true;
  } else if (name == "ssl_kernel_tls") {
    e->ssl_kernel_tls = true;
  } else if (name == "ssl_min_version") {
    need("ssl_min_version");
    static const char* kNames[] = {"tlsv1.0", "tlsv1.1", "tlsv1.2", "tlsv1.3"};
    n = -1;
    for (long i = 0; i < 4; ++i) {
      if (value == kNames[i]) n = i;
    }
    if (n < 0 && !SslNumber(value, &n)) FailVerbatim("could not parse argument to ssl_min_version");
    if (n < 0 || n > 3) FailVerbatim("Invalid ssl_min_version. Use help to see valid options.");
    e->ssl_min_version = 0x0301 + static_cast<int>(n);  // TLS1_VERSION .. TLS1_3_VERSION
  } else {
    return false;
  }
  return true;
}

// -o sub-options. memcached's own ones that steer internals we do not have are accepted
// and have no effect (documented in --help); an unknown one is refused as memcached does.
void ParseExtended(const char* arg, Config* c) {
  static const std::set<std::string> kAcceptedNoEffect = {
      "maxconns_fast",   "no_maxconns_fast",   "tail_repair_time",     "hash_algorithm",
      "lru_crawler",     "no_lru_crawler",     "lru_maintainer",       "no_lru_maintainer",
      "hot_lru_pct",     "warm_lru_pct",       "hot_max_factor",       "warm_max_factor",
      "temporary_ttl",   "worker_logbuf_size", "track_sizes",          "no_hashexpand",
      "slab_reassign",   "slab_automove",      "slab_automove_ratio",  "slab_automove_window",
      "slab_chunk_max",  "lru_segmented",      "no_lru_segmented",     "modern",
      "no_modern",       "inline_ascii_resp",  "no_inline_ascii_resp", "read_buf_mem_limit",
      "drop_privileges", "no_drop_privileges", "lru_crawler_sleep",    "lru_crawler_tocrawl",
      "sock_cookie_id"};
  std::vector<std::string> subs;
  SplitInto(arg, ',', &subs);
  for (const std::string& sub : subs) {
    std::string name = sub.substr(0, sub.find('='));
    std::string value = sub.find('=') == std::string::npos ? "" : sub.substr(sub.find('=') + 1);
    if (name == "hashpower") {
      c->hashpower = static_cast<uint32_t>(ParseUnsigned('o', value.c_str(), 12, 32));
    } else if (name == "idle_timeout") {
      c->engine.idle_timeout =
          static_cast<uint32_t>(ParseUnsigned('o', value.c_str(), 0, 1u << 31));
    } else if (name == "watcher_logbuf_size") {
      // KiB, as memcached; at least one line (memcached's LOGGER_PARSE_SCRATCH) must fit.
      c->engine.watcher_logbuf_size =
          static_cast<uint32_t>(ParseUnsigned('o', value.c_str(), 4, 1u << 20)) << 10;
    } else if (name == "relaxed_privileges") {
      c->engine.relaxed_privileges = true;
    } else if (name == "no_lru_crawler" || name == "lru_crawler") {
      c->engine.runtime.lru_crawler = name == "lru_crawler";
    } else if (name == "no_lru_maintainer" || name == "lru_maintainer") {
      c->engine.lru_maintainer = name == "lru_maintainer";
    } else if (name == "no_modern" || name == "modern") {
      // As memcached: no_modern starts neither the LRU crawler nor the maintainer.
      c->engine.runtime.lru_crawler = c->engine.lru_maintainer = name == "modern";
    } else if (name.rfind("ssl_", 0) == 0 && ParseSslOption(name, sub, value, &c->engine)) {
    } else if (name.rfind("ext_", 0) == 0) {
      Fail("-o " + name + ": extstore options are not supported by syncached");
    } else if (!kAcceptedNoEffect.count(name)) {
      FailVerbatim("Illegal suboption \"" + name + "\"");
    }
  }
}

void Apply(int opt, const char* arg, Config* c) {
  engine::Settings& e = c->engine;
  switch (opt) {
    // memcached: 0 turns the transport off, -1 asks for an ephemeral port.
    case 'p':
      c->tcp_specified = true;
      c->tcp_ephemeral = arg && std::string_view(arg) == "-1";
      e.tcpport = c->tcp_ephemeral ? 0 : static_cast<uint32_t>(ParseUnsigned(opt, arg, 0, 65535));
      break;
    case 'U':
      c->udp_specified = true;
      c->udp_ephemeral = arg && std::string_view(arg) == "-1";
      e.udpport = c->udp_ephemeral ? 0 : static_cast<uint32_t>(ParseUnsigned(opt, arg, 0, 65535));
      break;
    case 's':
      e.domain_socket = arg;
      break;
    case 'a': {
      char* end;
      long mask = strtol(arg, &end, 8);
      if (*arg == '\0' || *end != '\0' || mask < 0 || mask > 0777) {
        Fail("invalid value for -a: '" + std::string(arg) + "' (octal mask)");
      }
      e.umask = static_cast<uint32_t>(mask);
      break;
    }
    case 'A':
      e.shutdown_command = true;
      break;
    case 'l':
      SplitInto(arg, ',', &c->listen);
      break;
    case 'd':
      c->daemonize = true;
      break;
    case 'r':
      c->raise_core_limit = true;
      break;
    case 'u':
      c->user = arg;
      break;
    case 'm':
      e.maxbytes = ParseUnsigned(opt, arg, 1, 1ull << 30) << 20;
      break;
    case 'M':
      e.evictions = false;
      break;
    case 'c':
      e.maxconns = static_cast<uint32_t>(ParseUnsigned(opt, arg, 1, 1u << 24));
      break;
    case 'k':
      c->lock_memory = true;
      break;
    case 'v':
      e.runtime.verbosity =
          e.runtime.verbosity + 1 + (arg ? static_cast<uint32_t>(strspn(arg, "v")) : 0);
      break;
    case 'h':
      c->show_help = true;
      break;
    case 'i':
      c->show_license = true;
      break;
    case 'V':
      c->show_version = true;
      break;
    case 'P':
      c->pid_file = arg;
      break;
    case 'f':
      e.growth_factor = ParseDouble(opt, arg, 1.01, 100.0);
      break;
    case 'n':
      e.chunk_size = static_cast<uint32_t>(ParseUnsigned(opt, arg, 1, 1u << 20));
      break;
    case 'L':
      e.large_pages = true;
      break;
    case 'D':
      break;  // per-prefix stats delimiter: accepted, stats detail is not kept
    case 't':
      e.num_threads = static_cast<uint32_t>(ParseUnsigned(opt, arg, 1, 256));
      break;
    case 'R':
      e.reqs_per_event = static_cast<uint32_t>(ParseUnsigned(opt, arg, 1, 1u << 20));
      break;
    case 'C':
      e.cas_enabled = false;
      break;
    case 'b':
      e.tcp_backlog = static_cast<uint32_t>(ParseUnsigned(opt, arg, 1, 1u << 20));
      break;
    case 'B': {
      std::string p = arg;
      if (p == "auto")
        e.binding_protocol = "auto-negotiate";
      else if (p == "ascii" || p == "binary")
        e.binding_protocol = p;
      else
        Fail("invalid value for -B: '" + p + "' (ascii, binary or auto)");
      break;
    }
    case 'I':
      e.item_size_max = ParseItemSize(arg);
      break;
    case 'S':
      e.sasl = true;
      break;
    case 'F':
      e.flush_enabled = false;
      break;
    case 'X':
      e.dump_enabled = false;
      break;
    case 'W':
      e.watch_enabled = false;
      break;
    case 'Y':
      e.auth_file = arg;
      break;
    case 'e':
      if (!*arg) Fail("-e: the memory file needs a path");
      e.memory_file = arg;
      break;
    case 'Z':
      e.ssl_enabled = true;
      break;
    case 'o':
      ParseExtended(arg, c);
      break;
    case kOptConfig:
      c->config_file = arg;
      break;
    case kOptNodeId:
      c->node_id = static_cast<uint16_t>(ParseUnsigned(opt, arg, 1, 65535));
      break;
    case kOptPeers:
      c->peers.clear();
      SplitInto(arg, ',', &c->peers);
      for (const std::string& p : c->peers) {
        size_t colon = p.rfind(':');
        if (colon == std::string::npos || colon == 0)
          Fail("--peers: expected host:port, got '" + p + "'");
        ParseUnsigned(opt, p.substr(colon + 1).c_str(), 1, 65535);
      }
      break;
    case kOptReplicationPort:
      c->replication_port = static_cast<uint16_t>(ParseUnsigned(opt, arg, 1, 65535));
      break;
    case kOptClusterName:
      if (!*arg || strlen(arg) > 64) Fail("--cluster-name: 1 to 64 characters");
      c->cluster_name = arg;
      break;
    case kOptClusterSecretFile:
      if (!*arg) Fail("--cluster-secret-file: a file is required");
      c->cluster_secret_file = arg;  // read once parsing is done (CheckPeerSecurity)
      break;
    case kOptInsecurePeers:
      c->insecure_peers = true;
      break;
    case kOptTestClockOffset: {
      // Not in --help: lets tests give nodes skewed clocks without faketime.
      char* end = nullptr;
      errno = 0;
      long long v = strtoll(arg, &end, 10);
      if (errno || end == arg || *end || v < -86'400'000 || v > 86'400'000) {
        Fail(std::string("invalid value for --test-clock-offset-ms: '") + arg +
             "' (-86400000 to 86400000)");
      }
      c->test_clock_offset_ms = v;
      break;
    }
    case kOptBacklogSize:
      c->backlog_bytes = ParseSize(opt, arg, 1ull << 20, 1ull << 40);
      break;
    case kOptJoinMode:
      if (std::string(arg) == "refuse")
        c->join_refuse = true;
      else if (std::string(arg) == "error")
        c->join_refuse = false;
      else
        Fail("--join-mode: refuse or error, got '" + std::string(arg) + "'");
      break;
    case kOptJoinTimeout:
      c->join_timeout_ms = static_cast<uint32_t>(ParseUnsigned(opt, arg, 0, 86400) * 1000);
      break;
    case kOptDataDir:
      if (!*arg) Fail("--data-dir: a directory is required");
      c->data_dir = arg;
      break;
    case kOptFsync:
      if (!persistence::ParseFsyncPolicy(arg, &c->fsync)) {
        Fail("--fsync: always, everysec or no, got '" + std::string(arg) + "'");
      }
      break;
    case kOptSyncReplicas:
      c->sync_replicas = static_cast<uint32_t>(ParseUnsigned(opt, arg, 0, 1024));
      break;
    case kOptSyncTimeout:
      c->sync_timeout_ms = static_cast<uint32_t>(ParseUnsigned(opt, arg, 1, 3600000));
      break;
    case kOptSyncTimeoutMode:
      if (std::string(arg) == "ack")
        c->sync_timeout_close = false;
      else if (std::string(arg) == "close")
        c->sync_timeout_close = true;
      else
        Fail("--sync-timeout-mode: ack or close, got '" + std::string(arg) + "'");
      break;
    case kOptJournalSize:
      c->journal_size = ParseSize(opt, arg, 1ull << 10, 1ull << 40);
      break;
    case kOptLogFile:
      if (!*arg) Fail("--log-file: a file is required");
      c->log_file = arg;
      break;
    case kOptMetricsPort:
      c->metrics_port = static_cast<uint16_t>(ParseUnsigned(opt, arg, 0, 65535));
      break;
    case kOptMetricsAddr:
      c->metrics_addr.clear();
      SplitInto(arg, ',', &c->metrics_addr);
      if (c->metrics_addr.empty()) Fail("--metrics-addr: an address is required");
      break;
    case kOptMembers:
      if (!*arg) Fail("--members: a file is required");
      c->members_file = arg;
      break;
    case kOptReplicationFactor:
      c->replication_factor = static_cast<uint32_t>(ParseUnsigned(opt, arg, 1, 65535));
      break;
    case kOptRing: {
      std::optional<placement::RingKind> kind = placement::ParseRingKind(arg);
      if (!kind) Fail("--ring: expected ketama, ketama-weighted, memcache or memcache-session");
      c->ring.kind = *kind;
      break;
    }
    case kOptRingKeyPrefix:
      if (strlen(arg) > 250) Fail("--ring-key-prefix: at most 250 bytes");
      c->ring.prefix = arg;
      break;
    case kOptTombstoneTtl:
      c->tombstone_ttl = static_cast<uint32_t>(ParseUnsigned(opt, arg, 1, 30u * 86400));
      break;
    default:
      Fail("unknown option");
  }
}

// Runs getopt over argv, applying each option; returns the options seen.
std::set<int> ParseArgs(std::vector<std::string> args, Config* c, const std::set<int>& skip) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  optind = 0;  // full reset of getopt state (GNU)
  opterr = 0;
  std::set<int> seen;
  int argc = static_cast<int>(args.size());
  for (;;) {
    int idx = 0;
    int opt = getopt_long(argc, argv.data(), kShortOptions, kLongOptions, &idx);
    if (opt == -1) break;
    if (opt == '?') {
      std::string bad = optopt ? std::string("-") + static_cast<char>(optopt) : argv[optind - 1];
      Fail("unknown option " + bad + " (see --help)");
    }
    if (opt == ':') {
      std::string bad = optopt ? std::string("-") + static_cast<char>(optopt) : argv[optind - 1];
      Fail("option " + bad + " requires a value");
    }
    seen.insert(opt);
    if (skip.count(opt)) continue;
    Apply(opt, optarg, c);
  }
  if (optind < argc) Fail(std::string("unexpected argument '") + argv[optind] + "'");
  return seen;
}

// Peer links secure by default (peer_security.h): the secret file is read and checked
// here, once every source of options is merged; without one, replication must stay on
// loopback unless --insecure-peers says otherwise.
void CheckPeerSecurity(Config* c) {
  if (!c->cluster_secret_file.empty()) {
    // The file must belong to the user we run as; root started with -u may also read
    // a file owned by that user (the service account owning its secret).
    std::vector<uid_t> owners = {geteuid()};
    if (geteuid() == 0 && !c->user.empty()) {
      if (const passwd* pw = getpwnam(c->user.c_str())) {
        if (pw->pw_uid != 0) owners.push_back(pw->pw_uid);
      }
    }
    Status st = ReadSecretFile(c->cluster_secret_file, owners, &c->cluster_secret);
    if (!st.ok()) Fail("--cluster-secret-file: " + st.message());
    return;
  }
  if (c->peers.empty() || c->insecure_peers) return;
  std::string exposure = ReplicationExposure(c->listen, c->peers);
  if (exposure.empty()) return;
  Fail("replication without --cluster-secret-file is limited to loopback addresses, but " +
       exposure +
       ": generate a secret (head -c 32 /dev/urandom | base64 > /etc/syncached/secret; chmod 600 "
       "/etc/syncached/secret) and give every node --cluster-secret-file /etc/syncached/secret, "
       "or pass --insecure-peers to accept unauthenticated peers");
}

}  // namespace

// memcached's TLS start-up checks. Afterwards listen holds plain addresses (for UDP and
// replication) and client_listen the -l entries as given, "notls:" prefixes included.
void CheckTls(Config* c) {
  constexpr std::string_view kNoTls = "notls:";
  c->client_listen = c->listen;
  for (std::string& l : c->listen) {
    if (!l.starts_with(kNoTls)) continue;
    if (!c->engine.ssl_enabled) FailVerbatim("'notls' option is valid only when SSL is enabled");
    l.erase(0, kNoTls.size());
  }
  if (c->engine.ssl_enabled && c->tcp_specified && c->engine.tcpport == 0 && !c->tcp_ephemeral) {
    FailVerbatim("ERROR: You cannot enable SSL without a TCP port.");
  }
}

Config ParseCommandLine(int argc, char** argv) {
  Config c;
  std::vector<std::string> args(argv, argv + argc);
  std::set<int> seen = ParseArgs(args, &c, {});
  if (!c.config_file.empty()) {
    // The file first, then the command line again so that a flag overrides the file.
    Config from_file;
    for (ConfigLine& line : ReadConfigFile(c.config_file)) {
      line.words.insert(line.words.begin(), args[0]);
      try {
        ParseArgs(line.words, &from_file, {kOptConfig});
      } catch (const ConfigError& e) {
        Fail("--config " + c.config_file + ":" + std::to_string(line.lineno) + ": " + e.what());
      }
    }
    from_file.config_file = c.config_file;
    ParseArgs(args, &from_file, {kOptConfig});
    c = std::move(from_file);
  }
  // memcached: -U N without -p serves TCP on N as well.
  if (c.udp_specified && !c.tcp_specified && (c.engine.udpport != 0 || c.udp_ephemeral)) {
    c.engine.tcpport = c.engine.udpport;
    c.tcp_ephemeral = c.udp_ephemeral;
  }
  if (c.engine.sasl && (c.engine.udpport != 0 || c.udp_ephemeral)) {
    FailVerbatim("ERROR: Cannot enable UDP while using binary SASL authentication.");
  }
  if (c.engine.sasl && c.engine.binding_protocol != "binary") {
    if (seen.count('B')) {
      FailVerbatim("ERROR: You cannot allow the ASCII protocol while using SASL.");
    }
    c.engine.binding_protocol = "binary";
  }
  if (c.engine.item_size_max > c.engine.maxbytes / 2) {
    Fail("-I: cannot set item size limit higher than 1/2 of memory max (-m)");
  }
  for (const auto& l : c.listen) c.engine.inter += (c.engine.inter.empty() ? "" : ",") + l;
  CheckTls(&c);
  if (!c.show_help && !c.show_version && !c.show_license) ApplyMembers(&c);
  if (!c.peers.empty() && c.node_id == 0) Fail("--peers needs --node-id (1..65535, unique)");
  if (!c.engine.memory_file.empty()) {
    if (!c.data_dir.empty()) Fail("-e and --data-dir both say where the data is kept; give one");
    c.data_dir = c.engine.memory_file;  // memory_file.h
  }
  if (!c.show_help && !c.show_version && !c.show_license) CheckPeerSecurity(&c);
  return c;
}

std::string HelpText() {
  std::string h =
      std::string("syncached ") + kSyncachedVersion +
      " - a memcached-compatible cache server with replication\n\n"
      "usage: syncached [options]\n\nmemcached's options (same letters, defaults and meanings):\n";
  h += R"(  -p, --port=<num>          TCP port to listen on (default: 11211; 0 = off, -1 = any
                            free port; MEMCACHED_PORT_FILENAME=<file> receives the ports)
  -U, --udp-port=<num>      UDP port to listen on (default: 0, off; -1 = any free port;
                            without -p it is the TCP port too)
  -s, --unix-socket=<file>  UNIX socket to listen on (disables network support)
  -a, --unix-mask=<mask>    access mask for the UNIX socket, octal (default: 700)
  -A, --enable-shutdown     enable the ascii "shutdown" command
  -l, --listen=<addr>       interfaces to listen on, comma separated (default: all)
                            with -Z, a 'notls:' prefix makes that listener plain
                            (-l notls:127.0.0.1:11212)
  -d, --daemon              run as a daemon
  -r, --enable-coredumps    maximize the core file limit
  -u, --user=<user>         assume the identity of <user> (only when run as root)
  -m, --memory-limit=<num>  item memory in megabytes (default: 64)
  -M, --disable-evictions   return an error when memory is full instead of evicting
  -c, --conn-limit=<num>    max simultaneous connections (default: 1024)
  -k, --lock-memory         lock down all paged memory (mlockall)
  -v, --verbose             verbose (errors and warnings); -vv also logs each request
  -h, --help                print this help and exit
  -i, --license             print the license and exit
  -V, --version             print version and exit
  -P, --pidfile=<file>      save the PID in <file>
  -f, --slab-growth-factor=<num>  size class growth factor for stats (default: 1.25)
  -n, --slab-min-size=<bytes>     smallest size class for stats (default: 48)
  -L, --enable-largepages   accepted; memory comes from malloc (no effect)
  -D <char>                 accepted; per-prefix stats are not kept (no effect)
  -t, --threads=<num>       number of worker threads (default: 4)
  -R, --max-reqs-per-event  requests served per connection per event (default: 20)
  -C, --disable-cas         disable use of CAS (gets returns 0)
  -b, --listen-backlog=<num> listen backlog (default: 1024)
  -B, --protocol=<name>     ascii, binary or auto (default: auto)
  -I, --max-item-size=<num> max item size, k/m suffix (default: 1m, min: 1k, max: 1024m)
  -S, --enable-sasl         require SASL authentication (binary protocol)
  -F, --disable-flush-all   disable the flush_all command
  -X, --disable-dumping     disable lru_crawler metadump
  -W, --disable-watch       disable the watch command (live log streams)
  -Y, --auth-file=<file>    ascii protocol authentication, lines "user:pass"
  -Z, --enable-ssl          TLS on the TCP listeners (not UDP, not the unix socket);
                            see the ssl_* options under -o
  -e, --memory-file=<path>  keep the data over restarts at <path>: a directory of
                            journal and snapshots (--data-dir) plus <path>.meta;
                            survives SIGUSR1, SIGTERM and kill -9 alike
  -o, --extended=<opts>     comma separated extended options:
        hashpower=<n>       initial hash table size, 2^n buckets (12..32)
        idle_timeout=<s>    close client connections idle longer than <s> seconds
        no_lru_crawler      no background reclaim of expired items (lru_crawler enable)
        no_lru_maintainer   hides the LRU maintainer's stats, as memcached does
        no_modern           both of the above
        relaxed_privileges  enables memcached's test-only `debugtime <secs>` command
        watcher_logbuf_size=<KiB>  each `watch` connection's line buffer (default 256)
        ssl_chain_cert=<f>  certificate chain file in PEM format
        ssl_key=<f>         private key (default: in the ssl_chain_cert file)
        ssl_keyformat=<n>   private key format: 1 PEM, 2 DER (default: 1)
        ssl_verify_mode=<n> client certificates: 0 none (default), 1 request,
                            2 require, 3 once
        ssl_ciphers=<list>  TLS 1.2 cipher list (OpenSSL's syntax)
        ssl_ca_cert=<f>     PEM file of acceptable client CAs
        ssl_min_version=<n> oldest protocol accepted: 0 (tlsv1.0), 1 (tlsv1.1),
                            2 (tlsv1.2, default) or 3 (tlsv1.3); the names work too
        ssl_session_cache   server-side session cache (resumption)
        ssl_kernel_tls      kernel TLS offload, where OpenSSL and the kernel have it
        ssl_wbuf_size=<KiB> accepted and shown (output is buffered per connection)
      `refresh_certs` and SIGHUP reload the certificate, key and CA files.
      memcached's other -o options (lru/slab/logging tuning) are accepted and have
      no effect; ext_* are refused; anything else is an error.

syncached's own options:
  --config=<file>           read options from <file>, in Debian's memcached.conf format
                            ("-m 64", "-l 127.0.0.1", "logfile <file>"; -d is ignored)
                            or as "name = value" lines naming long options; '#' starts a
                            comment; the command line wins
  --log-file=<file>         append log lines (and anything else written to stderr) to
                            <file> instead of stderr; SIGHUP reopens it (logrotate)
  --metrics-port=<n>        serve Prometheus metrics (memcached_exporter's names plus
                            replication and persistence) at http://<addr>:<n>/metrics
                            (default: 0, off; memcached_exporter uses 9150)
  --metrics-addr=<a,...>    addresses for --metrics-port (default: the -l addresses, as
                            for the client and replication ports)
  --members=<file>          the cluster's nodes, one line each: "node-id client-address
                            replication-address [weight]", the same file on every node,
                            client addresses as the clients list them (turns
                            replication on; replaces --peers). docs/SHARDING.md
  --replication-factor=<r>  with --members: each key lives on r nodes, the first r of
                            the clients' own failover order (default: every node)
  --ring=<kind>             how clients place keys: ketama (php-memcached, libmemcached;
                            default), ketama-weighted (libketama compatible), memcache
                            (pecl/memcache consistent hashing, crc32) or memcache-session
                            (pecl/memcache's session handler on that ring)
  --ring-key-prefix=<s>     a prefix the client adds but does not hash, stripped before
                            placing a key (php-memcached sessions: memc.sess.key.)
  --node-id=<n>             this node's id, 1..65535, unique and stable in the cluster
  --peers=<host:port,...>   the other nodes' replication addresses (turns replication on)
  --replication-port=<n>    port for peer links (default: 11212)
  --cluster-name=<name>     peers with another name are refused (default: syncached)
  --cluster-secret-file=<f> shared secret (>= 16 bytes; a regular file of mode 600 or
                            stricter, owned by the user syncached runs as): peers
                            authenticate and encrypt with CURVE keys derived from it.
                            Required unless the replication port's -l addresses and every
                            peer are loopback (head -c 32 /dev/urandom | base64 > FILE)
  --insecure-peers          replicate without a secret beyond loopback anyway: whoever can
                            reach the replication port can read and write the whole cache
  --backlog-size=<bytes>    recent changes kept for peers that reconnect (k/m/g suffix,
                            default: 64m); a peer further behind gets a full copy
  --join-timeout=<secs>     how long a starting node waits for a peer before serving
                            alone (default: 5)
  --join-mode=refuse|error  while a starting node syncs: refuse client connections
                            (default; clients fail over) or accept them and answer
                            SERVER_ERROR syncing
  --tombstone-ttl=<secs>    how long a delete is remembered, so an older write
                            arriving late cannot bring the key back (default: 3600);
                            a peer away longer gets a full copy that drops what was
                            deleted meanwhile
  --sync-replicas=<k>       answer a write only once k peers applied it (default: 0,
                            asynchronous); a write so acknowledged survives the loss
                            of this node. Only the writing connection waits (TCP and
                            unix sockets; UDP replies at once)
  --sync-timeout=<ms>       longest wait for those peers (default: 1000)
  --sync-timeout-mode=ack|close  on timeout: answer anyway (default) or close the
                            connection unanswered; both are counted (sync_timeouts)
  --data-dir=<dir>          keep the data on disk: a journal of every change plus
                            snapshots; a restarted node loads it, then catches up from
                            its peers' backlogs (default: memory only)
  --fsync=always|everysec|no  when the journal is fsynced (default: everysec; a process
                            crash loses nothing either way, a power loss up to 1 s)
  --journal-size=<bytes>    compact the journal into a snapshot once it is larger than
                            this and than the data (k/m/g suffix, default: 64m)
)";
  return h;
}

}  // namespace syncached::server
