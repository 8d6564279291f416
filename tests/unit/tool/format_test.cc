// memcached-tool's listings and display table, from recorded reply lines; the
// integration test compares the real thing with the Perl script.
#include <gtest/gtest.h>

#include "json.h"
#include "memtool_format.h"
#include "progress.h"

namespace syncached::tool {
namespace {

TEST(Listing, StatsSortedWithPerlWidthsAndTheCarriageReturn) {
  StatMap m = PerlStatMap({"STAT pid 42\r\n", "STAT version 1.6.18\r\n", "STAT curr_items 3\r\n"});
  EXPECT_EQ(FormatStatsListing("127.0.0.1:11211", m),
            "#127.0.0.1:11211        Field         Value\n"
            "                   curr_items             3\r\n"
            "                          pid            42\r\n"
            "                      version        1.6.18\r\n");
}

TEST(Listing, SettingsAndSizes) {
  StatMap m = PerlStatMap({"STAT maxbytes 67108864\r\n"});
  EXPECT_EQ(FormatNarrowListing("h:1", "Field", "Value", m),
            "#h:1               Field       Value\n"
            "                maxbytes    67108864\r\n");
  EXPECT_EQ(
      FormatNarrowListing("h:1", "Size", "Count", PerlStatMap({"STAT sizes_status disabled\r\n"})),
      "#h:1                Size       Count\n"
      "            sizes_status    disabled\r\n");
}

TEST(Display, RowsAsTheScript) {
  std::vector<std::string> items = {"STAT items:1:number 2\r\n", "STAT items:1:age 7\r\n",
                                    "STAT items:1:evicted 4\r\n", "STAT items:17:number 1\r\n"};
  std::vector<std::string> slabs = {
      "STAT 1:chunk_size 96\r\n",    "STAT 1:total_pages 2\r\n",  "STAT 1:total_chunks 2\r\n",
      "STAT 1:used_chunks 2\r\n",    "STAT 5:chunk_size 240\r\n", "STAT 5:total_pages 0\r\n",
      "STAT 17:chunk_size 3632\r\n", "STAT 17:total_pages 1\r\n", "STAT 17:total_chunks 4\r\n",
      "STAT 17:used_chunks 1\r\n",   "STAT active_slabs 2\r\n",   "STAT total_malloced 3\r\n"};
  std::vector<SlabRow> rows = SlabRows(items, slabs);
  ASSERT_EQ(rows.size(), 2u);  // class 5 has no pages
  EXPECT_EQ(FormatDisplay(rows),
            "  #  Item_Size  Max_age   Pages   Count   Full?  Evicted Evict_Time OOM\n"
            "  1      96B         7s       2       2     yes        4        0    0\n"
            " 17     3.5K         0s       1       1      no        0        0    0\n");
}

TEST(Display, NothingStoredIsJustTheHeader) {
  EXPECT_EQ(FormatDisplay(SlabRows({}, {"STAT active_slabs 0\r\n"})),
            "  #  Item_Size  Max_age   Pages   Count   Full?  Evicted Evict_Time OOM\n");
}

TEST(Display, ItemSizeCell) {
  EXPECT_EQ(ItemSizeCell(1023), "1023B");
  EXPECT_EQ(ItemSizeCell(1024), "1.0K");
  EXPECT_EQ(ItemSizeCell(1048576), "1024.0K");
}

TEST(Json, NumbersAndStrings) {
  EXPECT_EQ(JsonScalar("12"), "12");
  EXPECT_EQ(JsonScalar("-3"), "-3");
  EXPECT_EQ(JsonScalar("0.064933"), "0.064933");
  EXPECT_EQ(JsonScalar("1.6.18"), "\"1.6.18\"");
  EXPECT_EQ(JsonScalar("007"), "\"007\"");  // not a JSON number
  EXPECT_EQ(JsonScalar(""), "\"\"");
  EXPECT_EQ(JsonString("a\"b\\c\x01"), "\"a\\\"b\\\\c\\u0001\"");
  EXPECT_EQ(JsonObject({{"a", "1"}, {"b", "x"}}), "{\"a\": 1, \"b\": \"x\"}");
}

TEST(Progress, Bar) {
  EXPECT_EQ(Progress::Bar(5, 10, 10), "[#####-----]  50%");
  EXPECT_EQ(Progress::Bar(10, 10, 4), "[####] 100%");
  EXPECT_EQ(Progress::Bar(0, 0, 4), "");
}

}  // namespace
}  // namespace syncached::tool
