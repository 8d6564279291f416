#include "metrics/exposition.h"

#include <charconv>
#include <cmath>

namespace syncached::metrics {
namespace {

// Label values escape \ " and newline; HELP escapes \ and newline (format 0.0.4).
void Escape(std::string_view s, bool quote, std::string* out) {
  for (char c : s) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (quote && c == '"') {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

void AppendValue(double v, std::string* out) {
  if (std::isnan(v)) {
    out->append("NaN");
  } else if (std::isinf(v)) {
    out->append(v > 0 ? "+Inf" : "-Inf");
  } else {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest exact form: 42, 0.25, 1e+21
    out->append(buf, r.ptr);
  }
}

}  // namespace

void Exposition::Add(std::string_view name, Type type, std::string_view help, double value,
                     std::initializer_list<Label> labels) {
  Family& f = families_.try_emplace(name, Family{type, help, {}}).first->second;
  std::string l;
  for (const Label& label : labels) {
    if (!l.empty()) l.push_back(',');
    l.append(label.first);
    l.append("=\"");
    Escape(label.second, true, &l);
    l.push_back('"');
  }
  f.samples.emplace_back(std::move(l), value);
}

void Exposition::Write(std::string* out) const {
  for (const auto& [name, f] : families_) {
    out->append("# HELP ").append(name).push_back(' ');
    Escape(f.help, false, out);
    out->append("\n# TYPE ")
        .append(name)
        .append(f.type == Type::kCounter ? " counter\n" : " gauge\n");
    for (const auto& [labels, value] : f.samples) {
      out->append(name);
      if (!labels.empty()) out->append("{").append(labels).push_back('}');
      out->push_back(' ');
      AppendValue(value, out);
      out->push_back('\n');
    }
  }
}

StatList ParseStatLines(std::string_view text) {
  StatList out;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.substr(0, 5) != "STAT ") continue;
    line.remove_prefix(5);
    size_t space = line.find(' ');
    if (space == std::string_view::npos || space == 0) continue;
    out.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  return out;
}

const std::string_view* Find(const StatList& stats, std::string_view name) {
  for (const auto& [n, v] : stats) {
    if (n == name) return &v;
  }
  return nullptr;
}

bool Number(std::string_view value, double* out) {
  if (value.empty()) return false;
  const char* end = value.data() + value.size();
  auto r = std::from_chars(value.data(), end, *out);
  return r.ec == std::errc() && r.ptr == end;
}

bool NumberOf(const StatList& stats, std::string_view name, double* out) {
  const std::string_view* v = Find(stats, name);
  return v && Number(*v, out);
}

}  // namespace syncached::metrics
