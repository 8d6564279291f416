// The endpoint: a net::Server of its own with one worker (the reactor the client port
// uses, so accept limits, idle timeouts and output back-pressure come tested), and a
// Handler that parses heads and answers them in order (keep-alive, pipelining).
#include <chrono>

#include "common/clock.h"
#include "metrics/metrics.h"
#include "net/net.h"

namespace syncached::metrics {
namespace {

constexpr size_t kOutputHighWater = 1 << 20;

int64_t NowMs() { return static_cast<int64_t>(SteadyMillis()); }

}  // namespace

struct Endpoint::Impl final : net::Handler {
  EndpointOptions opts;
  std::function<void(StatTexts*)> collect;
  StatTexts texts;  // reused: only the worker thread scrapes
  std::unique_ptr<net::Server> server;

  struct Conn {
    int64_t head_started_ms = -1;  // first byte of the pending head; -1 between requests
  };

  void OnOpen(net::Connection& c) override { c.user = new Conn(); }
  void OnClose(net::Connection& c) override {
    delete static_cast<Conn*>(c.user);
    c.user = nullptr;
  }

  size_t OnData(net::Connection& c, std::string_view input) override {
    auto* st = static_cast<Conn*>(c.user);
    size_t consumed = 0;
    auto render = [this](std::string* body) {
      texts.Clear();
      collect(&texts);
      Render(texts, body);
    };
    while (consumed < input.size()) {
      HttpRequest req = ParseHttpRequest(input.substr(consumed));
      if (req.status == HttpRequest::Status::kIncomplete) {
        // A head trickling in (slowloris) holds a connection slot: bound its time.
        int64_t now = NowMs();
        if (st->head_started_ms < 0) st->head_started_ms = now;
        if (now - st->head_started_ms <= static_cast<int64_t>(opts.head_timeout_ms)) break;
        req.status = HttpRequest::Status::kBad;
      }
      st->head_started_ms = -1;
      if (!Respond(req, render, &c.out())) {
        c.CloseAfterWrite();
        return input.size();
      }
      consumed += req.length;
      // A pipeline of scrapes from a peer that does not read: net presents the rest again
      // once the output drained.
      if (c.out().size() >= kOutputHighWater) break;
    }
    return consumed;
  }
};

Endpoint::Endpoint(EndpointOptions opts, std::function<void(StatTexts*)> collect)
    : impl_(std::make_unique<Impl>()) {
  impl_->opts = std::move(opts);
  impl_->collect = std::move(collect);
}

Endpoint::~Endpoint() { Stop(); }

Status Endpoint::Start() {
  net::Options no;
  no.listen = impl_->opts.listen;
  no.port = impl_->opts.port;
  no.threads = 1;
  no.max_conns = impl_->opts.max_conns;
  no.listen_backlog = 64;
  no.read_chunk = 4096;
  no.output_high_water = kOutputHighWater;
  no.idle_timeout_secs = impl_->opts.idle_timeout_secs;
  no.reject_message =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  impl_->server = std::make_unique<net::Server>(no, impl_.get());
  Status st = impl_->server->Start();
  if (!st.ok()) impl_->server.reset();
  return st;
}

void Endpoint::Stop() {
  if (impl_->server) impl_->server->Stop();
}

uint16_t Endpoint::bound_port() const { return impl_->server ? impl_->server->bound_port() : 0; }

}  // namespace syncached::metrics
