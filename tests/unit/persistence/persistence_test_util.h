// Helpers for the persistence tests: a temporary directory, a store and its
// Persistence wired as the server wires them (Node), store operations, a dump of a
// store's items to compare, and the PersistenceTest fixture that starts nodes on one
// data directory.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "persistence/format.h"
#include "persistence/persistence.h"
#include "storage/storage.h"

namespace syncached::persistence {

// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/persistence_test.XXXXXX";
    if (mkdtemp(name) == nullptr) std::abort();
    path_ = name;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct Item {
  std::string value;
  uint32_t flags;
  uint32_t exptime;
  uint64_t cas;
  uint16_t node;
  bool stale;
  friend bool operator==(const Item&, const Item&) = default;
};
using State = std::map<std::string, Item>;

inline void PrintTo(const Item& i, std::ostream* os) {
  *os << "{" << i.value.size() << " bytes, f=" << i.flags << " e=" << i.exptime << " cas=" << i.cas
      << "@" << i.node << (i.stale ? " stale" : "") << "}";
}

inline State Dump(storage::Store& s) {
  State out;
  s.ForEach([&](const storage::ItemRef& it) {
    out[std::string(it.key())] = Item{std::string(it.value()), it.flags(), it.exptime(), it.cas(),
                                      it.version().node,       it.stale()};
  });
  return out;
}

inline storage::Options SmallStore() {
  storage::Options o;
  o.shard_bits = 2;
  o.initial_hash_power = 4;
  return o;
}

// A store and its persistence wired as the server wires them: Open loads into the
// empty store, and only then does the store publish to it.
struct Node {
  Node(const Options& o, const Clock* clock, const storage::Options& so = SmallStore())
      : store(so, clock), p(o, &store) {}
  ~Node() { store.SetSink(nullptr); }
  Status Open() {
    Status st = p.Open(&rec);
    if (st.ok()) store.SetSink(&p);
    return st;
  }
  storage::Store store;
  Persistence p;
  Recovery rec;
};

inline uint64_t Set(storage::Store& s, std::string_view key, std::string_view value,
                    uint32_t flags = 0, uint32_t exptime = 0, uint64_t cas = 0) {
  return s.Access(key, [&](storage::Accessor& a) {
    storage::PutArgs args;
    args.value = value;
    args.flags = flags;
    args.exptime = exptime;
    args.cas = cas;
    storage::ItemRef it;
    EXPECT_EQ(a.Put(args, &it), storage::PutStatus::kOk);
    return it.cas();
  });
}
inline void Delete(storage::Store& s, std::string_view key) {
  s.Access(key, [](storage::Accessor& a) { a.Delete(); });
}
inline void Touch(storage::Store& s, std::string_view key, uint32_t exptime) {
  s.Access(key, [&](storage::Accessor& a) {
    if (a.Find()) a.SetExptime(exptime);
  });
}

inline uint64_t Stat(const Persistence& p, const std::string& name) {
  std::string out;
  p.AppendStats(&out);
  std::string key = "STAT " + name + " ";
  size_t at = out.find(key);
  if (at == std::string::npos) return ~0ull;
  return std::stoull(out.substr(at + key.size()));
}

// Polls `done` until it holds or 20 s pass (generous for sanitizer builds).
// The bytes of a journal segment up to where its frames end: space allocated ahead of
// the writes (zeros) is not counted.
inline uint64_t JournalLength(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() < kFileHeaderSize) return bytes.size();
  ScanResult r = ScanFrames(
      std::string_view(bytes).substr(kFileHeaderSize), [](const record::ChangeView&) {},
      [](std::string_view, std::string_view) {});
  return kFileHeaderSize + r.consumed;
}

inline bool WaitFor(const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

class PersistenceTest : public ::testing::Test {
 protected:
  Options Opts() const {
    Options o;
    o.dir = dir.path() + "/data";  // not there yet: Open creates it
    o.fsync = FsyncPolicy::kNo;
    return o;
  }
  // Opens a node on the directory; the test fails if it cannot.
  std::unique_ptr<Node> Start(const Options& o, const storage::Options& so = SmallStore()) {
    auto n = std::make_unique<Node>(o, &clock, so);
    Status st = n->Open();
    EXPECT_TRUE(st.ok()) << st.message();
    return n;
  }
  std::unique_ptr<Node> Start() { return Start(Opts()); }
  std::string File(const std::string& name) const { return Opts().dir + "/" + name; }
  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(Opts().dir))
      names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }
  uint32_t Now() const { return clock.NowSeconds(); }
  // Requests a compaction and waits until it has finished (files removed included).
  void Compact(Node& n) {
    uint64_t before = Stat(n.p, "snapshots");
    n.p.RequestSnapshot();
    ASSERT_TRUE(WaitFor([&] { return Stat(n.p, "snapshots") > before; }));
  }

  TempDir dir;
  ManualClock clock;
};

}  // namespace syncached::persistence
