#include "server/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "common/log.h"

namespace syncached::server {

bool NotifyServiceManager(std::string_view state) {
  const char* env = getenv("NOTIFY_SOCKET");
  if (!env || !*env) return false;
  std::string_view path(env);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // sd_notify(3): an absolute path, or '@' for Linux's abstract namespace (a leading NUL).
  if ((path[0] != '/' && path[0] != '@') || path.size() > sizeof(addr.sun_path) - 1) {
    SC_LOG(kDebug, "NOTIFY_SOCKET '%s' is not a unix socket address; not notifying", env);
    return false;
  }
  memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    SC_LOG(kDebug, "NOTIFY_SOCKET: socket: %s", strerror(errno));
    return false;
  }
  ssize_t sent = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                        reinterpret_cast<const sockaddr*>(&addr), len);
  int err = errno;
  close(fd);
  if (sent != static_cast<ssize_t>(state.size())) {
    SC_LOG(kDebug, "NOTIFY_SOCKET %s: %s", env, sent < 0 ? strerror(err) : "short send");
    return false;
  }
  return true;
}

}  // namespace syncached::server
