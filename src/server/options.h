// The table of command-line options (options.cc): one row per option says its letter,
// its long name, its value and range (option_kinds.h), the field it sets and its --help
// text. config.cc builds getopt's tables, applies the options and writes --help (and so
// the man page, which the build makes from --help) from the rows alone, so a new option
// is one row plus the field it sets. Immutable; any thread. A row:
//
//   {'m', "memory-limit", "<num>", Unsigned<&Settings::maxbytes>(1, 1ull << 30, 1ull << 20),
//    "item memory in megabytes (default: 64)"},
//
// -m and --memory-limit=N, a decimal 1..2^30 stored times 2^20, and --help's line.
//
// Invariant: short letters are memcached's; syncached's own options have long names only
// (--help lists them apart on that basis).
#pragma once

#include <span>
#include <string>

#include "server/option_kinds.h"

namespace syncached::server {

// An -o sub-option: "name" or "name=value" (the value reaches the action as `arg`,
// nullptr without '=').
struct SubOption {
  const char* name;
  const char* value;  // the value as --help shows it ("<n>"); nullptr: none
  Action action;
  const char* help;  // --help's text, lines split by '\n'; nullptr: not listed
};

struct Option {
  char letter;        // memcached's short flag; 0: a long name only
  const char* name;   // --name; nullptr: the letter only (-D)
  const char* value;  // the value as --help shows it ("<num>"); nullptr: none
  Action action;
  const char* help;                      // --help's text, lines split by '\n'; nullptr: not listed
  std::span<const SubOption> subs = {};  // -o's: listed under it in --help
  const char* note = nullptr;            // --help: a paragraph after the sub-options
};

std::span<const Option> Options();

// "-m" for an option with a letter (whether given as -m or --memory-limit, as memcached
// names it), else "--name".
std::string Label(const Option& o);

}  // namespace syncached::server
