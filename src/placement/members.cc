// The members file: one node per line, `node-id client-address replication-address
// [weight]`, '#' comments and blank lines allowed.
#include <xxhash.h>

#include <charconv>
#include <fstream>
#include <map>
#include <sstream>

#include "placement/placement.h"

namespace syncached::placement {
namespace {

std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

template <typename T>
std::optional<T> Number(std::string_view text) {
  T v{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

Status LineError(int line, const std::string& what) {
  return Status::Invalid("members line " + std::to_string(line) + ": " + what);
}

}  // namespace

std::optional<HostPort> ParseHostPort(std::string_view text) {
  // IPv6 ("[::1]:11211") is not supported yet: how each client spells it in its hash
  // input is unverified.
  if (text.empty() || text.find_first_of("[]/ \t") != std::string_view::npos) return std::nullopt;
  HostPort hp;
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    hp.host = std::string(text);
    return hp;
  }
  auto port = Number<uint32_t>(text.substr(colon + 1));
  if (colon == 0 || !port || *port == 0 || *port > 65535) return std::nullopt;
  hp.host = std::string(text.substr(0, colon));
  hp.port = static_cast<uint16_t>(*port);
  return hp;
}

Result<Members> Members::Parse(std::string_view text) {
  Members m;
  std::map<NodeId, int> ids;
  std::map<std::string, int> clients, replications;
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    auto f = Fields(line);
    if (f.empty()) continue;
    if (f.size() < 3 || f.size() > 4) {
      return LineError(line_no,
                       "expected 'node-id client-address replication-address "
                       "[weight]', got " +
                           std::to_string(f.size()) + " fields");
    }
    Member mem;
    mem.line = line_no;
    auto id = Number<uint32_t>(f[0]);
    if (!id || *id < 1 || *id > 65535) {
      return LineError(line_no, "node id '" + std::string(f[0]) + "' is not in 1..65535");
    }
    mem.id = static_cast<NodeId>(*id);
    auto hp = ParseHostPort(f[1]);
    if (!hp) {
      return LineError(line_no, "client address '" + std::string(f[1]) +
                                    "' is not HOST or HOST:PORT (IPv6 not supported yet)");
    }
    mem.client_address = std::string(f[1]);
    mem.host = hp->host;
    mem.port = hp->port;
    mem.replication_address = std::string(f[2]);
    if (f.size() == 4) {
      auto w = Number<uint32_t>(f[3]);
      if (!w || *w < 1 || *w > 1000000) {
        return LineError(line_no, "weight '" + std::string(f[3]) + "' is not in 1..1000000");
      }
      mem.weight = *w;
    }
    if (auto [it, fresh] = ids.emplace(mem.id, line_no); !fresh) {
      return LineError(line_no, "node id " + std::to_string(mem.id) + " already on line " +
                                    std::to_string(it->second));
    }
    // "h" and "h:11211" are one server to every client, so compare host:port.
    std::string client_key = mem.host + ":" + std::to_string(mem.port);
    if (auto [it, fresh] = clients.emplace(client_key, line_no); !fresh) {
      return LineError(line_no, "client address " + client_key + " already on line " +
                                    std::to_string(it->second));
    }
    if (auto [it, fresh] = replications.emplace(mem.replication_address, line_no); !fresh) {
      return LineError(line_no, "replication address " + mem.replication_address +
                                    " already on line " + std::to_string(it->second));
    }
    m.nodes_.push_back(std::move(mem));
  }
  if (m.nodes_.empty()) return Status::Invalid("members: no nodes listed");
  return m;
}

Result<Members> Members::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Io("members: cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto r = Parse(ss.str());
  if (!r) return Status::Invalid(path + ": " + r.error().message());
  return r;
}

const Member* Members::Find(NodeId id) const {
  for (const auto& n : nodes_) {
    if (n.id == id) return &n;
  }
  return nullptr;
}

std::string Members::Canonical() const {
  std::string out;
  for (const auto& n : nodes_) {
    out += std::to_string(n.id) + " " + n.client_address + " " + n.replication_address + " " +
           std::to_string(n.weight) + "\n";
  }
  return out;
}

uint64_t Members::Digest() const {
  std::string c = Canonical();
  return XXH64(c.data(), c.size(), 0);
}

}  // namespace syncached::placement
