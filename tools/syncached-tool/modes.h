// The tool's modes; each returns the process exit status (0 ok, 1 failure).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "address.h"
#include "client.h"
#include "placement/placement.h"

namespace syncached::tool {

struct Options {
  Address address;
  std::string mode = "display";
  std::vector<std::string> args;  // the mode's positional arguments
  bool json = false;
  double timeout_s = 60;           // wait-synced
  double io_timeout_s = 5;         // any single reply
  double probe_timeout_s = 1;      // cluster: each other node
  std::string output;              // dump: file instead of stdout
  std::vector<std::string> nodes;  // cluster: other nodes' client addresses
  bool restore_add = false;        // restore with add (keep existing keys) instead of set
  int batch = 100;                 // keys per get / commands per restore round trip
};

// memcached-tool's message and exit when the node does not answer.
bool ConnectOrComplain(const Options& o, Client* c);

int RunDisplay(const Options& o);
int RunStats(const Options& o, const std::string& group);  // "", "settings", "sizes"
int RunKeys(const Options& o);
int RunDump(const Options& o);
int RunRestore(const Options& o);
int RunCluster(const Options& o);
int RunWaitSynced(const Options& o);
int RunRepair(const Options& o);
int RunMembers(const Options& o);

// A members file, or nothing after saying why on stderr.
std::optional<placement::Members> LoadMembersOrComplain(const std::string& path);

// owners / check-members (argv[1] is the mode; no server address).
int RunPlacement(int argc, char** argv);

}  // namespace syncached::tool
