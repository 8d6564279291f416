// Fuzzes the metrics endpoint's HTTP head parser and responder, request by request as a
// connection would: never a crash or out-of-bounds read, every head consumed lies within
// the input, and nothing but GET/HEAD of /metrics renders.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "metrics/metrics.h"

using syncached::metrics::HttpRequest;

namespace {
void Check(bool ok) {
  if (!ok) abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t max_head = 64 + size % 8192;
  for (int guard = 0; guard < 10000 && !in.empty(); ++guard) {
    HttpRequest r = syncached::metrics::ParseHttpRequest(in, max_head);
    bool rendered = false;
    std::string out;
    bool keep = syncached::metrics::Respond(
        r,
        [&](std::string* b) {
          rendered = true;
          b->append("x 1\n");
        },
        &out);
    if (r.status == HttpRequest::Status::kIncomplete) break;
    Check(out.rfind("HTTP/1.1 ", 0) == 0);
    if (rendered) {
      Check(r.status == HttpRequest::Status::kOk && r.path == "/metrics" && !r.has_body);
      Check(r.method == "GET" || r.method == "HEAD");
    }
    if (!keep) break;
    Check(r.status == HttpRequest::Status::kOk && r.length > 0 && r.length <= in.size() &&
          r.length <= max_head);
    in.remove_prefix(r.length);
  }
  return 0;
}
