// HTTP heads: what a scraper sends is answered; anything malformed, oversized or with a
// body is refused with a status and a close, never misread as the next request.
#include <gtest/gtest.h>

#include <string>

#include "metrics/metrics.h"

namespace syncached::metrics {
namespace {

using S = HttpRequest::Status;

std::string Answer(std::string_view in, bool* keep = nullptr) {
  std::string out;
  bool k = Respond(
      ParseHttpRequest(in), [](std::string* b) { b->append("x 1\n"); }, &out);
  if (keep) *keep = k;
  return out;
}

TEST(Http, PrometheusScrape) {
  std::string in =
      "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9150\r\nUser-Agent: Prometheus/2.42.0\r\n"
      "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n"
      "Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\nGET";
  HttpRequest r = ParseHttpRequest(in);
  ASSERT_EQ(r.status, S::kOk);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/metrics");
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(in.substr(r.length), "GET");
  bool keep;
  EXPECT_EQ(Answer(in, &keep),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: 4\r\nConnection: keep-alive\r\n\r\nx 1\n");
  EXPECT_TRUE(keep);
}

TEST(Http, HeadHasLengthButNoBody) {
  std::string out = Answer("HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_NE(out.find("Content-Length: 4\r\n"), std::string::npos);
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");
}

TEST(Http, QueryStringAbsoluteFormAndBareLf) {
  EXPECT_EQ(ParseHttpRequest("GET /metrics?x=1 HTTP/1.1\r\n\r\n").path, "/metrics");
  EXPECT_EQ(ParseHttpRequest("GET http://h:1/metrics HTTP/1.1\r\n\r\n").path, "/metrics");
  EXPECT_EQ(ParseHttpRequest("GET /metrics HTTP/1.1\n\n").status, S::kOk);
  EXPECT_EQ(ParseHttpRequest("\r\nGET /metrics HTTP/1.1\r\n\r\n").status, S::kOk);
}

TEST(Http, KeepAliveRules) {
  EXPECT_FALSE(ParseHttpRequest("GET / HTTP/1.0\r\n\r\n").keep_alive);
  EXPECT_TRUE(ParseHttpRequest("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
  EXPECT_FALSE(ParseHttpRequest("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n").keep_alive);
}

TEST(Http, Incomplete) {
  for (std::string_view in : std::initializer_list<std::string_view>{
           "", "GET", "GET /metrics HTTP/1.1\r\n", "GET /metrics HTTP/1.1\r\nHost: a\r\n"}) {
    EXPECT_EQ(ParseHttpRequest(in).status, S::kIncomplete) << in;
  }
}

TEST(Http, OtherPathsAndMethods) {
  bool keep;
  EXPECT_EQ(Answer("GET / HTTP/1.1\r\n\r\n", &keep).substr(0, 22), "HTTP/1.1 404 Not Found");
  EXPECT_TRUE(keep);
  EXPECT_EQ(Answer("GET /metricsx HTTP/1.1\r\n\r\n").substr(9, 3), "404");
  std::string out = Answer("POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", &keep);
  EXPECT_EQ(out.substr(9, 3), "405");
  EXPECT_NE(out.find("Allow: GET, HEAD\r\n"), std::string::npos);
  EXPECT_FALSE(keep);  // its body is unread
  EXPECT_EQ(
      Answer("GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &keep).substr(9, 3),
      "400");
  EXPECT_FALSE(keep);
  EXPECT_EQ(Answer("GET /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").substr(9, 3), "200");
}

TEST(Http, MalformedIsRefusedAndClosed) {
  for (std::string_view in : std::initializer_list<std::string_view>{
           "GET\r\n\r\n", "GET /metrics\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n",
           "GET /metrics HTTP/1.1 x\r\n\r\n", "GET metrics HTTP/1.1\r\n\r\n",
           "G\x01T /metrics HTTP/1.1\r\n\r\n", "GET /met\x7frics HTTP/1.1\r\n\r\n",
           "GET /metrics HTTP/11\r\n\r\n", "GET /metrics FTP/1.1\r\n\r\n",
           "GET /metrics HTTP/1.1\r\nNoColon\r\n\r\n",
           "GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n", "GET /metrics HTTP/1.1\r\n: x\r\n\r\n",
           "GET /metrics HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
           "GET /metrics HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
           "GET /metrics HTTP/1.1\r\nX: a\x01\r\n\r\n",
           std::string_view("GET /\0 HTTP/1.1\r\n\r\n", 20)}) {
    HttpRequest r = ParseHttpRequest(in);
    EXPECT_EQ(r.status, S::kBad) << in;
    bool keep = true;
    EXPECT_EQ(Answer(in, &keep).substr(0, 24), "HTTP/1.1 400 Bad Request") << in;
    EXPECT_FALSE(keep);
  }
}

TEST(Http, VersionAndSize) {
  EXPECT_EQ(ParseHttpRequest("GET /metrics HTTP/2.0\r\n\r\n").status, S::kBadVersion);
  EXPECT_EQ(Answer("GET /metrics HTTP/2.0\r\n\r\n").substr(9, 3), "505");
  std::string big = "GET /metrics HTTP/1.1\r\nX: " + std::string(9000, 'a');
  EXPECT_EQ(ParseHttpRequest(big).status, S::kTooLarge);
  EXPECT_EQ(ParseHttpRequest(big + "\r\n\r\n").status, S::kTooLarge);
  EXPECT_EQ(ParseHttpRequest(std::string(9000, '\n')).status, S::kBad);
  EXPECT_EQ(Answer(big).substr(9, 3), "431");
  std::string ok = "GET /metrics HTTP/1.1\r\nX: " + std::string(8000, 'a') + "\r\n\r\n";
  EXPECT_EQ(ParseHttpRequest(ok).status, S::kOk);
}

}  // namespace
}  // namespace syncached::metrics
