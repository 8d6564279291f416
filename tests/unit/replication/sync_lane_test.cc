// The sync lane's frames: a thread's captured changes come out as one frame that only
// peers holding the cluster's secret open, whose token the sender can check, and whose
// records must all be the sender's own.
#include "replication/sync_lane.h"

#include <gtest/gtest.h>

#include <thread>

#include "record/codec.h"

namespace syncached::replication {
namespace {

std::string Encoded(uint16_t node, uint64_t hlc, std::string_view key, std::string_view value) {
  record::ChangeView c;
  c.version = {hlc, node};
  c.key = key;
  c.value = value;
  std::string out;
  record::EncodeChange(c, &out);
  return out;
}

TEST(SyncLane, PeersOfTheClusterOpenATurnsChangesAndAnswerItsToken) {
  SyncLane a("root secret", "syncached", 1), b("root secret", "syncached", 2);
  LaneBatch batch;
  EXPECT_FALSE(a.Take(&batch));  // nothing captured
  a.Capture(Encoded(1, 100, "k1", "v1"), 7);
  a.Capture(Encoded(1, 101, "k2", "v2"), 9);
  ASSERT_TRUE(a.Take(&batch));
  EXPECT_EQ(batch.first_ticket, 7u);
  EXPECT_EQ(batch.last_ticket, 9u);
  ASSERT_FALSE(batch.frame.empty());
  EXPECT_EQ(batch.token.size(), kLaneTokenBytes);
  EXPECT_FALSE(a.Take(&batch));  // taken

  uint16_t node = 0;
  std::string records, token;
  ASSERT_TRUE(b.Open(batch.frame, &node, &records, &token));
  EXPECT_EQ(node, 1);
  EXPECT_EQ(token, batch.token);
  std::vector<record::ChangeView> changes;
  ASSERT_TRUE(DecodeLaneRecords(records, node, &changes));
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].key, "k1");
  EXPECT_EQ(changes[1].value, "v2");
  EXPECT_EQ(changes[1].version.hlc, 101u);

  // Each frame has its own nonce, so its own token.
  a.Capture(Encoded(1, 102, "k1", "v3"), 10);
  LaneBatch next;
  ASSERT_TRUE(a.Take(&next));
  EXPECT_NE(next.token, batch.token);
  ASSERT_TRUE(b.Open(next.frame, &node, &records, &token));
  EXPECT_EQ(token, next.token);
}

TEST(SyncLane, OtherSecretsClustersTamperingAndOwnFramesAreRefused) {
  SyncLane a("root secret", "syncached", 1);
  a.Capture(Encoded(1, 100, "k", "v"), 1);
  LaneBatch batch;
  ASSERT_TRUE(a.Take(&batch));
  uint16_t node;
  std::string records, token;
  SyncLane other_secret("another secret", "syncached", 2);
  EXPECT_FALSE(other_secret.Open(batch.frame, &node, &records, &token));
  SyncLane other_cluster("root secret", "elsewhere", 2);
  EXPECT_FALSE(other_cluster.Open(batch.frame, &node, &records, &token));
  EXPECT_FALSE(a.Open(batch.frame, &node, &records, &token));  // our own
  SyncLane b("root secret", "syncached", 2);
  for (size_t i = 0; i < batch.frame.size(); i += 7) {
    std::string bad = batch.frame;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    EXPECT_FALSE(b.Open(bad, &node, &records, &token)) << "byte " << i;
  }
  EXPECT_FALSE(b.Open(batch.frame.substr(0, batch.frame.size() - 1), &node, &records, &token));
  EXPECT_FALSE(b.Open("", &node, &records, &token));
  EXPECT_TRUE(b.Open(batch.frame, &node, &records, &token));
}

TEST(SyncLane, RecordsMustBeWholeAndTheSendersOwn) {
  std::vector<record::ChangeView> changes;
  EXPECT_TRUE(DecodeLaneRecords("", 1, &changes));
  EXPECT_TRUE(changes.empty());
  std::string two = Encoded(1, 5, "a", "1") + Encoded(1, 6, "b", "2");
  EXPECT_TRUE(DecodeLaneRecords(two, 1, &changes));
  EXPECT_EQ(changes.size(), 2u);
  EXPECT_FALSE(DecodeLaneRecords(two, 2, &changes));  // node 1's changes "from" node 2
  EXPECT_FALSE(DecodeLaneRecords(two + Encoded(3, 7, "c", "3"), 1, &changes));
  EXPECT_FALSE(DecodeLaneRecords(two.substr(0, two.size() - 1), 1, &changes));
  EXPECT_FALSE(DecodeLaneRecords("garbage", 1, &changes));
}

TEST(SyncLane, ATurnTooLargeKeepsItsTicketsButNoFrame) {
  SyncLane a("", "syncached", 1);
  std::string big(64 << 10, 'x');
  uint64_t ticket = 0;
  for (size_t bytes = 0; bytes <= kMaxLaneBatchBytes; bytes += big.size()) {
    a.Capture(Encoded(1, 100 + ticket, "k" + std::to_string(ticket), big), ticket + 1);
    ++ticket;
  }
  LaneBatch batch;
  ASSERT_TRUE(a.Take(&batch));
  EXPECT_EQ(batch.first_ticket, 1u);
  EXPECT_EQ(batch.last_ticket, ticket);
  EXPECT_TRUE(batch.frame.empty());  // the stream alone acknowledges these
  a.Capture(Encoded(1, 999, "small", "v"), ticket + 1);
  ASSERT_TRUE(a.Take(&batch));
  EXPECT_FALSE(batch.frame.empty());
}

TEST(SyncLane, EachThreadTakesOnlyWhatItCaptured) {
  SyncLane a("", "syncached", 1);
  a.Capture(Encoded(1, 100, "mine", "v"), 1);
  bool other_took = true;
  std::thread([&] {
    LaneBatch b;
    other_took = a.Take(&b);
  }).join();
  EXPECT_FALSE(other_took);
  LaneBatch b;
  EXPECT_TRUE(a.Take(&b));
}

TEST(SyncLane, PeersCarryAVersion) {
  SyncLane a("", "syncached", 1);
  std::vector<LanePeer> peers;
  uint32_t needed = 9;
  uint64_t v0 = a.Peers(&peers, &needed);
  EXPECT_TRUE(peers.empty());
  a.SetPeers({{2, "127.0.0.1", 11211}}, 1);
  uint64_t v1 = a.Peers(&peers, &needed);
  EXPECT_GT(v1, v0);
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers[0].port, 11211);
  EXPECT_EQ(needed, 1u);
  a.SetPeers({{2, "127.0.0.1", 11211}}, 1);  // the same: no new version
  EXPECT_EQ(a.peers_version(), v1);
}

TEST(SyncLane, FollowsOnlyTheOriginsItWasToldOf) {
  SyncLane a("", "syncached", 1);
  EXPECT_FALSE(a.Following(2));
  a.SetFollowing({2, 700, 65535});
  EXPECT_TRUE(a.Following(2));
  EXPECT_TRUE(a.Following(700));
  EXPECT_TRUE(a.Following(65535));
  EXPECT_FALSE(a.Following(3));
  EXPECT_FALSE(a.Following(0));
  a.SetFollowing({700});
  EXPECT_FALSE(a.Following(2));
  EXPECT_TRUE(a.Following(700));
}

}  // namespace
}  // namespace syncached::replication
