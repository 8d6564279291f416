#include "server/peer_security.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/wipe.h"

namespace syncached::server {

bool IsLoopbackHost(std::string_view host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) return false;
  if (host.size() == 9 && strncasecmp(host.data(), "localhost", 9) == 0) return true;
  std::string h(host);
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;  // a name (not looked up), "*", an interface name, ...
}

std::string PeerHost(const std::string& peer) {
  size_t colon = peer.rfind(':');
  std::string host = colon == std::string::npos ? peer : peer.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

// As net::SplitHostPort reads -l entries (net's listener is internal to net).
std::string ListenHost(const std::string& spec) {
  if (!spec.empty() && spec.front() == '[') {
    size_t close = spec.find(']');
    return close == std::string::npos ? spec : spec.substr(1, close - 1);
  }
  size_t colon = spec.find(':');
  if (colon == std::string::npos || spec.find(':', colon + 1) != std::string::npos) return spec;
  return spec.substr(0, colon);
}

std::vector<std::string> ListenHosts(const std::vector<std::string>& listen) {
  std::vector<std::string> hosts;
  for (const std::string& spec : listen) {
    std::string host = ListenHost(spec);
    if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) hosts.push_back(host);
  }
  return hosts;
}

std::string ReplicationExposure(const std::vector<std::string>& listen,
                                const std::vector<std::string>& peers) {
  if (listen.empty()) return "the replication port would listen on all interfaces (no -l given)";
  for (const std::string& spec : listen) {
    std::string host = ListenHost(spec);
    if (host.empty())
      return "the replication port would listen on all interfaces (-l " + spec + ")";
    if (!IsLoopbackHost(host)) {
      return "the replication port would listen on " + host + " (-l), which is not loopback";
    }
  }
  for (const std::string& peer : peers) {
    if (!IsLoopbackHost(PeerHost(peer))) return "peer " + peer + " is not a loopback address";
  }
  return "";
}

namespace {

std::string Quoted(const std::string& path) { return "'" + path + "'"; }

const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

std::string UserName(uid_t uid) {
  const passwd* pw = getpwuid(uid);
  std::string id = "uid " + std::to_string(uid);
  return pw && pw->pw_name ? std::string(pw->pw_name) + " (" + id + ")" : id;
}

std::string ChownTarget(uid_t uid) {
  const passwd* pw = getpwuid(uid);
  return pw && pw->pw_name ? std::string(pw->pw_name) : std::to_string(uid);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

Status ReadSecretFile(const std::string& path, const std::vector<uid_t>& owners,
                      std::string* secret) {
  const std::string q = Quoted(path);
  // O_NONBLOCK: a FIFO is refused below instead of blocking the start on a writer.
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) return Status::Invalid("cannot read " + q + ": " + strerror(errno));
  struct stat st {};
  if (fstat(fd.get(), &st) != 0)
    return Status::Invalid("cannot stat " + q + ": " + strerror(errno));
  if (!S_ISREG(st.st_mode)) {
    struct stat link {};
    bool symlink = lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode);
    return Status::Invalid(q + (symlink ? " is a symlink to " : " is ") + KindOf(st.st_mode) +
                           ", not a regular file holding the secret");
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::Invalid(q + " has mode " + mode +
                           ": a secret file must be readable by its owner only (no group or "
                           "other permissions); fix: chmod 600 " +
                           q);
  }
  if (!owners.empty()) {
    bool owned = false;
    for (uid_t u : owners) owned |= st.st_uid == u;
    if (!owned) {
      std::string allowed;
      for (size_t i = 0; i < owners.size(); ++i) {
        allowed += (i ? " or " : "") + UserName(owners[i]);
      }
      return Status::Invalid(q + " is owned by " + UserName(st.st_uid) + ", not by " + allowed +
                             " that syncached runs as; fix: chown " + ChownTarget(owners[0]) + " " +
                             q);
    }
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxSecretFileBytes) {
    return Status::Invalid(q + " is larger than " + std::to_string(kMaxSecretFileBytes >> 10) +
                           " KiB: not a secret file");
  }
  // Read into the one buffer that is returned (no stream buffers left holding copies).
  std::string s(kMaxSecretFileBytes + 1, '\0');
  size_t got = 0;
  while (got < s.size()) {
    ssize_t n = read(fd.get(), s.data() + got, s.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      WipeString(&s);
      return Status::Invalid("cannot read " + q + ": " + strerror(err));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > kMaxSecretFileBytes) {
    WipeString(&s);
    return Status::Invalid(q + " is larger than " + std::to_string(kMaxSecretFileBytes >> 10) +
                           " KiB: not a secret file");
  }
  s.resize(got);
  // Trailing newlines are not part of the secret (echo, base64 and editors add one).
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  size_t size = s.size();
  if (size < kMinSecretBytes) {
    WipeString(&s);
    const std::string generate = "head -c 32 /dev/urandom | base64 > " + q;
    if (size == 0) return Status::Invalid(q + " is empty; generate a secret: " + generate);
    return Status::Invalid("the secret in " + q + " is " + std::to_string(size) +
                           " bytes, at least " + std::to_string(kMinSecretBytes) +
                           " are needed; generate one: " + generate);
  }
  WipeString(secret);
  secret->assign(s.data(), size);  // sized to the secret; the read buffer is wiped
  WipeString(&s);
  return Status::Ok();
}

}  // namespace syncached::server
