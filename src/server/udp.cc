#include "server/udp.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "common/log.h"

namespace syncached::server {
namespace {
constexpr size_t kHeader = 8;
constexpr size_t kMaxPayload = 1400;  // memcached's UDP_MAX_PAYLOAD_SIZE, header included
constexpr size_t kData = kMaxPayload - kHeader;
}  // namespace

UdpServer::UdpServer(engine::Engine* engine, std::vector<std::string> listen, uint16_t port)
    : engine_(engine), listen_(std::move(listen)), port_(port) {}

UdpServer::~UdpServer() { Stop(); }

Status UdpServer::Start() {
  std::vector<std::string> hosts = listen_;
  if (hosts.empty()) hosts = {"0.0.0.0"};
  for (const std::string& host : hosts) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    std::string port = std::to_string(port_);
    std::string h = host;
    // As memcached: an -l entry's own port ("host:port", "[v6]:port") is UDP's port too.
    size_t colon = h.rfind(':');
    bool v6_literal = h.find(':') != colon && h.front() != '[';
    if (colon != std::string::npos && !v6_literal && (h.front() != '[' || h[colon - 1] == ']')) {
      port = h.substr(colon + 1);
      h.resize(colon);
    }
    if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    if (getaddrinfo(h.c_str(), port.c_str(), &hints, &res) != 0) {
      return Status::Invalid("-U: cannot resolve " + host);
    }
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
      int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
      if (fd < 0) continue;
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        std::string err = strerror(errno);
        close(fd);
        freeaddrinfo(res);
        // NOLINTNEXTLINE(performance-inefficient-string-concatenation): leaves the loop
        return Status::Io("-U: cannot bind UDP " + host + ":" + port + ": " + err);
      }
      fds_.push_back(fd);
      // The bound address: with port 0 (-U -1) the kernel picked the port.
      sockaddr_storage bound{};
      socklen_t bound_len = sizeof bound;
      if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len) != 0) {
        memcpy(&bound, ai->ai_addr, ai->ai_addrlen);
        bound_len = ai->ai_addrlen;
      }
      char host_buf[NI_MAXHOST], port_buf[NI_MAXSERV];
      if (getnameinfo(reinterpret_cast<sockaddr*>(&bound), bound_len, host_buf, sizeof host_buf,
                      port_buf, sizeof port_buf, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(host_buf, sizeof host_buf, "?");
        snprintf(port_buf, sizeof port_buf, "%u", port_);
      }
      char name[NI_MAXHOST + NI_MAXSERV + 4];  // snprintf: g++ 12 -O3 -Wrestrict on operator+
      snprintf(name, sizeof name, ai->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host_buf,
               port_buf);
      names_.push_back(name);
    }
    freeaddrinfo(res);
  }
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void UdpServer::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  for (int fd : fds_) close(fd);
  fds_.clear();
  names_.clear();
}

void UdpServer::AppendConnStats(std::string* out) const {
  char line[512];
  for (size_t i = 0; i < fds_.size(); ++i) {
    int n = snprintf(line, sizeof line,
                     "STAT %d:addr udp:%s\r\nSTAT %d:state conn_read\r\n"
                     "STAT %d:secs_since_last_cmd 0\r\n",
                     fds_[i], names_[i].c_str(), fds_[i], fds_[i]);
    out->append(line, static_cast<size_t>(n));
  }
}

void UdpServer::Loop() {
  std::vector<pollfd> pfds;
  for (int fd : fds_) pfds.push_back({fd, POLLIN, 0});
  while (!stop_) {
    if (poll(pfds.data(), pfds.size(), 200) <= 0) continue;
    for (const pollfd& p : pfds) {
      if (p.revents & POLLIN) Serve(p.fd);
    }
  }
}

void UdpServer::Serve(int fd) {
  char buf[65536];
  sockaddr_storage from{};
  socklen_t from_len = sizeof from;
  ssize_t n =
      recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &from_len);
  if (n <= static_cast<ssize_t>(kHeader)) return;
  const unsigned char* h = reinterpret_cast<const unsigned char*>(buf);
  if (h[4] != 0 || h[5] != 1) return;  // multi-datagram requests are not supported
  engine::Session session;
  std::string out;
  engine_->Process(session, std::string_view(buf + kHeader, static_cast<size_t>(n) - kHeader), &out,
                   SIZE_MAX);
  if (before_reply_) before_reply_();
  if (out.empty()) return;
  size_t total = (out.size() + kData - 1) / kData;
  if (total > 0xffff) total = 0xffff;
  for (size_t seq = 0; seq < total; ++seq) {
    char dgram[kMaxPayload];
    dgram[0] = buf[0];
    dgram[1] = buf[1];
    dgram[2] = static_cast<char>(seq >> 8);
    dgram[3] = static_cast<char>(seq & 0xff);
    dgram[4] = static_cast<char>(total >> 8);
    dgram[5] = static_cast<char>(total & 0xff);
    dgram[6] = dgram[7] = 0;
    size_t len = std::min(kData, out.size() - seq * kData);
    memcpy(dgram + kHeader, out.data() + seq * kData, len);
    sendto(fd, dgram, kHeader + len, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), from_len);
  }
}

}  // namespace syncached::server
