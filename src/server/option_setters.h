// Setters for the options whose values no kind in option_kinds.h fits: memcached's
// special cases (-p -1, -vv, -B auto, -I 1m, -o ssl_* and their messages) and
// syncached's few structured values (--peers, --ring). Each is an ApplyFn, named by one
// row of options.cc. Start-up only, one thread.
#pragma once

#include "server/option_kinds.h"

namespace syncached::server {

void SetTcpPort(const Action&, const Where& w, const char* arg, Config* c);
void SetUdpPort(const Action&, const Where& w, const char* arg, Config* c);
void SetUnixMask(const Action&, const Where& w, const char* arg, Config* c);
void AddListen(const Action&, const Where& w, const char* arg, Config* c);
void AddVerbosity(const Action&, const Where& w, const char* arg, Config* c);
void SetProtocol(const Action&, const Where& w, const char* arg, Config* c);
void SetItemSize(const Action&, const Where& w, const char* arg, Config* c);
void SetPeers(const Action&, const Where& w, const char* arg, Config* c);
void SetSyncReplicas(const Action&, const Where& w, const char* arg, Config* c);
void SetMulticast(const Action&, const Where& w, const char* arg, Config* c);
void SetClusterName(const Action&, const Where& w, const char* arg, Config* c);
void SetTestClockOffset(const Action&, const Where& w, const char* arg, Config* c);
void SetMetricsAddr(const Action&, const Where& w, const char* arg, Config* c);
void SetRing(const Action&, const Where& w, const char* arg, Config* c);
void SetRingKeyPrefix(const Action&, const Where& w, const char* arg, Config* c);

// -o modern / no_modern: the LRU crawler and maintainer together (a.to).
void SetModern(const Action& a, const Where& w, const char* arg, Config* c);
constexpr Action Modern(bool on) {
  return {.apply = &SetModern, .takes = Takes::kNothing, .to = on};
}

// -o ssl_*, with memcached's messages, which name the sub-option rather than -o.
void SetSslKeyFormat(const Action&, const Where& w, const char* arg, Config* c);
void SetSslVerifyMode(const Action&, const Where& w, const char* arg, Config* c);
void SetSslWbufSize(const Action&, const Where& w, const char* arg, Config* c);
void SetSslMinVersion(const Action&, const Where& w, const char* arg, Config* c);
// "Missing <sub> argument" unless a value was given (ssl_key= gives an empty one).
void NeedValue(const Where& w, const char* arg);
template <auto F>
void ApplySslText(const Action&, const Where& w, const char* arg, Config* c) {
  NeedValue(w, arg);
  FieldIn<F>(c) = arg;
}
template <auto F>
constexpr Action SslText() {
  return {.apply = &ApplySslText<F>};
}

}  // namespace syncached::server
