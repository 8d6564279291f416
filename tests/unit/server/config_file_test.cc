// The --config reader (config_file.h): Debian's /etc/memcached.conf as shipped, the
// "name = value" files of earlier releases, shell-style quoting, errors with line
// numbers, and the files the package ships (packaging/).
#include "server/config_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "server/config.h"
#include "temp_dir_test.h"

namespace syncached::server {
namespace {

using Words = std::vector<std::string>;

std::vector<Words> WordsOf(const std::string& text) {
  std::vector<Words> out;
  for (const ConfigLine& l : ParseConfigText(text, "test.conf")) out.push_back(l.words);
  return out;
}

std::string ErrorOf(const std::string& text) {
  try {
    ParseConfigText(text, "test.conf");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// Debian 12's /etc/memcached.conf (memcached 1.6.18-1), byte for byte.
const char kDebianMemcachedConf[] = R"(# memcached default config file
# 2003 - Jay Bonci <jaybonci@debian.org>
# This configuration file is read by the start-memcached script provided as
# part of the Debian GNU/Linux distribution.

# Run memcached as a daemon. This command is implied, and is not needed for the
# daemon to run. See the README.Debian that comes with this package for more
# information.
-d

# Log memcached's output to /var/log/memcached
logfile /var/log/memcached.log

# Be verbose
# -v

# Be even more verbose (print client commands as well)
# -vv

# Start with a cap of 64 megs of memory. It's reasonable, and the daemon default
# Note that the daemon will grow to this size, but does not start out holding this much
# memory
-m 64

# Default connection port is 11211
-p 11211

# Run the daemon as root. The start-memcached will default to running as root if no
# -u command is present in this config file
-u memcache

# Specify which IP address to listen on. The default is to listen on all IP addresses
# This parameter is one of the only security measures that memcached has, so make sure
# it's listening on a firewalled interface.
-l 127.0.0.1

# Limit the number of simultaneous incoming connections. The daemon default is 1024
# -c 1024

# Lock down all paged memory. Consult with the README and homepage before you do this
# -k

# Return error when memory is exhausted (rather than removing items)
# -M

# Maximize core file limit
# -r

# Use a pidfile
-P /var/run/memcached/memcached.pid
)";

TEST(ConfigFile, DebianMemcachedConfAsShipped) {
  std::vector<ConfigLine> lines = ParseConfigText(kDebianMemcachedConf, "memcached.conf");
  std::vector<Words> words;
  for (const ConfigLine& l : lines) words.push_back(l.words);
  // -d is dropped (as Debian's wrapper does); logfile is --log-file.
  EXPECT_EQ(words, (std::vector<Words>{{"--log-file", "/var/log/memcached.log"},
                                       {"-m", "64"},
                                       {"-p", "11211"},
                                       {"-u", "memcache"},
                                       {"-l", "127.0.0.1"},
                                       {"-P", "/var/run/memcached/memcached.pid"}}));
  EXPECT_EQ(lines[0].lineno, 12);
  EXPECT_EQ(lines[1].lineno, 23);
}

TEST(ConfigFile, NameValueLinesAsBefore) {
  EXPECT_EQ(WordsOf("node-id = 1\npeers=127.0.0.1:1,127.0.0.1:2\ninsecure-peers\n"
                    "  join-timeout   7  \ncluster-name = \"shop\"  # comment\n"),
            (std::vector<Words>{{"--node-id", "1"},
                                {"--peers", "127.0.0.1:1,127.0.0.1:2"},
                                {"--insecure-peers"},
                                {"--join-timeout", "7"},
                                {"--cluster-name", "shop"}}));
  EXPECT_EQ(
      WordsOf("log-file = /var/log/a.log\nlogfile=/var/log/b.log\n"),
      (std::vector<Words>{{"--log-file", "/var/log/a.log"}, {"--log-file", "/var/log/b.log"}}));
}

TEST(ConfigFile, OptionLinesSplitLikeTheShell) {
  EXPECT_EQ(WordsOf("-m 64 -c 10\n-vv\n--node-id=3\n--node-id 4\n-m64\n"),
            (std::vector<Words>{
                {"-m", "64", "-c", "10"}, {"-vv"}, {"--node-id=3"}, {"--node-id", "4"}, {"-m64"}}));
  EXPECT_EQ(WordsOf("--log-file '/var/log/a b.log' # where\n"
                    "-l \"127.0.0.1\"#no space needed\n"
                    "-o idle_timeout=5,hashpower=20\n"
                    "-P /tmp/a\\ b\\#c\n"
                    "-Y \"/etc/x \\\"q\\\" \\\\ y\"\n"
                    "-a ''\n"),
            (std::vector<Words>{{"--log-file", "/var/log/a b.log"},
                                {"-l", "127.0.0.1"},
                                {"-o", "idle_timeout=5,hashpower=20"},
                                {"-P", "/tmp/a b#c"},
                                {"-Y", "/etc/x \"q\" \\ y"},
                                {"-a", ""}}));
  // Blank and comment lines, CRLF endings, no final newline.
  EXPECT_EQ(WordsOf("\n   \n\t# x\r\n-p 1\r\n#\n-U 0"),
            (std::vector<Words>{{"-p", "1"}, {"-U", "0"}}));
}

TEST(ConfigFile, DaemonAndHelpAreIgnoredInAFile) {
  EXPECT_EQ(WordsOf("-d\n--daemon\ndaemon\n-h\nhelp\n-m 1 -d\n"),
            (std::vector<Words>{{"-m", "1"}}));
}

TEST(ConfigFile, ErrorsNameTheFileAndLine) {
  EXPECT_EQ(ErrorOf("-m 1\n-l '127.0.0.1\n"), "--config test.conf:2: unterminated ' quote");
  EXPECT_EQ(ErrorOf("\n\n= 5\n"),
            "--config test.conf:3: expected '-option value' (as in memcached.conf), "
            "'name = value' or 'name'");
  EXPECT_NE(ErrorOf("node-id: 1\n"), "");
  EXPECT_EQ(ErrorOf("-m 1\nnode-id = 1\n"), "");
}

class ConfigFileParse : public TempDirTest {
 protected:
  static Config Parse(std::vector<std::string> args) {
    args.insert(args.begin(), "syncached");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    return ParseCommandLine(static_cast<int>(args.size()), argv.data());
  }
  static std::string Refusal(const std::vector<std::string>& args) {
    try {
      Parse(args);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }
};

TEST_F(ConfigFileParse, DebianMemcachedConfStartsAServerAsIntended) {
  std::string conf = Write("memcached.conf", kDebianMemcachedConf, 0644);
  Config c = Parse({"--config", conf});
  EXPECT_EQ(c.engine.maxbytes, 64ull << 20);
  EXPECT_EQ(c.engine.tcpport, 11211u);
  EXPECT_EQ(c.user, "memcache");
  EXPECT_EQ(c.listen, std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(c.pid_file, "/var/run/memcached/memcached.pid");
  EXPECT_EQ(c.log_file, "/var/log/memcached.log");
  EXPECT_FALSE(c.daemonize);
  // The command line wins, in any order; -d there still daemonizes.
  c = Parse({"-p", "5", "--config", conf, "--log-file", "/tmp/x.log", "-d"});
  EXPECT_EQ(c.engine.tcpport, 5u);
  EXPECT_EQ(c.log_file, "/tmp/x.log");
  EXPECT_TRUE(c.daemonize);
}

TEST_F(ConfigFileParse, BadOptionsInAFileNameTheLine) {
  // The command line's message, after the file and line.
  EXPECT_EQ(Refusal({"--config", Write("a.conf", "-m 64\n\n-m lots\n")}),
            "--config " + dir_ + "/a.conf:3: " + Refusal({"-m", "lots"}));
  EXPECT_EQ(Refusal({"--config", Write("b.conf", "# x\n--nope 1\n")}),
            "--config " + dir_ + "/b.conf:2: unknown option --nope (see --help)");
  EXPECT_EQ(Refusal({"--config", Write("c.conf", "-m\n")}),
            "--config " + dir_ + "/c.conf:1: option -m requires a value");
  EXPECT_EQ(Refusal({"--config", Write("d.conf", "-m 1 stray\n")}),
            "--config " + dir_ + "/d.conf:1: unexpected argument 'stray'");
  EXPECT_EQ(Refusal({"--config", dir_ + "/missing.conf"}),
            "--config: cannot read '" + dir_ + "/missing.conf': No such file or directory");
}

TEST_F(ConfigFileParse, LogFileOption) {
  EXPECT_EQ(Parse({"--log-file", "/var/log/syncached/a.log"}).log_file, "/var/log/syncached/a.log");
  EXPECT_EQ(Parse({}).log_file, "");
  EXPECT_EQ(Refusal({"--log-file", ""}), "--log-file: a file is required");
}

// The files the Debian package installs, parsed as the service would parse them.
TEST_F(ConfigFileParse, ShippedConfigFiles) {
  const std::string src = SYNCACHED_SOURCE_DIR;
  Config c = Parse({"--config", src + "/packaging/syncached.conf"});
  EXPECT_EQ(c.engine.maxbytes, 64ull << 20);
  EXPECT_EQ(c.engine.tcpport, 11211u);
  EXPECT_EQ(c.listen, std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(c.data_dir, "/var/lib/syncached");
  EXPECT_TRUE(c.peers.empty());
  EXPECT_TRUE(c.log_file.empty());
  // The cluster examples need their secret file; the command line's stands in for it.
  std::string secret = Write("secret", "0123456789abcdef0123456789abcdef\n");
  for (int node = 1; node <= 3; ++node) {
    SCOPED_TRACE(node);
    std::string conf = src + "/packaging/examples/cluster/node" + std::to_string(node) + ".conf";
    c = Parse({"--config", conf, "--cluster-secret-file", secret});
    EXPECT_EQ(c.node_id, node);
    EXPECT_EQ(c.listen, std::vector<std::string>{"10.0.0." + std::to_string(node)});
    EXPECT_EQ(c.peers.size(), 2u);
    for (const std::string& p : c.peers) {
      EXPECT_EQ(p.find("10.0.0." + std::to_string(node) + ":"), std::string::npos) << p;
    }
    EXPECT_EQ(c.cluster_name, "sessions");
    EXPECT_EQ(c.data_dir, "/var/lib/syncached");
    // Without the secret such a node is refused: the examples need one.
    EXPECT_EQ(Refusal({"--config", conf}).find("--cluster-secret-file: cannot read"), 0u);
  }
}

// Debian's pristine copy, when the memcached package is installed (it is in CI).
TEST_F(ConfigFileParse, InstalledDebianMemcachedConf) {
  const char* kPristine = "/usr/share/memcached/memcached.conf.default";
  if (access(kPristine, R_OK) != 0) GTEST_SKIP() << kPristine << " not installed";
  std::ifstream in(kPristine);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, kDebianMemcachedConf);  // the copy above is Debian's
  Config c = Parse({"--config", kPristine});
  EXPECT_EQ(c.engine.maxbytes, 64ull << 20);
  EXPECT_EQ(c.listen, std::vector<std::string>{"127.0.0.1"});
  EXPECT_FALSE(c.daemonize);
}

}  // namespace
}  // namespace syncached::server
