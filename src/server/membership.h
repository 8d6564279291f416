// --members: the members file turns replication on for its nodes, and with
// --replication-factor places each key on the first r nodes of the clients' own
// failover order (placement.h). docs/SHARDING.md.
#pragma once

#include "server/config.h"

namespace syncached::server {

// Reads c->members_file (if given) and checks it against the other options: this
// node's id must be in it, --peers is derived from it (giving both is an error), the
// replication port is this node's line's, and r is 1..N (0 becomes N). Throws ConfigError.
void ApplyMembers(Config* c);

// True when keys are placed on fewer than all the nodes (some node does not hold a key).
bool Sharded(const Config& c);

}  // namespace syncached::server
