// Where a node listens, written as memcached-tool takes it: "host[:port]" (port 11211
// when absent) or a unix socket path (anything with a '/').
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace syncached::tool {

struct Address {
  bool is_unix = false;
  std::string host;  // TCP: a name or an IPv4/IPv6 literal (without brackets)
  uint16_t port = 0;
  std::string path;  // unix socket
  // As memcached-tool prints it in its headers: the argument, with ":11211"
  // appended when it had no port.
  std::string display;
};

// nullopt for an empty string or a port that is not 1..65535.
std::optional<Address> ParseAddress(const std::string& text);

}  // namespace syncached::tool
