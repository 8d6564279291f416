// Binary protocol through the engine: byte-exact replies as memcached 1.6.18 writes
// them (checked against Debian's memcached on a loopback port), per opcode and status.
#include <gtest/gtest.h>

#include <string>

#include "protocol/binary.h"
#include "tests/unit/engine/harness.h"

namespace syncached::engine {
namespace {

namespace bin = protocol::binary;

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
std::string Req(uint8_t op, std::string_view key = {}, std::string_view extras = {},
                std::string_view value = {}, uint64_t cas = 0, uint32_t opaque = 0) {
  std::string out;
  bin::AppendRequest(&out, op, key, extras, value, cas, opaque);
  return out;
}
std::string Set(uint8_t op, std::string_view key, std::string_view value, uint32_t flags = 0,
                uint32_t exptime = 0, uint64_t cas = 0, uint32_t opaque = 0) {
  return Req(op, key, BE32(flags) + BE32(exptime), value, cas, opaque);
}
std::string Incr(uint8_t op, std::string_view key, uint64_t delta, uint64_t initial,
                 uint32_t exptime, uint64_t cas = 0) {
  return Req(op, key, BE64(delta) + BE64(initial) + BE32(exptime), {}, cas);
}
std::string Resp(uint8_t op, uint64_t cas = 0, std::string_view extras = {},
                 std::string_view key = {}, std::string_view value = {}, uint32_t opaque = 0) {
  std::string out;
  bin::AppendResponse(&out, op, bin::kSuccess, opaque, cas, extras, key, value);
  return out;
}
std::string Err(uint8_t op, uint16_t status, uint32_t opaque = 0) {
  std::string out;
  bin::AppendResponse(&out, op, status, opaque, 0, {}, {}, bin::StatusMessage(status));
  return out;
}
uint64_t CasOf(std::string_view reply) {
  bin::Header h;
  return bin::DecodeHeader(reply, &h) ? h.cas : 0;
}

TEST(Binary, SetGetDeleteBytes) {
  EngineHarness h;
  std::string r = h.Send(Set(bin::kSet, "foo", "bar", 7, 0, 0, 0xA1B2C3D4));
  uint64_t cas = CasOf(r);
  EXPECT_NE(cas, 0u);
  EXPECT_EQ(r, Resp(bin::kSet, cas, {}, {}, {}, 0xA1B2C3D4));
  EXPECT_EQ(h.Send(Req(bin::kGet, "foo", {}, {}, 0, 9)),
            Resp(bin::kGet, cas, BE32(7), {}, "bar", 9));
  EXPECT_EQ(h.Send(Req(bin::kGetK, "foo")), Resp(bin::kGetK, cas, BE32(7), "foo", "bar"));
  EXPECT_EQ(h.Send(Req(bin::kDelete, "foo")), Resp(bin::kDelete));
  EXPECT_EQ(h.Send(Req(bin::kDelete, "foo")), Err(bin::kDelete, bin::kKeyEnoent));
  EXPECT_EQ(h.Send(Req(bin::kGet, "foo", {}, {}, 0, 5)), Err(bin::kGet, bin::kKeyEnoent, 5));
  // A GETK miss carries the key and no text.
  std::string miss;
  bin::AppendResponse(&miss, bin::kGetK, bin::kKeyEnoent, 0, 0, {}, "foo", {});
  EXPECT_EQ(h.Send(Req(bin::kGetK, "foo")), miss);
  // Keys are bytes: spaces, CR, LF and NUL are fine in binary.
  std::string odd("a b\r\n\0z", 7);
  cas = CasOf(h.Send(Set(bin::kSet, odd, "v")));
  EXPECT_EQ(h.Send(Req(bin::kGetK, odd)), Resp(bin::kGetK, cas, BE32(0), odd, "v"));
}

TEST(Binary, QuietGetsAnswerHitsOnlyAndNoopEndsAMultiGet) {
  EngineHarness h;
  uint64_t c1 = CasOf(h.Send(Set(bin::kSet, "k1", "v1", 1)));
  uint64_t c3 = CasOf(h.Send(Set(bin::kSet, "k3", "v3", 3)));
  std::string multi = Req(bin::kGetKQ, "k1", {}, {}, 0, 1) + Req(bin::kGetKQ, "k2", {}, {}, 0, 2) +
                      Req(bin::kGetKQ, "k3", {}, {}, 0, 3) + Req(bin::kNoop, {}, {}, {}, 0, 4);
  EXPECT_EQ(h.Send(multi), Resp(bin::kGetKQ, c1, BE32(1), "k1", "v1", 1) +
                               Resp(bin::kGetKQ, c3, BE32(3), "k3", "v3", 3) +
                               Resp(bin::kNoop, 0, {}, {}, {}, 4));
  EXPECT_EQ(h.Send(Req(bin::kGetQ, "nope") + Req(bin::kGetQ, "k1")),
            Resp(bin::kGetQ, c1, BE32(1), {}, "v1"));
}

TEST(Binary, StoreStatusesMatchMemcached) {
  EngineHarness h;
  EXPECT_EQ(h.Send(Set(bin::kReplace, "k", "a")), Err(bin::kReplace, bin::kKeyEnoent));
  EXPECT_EQ(h.Send(Req(bin::kAppend, "k", {}, "a")), Err(bin::kAppend, bin::kNotStored));
  EXPECT_EQ(h.Send(Req(bin::kPrepend, "k", {}, "a")), Err(bin::kPrepend, bin::kNotStored));
  uint64_t cas = CasOf(h.Send(Set(bin::kAdd, "k", "a", 3)));
  EXPECT_NE(cas, 0u);
  EXPECT_EQ(h.Send(Set(bin::kAdd, "k", "b")), Err(bin::kAdd, bin::kKeyEexists));
  std::string r = h.Send(Req(bin::kAppend, "k", {}, "yz"));
  EXPECT_EQ(r, Resp(bin::kAppend, CasOf(r)));
  EXPECT_GT(CasOf(r), cas);
  r = h.Send(Req(bin::kPrepend, "k", {}, "_"));
  // append/prepend keep the item's flags.
  EXPECT_EQ(h.Send(Req(bin::kGet, "k")), Resp(bin::kGet, CasOf(r), BE32(3), {}, "_ayz"));
  r = h.Send(Set(bin::kReplace, "k", "r", 9));
  EXPECT_EQ(h.Send(Req(bin::kGet, "k")), Resp(bin::kGet, CasOf(r), BE32(9), {}, "r"));
}

TEST(Binary, CasOnEveryMutation) {
  EngineHarness h;
  // A CAS against a missing key: not found, for set, add and replace alike.
  EXPECT_EQ(h.Send(Set(bin::kSet, "k", "a", 0, 0, 5)), Err(bin::kSet, bin::kKeyEnoent));
  EXPECT_EQ(h.Send(Set(bin::kAdd, "k", "a", 0, 0, 5)), Err(bin::kAdd, bin::kKeyEnoent));
  EXPECT_EQ(h.Send(Set(bin::kReplace, "k", "a", 0, 0, 5)), Err(bin::kReplace, bin::kKeyEnoent));
  uint64_t cas = CasOf(h.Send(Set(bin::kSet, "k", "a")));
  EXPECT_EQ(h.Send(Set(bin::kSet, "k", "b", 0, 0, cas + 1)), Err(bin::kSet, bin::kKeyEexists));
  std::string r = h.Send(Set(bin::kSet, "k", "b", 0, 0, cas));
  uint64_t cas2 = CasOf(r);
  EXPECT_EQ(r, Resp(bin::kSet, cas2));
  EXPECT_NE(cas2, cas);
  // memcached turns add with a CAS into a cas command: it replaces on a match.
  r = h.Send(Set(bin::kAdd, "k", "c", 0, 0, cas2));
  uint64_t cas3 = CasOf(r);
  EXPECT_EQ(r, Resp(bin::kAdd, cas3));
  EXPECT_EQ(h.Send(Req(bin::kAppend, "k", {}, "x", cas)), Err(bin::kAppend, bin::kKeyEexists));
  r = h.Send(Req(bin::kAppend, "k", {}, "x", cas3));
  uint64_t cas4 = CasOf(r);
  EXPECT_EQ(r, Resp(bin::kAppend, cas4));
  EXPECT_EQ(h.Send(Req(bin::kDelete, "k", {}, {}, cas3)), Err(bin::kDelete, bin::kKeyEexists));
  EXPECT_EQ(h.Send(Req(bin::kGet, "k")), Resp(bin::kGet, cas4, BE32(0), {}, "cx"));
  EXPECT_EQ(h.Send(Req(bin::kDelete, "k", {}, {}, cas4)), Resp(bin::kDelete));
}

TEST(Binary, CasDisabledReportsZero) {
  Settings s;
  s.cas_enabled = false;
  EngineHarness h(s);
  EXPECT_EQ(h.Send(Set(bin::kSet, "k", "a")), Resp(bin::kSet));
  EXPECT_EQ(h.Send(Req(bin::kGet, "k")), Resp(bin::kGet, 0, BE32(0), {}, "a"));
  EXPECT_EQ(h.Send(Set(bin::kSet, "k", "b", 0, 0, 12345)), Resp(bin::kSet));  // CAS ignored
}

TEST(Binary, IncrDecr) {
  EngineHarness h;
  // Missing with an expiration of 0xffffffff: not created.
  EXPECT_EQ(h.Send(Incr(bin::kIncrement, "n", 1, 10, 0xffffffff)),
            Err(bin::kIncrement, bin::kKeyEnoent));
  // Otherwise created with the initial value (the delta is not applied).
  std::string r = h.Send(Incr(bin::kIncrement, "n", 1, 10, 0));
  EXPECT_EQ(r, Resp(bin::kIncrement, CasOf(r), {}, {}, BE64(10)));
  r = h.Send(Incr(bin::kIncrement, "n", 5, 10, 0));
  uint64_t cas = CasOf(r);
  EXPECT_EQ(r, Resp(bin::kIncrement, cas, {}, {}, BE64(15)));
  EXPECT_EQ(h.Send(Incr(bin::kDecrement, "n", 1, 0, 0, cas + 1)),
            Err(bin::kDecrement, bin::kKeyEexists));
  r = h.Send(Incr(bin::kDecrement, "n", 6, 0, 0, cas));
  EXPECT_EQ(r, Resp(bin::kDecrement, CasOf(r), {}, {}, BE64(9)));
  r = h.Send(Incr(bin::kDecrement, "n", 100, 0, 0));
  EXPECT_EQ(r, Resp(bin::kDecrement, CasOf(r), {}, {}, BE64(0)));  // clamps at 0
  h.Send(Set(bin::kSet, "w", "18446744073709551615"));
  r = h.Send(Incr(bin::kIncrement, "w", 2, 0, 0));
  EXPECT_EQ(r, Resp(bin::kIncrement, CasOf(r), {}, {}, BE64(1)));  // wraps at 2^64
  h.Send(Set(bin::kSet, "s", "abc"));
  EXPECT_EQ(h.Send(Incr(bin::kIncrement, "s", 1, 0, 0)), Err(bin::kIncrement, bin::kDeltaBadval));
  h.Send(Set(bin::kSet, "e", ""));
  EXPECT_EQ(h.Send(Incr(bin::kDecrement, "e", 1, 0, 0)), Err(bin::kDecrement, bin::kDeltaBadval));
  // A created counter expires as asked.
  h.Send(Incr(bin::kIncrement, "t", 1, 7, 10));
  EXPECT_EQ(h.Send(Req(bin::kGetQ, "t") + Req(bin::kNoop)).size(), 24u + 4 + 1 + 24);
  h.clock().Advance(11'000);
  EXPECT_EQ(h.Send(Req(bin::kGetQ, "t") + Req(bin::kNoop)), Resp(bin::kNoop));
}

TEST(Binary, IncrValueIsReadBackAsText) {
  EngineHarness h;
  h.Send(Set(bin::kSet, "n", "10"));
  h.Send(Incr(bin::kDecrement, "n", 1, 0, 0));
  // memcached rewrites in place, padding with a space.
  Session text;
  EXPECT_EQ(h.SendTo(text, "get n\r\n"), "VALUE n 0 2\r\n9 \r\nEND\r\n");
}

TEST(Binary, QuietMutationsAreSilentUnlessTheyFail) {
  EngineHarness h;
  EXPECT_EQ(h.Send(Set(bin::kSetQ, "k", "1")), "");
  EXPECT_EQ(h.Send(Set(bin::kAddQ, "k", "1")), Err(bin::kAddQ, bin::kKeyEexists));
  EXPECT_EQ(h.Send(Set(bin::kReplaceQ, "k", "2")), "");
  EXPECT_EQ(h.Send(Set(bin::kReplaceQ, "x", "2")), Err(bin::kReplaceQ, bin::kKeyEnoent));
  EXPECT_EQ(h.Send(Req(bin::kAppendQ, "k", {}, "3")), "");
  EXPECT_EQ(h.Send(Req(bin::kPrependQ, "x", {}, "3")), Err(bin::kPrependQ, bin::kNotStored));
  EXPECT_EQ(h.Send(Incr(bin::kIncrementQ, "k", 1, 0, 0)), "");
  EXPECT_EQ(h.Send(Incr(bin::kDecrementQ, "x", 1, 0, 0xffffffff)),
            Err(bin::kDecrementQ, bin::kKeyEnoent));
  uint64_t cas = CasOf(h.Send(Req(bin::kGet, "k")));
  EXPECT_EQ(h.Send(Req(bin::kGet, "k")), Resp(bin::kGet, cas, BE32(0), {}, "24"));
  EXPECT_EQ(h.Send(Req(bin::kDeleteQ, "k")), "");
  EXPECT_EQ(h.Send(Req(bin::kDeleteQ, "k")), Err(bin::kDeleteQ, bin::kKeyEnoent));
  EXPECT_EQ(h.Send(Req(bin::kFlushQ)), "");
  EXPECT_EQ(h.Send(Req(bin::kQuitQ)), "");
  EXPECT_TRUE(h.session().close);
}

TEST(Binary, QuitAnswersThenCloses) {
  EngineHarness h;
  EXPECT_EQ(h.Send(Req(bin::kQuit, {}, {}, {}, 0, 3) + Req(bin::kNoop)),
            Resp(bin::kQuit, 0, {}, {}, {}, 3));
  EXPECT_TRUE(h.session().close);
}

TEST(Binary, TouchAndGat) {
  EngineHarness h;
  uint64_t cas = CasOf(h.Send(Set(bin::kSet, "k", "val", 5, 5)));
  std::string ttl = BE32(100);
  // TOUCH answers the flags only; GAT the value too; GATK the key as well.
  EXPECT_EQ(h.Send(Req(bin::kTouch, "k", ttl)), Resp(bin::kTouch, cas, BE32(5)));
  EXPECT_EQ(h.Send(Req(bin::kGat, "k", ttl)), Resp(bin::kGat, cas, BE32(5), {}, "val"));
  EXPECT_EQ(h.Send(Req(bin::kGatQ, "k", ttl)), Resp(bin::kGatQ, cas, BE32(5), {}, "val"));
  EXPECT_EQ(h.Send(Req(bin::kGatK, "k", ttl)), Resp(bin::kGatK, cas, BE32(5), "k", "val"));
  EXPECT_EQ(h.Send(Req(bin::kGatKQ, "k", ttl)), Resp(bin::kGatKQ, cas, BE32(5), "k", "val"));
  h.clock().Advance(50'000);
  EXPECT_EQ(h.Send(Req(bin::kGet, "k")), Resp(bin::kGet, cas, BE32(5), {}, "val"));
  h.clock().Advance(51'000);
  EXPECT_EQ(h.Send(Req(bin::kTouch, "k", ttl)), Err(bin::kTouch, bin::kKeyEnoent));
  EXPECT_EQ(h.Send(Req(bin::kGat, "k", ttl)), Err(bin::kGat, bin::kKeyEnoent));
  std::string miss;
  bin::AppendResponse(&miss, bin::kGatK, bin::kKeyEnoent, 0, 0, {}, "k", {});
  EXPECT_EQ(h.Send(Req(bin::kGatK, "k", ttl)), miss);
  EXPECT_EQ(h.Send(Req(bin::kGatQ, "k", ttl) + Req(bin::kGatKQ, "k", ttl)), "");
}

TEST(Binary, ExpiryIsUnsigned32Bit) {
  EngineHarness h;
  // 0xfffffffe is an absolute time far in the future, not a negative number.
  h.Send(Set(bin::kSet, "k", "v", 0, 0xfffffffe));
  h.clock().Advance(100'000'000);
  EXPECT_EQ(h.Send(Req(bin::kGetQ, "k") + Req(bin::kNoop)).size(), 24u + 4 + 1 + 24);
}

TEST(Binary, FlushNowAndDelayed) {
  EngineHarness h;
  h.Send(Set(bin::kSet, "a", "1"));
  EXPECT_EQ(h.Send(Req(bin::kFlush)), Resp(bin::kFlush));
  EXPECT_EQ(h.Send(Req(bin::kGet, "a")), Err(bin::kGet, bin::kKeyEnoent));
  uint64_t cas = CasOf(h.Send(Set(bin::kSet, "b", "2")));
  EXPECT_EQ(h.Send(Req(bin::kFlush, {}, BE32(2))), Resp(bin::kFlush));
  EXPECT_EQ(h.Send(Req(bin::kGet, "b")), Resp(bin::kGet, cas, BE32(0), {}, "2"));
  h.clock().Advance(2'000);
  EXPECT_EQ(h.Send(Req(bin::kGet, "b")), Err(bin::kGet, bin::kKeyEnoent));
}

TEST(Binary, FlushDisabledIsAnAuthError) {
  Settings s;
  s.flush_enabled = false;
  EngineHarness h(s);
  EXPECT_EQ(h.Send(Req(bin::kFlush)), Err(bin::kFlush, bin::kAuthError));
  EXPECT_EQ(h.Send(Req(bin::kFlushQ)), Err(bin::kFlushQ, bin::kAuthError));
}

TEST(Binary, VersionNoopVerbosity) {
  EngineHarness h;
  EXPECT_EQ(h.Send(Req(bin::kVersion, {}, {}, {}, 0, 77)),
            Resp(bin::kVersion, 0, {}, {}, "1.6.18", 77));
  EXPECT_EQ(h.Send(Req(bin::kNoop)), Resp(bin::kNoop));
  EXPECT_EQ(h.Send(Req(bin::kVerbosity, {}, BE32(1))), Resp(bin::kVerbosity));
  EXPECT_EQ(h.engine().settings().runtime.verbosity.load(), 1u);
}

// Splits a reply stream into packets.
std::vector<bin::Header> Packets(std::string_view r, std::vector<std::string>* keys = nullptr,
                                 std::vector<std::string>* values = nullptr) {
  std::vector<bin::Header> out;
  bin::Header h;
  while (bin::DecodeHeader(r, &h) && r.size() >= 24 + h.bodylen) {
    out.push_back(h);
    if (keys) keys->emplace_back(r.substr(24 + h.extlen, h.keylen));
    if (values)
      values->emplace_back(r.substr(24 + h.extlen + h.keylen, h.bodylen - h.keylen - h.extlen));
    r.remove_prefix(24 + h.bodylen);
  }
  EXPECT_TRUE(r.empty());
  return out;
}

TEST(Binary, StatsOnePacketPerStatThenAnEmptyOne) {
  EngineHarness h;
  h.Send(Set(bin::kSet, "k", "v"));
  h.Send(Req(bin::kGet, "k") + Req(bin::kGet, "nope"));
  std::vector<std::string> keys, values;
  auto packets = Packets(h.Send(Req(bin::kStat, {}, {}, {}, 0, 42)), &keys, &values);
  ASSERT_GT(packets.size(), 50u);
  for (const auto& p : packets) {
    EXPECT_EQ(p.opcode, bin::kStat);
    EXPECT_EQ(p.vbucket, bin::kSuccess);
    EXPECT_EQ(p.extlen, 0);
    EXPECT_EQ(p.cas, 0u);
  }
  EXPECT_EQ(keys.back(), "");
  EXPECT_EQ(values.back(), "");
  // The same producer as text `stats`: same names, same order.
  Session text;
  std::string t = h.SendTo(text, "stats\r\n");
  std::string names;
  for (size_t i = 0; i + 1 < keys.size(); ++i) names += "STAT " + keys[i] + " ";
  std::string text_names;
  for (size_t pos = 0; (pos = t.find("STAT ", pos)) != std::string::npos;) {
    size_t sp = t.find(' ', pos + 5);
    text_names += t.substr(pos, sp - pos) + " ";
    pos = sp;
  }
  EXPECT_EQ(names, text_names);
  auto find = [&](std::string_view name) {
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] == name) return values[i];
    }
    return std::string("?");
  };
  EXPECT_EQ(find("get_hits"), "1");
  EXPECT_EQ(find("get_misses"), "1");
  EXPECT_EQ(find("cmd_set"), "1");
  EXPECT_EQ(find("curr_items"), "1");
}

TEST(Binary, StatGroups) {
  EngineHarness h;
  std::vector<std::string> keys, values;
  Packets(h.Send(Req(bin::kStat, "settings")), &keys, &values);
  ASSERT_GT(keys.size(), 40u);
  EXPECT_EQ(keys.front(), "maxbytes");
  EXPECT_EQ(keys.back(), "");
  h.Send(Set(bin::kSet, "k", "v"));
  for (const char* group : {"items", "slabs", "sizes"}) {
    keys.clear();
    auto p = Packets(h.Send(Req(bin::kStat, group)), &keys);
    ASSERT_GE(p.size(), 2u) << group;
    EXPECT_EQ(keys.back(), "") << group;
  }
  EXPECT_EQ(h.Send(Req(bin::kStat, "sizes")),
            Resp(bin::kStat, 0, {}, "sizes_status", "disabled") + Resp(bin::kStat));
  // Only a terminator for reset and detail on/off (process_bin_stat).
  EXPECT_EQ(h.Send(Req(bin::kStat, "reset")), Resp(bin::kStat));
  EXPECT_EQ(h.Send(Req(bin::kStat, "detail on")), Resp(bin::kStat));
  h.Send(Set(bin::kSet, "p:a", "1"));
  EXPECT_EQ(h.Send(Req(bin::kStat, "detail dump")),
            Resp(bin::kStat, 0, {}, "detailed", "PREFIX p get 0 hit 0 set 1 del 0\r\nEND\r\n") +
                Resp(bin::kStat));
  EXPECT_EQ(h.Send(Req(bin::kStat, "detail off")), Resp(bin::kStat));
  EXPECT_EQ(h.Send(Req(bin::kStat, "detail")), Err(bin::kStat, bin::kKeyEnoent));
  EXPECT_EQ(h.Send(Req(bin::kStat, "bogus")), Err(bin::kStat, bin::kKeyEnoent));
  // memcached answers `conns` in text only.
  EXPECT_EQ(h.Send(Req(bin::kStat, "conns")), Err(bin::kStat, bin::kKeyEnoent));
}

TEST(Binary, UnknownOpcodeIsAnsweredAndItsBodySkipped) {
  EngineHarness h;
  EXPECT_EQ(h.Send(Req(0x50, "key", BE32(1), "value", 0, 6) + Req(bin::kNoop)),
            Err(0x50, bin::kUnknownCommand, 6) + Resp(bin::kNoop));
  EXPECT_FALSE(h.session().close);
  // Without -S the SASL opcodes are unknown too.
  EXPECT_EQ(h.Send(Req(bin::kSaslListMechs)), Err(bin::kSaslListMechs, bin::kUnknownCommand));
  EXPECT_EQ(h.Send(Req(bin::kSaslAuth, std::string(40, 'M'), {}, "x")),
            Err(bin::kSaslAuth, bin::kUnknownCommand));
  EXPECT_EQ(h.Send(Req(bin::kNoop)), Resp(bin::kNoop));
}

TEST(Binary, BadMagicClosesSilently) {
  EngineHarness h;
  EXPECT_EQ(h.Send(Req(bin::kNoop)), Resp(bin::kNoop));
  std::string bad = Req(bin::kNoop);
  bad[0] = '\x81';
  EXPECT_EQ(h.Send(bad), "");
  EXPECT_TRUE(h.session().close);
}

TEST(Binary, FramingErrorsAnswerThenClose) {
  {
    EngineHarness h;
    std::string f = Req(bin::kGet, "abc");
    f[11] = 1;  // bodylen 1 < keylen 3
    EXPECT_EQ(h.Send(f + Req(bin::kNoop)), Err(bin::kGet, bin::kUnknownCommand));
    EXPECT_TRUE(h.session().close);
  }
  {
    EngineHarness h;
    EXPECT_EQ(h.Send(Req(bin::kGet, std::string(251, 'k')) + Req(bin::kNoop)),
              Err(bin::kGet, bin::kEinval));
    EXPECT_TRUE(h.session().close);
  }
  {
    EngineHarness h;
    EXPECT_EQ(h.Send(Req(bin::kGet, "k", BE32(1))), Err(bin::kGet, bin::kEinval));
    EXPECT_TRUE(h.session().close);
  }
}

TEST(Binary, TooLargeValueIsSwallowedAndUnlinksTheOldValue) {
  Settings s;
  s.item_size_max = 1024;
  EngineHarness h(s);
  h.Send(Set(bin::kSet, "big", "small"));
  std::string huge = Set(bin::kSet, "big", std::string(5000, 'x'), 0, 0, 0, 8);
  // Refused as soon as header, extras and key are in; the rest is read and dropped.
  EXPECT_EQ(h.Send(huge.substr(0, 40)), Err(bin::kSet, bin::kE2big, 8));
  EXPECT_EQ(h.Send(huge.substr(40, 3000)), "");
  EXPECT_EQ(h.Send(huge.substr(3040) + Req(bin::kGet, "big")), Err(bin::kGet, bin::kKeyEnoent));
  h.Send(Set(bin::kSet, "a", "small"));
  EXPECT_EQ(h.Send(Set(bin::kAddQ, "a", std::string(5000, 'x')) + Req(bin::kNoop)),
            Err(bin::kAddQ, bin::kE2big) + Resp(bin::kNoop));
  // An append that would outgrow -I is not stored (memcached: NOT_STORED).
  h.Send(Set(bin::kSet, "a", std::string(600, 'a')));
  EXPECT_EQ(h.Send(Req(bin::kAppend, "a", {}, std::string(600, 'b'))),
            Err(bin::kAppend, bin::kNotStored));
}

TEST(Binary, BytewiseEqualsWhole) {
  std::string script = Set(bin::kSet, "a", "xy", 1) + Req(bin::kAppendQ, "a", {}, "z") +
                       Req(bin::kGetK, "a") + Incr(bin::kIncrement, "n", 1, 5, 0) +
                       Incr(bin::kIncrementQ, "n", 1, 5, 0) + Req(bin::kGetKQ, "n") +
                       Req(bin::kGetKQ, "none") + Req(bin::kTouch, "a", BE32(9)) +
                       Req(0x60, "x", {}, "body") + Req(bin::kStat, "sizes") +
                       Req(bin::kDelete, "a") + Req(bin::kVersion) + Req(bin::kNoop);
  EngineHarness whole, bytewise;
  std::string a = whole.Send(script), b = bytewise.SendBytewise(script);
  // Same replies; CAS uniques may differ between two stores, so compare without them.
  auto strip = [](std::string r) {
    std::string out;
    bin::Header h;
    while (bin::DecodeHeader(r, &h)) {
      std::string p = r.substr(0, 24 + h.bodylen);
      p.replace(16, 8, 8, '\0');
      out += p;
      r.erase(0, 24 + h.bodylen);
    }
    return out + r;
  };
  EXPECT_EQ(strip(a), strip(b));
  EXPECT_EQ(Packets(a).size(), 11u);
}

TEST(Binary, AsciiOnlyServerClosesBinaryClients) {
  Settings s;
  s.binding_protocol = "ascii";
  EngineHarness h(s);
  EXPECT_EQ(h.Send(Req(bin::kNoop)), "");
  EXPECT_TRUE(h.session().close);
}

TEST(Binary, CountersAreSharedWithText) {
  EngineHarness h;
  h.Send(Set(bin::kSet, "k", "1"));
  h.Send(Req(bin::kGet, "k") + Req(bin::kGet, "x") + Req(bin::kTouch, "k", BE32(1)));
  h.Send(Incr(bin::kIncrement, "k", 1, 0, 0) + Incr(bin::kDecrement, "x", 1, 0, 0xffffffff));
  h.Send(Req(bin::kDelete, "k") + Req(bin::kDelete, "k") + Req(bin::kFlush));
  ThreadStats t = h.engine().SumThreadStats();
  EXPECT_EQ(t.cmd_set.Get(), 1u);
  EXPECT_EQ(t.cmd_get.Get(), 2u);
  EXPECT_EQ(t.get_hits.Get(), 1u);
  EXPECT_EQ(t.get_misses.Get(), 1u);
  EXPECT_EQ(t.cmd_touch.Get(), 1u);
  EXPECT_EQ(t.touch_hits.Get(), 1u);
  EXPECT_EQ(t.incr_hits.Get(), 1u);
  EXPECT_EQ(t.decr_misses.Get(), 1u);
  EXPECT_EQ(t.delete_hits.Get(), 1u);
  EXPECT_EQ(t.delete_misses.Get(), 1u);
  EXPECT_EQ(t.cmd_flush.Get(), 1u);
}

}  // namespace
}  // namespace syncached::engine

namespace syncached::engine {
namespace {

TEST(Binary, SyncingNodeAnswersTemporaryFailure) {
  EngineHarness h;
  h.Send(Set(bin::kSet, "k", "v"));
  h.engine().SetSyncing(true);  // --join-mode error, until the first full copy is in
  EXPECT_EQ(h.Send(Req(bin::kGet, "k", {}, {}, 0, 4)), Err(bin::kGet, bin::kTmpFail, 4));
  EXPECT_EQ(h.Send(Set(bin::kSetQ, "k", "w")), Err(bin::kSetQ, bin::kTmpFail));
  EXPECT_EQ(h.Send(Req(bin::kVersion)), Resp(bin::kVersion, 0, {}, {}, "1.6.18"));
  EXPECT_EQ(h.Send(Req(bin::kNoop)), Resp(bin::kNoop));
  h.engine().SetSyncing(false);
  std::string r = h.Send(Req(bin::kGet, "k"));
  EXPECT_EQ(r, Resp(bin::kGet, CasOf(r), BE32(0), {}, "v"));
}

}  // namespace
}  // namespace syncached::engine
