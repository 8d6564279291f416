// syncached-tool: memcached-tool's modes for a syncached (or memcached) node, plus
// cluster, wait-synced, repair and dump/restore through a file. docs/OPERATIONS.md.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "modes.h"

using namespace syncached::tool;

namespace {

int Run(int argc, char** argv) {
  if (argc > 1 && (std::string(argv[1]) == "owners" || std::string(argv[1]) == "check-members")) {
    return RunPlacement(argc, argv);
  }
  Options o;
  std::string address_text;
  CLI::App app{
      "syncached-tool: shows a syncached node and its cluster; memcached-tool's modes\n"
      "with the same output, plus cluster, wait-synced, repair, dump to a file and restore.\n\n"
      "  syncached-tool HOST[:PORT]|/path/to/socket [MODE] [ARGS]\n\n"
      "modes:\n"
      "  display (default)   slab classes, as memcached-tool\n"
      "  stats               general stats, as memcached-tool\n"
      "  settings            stats settings, as memcached-tool\n"
      "  sizes               stats sizes, as memcached-tool\n"
      "  keys [LIMIT]        the keys' metadata (lru_crawler metadump), as memcached-tool\n"
      "  dump [LIMIT]        every item as memcached-tool's 'add' commands, to stdout or -o FILE\n"
      "  restore FILE|-      sends a dump's items back (set, or add with --add)\n"
      "  cluster             every node: link state, lag, errors (stats replication)\n"
      "  wait-synced         exits 0 once the node serves and follows every peer with no\n"
      "                      lag, 1 after --timeout\n"
      "  repair              the node compares digests with every peer now and sends\n"
      "                      what differs (anti-entropy)\n"
      "  members [reload|commit]\n"
      "                      a membership change: the node's and its peers' epoch and\n"
      "                      readiness, or that step on the node (docs/SHARDING.md)\n\n"
      "placement (no server; see 'syncached-tool owners --help'):\n"
      "  syncached-tool owners --members FILE [--ring KIND] [-R N] [--prefix P] [KEY...]\n"
      "  syncached-tool check-members --members FILE SERVERLIST\n",
      "syncached-tool"};
  app.add_option("address", address_text, "HOST[:PORT] (port 11211 if absent) or a socket path")
      ->required();
  app.add_option("mode", o.mode,
                 "display, stats, settings, sizes, keys, dump, restore, "
                 "cluster, wait-synced, repair, members");
  app.add_option("args", o.args,
                 "the mode's arguments (dump/keys: LIMIT; restore: FILE; members: reload|commit)");
  app.add_flag("--json", o.json, "display, stats, settings, sizes, cluster: JSON on stdout");
  app.add_option("-o,--output", o.output, "dump: write to FILE (progress on stderr)");
  app.add_flag("--add", o.restore_add, "restore: add (keep keys that exist) instead of set");
  app.add_option("--timeout", o.timeout_s, "wait-synced: seconds to wait (default 60)")
      ->check(CLI::PositiveNumber);
  app.add_option("--io-timeout", o.io_timeout_s, "seconds any one reply may take (default 5)")
      ->check(CLI::PositiveNumber);
  app.add_option("--nodes", o.nodes,
                 "cluster: the other nodes' client addresses, [ID=]HOST:PORT,... (else "
                 "guessed as each peer's replication port - 1)")
      ->delimiter(',');
  std::string members_file;
  app.add_option("--members", members_file,
                 "cluster: a members file (docs/SHARDING.md) naming every node's client address");
  app.add_option("--probe-timeout", o.probe_timeout_s,
                 "cluster: seconds each other node may take to answer (default 1)")
      ->check(CLI::PositiveNumber);
  app.add_option("--batch", o.batch, "dump/restore: keys per request round trip (default 100)")
      ->check(CLI::Range(1, 100000));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  auto addr = ParseAddress(address_text);
  if (!addr) {
    fprintf(stderr, "syncached-tool: bad address '%s' (HOST[:PORT] or a socket path)\n",
            address_text.c_str());
    return 2;
  }
  o.address = *addr;
  signal(SIGPIPE, SIG_IGN);
  if (!members_file.empty()) {
    auto members = LoadMembersOrComplain(members_file);
    if (!members) return 2;
    for (const syncached::placement::Member& n : members->nodes()) {
      o.nodes.push_back(std::to_string(n.id) + "=" + n.client_address);
    }
  }

  const std::string& m = o.mode;
  bool takes_limit = m == "dump" || m == "keys";
  bool takes_one = takes_limit || m == "members";
  if ((!takes_one && m != "restore" && !o.args.empty()) || (takes_one && o.args.size() > 1)) {
    fprintf(stderr, "syncached-tool: unexpected arguments for %s (see --help)\n", m.c_str());
    return 2;
  }
  if (m == "display") return RunDisplay(o);
  if (m == "stats") return RunStats(o, "");
  if (m == "settings") return RunStats(o, "settings");
  if (m == "sizes") return RunStats(o, "sizes");
  if (m == "keys") return RunKeys(o);
  if (m == "dump") return RunDump(o);
  if (m == "restore") return RunRestore(o);
  if (m == "cluster") return RunCluster(o);
  if (m == "wait-synced") return RunWaitSynced(o);
  if (m == "repair") return RunRepair(o);
  if (m == "members") return RunMembers(o);
  fprintf(stderr, "syncached-tool: unknown mode '%s' (see --help)\n", m.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {  // bad_alloc, say: one line, not std::terminate's abort
    fprintf(stderr, "syncached-tool: %s\n", e.what());
    return 1;
  }
}
