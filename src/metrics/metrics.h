// metrics: the Prometheus endpoint (--metrics-port). Turns `stats` text into the
// Prometheus text exposition format (0.0.4) and serves it over a minimal HTTP/1.1.
//
// It knows the names of the stats it reads, nothing of the code behind them: the server
// hands it the very text `stats`, `stats settings`, `stats items`, `stats slabs`,
// `stats replication` and `stats persistence` answer, so a scrape and a `stats` can never
// disagree and no stat is computed twice. memcached's stats get memcached_exporter's
// metric names and labels (dashboards and alerts keep working); replication and
// persistence get syncached_replication_* and syncached_persistence_* (docs/OPERATIONS.md).
//
// The HTTP side runs on its own net::Server with one worker thread, so scrapes never
// touch the client workers and are not counted in memcached's connection stats.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace syncached::metrics {

// "STAT <name> <value>\r\n" lines per group, without END. Empty: the group is absent
// (no peers, no --data-dir).
struct StatTexts {
  std::string general, settings, items, slabs, replication, persistence, cluster;
  void Clear();
};

// Appends the exposition text for `s` to `out`. Unknown or malformed stats are skipped.
void Render(const StatTexts& s, std::string* out);

// One HTTP request head, parsed without I/O.
struct HttpRequest {
  enum class Status { kIncomplete, kOk, kBad, kTooLarge, kBadVersion };
  Status status = Status::kIncomplete;
  size_t length = 0;              // bytes of the head (kOk): where the next request starts
  std::string_view method, path;  // path without the query string
  bool keep_alive = false;
  bool has_body = false;  // Content-Length > 0 or Transfer-Encoding: we never read bodies
};
// Heads longer than `max_head` bytes are kTooLarge.
HttpRequest ParseHttpRequest(std::string_view in, size_t max_head = 8192);

// Appends the response to `req` (any status). `render` writes the /metrics body; it is
// called for GET and HEAD of /metrics only. Returns whether the connection stays open.
bool Respond(const HttpRequest& req, const std::function<void(std::string*)>& render,
             std::string* out);

struct EndpointOptions {
  std::vector<std::string> listen;  // as net::Options::listen (empty: all interfaces)
  uint16_t port = 0;                // 0: an ephemeral port (tests; bound_port())
  int max_conns = 32;
  uint32_t idle_timeout_secs = 30;   // a silent connection is closed
  uint32_t head_timeout_ms = 10000;  // a request head trickling in longer is refused
};

// The listening endpoint: one thread. `collect` fills the stat texts for a scrape; it
// runs on that thread and must not block for long.
class Endpoint {
 public:
  Endpoint(EndpointOptions opts, std::function<void(StatTexts*)> collect);
  ~Endpoint();
  Status Start();
  void Stop();
  uint16_t bound_port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace syncached::metrics
