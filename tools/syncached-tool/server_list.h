// A PHP client's server list (session.save_path) checked against a members file.
#pragma once

#include <string>
#include <vector>

#include "placement/placement.h"

namespace syncached::tool {

struct ListedServer {
  std::string text;  // the entry as written
  std::string host;
  int port = 11211;
  unsigned weight = 1;
  bool ok = false;  // parsed
};

// Comma-separated entries as php-memcached ("host:port[:weight]") or pecl/memcache
// ("tcp://host:port?weight=N&...") write them.
std::vector<ListedServer> ParseServerList(const std::string& list);

// One line per problem, empty when the list names the members' client addresses
// in the same order with the same spelling and weights.
std::vector<std::string> CompareServerList(const placement::Members& members,
                                           const std::vector<ListedServer>& list);

}  // namespace syncached::tool
