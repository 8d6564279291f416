// Peer links secure by default: which addresses count as loopback, and the secret
// file's checks (type, mode, owner, size, length).
#include "server/peer_security.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "temp_dir_test.h"

namespace syncached::server {
namespace {

TEST(PeerSecurity, LoopbackHosts) {
  for (const char* h : {"127.0.0.1", "127.0.0.2", "127.255.255.254", "localhost", "LocalHost",
                        "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(IsLoopbackHost(h)) << h;
  }
}

TEST(PeerSecurity, EverythingElseIsNotLoopback) {
  // Names are not looked up: only "localhost" is trusted to be loopback.
  for (const char* h : {"",
                        "10.0.0.1",
                        "192.168.1.5",
                        "126.255.255.255",
                        "128.0.0.1",
                        "0.0.0.0",
                        "::",
                        "*",
                        "[::]",
                        "::ffff:10.0.0.1",
                        "fe80::1",
                        "db1",
                        "db1.example.com",
                        "localhost.localdomain",
                        "localhost.",
                        "127.0.0.1.example.com",
                        "lo",
                        "eth0",
                        "127.1",
                        "[127.0.0.1]x"}) {
    EXPECT_FALSE(IsLoopbackHost(h)) << h;
  }
}

TEST(PeerSecurity, HostsOfPeersAndListenEntries) {
  EXPECT_EQ(PeerHost("127.0.0.1:11212"), "127.0.0.1");
  EXPECT_EQ(PeerHost("[::1]:11212"), "::1");
  EXPECT_EQ(PeerHost("localhost:1"), "localhost");
  EXPECT_EQ(PeerHost("db1.example:11212"), "db1.example");
  EXPECT_EQ(ListenHost("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(ListenHost("127.0.0.1:11211"), "127.0.0.1");
  EXPECT_EQ(ListenHost("[::1]:11211"), "::1");
  EXPECT_EQ(ListenHost("[::1]"), "::1");
  EXPECT_EQ(ListenHost("::1"), "::1");
  EXPECT_EQ(ListenHost("localhost"), "localhost");
  EXPECT_EQ(ListenHost(":11211"), "");
  // What the replication and metrics ports bind: each host once, ports dropped.
  EXPECT_EQ(ListenHosts({"127.0.0.1", "127.0.0.1:11311", "[::1]:11211", "::1", ":11411"}),
            (std::vector<std::string>{"127.0.0.1", "::1", ""}));
}

TEST(PeerSecurity, ExposureNamesTheFirstNonLoopbackAddress) {
  using V = std::vector<std::string>;
  EXPECT_EQ(ReplicationExposure({"127.0.0.1"}, {"127.0.0.1:11212", "127.0.0.5:11213"}), "");
  EXPECT_EQ(ReplicationExposure({"127.0.0.1", "::1", "localhost"}, {"[::1]:1", "localhost:2"}), "");
  EXPECT_EQ(ReplicationExposure(V{}, {"127.0.0.1:11212"}),
            "the replication port would listen on all interfaces (no -l given)");
  EXPECT_EQ(ReplicationExposure({":11211"}, {"127.0.0.1:11212"}),
            "the replication port would listen on all interfaces (-l :11211)");
  EXPECT_EQ(ReplicationExposure({"127.0.0.1", "10.0.0.1:11211"}, {"127.0.0.1:11212"}),
            "the replication port would listen on 10.0.0.1 (-l), which is not loopback");
  EXPECT_EQ(ReplicationExposure({"0.0.0.0"}, {}),
            "the replication port would listen on 0.0.0.0 (-l), which is not loopback");
  EXPECT_EQ(ReplicationExposure({"127.0.0.1"}, {"127.0.0.1:1", "10.0.0.2:11212"}),
            "peer 10.0.0.2:11212 is not a loopback address");
  EXPECT_EQ(ReplicationExposure({"127.0.0.1"}, {"db1:11212"}),
            "peer db1:11212 is not a loopback address");
}

class SecretFile : public TempDirTest {
 protected:
  // The message of a refusal ("" when the file is accepted).
  std::string Refusal(const std::string& path, std::vector<uid_t> owners = {geteuid()}) {
    std::string secret;
    Status st = ReadSecretFile(path, owners, &secret);
    if (st.ok()) return "";
    EXPECT_TRUE(secret.empty());
    return st.message();
  }
};

constexpr char kSecret[] = "Zq7kp0XwT4-cluster-secret";

TEST_F(SecretFile, AcceptsOwnerOnlyFileAndTrimsTrailingNewlines) {
  for (const char* tail : {"", "\n", "\r\n", "\n\n"}) {
    for (mode_t mode : {0600, 0400, 0700}) {
      std::string path = Write("s", std::string(kSecret) + tail, mode);
      std::string secret;
      ASSERT_TRUE(ReadSecretFile(path, {geteuid()}, &secret).ok()) << tail << " " << mode;
      EXPECT_EQ(secret, kSecret);
      EXPECT_LT(secret.capacity(), 64u);  // sized to the secret, not the read buffer
    }
  }
  // Exactly the minimum; bytes are bytes (binary secrets are fine).
  std::string path =
      Write("s16", std::string("\0\1\2\3\4\5\6\7\x10\x11\x12\x13\x14\x15\x16\x17", 16), 0600);
  std::string secret;
  ASSERT_TRUE(ReadSecretFile(path, {geteuid()}, &secret).ok());
  EXPECT_EQ(secret.size(), 16u);
}

TEST_F(SecretFile, RefusesGroupOrOtherPermissions) {
  for (mode_t mode : {0644, 0640, 0604, 0660, 0610, 0601, 0666}) {
    std::string path = Write("s", kSecret, mode);
    std::string msg = Refusal(path);
    char want[8];
    snprintf(want, sizeof want, "%04o", static_cast<unsigned>(mode));
    EXPECT_NE(msg.find("has mode " + std::string(want)), std::string::npos) << msg;
    EXPECT_NE(msg.find("chmod 600 '" + path + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_EQ(msg.find(kSecret), std::string::npos) << msg;
  }
}

TEST_F(SecretFile, RefusesWhatIsNotARegularFile) {
  EXPECT_NE(Refusal(dir_).find("is a directory, not a regular file"), std::string::npos)
      << Refusal(dir_);
  std::string link = dir_ + "/to-dir";
  ASSERT_EQ(symlink(dir_.c_str(), link.c_str()), 0);
  EXPECT_NE(Refusal(link).find("is a symlink to a directory"), std::string::npos) << Refusal(link);
  std::string fifo = dir_ + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_NE(Refusal(fifo).find("is a FIFO"), std::string::npos) << Refusal(fifo);  // no blocking
  EXPECT_NE(Refusal("/dev/null").find("is a character device"), std::string::npos);
  // A symlink to a good regular file is fine (e.g. a mounted secret's ..data link).
  std::string target = Write("real", kSecret, 0600);
  std::string to_file = dir_ + "/to-file";
  ASSERT_EQ(symlink(target.c_str(), to_file.c_str()), 0);
  EXPECT_EQ(Refusal(to_file), "");
}

TEST_F(SecretFile, RefusesMissingEmptyShortAndHugeFiles) {
  std::string missing = dir_ + "/nope";
  EXPECT_NE(Refusal(missing).find("cannot read '" + missing + "': No such file"), std::string::npos)
      << Refusal(missing);
  for (const char* empty : {"", "\n", "\r\n"}) {
    std::string path = Write("empty", empty, 0600);
    EXPECT_EQ(Refusal(path), "'" + path +
                                 "' is empty; generate a secret: head -c 32 /dev/urandom | "
                                 "base64 > '" +
                                 path + "'");
  }
  std::string path = Write("short", "Zq7kp0XwT4-ab15\n", 0600);  // 15 bytes
  std::string msg = Refusal(path);
  EXPECT_EQ(msg, "the secret in '" + path +
                     "' is 15 bytes, at least 16 are needed; generate one: head -c 32 "
                     "/dev/urandom | base64 > '" +
                     path + "'");
  EXPECT_EQ(msg.find("Zq7kp"), std::string::npos);
  std::string huge = Write("huge", std::string(kMaxSecretFileBytes + 1, 'x'), 0600);
  EXPECT_NE(Refusal(huge).find("larger than 64 KiB"), std::string::npos) << Refusal(huge);
  EXPECT_EQ(Refusal(Write("max", std::string(kMaxSecretFileBytes, 'x'), 0600)), "");
}

TEST_F(SecretFile, RefusesAFileOwnedBySomeoneElse) {
  std::string path = Write("s", kSecret, 0600);
  uid_t other = geteuid() + 4242;
  std::string msg = Refusal(path, {other});
  EXPECT_NE(msg.find("is owned by"), std::string::npos) << msg;
  EXPECT_NE(msg.find("uid " + std::to_string(geteuid())), std::string::npos) << msg;
  EXPECT_NE(msg.find("uid " + std::to_string(other)), std::string::npos) << msg;
  EXPECT_NE(msg.find("chown "), std::string::npos) << msg;
  EXPECT_EQ(Refusal(path, {other, geteuid()}), "");  // e.g. root started with -u
  EXPECT_EQ(Refusal(path, {}), "");                  // no owner rule
}

}  // namespace
}  // namespace syncached::server
