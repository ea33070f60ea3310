// ENI-style interfaces: a host interface given to an awsvpc task as its
// eth0, with what to configure on it there (ECS's ENI, on any Linux host).
// The node's pool comes from --eni; a task may name one with its tags:
//   berth:eni            the host interface's name
//   berth:eni-addresses  CIDRs to put on it, comma-separated
//   berth:eni-gateway    its default gateway (needs berth:eni-addresses)
//   berth:eni-mtu        68..65535
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace berth::agent {

struct EniSpec {
  std::string name;                    // on the host
  std::vector<std::string> addresses;  // CIDR, IPv4 and/or IPv6
  std::string gateway;                 // "" for none
  uint32_t mtu = 0;                    // 0: leave as is
};

inline constexpr std::string_view kEniTag = "berth:eni";

// "eth5=10.0.0.5/24,fd00::5/64@10.0.0.1" (addresses and gateway optional)
// -> EniSpec. Errors name the part that is wrong.
Result<EniSpec> parse_eni_spec(std::string_view text);

// The interface an awsvpc task gets: the one its tags name (the pool's
// settings for it, overridden by the tags), else the first of the pool not
// `in_use` (interface -> the task holding it), else none (CNI gives the task its interface). Errors
// name the tag, or say that the pool is exhausted (RESOURCE:ENI).
Result<std::optional<EniSpec>> choose_eni(const std::map<std::string, std::string>& tags,
                                          const std::vector<EniSpec>& pool,
                                          const std::map<std::string, std::string>& in_use);

// The spec of the interface `name` a task was given: from its tags, or the
// pool's entry; an error when neither has it any more.
Result<EniSpec> eni_by_name(const std::string& name, const std::map<std::string, std::string>& tags,
                            const std::vector<EniSpec>& pool);

}  // namespace berth::agent
