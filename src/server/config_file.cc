#include "server/config_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "server/config.h"

namespace syncached::server {
namespace {

[[noreturn]] void FailAt(const std::string& origin, int lineno, const std::string& what) {
  throw ConfigError("--config " + origin + ":" + std::to_string(lineno) + ": " + what);
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// A '-' line: words as sh splits them (what Debian's wrapper hands to sh): blanks
// separate, '...' is literal, "..." takes \" and \\, a backslash outside quotes escapes
// the next character, and an unquoted '#' ends the line (the wrapper strips it anywhere).
std::vector<std::string> SplitWords(std::string_view line, const std::string& origin, int lineno) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (IsSpace(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    if (c == '#') break;
    in_word = true;
    if (c == '\\' && i + 1 < line.size()) {
      word += line[++i];
    } else if (c == '\'' || c == '"') {
      size_t j = i + 1;
      for (; j < line.size() && line[j] != c; ++j) {
        if (c == '"' && line[j] == '\\' && j + 1 < line.size() &&
            (line[j + 1] == '"' || line[j + 1] == '\\')) {
          ++j;
        }
        word += line[j];
      }
      if (j == line.size()) FailAt(origin, lineno, std::string("unterminated ") + c + " quote");
      i = j;
    } else {
      word += c;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

// The end of a keyword line's content: its first '#' outside quotes.
std::string_view StripComment(std::string_view line) {
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '#') {
      return line.substr(0, i);
    }
  }
  return line;
}

// "name = value", "name value", "name": the long option --name and its value, which
// runs to the end of the line (one layer of matching quotes around it is removed).
std::vector<std::string> KeywordWords(std::string_view line, const std::string& origin,
                                      int lineno) {
  line = Trim(StripComment(line));
  size_t n = 0;
  while (n < line.size() && IsNameChar(line[n])) ++n;
  std::string name(line.substr(0, n));
  std::string_view rest = line.substr(n);
  if (name.empty() || (!rest.empty() && !IsSpace(rest.front()) && rest.front() != '=')) {
    FailAt(origin, lineno,
           "expected '-option value' (as in memcached.conf), 'name = value' or 'name'");
  }
  rest = Trim(rest);
  bool has_value = !rest.empty();
  if (!rest.empty() && rest.front() == '=') rest = Trim(rest.substr(1));
  if (rest.size() >= 2 && (rest.front() == '"' || rest.front() == '\'') &&
      rest.back() == rest.front()) {
    rest = rest.substr(1, rest.size() - 2);
  }
  // Debian's systemd-memcached-wrapper's own keyword: where memcached's output goes.
  if (name == "logfile") name = "log-file";
  std::vector<std::string> words = {"--" + name};
  if (has_value) words.emplace_back(rest);
  return words;
}

// Daemonizing is the service manager's job and help is not a setting: Debian's wrapper
// drops -d and -h lines from memcached.conf (whose shipped copy has "-d"), and so do we.
bool IgnoredInFile(const std::string& word) {
  return word == "-d" || word == "--daemon" || word == "-h" || word == "--help";
}

}  // namespace

std::vector<ConfigLine> ParseConfigText(std::string_view text, const std::string& origin) {
  std::vector<ConfigLine> lines;
  int lineno = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++lineno;
    std::string_view content = Trim(line);
    if (content.empty() || content.front() == '#') continue;
    std::vector<std::string> words = content.front() == '-' ? SplitWords(content, origin, lineno)
                                                            : KeywordWords(content, origin, lineno);
    ConfigLine out;
    out.lineno = lineno;
    for (std::string& w : words) {
      if (!IgnoredInFile(w)) out.words.push_back(std::move(w));
    }
    if (!out.words.empty()) lines.push_back(std::move(out));
  }
  return lines;
}

std::vector<ConfigLine> ReadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("--config: cannot read '" + path + "': " + strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw ConfigError("--config: cannot read '" + path + "': " + strerror(errno));
  return ParseConfigText(ss.str(), path);
}

}  // namespace syncached::server
