#include "address.h"

#include <cctype>

namespace syncached::tool {

namespace {

std::optional<uint16_t> ParsePort(const std::string& s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (!isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v == 0 || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

}  // namespace

std::optional<Address> ParseAddress(const std::string& text) {
  if (text.empty()) return std::nullopt;
  Address a;
  // memcached-tool's rule: a '/' anywhere makes it a socket path.
  if (text.find('/') != std::string::npos) {
    a.is_unix = true;
    a.path = text;
    a.display = text;
    return a;
  }
  std::string hostport = text;
  std::string port;
  if (hostport[0] == '[') {  // [v6]:port or [v6]
    size_t close = hostport.find(']');
    if (close == std::string::npos) return std::nullopt;
    a.host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size()) {
      if (hostport[close + 1] != ':') return std::nullopt;
      port = hostport.substr(close + 2);
      if (port.empty()) return std::nullopt;
    }
  } else {
    // memcached-tool appends :11211 unless the text ends in ":digits".
    size_t colon = hostport.rfind(':');
    bool has_port = colon != std::string::npos && colon + 1 < hostport.size();
    for (size_t i = colon + 1; has_port && i < hostport.size(); ++i) {
      has_port = isdigit(static_cast<unsigned char>(hostport[i]));
    }
    if (has_port && hostport.find(':') == colon) {
      a.host = hostport.substr(0, colon);
      port = hostport.substr(colon + 1);
    } else {
      a.host = hostport;  // a bare IPv6 literal has several colons: no port
    }
  }
  if (a.host.empty()) return std::nullopt;
  if (port.empty()) {
    a.port = 11211;
    a.display = text + ":11211";
  } else {
    auto p = ParsePort(port);
    if (!p) return std::nullopt;
    a.port = *p;
    a.display = text;
  }
  return a;
}

}  // namespace syncached::tool
