#include "common/http/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/fd.h"
#include "http/test_client.h"

namespace berth::http {
namespace {

using namespace std::chrono_literals;
using test_support::Client;
using test_support::eventually;
using test_support::get;
using test_support::kSocketTimeout;

Response echo(const Request& request) {
  Response response;
  response.body =
      request.method + " " + request.path + " q=" + request.query + " peer=" + request.peer;
  response.headers.emplace_back("X-Test", "yes");
  return response;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void start(ServerOptions options = {}, Handler handler = echo) {
    auto server = Server::start(options);
    ASSERT_TRUE(server.has_value()) << server.error().message();
    server_ = std::move(*server);
    auto port = server_->listen("127.0.0.1:0", std::move(handler));
    ASSERT_TRUE(port.has_value()) << port.error().message();
    port_ = *port;
  }

  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
};

TEST_F(HttpServerTest, GetReturnsBodyAndHeaders) {
  start();
  Client client(port_);
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send(get("/v4/a%20b/task?x=1")));
  auto response = client.read_response();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body.rfind("GET /v4/a b/task q=x=1 peer=127.0.0.1:", 0), 0U)
      << response->body;
  EXPECT_EQ(response->header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(response->header("content-length"), std::to_string(response->body.size()));
  EXPECT_EQ(response->header("connection"), "keep-alive");
  EXPECT_EQ(response->header("x-test"), "yes");
  EXPECT_FALSE(response->header("date").empty());
}

TEST_F(HttpServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  start();
  Client client(port_);
  ASSERT_TRUE(client.send(get("/one")));
  auto first = client.read_response();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->body.rfind("GET /one ", 0), 0U);
  ASSERT_TRUE(client.send(get("/two")));
  auto second = client.read_response();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->body.rfind("GET /two ", 0), 0U);
  EXPECT_EQ(server_->connections(), 1U);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  start();
  Client client(port_);
  ASSERT_TRUE(client.send(get("/a") + get("/b") + get("/c", "Connection: close\r\n")));
  for (const char* path : {"/a", "/b", "/c"}) {
    auto response = client.read_response();
    ASSERT_TRUE(response.has_value()) << path;
    EXPECT_EQ(response->body.rfind(std::string("GET ") + path + " ", 0), 0U);
  }
  EXPECT_TRUE(client.reads_eof());
}

TEST_F(HttpServerTest, HeadSendsLengthWithoutBody) {
  start();
  Client client(port_);
  ASSERT_TRUE(client.send("HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto head = client.read_response(/*head_request=*/true);
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 200);
  // Had a body been sent, it would be read here in place of the next response.
  ASSERT_TRUE(client.send(get("/x")));
  auto after = client.read_response();
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->status, 200);
  ASSERT_EQ(after->body.rfind("GET /x ", 0), 0U);
  // The handler's body for HEAD is one byte longer ("HEAD" against "GET").
  EXPECT_EQ(head->header("content-length"), std::to_string(after->body.size() + 1));
}

TEST_F(HttpServerTest, PostGets405WithAllow) {
  start();
  Client client(port_);
  ASSERT_TRUE(client.send("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"));
  auto response = client.read_response();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 405);
  EXPECT_EQ(response->header("allow"), "GET, HEAD");
  EXPECT_EQ(response->header("content-type"), "application/json");
  EXPECT_EQ(response->body.rfind("{\"error\":", 0), 0U);
  // Without a body, the connection stays usable.
  ASSERT_TRUE(client.send(get("/y")));
  auto next = client.read_response();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->status, 200);
}

TEST_F(HttpServerTest, RequestWithBodyGets413AndClose) {
  start();
  Client client(port_);
  ASSERT_TRUE(client.send("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"));
  auto response = client.read_response();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(client.reads_eof());

  Client chunked(port_);
  ASSERT_TRUE(chunked.send(get("/", "Transfer-Encoding: chunked\r\n") + "5\r\nhello\r\n0\r\n\r\n"));
  auto chunked_response = chunked.read_response();
  ASSERT_TRUE(chunked_response.has_value());
  EXPECT_EQ(chunked_response->status, 413);
  EXPECT_TRUE(chunked.reads_eof());
}

TEST_F(HttpServerTest, MalformedRequestGets400AndClose) {
  start();
  Client client(port_);
  ASSERT_TRUE(client.send("THIS IS NOT HTTP\r\n\r\n"));
  auto response = client.read_response();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 400);
  EXPECT_EQ(response->header("content-type"), "application/json");
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(client.reads_eof());

  Client http2(port_);
  ASSERT_TRUE(http2.send("GET / HTTP/2.0\r\nHost: t\r\n\r\n"));
  auto unsupported = http2.read_response();
  ASSERT_TRUE(unsupported.has_value());
  EXPECT_EQ(unsupported->status, 505);
}

TEST_F(HttpServerTest, Http10ClosesUnlessKeepAliveAsked) {
  start();
  Client plain(port_);
  ASSERT_TRUE(plain.send("GET /a HTTP/1.0\r\n\r\n"));
  auto response = plain.read_response();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(plain.reads_eof());

  Client keep(port_);
  ASSERT_TRUE(keep.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto first = keep.read_response();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->header("connection"), "keep-alive");
  ASSERT_TRUE(keep.send("GET /b HTTP/1.0\r\n\r\n"));
  auto second = keep.read_response();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->header("connection"), "close");
  EXPECT_TRUE(keep.reads_eof());
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  start();
  Client client(port_);
  ASSERT_TRUE(client.send(get("/", "Connection: close\r\n")));
  auto response = client.read_response();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(client.reads_eof());
}

TEST_F(HttpServerTest, OversizedHeadGets431AndOthersAreStillServed) {
  start();
  Client big(port_);
  ASSERT_TRUE(big.send(get("/", "X-Big: " + std::string(size_t{100} * 1024, 'a') + "\r\n")));
  auto response = big.read_response();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 431);
  EXPECT_EQ(response->header("content-type"), "application/json");
  EXPECT_TRUE(big.reads_eof());

  Client other(port_);
  ASSERT_TRUE(other.send(get("/other")));
  auto answered = other.read_response();
  ASSERT_TRUE(answered.has_value());
  EXPECT_EQ(answered->status, 200);
}

TEST_F(HttpServerTest, HandlerExceptionGives500) {
  start({}, [](const Request&) -> Response { throw std::runtime_error("boom"); });
  Client client(port_);
  ASSERT_TRUE(client.send(get("/")));
  auto response = client.read_response();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 500);
  EXPECT_EQ(response->header("content-type"), "application/json");
}

TEST_F(HttpServerTest, InvalidHandlerResponseGives500) {
  start({}, [](const Request&) {
    Response response;
    response.headers.emplace_back("X-Bad", "a\r\nInjected: 1");
    return response;
  });
  Client client(port_);
  ASSERT_TRUE(client.send(get("/")));
  auto response = client.read_response();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 500);
  EXPECT_EQ(response->header("injected"), "");
}

// Raises the soft RLIMIT_NOFILE towards `wanted`, never above the hard limit;
// returns the soft limit now.
rlim_t raise_fd_limit(rlim_t wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < wanted) {
    limit.rlim_cur = std::min(wanted, limit.rlim_max);
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur;
}

TEST_F(HttpServerTest, SilentConnectionsDoNotStopOthersAndTimeOut) {
  constexpr size_t kSilent = 1000;
  if (raise_fd_limit(2 * kSilent + 100) < 2 * kSilent + 100) {
    GTEST_SKIP() << "RLIMIT_NOFILE too low for " << kSilent << " connections";
  }
  ServerOptions options;
  options.max_connections = 2 * kSilent;
  options.request_timeout = 1000ms;
  start(options);

  std::vector<Client> silent;
  silent.reserve(kSilent);
  for (size_t i = 0; i < kSilent; ++i) {
    silent.emplace_back(port_);
    ASSERT_TRUE(silent.back().connected())
        << "connection " << i << ": errno " << silent.back().connect_errno();
  }
  // One of them has sent half a request: it too must time out.
  ASSERT_TRUE(silent.front().send("GET / HTTP/1.1\r\nHo"));

  {
    Client client(port_);
    ASSERT_TRUE(client.send(get("/while-busy", "Connection: close\r\n")));
    auto response = client.read_response();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200);
  }

  EXPECT_TRUE(eventually([&] { return server_->connections() == 0; }))
      << server_->connections() << " connections still open";
  EXPECT_TRUE(silent.front().reads_eof());
  EXPECT_TRUE(silent.back().reads_eof());
}

TEST_F(HttpServerTest, ConnectionsBeyondMaximumAreClosedAtOnce) {
  ServerOptions options;
  options.max_connections = 2;
  start(options);
  Client first(port_);
  Client second(port_);
  ASSERT_TRUE(eventually([&] { return server_->connections() == 2; }));
  Client third(port_);
  ASSERT_TRUE(third.connected());
  EXPECT_TRUE(third.reads_eof());
  ASSERT_TRUE(first.send(get("/")));
  auto response = first.read_response();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpServerTest, IdleKeepAliveConnectionIsClosed) {
  ServerOptions options;
  options.idle_timeout = 200ms;
  start(options);
  Client client(port_);
  ASSERT_TRUE(client.send(get("/")));
  ASSERT_TRUE(client.read_response().has_value());
  EXPECT_TRUE(client.reads_eof());
  EXPECT_TRUE(eventually([&] { return server_->connections() == 0; }));
}

TEST_F(HttpServerTest, SlowHandlerDoesNotStopTheOtherWorker) {
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  start({}, [&, released](const Request& request) {
    if (request.path == "/slow") {
      entered.set_value();
      released.wait();
    }
    return echo(request);
  });
  Client slow(port_);
  ASSERT_TRUE(slow.send(get("/slow")));
  ASSERT_EQ(entered.get_future().wait_for(kSocketTimeout), std::future_status::ready);

  Client fast(port_);
  ASSERT_TRUE(fast.send(get("/fast")));
  auto fast_response = fast.read_response();
  release.set_value();
  ASSERT_TRUE(fast_response.has_value());
  EXPECT_EQ(fast_response->body.rfind("GET /fast ", 0), 0U);

  auto slow_response = slow.read_response();
  ASSERT_TRUE(slow_response.has_value());
  EXPECT_EQ(slow_response->body.rfind("GET /slow ", 0), 0U);
}

UniqueFd make_listening_socket(uint16_t& port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::listen(fd.get(), 16) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return UniqueFd();
  }
  port = ntohs(address.sin_port);
  return fd;
}

TEST_F(HttpServerTest, AddListenerServesASocketTheCallerMade) {
  start();
  uint16_t port = 0;
  UniqueFd listening = make_listening_socket(port);
  ASSERT_TRUE(listening);
  auto id = server_->add_listener(std::move(listening), [](const Request&) {
    Response response;
    response.body = "from added";
    return response;
  });
  ASSERT_TRUE(id.has_value()) << id.error().message();
  Client client(port);
  ASSERT_TRUE(client.send(get("/")));
  auto response = client.read_response();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "from added");
}

TEST_F(HttpServerTest, ListenerCapKeepsItsClientsFromTakingEveryConnection) {
  start();
  uint16_t port = 0;
  UniqueFd listening = make_listening_socket(port);
  ASSERT_TRUE(listening);
  auto id = server_->add_listener(std::move(listening), echo, /*max_connections=*/2);
  ASSERT_TRUE(id.has_value()) << id.error().message();
  Client first(port);
  Client second(port);
  ASSERT_TRUE(eventually([&] { return server_->connections() == 2; }));
  // A third client of the capped listener is closed at once...
  Client third(port);
  ASSERT_TRUE(third.connected());
  EXPECT_TRUE(third.reads_eof());
  // ...while the server's other listener still takes connections,
  Client other(port_);
  ASSERT_TRUE(other.send(get("/")));
  auto response = other.read_response();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  // and a closed connection frees its slot.
  first.close();
  ASSERT_TRUE(eventually([&] { return server_->connections() == 2; }));
  Client fourth(port);
  ASSERT_TRUE(fourth.send(get("/")));
  response = fourth.read_response();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpServerTest, AddListenerRefusesASocketThatDoesNotListen) {
  start();
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto id = server_->add_listener(std::move(fd), echo);
  ASSERT_FALSE(id.has_value());
  EXPECT_EQ(id.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(HttpServerTest, RemoveListenerClosesItsConnections) {
  start();
  uint16_t port = 0;
  UniqueFd listening = make_listening_socket(port);
  ASSERT_TRUE(listening);
  auto id = server_->add_listener(std::move(listening), echo);
  ASSERT_TRUE(id.has_value());
  Client removed(port);
  ASSERT_TRUE(removed.send(get("/")));
  ASSERT_TRUE(removed.read_response().has_value());
  Client other(port_);
  ASSERT_TRUE(other.send(get("/")));
  ASSERT_TRUE(other.read_response().has_value());
  ASSERT_EQ(server_->connections(), 2U);

  server_->remove_listener(*id);
  EXPECT_EQ(server_->connections(), 1U);
  EXPECT_TRUE(removed.reads_eof());
  Client refused(port);
  EXPECT_FALSE(refused.connected());
  server_->remove_listener(*id);     // already gone: no-op
  server_->remove_listener(123456);  // unknown: no-op

  ASSERT_TRUE(other.send(get("/still")));
  auto still = other.read_response();
  ASSERT_TRUE(still.has_value());
  EXPECT_EQ(still->status, 200);
}

TEST_F(HttpServerTest, RemoveListenerWaitsForItsHandlerInFlight) {
  start();
  uint16_t port = 0;
  UniqueFd listening = make_listening_socket(port);
  ASSERT_TRUE(listening);
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  auto destroyed = std::make_shared<std::atomic<bool>>(false);
  // Sets the flag when the handler (which holds the last copy) is destroyed.
  struct SetOnDestroy {
    explicit SetOnDestroy(std::shared_ptr<std::atomic<bool>> flag) : flag(std::move(flag)) {}
    SetOnDestroy(const SetOnDestroy&) = delete;
    SetOnDestroy& operator=(const SetOnDestroy&) = delete;
    ~SetOnDestroy() { flag->store(true); }
    std::shared_ptr<std::atomic<bool>> flag;
  };
  auto marker = std::make_shared<SetOnDestroy>(destroyed);
  auto id = server_->add_listener(std::move(listening),
                                  [&entered, released, marker](const Request& request) {
                                    entered.set_value();
                                    released.wait();
                                    return echo(request);
                                  });
  marker.reset();
  ASSERT_TRUE(id.has_value());
  Client client(port);
  ASSERT_TRUE(client.send(get("/")));
  ASSERT_EQ(entered.get_future().wait_for(kSocketTimeout), std::future_status::ready);

  auto removing = std::async(std::launch::async, [&] { server_->remove_listener(*id); });
  EXPECT_EQ(removing.wait_for(100ms), std::future_status::timeout);
  EXPECT_FALSE(destroyed->load());
  release.set_value();
  ASSERT_EQ(removing.wait_for(kSocketTimeout), std::future_status::ready);
  EXPECT_TRUE(destroyed->load());
  EXPECT_TRUE(client.reads_eof());
}

TEST_F(HttpServerTest, LargeResponseReachesASlowReaderWhole) {
  std::string large(size_t{5} * 1024 * 1024, '\0');
  for (size_t i = 0; i < large.size(); ++i) large[i] = static_cast<char>('a' + i % 26);
  start({}, [&large](const Request& request) {
    Response response;
    response.body = request.path == "/large" ? large : "small";
    return response;
  });
  Client slow(port_, /*receive_buffer=*/4096);
  ASSERT_TRUE(slow.send(get("/large")));
  // While the slow client reads nothing, the server's writes to it block;
  // another client must still be served.
  Client other(port_);
  ASSERT_TRUE(other.send(get("/small")));
  auto small = other.read_response();
  ASSERT_TRUE(small.has_value());
  EXPECT_EQ(small->body, "small");

  auto response = slow.read_response(false, /*chunk=*/4096);
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->header("content-length"), std::to_string(large.size()));
  EXPECT_TRUE(response->body == large) << "body of " << response->body.size() << " bytes differs";
}

TEST_F(HttpServerTest, ListenReportsAddressInUse) {
  start();
  auto again = server_->listen("127.0.0.1:" + std::to_string(port_), echo);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_NE(again.error().message().find("127.0.0.1:" + std::to_string(port_)), std::string::npos)
      << again.error().message();
  EXPECT_NE(again.error().message().find("in use"), std::string::npos);

  auto bad = server_->listen("nohost:80", echo);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("nohost:80"), std::string::npos);
}

TEST_F(HttpServerTest, ListensOnIpv6Loopback) {
  start();
  auto port = server_->listen("[::1]:0", echo);
  if (!port) GTEST_SKIP() << "no IPv6 loopback: " << port.error().message();
  UniqueFd fd(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_port = htons(*port);
  address.sin6_addr = in6addr_loopback;
  ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  std::string request = get("/six");
  ASSERT_EQ(::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  pollfd readable{fd.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&readable, 1, 5000), 1);
  std::string reply(4096, '\0');
  ssize_t got = ::recv(fd.get(), reply.data(), reply.size(), 0);
  ASSERT_GT(got, 0);
  reply.resize(static_cast<size_t>(got));
  EXPECT_NE(reply.find("peer=[::1]:"), std::string::npos) << reply;
}

TEST_F(HttpServerTest, StopIsIdempotentAndClosesConnections) {
  start();
  Client client(port_);
  ASSERT_TRUE(client.send(get("/")));
  ASSERT_TRUE(client.read_response().has_value());
  server_->stop();
  server_->stop();
  EXPECT_EQ(server_->connections(), 0U);
  EXPECT_TRUE(client.reads_eof());
  EXPECT_FALSE(server_->listen("127.0.0.1:0", echo).has_value());
}

TEST(HttpServerOptionsTest, RejectsZeroWorkers) {
  ServerOptions options;
  options.workers = 0;
  auto server = Server::start(options);
  ASSERT_FALSE(server.has_value());
  EXPECT_EQ(server.error().code(), ErrorCode::kInvalidArgument);
}

TEST(HttpAddressTest, ParsesHostAndPort) {
  auto v4 = parse_address("127.0.0.1:51680");
  ASSERT_TRUE(v4.has_value()) << v4.error().message();
  EXPECT_EQ(v4->first, "127.0.0.1");
  EXPECT_EQ(v4->second, 51680);

  auto v6 = parse_address("[::1]:0");
  ASSERT_TRUE(v6.has_value()) << v6.error().message();
  EXPECT_EQ(v6->first, "::1");
  EXPECT_EQ(v6->second, 0);

  auto name = parse_address("localhost:65535");
  ASSERT_TRUE(name.has_value());
  EXPECT_EQ(name->first, "localhost");
  EXPECT_EQ(name->second, 65535);
}

TEST(HttpAddressTest, RejectsMalformedAddresses) {
  for (const char* text :
       {"", "127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:8x",
        "::1:80", "[::1]", "[::1]80", "[::1:80", "[nothost]:80", "[]:80", "127.0.0.1: 80"}) {
    auto parsed = parse_address(text);
    ASSERT_FALSE(parsed.has_value()) << text;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument) << text;
    EXPECT_NE(parsed.error().message().find(std::string("'") + text + "'"), std::string::npos)
        << parsed.error().message();
  }
}

}  // namespace
}  // namespace berth::http
