#include "server/memory_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace syncached::server {
namespace {

constexpr char kSignature[] = "syncached data directory, format 1\n";

std::string Errno() { return strerror(errno); }

Status NotOurs(const std::string& path, const std::string& what) {
  return Status::Invalid("-e " + path + ": " + what +
                         "; syncached cannot read memcached's memory files: remove " + path +
                         " and " + path + ".meta to start empty");
}

Status WriteSignature(const std::string& meta) {
  std::string tmp = meta + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << kSignature;
    out.flush();
    if (!out) return Status::Io("-e: cannot write " + tmp + ": " + Errno());
  }
  if (rename(tmp.c_str(), meta.c_str()) != 0) {
    return Status::Io("-e: cannot write " + meta + ": " + Errno());
  }
  return Status::Ok();
}

bool EmptyOrOurs(const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::path(dir) / "LOCK", ec)) return true;
  return std::filesystem::is_empty(dir, ec) && !ec;
}

}  // namespace

Status PrepareMemoryFile(const std::string& path) {
  const std::string meta = path + ".meta";
  struct stat st {};
  bool have_meta = stat(meta.c_str(), &st) == 0;
  if (have_meta) {
    std::ifstream in(meta, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in || text.str() != kSignature) {
      return NotOurs(path, meta + " is not syncached's metadata");
    }
  }
  if (stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return NotOurs(path, "a file that is not syncached's data directory");
    // Without the marker only an empty directory, or one that holds our data (its
    // LOCK), is taken: -e /var/lib must not spread journals among other files.
    if (!have_meta && !EmptyOrOurs(path)) {
      return Status::Invalid("-e " + path + ": a directory of other files; give a new path");
    }
  } else if (errno != ENOENT) {
    return Status::Io("-e " + path + ": " + Errno());
  } else if (mkdir(path.c_str(), 0700) != 0) {
    return Status::Io("-e: cannot create " + path + ": " + Errno());
  }
  return have_meta ? Status::Ok() : WriteSignature(meta);
}

}  // namespace syncached::server
