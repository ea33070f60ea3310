// Talking to an OCI distribution registry over HTTP(S) with libcurl:
// endpoints (mirrors, insecure hosts), authentication (anonymous, basic and
// bearer tokens) and the two reads a pull needs (manifests and blobs).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "runtime/registry_auth.h"

namespace berth::runtime {

struct RegistryConfig {
  // host[:port] of registries that may be reached over plain HTTP.
  std::vector<std::string> insecure_registries;
  // Registry domain (as in an image reference, e.g. "docker.io") -> endpoints
  // tried in order before the registry itself. An endpoint is a URL
  // ("http://127.0.0.1:5000") or host[:port] (HTTPS unless insecure).
  std::map<std::string, std::vector<std::string>> mirrors;
  // Path of a docker config.json with credentials ("" for none).
  std::string credentials_file;
};

struct Endpoint {
  std::string scheme;  // "http" or "https"
  std::string host;    // host[:port]
  bool mirror = false;
  std::string url() const { return scheme + "://" + host; }
};

// The endpoints to try for a registry domain: its mirrors, then the registry
// itself (docker.io is served by registry-1.docker.io). Fails on a malformed
// mirror.
Result<std::vector<Endpoint>> registry_endpoints(const RegistryConfig& config,
                                                 std::string_view domain);

// Parses "docker.io=http://127.0.0.1:5000" (a --registry-mirror flag).
Result<std::pair<std::string, std::string>> parse_mirror_flag(std::string_view flag);

struct HttpResponse {
  long status = 0;
  std::string content_type;
  std::string docker_content_digest;
  int64_t content_length = -1;
  std::string body;
};

// One repository on one endpoint. Not thread-safe; cheap to create.
class RegistryClient {
 public:
  RegistryClient(Endpoint endpoint, std::string repository, std::optional<Credentials> credentials);

  const Endpoint& endpoint() const { return endpoint_; }

  // GETs a manifest or index by tag or digest. A missing manifest is
  // kNotFound with the registry's own explanation.
  Result<HttpResponse> get_manifest(std::string_view tag_or_digest);

  // Streams a blob, from its first byte, into `sink`.
  Status fetch_blob(std::string_view digest, const std::function<Status(std::string_view)>& sink);

 private:
  struct Request;
  Result<HttpResponse> perform(Request& request);
  Result<HttpResponse> perform_once(Request& request);
  Status authorize(const HttpResponse& challenge_response, std::string_view www_authenticate);
  Result<std::string> fetch_token(const AuthChallenge& challenge);

  Endpoint endpoint_;
  std::string repository_;
  std::optional<Credentials> credentials_;
  std::string authorization_;  // the header value that worked last
  std::string last_www_authenticate_;
};

}  // namespace berth::runtime
