#include "protocol/reply.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace syncached::protocol {
namespace {

// Every text/meta error reply as memcached 1.6.18 sends it (the integration tests hold
// the recordings). A changed byte here is a changed byte on the wire.
struct Expected {
  TextError error;
  std::string line;
};
const std::vector<Expected>& AllReplies() {
  static const std::vector<Expected> all = {
      {TextError::kError, "ERROR"},
      {TextError::kBadFormat, "CLIENT_ERROR bad command line format"},
      {TextError::kBadDeleteFormat,
       "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"},
      {TextError::kBadExptime, "CLIENT_ERROR invalid exptime argument"},
      {TextError::kBadDelta, "CLIENT_ERROR invalid numeric delta argument"},
      {TextError::kBadDataChunk, "CLIENT_ERROR bad data chunk"},
      {TextError::kTooLarge, "SERVER_ERROR object too large for cache"},
      {TextError::kNoMemoryStoring, "SERVER_ERROR out of memory storing object"},
      {TextError::kNoMemory, "SERVER_ERROR out of memory"},
      {TextError::kNonNumeric, "CLIENT_ERROR cannot increment or decrement non-numeric value"},
      {TextError::kTooManyConnections, "ERROR Too many open connections"},
      {TextError::kMetaBadToken, "CLIENT_ERROR bad token in command line format"},
      {TextError::kMetaDuplicateFlag, "CLIENT_ERROR duplicate flag"},
      {TextError::kMetaInvalidFlag, "CLIENT_ERROR invalid flag"},
      {TextError::kMetaInvalidOrDuplicateFlag, "CLIENT_ERROR invalid or duplicate flag"},
      {TextError::kMetaBadKeyEncoding, "CLIENT_ERROR error decoding key"},
      {TextError::kMetaBadModeLength, "CLIENT_ERROR incorrect length for M token"},
      {TextError::kMetaBadInitial, "CLIENT_ERROR invalid numeric initial value"},
      {TextError::kMetaBadDelta, "CLIENT_ERROR invalid numeric delta value"},
      {TextError::kMetaFlagsTooLong, "CLIENT_ERROR options flags too long"},
      {TextError::kMetaGetFlagsTooLong, "CLIENT_ERROR options flags are too long"},
      {TextError::kMetaOpaqueTooLong, "CLIENT_ERROR opaque token too long"},
      {TextError::kMetaBadSetMode, "CLIENT_ERROR invalid mode for ms M token"},
      {TextError::kMetaBadArithMode, "CLIENT_ERROR invalid mode for ma M token"},
      {TextError::kFlushDisabled, "CLIENT_ERROR flush_all not allowed"},
      {TextError::kShutdownDisabled, "ERROR: shutdown not enabled"},
      {TextError::kBadShutdownMode, "CLIENT_ERROR invalid shutdown mode"},
      {TextError::kMemlimitTooSmall, "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m"},
      {TextError::kSlabsNoSpare, "NOSPARE source class has no spare pages"},
      {TextError::kWatchDisabled, "CLIENT_ERROR watch commands not allowed"},
      {TextError::kWatchPipelined, "ERROR cannot pipeline other commands before watch"},
      {TextError::kWatcherFailed, "WATCHER_FAILED failed to add log watcher"},
      {TextError::kWatcherTooMany, "WATCHER_TOO_MANY log watcher limit reached"},
      {TextError::kTlsDisabled, "Error TLS not enabled"},
      {TextError::kCachedumpDisabled, "CLIENT_ERROR stats cachedump not allowed"},
      {TextError::kCachedumpBadArgs, "CLIENT_ERROR bad command line"},
      {TextError::kIllegalSlabId, "CLIENT_ERROR Illegal slab id"},
      {TextError::kStatsDetailUsage, "CLIENT_ERROR usage: stats detail on|off|dump"},
      {TextError::kCrawlerDisabled, "CLIENT_ERROR lru crawler disabled"},
      {TextError::kBadClass, "BADCLASS invalid class id"},
      {TextError::kMetadumpDisabled, "ERROR metadump not allowed"},
      {TextError::kMetadumpPipelined, "ERROR cannot pipeline other commands before metadump"},
      {TextError::kCrawlerSleepTooLong, "CLIENT_ERROR sleep must be one second or less"},
      {TextError::kUnauthenticated, "CLIENT_ERROR unauthenticated"},
      {TextError::kAuthBadTermination, "CLIENT_ERROR bad command line termination"},
      {TextError::kAuthBadTokenFormat, "CLIENT_ERROR bad authentication token format"},
      {TextError::kAuthFailure, "CLIENT_ERROR authentication failure"},
      {TextError::kSyncing, "SERVER_ERROR syncing"},
      {TextError::kForwardingFailed, "SERVER_ERROR forwarding failed"},
      {TextError::kNoMemoryWritingGet, "SERVER_ERROR out of memory writing get response"},
  };
  return all;
}

TEST(Reply, EveryTextErrorIsMemcachedsLine) {
  for (const Expected& e : AllReplies()) {
    EXPECT_EQ(TextErrorLine(e.error), e.line) << static_cast<int>(e.error);
    std::string out = "x";
    AppendTextError(&out, e.error);
    EXPECT_EQ(out, "x" + e.line + "\r\n");
  }
}

// The list above is the whole table: every kind but kNone has a line, and no other.
TEST(Reply, TheListCoversEveryKind) {
  EXPECT_EQ(TextErrorLine(TextError::kNone), "");
  std::set<int> listed;
  for (const Expected& e : AllReplies()) listed.insert(static_cast<int>(e.error));
  EXPECT_EQ(listed.size(), AllReplies().size()) << "a kind listed twice";
  for (int v = 1; v < 256; ++v) {
    bool has_line = !TextErrorLine(static_cast<TextError>(v)).empty();
    EXPECT_EQ(has_line, listed.count(v) == 1) << v;
  }
}

TEST(Reply, LinesHoldNoLineBreak) {
  for (const Expected& e : AllReplies()) {
    EXPECT_EQ(TextErrorLine(e.error).find_first_of("\r\n"), std::string_view::npos) << e.line;
  }
}

}  // namespace
}  // namespace syncached::protocol
