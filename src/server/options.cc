// The option table (options.h). Rows are in --help's order.
#include "server/options.h"

#include <algorithm>
#include <string_view>
#include <vector>

#include "server/option_setters.h"

namespace syncached::server {
namespace {

using engine::Runtime;
using engine::Settings;
using persistence::FsyncPolicy;

constexpr SubOption kExtendedOptions[] = {
    {"hashpower", "<n>", Unsigned<&Config::hashpower>(12, 32),
     "initial hash table size, 2^n buckets (12..32)"},
    {"idle_timeout", "<s>", Unsigned<&Settings::idle_timeout>(0, 1u << 31),
     "close client connections idle longer than <s> seconds"},
    {"no_lru_crawler", nullptr, Set<&Runtime::lru_crawler>(false),
     "no background reclaim of expired items (lru_crawler enable)"},
    {"lru_crawler", nullptr, Set<&Runtime::lru_crawler>(true), nullptr},
    {"no_lru_maintainer", nullptr, Set<&Settings::lru_maintainer>(false),
     "hides the LRU maintainer's stats, as memcached does"},
    {"lru_maintainer", nullptr, Set<&Settings::lru_maintainer>(true), nullptr},
    {"no_modern", nullptr, Modern(false), "both of the above"},
    {"modern", nullptr, Modern(true), nullptr},
    {"relaxed_privileges", nullptr, Set<&Settings::relaxed_privileges>(),
     "enables memcached's test-only `debugtime <secs>` command"},
    // KiB, as memcached's; at least one line (memcached's LOGGER_PARSE_SCRATCH) must fit.
    {"watcher_logbuf_size", "<KiB>", Unsigned<&Settings::watcher_logbuf_size>(4, 1u << 20, 1024),
     "each `watch` connection's line buffer (default 256)"},
    {"ssl_chain_cert", "<f>", SslText<&Settings::ssl_chain_cert>(),
     "certificate chain file in PEM format"},
    {"ssl_key", "<f>", SslText<&Settings::ssl_key>(),
     "private key (default: in the ssl_chain_cert file)"},
    {"ssl_keyformat", "<n>", Custom(&SetSslKeyFormat),
     "private key format: 1 PEM, 2 DER (default: 1)"},
    {"ssl_verify_mode", "<n>", Custom(&SetSslVerifyMode),
     "client certificates: 0 none (default), 1 request,\n"
     "2 require, 3 once"},
    {"ssl_ciphers", "<list>", SslText<&Settings::ssl_ciphers>(),
     "TLS 1.2 cipher list (OpenSSL's syntax)"},
    {"ssl_ca_cert", "<f>", SslText<&Settings::ssl_ca_cert>(), "PEM file of acceptable client CAs"},
    {"ssl_min_version", "<n>", Custom(&SetSslMinVersion),
     "oldest protocol accepted: 0 (tlsv1.0), 1 (tlsv1.1),\n"
     "2 (tlsv1.2, default) or 3 (tlsv1.3); the names work too"},
    {"ssl_session_cache", nullptr, Set<&Settings::ssl_session_cache>(),
     "server-side session cache (resumption)"},
    {"ssl_kernel_tls", nullptr, Set<&Settings::ssl_kernel_tls>(),
     "kernel TLS offload, where OpenSSL and the kernel have it"},
    {"ssl_wbuf_size", "<KiB>", Custom(&SetSslWbufSize),
     "accepted and shown (output is buffered per connection)"},
};

// memcached's -o options for internals syncached does not have (lru/slab/logging
// tuning): accepted so its unit files start, with no effect.
constexpr std::string_view kNoEffectSubOptions[] = {
    "maxconns_fast",        "no_maxconns_fast",    "tail_repair_time",    "hash_algorithm",
    "hot_lru_pct",          "warm_lru_pct",        "hot_max_factor",      "warm_max_factor",
    "temporary_ttl",        "worker_logbuf_size",  "track_sizes",         "no_hashexpand",
    "slab_reassign",        "slab_automove",       "slab_automove_ratio", "slab_automove_window",
    "slab_chunk_max",       "lru_segmented",       "no_lru_segmented",    "inline_ascii_resp",
    "no_inline_ascii_resp", "read_buf_mem_limit",  "drop_privileges",     "no_drop_privileges",
    "lru_crawler_sleep",    "lru_crawler_tocrawl", "sock_cookie_id"};

// -o a,b=1,...: each through its row; extstore's are refused by name, and an unknown one
// as memcached refuses it.
void ApplyExtended(const Action&, const Where& w, const char* arg, Config* c) {
  std::vector<std::string> subs;
  SplitInto(arg, ',', &subs);
  for (const std::string& sub : subs) {
    size_t eq = sub.find('=');
    std::string name = sub.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : sub.substr(eq + 1);
    auto row = std::find_if(std::begin(kExtendedOptions), std::end(kExtendedOptions),
                            [&](const SubOption& s) { return name == s.name; });
    if (row != std::end(kExtendedOptions)) {
      const char* given = eq == std::string::npos ? nullptr : value.c_str();
      row->action.apply(row->action, Where{w.option, name}, given, c);
    } else if (name.starts_with("ext_")) {
      Fail(std::string(w.option) + " " + name +
           ": extstore options are not supported by syncached");
    } else if (std::find(std::begin(kNoEffectSubOptions), std::end(kNoEffectSubOptions), name) ==
               std::end(kNoEffectSubOptions)) {
      FailVerbatim("Illegal suboption \"" + name + "\"");
    }
  }
}

constexpr Choice kJoinModes[] = {{"refuse", true}, {"error", false}};
constexpr Choice kSyncTimeoutModes[] = {{"ack", false}, {"close", true}};
constexpr Choice kFsyncPolicies[] = {{"always", static_cast<int64_t>(FsyncPolicy::kAlways)},
                                     {"everysec", static_cast<int64_t>(FsyncPolicy::kEverySec)},
                                     {"no", static_cast<int64_t>(FsyncPolicy::kNo)}};

constexpr Option kOptions[] = {
    // memcached's, with its letters.
    {'p', "port", "<num>", Custom(&SetTcpPort),
     "TCP port to listen on (default: 11211; 0 = off, -1 = any\n"
     "free port; MEMCACHED_PORT_FILENAME=<file> receives the ports)"},
    {'U', "udp-port", "<num>", Custom(&SetUdpPort),
     "UDP port to listen on (default: 0, off; -1 = any free port;\n"
     "without -p it is the TCP port too)"},
    {'s', "unix-socket", "<file>", Text<&Settings::domain_socket>(),
     "UNIX socket to listen on (disables network support)"},
    {'a', "unix-mask", "<mask>", Custom(&SetUnixMask),
     "access mask for the UNIX socket, octal (default: 700)"},
    {'A', "enable-shutdown", nullptr, Set<&Settings::shutdown_command>(),
     "enable the ascii \"shutdown\" command"},
    {'l', "listen", "<addr>", Custom(&AddListen),
     "interfaces to listen on, comma separated (default: all)\n"
     "with -Z, a 'notls:' prefix makes that listener plain\n"
     "(-l notls:127.0.0.1:11212)"},
    {'d', "daemon", nullptr, Set<&Config::daemonize>(), "run as a daemon"},
    {'r', "enable-coredumps", nullptr, Set<&Config::raise_core_limit>(),
     "maximize the core file limit"},
    {'u', "user", "<user>", Text<&Config::user>(),
     "assume the identity of <user> (only when run as root)"},
    {'m', "memory-limit", "<num>", Unsigned<&Settings::maxbytes>(1, 1ull << 30, 1ull << 20),
     "item memory in megabytes (default: 64)"},
    {'M', "disable-evictions", nullptr, Set<&Settings::evictions>(false),
     "return an error when memory is full instead of evicting"},
    {'c', "conn-limit", "<num>", Unsigned<&Settings::maxconns>(1, 1u << 24),
     "max simultaneous connections (default: 1024)"},
    {'k', "lock-memory", nullptr, Set<&Config::lock_memory>(),
     "lock down all paged memory (mlockall)"},
    {'v', "verbose", nullptr, Custom(&AddVerbosity, Takes::kOptionalValue),
     "verbose (errors and warnings); -vv also logs each request"},
    {'h', "help", nullptr, Set<&Config::show_help>(), "print this help and exit"},
    {'i', "license", nullptr, Set<&Config::show_license>(), "print the license and exit"},
    {'V', "version", nullptr, Set<&Config::show_version>(), "print version and exit"},
    {'P', "pidfile", "<file>", Text<&Config::pid_file>(), "save the PID in <file>"},
    {'f', "slab-growth-factor", "<num>", Double<&Settings::growth_factor>(1.01, 100.0),
     "size class growth factor for stats (default: 1.25)"},
    {'n', "slab-min-size", "<bytes>", Unsigned<&Settings::chunk_size>(1, 1u << 20),
     "smallest size class for stats (default: 48)"},
    {'L', "enable-largepages", nullptr, Set<&Settings::large_pages>(),
     "accepted; memory comes from malloc (no effect)"},
    // The per-prefix stats delimiter: stats detail is not kept.
    {'D', nullptr, "<char>", Ignore(Takes::kValue),
     "accepted; per-prefix stats are not kept (no effect)"},
    {'t', "threads", "<num>", Unsigned<&Settings::num_threads>(1, 256),
     "number of worker threads (default: 4)"},
    {'R', "max-reqs-per-event", "<num>", Unsigned<&Settings::reqs_per_event>(1, 1u << 20),
     "requests served per connection per event (default: 20)"},
    {'C', "disable-cas", nullptr, Set<&Settings::cas_enabled>(false),
     "disable use of CAS (gets returns 0)"},
    {'b', "listen-backlog", "<num>", Unsigned<&Settings::tcp_backlog>(1, 1u << 20),
     "listen backlog (default: 1024)"},
    {'B', "protocol", "<name>", Custom(&SetProtocol), "ascii, binary or auto (default: auto)"},
    {'I', "max-item-size", "<num>", Custom(&SetItemSize),
     "max item size, k/m suffix (default: 1m, min: 1k, max: 1024m)"},
    {'S', "enable-sasl", nullptr, Set<&Settings::sasl>(),
     "require SASL authentication (binary protocol)"},
    {'F', "disable-flush-all", nullptr, Set<&Settings::flush_enabled>(false),
     "disable the flush_all command"},
    {'X', "disable-dumping", nullptr, Set<&Settings::dump_enabled>(false),
     "disable lru_crawler metadump"},
    {'W', "disable-watch", nullptr, Set<&Settings::watch_enabled>(false),
     "disable the watch command (live log streams)"},
    {'Y', "auth-file", "<file>", Text<&Settings::auth_file>(),
     "ascii protocol authentication, lines \"user:pass\""},
    {'Z', "enable-ssl", nullptr, Set<&Settings::ssl_enabled>(),
     "TLS on the TCP listeners (not UDP, not the unix socket);\n"
     "see the ssl_* options under -o"},
    {'e', "memory-file", "<path>", Path<&Settings::memory_file>("the memory file needs a path"),
     "keep the data over restarts at <path>: a directory of\n"
     "journal and snapshots (--data-dir) plus <path>.meta;\n"
     "survives SIGUSR1, SIGTERM and kill -9 alike"},
    {'o', "extended", "<opts>", Custom(&ApplyExtended),
     "comma separated extended options:", kExtendedOptions,
     "`refresh_certs` and SIGHUP reload the certificate, key and CA files.\n"
     "memcached's other -o options (lru/slab/logging tuning) are accepted and have\n"
     "no effect; ext_* are refused; anything else is an error."},

    // syncached's own: long names only.
    {0, "config", "<file>", Text<&Config::config_file>(),
     "read options from <file>, in Debian's memcached.conf format\n"
     "(\"-m 64\", \"-l 127.0.0.1\", \"logfile <file>\"; -d is ignored)\n"
     "or as \"name = value\" lines naming long options; '#' starts a\n"
     "comment; the command line wins"},
    {0, "log-file", "<file>", Path<&Config::log_file>("a file is required"),
     "append log lines (and anything else written to stderr) to\n"
     "<file> instead of stderr; SIGHUP reopens it (logrotate)"},
    {0, "metrics-port", "<n>", Unsigned<&Config::metrics_port>(0, 65535),
     "serve Prometheus metrics (memcached_exporter's names plus\n"
     "replication and persistence) at http://<addr>:<n>/metrics\n"
     "(default: 0, off; memcached_exporter uses 9150)"},
    {0, "metrics-addr", "<a,...>", Custom(&SetMetricsAddr),
     "addresses for --metrics-port (default: the -l addresses, as\n"
     "for the client and replication ports)"},
    {0, "members", "<file>", Path<&Config::members_file>("a file is required"),
     "the cluster's nodes, one line each: \"node-id client-address\n"
     "replication-address [weight]\", the same file on every node,\n"
     "client addresses as the clients list them (turns\n"
     "replication on; replaces --peers). docs/SHARDING.md"},
    {0, "replication-factor", "<r>", Unsigned<&Config::replication_factor>(1, 65535),
     "with --members: each key lives on r nodes, the first r of\n"
     "the clients' own failover order (default: every node)"},
    {0, "ring", "<kind>", Custom(&SetRing),
     "how clients place keys: ketama (php-memcached, libmemcached;\n"
     "default), ketama-weighted (libketama compatible), memcache\n"
     "(pecl/memcache consistent hashing, crc32) or memcache-session\n"
     "(pecl/memcache's session handler on that ring)"},
    {0, "ring-key-prefix", "<s>", Custom(&SetRingKeyPrefix),
     "a prefix the client adds but does not hash, stripped before\n"
     "placing a key (php-memcached sessions: memc.sess.key.)"},
    {0, "node-id", "<n>", Unsigned<&Config::node_id>(1, 65535),
     "this node's id, 1..65535, unique and stable in the cluster"},
    {0, "peers", "<host:port,...>", Custom(&SetPeers),
     "the other nodes' replication addresses (turns replication on)"},
    {0, "replication-port", "<n>", Unsigned<&Config::replication_port>(1, 65535),
     "port for peer links (default: 11212)"},
    {0, "cluster-name", "<name>", Custom(&SetClusterName),
     "peers with another name are refused (default: syncached)"},
    // Read and checked once every source of options is merged (config.cc).
    {0, "cluster-secret-file", "<f>", Path<&Config::cluster_secret_file>("a file is required"),
     "shared secret (>= 16 bytes; a regular file of mode 600 or\n"
     "stricter, owned by the user syncached runs as): peers\n"
     "authenticate and encrypt with CURVE keys derived from it.\n"
     "Required unless the replication port's -l addresses and every\n"
     "peer are loopback (head -c 32 /dev/urandom | base64 > FILE)"},
    {0, "insecure-peers", nullptr, Set<&Config::insecure_peers>(),
     "replicate without a secret beyond loopback anyway: whoever can\n"
     "reach the replication port can read and write the whole cache"},
    {0, "multicast", "<endpoint>", Custom(&SetMulticast),
     "also send the change stream to a multicast group, sealed with\n"
     "the cluster secret: epgm://IFACE-IPV4;GROUP:PORT (numeric).\n"
     "Peers that hear it get their live stream only there (TCP\n"
     "resends what they miss). Full replication only"},
    {0, "multicast-rate", "<kbit/s>", Unsigned<&Config::multicast_rate_kbps>(100, 10000000),
     "PGM's send rate limit, the same on every node (default:\n"
     "100000)"},
    {0, "multicast-recovery", "<ms>", Unsigned<&Config::multicast_recovery_ms>(10, 60000),
     "how long PGM keeps frames for its own repairs (default: 200;\n"
     "TCP resends anything older)"},
    {0, "multicast-hops", "<n>", Unsigned<&Config::multicast_hops>(1, 255),
     "how many routers frames may cross (default: 1)"},
    {0, "multicast-mtu", "<bytes>", Unsigned<&Config::multicast_mtu>(576, 65535),
     "largest datagram PGM sends, headers included (default: 1500)"},
    {0, "backlog-size", "<bytes>", Size<&Config::backlog_bytes>(1ull << 20, 1ull << 40),
     "recent changes kept for peers that reconnect (k/m/g suffix,\n"
     "default: 64m); a peer further behind gets a full copy"},
    {0, "join-timeout", "<secs>", Unsigned<&Config::join_timeout_ms>(0, 86400, 1000),
     "how long a starting node waits for a peer before serving\n"
     "alone (default: 5)"},
    {0, "join-mode", "refuse|error", OneOf<&Config::join_refuse>(kJoinModes),
     "while a starting node syncs: refuse client connections\n"
     "(default; clients fail over) or accept them and answer\n"
     "SERVER_ERROR syncing"},
    {0, "tombstone-ttl", "<secs>", Unsigned<&Config::tombstone_ttl>(1, 30u * 86400),
     "how long a delete is remembered, so an older write\n"
     "arriving late cannot bring the key back (default: 3600);\n"
     "a peer away longer gets a full copy that drops what was\n"
     "deleted meanwhile"},
    {0, "join", nullptr, Set<&Config::join>(),
     "with --members and --replication-factor: a node starting\n"
     "empty takes its keys over by comparing digests with its\n"
     "peers one at a time (forwarding requests for them meanwhile)\n"
     "instead of a full copy from each: for a node added to a\n"
     "cluster (docs/SHARDING.md)"},
    {0, "repair-interval", "<secs>", Unsigned<&Config::repair_interval_ms>(0, 86400, 1000),
     "anti-entropy: how often each peer link compares digests of\n"
     "what both hold and sends what differs (default: 60; 0: only\n"
     "when a peer comes back)"},
    {0, "repair-rate", "<bytes>", Size<&Config::repair_rate>(1ull << 10, 1ull << 40),
     "most bytes of items per second anti-entropy sends (k/m/g\n"
     "suffix, default: 16m)"},
    {0, "sync-replicas", "<k>|all", Custom(&SetSyncReplicas),
     "answer a write only once k peers applied it (default: 0,\n"
     "asynchronous); a write so acknowledged survives the loss\n"
     "of this node. all: every peer that follows this node (one\n"
     "whose connection closed stops counting), at least one.\n"
     "Only the writing connection waits (TCP and unix sockets;\n"
     "UDP replies at once)"},
    {0, "sync-timeout", "<ms>", Unsigned<&Config::sync_timeout_ms>(1, 3600000),
     "longest wait for those peers (default: 1000)"},
    {0, "sync-timeout-mode", "ack|close", OneOf<&Config::sync_timeout_close>(kSyncTimeoutModes),
     "on timeout: answer anyway (default) or close the\n"
     "connection unanswered; both are counted (sync_timeouts)"},
    {0, "data-dir", "<dir>", Path<&Config::data_dir>("a directory is required"),
     "keep the data on disk: a journal of every change plus\n"
     "snapshots; a restarted node loads it, then catches up from\n"
     "its peers' backlogs (default: memory only)"},
    {0, "fsync", "always|everysec|no", OneOf<&Config::fsync>(kFsyncPolicies),
     "when the journal is fsynced (default: everysec; a process\n"
     "crash loses nothing either way, a power loss up to 1 s)"},
    {0, "journal-size", "<bytes>", Size<&Config::journal_size>(1ull << 10, 1ull << 40),
     "compact the journal into a snapshot once it is larger than\n"
     "this and than the data (k/m/g suffix, default: 64m)"},
    // Not in --help: only the partition and skew tests give a node a skewed clock.
    {0, "test-clock-offset-ms", "<ms>", Custom(&SetTestClockOffset), nullptr},
};

}  // namespace

std::span<const Option> Options() { return kOptions; }

std::string Label(const Option& o) {
  return o.letter ? std::string("-") + o.letter : std::string("--") + o.name;
}

}  // namespace syncached::server
