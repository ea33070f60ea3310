// gRPC's status as berth's Error, for every gRPC client berth has
// (containerd, etcd).
#pragma once

#include <grpcpp/support/status.h>

#include <string_view>

#include "common/error.h"

namespace berth {

// "what: <gRPC's message>", with the gRPC code mapped to berth's.
Error grpc_error(const grpc::Status& status, std::string_view what);

}  // namespace berth
