// owners and check-members: placement commands that read a members file and need no
// server. docs/SHARDING.md.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "modes.h"
#include "placement/placement.h"
#include "server_list.h"

namespace syncached::tool {

std::optional<placement::Members> LoadMembersOrComplain(const std::string& path) {
  auto members = placement::Members::Load(path);
  if (!members) {
    fprintf(stderr, "syncached-tool: %s\n", members.error().message().c_str());
    return std::nullopt;
  }
  return std::move(*members);
}

namespace {

int Owners(int argc, char** argv) {
  std::string members_path, ring_name = "ketama", prefix;
  size_t r = 1;
  unsigned attempts = 20;
  bool addresses = false;
  std::vector<placement::NodeId> dead;
  std::vector<std::string> keys;
  CLI::App app{
      "syncached-tool owners: a key's owners, first owner first, in the client's "
      "failover order.\nOne line per key: KEY OWNER...; keys from stdin (one a "
      "line) when none are given.",
      "syncached-tool owners"};
  app.add_option("--members", members_path, "the members file")->required();
  app.add_option("--ring", ring_name,
                 "ketama (default), ketama-weighted, memcache or memcache-session")
      ->check(CLI::IsMember({"ketama", "ketama-weighted", "memcache", "memcache-session"}));
  app.add_option("-R", r, "owners per key (default 1)")->check(CLI::Range(1, 65535));
  app.add_option("--prefix", prefix, "a key prefix the client does not hash (stripped)");
  app.add_option("--dead", dead, "node ids to skip as the client's failover would")->delimiter(',');
  app.add_option("--max-failover-attempts", attempts,
                 "memcache: memcache.max_failover_attempts (default 20)")
      ->check(CLI::Range(1, 1000));
  app.add_flag("--addresses", addresses, "print client addresses instead of node ids");
  app.add_option("keys", keys, "keys (else read from stdin)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  auto members = LoadMembersOrComplain(members_path);
  if (!members) return 2;
  placement::RingOptions opt;
  opt.kind = *placement::ParseRingKind(ring_name);
  opt.prefix = prefix;
  opt.max_failover_attempts = attempts;
  placement::Ring ring(*members, opt);
  std::set<placement::NodeId> dead_set(dead.begin(), dead.end());
  auto alive = [&](placement::NodeId id) { return dead_set.count(id) == 0; };
  std::string out;
  auto print = [&](const std::string& key) {
    auto owners = dead_set.empty() ? ring.Owners(key, r) : ring.Owners(key, r, alive);
    out = key;
    for (auto id : owners) {
      out += ' ';
      out += addresses ? members->Find(id)->client_address : std::to_string(id);
    }
    out += '\n';
    fwrite(out.data(), 1, out.size(), stdout);
  };
  if (!keys.empty()) {
    for (const auto& k : keys) print(k);
  } else {
    std::ios::sync_with_stdio(false);
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) print(line);
    }
  }
  return fflush(stdout) == 0 ? 0 : 1;
}

int CheckMembers(int argc, char** argv) {
  std::string members_path, list;
  CLI::App app{
      "syncached-tool check-members: does a client's server list (php.ini "
      "session.save_path) name the members' client addresses exactly, in order?",
      "syncached-tool check-members"};
  app.add_option("--members", members_path, "the members file")->required();
  app.add_option("serverlist", list,
                 "comma-separated, e.g. 10.0.0.1:11211,10.0.0.2:11211 or "
                 "tcp://10.0.0.1:11211?weight=1,...")
      ->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  auto members = LoadMembersOrComplain(members_path);
  if (!members) return 2;
  auto problems = CompareServerList(*members, ParseServerList(list));
  if (problems.empty()) {
    printf("OK: the list matches %s (%zu nodes, digest %016llx)\n", members_path.c_str(),
           members->nodes().size(), static_cast<unsigned long long>(members->Digest()));
    return 0;
  }
  printf("MISMATCH: the client would place keys differently from %s:\n", members_path.c_str());
  for (const auto& p : problems) printf("  %s\n", p.c_str());
  return 1;
}

}  // namespace

int RunPlacement(int argc, char** argv) {
  std::string mode = argv[1];
  // Drop the mode word so CLI11 sees only its options.
  std::vector<char*> args{argv[0]};
  for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
  int n = static_cast<int>(args.size());
  return mode == "owners" ? Owners(n, args.data()) : CheckMembers(n, args.data());
}

}  // namespace syncached::tool
