// Build-time tool: turns `syncached --help` (stdin) into the OPTIONS of syncached(1),
// inserted at @HELP@ in the roff template (argv[1]), with @PROJECT_VERSION@ = argv[2];
// the page goes to stdout. So the man page's option list is the binary's own.
//
// The help text's layout (src/server/config.cc HelpText): "heading:" lines start in
// column 0; an option starts in column 2 ("  -p, --port=<num>   description"); its
// description goes on in lines indented 20+; -o's sub-options are indented 8 and a
// note under them 6. A line that fits none of these fails the build, so a change to
// that layout is noticed here rather than shipped as a garbled page.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Item {
  std::string name, text;
};
struct Entry {
  std::string heading;  // a .SS line instead of an option when non-empty
  Item option;
  std::vector<Item> subs;
  std::string note;
};

std::string Roff(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\')
      out += "\\e";
    else if (c == '-')
      out += "\\-";
    else
      out += c;
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out = "\\&" + out;
  return out;
}

void Append(std::string* to, const std::string& text) {
  if (!to->empty()) *to += ' ';
  *to += text;
}

// "-p, --port=<num>   TCP port ..." -> name and text. The name ends at two blanks, or
// (when a long name leaves one) at the first word that is not an option or <arg>.
Item Split(const std::string& s) {
  size_t gap = s.find("  ");
  if (gap == std::string::npos) {
    size_t pos = 0;
    while (pos < s.size() && (s[pos] == '-' || s[pos] == '<')) {
      size_t sp = s.find(' ', pos);
      if (sp == std::string::npos) return {s, ""};
      pos = sp + 1;
    }
    gap = pos == 0 ? s.size() : pos - 1;
  }
  size_t text = s.find_first_not_of(' ', gap);
  return {s.substr(0, gap), text == std::string::npos ? "" : s.substr(text)};
}

bool Parse(std::istream& in, std::vector<Entry>* entries) {
  std::string line;
  bool started = false;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!started) {
      started = line.rfind("usage:", 0) == 0;
      continue;
    }
    if (line.empty()) continue;
    size_t indent = line.find_first_not_of(' ');
    std::string body = line.substr(indent);
    Entry* last = entries->empty() ? nullptr : &entries->back();
    bool in_option = last && last->heading.empty();
    if (indent == 0 && body.back() == ':') {
      entries->push_back({body.substr(0, body.size() - 1), {}, {}, ""});
    } else if (indent == 2 && body[0] == '-' && last) {
      entries->push_back({"", Split(body), {}, ""});
    } else if (indent >= 20 && in_option) {
      Append(last->subs.empty() ? &last->option.text : &last->subs.back().text, body);
    } else if (indent == 8 && in_option && last->note.empty()) {
      last->subs.push_back(Split(body));
    } else if (indent == 6 && in_option) {
      Append(&last->note, body);
    } else {
      std::cerr << "gen_manpage: help line " << lineno << " fits no known layout: " << line << "\n";
      return false;
    }
  }
  if (entries->empty()) std::cerr << "gen_manpage: no options after the usage line\n";
  return !entries->empty();
}

std::string Render(const std::vector<Entry>& entries) {
  std::ostringstream o;
  for (const Entry& e : entries) {
    if (!e.heading.empty()) {
      o << ".SS " << Roff(e.heading) << "\n";
      continue;
    }
    o << ".TP\n\\fB" << Roff(e.option.name) << "\\fR\n" << Roff(e.option.text) << "\n";
    if (e.subs.empty() && e.note.empty()) continue;
    o << ".RS\n";
    for (const Item& s : e.subs)
      o << ".TP\n\\fB" << Roff(s.name) << "\\fR\n" << Roff(s.text) << "\n";
    if (!e.note.empty()) o << ".PP\n" << Roff(e.note) << "\n";
    o << ".RE\n";
  }
  std::string out = o.str();
  out.pop_back();  // the template's line break follows @HELP@
  return out;
}

void Replace(std::string* s, const std::string& from, const std::string& to) {
  for (size_t pos = s->find(from); pos != std::string::npos; pos = s->find(from, pos + to.size()))
    s->replace(pos, from.size(), to);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: syncached --help | gen_manpage TEMPLATE VERSION > syncached.1\n";
    return 2;
  }
  std::ifstream t(argv[1]);
  if (!t) {
    std::cerr << "gen_manpage: cannot read " << argv[1] << "\n";
    return 1;
  }
  std::stringstream page;
  page << t.rdbuf();
  std::vector<Entry> entries;
  if (!Parse(std::cin, &entries)) return 1;
  std::string out = page.str();
  Replace(&out, "@HELP@", Render(entries));
  Replace(&out, "@PROJECT_VERSION@", argv[2]);
  std::cout << out;
  return std::cout.good() ? 0 : 1;
}
