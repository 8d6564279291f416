#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/binary.h"
#include "protocol/protocol.h"

namespace syncached::protocol {
namespace {

namespace bin = binary;
constexpr size_t kItemMax = 1 << 20;

std::string Frame(uint8_t op, std::string_view key = {}, std::string_view extras = {},
                  std::string_view value = {}, uint64_t cas = 0, uint32_t opaque = 0) {
  std::string out;
  bin::AppendRequest(&out, op, key, extras, value, cas, opaque);
  return out;
}

std::string BE32(uint32_t v) {
  std::string s;
  bin::AppendBE32(&s, v);
  return s;
}
std::string BE64(uint64_t v) {
  std::string s;
  bin::AppendBE64(&s, v);
  return s;
}
std::string SetExtras(uint32_t flags, uint32_t exptime) { return BE32(flags) + BE32(exptime); }
std::string IncrExtras(uint64_t delta, uint64_t initial, uint32_t exptime) {
  return BE64(delta) + BE64(initial) + BE32(exptime);
}

// A header whose length fields are given as is (they need not add up).
std::string RawHeader(uint8_t op, uint16_t keylen, uint8_t extlen, uint32_t bodylen,
                      uint8_t magic = 0x80) {
  std::string h;
  h.push_back(static_cast<char>(magic));
  h.push_back(static_cast<char>(op));
  bin::AppendBE16(&h, keylen);
  h.push_back(static_cast<char>(extlen));
  h.append(3, '\0');
  bin::AppendBE32(&h, bodylen);
  h.append(12, '\0');
  return h;
}

struct Parsed {
  ParseResult r;
  Request req;
};

Parsed Parse(std::string_view in, size_t item_max = kItemMax) {
  Parsed p;
  p.r = ParseBinary(in, item_max, &p.req);
  return p;
}

// Every well-formed request of the protocol (and the command it becomes).
std::vector<std::pair<std::string, Command>> AllRequests() {
  std::string set_x = SetExtras(5, 100), touch_x = BE32(10);
  return {
      {Frame(bin::kGet, "k"), Command::kGet},
      {Frame(bin::kGetQ, "k"), Command::kGet},
      {Frame(bin::kGetK, "k"), Command::kGet},
      {Frame(bin::kGetKQ, "k"), Command::kGet},
      {Frame(bin::kSet, "k", set_x, "value"), Command::kSet},
      {Frame(bin::kSetQ, "k", set_x, ""), Command::kSet},
      {Frame(bin::kAdd, "k", set_x, "v"), Command::kAdd},
      {Frame(bin::kAddQ, "k", set_x, "v"), Command::kAdd},
      {Frame(bin::kReplace, "k", set_x, "v"), Command::kReplace},
      {Frame(bin::kReplaceQ, "k", set_x, "v"), Command::kReplace},
      {Frame(bin::kDelete, "k"), Command::kDelete},
      {Frame(bin::kDeleteQ, "k"), Command::kDelete},
      {Frame(bin::kIncrement, "k", IncrExtras(1, 2, 3)), Command::kIncr},
      {Frame(bin::kIncrementQ, "k", IncrExtras(1, 2, 3)), Command::kIncr},
      {Frame(bin::kDecrement, "k", IncrExtras(1, 2, 3)), Command::kDecr},
      {Frame(bin::kDecrementQ, "k", IncrExtras(1, 2, 3)), Command::kDecr},
      {Frame(bin::kQuit), Command::kQuit},
      {Frame(bin::kQuitQ), Command::kQuit},
      {Frame(bin::kFlush), Command::kFlushAll},
      {Frame(bin::kFlush, "", BE32(7)), Command::kFlushAll},
      {Frame(bin::kFlushQ), Command::kFlushAll},
      {Frame(bin::kNoop), Command::kNoop},
      {Frame(bin::kVersion), Command::kVersion},
      {Frame(bin::kAppend, "k", "", "tail"), Command::kAppend},
      {Frame(bin::kAppendQ, "k", "", "tail"), Command::kAppend},
      {Frame(bin::kPrepend, "k", "", "head"), Command::kPrepend},
      {Frame(bin::kPrependQ, "k", "", "head"), Command::kPrepend},
      {Frame(bin::kStat), Command::kStats},
      {Frame(bin::kStat, "settings"), Command::kStats},
      {Frame(bin::kVerbosity, "", BE32(1)), Command::kVerbosity},
      {Frame(bin::kTouch, "k", touch_x), Command::kTouch},
      {Frame(bin::kGat, "k", touch_x), Command::kGat},
      {Frame(bin::kGatQ, "k", touch_x), Command::kGat},
      {Frame(bin::kGatK, "k", touch_x), Command::kGat},
      {Frame(bin::kGatKQ, "k", touch_x), Command::kGat},
      {Frame(bin::kSaslListMechs), Command::kSaslListMechs},
      {Frame(bin::kSaslAuth, "PLAIN", "", std::string("\0u\0p", 4)), Command::kSaslAuth},
      {Frame(bin::kSaslStep, "PLAIN", "", "x"), Command::kSaslStep},
  };
}

TEST(BinaryParser, SetFields) {
  std::string in =
      Frame(bin::kSetQ, "foo", SetExtras(0xdeadbeef, 0xffffffff), "bar", 42, 0x01020304);
  Parsed p = Parse(in);
  ASSERT_EQ(p.r.status, ParseResult::kOk);
  EXPECT_EQ(p.r.consumed, in.size());
  EXPECT_EQ(p.req.cmd, Command::kSet);
  EXPECT_EQ(p.req.opcode, bin::kSetQ);
  EXPECT_TRUE(p.req.quiet);
  EXPECT_EQ(p.req.key, "foo");
  EXPECT_EQ(p.req.data, "bar");
  EXPECT_EQ(p.req.flags, 0xdeadbeefu);
  EXPECT_EQ(static_cast<uint32_t>(p.req.exptime), 0xffffffffu);  // carried bit for bit
  EXPECT_EQ(p.req.cas, 42u);
  // The opaque is kept as raw bytes, so writing it back reproduces them.
  std::string echoed;
  bin::AppendResponseHeader(&echoed, 0, 0, 0, 0, 0, p.req.opaque, 0);
  EXPECT_EQ(echoed.substr(12, 4), in.substr(12, 4));
}

TEST(BinaryParser, IncrAndGetFamilyFields) {
  Parsed p = Parse(Frame(bin::kDecrementQ, "n", IncrExtras(7, 1ull << 40, 0xffffffff)));
  ASSERT_EQ(p.r.status, ParseResult::kOk);
  EXPECT_EQ(p.req.cmd, Command::kDecr);
  EXPECT_TRUE(p.req.quiet);
  EXPECT_EQ(p.req.delta, 7u);
  EXPECT_EQ(p.req.initial, 1ull << 40);
  EXPECT_EQ(static_cast<uint32_t>(p.req.exptime), 0xffffffffu);

  p = Parse(Frame(bin::kGetKQ, "key"));
  EXPECT_TRUE(p.req.quiet);
  EXPECT_TRUE(p.req.return_key);
  p = Parse(Frame(bin::kGatK, "key", BE32(99)));
  EXPECT_EQ(p.req.cmd, Command::kGat);
  EXPECT_FALSE(p.req.quiet);
  EXPECT_TRUE(p.req.return_key);
  EXPECT_EQ(p.req.exptime, 99);
  std::string stat = Frame(bin::kStat, "items");  // the key points into it
  p = Parse(stat);
  EXPECT_EQ(p.req.key, "items");
  p = Parse(Frame(bin::kFlushQ, "", BE32(30)));
  EXPECT_EQ(p.req.exptime, 30);
  p = Parse(Frame(bin::kVerbosity, "", BE32(2)));
  EXPECT_EQ(p.req.number, 2u);
}

TEST(BinaryParser, EveryRequestParsesWhole) {
  for (const auto& [frame, cmd] : AllRequests()) {
    Parsed p = Parse(frame);
    ASSERT_EQ(p.r.status, ParseResult::kOk) << int(frame[1]);
    EXPECT_EQ(p.r.consumed, frame.size()) << int(frame[1]);
    EXPECT_EQ(p.req.cmd, cmd) << int(frame[1]);
    EXPECT_EQ(p.req.swallow, 0u);
  }
}

// Split at every byte, header and body alike: a prefix always needs more.
TEST(BinaryParser, EveryTruncationNeedsMore) {
  for (const auto& [frame, cmd] : AllRequests()) {
    for (size_t cut = 0; cut < frame.size(); ++cut) {
      Parsed p = Parse(std::string_view(frame).substr(0, cut));
      EXPECT_EQ(p.r.status, ParseResult::kNeedMore) << int(frame[1]) << " cut at " << cut;
    }
  }
}

TEST(BinaryParser, PipelineFedInEveryChunkingParsesTheSame) {
  std::string pipeline;
  std::vector<Command> expected;
  for (const auto& [frame, cmd] : AllRequests()) {
    pipeline += frame;
    expected.push_back(cmd);
  }
  for (size_t chunk : {1u, 2u, 3u, 7u, 24u, 25u, 100u, 4096u}) {
    std::string buf;
    std::vector<Command> got;
    for (size_t off = 0; off < pipeline.size(); off += chunk) {
      buf += pipeline.substr(off, chunk);
      while (true) {
        Parsed p = Parse(buf);
        if (p.r.status != ParseResult::kOk) {
          ASSERT_EQ(p.r.status, ParseResult::kNeedMore);
          break;
        }
        got.push_back(p.req.cmd);
        buf.erase(0, p.r.consumed);
      }
    }
    EXPECT_TRUE(buf.empty()) << chunk;
    EXPECT_EQ(got, expected) << chunk;
  }
}

TEST(BinaryParser, BadMagicCloses) {
  for (uint8_t magic : {0x00, 0x81, 0x7f, 0xff}) {
    std::string f = Frame(bin::kNoop);
    f[0] = static_cast<char>(magic);
    EXPECT_EQ(Parse(f).r.status, ParseResult::kClose);
  }
}

struct ErrorCase {
  std::string in;
  uint16_t status;
  bool close;
  size_t consumed;
  uint64_t swallow;
};

void ExpectError(const ErrorCase& c, const std::string& what) {
  Parsed p = Parse(c.in);
  ASSERT_EQ(p.r.status, ParseResult::kOk) << what;
  EXPECT_EQ(p.req.cmd, Command::kError) << what;
  EXPECT_EQ(p.req.status, c.status) << what;
  EXPECT_EQ(p.req.close_after_error, c.close) << what;
  EXPECT_EQ(p.r.consumed, c.consumed) << what;
  EXPECT_EQ(p.req.swallow, c.swallow) << what;
}

// Lengths that do not add up: Unknown command, then close (dispatch_bin_command).
TEST(BinaryParser, LengthMismatchIsUnknownCommandAndCloses) {
  ExpectError({RawHeader(bin::kGet, 3, 0, 1), bin::kUnknownCommand, true, 24, 0}, "key>body");
  ExpectError({RawHeader(bin::kSet, 3, 8, 10), bin::kUnknownCommand, true, 24, 0}, "key+ext");
  ExpectError({RawHeader(bin::kNoop, 0, 4, 0), bin::kUnknownCommand, true, 24, 0}, "ext>body");
  // Decided from the header alone: no body bytes are waited for.
  ExpectError({RawHeader(bin::kGet, 65535, 255, 0), bin::kUnknownCommand, true, 24, 0}, "max");
}

TEST(BinaryParser, LongKeyIsInvalidAndCloses) {
  ExpectError({Frame(bin::kGet, std::string(251, 'k')), bin::kEinval, true, 24, 0}, "251");
  ExpectError({RawHeader(bin::kSet, 60000, 8, 60008), bin::kEinval, true, 24, 0}, "60000");
  EXPECT_EQ(Parse(Frame(bin::kGet, std::string(250, 'k'))).req.cmd, Command::kGet);
}

// Shapes memcached refuses with EINVAL and a close (handle_binary_protocol_error).
TEST(BinaryParser, WrongShapesAreInvalidAndClose) {
  const std::vector<std::string> bad = {
      Frame(bin::kGet),                            // no key
      Frame(bin::kGet, "k", BE32(0)),              // extras
      Frame(bin::kGetK, "k", "", "v"),             // value
      Frame(bin::kSet, "k", "", "v"),              // no extras
      Frame(bin::kSet, "", SetExtras(0, 0), "v"),  // no key
      Frame(bin::kAdd, "k", BE32(0), "v"),         // 4 bytes of extras
      Frame(bin::kDelete, "k", BE32(0)),
      Frame(bin::kDeleteQ, "k", "", "v"),
      Frame(bin::kIncrement, "k", BE64(1)),
      Frame(bin::kDecrement, "", IncrExtras(1, 1, 1)),
      Frame(bin::kIncrement, "k", IncrExtras(1, 1, 1), "v"),
      Frame(bin::kQuit, "k"),
      Frame(bin::kQuitQ, "", "", "v"),
      Frame(bin::kFlush, "k"),
      Frame(bin::kFlush, "", BE64(1)),
      Frame(bin::kFlush, "", BE32(1), "v"),
      Frame(bin::kNoop, "", "", "v"),
      Frame(bin::kVersion, "v"),
      Frame(bin::kAppend, "", "", "v"),
      Frame(bin::kPrepend, "k", BE32(0), "v"),
      Frame(bin::kStat, "", BE32(0)),
      Frame(bin::kStat, "items", "", "extra"),  // memcached would misframe; we refuse
      Frame(bin::kTouch, "k"),
      Frame(bin::kGat, "", BE32(1)),
      Frame(bin::kGatKQ, "k", BE32(1), "v"),
      Frame(bin::kVerbosity),
      Frame(bin::kSaslListMechs, "k"),
      Frame(bin::kSaslAuth),
      Frame(bin::kSaslStep, "PLAIN", BE32(0)),
  };
  for (const std::string& f : bad) {
    ExpectError({f, bin::kEinval, true, 24, 0}, "opcode " + std::to_string(uint8_t(f[1])));
  }
}

// Unknown opcodes are answered and their body skipped; the connection lives on.
TEST(BinaryParser, UnknownOpcodeSkipsItsBody) {
  for (uint8_t op : {0x1f, 0x25, 0x30, 0x50, 0xff}) {
    ExpectError({Frame(op, "key", BE32(1), "value"), bin::kUnknownCommand, false, 24, 12},
                std::to_string(op));
  }
  // Even with a 4 GB body: decided from the header, never buffered.
  ExpectError({RawHeader(0x50, 0, 0, 0xffffffff), bin::kUnknownCommand, false, 24, 0xffffffff},
              "huge");
}

TEST(BinaryParser, TooLargeValueIsRefusedFromItsHeaderAndSwallowed) {
  std::string head = RawHeader(bin::kSet, 3, 8, 0xffffffff) + SetExtras(0, 0) + "big";
  // Nothing but header, extras and key is needed to refuse it.
  EXPECT_EQ(Parse(head.substr(0, head.size() - 1)).r.status, ParseResult::kNeedMore);
  ErrorCase c{head, bin::kE2big, false, head.size(), 0xffffffffull - 11};
  ExpectError(c, "set 4GB");
  Parsed p = Parse(head);
  EXPECT_EQ(p.req.key, "big");
  EXPECT_TRUE(p.req.delete_on_error);  // memcached unlinks the old value of a failed set

  std::string add = RawHeader(bin::kAddQ, 1, 8, 8 + 1 + 2000) + SetExtras(0, 0) + "k";
  Parsed a = Parse(add, 1024);
  EXPECT_EQ(a.req.status, bin::kE2big);
  EXPECT_EQ(a.req.swallow, 2000u);
  EXPECT_FALSE(a.req.delete_on_error);

  std::string app = RawHeader(bin::kAppend, 1, 0, 1 + 5000) + "k";
  EXPECT_EQ(Parse(app, 1024).req.status, bin::kE2big);
  EXPECT_EQ(Parse(app, 1024).req.swallow, 5000u);
}

// memcached's item arithmetic decides the limit: 48 + 8 + key + 1 + (flags ? 4 : 0)
// + value + 2 bytes must fit in -I.
TEST(BinaryParser, ItemSizeLimitMatchesMemcached) {
  size_t limit = 1 << 20;
  size_t fits = limit - (48 + 8 + 1 + 1 + 2);
  EXPECT_EQ(Parse(Frame(bin::kSet, "k", SetExtras(0, 0), std::string(fits, 'x'))).req.cmd,
            Command::kSet);
  EXPECT_EQ(Parse(Frame(bin::kSet, "k", SetExtras(0, 0), std::string(fits + 1, 'x'))).req.status,
            bin::kE2big);
  EXPECT_EQ(Parse(Frame(bin::kSet, "k", SetExtras(1, 0), std::string(fits, 'x'))).req.status,
            bin::kE2big);
}

TEST(BinaryParser, SaslPayloadLimits) {
  std::string mech(33, 'M');
  ExpectError({Frame(bin::kSaslAuth, mech, "", "data"), bin::kEinval, false, 24 + 33, 4},
              "long mech");
  std::string big = RawHeader(bin::kSaslAuth, 5, 0, 5 + 2000000) + "PLAIN";
  ExpectError({big, bin::kEnomem, false, 24 + 5, 2000000}, "big payload");
  EXPECT_EQ(Parse(big, 4 << 20).r.status, ParseResult::kNeedMore);
}

TEST(BinaryParser, StatusMessagesAreMemcachedsText) {
  EXPECT_STREQ(bin::StatusMessage(bin::kKeyEnoent), "Not found");
  EXPECT_STREQ(bin::StatusMessage(bin::kKeyEexists), "Data exists for key.");
  EXPECT_STREQ(bin::StatusMessage(bin::kE2big), "Too large.");
  EXPECT_STREQ(bin::StatusMessage(bin::kEinval), "Invalid arguments");
  EXPECT_STREQ(bin::StatusMessage(bin::kNotStored), "Not stored.");
  EXPECT_STREQ(bin::StatusMessage(bin::kDeltaBadval),
               "Non-numeric server-side value for incr or decr");
  EXPECT_STREQ(bin::StatusMessage(bin::kAuthError), "Auth failure.");
  EXPECT_STREQ(bin::StatusMessage(bin::kUnknownCommand), "Unknown command");
  EXPECT_STREQ(bin::StatusMessage(bin::kEnomem), "Out of memory");
  EXPECT_STREQ(bin::StatusMessage(bin::kTmpFail), "Temporary failure");
}

TEST(BinaryEncoder, ResponseBytes) {
  std::string out;
  uint32_t opaque;
  memcpy(&opaque, "\xAA\xBB\xCC\xDD", 4);
  bin::AppendResponse(&out, bin::kGetK, bin::kSuccess, opaque, 0x0102030405060708ull, BE32(7),
                      "key", "value");
  const std::string want = std::string("\x81\x0c\x00\x03\x04\x00\x00\x00", 8) +
                           std::string("\x00\x00\x00\x0c\xAA\xBB\xCC\xDD", 8) +
                           std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8) + BE32(7) +
                           "keyvalue";
  EXPECT_EQ(out, want);
  bin::Header h;
  ASSERT_TRUE(bin::DecodeHeader(out, &h));
  EXPECT_EQ(h.magic, 0x81);
  EXPECT_EQ(h.keylen, 3);
  EXPECT_EQ(h.extlen, 4);
  EXPECT_EQ(h.bodylen, 12u);
  EXPECT_EQ(h.opaque, opaque);
  EXPECT_EQ(h.cas, 0x0102030405060708ull);
  EXPECT_FALSE(bin::DecodeHeader(out.substr(0, 23), &h));
}

}  // namespace
}  // namespace syncached::protocol

namespace syncached::protocol {
namespace {

// A Request is reused for every request of a connection: nothing of an error sticks.
TEST(BinaryParser, ReusedRequestForgetsThePreviousError) {
  Request req;
  std::string bad = RawHeader(binary::kGet, 3, 0, 1);
  ASSERT_EQ(ParseBinary(bad, kItemMax, &req).status, ParseResult::kOk);
  ASSERT_TRUE(req.close_after_error);
  std::string big = RawHeader(binary::kSet, 1, 8, 0xffff) + SetExtras(0, 0) + "k";
  ASSERT_EQ(ParseBinary(big, 1024, &req).status, ParseResult::kOk);
  ASSERT_NE(req.swallow, 0u);
  std::string get = Frame(binary::kGet, "k");
  ASSERT_EQ(ParseBinary(get, kItemMax, &req).status, ParseResult::kOk);
  EXPECT_EQ(req.cmd, Command::kGet);
  EXPECT_FALSE(req.close_after_error);
  EXPECT_FALSE(req.delete_on_error);
  EXPECT_EQ(req.status, 0);
  EXPECT_EQ(req.swallow, 0u);
  EXPECT_EQ(req.error, TextError::kNone);
}

}  // namespace
}  // namespace syncached::protocol
