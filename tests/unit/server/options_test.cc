// The option table (server/options.h) is the one source of getopt's tables, the
// application of each option and --help: these check that the rows are consistent and
// that what is generated from them keeps memcached's forms.
#include "server/options.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "parse_test_util.h"
#include "server/config.h"
#include "temp_dir_test.h"

namespace syncached::server {
namespace {

TEST(OptionTable, RowsAreConsistent) {
  std::set<char> letters;
  std::set<std::string> names;
  for (const Option& o : Options()) {
    SCOPED_TRACE(Label(o));
    ASSERT_TRUE(o.letter || o.name);
    ASSERT_NE(o.action.apply, nullptr);
    if (o.letter) {
      EXPECT_TRUE(letters.insert(o.letter).second);
    }
    if (o.name) {
      EXPECT_TRUE(names.insert(o.name).second);
    }
    // --help shows a value exactly when the option requires one.
    EXPECT_EQ(o.value != nullptr, o.action.takes == Takes::kValue);
    EXPECT_TRUE(o.subs.empty() || o.help);
  }
  EXPECT_TRUE(names.count("config"));  // ParseCommandLine skips it in a file
  EXPECT_TRUE(names.count("protocol"));
}

TEST(OptionTable, HelpListsEveryRowButTheHiddenOne) {
  std::string help = HelpText();
  for (const Option& o : Options()) {
    if (!o.help) {
      EXPECT_STREQ(o.name, "test-clock-offset-ms");
      continue;
    }
    if (o.letter) {
      EXPECT_NE(help.find(std::string("\n  -") + o.letter), std::string::npos) << Label(o);
    }
    if (o.name) {
      EXPECT_NE(help.find(std::string("--") + o.name), std::string::npos) << o.name;
    }
    for (const SubOption& s : o.subs) {
      if (s.help) {
        EXPECT_NE(help.find(std::string("\n        ") + s.name), std::string::npos) << s.name;
      }
    }
  }
}

// The layout packaging/gen_manpage.cc turns into the man page: headings in column 0,
// options in 2, sub-options in 8, notes in 6, continued text in 28.
TEST(OptionTable, HelpKeepsTheManPageLayout) {
  std::istringstream in(HelpText());
  std::string line;
  bool started = false;
  while (std::getline(in, line)) {
    if (!started) {
      started = line.starts_with("usage:");
      continue;
    }
    if (line.empty()) continue;
    size_t indent = line.find_first_not_of(' ');
    EXPECT_TRUE(indent == 0 || indent == 2 || indent == 6 || indent == 8 || indent == 28) << line;
    EXPECT_LE(line.size(), 100u) << line;
    if (indent == 0) {
      EXPECT_EQ(line.back(), ':') << line;
    }
    if (indent == 2) {
      EXPECT_EQ(line[2], '-') << line;
    }
  }
  EXPECT_TRUE(started);
  std::string help = HelpText();
  EXPECT_NE(help.find("\n  -p, --port=<num>          TCP port to listen on"), std::string::npos);
  EXPECT_NE(help.find("\n  -D <char>                 accepted;"), std::string::npos);
  EXPECT_NE(help.find("\n  --sync-timeout-mode=ack|close  on timeout:"), std::string::npos);
  EXPECT_NE(help.find("\n        hashpower=<n>       initial hash table size"), std::string::npos);
  EXPECT_NE(help.find("\n                            free port; MEMCACHED_PORT_FILENAME"),
            std::string::npos);
  EXPECT_NE(help.find("\n      `refresh_certs` and SIGHUP"), std::string::npos);
}

TEST(OptionTable, LongNamesActAsTheirLetters) {
  Config s = Parse({"-t", "3", "-c", "99", "-m", "100", "-B", "ascii", "-M", "-vv", "-o",
                    "hashpower=20,no_lru_crawler"});
  Config l =
      Parse({"--threads=3", "--conn-limit", "99", "--memory-limit=100", "--protocol=ascii",
             "--disable-evictions", "--verbose=v", "--extended=hashpower=20,no_lru_crawler"});
  for (const Config* c : {&s, &l}) {
    EXPECT_EQ(c->engine.num_threads, 3u);
    EXPECT_EQ(c->engine.maxconns, 99u);
    EXPECT_EQ(c->engine.maxbytes, 100ull << 20);
    EXPECT_EQ(c->engine.binding_protocol, "ascii");
    EXPECT_FALSE(c->engine.evictions);
    EXPECT_EQ(c->engine.runtime.verbosity.load(), 2u);
    EXPECT_EQ(c->hashpower, 20u);
    EXPECT_FALSE(c->engine.runtime.lru_crawler.load());
  }
  EXPECT_EQ(Refusal({"--threads=0"}), "invalid value for -t: '0' (expected 1..256)");
}

// getopt reports a long option's own val as optopt; a long-only option's val is no
// letter, and the message once printed a stray byte for it.
TEST(OptionTable, MissingValueNamesTheOption) {
  EXPECT_EQ(Refusal({"-p"}), "option -p requires a value");
  EXPECT_EQ(Refusal({"--port"}), "option -p requires a value");
  EXPECT_EQ(Refusal({"--node-id"}), "option --node-id requires a value");
  EXPECT_EQ(Refusal({"--ring-key-prefix"}), "option --ring-key-prefix requires a value");
  EXPECT_EQ(Refusal({"--insecure-peers=1"}), "unknown option --insecure-peers (see --help)");
  EXPECT_EQ(Refusal({"-Q"}), "unknown option -Q (see --help)");
  EXPECT_EQ(Refusal({"--bogus=1"}), "unknown option --bogus=1 (see --help)");
}

TEST(OptionTable, KindsKeepTheirMessages) {
  EXPECT_EQ(Refusal({"--backlog-size", "1k"}),
            "invalid value for --backlog-size: '1k' (1048576 to 1099511627776 bytes)");
  EXPECT_EQ(Refusal({"--join-mode", "x"}), "--join-mode: refuse or error, got 'x'");
  EXPECT_EQ(Refusal({"--fsync", ""}), "--fsync: always, everysec or no, got ''");
  EXPECT_EQ(Refusal({"--data-dir", ""}), "--data-dir: a directory is required");
  EXPECT_EQ(Refusal({"-e", ""}), "-e: the memory file needs a path");
  EXPECT_EQ(Refusal({"-f", "1.0"}), "invalid value for -f: '1.0'");
  EXPECT_EQ(Refusal({"-o", "hashpower=40"}), "invalid value for -o: '40' (expected 12..32)");
  EXPECT_EQ(Refusal({"-o", "ssl_key"}), "Missing ssl_key argument");
  EXPECT_EQ(Refusal({"-o", "ext_path=/x"}),
            "-o ext_path: extstore options are not supported by syncached");
  EXPECT_EQ(Refusal({"-o", "slab_automove=1,bogus"}), "Illegal suboption \"bogus\"");
  Config c = Parse({"--fsync", "always", "--join-mode", "error", "--sync-timeout-mode", "close",
                    "--join-timeout", "7", "-o", "watcher_logbuf_size=8"});
  EXPECT_EQ(c.fsync, persistence::FsyncPolicy::kAlways);
  EXPECT_FALSE(c.join_refuse);
  EXPECT_TRUE(c.sync_timeout_close);
  EXPECT_EQ(c.join_timeout_ms, 7000u);
  EXPECT_EQ(c.engine.watcher_logbuf_size, 8u << 10);
}

class OptionTableFile : public TempDirTest {};

// A memcached.conf's letters and a syncached.conf's names go through the same rows.
TEST_F(OptionTableFile, ConfigFileUsesTheSameRows) {
  std::string conf = Write("c.conf",
                           "-d\n-m 100\n-vv\n-o no_modern\nlisten-backlog = 55\n"
                           "config = /nonexistent\nfsync = no\n");
  Config c = Parse({"--config", conf, "-t", "3"});
  EXPECT_FALSE(c.daemonize);  // ignored in a file, as Debian's wrapper does
  EXPECT_EQ(c.engine.maxbytes, 100ull << 20);
  EXPECT_EQ(c.engine.runtime.verbosity.load(), 2u);
  EXPECT_FALSE(c.engine.runtime.lru_crawler.load());
  EXPECT_FALSE(c.engine.lru_maintainer);
  EXPECT_EQ(c.engine.tcp_backlog, 55u);
  EXPECT_EQ(c.config_file, conf);  // a file's own --config is skipped
  EXPECT_EQ(c.fsync, persistence::FsyncPolicy::kNo);
  EXPECT_EQ(c.engine.num_threads, 3u);
  EXPECT_EQ(Refusal({"--config", Write("bad.conf", "node-id\n")}),
            "--config " + dir_ + "/bad.conf:1: option --node-id requires a value");
}

}  // namespace
}  // namespace syncached::server
