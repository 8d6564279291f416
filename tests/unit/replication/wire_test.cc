#include "replication/wire.h"

#include <gtest/gtest.h>

namespace syncached::replication {
namespace {

TEST(Wire, HelloRoundTrip) {
  Hello h;
  h.node_id = 7;
  h.epoch = 123456789;
  h.next_seq = 42;
  h.cluster = "prod-eu";
  h.stream_hlc = 0x123456789abcull;
  h.sender_epoch = 0xfeedull;
  Hello d;
  ASSERT_TRUE(DecodeHello(EncodeHello(h), &d));
  EXPECT_EQ(d.node_id, 7);
  EXPECT_EQ(d.epoch, 123456789u);
  EXPECT_EQ(d.next_seq, 42u);
  EXPECT_EQ(d.cluster, "prod-eu");
  EXPECT_EQ(d.stream_hlc, 0x123456789abcull);
  EXPECT_EQ(d.sender_epoch, 0xfeedull);
  EXPECT_EQ(d.members_digest, 0u);
  h.members_digest = 0xabcdef0123ull;
  ASSERT_TRUE(DecodeHello(EncodeHello(h), &d));
  EXPECT_EQ(d.members_digest, 0xabcdef0123ull);
  EXPECT_FALSE(d.joining);
  h.joining = true;
  std::string joining = EncodeHello(h);
  ASSERT_TRUE(DecodeHello(joining, &d));
  EXPECT_TRUE(d.joining);
  joining[joining.size() - 2] = 4;  // the flags byte: only bits 0 and 1 are defined
  EXPECT_FALSE(DecodeHello(joining, &d));
  h.joining = false;
  h.multicast = true;
  ASSERT_TRUE(DecodeHello(EncodeHello(h), &d));
  EXPECT_TRUE(d.multicast);
  EXPECT_FALSE(d.joining);
  EXPECT_EQ(d.client_address, "");
  h.client_address = "10.0.0.7:11211";
  std::string named = EncodeHello(h);
  ASSERT_TRUE(DecodeHello(named, &d));
  EXPECT_EQ(d.client_address, "10.0.0.7:11211");
  named.pop_back();  // the address cut short
  EXPECT_FALSE(DecodeHello(named, &d));
}

TEST(Wire, WelcomeCarriesTheMulticastBit) {
  Welcome w{WelcomeMode::kFullCopy, 9, 10, 3, true, true, true}, d;
  ASSERT_TRUE(DecodeWelcome(EncodeWelcome(w), &d));
  EXPECT_EQ(d.mode, WelcomeMode::kFullCopy);
  EXPECT_TRUE(d.ack_every_batch && d.sweep && d.multicast);
  w = {WelcomeMode::kStream, 9, 10, 3};
  ASSERT_TRUE(DecodeWelcome(EncodeWelcome(w), &d));
  EXPECT_FALSE(d.multicast || d.sweep || d.ack_every_batch);
  std::string bad = EncodeWelcome(w);
  bad[1] = 0x23;  // multicast bit and mode 3: no such mode
  EXPECT_FALSE(DecodeWelcome(bad, &d));
}

TEST(Wire, StreamRepair) {
  uint64_t epoch = 0, from = 0, to = 0;
  ASSERT_TRUE(DecodeStreamRepair(EncodeStreamRepair(5, 100, 164), &epoch, &from, &to));
  EXPECT_EQ(epoch, 5u);
  EXPECT_EQ(from, 100u);
  EXPECT_EQ(to, 164u);
  EXPECT_FALSE(DecodeStreamRepair(EncodeStreamRepair(5, 100, 100), &epoch, &from, &to));
  std::string msg = EncodeStreamRepair(5, 1, 2);
  EXPECT_FALSE(DecodeStreamRepair(msg + "x", &epoch, &from, &to));
  EXPECT_FALSE(DecodeStreamRepair(msg.substr(0, msg.size() - 1), &epoch, &from, &to));
  MsgType type;
  ASSERT_TRUE(PeekType(msg, &type));
  EXPECT_EQ(type, MsgType::kStreamRepair);
}

TEST(Wire, PingCarriesMembersEpochAndReadiness) {
  Position p{5, 6, 7, 0x2e3, true}, d;
  std::string ping = EncodePosition(MsgType::kPing, p);
  ASSERT_TRUE(DecodePosition(ping, &d));
  EXPECT_EQ(d.members_epoch, 0x2e3u);
  EXPECT_TRUE(d.ready);
  EXPECT_FALSE(DecodePosition(ping.substr(0, ping.size() - 1), &d));
  // An ACK has no such fields.
  EXPECT_EQ(EncodePosition(MsgType::kAck, p).size(), 25u);
}

TEST(Wire, RepairDone) {
  uint32_t id = 0;
  bool declined = false;
  ASSERT_TRUE(DecodeRepairDone(EncodeRepairDone(77, true), &id, &declined));
  EXPECT_EQ(id, 77u);
  EXPECT_TRUE(declined);
  ASSERT_TRUE(DecodeRepairDone(EncodeRepairDone(78, false), &id, &declined));
  EXPECT_FALSE(declined);
  std::string bad = EncodeRepairDone(1, false);
  bad.back() = 5;
  EXPECT_FALSE(DecodeRepairDone(bad, &id, &declined));
  EXPECT_FALSE(DecodeRepairDone(bad + "x", &id, &declined));
}

TEST(Wire, RepairRange) {
  uint32_t id = 0;
  uint64_t epoch = 0;
  bool new_only = false;
  ASSERT_TRUE(
      DecodeRepairRange(EncodeRepairRange(9, 0xabcdef0123456789ull, true), &id, &epoch, &new_only));
  EXPECT_EQ(id, 9u);
  EXPECT_EQ(epoch, 0xabcdef0123456789ull);
  EXPECT_TRUE(new_only);
  ASSERT_TRUE(DecodeRepairRange(EncodeRepairRange(10, 1, false), &id, &epoch, &new_only));
  EXPECT_FALSE(new_only);
  std::string bad = EncodeRepairRange(1, 2, false);
  EXPECT_FALSE(DecodeRepairRange(bad.substr(0, bad.size() - 1), &id, &epoch, &new_only));
  EXPECT_FALSE(DecodeRepairRange(bad + "x", &id, &epoch, &new_only));
  bad.back() = 2;  // the flag is 0 or 1
  EXPECT_FALSE(DecodeRepairRange(bad, &id, &epoch, &new_only));
  EXPECT_FALSE(DecodeRepairDone(EncodeRepairRange(1, 2, false), &id, &new_only));
  MsgType type;
  ASSERT_TRUE(PeekType(EncodeRepairRange(1, 2, false), &type));
  EXPECT_EQ(type, MsgType::kRepairRange);
}

TEST(Wire, WelcomeAndPositions) {
  Welcome w{WelcomeMode::kFullCopy, 9, 10, 3}, dw;
  ASSERT_TRUE(DecodeWelcome(EncodeWelcome(w), &dw));
  EXPECT_FALSE(dw.ack_every_batch);
  Welcome acking{WelcomeMode::kStream, 9, 10, 3, true}, da;
  ASSERT_TRUE(DecodeWelcome(EncodeWelcome(acking), &da));
  EXPECT_TRUE(da.ack_every_batch);
  EXPECT_EQ(da.mode, WelcomeMode::kStream);
  EXPECT_EQ(dw.mode, WelcomeMode::kFullCopy);
  EXPECT_EQ(dw.node_id, 3);
  EXPECT_FALSE(dw.sweep);
  Welcome sweeping{WelcomeMode::kFullCopy, 9, 10, 3, true, true}, ds;
  ASSERT_TRUE(DecodeWelcome(EncodeWelcome(sweeping), &ds));
  EXPECT_TRUE(ds.sweep);
  EXPECT_TRUE(ds.ack_every_batch);
  EXPECT_EQ(ds.mode, WelcomeMode::kFullCopy);
  Position p{5, 6, 7}, dp;
  ASSERT_TRUE(DecodePosition(EncodePosition(MsgType::kPing, p), &dp));
  EXPECT_EQ(dp.seq, 6u);
  EXPECT_FALSE(DecodePosition(EncodeHello({}), &dp));
}

std::string BatchOf(std::vector<record::ChangeView> changes) {
  std::string msg;
  BeginBatch(11, 100, 0, &msg);
  for (const auto& c : changes) record::EncodeChange(c, &msg);
  SetCount(&msg, static_cast<uint32_t>(changes.size()));
  return msg;
}

TEST(Wire, BatchRoundTrip) {
  std::vector<record::ChangeView> in = {{record::Kind::kPut, {1000, 1}, "k1", "v1", 5, 0},
                                        {record::Kind::kDelete, {1001, 2}, "k2", "", 0, 0}};
  Changes out;
  const std::string msg = BatchOf(in);  // the decoded views point into it
  ASSERT_TRUE(DecodeChanges(msg, &out));
  EXPECT_EQ(out.epoch, 11u);
  EXPECT_EQ(out.first_seq, 100u);
  ASSERT_EQ(out.changes.size(), 2u);
  EXPECT_EQ(out.changes[0], in[0]);
  EXPECT_EQ(out.changes[1], in[1]);
}

std::string SparseOf(uint32_t span, std::vector<std::pair<uint32_t, record::ChangeView>> kept) {
  std::string msg, one;
  BeginSparse(11, 100, span, &msg);
  for (const auto& [off, c] : kept) {
    one.clear();
    record::EncodeChange(c, &one);
    AddSparse(off, one, &msg);
  }
  FinishSparse(&msg, static_cast<uint32_t>(kept.size()));
  return msg;
}

TEST(Wire, SparseRoundTripNamesEachChangesSeq) {
  record::ChangeView a{record::Kind::kPut, {1000, 1}, "k1", "v1", 5, 0};
  record::ChangeView b{record::Kind::kDelete, {1001, 2}, "k2", "", 0, 0};
  const std::string msg = SparseOf(10, {{2, a}, {7, b}});
  Changes out;
  ASSERT_TRUE(DecodeChanges(msg, &out));
  EXPECT_EQ(out.epoch, 11u);
  EXPECT_EQ(out.span, 10u);
  ASSERT_EQ(out.changes.size(), 2u);
  EXPECT_EQ(out.changes[0], a);
  EXPECT_EQ(out.changes[1], b);
  EXPECT_EQ(out.SeqOf(0), 102u);
  EXPECT_EQ(out.SeqOf(1), 107u);
  // A span with nothing for this peer still moves its position.
  const std::string empty = SparseOf(4, {});
  ASSERT_TRUE(DecodeChanges(empty, &out));
  EXPECT_EQ(out.span, 4u);
  EXPECT_TRUE(out.changes.empty());
  // A batch's span is its count.
  ASSERT_TRUE(DecodeChanges(BatchOf({a, b}), &out));
  EXPECT_EQ(out.span, 2u);
  EXPECT_EQ(out.SeqOf(1), 101u);
}

TEST(Wire, SparseOffsetsMustRiseInsideTheSpan) {
  record::ChangeView a{record::Kind::kPut, {1000, 1}, "k1", "v1", 5, 0};
  Changes out;
  EXPECT_FALSE(DecodeChanges(SparseOf(3, {{3, a}}), &out));          // outside the span
  EXPECT_FALSE(DecodeChanges(SparseOf(9, {{4, a}, {4, a}}), &out));  // the same seq twice
  EXPECT_FALSE(DecodeChanges(SparseOf(9, {{5, a}, {4, a}}), &out));  // backwards
  EXPECT_FALSE(DecodeChanges(SparseOf(1, {{0, a}, {1, a}}), &out));  // more than the span
  std::string msg = SparseOf(9, {{4, a}});
  for (size_t cut = 0; cut < msg.size(); ++cut) {
    EXPECT_FALSE(DecodeChanges(std::string_view(msg).substr(0, cut), &out)) << cut;
  }
}

// Peers are untrusted: every truncation and every lie about the count is refused.
TEST(Wire, MalformedBatchesAreRefused) {
  std::string msg = BatchOf({{record::Kind::kPut, {1000, 1}, "key", "value", 0, 0}});
  Changes out;
  for (size_t cut = 0; cut < msg.size(); ++cut) {
    EXPECT_FALSE(DecodeChanges(std::string_view(msg).substr(0, cut), &out)) << cut;
  }
  std::string lie = msg;
  SetCount(&lie, 2);
  EXPECT_FALSE(DecodeChanges(lie, &out));
  SetCount(&lie, 0xffffffff);
  EXPECT_FALSE(DecodeChanges(lie, &out));
  std::string trailing = msg + "x";
  EXPECT_FALSE(DecodeChanges(trailing, &out));
  for (size_t i = 21; i < msg.size(); ++i) {
    std::string flipped = msg;
    flipped[i] ^= 0x20;
    EXPECT_FALSE(DecodeChanges(flipped, &out)) << i;
  }
}

}  // namespace
}  // namespace syncached::replication
