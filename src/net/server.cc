#include <condition_variable>
#include <ctime>
#include <mutex>
#include <system_error>
#include <thread>

#include "common/log.h"
#include "net/listener.h"
#include "net/net.h"
#include "net/worker.h"

namespace syncached::net {

struct Server::Impl {
  Impl(Options o, Handler* h) : shared(std::move(o), h) {}

  void RequestStop() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop_requested = true;
      shared.stopping.store(true, std::memory_order_release);
      for (auto& w : workers) w->Notify();
    }
    cv.notify_all();
  }

  // Joins the workers (they close their connections on the way out), then the listeners.
  void Finish() {
    std::call_once(finish_once, [this] {
      for (auto& t : threads) t.join();
      std::lock_guard<std::mutex> lock(mu);
      CloseListeners(&shared.listeners);
      done = true;
      cv.notify_all();
    });
  }

  Status BindLocked();  // mu held

  Shared shared;
  // Set by Start under mu, then fixed; readers without mu check live_workers first.
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> threads;
  std::atomic<int> live_workers{0};
  uint16_t port = 0;
  bool bound = false;
  bool started = false;
  std::atomic<bool> accepting{true};

  std::mutex mu;  // guards the flags below, workers/threads while starting, listeners
  std::condition_variable cv;
  bool stop_requested = false;
  bool done = false;
  std::once_flag finish_once;
};

Server::Server(Options options, Handler* handler)
    : impl_(std::make_unique<Impl>(std::move(options), handler)) {}

Server::~Server() { Stop(); }

Status Server::Bind() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  return m.BindLocked();
}

Status Server::Impl::BindLocked() {
  const Options& o = shared.opts;
  if (bound) return Status::Ok();
  if (o.threads < 1 || o.max_conns < 1 || o.read_chunk == 0 || o.output_high_water == 0) {
    return Status::Invalid(
        "net::Options: threads, max_conns, read_chunk and "
        "output_high_water must be positive");
  }
  if (o.tls.enabled && !shared.tls) {
    auto tls = std::make_unique<TlsContext>(o.tls);
    Status ts = tls->Load();
    if (!ts.ok()) return ts;
    shared.tls = std::move(tls);
  }
  auto listeners = OpenListeners(o, &port);
  if (!listeners) return listeners.error();
  shared.listeners = std::move(*listeners);
  if (shared.listeners.empty() && o.tcp) return Status::Invalid("no address to listen on");
  bound = true;
  return Status::Ok();
}

Status Server::Start() {
  Impl& m = *impl_;
  const Options& o = m.shared.opts;
  std::lock_guard<std::mutex> lock(m.mu);
  if (m.started) return Status::Invalid("net::Server::Start called twice");
  m.started = true;
  if (m.stop_requested) return Status::Unavailable("net::Server stopped before Start");
  Status bs = m.BindLocked();
  if (!bs.ok()) return bs;
  Status ls = StartListening(m.shared.listeners, o.listen_backlog);
  if (!ls.ok()) {
    CloseListeners(&m.shared.listeners);
    return ls;
  }
  for (int i = 0; i < o.threads; ++i) {
    m.workers.push_back(std::make_unique<Worker>(&m.shared, i));
    Status st = m.workers.back()->Init();
    if (!st.ok()) {
      m.workers.clear();
      CloseListeners(&m.shared.listeners);
      return st;
    }
  }
  // Published before the threads run: a worker answers `stats` as soon as it accepts, and
  // readers without mu (GetStats, Post, WakeWorker) see no worker until this store.
  m.live_workers.store(o.threads, std::memory_order_release);
  try {
    for (auto& w : m.workers) m.threads.emplace_back([w = w.get()] { w->Run(); });
  } catch (const std::system_error& e) {
    m.live_workers.store(0, std::memory_order_release);
    m.shared.stopping.store(true, std::memory_order_release);
    for (auto& w : m.workers) w->Notify();
    for (auto& t : m.threads) t.join();
    m.threads.clear();
    m.workers.clear();
    CloseListeners(&m.shared.listeners);
    return Status::Io(std::string("starting worker threads: ") + e.what());
  }
  for (const auto& l : m.shared.listeners) SC_LOG(kInfo, "listening on %s", l.name.c_str());
  return Status::Ok();
}

void Server::Stop() {
  impl_->RequestStop();
  if (Worker::Current() == &impl_->shared) return;  // cannot join our own thread
  impl_->Finish();
}

void Server::Wait() {
  {
    std::unique_lock<std::mutex> lock(impl_->mu);
    impl_->cv.wait(lock, [this] { return impl_->stop_requested; });
  }
  if (Worker::Current() == &impl_->shared) return;
  impl_->Finish();
}

Stats Server::GetStats() const {
  Stats s;
  int n = impl_->live_workers.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) impl_->workers[i]->AddStats(&s);
  int open = impl_->shared.open_conns.load(std::memory_order_relaxed);
  s.curr_connections = open > 0 ? static_cast<uint64_t>(open) : 0;
  s.threads = static_cast<uint32_t>(impl_->shared.opts.threads);
  s.accepting_conns = impl_->accepting.load(std::memory_order_relaxed);
  if (impl_->shared.tls) impl_->shared.tls->AddStats(&s);
  return s;
}

std::vector<ConnInfo> Server::Connections() const {
  std::vector<ConnInfo> out;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (const auto& l : impl_->shared.listeners) {
      ConnInfo info;
      info.fd = l.fd;
      info.peer = l.name;
      info.state = "conn_listening";
      info.unix_socket = !l.tcp;
      out.push_back(std::move(info));
    }
  }
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  int n = impl_->live_workers.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) {
    impl_->workers[i]->AppendConnections(&out, static_cast<uint32_t>(ts.tv_sec));
  }
  return out;
}

void Server::SetAccepting(bool on) {
  impl_->accepting.store(on, std::memory_order_relaxed);
  int n = impl_->live_workers.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) {
    Worker* w = impl_->workers[i].get();
    w->Post([w, on] { w->SetAccepting(on); });
  }
}

void Server::WakeWorker(int worker) {
  if (worker < 0 || worker >= impl_->live_workers.load(std::memory_order_acquire)) return;
  impl_->workers[worker]->WakeHandler();
}

Status Server::ReloadTls() {
  // The context is made in Bind, before any other thread can call this.
  if (!impl_->shared.tls) return Status::Invalid("Error TLS not enabled");
  return impl_->shared.tls->Load();
}

uint16_t Server::bound_port() const { return impl_->port; }

int Server::threads() const { return impl_->shared.opts.threads; }

void Server::Post(int worker, std::function<void()> fn) {
  if (worker < 0 || worker >= impl_->live_workers.load(std::memory_order_acquire)) return;
  if (impl_->shared.stopping.load(std::memory_order_acquire)) return;
  impl_->workers[worker]->Post(std::move(fn));
}

}  // namespace syncached::net
