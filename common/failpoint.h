// Failpoints: named points before and after every step that touches the
// host or a checkpoint, where a test build of berthd can crash, fail or
// stall on purpose (tests/crash/). Production builds pass no Failpoints at
// all, so a site costs one pointer test; the code that arms failpoints from
// the environment is linked only into the test binary (berthd-failpoints).
#pragma once

#include <string_view>

#include "common/error.h"

namespace berth {

class Failpoints {
 public:
  virtual ~Failpoints() = default;
  // Called when execution reaches `point` ("cni.add.before"): returns an
  // error to inject, or nothing; may sleep; may not return at all (crash).
  virtual Status at(std::string_view point) const = 0;
};

// The site: `BERTH_TRY(failpoint(fp, "cni.add.before"));`
inline Status failpoint(const Failpoints* failpoints, std::string_view point) {
  if (failpoints == nullptr) return {};
  return failpoints->at(point);
}

}  // namespace berth
