#include "engine/engine.h"

#include <algorithm>

#include "common/bytes.h"
#include "engine/commands.h"
#include "engine/ops.h"
#include "protocol/reply.h"

namespace syncached::engine {

namespace {
constexpr int64_t kRealtimeMaxDelta = 60 * 60 * 24 * 30;  // memcached's REALTIME_MAXDELTA
// Which engine the cached pointer belongs to: ids, not addresses, so a new engine at a
// freed one's address (tests make many) never inherits stale counters.
std::atomic<uint64_t> g_next_engine_id{1};
thread_local uint64_t t_engine_id = 0;
thread_local ThreadStats* t_stats = nullptr;
}  // namespace

// memcached's eviction line (as lru_pull_tail logs it, _logger_log_evictions formats it).
class Engine::EvictionLog final : public storage::EvictionListener {
 public:
  EvictionLog(watch::Hub* hub, storage::Store* store) : hub_(hub), store_(store) {}
  void OnEviction(const storage::ItemRef& it, uint32_t now) override {
    watch::Eviction ev;
    ev.key = it.key();
    ev.fetched = it.fetched();
    ev.ttl = it.exptime() != 0 ? int64_t{it.exptime()} - now : -1;
    ev.last_access = now > it.last_access() ? now - it.last_access() : 0;
    ev.clsid = ClassOf(*store_, it);
    ev.size = static_cast<uint32_t>(it.value().size());
    hub_->LogEviction(ev);
  }

 private:
  watch::Hub* hub_;
  storage::Store* store_;
};

Engine::Engine(const Settings& settings, storage::Store* store, Host* host)
    : settings_(settings),
      store_(store),
      host_(host),
      started_(store->clock()->NowSeconds()),
      id_(g_next_engine_id++),
      hub_(settings.watcher_logbuf_size),
      eviction_log_(std::make_unique<EvictionLog>(&hub_, store)) {
  store_->SetEvictionListener(eviction_log_.get(), hub_.mask(), watch::kEvictions);
}

Engine::~Engine() { store_->SetEvictionListener(nullptr, nullptr, 0); }

void Engine::DrainWatch(Session& s, std::string* out) {
  if (s.watcher) s.watcher->Drain(out);
}

uint32_t Engine::AbsoluteExptime(int64_t exptime) const {
  if (exptime == 0) return 0;
  uint32_t now = store_->clock()->NowSeconds();
  // Negative: already expired. memcached maps it to "1 second after start", which is
  // in the past; any past time works the same here.
  if (exptime < 0) return 1;
  if (exptime > kRealtimeMaxDelta) {
    // Absolute unix time; one at or before server start is already past.
    if (exptime <= started_) return 1;
    return static_cast<uint32_t>(std::min<int64_t>(exptime, UINT32_MAX));
  }
  return static_cast<uint32_t>(std::min<int64_t>(now + exptime, UINT32_MAX));
}

ThreadStats* Engine::StatsForThisThread() {
  if (t_engine_id == id_) return t_stats;
  std::lock_guard lock(stats_mu_);
  thread_stats_.push_back(std::make_unique<ThreadStats>());
  t_stats = thread_stats_.back().get();
  t_engine_id = id_;
  return t_stats;
}

ThreadStats Engine::SumThreadStats() const {
  ThreadStats sum;
  std::lock_guard lock(stats_mu_);
  for (const auto& t : thread_stats_) {
#define SYNCACHED_SUM(name) sum.name.Add(t->name.Get());
    SYNCACHED_THREAD_COUNTERS(SYNCACHED_SUM)
#undef SYNCACHED_SUM
    for (int c = 0; c < ThreadStats::kClasses; ++c) {
      auto& d = sum.per_class[c];
      const auto& s = t->per_class[c];
      d.get_hits.Add(s.get_hits.Get());
      d.cmd_set.Add(s.cmd_set.Get());
      d.delete_hits.Add(s.delete_hits.Get());
      d.incr_hits.Add(s.incr_hits.Get());
      d.decr_hits.Add(s.decr_hits.Get());
      d.cas_hits.Add(s.cas_hits.Get());
      d.cas_badval.Add(s.cas_badval.Get());
      d.touch_hits.Add(s.touch_hits.Get());
    }
  }
  return sum;
}

void Engine::ResetStats() {
  std::lock_guard lock(stats_mu_);
  for (auto& t : thread_stats_) {
#define SYNCACHED_RESET(name) t->name.Reset();
    SYNCACHED_THREAD_COUNTERS(SYNCACHED_RESET)
#undef SYNCACHED_RESET
    for (auto& c : t->per_class) {
      c.get_hits.Reset();
      c.cmd_set.Reset();
      c.delete_hits.Reset();
      c.incr_hits.Reset();
      c.decr_hits.Reset();
      c.cas_hits.Reset();
      c.cas_badval.Reset();
      c.touch_hits.Reset();
    }
  }
  store_->ResetStats();
  prefix_stats_.Clear();
}

size_t Engine::Process(Session& s, std::string_view in, std::string* out, size_t out_limit) {
  // A watcher's input is read and dropped, as memcached's logger thread does.
  if (s.watcher) return in.size();
  if (!s.stats) s.stats = StatsForThisThread();
  size_t consumed = 0;
  if (s.swallow) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(s.swallow, in.size()));
    s.swallow -= n;
    consumed += n;
    in.remove_prefix(n);
    if (s.swallow) return consumed;
  }
  if (in.empty()) return consumed;
  if (s.proto == Session::Proto::kUnknown && router_) {
    // Another node's forwarding connection says so first (router.h, kRelayHello).
    if (in.starts_with(kRelayHello)) {
      s.relayed = true;
      consumed += kRelayHello.size();
      in.remove_prefix(kRelayHello.size());
      if (in.empty()) return consumed;
    } else if (kRelayHello.starts_with(in)) {
      return consumed;  // maybe the hello, in part
    }
  }
  if (s.lane) return consumed + ProcessLane(s, in, out, out_limit);
  if (s.proto == Session::Proto::kUnknown && host_ && host_->TakesLane(s)) {
    if (in.starts_with(kLaneHello)) {
      s.lane = true;
      consumed += kLaneHello.size();
      return consumed + ProcessLane(s, in.substr(kLaneHello.size()), out, out_limit);
    }
    if (kLaneHello.starts_with(in)) return consumed;  // maybe the hello, in part
  }
  if (s.proto == Session::Proto::kUnknown) {
    // memcached decides per connection from the first byte (-B auto-negotiate).
    bool binary = static_cast<unsigned char>(in[0]) == 0x80;
    if (settings_.binding_protocol == "binary" && !binary) {
      s.close = true;
      return consumed + in.size();
    }
    if (settings_.binding_protocol == "ascii" && binary) {
      s.close = true;
      return consumed + in.size();
    }
    s.proto = binary ? Session::Proto::kBinary : Session::Proto::kText;
  }
  if (s.proto == Session::Proto::kBinary) return consumed + ProcessBinary(s, in, out, out_limit);
  return consumed + ProcessText(s, in, out, out_limit);
}

size_t Engine::ProcessLane(Session& s, std::string_view in, std::string* out, size_t out_limit) {
  size_t consumed = 0;
  uint32_t len = 0;
  while (out->size() < out_limit && bytes::Reader(in).U32(&len)) {
    if (len == 0 || len > kMaxLaneFrameBytes) {  // not a lane: nothing more is read
      s.close = true;
      return consumed + in.size();
    }
    if (in.size() - 4 < len) break;
    host_->ApplyLane(in.substr(4, len), out);
    consumed += 4 + size_t{len};
    in.remove_prefix(4 + size_t{len});
  }
  return consumed;
}

// While a replicated node syncs, only what monitoring and clients' health checks use.
bool Engine::AllowedWhileSyncing(protocol::Command c) {
  using protocol::Command;
  return c == Command::kStats || c == Command::kVersion || c == Command::kQuit ||
         c == Command::kVerbosity || c == Command::kMetaNoop || c == Command::kError ||
         c == Command::kClose || c == Command::kShutdown || c == Command::kNoop ||
         c == Command::kWatch;
}

size_t Engine::ProcessText(Session& s, std::string_view in, std::string* out, size_t out_limit) {
  size_t consumed = 0;
  uint32_t served = 0;
  while (!in.empty() && !s.close && !s.watcher && out->size() < out_limit) {
    if (served++ == settings_.reqs_per_event) {
      // memcached's -R: after this many requests from one read, let others go first.
      s.yield = true;
      s.stats->conn_yields.Add();
      break;
    }
    if (!settings_.auth_file.empty() && !s.authenticated) {
      size_t n = AsciiAuth(*this, s, in, out);
      if (n == 0) break;
      consumed += n;
      in.remove_prefix(n);
      continue;
    }
    protocol::Request& req = s.req;
    protocol::ParseResult r = protocol::ParseText(in, settings_.item_size_max, &req);
    if (r.status == protocol::ParseResult::kNeedMore) break;
    if (r.status == protocol::ParseResult::kClose) {
      s.close = true;
      return consumed + in.size();
    }
    size_t before = out->size();
    if (s.resume) {
      // The rest of a get or metadump that stopped at the output limit: it runs here.
      if (!ExecuteText(*this, s, req, out, out_limit)) break;
    } else if (syncing_.load(std::memory_order_relaxed) && !AllowedWhileSyncing(req.cmd)) {
      protocol::AppendTextError(out, protocol::TextError::kSyncing);  // --join-mode error
    } else if (router_ && s.defer_forwards &&
               (s.deferred_node = ForwardTarget(*this, s, req, false)) != Router::kLocal) {
      s.deferred = r.consumed;  // not consumed: the host takes it from here
      s.deferred_failure = ForwardFailureFor(req, false);
      break;
    } else if (router_ && !s.defer_forwards &&
               RouteText(*this, s, req, in.substr(0, r.consumed), out)) {
      // ran on an owner elsewhere; its reply is in `out` (a deferring session has just
      // asked the router: the request runs here)
    } else if (!ExecuteText(*this, s, req, out, out_limit)) {
      break;  // stopped at the output limit: the rest once output drains
    }
    if (req.noreply && !IsMeta(req.cmd) &&
        !(req.cmd == protocol::Command::kError && req.error_ignores_noreply)) {
      out->resize(before);  // memcached's out_string drops any reply under noreply
    }
    s.last_cmd = req.cmd;
    if (!StepPast(s, req, r.consumed, &in, &consumed)) break;
  }
  if (s.watcher) return consumed + in.size();  // nothing after `watch` is a command
  return consumed;
}

}  // namespace syncached::engine
