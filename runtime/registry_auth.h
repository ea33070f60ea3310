// What a registry asks for (WWW-Authenticate challenges) and what we can
// offer (credentials from a docker config.json).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace berth::runtime {

struct AuthChallenge {
  std::string scheme;                         // lowercased: "bearer", "basic", ...
  std::map<std::string, std::string> params;  // names lowercased, values unquoted
};

// Parses a WWW-Authenticate header value (RFC 7235), which may hold several
// challenges, e.g.
//   Bearer realm="https://auth.docker.io/token",service="registry.docker.io"
// Registries are not always well-formed, so this never fails: unparseable
// pieces are skipped, and a token68 credential (no name=value) is ignored.
// When a parameter repeats, the first occurrence wins.
std::vector<AuthChallenge> parse_www_authenticate(std::string_view header);

struct Credentials {
  std::string username;
  std::string password;
  std::string identity_token;  // an OAuth2 refresh token, used instead of a password

  bool empty() const { return username.empty() && password.empty() && identity_token.empty(); }

  bool operator==(const Credentials&) const = default;
};

// Credentials per registry host, as stored in the "auths" section of a docker
// config.json. Credential helpers ("credsStore", "credHelpers") are not run.
class CredentialStore {
 public:
  CredentialStore() = default;

  // Parses config.json content. Each "auths" key may be a bare host
  // ("127.0.0.1:5000") or a URL ("https://index.docker.io/v1/"); entries may
  // give "auth" (base64 "user:password", which wins over "username" and
  // "password") and/or "identitytoken". Entries without any credentials are
  // skipped.
  static Result<CredentialStore> parse(std::string_view json);

  // Reads and parses the file at `path`. A missing file is an empty store,
  // since most hosts never ran `docker login`.
  static Result<CredentialStore> load(const std::string& path);

  // Credentials for a registry host[:port] (a URL is accepted too). The Docker
  // Hub names docker.io, index.docker.io and registry-1.docker.io match each
  // other.
  std::optional<Credentials> lookup(std::string_view registry_host) const;

  size_t size() const { return by_host_.size(); }

 private:
  explicit CredentialStore(std::map<std::string, Credentials> by_host)
      : by_host_(std::move(by_host)) {}

  std::map<std::string, Credentials> by_host_;  // keyed by normalised host
};

}  // namespace berth::runtime
