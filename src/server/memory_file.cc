#include "server/memory_file.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace syncached::server {
namespace {

namespace fs = std::filesystem;

constexpr char kSignature[] = "syncached data directory, format 1\n";

Status NotOurs(const std::string& path, const std::string& what) {
  return Status::Invalid("-e " + path + ": " + what +
                         "; syncached cannot read memcached's memory files: remove " + path +
                         " and " + path + ".meta to start empty");
}

bool HoldsSignature(const std::string& meta) {
  std::ifstream in(meta, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return in && text.str() == kSignature;
}

Status WriteSignature(const std::string& meta) {
  std::string tmp = meta + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << kSignature;
    out.flush();
    if (!out) return Status::Io("-e: cannot write " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, meta, ec);
  return ec ? Status::Io("-e: cannot write " + meta + ": " + ec.message()) : Status::Ok();
}

// Without the marker only an empty directory, or one that holds our data (its LOCK),
// is taken: -e /var/lib must not spread journals among other files.
bool EmptyOrOurs(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(fs::path(dir) / "LOCK", ec)) return true;
  return fs::is_empty(dir, ec) && !ec;
}

}  // namespace

Status PrepareMemoryFile(const std::string& path) {
  const std::string meta = path + ".meta";
  std::error_code ec;
  bool have_meta = fs::exists(meta, ec);
  if (have_meta && !HoldsSignature(meta)) {
    return NotOurs(path, meta + " is not syncached's metadata");
  }
  fs::file_status st = fs::status(path, ec);
  if (ec && st.type() != fs::file_type::not_found) {
    return Status::Io("-e " + path + ": " + ec.message());
  }
  // A missing PATH is created with the data dir (persistence's Open).
  if (fs::exists(st) && !fs::is_directory(st)) {
    return NotOurs(path, "a file that is not syncached's data directory");
  }
  if (fs::exists(st) && !have_meta && !EmptyOrOurs(path)) {
    return Status::Invalid("-e " + path + ": a directory of other files; give a new path");
  }
  return have_meta ? Status::Ok() : WriteSignature(meta);
}

}  // namespace syncached::server
