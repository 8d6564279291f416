// syncached-loadgen: a closed-loop load generator for memcached-compatible
// servers (text, meta and binary protocols). See bench/README.md.
//
// main parses options, connects every worker's connections, then runs the
// phases (preload, measure, readback) on --threads worker threads separated by
// barriers, merges the per-thread tallies and prints one JSON object.
#include <algorithm>
#include <barrier>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "encoder.h"
#include "options.h"
#include "worker.h"

namespace syncached::bench {
namespace {

double Seconds(int64_t ns) { return static_cast<double>(ns) / 1e9; }

double Rate(uint64_t n, double seconds) {
  return seconds > 0 ? static_cast<double>(n) / seconds : 0;
}

void PrintErrors(const Tally& t) {
  std::printf(
      "\"errors\": %llu, \"error_detail\": {\"error_replies\": %llu, \"bad_values\": %llu, "
      "\"desyncs\": %llu, \"conn_errors\": %llu, \"timeouts\": %llu}",
      static_cast<unsigned long long>(t.errors()), static_cast<unsigned long long>(t.error_replies),
      static_cast<unsigned long long>(t.bad_values), static_cast<unsigned long long>(t.desyncs),
      static_cast<unsigned long long>(t.conn_errors), static_cast<unsigned long long>(t.timeouts));
}

void PrintPhase(const char* name, const Tally& t) {
  double secs = Seconds(t.end_ns - t.start_ns);
  std::printf(
      "  \"%s\": {\"seconds\": %.4f, \"ops\": %llu, \"ops_per_sec\": %.1f, \"keys\": %llu, "
      "\"hits\": %llu, \"misses\": %llu, ",
      name, secs, static_cast<unsigned long long>(t.ops), Rate(t.ops, secs),
      static_cast<unsigned long long>(t.gets ? t.keys : t.sets),
      static_cast<unsigned long long>(t.hits), static_cast<unsigned long long>(t.misses));
  PrintErrors(t);
  std::printf("},\n");
}

void PrintRun(const Tally& t) {
  double window = Seconds(t.window_end_ns - t.start_ns);
  double per_op = t.ops ? static_cast<double>(t.keys + t.sets) / static_cast<double>(t.ops) : 0;
  double ops_rate = Rate(t.ops_in_window, window);
  auto us = [&](double p) { return static_cast<double>(t.latency.Percentile(p)) / 1000.0; };
  std::printf(
      "  \"run\": {\"seconds\": %.4f, \"drain_seconds\": %.4f, \"ops\": %llu, \"ops_total\": %llu, "
      "\"ops_per_sec\": %.1f, \"keys_per_sec\": %.1f, \"gets\": %llu, \"sets\": %llu, "
      "\"keys\": %llu, \"hits\": %llu, \"misses\": %llu, \"hit_ratio\": %.4f,\n",
      window, Seconds(t.end_ns - t.window_end_ns), static_cast<unsigned long long>(t.ops_in_window),
      static_cast<unsigned long long>(t.ops), ops_rate, ops_rate * per_op,
      static_cast<unsigned long long>(t.gets), static_cast<unsigned long long>(t.sets),
      static_cast<unsigned long long>(t.keys), static_cast<unsigned long long>(t.hits),
      static_cast<unsigned long long>(t.misses),
      t.keys ? static_cast<double>(t.hits) / static_cast<double>(t.keys) : 0.0);
  std::printf(
      "    \"latency_us\": {\"count\": %llu, \"min\": %.1f, \"mean\": %.1f, \"p50\": %.1f, "
      "\"p90\": %.1f, \"p99\": %.1f, \"p999\": %.1f, \"max\": %.1f},\n    ",
      static_cast<unsigned long long>(t.latency.count()),
      static_cast<double>(t.latency.min()) / 1000.0, t.latency.mean() / 1000.0, us(50), us(90),
      us(99), us(99.9), static_cast<double>(t.latency.max()) / 1000.0);
  PrintErrors(t);
  std::printf("},\n");
}

int Main(int argc, char** argv) {
  Options opt;
  if (!ParseOptions(argc, argv, &opt)) return 2;
  std::vector<std::string> listed;
  if (!opt.key_file.empty()) {
    std::ifstream in(opt.key_file);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) listed.push_back(line);
    }
    bool same = !listed.empty() && std::all_of(listed.begin(), listed.end(), [&](const auto& k) {
      return k.size() == listed[0].size() && k.size() <= 250 && k.find(' ') == std::string::npos;
    });
    if (!same) {
      std::fprintf(stderr, "syncached-loadgen: --key-file: keys of one length (<= 250) needed\n");
      return 2;
    }
    opt.keys = static_cast<uint32_t>(listed.size());
  }
  KeySpace keys = listed.empty() ? KeySpace(opt.key_prefix, opt.keys) : KeySpace(std::move(listed));
  Encoder enc(opt.proto, keys, opt.value_size, opt.mget > 1);

  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < opt.threads; ++i) {
    workers.push_back(std::make_unique<Worker>(opt, keys, enc, i));
    std::string err;
    if (!workers.back()->Connect(&err)) {
      std::fprintf(stderr, "syncached-loadgen: %s\n", err.c_str());
      return 2;
    }
  }

  // Every worker finishes a phase before any starts the next, so the
  // measurement never sees a half-preloaded key space.
  std::barrier sync(opt.threads);
  std::vector<std::thread> threads;
  for (auto& w : workers) {
    threads.emplace_back([&opt, &sync, w = w.get()] {
      if (opt.preload) w->Run(Phase::kPreload);
      sync.arrive_and_wait();
      if (opt.measure()) w->Run(Phase::kMeasure);
      sync.arrive_and_wait();
      if (opt.readback) w->Run(Phase::kReadback);
    });
  }
  for (auto& t : threads) t.join();

  Tally merged[3];
  for (auto& w : workers) {
    for (int p = 0; p < 3; ++p) merged[p].Merge(w->tally(static_cast<Phase>(p)));
  }
  Tally all;
  for (auto& t : merged) all.Merge(t);

  std::printf(
      "{\n  \"config\": {\"proto\": \"%s\", \"port\": %d, \"threads\": %d, \"conns\": %d, "
      "\"depth\": %d, \"mget\": %d, \"keys\": %u, \"key_prefix\": \"%s\", \"key_len\": %zu, "
      "\"value_size\": %u, \"ratio\": \"%u:%u\", \"duration\": %.3f, \"requests\": %llu},\n",
      ProtoName(opt.proto), opt.port, opt.threads, opt.conns, opt.depth, opt.mget, opt.keys,
      opt.key_prefix.c_str(), keys.key_len(), opt.value_size, opt.get_weight, opt.set_weight,
      opt.duration, static_cast<unsigned long long>(opt.requests));
  if (opt.preload) PrintPhase("preload", merged[static_cast<int>(Phase::kPreload)]);
  if (opt.measure()) PrintRun(merged[static_cast<int>(Phase::kMeasure)]);
  if (opt.readback) PrintPhase("readback", merged[static_cast<int>(Phase::kReadback)]);
  std::printf("  ");
  PrintErrors(all);
  std::printf("\n}\n");
  std::fflush(stdout);
  return all.errors() > 0 ? 1 : 0;
}

}  // namespace
}  // namespace syncached::bench

int main(int argc, char** argv) { return syncached::bench::Main(argc, argv); }
