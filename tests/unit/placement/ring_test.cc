#include <gtest/gtest.h>

#include <map>
#include <set>

#include "ketama_vectors.h"
#include "placement/hashes.h"
#include "placement/placement.h"

namespace syncached::placement {
namespace {

Members Parse(const std::string& text) {
  auto m = Members::Parse(text);
  EXPECT_TRUE(m) << m.error().message();
  return *m;
}

const std::string kFour =
    "1 10.0.0.1:11211 10.0.0.1:11311\n"
    "2 10.0.0.2:11211 10.0.0.2:11311\n"
    "3 10.0.0.3:11211 10.0.0.3:11311\n"
    "4 10.0.0.4:11211 10.0.0.4:11311\n";
const std::string kThree =  // kFour without node 3
    "1 10.0.0.1:11211 10.0.0.1:11311\n"
    "2 10.0.0.2:11211 10.0.0.2:11311\n"
    "4 10.0.0.4:11211 10.0.0.4:11311\n";
const std::string kWeighted =
    "1 10.0.0.1:11211 r1 1\n2 10.0.0.2:11211 r2 3\n3 10.0.0.3:11211 r3 2\n4 10.0.0.4:11211 r4 1\n";

constexpr RingKind kAllKinds[] = {RingKind::kKetama, RingKind::kKetamaWeighted,
                                  RingKind::kMemcache};

RingOptions Options(RingKind kind, std::string prefix = "") {
  RingOptions o;
  o.kind = kind;
  o.prefix = std::move(prefix);
  return o;
}

std::string Key(int i) { return "key:" + std::to_string(i); }

TEST(Ring, LibketamaVectors) {
  Members m = Parse(
      "1 10.0.1.1:11211 r1 600\n2 10.0.1.2:11211 r2 300\n3 10.0.1.3:11211 r3 200\n"
      "4 10.0.1.4:11211 r4 350\n5 10.0.1.5:11211 r5 1000\n6 10.0.1.6:11211 r6 800\n"
      "7 10.0.1.7:11211 r7 950\n8 10.0.1.8:11211 r8 100\n");
  Ring ring(m, Options(RingKind::kKetamaWeighted));
  int checked = 0;
  for (const auto& v : kKetamaVectors) {
    auto owners = ring.Owners(v.key, 1);
    ASSERT_EQ(owners.size(), 1u);
    EXPECT_EQ(m.Find(owners[0])->host, v.server) << v.key;
    ++checked;
  }
  EXPECT_EQ(checked, 99);
  // libmemcached's wraparound case: past the last point, so the first point's server.
  EXPECT_EQ(Md5Hash("VDEAAAAA"), 0xfffcd1b5u);
}

TEST(Ring, OwnersAreDistinctAndMinOfRAndN) {
  for (RingKind kind : kAllKinds) {
    Ring ring(Parse(kFour), Options(kind));
    for (size_t r = 0; r <= 6; ++r) {
      for (int i = 0; i < 300; ++i) {
        auto owners = ring.Owners(Key(i), r);
        if (kind == RingKind::kMemcache && r >= 4) {
          // pecl tries only 20 "key-i" rehashes: the last server is sometimes not met.
          EXPECT_GE(owners.size(), 3u) << Key(i);
        } else {
          EXPECT_EQ(owners.size(), std::min<size_t>(r, 4)) << RingKindName(kind) << " " << Key(i);
        }
        EXPECT_EQ(std::set<NodeId>(owners.begin(), owners.end()).size(), owners.size());
      }
    }
  }
}

TEST(Ring, SpreadsKeysOverEveryNode) {
  for (RingKind kind : kAllKinds) {
    Ring ring(Parse(kFour), Options(kind));
    std::map<NodeId, int> count;
    for (int i = 0; i < 4000; ++i) count[ring.Owners(Key(i), 1)[0]]++;
    ASSERT_EQ(count.size(), 4u) << RingKindName(kind);
    for (auto [id, n] : count) EXPECT_GT(n, 500) << RingKindName(kind) << " node " << id;
  }
}

TEST(Ring, RemovingANodeMovesOnlyItsKeys) {
  for (RingKind kind : kAllKinds) {
    Ring four(Parse(kFour), Options(kind));
    Ring three(Parse(kThree), Options(kind));
    int moved = 0;
    for (int i = 0; i < 3000; ++i) {
      auto before = four.Owners(Key(i), 4);
      NodeId after = three.Owners(Key(i), 1)[0];
      if (before[0] != 3) {
        EXPECT_EQ(after, before[0]) << RingKindName(kind) << " " << Key(i);
      } else {
        ++moved;
        if (kind != RingKind::kMemcache) {
          // ketama: the next node clockwise, i.e. the second owner.
          EXPECT_EQ(after, before[1]) << RingKindName(kind) << " " << Key(i);
        }
      }
    }
    EXPECT_GT(moved, 400) << RingKindName(kind);
  }
}

TEST(Ring, KetamaFailoverEqualsRingWithoutTheDeadNode) {
  // libmemcached ejects a dead server and rebuilds from the live ones; with unequal
  // weights that changes the other servers' points too.
  for (const std::string* file : {&kFour, &kWeighted}) {
    for (RingKind kind : {RingKind::kKetama, RingKind::kKetamaWeighted}) {
      Members all = Parse(*file);
      std::string without;
      for (const auto& n : all.nodes()) {
        if (n.id != 2) {
          without += std::to_string(n.id) + " " + n.client_address + " " + n.replication_address +
                     " " + std::to_string(n.weight) + "\n";
        }
      }
      Ring full(all, Options(kind));
      Ring reduced(Parse(without), Options(kind));
      auto alive = [](NodeId id) { return id != 2; };
      for (int i = 0; i < 2000; ++i) {
        EXPECT_EQ(full.Owners(Key(i), 3, alive), reduced.Owners(Key(i), 3))
            << RingKindName(kind) << " " << Key(i);
      }
    }
  }
}

TEST(Ring, AliveSkipsDeadNodesInFailoverOrder) {
  for (RingKind kind : kAllKinds) {
    Ring ring(Parse(kFour), Options(kind));
    for (int i = 0; i < 1000; ++i) {
      auto order = ring.Owners(Key(i), 4);
      NodeId dead = order[0];
      auto alive = [dead](NodeId id) { return id != dead; };
      auto owners = ring.Owners(Key(i), 2, alive);
      ASSERT_EQ(owners.size(), 2u);
      if (kind != RingKind::kMemcache) {
        EXPECT_EQ(owners[0], order[1]);
        EXPECT_EQ(owners[1], order[2]);
      } else {
        // pecl: the first live server of key, key-0, key-1, ...
        EXPECT_NE(owners[0], dead);
      }
    }
  }
}

TEST(Ring, MemcacheFailoverIsTheKeyDashISequence) {
  Members m = Parse(kFour);
  Ring ring(m, Options(RingKind::kMemcache));
  for (int i = 0; i < 200; ++i) {
    std::string key = Key(i);
    auto owners = ring.Owners(key, 2);
    // The second owner is the first of key-0, key-1, ... that is not the first.
    for (int j = 0;; ++j) {
      NodeId n = ring.Owners(key + "-" + std::to_string(j), 1)[0];
      if (n != owners[0]) {
        EXPECT_EQ(n, owners[1]) << key;
        break;
      }
    }
  }
}

TEST(Ring, PrefixIsStrippedBeforeHashing) {
  Members m = Parse(kFour);
  Ring plain(m, Options(RingKind::kKetama));
  Ring prefixed(m, Options(RingKind::kKetama, "memc.sess.key."));
  for (int i = 0; i < 500; ++i) {
    EXPECT_EQ(prefixed.Owners("memc.sess.key." + Key(i), 2), plain.Owners(Key(i), 2));
    EXPECT_EQ(prefixed.Owners(Key(i), 2), plain.Owners(Key(i), 2));  // no prefix: as is
  }
}

TEST(Ring, DefaultPortIsLeftOutOfKetamaPointNames) {
  // libmemcached names points "host-i" for port 11211, so "h" and "h:11211" agree;
  // another port changes the ring.
  Ring a(Parse("1 h1 r1\n2 h2 r2\n"), Options(RingKind::kKetama));
  Ring b(Parse("1 h1:11211 r1\n2 h2:11211 r2\n"), Options(RingKind::kKetama));
  Ring c(Parse("1 h1:11212 r1\n2 h2:11212 r2\n"), Options(RingKind::kKetama));
  int differ = 0;
  for (int i = 0; i < 500; ++i) {
    EXPECT_EQ(a.Owners(Key(i), 2), b.Owners(Key(i), 2));
    differ += a.Owners(Key(i), 1) != c.Owners(Key(i), 1);
  }
  EXPECT_GT(differ, 0);
}

TEST(Ring, SingleNodeOwnsEverything) {
  for (RingKind kind : kAllKinds) {
    Ring ring(Parse("5 h:1 r:1\n"), Options(kind));
    EXPECT_EQ(ring.Owners("anything", 3), std::vector<NodeId>{5});
    EXPECT_TRUE(ring.Owners("anything", 3, [](NodeId) { return false; }).empty());
  }
}

TEST(Ring, AppendOwnersAppendsWhatOwnersReturns) {
  // 70 nodes: past the one-word set of servers a lookup has met.
  std::string many;
  for (int i = 1; i <= 70; ++i) {
    many +=
        std::to_string(i) + " 10.0.2." + std::to_string(i) + ":11211 r" + std::to_string(i) + "\n";
  }
  constexpr RingKind kKinds[] = {RingKind::kKetama, RingKind::kKetamaWeighted, RingKind::kMemcache,
                                 RingKind::kMemcacheSession};
  for (const std::string& text : {kFour, kWeighted, many}) {
    for (RingKind kind : kKinds) {
      Ring ring(Parse(text), Options(kind));
      std::vector<NodeId> out{999};
      for (int i = 0; i < 60; ++i) {
        out.resize(1);
        ring.AppendOwners(Key(i), 3, &out);
        std::vector<NodeId> want{999};
        for (NodeId id : ring.Owners(Key(i), 3)) want.push_back(id);
        ASSERT_EQ(out, want) << RingKindName(kind) << " " << Key(i);
        EXPECT_EQ(std::set<NodeId>(out.begin() + 1, out.end()).size(), 3u);
      }
    }
  }
}

}  // namespace
}  // namespace syncached::placement
