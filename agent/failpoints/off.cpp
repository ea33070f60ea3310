#include "agent/failpoints/failpoints.h"

namespace berth::agent {

std::unique_ptr<Failpoints> failpoints_from_environment(std::string*) { return nullptr; }

}  // namespace berth::agent
