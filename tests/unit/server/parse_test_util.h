// The command line as main() hands it to ParseCommandLine, for option tests.
#pragma once

#include <string>
#include <vector>

#include "server/config.h"

namespace syncached::server {

inline Config Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "syncached");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return ParseCommandLine(static_cast<int>(args.size()), argv.data());
}

// The one-line error ParseCommandLine throws, or "" when it accepts the arguments.
inline std::string Refusal(const std::vector<std::string>& args) {
  try {
    Parse(args);
    return "";
  } catch (const ConfigError& e) {
    return e.what();
  }
}

}  // namespace syncached::server
