// Command line and config file. memcached's flags keep memcached's letters, defaults
// and meanings (so syncached drops into an existing unit file); syncached's own
// options use long names. Any option may also come from --config FILE (Debian's
// memcached.conf format or "name = value" lines, config_file.h), where a flag given on
// the command line wins. Parsing runs once at start and reports errors by throwing
// ConfigError with one line naming the option; main prints it and exits 64 (EX_USAGE,
// as memcached does).
//
// The options themselves are the rows of one table (options.h), which getopt's tables,
// their parsing and --help (hence the man page) are made from.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "persistence/persistence.h"
#include "placement/placement.h"

namespace syncached::server {

class ConfigError : public std::runtime_error {
 public:
  // `verbatim`: memcached's own wording, printed without our "syncached: " prefix so
  // scripts that match memcached's message keep working.
  explicit ConfigError(const std::string& what, bool verbatim = false)
      : std::runtime_error(what), verbatim_(verbatim) {}
  bool verbatim() const { return verbatim_; }

 private:
  bool verbatim_;
};

struct Config {
  engine::Settings engine;
  std::vector<std::string> listen;         // -l, split on commas, no "notls:"
  std::vector<std::string> client_listen;  // -l as given: the client listeners ("notls:" kept)
  bool tcp_specified = false, udp_specified = false;  // -p / -U given
  bool tcp_ephemeral = false, udp_ephemeral = false;  // -p -1 / -U -1 (tcpport/udpport 0)
  bool daemonize = false;                             // -d
  std::string user;                                   // -u
  std::string pid_file;                               // -P
  bool lock_memory = false;                           // -k
  bool raise_core_limit = false;                      // -r
  uint32_t hashpower = 0;                             // -o hashpower
  std::string config_file;                            // --config (config_file.h)
  std::string log_file;                               // --log-file, memcached.conf's logfile
  uint16_t metrics_port = 0;                          // --metrics-port (0: no endpoint)
  std::vector<std::string> metrics_addr;              // --metrics-addr (empty: -l's)
  // Replication (--peers turns it on).
  uint16_t node_id = 0;                    // --node-id
  std::vector<std::string> peers;          // --peers host:port,...
  uint16_t replication_port = 11212;       // --replication-port
  std::string cluster_name = "syncached";  // --cluster-name
  std::string cluster_secret_file;         // --cluster-secret-file
  bool insecure_peers = false;             // --insecure-peers: no secret beyond loopback
  uint64_t backlog_bytes = 64ull << 20;    // --backlog-size
  uint32_t join_timeout_ms = 5000;         // --join-timeout (seconds on the command line)
  bool join_refuse = true;                 // --join-mode refuse (default) | error
  bool join = false;                       // --join: take keys over by comparison
  // --multicast: the change stream also goes to this epgm group (sealed; needs a secret).
  std::string multicast;                  // --multicast epgm://IFACE;GROUP:PORT
  uint32_t multicast_rate_kbps = 100000;  // --multicast-rate (kbit/s)
  uint32_t multicast_recovery_ms = 200;   // --multicast-recovery (ms)
  uint32_t multicast_hops = 1;            // --multicast-hops
  uint32_t multicast_mtu = 1500;          // --multicast-mtu (bytes per datagram)
  uint32_t sync_replicas = 0;             // --sync-replicas
  uint32_t sync_timeout_ms = 1000;        // --sync-timeout
  bool sync_timeout_close = false;        // --sync-timeout-mode close (default: ack)
  uint32_t tombstone_ttl = 3600;          // --tombstone-ttl (seconds)
  uint32_t repair_interval_ms = 60000;    // --repair-interval (seconds; 0: on return only)
  uint64_t repair_rate = 16ull << 20;     // --repair-rate (bytes/s)
  // Sharding (--members; membership.h). The file is read at the end of parsing.
  std::string members_file;                   // --members
  std::optional<placement::Members> members;  // its contents
  uint32_t replication_factor = 0;            // --replication-factor (0: every node)
  bool replication_factor_given = false;      // by the flag, not defaulted to the nodes
  placement::RingOptions ring;                // --ring, --ring-key-prefix
  // Read from cluster_secret_file at the end of parsing (peer_security.h checks the file).
  // Never logged or shown; wiped (WipeString) once handed to the replicator.
  std::string cluster_secret;
  // Persistence (--data-dir turns it on).
  std::string data_dir;  // --data-dir, or -e's path (engine.memory_file, memory_file.h)
  persistence::FsyncPolicy fsync = persistence::FsyncPolicy::kEverySec;  // --fsync
  uint64_t journal_size = 64ull << 20;                                   // --journal-size
  int64_t test_clock_offset_ms = 0;  // hidden --test-clock-offset-ms: skew for tests
  bool show_help = false;            // -h
  bool show_version = false;         // -V
  bool show_license = false;         // -i
};

// argv as main receives it. Throws ConfigError.
Config ParseCommandLine(int argc, char** argv);

// The text of --help.
std::string HelpText();

}  // namespace syncached::server
