#include "options.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string_view>
#include <utility>

namespace syncached::bench {
namespace {

constexpr const char* kUsage = R"(usage: syncached-loadgen [options]
Drives a memcached-compatible server and prints one JSON object on stdout.

  --host ADDR          server address (default 127.0.0.1)
  --port N             server port (default 11211)
  --threads N          loadgen threads, each with its own epoll loop (default 1)
  --conns N            connections in total, spread over the threads (default 4)
  --depth N            requests in flight per connection (pipelining, default 1)
  --mget N             keys per get; N > 1 sends text "get k1..kN", meta
                       "mg k q"*N + "mn", binary GETKQ*N + NOOP (default 1)
  --keys N             key space: keys PREFIX0..PREFIX(N-1), fixed width (default 100000)
  --key-prefix S       key prefix (default "key:")
  --key-file F         the keys, one a line, all of one length (instead of --keys)
  --value-size N       bytes per value (default 100)
  --ratio G:S          get:set weights, e.g. 9:1, 1:0, 0:1 (default 9:1)
  --proto P            text | meta | binary (default text)
  --duration SEC       measure for SEC seconds (default 10; 0 = no measurement)
  --requests N         measure N requests instead of a duration
  --preload            set every key once before measuring
  --readback           get every key once after measuring (reports misses)
  --verify V           none | length | full: check value bytes (default full)
  --stall-timeout SEC  fail if nothing arrives for SEC seconds (default 10)
  --seed N             random seed (default 1)
  --tls                TLS (server started with -Z; its certificate is not checked)
Exit status: 0 no errors, 1 errors were counted (still prints JSON), 2 setup failure.
)";

bool ParseU64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  std::string tmp(s);
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(tmp.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || tmp[0] == '-') return false;
  *out = v;
  return true;
}

bool ParseInt(std::string_view s, int lo, int hi, int* out) {
  uint64_t v;
  if (!ParseU64(s, &v) || v < static_cast<uint64_t>(lo) || v > static_cast<uint64_t>(hi)) {
    return false;
  }
  *out = static_cast<int>(v);
  return true;
}

bool ParseDouble(std::string_view s, double* out) {
  std::string tmp(s);
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(tmp.c_str(), &end);
  if (tmp.empty() || errno != 0 || *end != '\0' || v < 0) return false;
  *out = v;
  return true;
}

bool ParseRatio(std::string_view s, Options* o) {
  size_t colon = s.find(':');
  uint64_t g, st;
  if (colon == std::string_view::npos || !ParseU64(s.substr(0, colon), &g) ||
      !ParseU64(s.substr(colon + 1), &st) || g + st == 0 || g + st > 1000000) {
    return false;
  }
  o->get_weight = static_cast<uint32_t>(g);
  o->set_weight = static_cast<uint32_t>(st);
  return true;
}

template <typename T>
bool ParseName(std::string_view v, std::initializer_list<std::pair<std::string_view, T>> names,
               T* out) {
  for (const auto& [n, value] : names) {
    if (n == v) {
      *out = value;
      return true;
    }
  }
  return false;
}

bool Apply(std::string_view name, std::string_view v, Options* o) {
  uint64_t u;
  if (name == "host") {
    o->host = std::string(v);
    return !v.empty();
  }
  if (name == "port") return ParseInt(v, 1, 65535, &o->port);
  if (name == "threads") return ParseInt(v, 1, 256, &o->threads);
  if (name == "conns") return ParseInt(v, 1, 100000, &o->conns);
  if (name == "depth") return ParseInt(v, 1, 4096, &o->depth);
  if (name == "mget") return ParseInt(v, 1, 10000, &o->mget);
  if (name == "keys") {
    if (!ParseU64(v, &u) || u == 0 || u > 4000000000ull) return false;
    o->keys = static_cast<uint32_t>(u);
    return true;
  }
  if (name == "key-prefix") {
    // Printable, no space (memcached keys) and nothing JSON would need escaped.
    o->key_prefix = std::string(v);
    return v.size() < 200 && std::all_of(v.begin(), v.end(), [](char c) {
             return c > ' ' && c < 0x7f && c != '"' && c != '\\';
           });
  }
  if (name == "key-file") {
    o->key_file = std::string(v);
    return !v.empty();
  }
  if (name == "value-size") {
    if (!ParseU64(v, &u) || u > (64u << 20)) return false;
    o->value_size = static_cast<uint32_t>(u);
    return true;
  }
  if (name == "ratio") return ParseRatio(v, o);
  if (name == "proto") {
    return ParseName(
        v, {{"text", Proto::kText}, {"meta", Proto::kMeta}, {"binary", Proto::kBinary}}, &o->proto);
  }
  if (name == "duration") return ParseDouble(v, &o->duration);
  if (name == "requests") return ParseU64(v, &o->requests);
  if (name == "verify") {
    return ParseName(
        v, {{"none", Verify::kNone}, {"length", Verify::kLength}, {"full", Verify::kFull}},
        &o->verify);
  }
  if (name == "stall-timeout") return ParseDouble(v, &o->stall_timeout) && o->stall_timeout > 0;
  if (name == "seed") return ParseU64(v, &o->seed);
  return false;
}

}  // namespace

const char* ProtoName(Proto p) {
  switch (p) {
    case Proto::kText:
      return "text";
    case Proto::kMeta:
      return "meta";
    case Proto::kBinary:
      return "binary";
  }
  return "?";
}

bool ParseOptions(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (arg == "--preload") {
      o->preload = true;
      continue;
    }
    if (arg == "--readback") {
      o->readback = true;
      continue;
    }
    if (arg == "--tls") {
      o->tls = true;
      continue;
    }
    if (arg.substr(0, 2) != "--") {
      std::fprintf(stderr, "syncached-loadgen: unexpected argument '%s'\n", argv[i]);
      return false;
    }
    std::string_view name = arg.substr(2), value;
    size_t eq = name.find('=');
    if (eq != std::string_view::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::fprintf(stderr, "syncached-loadgen: --%.*s needs a value\n",
                   static_cast<int>(name.size()), name.data());
      return false;
    }
    if (!Apply(name, value, o)) {
      std::fprintf(stderr, "syncached-loadgen: bad or unknown option --%.*s '%.*s'\n",
                   static_cast<int>(name.size()), name.data(), static_cast<int>(value.size()),
                   value.data());
      return false;
    }
  }
  if (o->conns < o->threads) o->threads = o->conns;
  if (o->key_prefix.size() + 10 > 250) {
    std::fprintf(stderr, "syncached-loadgen: --key-prefix too long\n");
    return false;
  }
  return true;
}

}  // namespace syncached::bench
