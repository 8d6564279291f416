#include "net/listener.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace syncached::net {
namespace {

constexpr char kNoTls[] = "notls:";  // memcached's per-listener opt-out of TLS

std::string Errno(const std::string& what, int err) { return what + ": " + std::strerror(err); }

// Port in a sockaddr (host order), or 0.
uint16_t PortOf(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
  return 0;
}

void SetPort(sockaddr_storage* ss, uint16_t port) {
  if (ss->ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(ss)->sin_port = htons(port);
  if (ss->ss_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(ss)->sin6_port = htons(port);
}

class Opener {
 public:
  explicit Opener(const Options& opts) : opts_(opts), default_port_(opts.port) {}
  ~Opener() { CloseListeners(&out_); }

  // One -l entry. `optional_v6`: skip silently if the host has no IPv6 (the default "::").
  Status OpenSpec(std::string spec, bool optional_v6) {
    tls_ = opts_.tls.enabled;
    if (spec.rfind(kNoTls, 0) == 0) {
      tls_ = false;
      spec.erase(0, sizeof kNoTls - 1);
    }
    std::string host;
    int port = -1;
    if (!SplitHostPort(spec, &host, &port))
      return Status::Invalid("bad listen address '" + spec + "'");
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), "0", &hints, &res);
    if (rc != 0) {
      return Status::Invalid("listen address '" + spec + "': " + gai_strerror(rc));
    }
    Status st;
    for (addrinfo* ai = res; ai != nullptr && st.ok(); ai = ai->ai_next) {
      sockaddr_storage ss{};
      std::memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
      SetPort(&ss, port >= 0 ? static_cast<uint16_t>(port) : default_port_);
      st = OpenTcp(ss, ai->ai_addrlen, optional_v6, port < 0);
    }
    freeaddrinfo(res);
    return st;
  }

  Status OpenUnix() {
    const std::string& path = opts_.unix_path;
    sockaddr_un sun{};
    if (path.size() >= sizeof sun.sun_path)
      return Status::Invalid("unix socket path too long: " + path);
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.data(), path.size());
    struct stat st {};
    if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path.c_str());  // stale
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return Status::Io(Errno("socket " + path, errno));
    if (bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
      int err = errno;
      close(fd);
      return Status::Io(Errno("bind " + path, err));
    }
    // Not yet listening, so nobody can connect before the mode is set.
    out_.push_back(Listener{fd, false, false, path});
    if (chmod(path.c_str(), static_cast<mode_t>(opts_.unix_mask & 07777)) != 0) {
      return Status::Io(Errno("chmod " + path, errno));
    }
    return Status::Ok();
  }

  std::vector<Listener> Take(uint16_t* bound_port) {
    *bound_port = first_port_;
    std::vector<Listener> r;
    r.swap(out_);
    return r;
  }

 private:
  Status OpenTcp(sockaddr_storage ss, socklen_t len, bool optional_v6, bool default_port) {
    for (const auto& b : bound_) {
      if (std::memcmp(&b, &ss, sizeof ss) == 0) return Status::Ok();  // duplicate resolution
    }
    std::string name = FormatAddress(reinterpret_cast<sockaddr*>(&ss), len);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      if (optional_v6 && ss.ss_family == AF_INET6 && errno == EAFNOSUPPORT) return Status::Ok();
      return Status::Io(Errno("socket " + name, errno));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // "::" must not also claim IPv4, which 0.0.0.0 has (or will have).
    if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      int err = errno;
      close(fd);
      if (optional_v6 && ss.ss_family == AF_INET6 && err == EADDRNOTAVAIL) return Status::Ok();
      return Status::Io(Errno("bind " + name, err));
    }
    bound_.push_back(ss);
    sockaddr_storage actual{};
    socklen_t alen = sizeof actual;
    getsockname(fd, reinterpret_cast<sockaddr*>(&actual), &alen);
    uint16_t port = PortOf(actual);
    // An ephemeral port is shared by the remaining addresses without an explicit port.
    if (default_port && default_port_ == 0) default_port_ = port;
    if (first_port_ == 0) first_port_ = port;
    out_.push_back(
        Listener{fd, true, tls_, FormatAddress(reinterpret_cast<sockaddr*>(&actual), alen)});
    return Status::Ok();
  }

  const Options& opts_;
  uint16_t default_port_;
  uint16_t first_port_ = 0;
  std::vector<sockaddr_storage> bound_;
  std::vector<Listener> out_;
  bool tls_ = false;  // the spec being opened
};

}  // namespace

bool SplitHostPort(const std::string& spec, std::string* host, int* port) {
  *port = -1;
  std::string rest;
  if (!spec.empty() && spec[0] == '[') {
    size_t close = spec.find(']');
    if (close == std::string::npos) return false;
    *host = spec.substr(1, close - 1);
    rest = spec.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') return false;
  } else {
    size_t colon = spec.find(':');
    if (colon == std::string::npos || spec.find(':', colon + 1) != std::string::npos) {
      *host = spec;  // no port, or a bare IPv6 literal
      return true;
    }
    *host = spec.substr(0, colon);
    rest = spec.substr(colon);
  }
  if (rest.empty()) return true;
  rest.erase(0, 1);
  if (rest.empty() || rest.size() > 5) return false;
  int p = 0;
  for (char ch : rest) {
    if (ch < '0' || ch > '9') return false;
    p = p * 10 + (ch - '0');
  }
  if (p > 65535) return false;
  *port = p;
  return true;
}

std::string FormatAddress(const sockaddr* sa, socklen_t len) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    char out[INET6_ADDRSTRLEN + 16];
    snprintf(out, sizeof out, "%s:%u", buf, static_cast<unsigned>(ntohs(in->sin_port)));
    return out;
  }
  if (sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    // snprintf rather than operator+ chains: g++ 12 at -O3 reports a false -Wrestrict
    // on those.
    char out[INET6_ADDRSTRLEN + 16];
    snprintf(out, sizeof out, "[%s]:%u", buf, static_cast<unsigned>(ntohs(in6->sin6_port)));
    return out;
  }
  if (sa->sa_family == AF_UNIX) return "unix";
  return "?";
}

Result<std::vector<Listener>> OpenListeners(const Options& opts, uint16_t* bound_port) {
  Opener opener(opts);
  // memcached: -s disables TCP (we pass port 0 then); port 0 alone means an ephemeral port.
  bool tcp = opts.tcp && (opts.port != 0 || opts.unix_path.empty());
  if (tcp) {
    if (opts.listen.empty()) {
      Status st = opener.OpenSpec("0.0.0.0", false);
      if (st.ok()) st = opener.OpenSpec("::", true);
      if (!st.ok()) return st;
    }
    for (const auto& spec : opts.listen) {
      Status st = opener.OpenSpec(spec, false);
      if (!st.ok()) return st;
    }
  }
  if (!opts.unix_path.empty()) {
    Status st = opener.OpenUnix();
    if (!st.ok()) return st;
  }
  return opener.Take(bound_port);
}

Status StartListening(const std::vector<Listener>& listeners, int backlog) {
  for (const auto& l : listeners) {
    if (listen(l.fd, backlog) != 0) return Status::Io(Errno("listen " + l.name, errno));
  }
  return Status::Ok();
}

void CloseListeners(std::vector<Listener>* listeners) {
  for (auto& l : *listeners) {
    if (l.fd >= 0) close(l.fd);
    if (!l.tcp) unlink(l.name.c_str());
    l.fd = -1;
  }
  listeners->clear();
}

}  // namespace syncached::net
