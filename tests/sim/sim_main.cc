// replication_sim: runs the deterministic cluster simulation (sim_world.h) for a range
// of seeds and checks the invariants of each run; a failing seed prints the command
// that replays it. docs/RELIABILITY.md has the fault menu and the latest long runs.
//
//   replication_sim [--seeds N] [--first S] [--nodes N] [--data] [--sync] [--sync-all]
//                   [--repair] [--multicast]
//                   [--replication-factor R] [--change grow|shrink] [--fault-ms MS]
//                   [--heal-ms MS] [--verbose]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include "common/log.h"
#include "sim_world.h"

int main(int argc, char** argv) {
  syncached::sim::Config cfg;
  uint64_t seeds = 100, first = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> uint64_t {
      if (i + 1 >= argc) {
        fprintf(stderr, "%s: a number must follow\n", a.c_str());
        exit(2);
      }
      return strtoull(argv[++i], nullptr, 10);
    };
    if (a == "--seeds") {
      seeds = next();
    } else if (a == "--first" || a == "--seed") {
      first = next();
      if (a == "--seed") seeds = 1;
    } else if (a == "--nodes") {
      cfg.nodes = static_cast<int>(next());
    } else if (a == "--replication-factor") {
      cfg.replication_factor = static_cast<int>(next());
    } else if (a == "--data") {
      cfg.data_dirs = true;
    } else if (a == "--sync") {
      cfg.sync_replicas = 1;
    } else if (a == "--multicast") {
      cfg.multicast = true;
    } else if (a == "--sync-all") {
      cfg.sync_replicas = syncached::replication::kSyncAllPeers;
    } else if (a == "--fault-ms") {
      cfg.fault_ms = next();
    } else if (a == "--heal-ms") {
      cfg.heal_ms = next();
    } else if (a == "--change") {
      if (i + 1 >= argc) {
        fprintf(stderr, "--change: grow or shrink must follow\n");
        return 2;
      }
      cfg.change = argv[++i];
      if (cfg.change != "grow" && cfg.change != "shrink") {
        fprintf(stderr, "--change: grow or shrink, not %s\n", cfg.change.c_str());
        return 2;
      }
    } else if (a == "--repair") {
      cfg.repair = true;
    } else if (a == "--verbose") {
      cfg.verbose = true;
    } else {
      fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (!cfg.change.empty() && (cfg.replication_factor <= 0 || cfg.sync_replicas || cfg.nodes < 4)) {
    fprintf(stderr, "--change needs --replication-factor, at least 4 nodes, and not --sync\n");
    return 2;
  }
  if (cfg.multicast && cfg.replication_factor > 0) {
    fprintf(stderr, "--multicast: full replication only (a sharded stream differs per peer)\n");
    return 2;
  }
  if (cfg.repair && cfg.sync_replicas) {
    // Node 1 acknowledges the changes it drops: --sync's promise cannot hold.
    fprintf(stderr, "--repair drops changes on node 1: not with --sync\n");
    return 2;
  }
  syncached::log::SetLevel(cfg.verbose ? syncached::log::Level::kInfo
                                       : syncached::log::Level::kError);
  std::string mode =
      std::string(cfg.data_dirs ? " --data" : "") + (cfg.multicast ? " --multicast" : "") +
      (cfg.sync_replicas == syncached::replication::kSyncAllPeers ? " --sync-all"
       : cfg.sync_replicas                                        ? " --sync"
                                                                  : "") +
      (cfg.repair ? " --repair" : "") + (cfg.change.empty() ? "" : " --change " + cfg.change) +
      (cfg.replication_factor ? " --replication-factor " + std::to_string(cfg.replication_factor)
                              : "");
  auto started = std::chrono::steady_clock::now();
  uint64_t failed = 0, messages = 0, acked = 0, excused = 0, lag_checks = 0, repaired = 0;
  uint64_t range_copies = 0, range_copies_failed = 0;
  uint64_t mcast_frames = 0, mcast_lost = 0, mcast_damaged = 0, mcast_repairs = 0;
  uint64_t mcast_fallbacks = 0;
  std::map<std::string, uint64_t> faults;
  for (uint64_t s = first; s < first + seeds; ++s) {
    cfg.seed = s;
    syncached::sim::World world(cfg);
    std::vector<std::string> problems = world.Run();
    messages += world.messages;
    acked += world.ops_acked;
    excused += world.ops_excused;
    lag_checks += world.lag_checks;
    repaired += world.repaired;
    range_copies += world.range_copies;
    range_copies_failed += world.range_copies_failed;
    mcast_frames += world.mcast_frames;
    mcast_lost += world.mcast_lost;
    mcast_damaged += world.mcast_damaged;
    mcast_repairs += world.mcast_repairs;
    mcast_fallbacks += world.mcast_fallbacks;
    for (const auto& [k, v] : world.faults) faults[k] += v;
    if (!problems.empty()) {
      ++failed;
      printf("seed %llu FAILED:\n", static_cast<unsigned long long>(s));
      for (const std::string& p : problems) printf("  %s\n", p.c_str());
      printf(
          "  replay: replication_sim --seed %llu --nodes %d%s --fault-ms %llu --heal-ms %llu "
          "--verbose\n",
          static_cast<unsigned long long>(s), cfg.nodes, mode.c_str(),
          static_cast<unsigned long long>(cfg.fault_ms),
          static_cast<unsigned long long>(cfg.heal_ms));
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::string fault_list;
  for (const auto& [k, v] : faults) fault_list += " " + k + "=" + std::to_string(v);
  printf(
      "%llu seeds (%llu..%llu, %d nodes%s) in %.1f s: %llu messages, %llu writes "
      "acknowledged (%llu checked to reach every node within 1 s), %llu lost with every "
      "node holding them (excused), faults:%s\n",
      static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(first),
      static_cast<unsigned long long>(first + seeds - 1), cfg.nodes, mode.c_str(), secs,
      static_cast<unsigned long long>(messages), static_cast<unsigned long long>(acked),
      static_cast<unsigned long long>(lag_checks), static_cast<unsigned long long>(excused),
      fault_list.c_str());
  if (cfg.repair) {
    printf("repair: %llu keys brought to nodes that lacked them\n",
           static_cast<unsigned long long>(repaired));
  }
  if (cfg.multicast) {
    printf(
        "multicast: %llu frames to receivers, %llu lost, %llu damaged; %llu gap repairs "
        "asked for, %llu fallbacks to TCP\n",
        static_cast<unsigned long long>(mcast_frames), static_cast<unsigned long long>(mcast_lost),
        static_cast<unsigned long long>(mcast_damaged),
        static_cast<unsigned long long>(mcast_repairs),
        static_cast<unsigned long long>(mcast_fallbacks));
  }
  if (!cfg.change.empty()) {
    printf("handover: %llu range copies asked for, %llu cut off, declined or timed out\n",
           static_cast<unsigned long long>(range_copies),
           static_cast<unsigned long long>(range_copies_failed));
  }
  printf("%llu passed, %llu failed\n", static_cast<unsigned long long>(seeds - failed),
         static_cast<unsigned long long>(failed));
  return failed ? 1 : 0;
}
