// The start-up decision of issue #24 as ParseCommandLine makes it: replication beyond
// loopback needs --cluster-secret-file or --insecure-peers, and the secret file is
// checked once every source of options is merged.
#include "server/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "parse_test_util.h"
#include "temp_dir_test.h"

namespace syncached::server {
namespace {

const std::vector<std::string> kNode = {"--node-id", "1", "--peers", "127.0.0.1:11213"};

std::vector<std::string> With(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class ConfigPeerSecurity : public TempDirTest {
 protected:
};

TEST_F(ConfigPeerSecurity, LoopbackOnlyNeedsNoSecret) {
  EXPECT_EQ(Refusal(With({"-l", "127.0.0.1"}, kNode)), "");
  EXPECT_EQ(Refusal({"-l", "127.0.0.1,::1", "--node-id", "1", "--peers",
                     "localhost:11213,[::1]:11214,127.0.0.9:11215"}),
            "");
  EXPECT_EQ(Refusal({"-l", "localhost:11300", "--node-id", "1", "--peers", "127.0.0.1:1"}), "");
  // Without --peers there is no replication listener at all.
  EXPECT_EQ(Refusal({}), "");
  EXPECT_EQ(Refusal({"-l", "10.0.0.1"}), "");
}

TEST_F(ConfigPeerSecurity, BeyondLoopbackWithoutSecretIsRefused) {
  const std::string fix =
      ": generate a secret (head -c 32 /dev/urandom | base64 > /etc/syncached/secret; chmod 600 "
      "/etc/syncached/secret) and give every node --cluster-secret-file /etc/syncached/secret, "
      "or pass --insecure-peers to accept unauthenticated peers";
  const std::string head =
      "replication without --cluster-secret-file is limited to loopback addresses, but ";
  EXPECT_EQ(Refusal(kNode),
            head + "the replication port would listen on all interfaces (no -l given)" + fix);
  EXPECT_EQ(
      Refusal(With({"-l", "127.0.0.1,192.0.2.1"}, kNode)),
      head + "the replication port would listen on 192.0.2.1 (-l), which is not loopback" + fix);
  EXPECT_EQ(Refusal({"-l", "127.0.0.1", "--node-id", "1", "--peers", "127.0.0.1:1,10.0.0.2:11212"}),
            head + "peer 10.0.0.2:11212 is not a loopback address" + fix);
  EXPECT_EQ(Refusal({"-l", "127.0.0.1", "--node-id", "1", "--peers", "db1.example:11212"}),
            head + "peer db1.example:11212 is not a loopback address" + fix);
  // -s leaves the client port off the network, not the replication port.
  EXPECT_NE(Refusal(With({"-s", dir_ + "/sock"}, kNode)).find("all interfaces"), std::string::npos);
  // --help and --version still answer.
  EXPECT_EQ(Refusal(With({"-h"}, kNode)), "");
  EXPECT_EQ(Refusal(With({"-V"}, kNode)), "");
}

TEST_F(ConfigPeerSecurity, InsecurePeersAllowsIt) {
  Config c = Parse(With({"--insecure-peers"}, kNode));
  EXPECT_TRUE(c.insecure_peers);
  EXPECT_TRUE(c.cluster_secret.empty());
  EXPECT_EQ(Refusal({"-l", "10.0.0.1", "--node-id", "1", "--peers", "10.0.0.2:11212",
                     "--insecure-peers"}),
            "");
  // Also from a config file, as a bare name.
  std::string conf =
      Write("syncached.conf", "node-id = 1\npeers = 10.0.0.2:11212\ninsecure-peers\n");
  c = Parse({"--config", conf});
  EXPECT_TRUE(c.insecure_peers);
  EXPECT_EQ(c.peers, std::vector<std::string>{"10.0.0.2:11212"});
  EXPECT_EQ(Refusal({"--config", Write("no.conf", "node-id = 1\npeers = 10.0.0.2:11212\n")})
                .find("replication without --cluster-secret-file"),
            0u);
}

TEST_F(ConfigPeerSecurity, SecretAllowsItAndIsReadAfterMerging) {
  std::string good = Write("good", "0123456789abcdef-secret\n");
  Config c = Parse(With({"--cluster-secret-file", good}, kNode));
  EXPECT_EQ(c.cluster_secret, "0123456789abcdef-secret");
  EXPECT_EQ(c.cluster_secret_file, good);
  // The command line's file wins over the config file's, and only it is read: the
  // config file may name one that would be refused.
  std::string bad = Write("bad", "0123456789abcdef-other\n", 0644);
  std::string conf = Write("c.conf", "cluster-secret-file = " + bad + "\nnode-id = 2\n");
  c = Parse({"--config", conf, "--cluster-secret-file", good, "--peers", "10.0.0.2:1"});
  EXPECT_EQ(c.cluster_secret, "0123456789abcdef-secret");
  std::string msg = Refusal({"--config", conf, "--peers", "10.0.0.2:1"});
  EXPECT_EQ(msg, "--cluster-secret-file: '" + bad +
                     "' has mode 0644: a secret file must be readable by its owner only (no "
                     "group or other permissions); fix: chmod 600 '" +
                     bad + "'");
  EXPECT_EQ(msg.find("abcdef"), std::string::npos);
}

TEST_F(ConfigPeerSecurity, BadSecretFilesAreRefusedEvenOnLoopback) {
  auto refusal = [&](const std::string& file) {
    return Refusal(With({"-l", "127.0.0.1", "--cluster-secret-file", file}, kNode));
  };
  EXPECT_EQ(refusal(Write("e", "")).find("--cluster-secret-file: '"), 0u);
  EXPECT_NE(refusal(Write("e", "")).find("is empty"), std::string::npos);
  EXPECT_NE(refusal(Write("s", "short\n")).find("is 5 bytes, at least 16"), std::string::npos);
  EXPECT_NE(refusal(Write("m", "0123456789abcdef", 0640)).find("has mode 0640"), std::string::npos);
  EXPECT_NE(refusal(dir_).find("is a directory"), std::string::npos);
  EXPECT_NE(refusal(dir_ + "/missing").find("cannot read"), std::string::npos);
  EXPECT_NE(Refusal({"--cluster-secret-file", ""}).find("a file is required"), std::string::npos);
}

TEST(ConfigMetrics, PortAndAddresses) {
  EXPECT_EQ(Parse({}).metrics_port, 0);  // off unless asked for
  Config c = Parse({"--metrics-port", "9150", "--metrics-addr", "127.0.0.1,::1"});
  EXPECT_EQ(c.metrics_port, 9150);
  EXPECT_EQ(c.metrics_addr, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_NE(Refusal({"--metrics-port", "65536"}).find("--metrics-port"), std::string::npos);
  EXPECT_NE(Refusal({"--metrics-port", "x"}).find("--metrics-port"), std::string::npos);
  EXPECT_NE(Refusal({"--metrics-addr", ""}).find("--metrics-addr"), std::string::npos);
}

TEST(ConfigHelp, DocumentsTheOptions) {
  std::string h = HelpText();
  EXPECT_NE(h.find("--insecure-peers"), std::string::npos);
  EXPECT_NE(h.find("mode 600"), std::string::npos);
  EXPECT_NE(h.find("head -c 32 /dev/urandom | base64"), std::string::npos);
  EXPECT_NE(h.find("--metrics-port"), std::string::npos);
}

// Hidden from --help: only the partition and skew tests give a node a skewed clock.
TEST(ConfigTestClock, OffsetIsSignedMillisecondsWithinADay) {
  EXPECT_EQ(Parse({}).test_clock_offset_ms, 0);
  EXPECT_EQ(Parse({"--test-clock-offset-ms=-4500"}).test_clock_offset_ms, -4500);
  EXPECT_EQ(Parse({"--test-clock-offset-ms", "86400000"}).test_clock_offset_ms, 86400000);
  for (const char* bad : {"", "abc", "12x", "86400001", "-86400001"}) {
    EXPECT_EQ(Refusal({"--test-clock-offset-ms", bad}).find("invalid value for"), 0u) << bad;
  }
  EXPECT_EQ(HelpText().find("test-clock"), std::string::npos);
}

}  // namespace
}  // namespace syncached::server

namespace syncached::server {
namespace {

class ConfigSharding : public TempDirTest {};

// Forwarding connects to the other nodes as a plain client, so R < N is refused with
// client TLS, SASL or -Y; with R = N nothing is forwarded and they stay allowed.
TEST_F(ConfigSharding, ForwardingRefusesClientTlsSaslAndAuthFile) {
  std::string members = Write("members",
                              "1 127.0.0.1:11211 127.0.0.1:11311\n"
                              "2 127.0.0.1:11221 127.0.0.1:11321\n"
                              "3 127.0.0.1:11231 127.0.0.1:11331\n");
  std::vector<std::string> sharded = {
      "-l", "127.0.0.1", "--members", members, "--node-id", "1", "--replication-factor", "2"};
  EXPECT_EQ(Refusal(sharded), "");
  EXPECT_NE(Refusal(With({"-S"}, sharded)).find("SASL (-S)"), std::string::npos);
  EXPECT_NE(Refusal(With({"-Y", members}, sharded)).find("an auth file (-Y)"), std::string::npos);
  std::string tls = Refusal(With({"-Z"}, sharded));
  EXPECT_NE(tls.find("client TLS (-Z)"), std::string::npos) << tls;
  EXPECT_NE(tls.find("--replication-factor 3"), std::string::npos) << tls;
  std::vector<std::string> full = {
      "-l", "127.0.0.1", "--members", members, "--node-id", "1", "--replication-factor", "3"};
  EXPECT_EQ(Refusal(With({"-S"}, full)), "");
}

}  // namespace
}  // namespace syncached::server
