// The --config file: one reader for two formats, so that an operator's Debian
// /etc/memcached.conf works unchanged as /etc/syncached.conf (docs/OPERATIONS.md) and the
// "name = value" files of earlier syncached releases keep working.
//
//   -m 64                    memcached.conf: a line starting with '-' holds command-line
//   -l 127.0.0.1             words, split as a shell would (quotes, backslashes);
//   --node-id 1              short and long options alike, several per line allowed
//   logfile /var/log/x.log   Debian's wrapper keyword: the same as --log-file
//   node-id = 1              "name = value", "name value" or "name": a long option
//   insecure-peers           without its dashes
//   # comment                from an unquoted, unescaped '#' to the end of the line
//
// As Debian's systemd-memcached-wrapper does, -d/--daemon (the service manager runs
// the process) and -h/--help are ignored in a file; on the command line they keep
// their meaning. Pure parsing, no option semantics: ParseCommandLine applies the
// words. Called once at start from one thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace syncached::server {

struct ConfigLine {
  int lineno = 0;                  // 1-based, for error messages
  std::vector<std::string> words;  // argv words, e.g. {"-m", "64"} or {"--log-file", "x"}
};

// The words of every line that holds any. Throws ConfigError naming `origin` and the
// line ("FILE:3: unterminated quote").
std::vector<ConfigLine> ParseConfigText(std::string_view text, const std::string& origin);

// Reads and parses the file at `path`. Throws ConfigError.
std::vector<ConfigLine> ReadConfigFile(const std::string& path);

}  // namespace syncached::server
