// Where berthd's failpoints come from (common/failpoint.h). berthd links
// off.cpp: it has none and cannot be given any. The test binary
// berthd-failpoints links from_env.cpp, which arms them at start from
//   BERTH_FAILPOINTS="point[@N]=action[;...]"
//     point   a name such as cni.add.before or container.start.after
//     N       fire at the N-th time the point is reached (default 1), once
//     action  crash (SIGKILL to berthd itself), error (the step fails),
//             delay:MS (the step stalls MS milliseconds)
//   BERTH_FAILPOINT_TRACE=FILE   every point reached is appended to FILE
#pragma once

#include <memory>
#include <string>

#include "common/failpoint.h"

namespace berth::agent {

// nullptr when there are none; `summary` says what was armed, for the log.
std::unique_ptr<Failpoints> failpoints_from_environment(std::string* summary);

}  // namespace berth::agent
