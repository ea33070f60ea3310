#include "agent/network/eni.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdlib>

#include "common/strings.h"

namespace berth::agent {

namespace {

constexpr std::string_view kEniAddressesTag = "berth:eni-addresses";
constexpr std::string_view kEniGatewayTag = "berth:eni-gateway";
constexpr std::string_view kEniMtuTag = "berth:eni-mtu";

bool valid_cidr(const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) return false;
  std::string address = cidr.substr(0, slash);
  std::string prefix = cidr.substr(slash + 1);
  if (prefix.empty() || prefix.size() > 3 ||
      !std::ranges::all_of(prefix, [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  int bits = std::stoi(prefix);
  unsigned char buffer[sizeof(in6_addr)];
  if (inet_pton(AF_INET, address.c_str(), buffer) == 1) return bits <= 32;
  if (inet_pton(AF_INET6, address.c_str(), buffer) == 1) return bits <= 128;
  return false;
}

bool valid_address(const std::string& address) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, address.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, address.c_str(), buffer) == 1;
}

std::optional<std::string> tag(const std::map<std::string, std::string>& tags,
                               std::string_view key) {
  auto it = tags.find(std::string(key));
  if (it == tags.end()) return std::nullopt;
  return it->second;
}

std::string tag_path(std::string_view key) { return "tags." + std::string(key); }

Result<EniSpec> from_tags(const std::string& name, const std::map<std::string, std::string>& tags,
                          const std::vector<EniSpec>& pool) {
  EniSpec eni;
  eni.name = name;
  for (const auto& entry : pool) {
    if (entry.name == name) eni = entry;
  }
  auto gateway = tag(tags, kEniGatewayTag);
  if (auto addresses = tag(tags, kEniAddressesTag)) {
    auto parsed = parse_eni_spec(name + "=" + *addresses + (gateway ? "@" + *gateway : ""));
    if (!parsed) {
      return fail(ErrorCode::kInvalidArgument,
                  tag_path(kEniAddressesTag) + ": " + parsed.error().message());
    }
    eni.addresses = parsed->addresses;
    eni.gateway = parsed->gateway;
  } else if (gateway) {
    return fail(ErrorCode::kInvalidArgument,
                tag_path(kEniGatewayTag) + ": needs " + tag_path(kEniAddressesTag) + " too");
  }
  if (auto mtu = tag(tags, kEniMtuTag)) {
    char* end = nullptr;
    unsigned long value = std::strtoul(mtu->c_str(), &end, 10);
    if (mtu->empty() || *end != '\0' || value < 68 || value > 65535) {
      return fail(ErrorCode::kInvalidArgument,
                  tag_path(kEniMtuTag) + ": '" + *mtu + "' is not an MTU (68..65535)");
    }
    eni.mtu = static_cast<uint32_t>(value);
  }
  return eni;
}

}  // namespace

Result<EniSpec> parse_eni_spec(std::string_view text) {
  EniSpec eni;
  std::string_view rest = text;
  auto at = rest.find('@');
  if (at != std::string_view::npos) {
    eni.gateway = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (!valid_address(eni.gateway)) {
      return fail(ErrorCode::kInvalidArgument, "ENI '" + std::string(text) + "': gateway '" +
                                                   eni.gateway +
                                                   "' is not an IPv4 or IPv6 address");
    }
  }
  auto equals = rest.find('=');
  eni.name = std::string(rest.substr(0, equals));
  if (eni.name.empty() || eni.name.size() > 15 || eni.name.find('/') != std::string::npos) {
    return fail(ErrorCode::kInvalidArgument,
                "ENI '" + std::string(text) + "': '" + eni.name + "' is not an interface name");
  }
  if (equals != std::string_view::npos) {
    for (auto& cidr : split(rest.substr(equals + 1), ',')) {
      if (!valid_cidr(cidr)) {
        return fail(ErrorCode::kInvalidArgument, "ENI '" + std::string(text) + "': address '" +
                                                     cidr + "' is not in CIDR form (10.0.0.5/24)");
      }
      eni.addresses.push_back(cidr);
    }
  }
  return eni;
}

Result<std::optional<EniSpec>> choose_eni(const std::map<std::string, std::string>& tags,
                                          const std::vector<EniSpec>& pool,
                                          const std::map<std::string, std::string>& in_use) {
  if (auto name = tag(tags, kEniTag)) {
    auto eni = BERTH_TRY(from_tags(*name, tags, pool));
    if (auto holder = in_use.find(eni.name); holder != in_use.end()) {
      return fail(
          ErrorCode::kFailedPrecondition,
          "RESOURCE:ENI: interface '" + eni.name + "' is in use by task '" + holder->second + "'");
    }
    return std::optional<EniSpec>(std::move(eni));
  }
  if (pool.empty()) return std::optional<EniSpec>();
  for (const auto& entry : pool) {
    if (!in_use.contains(entry.name)) return std::optional<EniSpec>(entry);
  }
  return fail(ErrorCode::kFailedPrecondition,
              "RESOURCE:ENI: every interface of the node's ENI pool is in use");
}

Result<EniSpec> eni_by_name(const std::string& name, const std::map<std::string, std::string>& tags,
                            const std::vector<EniSpec>& pool) {
  if (tag(tags, kEniTag)) return from_tags(name, tags, pool);
  for (const auto& entry : pool) {
    if (entry.name == name) return entry;
  }
  return fail(ErrorCode::kNotFound, "ENI '" + name + "' is no longer in the node's pool");
}

}  // namespace berth::agent
