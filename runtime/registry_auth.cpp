#include "runtime/registry_auth.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/fd.h"
#include "common/strings.h"

namespace berth::runtime {
namespace {

// ---- WWW-Authenticate ------------------------------------------------------

bool is_space(char c) { return c == ' ' || c == '\t'; }

// RFC 9110 tchar.
bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token68_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("-._~+/").find(c) != std::string_view::npos;
}

std::string_view take_token(std::string_view& text) {
  size_t end = 0;
  while (end < text.size() && is_token_char(text[end])) ++end;
  std::string_view token = text.substr(0, end);
  text.remove_prefix(end);
  return token;
}

// Splits at commas outside quoted strings. The header grammar is a comma list
// whose elements are either "scheme [param | token68]" or a further "param"
// of the preceding challenge, so elements are the unit of interpretation.
std::vector<std::string_view> split_list_elements(std::string_view header) {
  std::vector<std::string_view> elements;
  bool in_quotes = false;
  size_t start = 0;
  for (size_t i = 0; i < header.size(); ++i) {
    char c = header[i];
    if (in_quotes && c == '\\') {
      ++i;  // the escaped character cannot end the quoted string
    } else if (c == '"') {
      in_quotes = !in_quotes;
    } else if (c == ',' && !in_quotes) {
      elements.push_back(trim(header.substr(start, i - start)));
      start = i + 1;
    }
  }
  elements.push_back(trim(header.substr(start)));
  return elements;
}

// Value of a parameter: a quoted-string (escapes removed) or, leniently, the
// rest of the element, since some registries send unquoted URLs.
std::string unquote_value(std::string_view value) {
  if (!value.starts_with('"')) return std::string(value);
  std::string out;
  for (size_t i = 1; i < value.size(); ++i) {
    char c = value[i];
    if (c == '"') break;
    if (c == '\\' && i + 1 < value.size()) c = value[++i];
    out += c;
  }
  return out;
}

// token68 := 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
bool is_token68(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && is_token68_char(text[i])) ++i;
  if (i == 0) return false;
  while (i < text.size() && text[i] == '=') ++i;
  return i == text.size();
}

// Parses "name BWS = BWS value" into `params`; false if `element` is not a
// parameter.
bool parse_param(std::string_view element, std::map<std::string, std::string>& params) {
  std::string_view rest = element;
  std::string_view name = take_token(rest);
  rest = trim(rest);
  if (name.empty() || !rest.starts_with('=')) return false;
  rest = trim(rest.substr(1));
  params.emplace(lower(name), unquote_value(rest));
  return true;
}

// ---- config.json -----------------------------------------------------------

constexpr std::string_view kDockerHubHost = "docker.io";
// The key `docker login` writes for Docker Hub; it wins over other spellings.
constexpr std::string_view kDockerHubConfigKey = "https://index.docker.io/v1/";

// "https://host:port/v2/" -> "host:port"; Docker Hub's names -> "docker.io".
std::string normalize_registry_host(std::string_view key) {
  if (size_t scheme_end = key.find("://"); scheme_end != std::string_view::npos) {
    key.remove_prefix(scheme_end + 3);
  }
  key = key.substr(0, key.find('/'));
  std::string host = lower(key);
  if (host == "index.docker.io" || host == "registry-1.docker.io") host = kDockerHubHost;
  return host;
}

// How `docker` itself would spell the key for a host; such a key takes
// precedence when several keys name the same registry.
bool is_preferred_key(std::string_view key, std::string_view host) {
  return host == kDockerHubHost ? key == kDockerHubConfigKey : key == host;
}

std::string quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

// Reads an optional string member; null counts as absent.
Result<std::string> string_member(const nlohmann::json& entry, std::string_view entry_name,
                                  const char* member) {
  auto it = entry.find(member);
  if (it == entry.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return fail(ErrorCode::kInvalidArgument,
                std::string(entry_name) + "." + member + " must be a string");
  }
  return it->get<std::string>();
}

Result<Credentials> parse_entry(const std::string& key, const nlohmann::json& entry) {
  std::string entry_name = "auths[" + quote(key) + "]";
  if (!entry.is_object()) {
    return fail(ErrorCode::kInvalidArgument, entry_name + " must be an object");
  }
  Credentials credentials;
  credentials.username = BERTH_TRY(string_member(entry, entry_name, "username"));
  credentials.password = BERTH_TRY(string_member(entry, entry_name, "password"));
  credentials.identity_token = BERTH_TRY(string_member(entry, entry_name, "identitytoken"));
  std::string auth = BERTH_TRY(string_member(entry, entry_name, "auth"));
  if (auth.empty()) return credentials;

  Result<std::string> decoded = base64_decode(auth);
  if (!decoded) return fail(decoded.error().with_context(entry_name + ".auth"));
  // The decoded text is a secret: never put it in a message.
  size_t colon = decoded->find(':');
  if (colon == std::string::npos || colon == 0) {
    return fail(ErrorCode::kInvalidArgument,
                entry_name + ".auth must encode \"username:password\"");
  }
  credentials.username = decoded->substr(0, colon);
  credentials.password = decoded->substr(colon + 1);
  return credentials;
}

// Credentials by normalised host.
Result<std::map<std::string, Credentials>> parse_config(std::string_view json) {
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(json.begin(), json.end());
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::kInvalidArgument, std::string("malformed JSON: ") + e.what());
  }
  if (!document.is_object()) {
    return fail(ErrorCode::kInvalidArgument, "top level must be a JSON object");
  }
  std::map<std::string, Credentials> by_host;
  auto auths = document.find("auths");
  if (auths == document.end() || auths->is_null()) return by_host;
  if (!auths->is_object()) return fail(ErrorCode::kInvalidArgument, "\"auths\" must be an object");

  std::map<std::string, bool> from_preferred_key;
  for (const auto& [key, entry] : auths->items()) {
    Credentials credentials = BERTH_TRY(parse_entry(key, entry));
    // `docker login` with a credential helper leaves empty entries behind.
    if (credentials.empty()) continue;
    std::string host = normalize_registry_host(key);
    bool preferred = is_preferred_key(key, host);
    auto existing = from_preferred_key.find(host);
    if (existing != from_preferred_key.end() && (existing->second || !preferred)) continue;
    by_host[host] = std::move(credentials);
    from_preferred_key[host] = preferred;
  }
  return by_host;
}

}  // namespace

std::vector<AuthChallenge> parse_www_authenticate(std::string_view header) {
  std::vector<AuthChallenge> challenges;
  for (std::string_view element : split_list_elements(header)) {
    if (element.empty()) continue;
    if (!challenges.empty() && parse_param(element, challenges.back().params)) continue;

    std::string_view rest = element;
    std::string_view scheme = take_token(rest);
    if (scheme.empty() || !(rest.empty() || is_space(rest.front()))) continue;  // garbage
    AuthChallenge challenge;
    challenge.scheme = lower(scheme);
    rest = trim(rest);
    if (!rest.empty() && !is_token68(rest)) parse_param(rest, challenge.params);
    challenges.push_back(std::move(challenge));
  }
  return challenges;
}

Result<CredentialStore> CredentialStore::parse(std::string_view json) {
  Result<std::map<std::string, Credentials>> by_host = parse_config(json);
  if (!by_host) return fail(by_host.error().with_context("docker config"));
  return CredentialStore(std::move(*by_host));
}

Result<CredentialStore> CredentialStore::load(const std::string& path) {
  std::string context = "docker config " + quote(path);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return CredentialStore();
    return fail_errno("open " + context);
  }
  std::string content;
  char buffer[8192];
  while (true) {
    ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno("read " + context);
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
  }
  Result<std::map<std::string, Credentials>> by_host = parse_config(content);
  if (!by_host) return fail(by_host.error().with_context(context));
  return CredentialStore(std::move(*by_host));
}

std::optional<Credentials> CredentialStore::lookup(std::string_view registry_host) const {
  auto it = by_host_.find(normalize_registry_host(registry_host));
  if (it == by_host_.end()) return std::nullopt;
  return it->second;
}

}  // namespace berth::runtime
