#include "common/http/request.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "common/http/response.h"

namespace berth::http {
namespace {

TEST(HttpRequestTest, FindsHeadEnd) {
  EXPECT_EQ(find_head_end(""), std::string_view::npos);
  EXPECT_EQ(find_head_end("GET / HTTP/1.1\r\nHost: a\r\n"), std::string_view::npos);
  std::string head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_EQ(find_head_end(head), head.size());
  EXPECT_EQ(find_head_end(head + "GET /next"), head.size());
  EXPECT_EQ(find_head_end("GET / HTTP/1.0\n\n"), 16U);
  // Empty lines before the request line are skipped, not taken for the end.
  EXPECT_EQ(find_head_end("\r\n\r\n"), std::string_view::npos);
  EXPECT_EQ(find_head_end("\r\nGET / HTTP/1.0\r\n\r\n"), 20U);
}

TEST(HttpRequestTest, ParsesGet) {
  auto head = parse_request_head(
      "GET /v4/abc%20def/task?x=1&y=%41 HTTP/1.1\r\nHost: localhost\r\n"
      "X-Thing:   some value \t\r\nACCEPT: */*\r\n\r\n");
  ASSERT_TRUE(head.has_value()) << head.error().message();
  const Request& request = head->request;
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.target, "/v4/abc%20def/task?x=1&y=%41");
  EXPECT_EQ(request.path, "/v4/abc def/task");
  EXPECT_EQ(request.query, "x=1&y=%41");
  ASSERT_EQ(request.headers.size(), 3U);
  EXPECT_EQ(request.headers[1].first, "x-thing");
  EXPECT_EQ(request.headers[1].second, "some value");
  ASSERT_NE(find_header(request, "accept"), nullptr);
  EXPECT_EQ(*find_header(request, "accept"), "*/*");
  EXPECT_EQ(find_header(request, "missing"), nullptr);
  EXPECT_EQ(head->minor_version, 1);
  EXPECT_TRUE(head->keep_alive);
  EXPECT_FALSE(head->has_body);
}

TEST(HttpRequestTest, AcceptsBareLineFeedsAndLeadingBlankLine) {
  auto head = parse_request_head("\r\nGET /metrics HTTP/1.1\nHost: a\n\n");
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(head->request.path, "/metrics");
  EXPECT_EQ(head->request.query, "");
}

TEST(HttpRequestTest, AcceptsAbsoluteFormTarget) {
  auto head = parse_request_head("GET http://example.com:80/a/b?c HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(head->request.path, "/a/b");
  EXPECT_EQ(head->request.query, "c");
  auto bare = parse_request_head("GET http://example.com HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(bare.has_value()) << bare.error().message();
  EXPECT_EQ(bare->request.path, "/");
}

TEST(HttpRequestTest, KeepAliveFollowsVersionAndConnectionHeader) {
  auto http10 = parse_request_head("GET / HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(http10.has_value());
  EXPECT_EQ(http10->minor_version, 0);
  EXPECT_FALSE(http10->keep_alive);

  auto http10_keep = parse_request_head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  ASSERT_TRUE(http10_keep.has_value());
  EXPECT_TRUE(http10_keep->keep_alive);

  auto http11_close =
      parse_request_head("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n");
  ASSERT_TRUE(http11_close.has_value());
  EXPECT_FALSE(http11_close->keep_alive);
}

TEST(HttpRequestTest, NoticesBodies) {
  auto zero = parse_request_head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(zero.has_value());
  EXPECT_FALSE(zero->has_body);

  auto some = parse_request_head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n");
  ASSERT_TRUE(some.has_value());
  EXPECT_TRUE(some->has_body);

  auto chunked =
      parse_request_head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  ASSERT_TRUE(chunked.has_value());
  EXPECT_TRUE(chunked->has_body);
}

TEST(HttpRequestTest, RejectsMalformedHeads) {
  const char* bad[] = {
      "\r\n",
      "GET\r\n\r\n",
      "GET /\r\n\r\n",
      "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n",
      "GET / HTTX/1.1\r\nHost: a\r\n\r\n",
      "GET / HTTP/1.10\r\nHost: a\r\n\r\n",
      "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET relative HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET * HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET / HTTP/1.1\r\n\r\n",                        // no Host
      "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  // two Hosts
      "GET / HTTP/1.1\r\nHost: a\r\nNo colon\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n  folded\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET /%00 HTTP/1.1\r\nHost: a\r\n\r\n",
  };
  for (const char* head : bad) {
    auto parsed = parse_request_head(head);
    ASSERT_FALSE(parsed.has_value()) << head;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument) << head;
  }
}

TEST(HttpRequestTest, OtherMajorVersionIsUnsupported) {
  auto parsed = parse_request_head("GET / HTTP/2.0\r\nHost: a\r\n\r\n");
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(parsed.error().message().find("HTTP/2.0"), std::string::npos);
}

TEST(HttpRequestTest, OptionsStarIsParsed) {
  auto parsed = parse_request_head("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message();
  EXPECT_EQ(parsed->request.path, "*");
}

TEST(HttpRequestTest, PercentDecodes) {
  EXPECT_EQ(percent_decode("a%2Fb%2fc+d").value(), "a/b/c+d");
  EXPECT_EQ(percent_decode("").value(), "");
  EXPECT_EQ(percent_decode("%e2%9c%93").value(), "\xe2\x9c\x93");
  EXPECT_FALSE(percent_decode("%").has_value());
  EXPECT_FALSE(percent_decode("%4").has_value());
  EXPECT_FALSE(percent_decode("%g1").has_value());
  EXPECT_FALSE(percent_decode("a%00").has_value());
}

TEST(HttpResponseTest, SerializesHead) {
  Response response;
  response.body = "hello";
  response.headers.emplace_back("X-Extra", "1");
  response.headers.emplace_back("content-length", "999");  // the server's own: dropped
  auto head = serialize_head(response, true, "Sun, 06 Nov 1994 08:49:37 GMT");
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(*head,
            "HTTP/1.1 200 OK\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 5\r\n"
            "Connection: keep-alive\r\n"
            "X-Extra: 1\r\n"
            "\r\n");
  auto closing = serialize_head(response, false, "");
  ASSERT_TRUE(closing.has_value());
  EXPECT_NE(closing->find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(closing->find("Date:"), std::string::npos);
}

TEST(HttpResponseTest, NoContentHasNoLength) {
  Response response;
  response.status = 204;
  auto head = serialize_head(response, true, "");
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->find("Content-Length"), std::string::npos);
  EXPECT_FALSE(status_has_body(204));
  EXPECT_FALSE(status_has_body(304));
  EXPECT_TRUE(status_has_body(404));
}

TEST(HttpResponseTest, RejectsInvalidResponses) {
  Response bad_status;
  bad_status.status = 99;
  EXPECT_FALSE(serialize_head(bad_status, true, "").has_value());
  Response injected;
  injected.headers.emplace_back("X-A", "1\r\nSet-Cookie: x");
  EXPECT_FALSE(serialize_head(injected, true, "").has_value());
  Response bad_name;
  bad_name.headers.emplace_back("X A", "1");
  EXPECT_FALSE(serialize_head(bad_name, true, "").has_value());
}

TEST(HttpResponseTest, ErrorResponseIsJson) {
  Response response = error_response(400, "bad \"thing\"\n");
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(response.body, R"({"error":"bad \"thing\"\u000a"})");
}

TEST(HttpResponseTest, FormatsHttpDate) {
  auto when = std::chrono::system_clock::time_point(std::chrono::seconds(784111777));
  EXPECT_EQ(http_date(when), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(299), "Unknown");
}

}  // namespace
}  // namespace berth::http
