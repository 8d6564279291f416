// The setters of the options no kind in option_kinds.h fits (option_setters.h).
#include "server/option_setters.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

#include "replication/replication.h"

namespace syncached::server {
namespace {

// memcached: 0 turns the transport off, -1 asks for an ephemeral port.
void SetPort(const Where& w, const char* arg, bool* specified, bool* ephemeral, uint32_t* port) {
  *specified = true;
  *ephemeral = arg && std::string_view(arg) == "-1";
  *port = *ephemeral ? 0 : static_cast<uint32_t>(ParseUnsigned(w, arg, 0, 65535));
}

// memcached's safe_strtol: the whole string, base 10 (trailing blanks allowed).
long SslNumber(const Where& w, const char* arg) {
  NeedValue(w, arg);
  char* end;
  errno = 0;
  long n = strtol(arg, &end, 10);
  if (!*arg || errno != 0 || (*end != '\0' && !isspace(static_cast<unsigned char>(*end)))) {
    FailVerbatim("could not parse argument to " + std::string(w.sub));
  }
  return n;
}

}  // namespace

void SetTcpPort(const Action&, const Where& w, const char* arg, Config* c) {
  SetPort(w, arg, &c->tcp_specified, &c->tcp_ephemeral, &c->engine.tcpport);
}
void SetUdpPort(const Action&, const Where& w, const char* arg, Config* c) {
  SetPort(w, arg, &c->udp_specified, &c->udp_ephemeral, &c->engine.udpport);
}

void SetUnixMask(const Action&, const Where& w, const char* arg, Config* c) {
  char* end;
  long mask = strtol(arg, &end, 8);
  if (*arg == '\0' || *end != '\0' || mask < 0 || mask > 0777) {
    Fail("invalid value for " + std::string(w.option) + ": '" + arg + "' (octal mask)");
  }
  c->engine.umask = static_cast<uint32_t>(mask);
}

// Each -l adds to the list (a config file's and the command line's alike).
void AddListen(const Action&, const Where&, const char* arg, Config* c) {
  SplitInto(arg, ',', &c->listen);
}

// -v, -vv (two -v), --verbose, --verbose=vv: one level each.
void AddVerbosity(const Action&, const Where&, const char* arg, Config* c) {
  auto& v = c->engine.runtime.verbosity;
  v = v + 1 + (arg ? static_cast<uint32_t>(strspn(arg, "v")) : 0);
}

void SetProtocol(const Action&, const Where& w, const char* arg, Config* c) {
  std::string p = arg;
  if (p == "auto") {
    c->engine.binding_protocol = "auto-negotiate";
  } else if (p == "ascii" || p == "binary") {
    c->engine.binding_protocol = p;
  } else {
    Fail("invalid value for " + std::string(w.option) + ": '" + p + "' (ascii, binary or auto)");
  }
}

// -I takes k/m suffixes like memcached's; 1k to 1g (1024m).
void SetItemSize(const Action&, const Where& w, const char* arg, Config* c) {
  std::string s(arg);
  uint64_t mult = 1;
  if (!s.empty() && (s.back() == 'k' || s.back() == 'K')) {
    mult = 1024, s.pop_back();
  } else if (!s.empty() && (s.back() == 'm' || s.back() == 'M')) {
    mult = 1024 * 1024, s.pop_back();
  }
  uint64_t v = ParseUnsigned(w, s.c_str(), 1, 1ull << 30) * mult;
  const std::string bad = "invalid value for " + std::string(w.option) + ": '" + arg + "'";
  if (v < 1024) Fail(bad + " (minimum is 1k)");
  if (v > (1ull << 30)) Fail(bad + " (maximum is 1024m)");
  c->engine.item_size_max = static_cast<uint32_t>(v);
}

void SetPeers(const Action&, const Where& w, const char* arg, Config* c) {
  c->peers.clear();
  SplitInto(arg, ',', &c->peers);
  for (const std::string& p : c->peers) {
    size_t colon = p.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      Fail(std::string(w.option) + ": expected host:port, got '" + p + "'");
    }
    ParseUnsigned(w, p.substr(colon + 1).c_str(), 1, 65535);
  }
}

void SetSyncReplicas(const Action&, const Where& w, const char* arg, Config* c) {
  c->sync_replicas = strcmp(arg, "all") == 0
                         ? replication::kSyncAllPeers
                         : static_cast<uint32_t>(ParseUnsigned(w, arg, 0, 1024));
}

// epgm://IFACE;GROUP:PORT with numeric addresses (name lookup fails without DNS), or pgm://
// (raw PGM, needs CAP_NET_RAW).
void SetMulticast(const Action&, const Where& w, const char* arg, Config* c) {
  std::string v = arg;
  std::string bad =
      std::string(w.option) + ": expected epgm://IFACE-IPV4;GROUP:PORT, got '" + v + "'";
  size_t scheme = v.find("://");
  if (scheme == std::string::npos ||
      (v.substr(0, scheme) != "epgm" && v.substr(0, scheme) != "pgm")) {
    Fail(bad);
  }
  size_t semi = v.find(';', scheme + 3), colon = v.rfind(':');
  if (semi == std::string::npos || semi == scheme + 3 || colon == std::string::npos ||
      colon < semi + 2) {
    Fail(bad);
  }
  ParseUnsigned(w, v.substr(colon + 1).c_str(), 1, 65535);
  c->multicast = v;
}

void SetClusterName(const Action&, const Where& w, const char* arg, Config* c) {
  if (!*arg || strlen(arg) > 64) Fail(std::string(w.option) + ": 1 to 64 characters");
  c->cluster_name = arg;
}

// Hidden: lets tests give nodes skewed clocks without faketime.
void SetTestClockOffset(const Action&, const Where& w, const char* arg, Config* c) {
  char* end = nullptr;
  errno = 0;
  long long v = strtoll(arg, &end, 10);
  if (errno || end == arg || *end || v < -86'400'000 || v > 86'400'000) {
    Fail("invalid value for " + std::string(w.option) + ": '" + arg + "' (-86400000 to 86400000)");
  }
  c->test_clock_offset_ms = v;
}

void SetMetricsAddr(const Action&, const Where& w, const char* arg, Config* c) {
  c->metrics_addr.clear();
  SplitInto(arg, ',', &c->metrics_addr);
  if (c->metrics_addr.empty()) Fail(std::string(w.option) + ": an address is required");
}

void SetRing(const Action&, const Where& w, const char* arg, Config* c) {
  std::optional<placement::RingKind> kind = placement::ParseRingKind(arg);
  if (!kind) {
    Fail(std::string(w.option) +
         ": expected ketama, ketama-weighted, memcache or memcache-session");
  }
  c->ring.kind = *kind;
}

void SetRingKeyPrefix(const Action&, const Where& w, const char* arg, Config* c) {
  if (strlen(arg) > 250) Fail(std::string(w.option) + ": at most 250 bytes");
  c->ring.prefix = arg;
}

// As memcached: no_modern starts neither the LRU crawler nor the maintainer.
void SetModern(const Action& a, const Where&, const char*, Config* c) {
  c->engine.runtime.lru_crawler = a.to;
  c->engine.lru_maintainer = a.to;
}

void NeedValue(const Where& w, const char* arg) {
  if (!arg) FailVerbatim("Missing " + std::string(w.sub) + " argument");
}
void SetSslKeyFormat(const Action&, const Where& w, const char* arg, Config* c) {
  c->engine.ssl_keyformat = static_cast<int>(SslNumber(w, arg));
}
void SetSslVerifyMode(const Action&, const Where& w, const char* arg, Config* c) {
  long n = SslNumber(w, arg);
  // SSL_VERIFY_NONE, PEER, |FAIL_IF_NO_PEER_CERT, |CLIENT_ONCE
  static const int kModes[] = {0, 1, 3, 7};
  if (n < 0 || n > 3) FailVerbatim("Invalid ssl_verify_mode. Use help to see valid options.");
  c->engine.ssl_verify_mode = kModes[n];
}
void SetSslWbufSize(const Action&, const Where& w, const char* arg, Config* c) {
  long n = SslNumber(w, arg);
  if (n < 0) FailVerbatim("could not parse argument to " + std::string(w.sub));
  c->engine.ssl_wbuf_size = static_cast<uint32_t>(n) * 1024;
}
// memcached 1.6.18 takes 0..3; the names it prints (tlsv1.2...) are accepted too.
void SetSslMinVersion(const Action&, const Where& w, const char* arg, Config* c) {
  NeedValue(w, arg);
  static const char* kNames[] = {"tlsv1.0", "tlsv1.1", "tlsv1.2", "tlsv1.3"};
  long n = std::find_if(std::begin(kNames), std::end(kNames),
                        [&](const char* name) { return strcmp(name, arg) == 0; }) -
           std::begin(kNames);
  if (n == 4) n = SslNumber(w, arg);
  if (n < 0 || n > 3) FailVerbatim("Invalid ssl_min_version. Use help to see valid options.");
  c->engine.ssl_min_version = 0x0301 + static_cast<int>(n);  // TLS1_VERSION .. TLS1_3_VERSION
}

}  // namespace syncached::server
