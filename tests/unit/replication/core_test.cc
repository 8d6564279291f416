// The replication core without sockets: two or three nodes wired by an in-memory
// transport that delivers in order when told to, on a manual clock.
// tests/sim runs the same core under faults for thousands of seeds.
#include "replication/core.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/clock.h"
#include "storage/storage.h"

namespace syncached::replication {
namespace {

class Net;

// One node: store, core and its side of the network.
struct TestNode final : Transport, record::Sink {
  TestNode(Net* net, int index, ManualClock* clock, uint64_t now, Options o)
      : net(net), index(index) {
    storage::Options so;
    so.shard_bits = 1;
    so.initial_hash_power = 4;
    so.node_id = o.node_id;
    so.replicated = true;
    store = std::make_unique<storage::Store>(so, clock);
    core = std::make_unique<Core>(o, store.get(), this, epoch_seed++ * 1000 + o.node_id, now);
    store->SetSink(this);
  }
  ~TestNode() override { store->SetSink(nullptr); }
  Sent ToSubscriber(const std::string& identity, const std::string& msg) override;
  void ToPublisher(size_t link, const std::string& msg) override;
  void Reconnect(size_t link) override;
  void AddLink(size_t, const std::string&) override {}
  void OnChange(const record::ChangeView& c) override { core->OnChange(c); }

  void Set(const std::string& key, const std::string& value) {
    store->Access(key, [&](storage::Accessor& a) {
      storage::PutArgs args;
      args.value = value;
      storage::ItemRef ref;
      ASSERT_EQ(a.Put(args, &ref), storage::PutStatus::kOk);
    });
  }
  std::string Get(const std::string& key) {
    std::string out;
    store->Access(key, [&](storage::Accessor& a) {
      if (storage::ItemRef it = a.Find()) out = std::string(it.value());
    });
    return out;
  }

  Net* net;
  int index;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<Core> core;
  std::vector<std::string> reconnects;
  static inline uint64_t epoch_seed = 1;
};

// Links are connections "sub->pub#generation"; everything in flight is kept per
// connection, in order, until Run delivers it.
class Net {
 public:
  explicit Net(int n) : n_(n) {}
  ~Net() { nodes.clear(); }

  TestNode& Start(int i, bool has_data = false) {
    Options o;
    o.node_id = static_cast<uint16_t>(i + 1);
    for (int p = 0; p < n_; ++p) {
      if (p != i) o.peers.push_back("n" + std::to_string(p + 1));
    }
    o.join_timeout_ms = 1000;
    o.backlog_bytes = 1 << 20;
    o.has_data = has_data;
    o.sync_replicas = sync_replicas;
    if (nodes.size() <= static_cast<size_t>(i)) nodes.resize(i + 1);
    nodes[i].reset();
    ++generation[i];  // connections of an earlier run are gone
    nodes[i] = std::make_unique<TestNode>(this, i, &clock, mono, o);
    return *nodes[i];
  }
  void Stop(int i) {
    nodes[i].reset();
    ++generation[i];
  }
  bool Live(int i) const { return i < static_cast<int>(nodes.size()) && nodes[i] != nullptr; }
  int PubOf(int sub, size_t link) const {
    int l = static_cast<int>(link);
    return l < sub ? l : l + 1;
  }
  std::string Identity(int sub, size_t link) const {
    int pub = PubOf(sub, link);
    return std::to_string(sub) + ">" + std::to_string(pub) + "#" + std::to_string(generation[sub]) +
           "." + std::to_string(generation[pub]) + "." + std::to_string(reconnects[sub * 8 + link]);
  }
  // Advances both clocks by `ms` a millisecond at a time, delivering everything sent.
  void Run(uint64_t ms) {
    for (uint64_t t = 0; t < ms; ++t) {
      clock.Advance(1);
      ++mono;
      for (int round = 0; round < 8 && !queue.empty(); ++round) {
        std::deque<Msg> batch;
        batch.swap(queue);
        for (Msg& m : batch) Deliver(m);
      }
      for (auto& n : nodes) {
        if (n) n->core->Step(mono);
      }
    }
  }

  struct Msg {
    bool to_pub;
    int sub;
    size_t link;
    std::string identity;
    std::string body;
  };
  void Deliver(const Msg& m) {
    int pub = PubOf(m.sub, m.link);
    if (m.identity != Identity(m.sub, m.link)) return;  // that connection is gone
    if (m.to_pub) {
      if (Live(pub)) nodes[pub]->core->OnSubscriberMessage(m.identity, m.body, mono);
    } else if (Live(m.sub)) {
      nodes[m.sub]->core->OnPublisherMessage(m.link, m.body, mono);
    }
  }

  int n_;
  ManualClock clock;     // the wall clock (stores, HLC)
  uint64_t mono = 1000;  // the monotonic time the cores' timers run on
  uint32_t sync_replicas = 0;
  std::vector<std::unique_ptr<TestNode>> nodes;
  std::vector<uint64_t> generation = std::vector<uint64_t>(8, 0);
  std::vector<uint64_t> reconnects = std::vector<uint64_t>(64, 0);
  std::deque<Msg> queue;
};

Transport::Sent TestNode::ToSubscriber(const std::string& identity, const std::string& msg) {
  for (int sub = 0; sub < net->n_; ++sub) {
    for (size_t link = 0; link + 1 < static_cast<size_t>(net->n_); ++link) {
      if (net->PubOf(sub, link) == index && net->Identity(sub, link) == identity) {
        net->queue.push_back({false, sub, link, identity, msg});
        return Sent::kOk;
      }
    }
  }
  return Sent::kGone;
}

void TestNode::ToPublisher(size_t link, const std::string& msg) {
  if (!net->Live(net->PubOf(index, link))) return;  // not connected: dropped
  net->queue.push_back({true, index, link, net->Identity(index, link), msg});
}

void TestNode::Reconnect(size_t link) {
  ++net->reconnects[index * 8 + link];
  reconnects.push_back(net->Identity(index, link));
}

const Link& LinkTo(TestNode& n, int peer_index) {
  for (const Link& l : n.core->links()) {
    if (l.address == "n" + std::to_string(peer_index + 1)) return l;
  }
  throw std::runtime_error("no link");
}

TEST(Core, AnEmptyClusterSyncsAndOpensItsGates) {
  Net net(2);
  net.Start(0);
  net.Start(1);
  net.Run(50);
  for (auto& n : net.nodes) {
    EXPECT_TRUE(n->core->gate_open());
    EXPECT_TRUE(n->core->any_synced());
    EXPECT_EQ(n->core->links()[0].phase, Link::Phase::kStreaming);
  }
}

TEST(Core, WritesReachThePeerInOrder) {
  Net net(2);
  net.Start(0);
  net.Start(1);
  net.Run(50);
  for (int i = 0; i < 100; ++i) net.nodes[0]->Set("k", "v" + std::to_string(i));
  net.Run(10);
  EXPECT_EQ(net.nodes[1]->Get("k"), "v99");
}

TEST(Core, AJoiningNodeGetsAFullCopyBeforeItsGateOpens) {
  Net net(2);
  net.Start(0);
  net.Run(1500);  // alone past the join timeout
  EXPECT_TRUE(net.nodes[0]->core->gate_open());
  for (int i = 0; i < 500; ++i) net.nodes[0]->Set("k" + std::to_string(i), "v");
  TestNode& b = net.Start(1);
  EXPECT_FALSE(b.core->gate_open());
  net.Run(20);
  EXPECT_TRUE(b.core->gate_open());
  EXPECT_EQ(LinkTo(b, 0).full_copies, 1u);
  for (int i = 0; i < 500; ++i) EXPECT_EQ(b.Get("k" + std::to_string(i)), "v");
}

// The restart gap of issue 16: a peer that follows a node's previous run starts over
// the moment the new run says HELLO, so the new run's first writes reach it at once.
TEST(Core, ARestartedNodeIsFollowedFromItsFirstHello) {
  Net net(2);
  net.Start(0);
  net.Start(1);
  net.Run(50);
  uint64_t old_epoch = LinkTo(*net.nodes[0], 1).epoch;
  net.Stop(1);
  net.Run(10);  // far less than the 3 s of silence
  TestNode& b = net.Start(1);
  net.Run(20);
  ASSERT_TRUE(b.core->gate_open());
  const Link& a_to_b = LinkTo(*net.nodes[0], 1);
  EXPECT_NE(a_to_b.epoch, old_epoch);
  EXPECT_EQ(a_to_b.phase, Link::Phase::kStreaming);
  EXPECT_FALSE(net.nodes[0]->reconnects.empty());  // a fresh connection, not a wait
  b.Set("first", "write");
  net.Run(5);
  EXPECT_EQ(net.nodes[0]->Get("first"), "write");
}

// An empty node keeps the HELLO of a peer that followed its earlier run until its own
// sync is done, answers it then, and only then lets clients in.
TEST(Core, AnEmptyRestartServesOnlyOnceItsPeersFollowIt) {
  Net net(3);
  for (int i = 0; i < 3; ++i) net.Start(i);
  net.Run(50);
  for (int i = 0; i < 200; ++i) net.nodes[0]->Set("k" + std::to_string(i), "v");
  net.Run(10);
  net.Stop(2);
  TestNode& c = net.Start(2);
  bool opened = false;
  for (int t = 0; t < 100 && !opened; ++t) {
    net.Run(1);
    if (c.core->gate_open()) {
      opened = true;
      // Every live peer has a session on c's stream already.
      std::set<uint16_t> followers;
      for (const auto& [id, s] : c.core->sessions()) followers.insert(s.node_id);
      EXPECT_EQ(followers, (std::set<uint16_t>{1, 2}));
      EXPECT_EQ(c.Get("k199"), "v");
    }
  }
  EXPECT_TRUE(opened);
}

TEST(Core, RepeatedHellosDoNotRestartACopy) {
  Net net(2);
  net.Start(0);
  net.Run(1500);
  for (int i = 0; i < 100; ++i) net.nodes[0]->Set("k" + std::to_string(i), "v");
  TestNode& b = net.Start(1);
  // Three more HELLOs like b's own on its connection before any answer arrives.
  Hello h;
  h.node_id = 2;
  h.cluster = "syncached";
  h.sender_epoch = b.core->epoch();
  std::string id = net.Identity(1, 0);
  for (int i = 0; i < 3; ++i) {
    net.nodes[0]->core->OnSubscriberMessage(id, EncodeHello(h), net.mono);
  }
  net.Run(20);
  uint64_t copies = 0;
  for (const auto& [sid, s] : net.nodes[0]->core->sessions()) copies += s.full_copies;
  EXPECT_EQ(copies, 1u);
  EXPECT_EQ(b.Get("k99"), "v");
}

TEST(Core, SyncWritesAreAcknowledgedOnlyOnceAPeerAppliedThem) {
  Net net(2);
  net.sync_replicas = 1;
  net.Start(0);
  net.Start(1);
  net.Run(50);
  net.nodes[0]->Set("k", "v");
  uint64_t ticket = net.nodes[0]->core->BeginSyncWait();
  ASSERT_NE(ticket, 0u);
  EXPECT_FALSE(net.nodes[0]->core->IsAcked(ticket));
  net.Run(5);
  EXPECT_TRUE(net.nodes[0]->core->IsAcked(ticket));
  EXPECT_EQ(net.nodes[1]->Get("k"), "v");
}

TEST(Core, MalformedBytesResetOnlyThatLink) {
  Net net(3);
  for (int i = 0; i < 3; ++i) net.Start(i);
  net.Run(50);
  net.nodes[0]->core->OnPublisherMessage(0, "\x03garbage", net.mono);
  EXPECT_EQ(net.nodes[0]->core->links()[0].phase, Link::Phase::kConnecting);
  EXPECT_EQ(net.nodes[0]->core->links()[0].malformed, 1u);
  EXPECT_EQ(net.nodes[0]->core->links()[1].phase, Link::Phase::kStreaming);
  net.Run(50);  // it says HELLO again and catches up
  EXPECT_EQ(net.nodes[0]->core->links()[0].phase, Link::Phase::kStreaming);
}

TEST(Core, TimersRunOnTheGivenClockNotTheWallClock) {
  // The wall clock (the stores') steps back an hour; silence, which runs on the
  // monotonic time the driver passes, is still noticed after 3 s.
  Net net(2);
  net.Start(0);
  net.Start(1);
  net.Run(50);
  net.clock.Set(net.clock.NowMillis() - 3600 * 1000);
  net.Stop(1);
  net.Run(2500);
  EXPECT_EQ(net.nodes[0]->core->links()[0].phase, Link::Phase::kStreaming);
  net.Run(1000);
  EXPECT_EQ(net.nodes[0]->core->links()[0].phase, Link::Phase::kConnecting);
}

}  // namespace
}  // namespace syncached::replication
