// The line formats of memcached 1.6's logger (_logger_parse_*), field for field.
#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>

#include "watch/watch.h"

namespace syncached::watch {
namespace {

// "ts=<sec>.<usec> gid=<gid> " with usec unpadded, as memcached's logger's "%lld.%d".
void AppendStamp(const Stamp& st, std::string* out) {
  char buf[80];
  int n = snprintf(buf, sizeof buf, "ts=%" PRId64 ".%d gid=%" PRIu64 " ", st.sec, st.usec, st.gid);
  out->append(buf, static_cast<size_t>(n));
}

void AppendF(std::string* out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void AppendF(std::string* out, const char* fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) out->append(buf, std::min(static_cast<size_t>(n), sizeof buf - 1));
}

bool Unreserved(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

}  // namespace

void AppendUriEncoded(std::string_view key, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : key) {
    auto c = static_cast<unsigned char>(ch);
    if (Unreserved(c)) {
      out->push_back(ch);
    } else {
      char enc[3] = {'%', kHex[c >> 4], kHex[c & 15]};
      out->append(enc, 3);
    }
  }
}

void FormatItemGet(const Stamp& st, const ItemGet& e, std::string* out) {
  static constexpr const char* kStatus[] = {"not_found", "found", "flushed", "expired"};
  AppendStamp(st, out);
  out->append("type=item_get key=");
  AppendUriEncoded(e.key, out);
  AppendF(out, " status=%s clsid=%u cfd=%d size=%u\n", kStatus[static_cast<int>(e.status)], e.clsid,
          e.cfd, e.size);
}

void FormatItemStore(const Stamp& st, const ItemStore& e, std::string* out) {
  static constexpr const char* kStatus[] = {"not_stored", "stored",    "exists",
                                            "not_found",  "too_large", "no_memory"};
  static constexpr const char* kCmd[] = {"null",   "add",     "set", "replace",
                                         "append", "prepend", "cas"};
  AppendStamp(st, out);
  out->append("type=item_store key=");
  AppendUriEncoded(e.key, out);
  AppendF(out, " status=%s cmd=%s ttl=%u clsid=%u cfd=%d size=%u\n",
          kStatus[static_cast<int>(e.status)], kCmd[static_cast<int>(e.cmd)], e.ttl, e.clsid, e.cfd,
          e.size);
}

void FormatEviction(const Stamp& st, const Eviction& e, std::string* out) {
  AppendStamp(st, out);
  out->append("type=eviction key=");
  AppendUriEncoded(e.key, out);
  AppendF(out, " fetch=%s ttl=%" PRId64 " la=%u clsid=%u size=%u\n", e.fetched ? "yes" : "no",
          e.ttl, e.last_access, e.clsid, e.size);
}

void FormatDeletion(const Stamp& st, const Deletion& e, std::string* out) {
  static constexpr const char* kCmd[] = {"null", "delete", "md"};
  AppendStamp(st, out);
  out->append("type=deleted key=");
  AppendUriEncoded(e.key, out);
  AppendF(out, " cmd=%s clsid=%u size=%u\n", kCmd[static_cast<int>(e.cmd)], e.clsid, e.size);
}

namespace {
constexpr const char* kTransport[] = {"local", "tcp", "udp"};
}

void FormatConnNew(const Stamp& st, const ConnEvent& e, std::string* out) {
  AppendStamp(st, out);
  out->append("type=conn_new rip=");
  out->append(e.rip);
  AppendF(out, " rport=%u transport=%s cfd=%d\n", e.rport,
          kTransport[static_cast<int>(e.transport)], e.cfd);
}

void FormatConnClose(const Stamp& st, const ConnEvent& e, std::string* out) {
  static constexpr const char* kReason[] = {"error", "normal", "idle_timeout", "shutdown"};
  AppendStamp(st, out);
  out->append("type=conn_close rip=");
  out->append(e.rip);
  AppendF(out, " rport=%u transport=%s reason=%s cfd=%d\n", e.rport,
          kTransport[static_cast<int>(e.transport)], kReason[static_cast<int>(e.reason)], e.cfd);
}

bool ParseKinds(std::string_view args, uint32_t* kinds) {
  static constexpr struct {
    std::string_view name;
    uint32_t kind;
  } kNames[] = {{"rawcmds", kRawCmds},     {"evictions", kEvictions},
                {"fetchers", kFetchers},   {"mutations", kMutations},
                {"sysevents", kSysEvents}, {"connevents", kConnEvents},
                {"proxyreqs", kProxyReqs}, {"proxyevents", kProxyEvents},
                {"proxyuser", kProxyUser}, {"deletions", kDeletions}};
  uint32_t k = 0;
  bool any = false;
  while (!args.empty()) {
    size_t start = args.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    args.remove_prefix(start);
    size_t end = args.find(' ');
    std::string_view word = args.substr(0, end);
    args.remove_prefix(end == std::string_view::npos ? args.size() : end);
    bool known = false;
    for (const auto& n : kNames) {
      if (word == n.name) {
        k |= n.kind;
        known = true;
      }
    }
    if (!known) return false;
    any = true;
  }
  *kinds = any ? k : kFetchers;
  return true;
}

}  // namespace syncached::watch
