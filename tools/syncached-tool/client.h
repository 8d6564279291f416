// A tiny blocking memcached text-protocol client: one connection, every wait bounded
// by a timeout, errors as a message (the tool prints it and exits). Not for
// production traffic; for an admin tool's few requests and its pipelined
// dump/restore.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "address.h"

namespace syncached::tool {

class Client {
 public:
  Client() = default;
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // False with error() set ("connection refused", "timed out", ...).
  bool Connect(const Address& a, int timeout_ms);
  void Close();
  bool connected() const { return fd_ >= 0; }
  const std::string& error() const { return error_; }
  void set_timeout_ms(int ms) { timeout_ms_ = ms; }

  bool Send(std::string_view data);
  // One line including its "\r\n" (or "\n"); false on EOF, error or timeout.
  bool ReadLine(std::string* line);
  // Exactly n bytes.
  bool ReadExact(size_t n, std::string* out);

  // "stats <group>" -> its lines up to END, each as received (with "\r\n").
  bool StatLines(const std::string& group, std::vector<std::string>* lines);
  // "stats <group>" -> the STAT lines' (name, value) in order, values without
  // "\r\n". False on an error reply (error() holds it) or I/O failure.
  bool Stats(const std::string& group, std::vector<std::pair<std::string, std::string>>* out);

 private:
  bool Fill();  // reads more into buf_ (waits at most timeout_ms_)

  int fd_ = -1;
  int timeout_ms_ = 5000;
  std::string buf_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace syncached::tool
