#include "server_list.h"

#include <cstdlib>

namespace syncached::tool {
namespace {

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

ListedServer ParseEntry(const std::string& entry) {
  ListedServer s;
  s.text = entry;
  std::string rest = entry;
  if (rest.rfind("tcp://", 0) == 0) rest = rest.substr(6);
  if (size_t q = rest.find('?'); q != std::string::npos) {
    std::string query = rest.substr(q + 1);
    rest = rest.substr(0, q);
    for (size_t p = 0; p < query.size();) {
      size_t amp = query.find('&', p);
      std::string kv = query.substr(p, amp == std::string::npos ? std::string::npos : amp - p);
      if (kv.rfind("weight=", 0) == 0) s.weight = static_cast<unsigned>(atoi(kv.c_str() + 7));
      if (amp == std::string::npos) break;
      p = amp + 1;
    }
  }
  // libmemcached: host[:port[:weight]] or "host:port weight".
  size_t colon = rest.find(':');
  std::string hostport = rest;
  if (colon != std::string::npos) {
    size_t extra = rest.find_first_of(": ", colon + 1);
    if (extra != std::string::npos) {
      s.weight = static_cast<unsigned>(atoi(rest.c_str() + extra + 1));
      hostport = rest.substr(0, extra);
    }
  }
  if (s.weight == 0) s.weight = 1;  // both clients treat 0 as 1
  auto hp = placement::ParseHostPort(hostport);
  if (hp) {
    s.host = hp->host;
    s.port = hp->port;
    s.ok = true;
  }
  return s;
}

}  // namespace

std::vector<ListedServer> ParseServerList(const std::string& list) {
  std::vector<ListedServer> out;
  size_t p = 0;
  while (p <= list.size()) {
    size_t comma = list.find(',', p);
    std::string entry =
        Trim(list.substr(p, comma == std::string::npos ? std::string::npos : comma - p));
    if (!entry.empty()) out.push_back(ParseEntry(entry));
    if (comma == std::string::npos) break;
    p = comma + 1;
  }
  return out;
}

std::vector<std::string> CompareServerList(const placement::Members& members,
                                           const std::vector<ListedServer>& list) {
  std::vector<std::string> problems;
  const auto& nodes = members.nodes();
  auto where = [&](const std::string& host, int port) -> int {
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (nodes[i].host == host && nodes[i].port == port) return static_cast<int>(i);
    }
    return -1;
  };
  for (size_t i = 0; i < list.size(); ++i) {
    const ListedServer& s = list[i];
    std::string at = "entry " + std::to_string(i + 1) + " '" + s.text + "'";
    if (!s.ok) {
      problems.push_back(at + ": not HOST[:PORT] (IPv6 and socket paths are not supported)");
      continue;
    }
    int m = where(s.host, s.port);
    if (m < 0) {
      problems.push_back(at + ": no member has client address " + s.host + ":" +
                         std::to_string(s.port) +
                         " (clients hash the host as written: a name and its IP address, or "
                         "two spellings of one, place keys differently)");
      continue;
    }
    const auto& n = nodes[static_cast<size_t>(m)];
    if (static_cast<size_t>(m) != i) {
      problems.push_back(at + ": is members line " + std::to_string(n.line) + " (node " +
                         std::to_string(n.id) + "), position " + std::to_string(m + 1) +
                         " there: list the servers in the members file's order (it breaks "
                         "hash ties, and node ids follow it)");
    }
    if (s.weight != n.weight) {
      problems.push_back(at + ": weight " + std::to_string(s.weight) + " but node " +
                         std::to_string(n.id) + " has weight " + std::to_string(n.weight));
    }
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    bool listed = false;
    for (const auto& s : list) listed |= s.ok && s.host == nodes[i].host && s.port == nodes[i].port;
    if (!listed) {
      problems.push_back("node " + std::to_string(nodes[i].id) + " (" + nodes[i].client_address +
                         ", members line " + std::to_string(nodes[i].line) +
                         ") is missing from the list: the client will never place keys on it");
    }
  }
  return problems;
}

}  // namespace syncached::tool
