#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "record/record.h"

namespace syncached::record {
namespace {

TEST(ChangeTest, OwningCopySurvivesItsSource) {
  Change owned;
  {
    std::string key = "session:42", value = std::string("a\0b", 3);
    const ChangeView v{Kind::kPut, Version{77, 3}, key, value, 0xdeadbeef, 1'700'000'100};
    owned = Change(v);
    EXPECT_EQ(owned.view(), v);
  }
  EXPECT_EQ(owned.key, "session:42");
  EXPECT_EQ(owned.value, std::string("a\0b", 3));
  const ChangeView back = owned;  // implicit, like string -> string_view
  EXPECT_EQ(back.key.data(), owned.key.data());
  EXPECT_EQ(Change(back), owned);
}

TEST(ChangeTest, ValidityFollowsKindRules) {
  const std::string max_key(kMaxKeySize, 'k');
  const std::string long_key(kMaxKeySize + 1, 'k');
  EXPECT_TRUE(IsValid({Kind::kPut, {}, "k", "", 0, 0}));
  EXPECT_TRUE(IsValid({Kind::kPut, {}, max_key, "v", 0, 0}));
  EXPECT_FALSE(IsValid({Kind::kPut, {}, "", "v", 0, 0}));
  EXPECT_FALSE(IsValid({Kind::kPut, {}, long_key, "v", 0, 0}));
  EXPECT_TRUE(IsValid({Kind::kDelete, {}, "k", "", 0, 0}));
  EXPECT_FALSE(IsValid({Kind::kDelete, {}, "k", "v", 0, 0}));
  EXPECT_FALSE(IsValid({Kind::kDelete, {}, "", "", 0, 0}));
  EXPECT_TRUE(IsValid({Kind::kFlush, {}, "", "", 0, 1'700'000'000}));
  EXPECT_FALSE(IsValid({Kind::kFlush, {}, "k", "", 0, 0}));
  EXPECT_FALSE(IsValid({Kind::kFlush, {}, "", "v", 0, 0}));
  EXPECT_FALSE(IsValid({static_cast<Kind>(9), {}, "k", "", 0, 0}));
}

TEST(ChangeTest, DebugStringNamesKindKeyAndVersion) {
  EXPECT_EQ(DebugString({Kind::kPut, {MakeHlc(5, 1), 2}, "k", "vvv", 3, 4}),
            "put k=k v=<3 bytes> f=3 e=4 @5.1@2");
  EXPECT_EQ(DebugString({Kind::kDelete, {MakeHlc(5, 1), 2}, "k", "", 0, 0}),
            "delete k=k e=0 @5.1@2");
  EXPECT_EQ(DebugString({Kind::kFlush, {MakeHlc(5, 1), 2}, "", "", 0, 9}), "flush e=9 @5.1@2");
  EXPECT_STREQ(KindName(static_cast<Kind>(0)), "unknown");
}

// The Sink contract is an interface only; this pins that a subscriber can be written
// and called through it.
TEST(ChangeTest, SinkReceivesBorrowedChange) {
  struct Collect : Sink {
    void OnChange(const ChangeView& c) override { got.emplace_back(c); }
    std::vector<Change> got;
  } sink;
  Sink* s = &sink;
  s->OnChange({Kind::kDelete, {1, 1}, "gone", "", 0, 0});
  ASSERT_EQ(sink.got.size(), 1u);
  EXPECT_EQ(sink.got[0].key, "gone");
}

}  // namespace
}  // namespace syncached::record
