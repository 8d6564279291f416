// Listening sockets: parses Options::listen entries, resolves them, binds, then listens.
// Internal to net. Called once from Server::Start on the starting thread.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "net/net.h"

namespace syncached::net {

struct Listener {
  int fd = -1;
  bool tcp = true;
  bool tls = false;  // connections speak TLS (Options::tls, not "notls:")
  std::string name;  // "127.0.0.1:11211", "[::]:11211" or the unix path
};

// Binds every listener Options asks for (non-blocking, close-on-exec), without listening:
// until StartListening a connection is refused, yet the port is ours. On error closes what
// it opened and returns a Status naming the address. *bound_port gets the first TCP port.
Result<std::vector<Listener>> OpenListeners(const Options& opts, uint16_t* bound_port);

Status StartListening(const std::vector<Listener>& listeners, int backlog);

// Closes the sockets and removes the unix socket file we created.
void CloseListeners(std::vector<Listener>* listeners);

// "127.0.0.1:5555", "[::1]:5555", "unix" (for AF_UNIX).
std::string FormatAddress(const sockaddr* sa, socklen_t len);

// Splits "host", "host:port", "[v6]", "[v6]:port" or a bare v6 literal. Returns false if
// the port is not a number in 0..65535 or brackets are unbalanced.
bool SplitHostPort(const std::string& spec, std::string* host, int* port);

}  // namespace syncached::net
