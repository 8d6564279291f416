// Peer links secure by default: a node whose replication links could be reached from
// other hosts needs --cluster-secret-file (or --insecure-peers), and the secret file
// is held to ssh's rules for private keys. The pure parts of those checks, used by
// config.cc at start (docs/REPLICATION.md "Securing the links").
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace syncached::server {

// The shortest secret accepted, after trailing newlines are trimmed.
constexpr size_t kMinSecretBytes = 16;
// Larger files are refused as not a secret (a wrong path, most likely).
constexpr size_t kMaxSecretFileBytes = 64 << 10;

// 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) and "localhost" (any case). Literal
// addresses only: no name is looked up, so any other host name, "*", "0.0.0.0", "::"
// or an interface name counts as not loopback.
bool IsLoopbackHost(std::string_view host);

// The host of a --peers entry ("host:port" or "[v6]:port").
std::string PeerHost(const std::string& peer);

// The host an -l entry binds ("host", "host:port", "[v6]:port" or a bare IPv6 literal,
// as net::SplitHostPort reads them); empty when it names no host (all interfaces).
std::string ListenHost(const std::string& spec);
// The distinct hosts of the -l entries, in order: what the replication and metrics
// ports bind (a port in "-l host:port", memcached's form, is the client port's).
std::vector<std::string> ListenHosts(const std::vector<std::string>& listen);

// Why replication links would be reachable from beyond this host: the replication
// listener binds the -l addresses (none: all interfaces) and dials the peers. Empty when
// every one of them is loopback; otherwise the first reason, as a sentence fragment
// ("the replication port would listen on all interfaces (no -l given)").
std::string ReplicationExposure(const std::vector<std::string>& listen,
                                const std::vector<std::string>& peers);

// Reads the cluster secret from `path` into *secret, trailing "\n"/"\r" trimmed. Refused
// (Status::Invalid, a message naming the file and the fix; never the secret's bytes):
// a file that cannot be opened; anything but a regular file, also through a symlink; a
// mode with any group or other permission bit; an owner not in `owners` (empty: any);
// more than kMaxSecretFileBytes; an empty secret or one shorter than kMinSecretBytes.
// The buffer of a refused secret is wiped.
Status ReadSecretFile(const std::string& path, const std::vector<uid_t>& owners,
                      std::string* secret);

}  // namespace syncached::server
