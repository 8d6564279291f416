// Just enough HTTP/1.1 (RFC 9112) for a scraper: request heads without bodies,
// keep-alive, GET and HEAD of /metrics. Anything else gets a status and, when the
// stream can no longer be trusted (malformed, oversized, a body we will not read), a
// close.
#include <string>

#include "metrics/metrics.h"

namespace syncached::metrics {
namespace {

using Status = HttpRequest::Status;

bool IsTchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != 0 && std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos);
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTchar(c)) return false;
  }
  return true;
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Next line without its "\n" or "\r\n"; false if no complete line is left.
bool NextLine(std::string_view in, size_t* pos, std::string_view* line) {
  size_t nl = in.find('\n', *pos);
  if (nl == std::string_view::npos) return false;
  *line = in.substr(*pos, nl - *pos);
  if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
  *pos = nl + 1;
  return true;
}

bool ParseRequestLine(std::string_view line, HttpRequest* r, bool* http10) {
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return false;
  }
  r->method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(r->method) || target.empty()) return false;
  for (char c : target) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  if (target.substr(0, 7) == "http://" || target.substr(0, 8) == "https://") {
    size_t slash = target.find('/', target.find("://") + 3);  // absolute-form: drop the authority
    target = slash == std::string_view::npos ? "/" : target.substr(slash);
  }
  if (target.front() != '/') return false;
  r->path = target.substr(0, target.find('?'));
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return false;
  }
  if (version[5] != '1') {
    r->status = Status::kBadVersion;
    return true;
  }
  *http10 = version[7] == '0';
  return true;
}

// One "name: value" line; false if malformed.
bool ParseHeader(std::string_view line, HttpRequest* r, bool* saw_close, bool* saw_keep_alive) {
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) return false;
  std::string_view name = line.substr(0, colon);
  std::string_view value = TrimOws(line.substr(colon + 1));
  for (char c : value) {
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  if (EqualsNoCase(name, "content-length")) {
    if (value.empty() || value.find_first_not_of("0123456789") != std::string_view::npos) {
      return false;
    }
    if (value.find_first_not_of('0') != std::string_view::npos) r->has_body = true;
  } else if (EqualsNoCase(name, "transfer-encoding")) {
    r->has_body = true;
  } else if (EqualsNoCase(name, "connection")) {
    while (!value.empty()) {
      size_t comma = value.find(',');
      std::string_view option = TrimOws(value.substr(0, comma));
      if (EqualsNoCase(option, "close")) *saw_close = true;
      if (EqualsNoCase(option, "keep-alive")) *saw_keep_alive = true;
      value.remove_prefix(comma == std::string_view::npos ? value.size() : comma + 1);
    }
  }
  return true;
}

void Head(std::string_view status, std::string_view type, size_t length, bool keep_alive,
          std::string* out) {
  out->append("HTTP/1.1 ").append(status).append("\r\n");
  if (!type.empty()) out->append("Content-Type: ").append(type).append("\r\n");
  out->append("Content-Length: ").append(std::to_string(length)).append("\r\n");
  out->append(keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
}

bool Simple(std::string_view status, std::string_view extra, bool keep_alive, bool head,
            std::string* out) {
  std::string body = std::string(status.substr(4)) + "\n";
  Head(status, "text/plain; charset=utf-8", body.size(), keep_alive, out);
  out->append(extra).append("\r\n");
  if (!head) out->append(body);
  return keep_alive;
}

}  // namespace

HttpRequest ParseHttpRequest(std::string_view in, size_t max_head) {
  HttpRequest r;
  size_t pos = 0;
  std::string_view line;
  // RFC 9112 2.2: empty lines before a request line are skipped.
  do {
    if (!NextLine(in, &pos, &line)) {
      r.status = in.size() > max_head ? Status::kTooLarge : Status::kIncomplete;
      return r;
    }
  } while (line.empty() && pos <= max_head);
  bool http10 = false, saw_close = false, saw_keep_alive = false;
  if (!ParseRequestLine(line, &r, &http10)) {
    r.status = Status::kBad;
    return r;
  }
  while (true) {
    if (pos > max_head) {
      r.status = Status::kTooLarge;
      return r;
    }
    if (!NextLine(in, &pos, &line)) {
      r.status = in.size() > max_head ? Status::kTooLarge : Status::kIncomplete;
      return r;
    }
    if (line.empty()) break;
    if (r.status == Status::kBadVersion) continue;      // only the head's end matters now
    if (line.front() == ' ' || line.front() == '\t' ||  // obsolete line folding
        !ParseHeader(line, &r, &saw_close, &saw_keep_alive)) {
      r.status = Status::kBad;
      return r;
    }
  }
  if (pos > max_head) {
    r.status = Status::kTooLarge;
    return r;
  }
  r.length = pos;
  if (r.status == Status::kBadVersion) return r;
  r.status = Status::kOk;
  r.keep_alive = http10 ? saw_keep_alive && !saw_close : !saw_close;
  return r;
}

bool Respond(const HttpRequest& req, const std::function<void(std::string*)>& render,
             std::string* out) {
  switch (req.status) {
    case Status::kIncomplete:
      return true;
    case Status::kBad:
      return Simple("400 Bad Request", "", false, false, out);
    case Status::kTooLarge:
      return Simple("431 Request Header Fields Too Large", "", false, false, out);
    case Status::kBadVersion:
      return Simple("505 HTTP Version Not Supported", "", false, false, out);
    case Status::kOk:
      break;
  }
  bool head = req.method == "HEAD";
  if (!head && req.method != "GET") {
    return Simple("405 Method Not Allowed", "Allow: GET, HEAD\r\n", req.keep_alive && !req.has_body,
                  false, out);
  }
  // A body we do not read would be taken for the next request.
  if (req.has_body) return Simple("400 Bad Request", "", false, head, out);
  if (req.path != "/metrics") return Simple("404 Not Found", "", req.keep_alive, head, out);
  thread_local std::string body;
  body.clear();
  render(&body);
  Head("200 OK", "text/plain; version=0.0.4; charset=utf-8", body.size(), req.keep_alive, out);
  out->append("\r\n");
  if (!head) out->append(body);
  return req.keep_alive;
}

}  // namespace syncached::metrics
