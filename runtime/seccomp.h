// A container's seccomp filter, as Docker builds it: a profile in Docker's
// format (containers-common's /usr/share/containers/seccomp.json) turned
// into the OCI spec's linux.seccomp for one container, keeping the rules
// whose conditions (capabilities in the bounding set, architecture, kernel
// version) hold for it. Pure: the caller passes the host's facts.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>

#include "common/error.h"

namespace berth::runtime {

// What the filter depends on besides the container's capabilities.
struct SeccompHost {
  std::string arch;            // Go's name for the host: "amd64", "arm64", ...
  std::string kernel_release;  // uname -r: "6.1.0-18-amd64"
};

// The host this process runs on.
SeccompHost seccomp_host();

// Reads and checks a profile in Docker's format: the error names the file
// and what is wrong with it.
Result<nlohmann::json> load_seccomp_profile(const std::string& path);

// linux.seccomp for a container whose bounding set is `capabilities`.
//
// Beyond the profile, two rules of Docker's own profile that
// containers-common's lacks: the kernel keyring (add_key, keyctl,
// request_key: not namespaced) fails with EPERM for every container; and
// namespaces and mounts need CAP_SYS_ADMIN: without it, unshare, setns,
// mount and the new mount API fail with EPERM, clone with a CLONE_NEW* flag
// is refused and clone3 gives ENOSYS (so that libc falls back to clone,
// whose flags the filter can see).
Result<nlohmann::json> oci_seccomp(const nlohmann::json& profile,
                                   const std::set<std::string>& capabilities,
                                   const SeccompHost& host);

}  // namespace berth::runtime
