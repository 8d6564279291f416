// The text and meta protocols' error replies: one enum of what went wrong and one table
// of the line memcached 1.6.18 answers it with, byte for byte. Parsers put a TextError in
// Request::error; engine writes every error reply through AppendTextError, so no reply
// string is spelled anywhere else. The binary protocol's table is StatusMessage
// (protocol/binary.h).
//
// Threads: all functions are pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace syncached::protocol {

enum class TextError : uint8_t {
  kNone,  // no error: a request that parsed (its line is empty)
  // Any command.
  kError,               // unknown command, wrong token count
  kBadFormat,           // a bad number or over-long key
  kBadDeleteFormat,     // delete with a hold time other than 0
  kBadExptime,          // touch, gat, flush_all
  kBadDelta,            // incr, decr
  kBadDataChunk,        // the value block does not end in "\r\n"
  kTooLarge,            // over -I
  kNoMemoryStoring,     // a store found no memory
  kNoMemory,            // incr/decr found no memory
  kNonNumeric,          // incr/decr of a value that is not a number
  kTooManyConnections,  // over -c: the one line before the close
  // Meta commands' own (doc/protocol.txt "Meta Commands").
  kMetaBadToken,
  kMetaDuplicateFlag,
  kMetaInvalidFlag,
  kMetaInvalidOrDuplicateFlag,  // md, ma: their one message for both
  kMetaBadKeyEncoding,
  kMetaBadModeLength,
  kMetaBadInitial,
  kMetaBadDelta,
  kMetaFlagsTooLong,
  kMetaGetFlagsTooLong,  // mg says it differently
  kMetaOpaqueTooLong,
  kMetaBadSetMode,
  kMetaBadArithMode,
  // Other commands' own.
  kFlushDisabled,  // -F
  kShutdownDisabled,
  kBadShutdownMode,
  kMemlimitTooSmall,
  kSlabsNoSpare,  // slabs reassign: we never have a spare page
  kWatchDisabled,
  kWatchPipelined,
  kWatcherFailed,
  kWatcherTooMany,
  kTlsDisabled,  // refresh_certs without TLS
  kCachedumpDisabled,
  kCachedumpBadArgs,
  kIllegalSlabId,
  kStatsDetailUsage,
  kCrawlerDisabled,
  kBadClass,
  kMetadumpDisabled,
  kMetadumpPipelined,
  kCrawlerSleepTooLong,
  // -Y ascii authentication (before anything else).
  kUnauthenticated,
  kAuthBadTermination,
  kAuthBadTokenFormat,
  kAuthFailure,
  // syncached's own.
  kSyncing,             // the join gate, --join-mode error
  kForwardingFailed,    // no owner of the key answered
  kNoMemoryWritingGet,  // a forwarded get's reply too large to gather (memcached's text)
};

// The reply line, without the "\r\n" that follows it on the wire.
constexpr std::string_view TextErrorLine(TextError e) {
  switch (e) {
    case TextError::kNone:
      return "";
    case TextError::kError:
      return "ERROR";
    case TextError::kBadFormat:
      return "CLIENT_ERROR bad command line format";
    case TextError::kBadDeleteFormat:
      return "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]";
    case TextError::kBadExptime:
      return "CLIENT_ERROR invalid exptime argument";
    case TextError::kBadDelta:
      return "CLIENT_ERROR invalid numeric delta argument";
    case TextError::kBadDataChunk:
      return "CLIENT_ERROR bad data chunk";
    case TextError::kTooLarge:
      return "SERVER_ERROR object too large for cache";
    case TextError::kNoMemoryStoring:
      return "SERVER_ERROR out of memory storing object";
    case TextError::kNoMemory:
      return "SERVER_ERROR out of memory";
    case TextError::kNonNumeric:
      return "CLIENT_ERROR cannot increment or decrement non-numeric value";
    case TextError::kTooManyConnections:
      return "ERROR Too many open connections";
    case TextError::kMetaBadToken:
      return "CLIENT_ERROR bad token in command line format";
    case TextError::kMetaDuplicateFlag:
      return "CLIENT_ERROR duplicate flag";
    case TextError::kMetaInvalidFlag:
      return "CLIENT_ERROR invalid flag";
    case TextError::kMetaInvalidOrDuplicateFlag:
      return "CLIENT_ERROR invalid or duplicate flag";
    case TextError::kMetaBadKeyEncoding:
      return "CLIENT_ERROR error decoding key";
    case TextError::kMetaBadModeLength:
      return "CLIENT_ERROR incorrect length for M token";
    case TextError::kMetaBadInitial:
      return "CLIENT_ERROR invalid numeric initial value";
    case TextError::kMetaBadDelta:
      return "CLIENT_ERROR invalid numeric delta value";
    case TextError::kMetaFlagsTooLong:
      return "CLIENT_ERROR options flags too long";
    case TextError::kMetaGetFlagsTooLong:
      return "CLIENT_ERROR options flags are too long";
    case TextError::kMetaOpaqueTooLong:
      return "CLIENT_ERROR opaque token too long";
    case TextError::kMetaBadSetMode:
      return "CLIENT_ERROR invalid mode for ms M token";
    case TextError::kMetaBadArithMode:
      return "CLIENT_ERROR invalid mode for ma M token";
    case TextError::kFlushDisabled:
      return "CLIENT_ERROR flush_all not allowed";
    case TextError::kShutdownDisabled:
      return "ERROR: shutdown not enabled";
    case TextError::kBadShutdownMode:
      return "CLIENT_ERROR invalid shutdown mode";
    case TextError::kMemlimitTooSmall:
      return "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m";
    case TextError::kSlabsNoSpare:
      return "NOSPARE source class has no spare pages";
    case TextError::kWatchDisabled:
      return "CLIENT_ERROR watch commands not allowed";
    case TextError::kWatchPipelined:
      return "ERROR cannot pipeline other commands before watch";
    case TextError::kWatcherFailed:
      return "WATCHER_FAILED failed to add log watcher";
    case TextError::kWatcherTooMany:
      return "WATCHER_TOO_MANY log watcher limit reached";
    case TextError::kTlsDisabled:
      return "Error TLS not enabled";
    case TextError::kCachedumpDisabled:
      return "CLIENT_ERROR stats cachedump not allowed";
    case TextError::kCachedumpBadArgs:
      return "CLIENT_ERROR bad command line";
    case TextError::kIllegalSlabId:
      return "CLIENT_ERROR Illegal slab id";
    case TextError::kStatsDetailUsage:
      return "CLIENT_ERROR usage: stats detail on|off|dump";
    case TextError::kCrawlerDisabled:
      return "CLIENT_ERROR lru crawler disabled";
    case TextError::kBadClass:
      return "BADCLASS invalid class id";
    case TextError::kMetadumpDisabled:
      return "ERROR metadump not allowed";
    case TextError::kMetadumpPipelined:
      return "ERROR cannot pipeline other commands before metadump";
    case TextError::kCrawlerSleepTooLong:
      return "CLIENT_ERROR sleep must be one second or less";
    case TextError::kUnauthenticated:
      return "CLIENT_ERROR unauthenticated";
    case TextError::kAuthBadTermination:
      return "CLIENT_ERROR bad command line termination";
    case TextError::kAuthBadTokenFormat:
      return "CLIENT_ERROR bad authentication token format";
    case TextError::kAuthFailure:
      return "CLIENT_ERROR authentication failure";
    case TextError::kSyncing:
      return "SERVER_ERROR syncing";
    case TextError::kForwardingFailed:
      return "SERVER_ERROR forwarding failed";
    case TextError::kNoMemoryWritingGet:
      return "SERVER_ERROR out of memory writing get response";
  }
  return "";
}

// Appends the reply: its line and "\r\n".
inline void AppendTextError(std::string* out, TextError e) {
  std::string_view line = TextErrorLine(e);
  size_t old = out->size();
  out->resize(old + line.size() + 2);
  char* w = out->data() + old;
  line.copy(w, line.size());
  w[line.size()] = '\r';
  w[line.size() + 1] = '\n';
}

}  // namespace syncached::protocol
