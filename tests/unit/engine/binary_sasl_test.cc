// SASL over the binary protocol (-S) through the engine, with Cyrus libsasl2 set up
// from a temporary memcached.conf (mech_list: plain) and a MEMCACHED_SASL_PWDB file.
// Cyrus is initialised once per process, so every test shares that setup.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "engine/sasl.h"
#include "protocol/binary.h"
#include "tests/unit/engine/harness.h"

namespace syncached::engine {
namespace {

namespace bin = protocol::binary;

std::string Req(uint8_t op, std::string_view key = {}, std::string_view extras = {},
                std::string_view value = {}, uint32_t opaque = 0) {
  std::string out;
  bin::AppendRequest(&out, op, key, extras, value, 0, opaque);
  return out;
}
std::string Resp(uint8_t op, uint16_t status, std::string_view value, uint32_t opaque = 0) {
  std::string out;
  bin::AppendResponse(&out, op, status, opaque, 0, {}, {}, value);
  return out;
}
std::string AuthError(uint8_t op, uint32_t opaque = 0) {
  return Resp(op, bin::kAuthError, "Auth failure.", opaque);
}
std::string Plain(std::string_view user, std::string_view pass) {
  return std::string(1, '\0') + std::string(user) + '\0' + std::string(pass);
}
std::string Authenticated(uint8_t op) { return Resp(op, bin::kSuccess, "Authenticated"); }

class BinarySasl : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/syncached-sasl-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    std::ofstream(dir_ + "/memcached.conf")
        << "mech_list: plain\nsasldb_path: " << dir_ << "/no-such-sasldb\n";
    std::ofstream(dir_ + "/pwdb") << "# users\nalice:secret\nbob:hunter2:extra field\n"
                                  << "carol@" << host << ":pass3\nalice:second-line-ignored\n";
    setenv("SASL_CONF_PATH", dir_.c_str(), 1);
    setenv("MEMCACHED_SASL_PWDB", (dir_ + "/pwdb").c_str(), 1);
    Status st = SaslInit();
    ASSERT_TRUE(st.ok()) << st.message();
  }
  static void TearDownTestSuite() {
    unlink((dir_ + "/memcached.conf").c_str());
    unlink((dir_ + "/pwdb").c_str());
    rmdir(dir_.c_str());
  }
  static Settings SaslSettings() {
    Settings s;
    s.sasl = true;
    s.binding_protocol = "binary";
    return s;
  }
  static std::string dir_;
};
std::string BinarySasl::dir_;

TEST_F(BinarySasl, UnauthenticatedCommandsGetAnAuthErrorAndAClose) {
  for (uint8_t op : {bin::kGet, bin::kSet, bin::kNoop, bin::kStat, bin::kFlush, bin::kQuit}) {
    EngineHarness h(SaslSettings());
    std::string req = Req(op, "k", {}, {}, 11);
    EXPECT_EQ(h.Send(req + Req(bin::kNoop)), AuthError(op, 11)) << int(op);
    EXPECT_TRUE(h.session().close);
  }
  // Refused from the header: a big value is not waited for.
  EngineHarness h(SaslSettings());
  std::string set;
  bin::AppendRequest(&set, bin::kSet, "k", std::string(8, '\0'), std::string(500000, 'x'));
  EXPECT_EQ(h.Send(set.substr(0, 24)), AuthError(bin::kSet));
  EXPECT_TRUE(h.session().close);
}

TEST_F(BinarySasl, VersionAndListMechsNeedNoAuthentication) {
  EngineHarness h(SaslSettings());
  EXPECT_EQ(h.Send(Req(bin::kVersion)), Resp(bin::kVersion, 0, "1.6.18"));
  EXPECT_EQ(h.Send(Req(bin::kSaslListMechs, {}, {}, {}, 3)),
            Resp(bin::kSaslListMechs, 0, "PLAIN", 3));
  EXPECT_FALSE(h.session().close);
}

TEST_F(BinarySasl, PlainWithTheRightPasswordAuthenticates) {
  EngineHarness h(SaslSettings());
  EXPECT_EQ(h.Send(Req(bin::kSaslAuth, "PLAIN", {}, Plain("alice", "secret"))),
            Authenticated(bin::kSaslAuth));
  EXPECT_TRUE(h.session().authenticated);
  std::string r = h.Send(Req(bin::kSet, "k", std::string(8, '\0'), "v"));
  bin::Header hd;
  ASSERT_TRUE(bin::DecodeHeader(r, &hd));
  EXPECT_EQ(hd.vbucket, bin::kSuccess);
  ThreadStats t = h.engine().SumThreadStats();
  EXPECT_EQ(t.auth_cmds.Get(), 1u);
  EXPECT_EQ(t.auth_errors.Get(), 0u);
}

TEST_F(BinarySasl, WrongPasswordIsRefusedAndTheConnectionMayRetry) {
  EngineHarness h(SaslSettings());
  EXPECT_EQ(h.Send(Req(bin::kSaslAuth, "PLAIN", {}, Plain("alice", "wrong"))),
            AuthError(bin::kSaslAuth));
  EXPECT_EQ(h.Send(Req(bin::kSaslAuth, "PLAIN", {}, Plain("mallory", "secret"))),
            AuthError(bin::kSaslAuth));
  EXPECT_FALSE(h.session().close);
  EXPECT_FALSE(h.session().authenticated);
  EXPECT_EQ(h.Send(Req(bin::kSaslAuth, "PLAIN", {}, Plain("alice", "secret"))),
            Authenticated(bin::kSaslAuth));
  ThreadStats t = h.engine().SumThreadStats();
  EXPECT_EQ(t.auth_cmds.Get(), 3u);
  EXPECT_EQ(t.auth_errors.Get(), 2u);
}

TEST_F(BinarySasl, PasswordFileRulesFollowMemcached) {
  auto try_login = [](std::string_view user, std::string_view pass) {
    EngineHarness h(SaslSettings());
    return h.Send(Req(bin::kSaslAuth, "PLAIN", {}, Plain(user, pass))) ==
           Authenticated(bin::kSaslAuth);
  };
  EXPECT_TRUE(try_login("bob", "hunter2"));  // fields after a second ':' are ignored
  EXPECT_FALSE(try_login("bob", "hunter2:extra field"));
  EXPECT_TRUE(try_login("carol", "pass3"));                 // memcached's user@host form
  EXPECT_FALSE(try_login("alice", "second-line-ignored"));  // the first line decides
  EXPECT_FALSE(try_login("alice", ""));
  EXPECT_FALSE(try_login("", "secret"));
}

TEST_F(BinarySasl, PlainInTwoSteps) {
  EngineHarness h(SaslSettings());
  // No initial response: Cyrus asks for it with an empty challenge.
  EXPECT_EQ(h.Send(Req(bin::kSaslAuth, "PLAIN")), Resp(bin::kSaslAuth, bin::kAuthContinue, ""));
  EXPECT_EQ(h.Send(Req(bin::kSaslStep, "PLAIN", {}, Plain("alice", "secret"))),
            Authenticated(bin::kSaslStep));
  EXPECT_TRUE(h.session().authenticated);
}

TEST_F(BinarySasl, StepWithoutAuthFails) {
  EngineHarness h(SaslSettings());
  EXPECT_EQ(h.Send(Req(bin::kSaslStep, "PLAIN", {}, Plain("alice", "secret"))),
            AuthError(bin::kSaslStep));
  ThreadStats t = h.engine().SumThreadStats();
  EXPECT_EQ(t.auth_errors.Get(), 1u);
}

TEST_F(BinarySasl, UnofferedMechanismsFail) {
  EngineHarness h(SaslSettings());
  EXPECT_EQ(h.Send(Req(bin::kSaslAuth, "ANONYMOUS", {}, "me")), AuthError(bin::kSaslAuth));
  EXPECT_EQ(h.Send(Req(bin::kSaslAuth, "CRAM-MD5")), AuthError(bin::kSaslAuth));
  // A mechanism name over 32 bytes is invalid; the connection survives.
  EXPECT_EQ(h.Send(Req(bin::kSaslAuth, std::string(40, 'X'), {}, "data")),
            Resp(bin::kSaslAuth, bin::kEinval, "Invalid arguments"));
  EXPECT_FALSE(h.session().close);
}

// memcached resets a connection's authentication on every SASL command.
TEST_F(BinarySasl, AnySaslCommandStartsOver) {
  EngineHarness h(SaslSettings());
  h.Send(Req(bin::kSaslAuth, "PLAIN", {}, Plain("alice", "secret")));
  ASSERT_TRUE(h.session().authenticated);
  h.Send(Req(bin::kSaslListMechs));
  EXPECT_FALSE(h.session().authenticated);
  EXPECT_EQ(h.Send(Req(bin::kGet, "k")), AuthError(bin::kGet));
}

}  // namespace
}  // namespace syncached::engine
