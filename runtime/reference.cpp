#include "runtime/reference.h"

#include <algorithm>
#include <cstdio>

namespace berth::runtime {
namespace {

constexpr std::string_view kDockerHubDomain = "docker.io";
// The pre-"docker.io" name of Docker Hub; references using it mean the same images.
constexpr std::string_view kLegacyDockerHubDomain = "index.docker.io";
constexpr std::string_view kDockerHubRegistryHost = "registry-1.docker.io";
constexpr std::string_view kOfficialRepoPrefix = "library/";
constexpr std::string_view kDefaultTag = "latest";
constexpr size_t kMaxNameLength = 255;
constexpr size_t kMaxTagLength = 128;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_alpha(char c) { return is_lower(c) || is_upper(c); }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
bool is_lower_alnum(char c) { return is_lower(c) || is_digit(c); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_lower_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }
bool is_word(char c) { return is_alnum(c) || c == '_'; }

bool has_upper(std::string_view text) { return std::ranges::any_of(text, is_upper); }

// Quotes user input for an error message; control characters would otherwise
// garble logs.
std::string quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\x%02x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

Status invalid(std::string reason) { return fail(ErrorCode::kInvalidArgument, std::move(reason)); }

// domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool is_domain_component(std::string_view component) {
  if (component.empty() || !is_alnum(component.front()) || !is_alnum(component.back())) {
    return false;
  }
  return std::ranges::all_of(component, [](char c) { return is_alnum(c) || c == '-'; });
}

Status validate_domain(std::string_view domain) {
  std::string_view host = domain;
  std::string_view port;
  bool has_port = false;
  if (domain.starts_with('[')) {
    size_t close = domain.find(']');
    if (close == std::string_view::npos) {
      return invalid("registry host " + quote(domain) + " has an unterminated IPv6 address");
    }
    std::string_view address = domain.substr(1, close - 1);
    if (address.empty() ||
        !std::ranges::all_of(address, [](char c) { return is_hex(c) || c == ':'; })) {
      return invalid("registry host " + quote(domain) + " has an invalid IPv6 address");
    }
    host = domain.substr(0, close + 1);
    std::string_view rest = domain.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return invalid("registry host " + quote(domain) + " has junk after the IPv6 address");
      }
      has_port = true;
      port = rest.substr(1);
    }
  } else {
    size_t colon = domain.find(':');
    if (colon != std::string_view::npos) {
      host = domain.substr(0, colon);
      port = domain.substr(colon + 1);
      has_port = true;
    }
    size_t start = 0;
    while (true) {
      size_t dot = host.find('.', start);
      std::string_view component = host.substr(start, dot - start);
      if (!is_domain_component(component)) {
        return invalid("registry host " + quote(host) +
                       " must be dot-separated letters, digits and inner hyphens");
      }
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
  }
  if (has_port && (port.empty() || !std::ranges::all_of(port, is_digit))) {
    return invalid("registry port " + quote(port) + " must be a number");
  }
  return {};
}

// path-component := [a-z0-9]+ (separator [a-z0-9]+)*
// separator      := [._] | "__" | "-"+
bool is_path_component(std::string_view component) {
  size_t i = 0;
  auto alnum_run = [&] {
    size_t start = i;
    while (i < component.size() && is_lower_alnum(component[i])) ++i;
    return i > start;
  };
  if (!alnum_run()) return false;
  while (i < component.size()) {
    char separator = component[i++];
    if (separator == '_') {
      if (i < component.size() && component[i] == '_') ++i;
    } else if (separator == '-') {
      while (i < component.size() && component[i] == '-') ++i;
    } else if (separator != '.') {
      return false;
    }
    if (!alnum_run()) return false;
  }
  return true;
}

Status validate_path(std::string_view path) {
  if (path.empty()) return invalid("repository name is empty");
  // Upper case is the mistake people actually make; say so rather than
  // reporting a generic grammar violation.
  if (has_upper(path)) return invalid("repository name must be lowercase");
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    std::string_view component = path.substr(start, slash - start);
    if (component.empty()) return invalid("repository name has an empty path component");
    if (!is_path_component(component)) {
      return invalid("repository name component " + quote(component) +
                     " must be lowercase letters and digits separated by '.', '_', '__' or "
                     "'-'");
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return {};
}

// tag := [\w][\w.-]{0,127}
Status validate_tag(std::string_view tag) {
  if (tag.empty()) return invalid("tag is empty");
  if (tag.size() > kMaxTagLength) {
    return invalid("tag is longer than " + std::to_string(kMaxTagLength) + " characters");
  }
  bool valid = is_word(tag.front()) &&
               std::ranges::all_of(tag, [](char c) { return is_word(c) || c == '.' || c == '-'; });
  if (!valid) {
    return invalid("tag " + quote(tag) +
                   " must be letters, digits, '_', '.' and '-', not starting with '.' or '-'");
  }
  return {};
}

// The hex length each well-known algorithm produces; containerd refuses
// digests of these algorithms with any other length or with upper case.
size_t known_digest_hex_length(std::string_view algorithm) {
  if (algorithm == "sha256") return 64;
  if (algorithm == "sha384") return 96;
  if (algorithm == "sha512") return 128;
  return 0;
}

// digest := algorithm ":" hex
// algorithm := [A-Za-z][A-Za-z0-9]* ([-_+.][A-Za-z][A-Za-z0-9]*)*
// hex := [0-9a-fA-F]{32,}
Status validate_digest(std::string_view digest) {
  if (digest.empty()) return invalid("digest is empty");
  size_t colon = digest.find(':');
  if (colon == std::string_view::npos) {
    return invalid("digest " + quote(digest) + " must be <algorithm>:<hex>");
  }
  std::string_view algorithm = digest.substr(0, colon);
  std::string_view hex = digest.substr(colon + 1);
  bool algorithm_valid = !algorithm.empty();
  bool component_start = true;
  for (char c : algorithm) {
    if (component_start) {
      algorithm_valid = algorithm_valid && is_alpha(c);
      component_start = false;
    } else if (c == '-' || c == '_' || c == '+' || c == '.') {
      component_start = true;
    } else {
      algorithm_valid = algorithm_valid && is_alnum(c);
    }
  }
  if (!algorithm_valid || component_start) {
    return invalid("digest algorithm " + quote(algorithm) + " is invalid");
  }
  if (size_t expected = known_digest_hex_length(algorithm); expected != 0) {
    if (hex.size() != expected || !std::ranges::all_of(hex, is_lower_hex)) {
      return invalid("digest " + quote(digest) + " must be \"" + std::string(algorithm) +
                     ":\" followed by " + std::to_string(expected) + " lowercase hex digits");
    }
    return {};
  }
  if (hex.size() < 32 || !std::ranges::all_of(hex, is_hex)) {
    return invalid("digest " + quote(digest) + " must have at least 32 hex digits after \"" +
                   std::string(algorithm) + ":\"");
  }
  return {};
}

bool is_image_id(std::string_view text) {
  return text.size() == 64 && std::ranges::all_of(text, is_lower_hex);
}

// Mirrors distribution/reference's splitDockerDomain: the first component is
// a registry only if it cannot be a Docker Hub namespace.
void split_domain(std::string_view text, ImageReference& out, std::string& remainder) {
  size_t slash = text.find('/');
  std::string_view first = text.substr(0, slash);
  bool first_is_domain = slash != std::string_view::npos &&
                         (first == "localhost" || first == kLegacyDockerHubDomain ||
                          first.find_first_of(".:") != std::string_view::npos ||
                          // Namespaces are lowercase, so docker reads upper case as a host.
                          has_upper(first));
  if (first_is_domain) {
    out.domain = first == kLegacyDockerHubDomain ? kDockerHubDomain : first;
    remainder = text.substr(slash + 1);
  } else {
    out.domain = kDockerHubDomain;
    remainder = text;
  }
  // Docker Hub's official images live in "library"; only Hub has that rule.
  std::string_view name = std::string_view(remainder).substr(0, remainder.find_first_of(":@"));
  if (out.domain == kDockerHubDomain && name.find('/') == std::string_view::npos) {
    remainder.insert(0, kOfficialRepoPrefix);
  }
}

Result<ImageReference> parse_normalized(std::string_view text) {
  if (text.empty()) return fail(ErrorCode::kInvalidArgument, "reference is empty");
  if (is_image_id(text)) {
    return fail(ErrorCode::kInvalidArgument,
                "a 64-character hex string is an image ID, not a repository name");
  }
  ImageReference reference;
  std::string remainder;
  split_domain(text, reference, remainder);

  std::string_view rest = remainder;
  bool has_digest = false;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    reference.digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    has_digest = true;
  }
  bool has_tag = false;
  if (size_t colon = rest.find(':'); colon != std::string_view::npos) {
    reference.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    has_tag = true;
  }
  reference.path = rest;

  BERTH_TRY(validate_path(reference.path));
  BERTH_TRY(validate_domain(reference.domain));
  if (has_tag) BERTH_TRY(validate_tag(reference.tag));
  if (has_digest) BERTH_TRY(validate_digest(reference.digest));
  if (reference.repository().size() > kMaxNameLength) {
    return fail(ErrorCode::kInvalidArgument, "repository name " + quote(reference.repository()) +
                                                 " is longer than " +
                                                 std::to_string(kMaxNameLength) + " characters");
  }
  if (!has_tag && !has_digest) reference.tag = kDefaultTag;
  return reference;
}

}  // namespace

std::string ImageReference::string() const {
  std::string out = repository();
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

std::string ImageReference::repository() const { return domain + "/" + path; }

Result<ImageReference> parse_image_reference(std::string_view text) {
  Result<ImageReference> reference = parse_normalized(text);
  if (!reference) {
    return fail(
        std::move(reference.error()).with_context("invalid image reference " + quote(text)));
  }
  return reference;
}

std::string registry_host_for(const ImageReference& reference) {
  if (reference.domain == kDockerHubDomain || reference.domain == kLegacyDockerHubDomain) {
    return std::string(kDockerHubRegistryHost);
  }
  return reference.domain;
}

}  // namespace berth::runtime
