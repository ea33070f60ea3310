// The generated stubs of etcd's services, one set per endpoint, for the
// client's own sources only.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace berth::etcd {

namespace pb = ::etcdserverpb;

struct Endpoint {
  std::string url;  // as given
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::KV::Stub> kv;
  std::unique_ptr<pb::Lease::Stub> lease;
  std::unique_ptr<pb::Watch::Stub> watch;
  std::unique_ptr<pb::Auth::Stub> auth;
};

struct Channels {
  std::vector<Endpoint> endpoints;
};

}  // namespace berth::etcd
