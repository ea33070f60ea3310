#include "runtime/registry.h"

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/strings.h"
#include "runtime/curl_api.h"
#include "runtime/manifest.h"

namespace berth::runtime {

namespace {

bool is_insecure(const RegistryConfig& config, std::string_view host) {
  return std::find(config.insecure_registries.begin(), config.insecure_registries.end(), host) !=
         config.insecure_registries.end();
}

// The registry's own explanation from its JSON error body, if any.
std::string registry_error_message(const HttpResponse& response) {
  auto doc = nlohmann::json::parse(response.body, nullptr, false);
  if (doc.is_object() && doc.contains("errors") && doc["errors"].is_array() &&
      !doc["errors"].empty()) {
    const auto& first = doc["errors"][0];
    std::string code = first.value("code", "");
    std::string message = first.value("message", "");
    if (!code.empty() || !message.empty()) return code + (message.empty() ? "" : ": " + message);
  }
  return "HTTP " + std::to_string(response.status);
}

}  // namespace

Result<std::pair<std::string, std::string>> parse_mirror_flag(std::string_view flag) {
  auto eq = flag.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == flag.size()) {
    return fail(ErrorCode::kInvalidArgument, "registry mirror '" + std::string(flag) +
                                                 "' is not REGISTRY=ENDPOINT (e.g. "
                                                 "docker.io=http://127.0.0.1:5000)");
  }
  return std::pair{std::string(flag.substr(0, eq)), std::string(flag.substr(eq + 1))};
}

Result<std::vector<Endpoint>> registry_endpoints(const RegistryConfig& config,
                                                 std::string_view domain) {
  std::vector<Endpoint> endpoints;
  if (auto it = config.mirrors.find(std::string(domain)); it != config.mirrors.end()) {
    for (const std::string& raw : it->second) {
      Endpoint endpoint;
      endpoint.mirror = true;
      std::string_view rest = raw;
      if (auto pos = rest.find("://"); pos != std::string_view::npos) {
        endpoint.scheme = lower(rest.substr(0, pos));
        rest.remove_prefix(pos + 3);
      }
      // A trailing path ("/v2", "/") carries no meaning for berth.
      rest = rest.substr(0, rest.find('/'));
      endpoint.host = std::string(rest);
      if (endpoint.host.empty() ||
          (!endpoint.scheme.empty() && endpoint.scheme != "http" && endpoint.scheme != "https")) {
        return fail(ErrorCode::kInvalidArgument, "registry mirror '" + raw + "' for '" +
                                                     std::string(domain) +
                                                     "' is not an http(s) URL or host[:port]");
      }
      if (endpoint.scheme.empty()) {
        endpoint.scheme = is_insecure(config, endpoint.host) ? "http" : "https";
      }
      endpoints.push_back(std::move(endpoint));
    }
  }
  Endpoint self;
  self.host = domain == "docker.io" ? "registry-1.docker.io" : std::string(domain);
  self.scheme = is_insecure(config, domain) || is_insecure(config, self.host) ? "http" : "https";
  endpoints.push_back(std::move(self));
  return endpoints;
}

struct RegistryClient::Request {
  std::string url;
  std::vector<std::string> headers;
  const std::function<Status(std::string_view)>* sink = nullptr;  // 2xx body goes here
  size_t max_body = 8 << 20;
  bool bulk = false;  // a blob: no overall deadline, only a stall timeout
  // Filled while the transfer runs.
  HttpResponse response;
  std::optional<Error> sink_error;
  std::string www_authenticate;
};

RegistryClient::RegistryClient(Endpoint endpoint, std::string repository,
                               std::optional<Credentials> credentials)
    : endpoint_(std::move(endpoint)),
      repository_(std::move(repository)),
      credentials_(std::move(credentials)) {}

Result<HttpResponse> RegistryClient::perform_once(Request& request) {
  const CurlApi& api = *BERTH_TRY(curl_api());
  struct CurlFree {
    const CurlApi* api;
    void operator()(CURL* c) const { api->easy_cleanup(c); }
  };
  struct SlistFree {
    const CurlApi* api;
    void operator()(curl_slist* l) const { api->slist_free_all(l); }
  };
  std::unique_ptr<CURL, CurlFree> curl(api.easy_init(), CurlFree{&api});
  if (!curl) return fail(ErrorCode::kInternal, "curl_easy_init failed");
  std::unique_ptr<curl_slist, SlistFree> headers(nullptr, SlistFree{&api});
  for (const auto& h : request.headers)
    headers.reset(api.slist_append(headers.release(), h.c_str()));
  if (!authorization_.empty()) {
    headers.reset(
        api.slist_append(headers.release(), ("Authorization: " + authorization_).c_str()));
  }
  request.response = HttpResponse{};
  request.www_authenticate.clear();

  CURL* c = curl.get();
  api.easy_setopt(c, CURLOPT_URL, request.url.c_str());
  api.easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  api.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  api.easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  api.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  api.easy_setopt(c, CURLOPT_USERAGENT, "berth/0.1");
  api.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  // A registry that stops sending for 30 s is treated as gone.
  api.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  api.easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
  if (!request.bulk) api.easy_setopt(c, CURLOPT_TIMEOUT, 120L);

  auto header_cb = +[](char* data, size_t size, size_t n, void* user) -> size_t {
    auto* req = static_cast<Request*>(user);
    std::string_view line(data, size * n);
    if (line.starts_with("HTTP/")) {  // a new response (after a redirect): forget the last
      req->response.content_type.clear();
      req->response.docker_content_digest.clear();
      req->response.content_length = -1;
      req->www_authenticate.clear();
      return size * n;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return size * n;
    std::string name = lower(trim(line.substr(0, colon)));
    std::string value(trim(line.substr(colon + 1)));
    if (name == "content-type")
      req->response.content_type = value;
    else if (name == "docker-content-digest")
      req->response.docker_content_digest = value;
    else if (name == "content-length")
      req->response.content_length = std::strtoll(value.c_str(), nullptr, 10);
    else if (name == "www-authenticate")
      req->www_authenticate = value;
    return size * n;
  };
  api.easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
  api.easy_setopt(c, CURLOPT_HEADERDATA, &request);

  struct WriteState {
    Request* request;
    CURL* curl;
    const CurlApi* api;
  } state{&request, c, &api};
  auto write_cb = +[](char* data, size_t size, size_t n, void* user) -> size_t {
    auto* st = static_cast<WriteState*>(user);
    long code = 0;
    st->api->easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &code);
    std::string_view chunk(data, size * n);
    if (code >= 200 && code < 300 && st->request->sink) {
      auto status = (*st->request->sink)(chunk);
      if (!status) {
        st->request->sink_error = status.error();
        return 0;  // aborts the transfer
      }
      return chunk.size();
    }
    if (st->request->response.body.size() + chunk.size() > st->request->max_body) {
      st->request->sink_error =
          Error(ErrorCode::kInvalidArgument,
                "response larger than " + std::to_string(st->request->max_body) + " bytes");
      return 0;
    }
    st->request->response.body.append(chunk);
    return chunk.size();
  };
  api.easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
  api.easy_setopt(c, CURLOPT_WRITEDATA, &state);

  char errbuf[CURL_ERROR_SIZE] = {0};
  api.easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = api.easy_perform(c);
  if (request.sink_error) return fail(*request.sink_error);
  if (rc != CURLE_OK) {
    std::string why = errbuf[0] ? errbuf : api.easy_strerror(rc);
    ErrorCode code = ErrorCode::kUnavailable;
    if (rc == CURLE_OPERATION_TIMEDOUT) code = ErrorCode::kDeadlineExceeded;
    std::string hint;
    if (rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION ||
        rc == CURLE_SSL_CACERT_BADFILE) {
      hint = " (if this registry serves plain HTTP, mark it with --insecure-registry)";
    }
    return fail(code, "registry " + endpoint_.url() + " unreachable: " + why + hint);
  }
  api.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &request.response.status);
  return request.response;
}

Result<HttpResponse> RegistryClient::perform(Request& request) {
  auto response = BERTH_TRY(perform_once(request));
  if (response.status != 401) return response;
  std::string tried_with = authorization_;
  BERTH_TRY(authorize(response, request.www_authenticate));
  if (authorization_ == tried_with) {
    return fail(
        ErrorCode::kUnauthenticated,
        "registry " + endpoint_.url() + " refused the credentials for '" + repository_ + "'");
  }
  response = BERTH_TRY(perform_once(request));
  if (response.status == 401) {
    return fail(ErrorCode::kUnauthenticated,
                "registry " + endpoint_.url() + " refused access to '" + repository_ + "'" +
                    (credentials_ ? " with the configured credentials" : " without credentials"));
  }
  return response;
}

Status RegistryClient::authorize(const HttpResponse& response, std::string_view www_authenticate) {
  auto challenges = parse_www_authenticate(www_authenticate);
  for (const auto& challenge : challenges) {
    if (challenge.scheme == "bearer") {
      std::string token = BERTH_TRY(fetch_token(challenge));
      authorization_ = "Bearer " + token;
      return {};
    }
  }
  for (const auto& challenge : challenges) {
    if (challenge.scheme == "basic") {
      if (!credentials_ || credentials_->username.empty()) {
        return fail(ErrorCode::kUnauthenticated,
                    "registry " + endpoint_.url() +
                        " requires authentication and no credentials are configured for '" +
                        endpoint_.host + "'");
      }
      authorization_ =
          "Basic " + base64_encode(credentials_->username + ":" + credentials_->password);
      return {};
    }
  }
  return fail(ErrorCode::kUnauthenticated, "registry " + endpoint_.url() +
                                               " answered 401 with no usable challenge (" +
                                               registry_error_message(response) + ")");
}

Result<std::string> RegistryClient::fetch_token(const AuthChallenge& challenge) {
  auto realm = challenge.params.find("realm");
  if (realm == challenge.params.end() || realm->second.empty()) {
    return fail(ErrorCode::kUnauthenticated,
                "registry " + endpoint_.url() + " sent a bearer challenge without a realm");
  }
  std::string url = realm->second;
  url += url.find('?') == std::string::npos ? '?' : '&';
  if (auto service = challenge.params.find("service"); service != challenge.params.end()) {
    url += "service=" + percent_encode(service->second) + "&";
  }
  url += "scope=" + percent_encode("repository:" + repository_ + ":pull");

  // The token server is another host: reuse the machinery, not the
  // registry's Authorization header.
  RegistryClient token_client(endpoint_, repository_, std::nullopt);
  Request request;
  request.url = url;
  request.max_body = 1 << 20;
  if (credentials_ && !credentials_->username.empty()) {
    token_client.authorization_ =
        "Basic " + base64_encode(credentials_->username + ":" + credentials_->password);
  }
  auto response =
      BERTH_TRY_CTX(token_client.perform_once(request), "fetch token from " + realm->second);
  if (response.status == 401 || response.status == 403) {
    return fail(
        ErrorCode::kUnauthenticated,
        "token server " + realm->second + " refused " +
            (credentials_ ? "the credentials of user '" + credentials_->username + "'"
                          : std::string("anonymous access (no credentials are configured)")) +
            " for '" + repository_ + "'");
  }
  if (response.status != 200) {
    return fail(ErrorCode::kUnauthenticated, "token server " + realm->second + " answered HTTP " +
                                                 std::to_string(response.status));
  }
  auto doc = nlohmann::json::parse(response.body, nullptr, false);
  if (doc.is_object()) {
    for (const char* key : {"token", "access_token"}) {
      if (doc.contains(key) && doc[key].is_string() && !doc[key].get<std::string>().empty()) {
        return doc[key].get<std::string>();
      }
    }
  }
  return fail(ErrorCode::kUnauthenticated,
              "token server " + realm->second + " answered without a token");
}

Result<HttpResponse> RegistryClient::get_manifest(std::string_view tag_or_digest) {
  Request request;
  request.url = endpoint_.url() + "/v2/" + repository_ + "/manifests/" + std::string(tag_or_digest);
  request.headers.push_back("Accept: " + std::string(kManifestAccept));
  request.max_body = 4 << 20;  // manifests are small; anything larger is not one
  auto response = BERTH_TRY(perform(request));
  if (response.status == 404) {
    return fail(ErrorCode::kNotFound, "registry " + endpoint_.url() + " has no manifest '" +
                                          std::string(tag_or_digest) + "' in '" + repository_ +
                                          "' (" + registry_error_message(response) + ")");
  }
  if (response.status != 200) {
    return fail(ErrorCode::kUnavailable, "registry " + endpoint_.url() + ": GET manifest '" +
                                             std::string(tag_or_digest) + "' of '" + repository_ +
                                             "': " + registry_error_message(response));
  }
  return response;
}

Status RegistryClient::fetch_blob(std::string_view digest,
                                  const std::function<Status(std::string_view)>& sink) {
  Request request;
  request.url = endpoint_.url() + "/v2/" + repository_ + "/blobs/" + std::string(digest);
  request.bulk = true;
  request.max_body = 1 << 20;
  request.sink = &sink;
  auto response = BERTH_TRY(perform(request));
  if (response.status == 404) {
    return fail(ErrorCode::kNotFound, "registry " + endpoint_.url() + " has no blob " +
                                          std::string(digest) + " in '" + repository_ + "'");
  }
  if (response.status != 200) {
    return fail(ErrorCode::kUnavailable, "registry " + endpoint_.url() + ": GET blob " +
                                             std::string(digest) + ": " +
                                             registry_error_message(response));
  }
  return {};
}

}  // namespace berth::runtime
