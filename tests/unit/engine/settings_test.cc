// Settings are copied from the parsed command line into the Engine: the copy must carry
// every field, the run-time atomics included (it was once written out by hand, and a
// field missing from that list was silently lost).
#include "engine/settings.h"

#include <gtest/gtest.h>

#include <type_traits>

namespace syncached::engine {
namespace {

static_assert(std::is_copy_constructible_v<Settings> && std::is_copy_assignable_v<Settings>);

TEST(Settings, CopyCarriesPlainAndRuntimeFields) {
  Settings s;
  s.maxconns = 7;
  s.ssl_min_version = 0x0304;
  s.binding_protocol = "binary";
  s.runtime.verbosity = 2;
  s.runtime.lru_crawler = false;
  s.runtime.lru_crawler_sleep = 5;
  s.runtime.lru_crawler_tocrawl = 9;
  Settings copy(s);
  EXPECT_EQ(copy.maxconns, 7u);
  EXPECT_EQ(copy.ssl_min_version, 0x0304);
  EXPECT_EQ(copy.binding_protocol, "binary");
  EXPECT_EQ(copy.runtime.verbosity.load(), 2u);
  EXPECT_FALSE(copy.runtime.lru_crawler.load());
  EXPECT_EQ(copy.runtime.lru_crawler_sleep.load(), 5u);
  EXPECT_EQ(copy.runtime.lru_crawler_tocrawl.load(), 9u);
  Settings assigned;
  assigned = s;
  EXPECT_EQ(assigned.runtime.verbosity.load(), 2u);
  EXPECT_EQ(assigned.maxconns, 7u);
  // The copy is a snapshot: later changes to one do not reach the other.
  s.runtime.verbosity = 0;
  EXPECT_EQ(copy.runtime.verbosity.load(), 2u);
}

TEST(Settings, DefaultsAreMemcacheds) {
  Settings s;
  EXPECT_EQ(s.runtime.verbosity.load(), 0u);
  EXPECT_TRUE(s.runtime.lru_crawler.load());
  EXPECT_EQ(s.runtime.lru_crawler_sleep.load(), 100u);
  EXPECT_EQ(s.runtime.lru_crawler_tocrawl.load(), 0u);
}

}  // namespace
}  // namespace syncached::engine
