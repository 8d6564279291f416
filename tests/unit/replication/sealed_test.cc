// Sealed multicast frames: only the key of the sender's run opens them, and any
// change to the header or the ciphertext is refused.
#include "replication/sealed.h"

#include <gtest/gtest.h>

namespace syncached::replication {
namespace {

FrameHeader Header() {
  FrameHeader h;
  h.kind = FrameKind::kBatch;
  h.cluster = ClusterTag("syncached");
  h.node = 3;
  h.run = 77;
  h.first_seq = 1000;
  h.count = 5;
  return h;
}

TEST(SealedFrame, OpensWithTheRunsKeyOnly) {
  FrameKey key("s3cret", "syncached", 3, 77);
  std::string frame = SealFrame(key, Header(), "batch bytes");
  EXPECT_EQ(frame.size(), kFrameOverhead + 11);
  FrameHeader h;
  ASSERT_TRUE(PeekFrame(frame, &h));
  EXPECT_EQ(h.node, 3);
  EXPECT_EQ(h.run, 77u);
  EXPECT_EQ(h.first_seq, 1000u);
  EXPECT_EQ(h.count, 5u);
  EXPECT_EQ(h.cluster, ClusterTag("syncached"));
  std::string payload;
  ASSERT_TRUE(OpenFrame(key, frame, &payload));
  EXPECT_EQ(payload, "batch bytes");
  // Another secret, node, run or cluster: another key.
  for (const FrameKey* other :
       {new FrameKey("s3cret!", "syncached", 3, 77), new FrameKey("s3cret", "syncached", 4, 77),
        new FrameKey("s3cret", "syncached", 3, 78), new FrameKey("s3cret", "other", 3, 77)}) {
    EXPECT_FALSE(OpenFrame(*other, frame, &payload));
    delete other;
  }
  // The same payload sealed twice differs (random nonces).
  EXPECT_NE(SealFrame(key, Header(), "batch bytes"), frame);
}

TEST(SealedFrame, AnyFlippedBitIsRefused) {
  FrameKey key("s3cret", "syncached", 3, 77);
  std::string frame = SealFrame(key, Header(), "payload");
  std::string payload;
  for (size_t i = 0; i < frame.size(); ++i) {
    std::string bad = frame;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    FrameHeader h;
    bool opened = PeekFrame(bad, &h) && OpenFrame(key, bad, &payload);
    EXPECT_FALSE(opened) << "byte " << i;  // a moved seq is refused like a forged one
  }
  EXPECT_FALSE(OpenFrame(key, frame.substr(0, frame.size() - 1), &payload));
  EXPECT_FALSE(OpenFrame(key, frame.substr(0, kFrameOverhead - 1), &payload));
}

TEST(SealedFrame, HeartbeatsCarryNoCount) {
  FrameKey key("k", "c", 1, 1);
  FrameHeader h = Header();
  h.kind = FrameKind::kHeartbeat;
  h.count = 0;
  std::string frame = SealFrame(key, h, "");
  FrameHeader got;
  ASSERT_TRUE(PeekFrame(frame, &got));
  EXPECT_EQ(got.kind, FrameKind::kHeartbeat);
  h.count = 1;
  EXPECT_FALSE(PeekFrame(SealFrame(key, h, ""), &got));
  EXPECT_FALSE(
      PeekFrame("not a frame at all, but long enough to be one if it were......"
                "...................",
                &got));
}

}  // namespace
}  // namespace syncached::replication
