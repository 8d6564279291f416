// dump (memcached-tool's, to stdout or a file) and restore (from such a file).
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "dump_format.h"
#include "modes.h"
#include "progress.h"
#include "stat_lines.h"

namespace syncached::tool {

namespace {

int Fail(const std::string& what) {
  fprintf(stderr, "syncached-tool: %s\n", what.c_str());
  return 1;
}

bool IsErrorReply(const std::string& line) {
  return line.rfind("ERROR", 0) == 0 || line.rfind("CLIENT_ERROR", 0) == 0 ||
         line.rfind("SERVER_ERROR", 0) == 0 || line.rfind("BUSY", 0) == 0;
}

}  // namespace

int RunDump(const Options& o) {
  long limit = 0;
  if (!o.args.empty()) {
    limit = strtol(o.args[0].c_str(), nullptr, 10);
    if (limit < 1) {
      fprintf(stderr, "ERROR: invalid limit (should be a positive number)\n\n");
      return 2;
    }
  }
  Client c;
  if (!ConnectOrComplain(o, &c)) return 1;
  bool to_file = !o.output.empty();
  if (!to_file) {
    fprintf(stderr, "Dumping memcache contents");
    if (limit) fprintf(stderr, " (limiting to %ld keys)", limit);
    fprintf(stderr, "\n");
  }
  // As memcached-tool: the keys and expiry times from the crawler first, then
  // each value with get (metadump has no flags or values).
  if (!c.Send("lru_crawler metadump all\r\n")) return Fail(c.error());
  std::vector<MetadumpEntry> entries;
  std::string line;
  long count = 0;
  size_t untextual = 0;  // keys with spaces or control bytes (set in binary form)
  bool stopped_early = false;
  for (;;) {
    if (!c.ReadLine(&line)) return Fail("metadump: " + c.error());
    if (line.rfind("END", 0) == 0) break;
    if (limit && count == limit) {
      stopped_early = true;
      break;
    }
    if (IsErrorReply(line)) return Fail("lru_crawler metadump: " + std::string(StripEol(line)));
    if (auto e = ParseMetadumpLine(line)) {
      // A key a text-protocol get cannot carry would garble the request.
      bool textual = !e->key.empty();
      for (unsigned char ch : e->key) textual &= ch > ' ' && ch != 0x7f;
      if (textual) {
        entries.push_back(std::move(*e));
      } else {
        ++untextual;
      }
    }
    ++count;
  }
  if (stopped_early) {
    // The rest of the crawl is still coming on this connection: start afresh.
    c.Close();
    if (!ConnectOrComplain(o, &c)) return 1;
  }

  FILE* out = stdout;
  if (to_file) {
    out = fopen(o.output.c_str(), "wb");
    if (!out) return Fail(o.output + ": " + strerror(errno));
  }
  Progress progress("dumping", entries.size());
  size_t written = 0;
  for (size_t i = 0; i < entries.size(); i += static_cast<size_t>(o.batch)) {
    size_t end = std::min(entries.size(), i + static_cast<size_t>(o.batch));
    std::string req = "get";
    for (size_t j = i; j < end; ++j) req += " " + entries[j].key;
    req += "\r\n";
    if (!c.Send(req)) return Fail(c.error());
    // Replies come in request order; a key that expired meanwhile is missing.
    size_t next = i;
    for (;;) {
      if (!c.ReadLine(&line)) return Fail(c.error());
      std::string_view l = StripEol(line);
      if (l == "END") break;
      if (l.rfind("VALUE ", 0) != 0) return Fail("get: " + std::string(l));
      // VALUE <key> <flags> <bytes>
      std::string_view rest = l.substr(6);
      size_t s1 = rest.find(' ');
      size_t s2 = rest.find(' ', s1 + 1);
      if (s1 == std::string_view::npos || s2 == std::string_view::npos) {
        return Fail("get: " + std::string(l));
      }
      std::string key(rest.substr(0, s1));
      std::string flags(rest.substr(s1 + 1, s2 - s1 - 1));
      size_t bytes = strtoull(std::string(rest.substr(s2 + 1)).c_str(), nullptr, 10);
      std::string value;
      if (!c.ReadExact(bytes + 2, &value)) return Fail(c.error());
      value.resize(bytes);
      while (next < end && entries[next].key != key) ++next;
      int64_t exp = next < end ? entries[next].exp : 0;
      std::string rec = FormatDumpRecord(key, flags, exp, value);
      if (fwrite(rec.data(), 1, rec.size(), out) != rec.size()) {
        return Fail((to_file ? o.output : std::string("stdout")) + ": " + strerror(errno));
      }
      ++written;
    }
    if (to_file) progress.Update(end, written);
  }
  if (fflush(out) != 0 || (to_file && fclose(out) != 0)) {
    return Fail((to_file ? o.output : std::string("stdout")) + ": " + strerror(errno));
  }
  if (to_file) {
    progress.Finish("dumped " + std::to_string(written) + " items to " + o.output);
  }
  if (untextual) {
    fprintf(stderr, "syncached-tool: skipped %zu keys with bytes the text protocol cannot carry\n",
            untextual);
  }
  return 0;
}

int RunRestore(const Options& o) {
  if (o.args.size() != 1) {
    fprintf(stderr, "usage: syncached-tool HOST:PORT restore FILE (- for stdin)\n");
    return 2;
  }
  const std::string& path = o.args[0];
  FILE* in = path == "-" ? stdin : fopen(path.c_str(), "rb");
  if (!in) return Fail(path + ": " + strerror(errno));
  uint64_t total = 0;
  struct stat st {};
  if (fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode)) total = static_cast<uint64_t>(st.st_size);
  Client c;
  if (!ConnectOrComplain(o, &c)) return 1;

  DumpReader reader(in);
  Progress progress("restoring", total);
  const char* verb = o.restore_add ? "add" : "set";
  uint64_t stored = 0, not_stored = 0, expired = 0, failed = 0;
  std::string first_failure;
  bool done = false;
  DumpRecord r;
  std::string line;
  while (!done) {
    // One round trip per batch: the commands go out together, then their replies
    // are read; at most `batch` replies are ever unread.
    std::string req;
    int pending = 0;
    int64_t now = time(nullptr);
    while (pending < o.batch && req.size() < (1u << 20)) {
      if (!reader.Next(&r)) {
        if (!reader.error().empty()) return Fail(path + ": " + reader.error());
        done = true;
        break;
      }
      int64_t exp = ExptimeToSend(r.exp, now);
      if (exp < 0) {
        ++expired;
        continue;
      }
      req += std::string(verb) + " " + r.key + " " + std::to_string(r.flags) + " " +
             std::to_string(exp) + " " + std::to_string(r.value.size()) + "\r\n";
      req += r.value;
      req += "\r\n";
      ++pending;
    }
    if (pending && !c.Send(req)) return Fail(c.error());
    for (int i = 0; i < pending; ++i) {
      if (!c.ReadLine(&line)) return Fail(c.error());
      std::string_view l = StripEol(line);
      if (l == "STORED") {
        ++stored;
      } else if (l == "NOT_STORED") {
        ++not_stored;
      } else {
        ++failed;
        if (first_failure.empty()) first_failure = std::string(l);
        // A "CLIENT_ERROR bad data chunk" desynchronises the stream: stop.
        if (l.rfind("CLIENT_ERROR", 0) == 0 || l == "ERROR") {
          return Fail("restore stopped: server answered " + std::string(l));
        }
      }
    }
    progress.Update(reader.offset(), stored + not_stored + failed);
  }
  if (in != stdin) fclose(in);
  std::string summary = "restored " + std::to_string(stored) + " items";
  if (not_stored) summary += ", " + std::to_string(not_stored) + " not stored (key exists)";
  if (expired) summary += ", " + std::to_string(expired) + " skipped (expired)";
  if (failed) summary += ", " + std::to_string(failed) + " failed (first: " + first_failure + ")";
  progress.Finish(summary);
  return failed ? 1 : 0;
}

}  // namespace syncached::tool
