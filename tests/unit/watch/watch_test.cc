#include "watch/watch.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace syncached::watch {
namespace {

const Stamp kStamp{1700000000, 5123, 42};  // usec printed unpadded, as memcached does

TEST(FormatTest, ItemGetAsMemcached) {
  std::string out;
  FormatItemGet(kStamp, {GetStatus::kFound, "foo", 1, 25, 3}, &out);
  EXPECT_EQ(out,
            "ts=1700000000.5123 gid=42 type=item_get key=foo status=found clsid=1 cfd=25 size=3\n");
  out.clear();
  FormatItemGet(kStamp, {GetStatus::kExpired, "k", 0, 7, 0}, &out);
  EXPECT_EQ(out,
            "ts=1700000000.5123 gid=42 type=item_get key=k status=expired clsid=0 cfd=7 size=0\n");
}

TEST(FormatTest, ItemStoreAsMemcached) {
  std::string out;
  ItemStore e{StoreStatus::kNotStored, StoreCmd::kAdd, "foo", 0, 1, 25, 1};
  FormatItemStore(kStamp, e, &out);
  EXPECT_EQ(out,
            "ts=1700000000.5123 gid=42 type=item_store key=foo status=not_stored cmd=add ttl=0 "
            "clsid=1 cfd=25 size=1\n");
}

TEST(FormatTest, EvictionDeletionAndConnections) {
  std::string out;
  FormatEviction(kStamp, {"ev1", false, -1, 3, 40, 10000}, &out);
  EXPECT_EQ(out,
            "ts=1700000000.5123 gid=42 type=eviction key=ev1 fetch=no ttl=-1 la=3 clsid=40 "
            "size=10000\n");
  out.clear();
  FormatDeletion(kStamp, {"vfoo", DeleteCmd::kMetaDelete, 1, 4}, &out);
  EXPECT_EQ(out, "ts=1700000000.5123 gid=42 type=deleted key=vfoo cmd=md clsid=1 size=4\n");
  out.clear();
  ConnEvent c{"::1", 5555, Transport::kTcp, CloseReason::kIdleTimeout, 9};
  FormatConnNew(kStamp, c, &out);
  FormatConnClose(kStamp, c, &out);
  EXPECT_EQ(out,
            "ts=1700000000.5123 gid=42 type=conn_new rip=::1 rport=5555 transport=tcp cfd=9\n"
            "ts=1700000000.5123 gid=42 type=conn_close rip=::1 rport=5555 transport=tcp "
            "reason=idle_timeout cfd=9\n");
}

TEST(FormatTest, KeysAreUriEncodedByteForByte) {
  std::string out;
  AppendUriEncoded(std::string_view("a,b%\x01\xff~-._Z9 \0", 14), &out);
  EXPECT_EQ(out, "a%2Cb%25%01%FF~-._Z9%20%00");
}

TEST(ParseKindsTest, NamesDefaultAndUnknown) {
  uint32_t k = 0;
  ASSERT_TRUE(ParseKinds("", &k));
  EXPECT_EQ(k, kFetchers);
  ASSERT_TRUE(ParseKinds("  mutations  evictions ", &k));
  EXPECT_EQ(k, kMutations | kEvictions);
  ASSERT_TRUE(ParseKinds("deletions connevents rawcmds", &k));
  EXPECT_EQ(k, kDeletions | kConnEvents | kRawCmds);
  EXPECT_FALSE(ParseKinds("fetchers bogus", &k));
  EXPECT_FALSE(ParseKinds("noreply", &k));
}

ItemGet Get(std::string_view key) { return {GetStatus::kNotFound, key, 0, 5, 0}; }

TEST(HubTest, NothingWatchedCostsNothing) {
  Hub hub;
  EXPECT_FALSE(hub.Wants(kFetchers));
  hub.LogItemGet(Get("a"));
  EXPECT_EQ(hub.Stats().written, 0u);
}

TEST(HubTest, WatchersGetTheirKindsOnlyAndWakeOncePerDrain) {
  Hub hub;
  int wakes = 0;
  auto f = hub.Add(kFetchers, [&] { ++wakes; });
  auto m = hub.Add(kMutations, [] {});
  EXPECT_TRUE(hub.Wants(kFetchers | kMutations));
  EXPECT_FALSE(hub.Wants(kEvictions));
  hub.LogItemGet(Get("a"));
  hub.LogItemGet(Get("b"));
  EXPECT_EQ(wakes, 1);  // the buffer became non-empty once
  std::string out;
  f->Drain(&out);
  EXPECT_NE(out.find("key=a "), std::string::npos);
  EXPECT_NE(out.find("key=b "), std::string::npos);
  std::string none;
  m->Drain(&none);
  EXPECT_EQ(none, "");
  hub.LogItemGet(Get("c"));
  EXPECT_EQ(wakes, 2);
  f.reset();
  EXPECT_FALSE(hub.Wants(kFetchers));
  EXPECT_EQ(hub.Stats().watchers, 1u);
}

TEST(HubTest, FullBufferDropsAndReportsSkipped) {
  Hub hub(4096);
  auto w = hub.Add(kFetchers, [] {});
  std::string key(100, 'k');
  int logged = 0;
  for (; logged < 100; ++logged) hub.LogItemGet(Get(key));
  std::string out;
  w->Drain(&out);
  size_t kept = 0;
  for (size_t p = out.find('\n'); p != std::string::npos; p = out.find('\n', p + 1)) ++kept;
  EXPECT_LT(kept, 100u);
  EXPECT_LE(out.size() + 128, 4096u);
  EXPECT_EQ(out.find("skipped="), std::string::npos);  // only in front of a kept line
  HubStats st = hub.Stats();
  EXPECT_EQ(st.sent + st.skipped, 100u);
  hub.LogItemGet(Get("next"));
  out.clear();
  w->Drain(&out);
  EXPECT_EQ(out.substr(0, out.find('\n')), "skipped=" + std::to_string(st.skipped));
  EXPECT_NE(out.find("key=next "), std::string::npos);
}

TEST(HubTest, WatcherSeesOnlyLaterEventsInGidOrder) {
  Hub hub;
  auto early = hub.Add(kFetchers, [] {});
  hub.LogItemGet(Get("before"));
  auto late = hub.Add(kFetchers, [] {});
  hub.LogItemGet(Get("after"));
  std::string a, b;
  early->Drain(&a);
  late->Drain(&b);
  EXPECT_LT(a.find("key=before"), a.find("key=after"));
  EXPECT_EQ(b.find("key=before"), std::string::npos);
  EXPECT_NE(b.find("key=after"), std::string::npos);
}

TEST(HubTest, LimitOfTwentyWatchers) {
  Hub hub;
  std::vector<std::unique_ptr<Watcher>> ws;
  for (int i = 0; i < Hub::kMaxWatchers; ++i) ws.push_back(hub.Add(kFetchers, [] {}));
  EXPECT_EQ(hub.Add(kFetchers, [] {}), nullptr);
  ws.pop_back();
  EXPECT_NE(hub.Add(kFetchers, [] {}), nullptr);
}

// Producers on several threads, watchers coming and going: no lost accounting, no race
// (run under TSan/ASan in CI).
TEST(HubTest, ConcurrentProducersAndWatchers) {
  Hub hub(1 << 16);
  std::atomic<int> running{3};
  auto keep = hub.Add(kFetchers, [] {});
  std::vector<std::thread> producers;
  for (int t = 0; t < 3; ++t) {
    producers.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) hub.LogItemGet(Get("p"));
      --running;
    });
  }
  std::string sink;
  while (running.load() > 0) {
    auto w = hub.Add(kFetchers, [] {});
    sink.clear();
    w->Drain(&sink);
    keep->Drain(&sink);
  }
  for (auto& p : producers) p.join();
  HubStats st = hub.Stats();
  EXPECT_EQ(st.written, 15000u);  // `keep` watched throughout
  EXPECT_EQ(st.watchers, 1u);
}

}  // namespace
}  // namespace syncached::watch
