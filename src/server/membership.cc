#include "server/membership.h"

#include <string>

namespace syncached::server {
namespace {
[[noreturn]] void Fail(const std::string& what) { throw ConfigError(what); }
}  // namespace

void ApplyMembers(Config* c) {
  if (c->members_file.empty()) {
    if (c->replication_factor != 0) Fail("--replication-factor needs --members");
    return;
  }
  Result<placement::Members> loaded = placement::Members::Load(c->members_file);
  if (!loaded) Fail("--members: " + loaded.error().message());
  placement::Members members = std::move(loaded.value());
  if (!c->peers.empty()) Fail("--members and --peers both name the peers; give one");
  if (c->node_id == 0) Fail("--members needs --node-id (this node's line in the file)");
  const placement::Member* self = members.Find(c->node_id);
  if (!self) {
    Fail("--node-id " + std::to_string(c->node_id) + " is not in --members " + c->members_file);
  }
  for (const placement::Member& m : members.nodes()) {
    if (m.id != c->node_id) c->peers.push_back(m.replication_address);
  }
  std::optional<placement::HostPort> own = placement::ParseHostPort(self->replication_address);
  if (!own || self->replication_address.find(':') == std::string::npos) {
    Fail("--members " + c->members_file + ": line " + std::to_string(self->line) +
         ": the replication address needs a port");
  }
  c->replication_port = own->port;
  size_t n = members.nodes().size();
  c->replication_factor_given = c->replication_factor != 0;
  if (c->replication_factor == 0) c->replication_factor = static_cast<uint32_t>(n);
  if (c->replication_factor > n) {
    Fail("--replication-factor " + std::to_string(c->replication_factor) +
         ": the members file has " + std::to_string(n) + " node(s)");
  }
  if (c->replication_factor < n) {
    // Forwarding connects as a plain client: it speaks neither TLS nor SASL/-Y.
    const char* why = c->engine.ssl_enabled          ? "client TLS (-Z)"
                      : c->engine.sasl               ? "SASL (-S)"
                      : !c->engine.auth_file.empty() ? "an auth file (-Y)"
                                                     : nullptr;
    if (why) {
      Fail("--replication-factor " + std::to_string(c->replication_factor) + " < " +
           std::to_string(n) +
           " nodes forwards requests between nodes, which is not supported with " + why +
           " yet; use --replication-factor " + std::to_string(n) + " or turn it off");
    }
  }
  c->members = std::move(members);
}

bool Sharded(const Config& c) {
  return c.members && c.replication_factor < c.members->nodes().size();
}

}  // namespace syncached::server
