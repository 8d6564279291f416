// Drives an Engine with bytes as a connection would, on a store with a manual clock.
#pragma once

#include <memory>
#include <string>

#include "common/clock.h"
#include "engine/engine.h"
#include "storage/storage.h"

namespace syncached::engine {

class EngineHarness {
 public:
  explicit EngineHarness(Settings settings = Settings(), storage::Options so = {}) {
    so.max_bytes = settings.maxbytes;
    so.evict = settings.evictions;
    so.item_size_max = settings.item_size_max;
    so.shard_bits = 2;
    so.initial_hash_power = 4;
    store_ = std::make_unique<storage::Store>(so, &clock_);
    engine_ = std::make_unique<Engine>(settings, store_.get(), nullptr);
  }
  // Sends `in` (whole) and returns everything written back.
  std::string Send(const std::string& in) { return SendTo(session_, in); }
  std::string SendTo(Session& s, const std::string& in) {
    pending_ += in;
    std::string out;
    size_t n = engine_->Process(s, pending_, &out, SIZE_MAX);
    pending_.erase(0, n);
    return out;
  }
  // Sends `in` one byte at a time, concatenating all replies.
  std::string SendBytewise(const std::string& in) {
    std::string all;
    for (char c : in) all += Send(std::string(1, c));
    return all;
  }
  ManualClock& clock() { return clock_; }
  Engine& engine() { return *engine_; }
  storage::Store& store() { return *store_; }
  Session& session() { return session_; }

 private:
  ManualClock clock_{1'700'000'000'000ull};
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<Engine> engine_;
  Session session_;
  std::string pending_;
};

}  // namespace syncached::engine
