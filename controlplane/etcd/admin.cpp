// Client's auth administration: users, roles, permissions, auth enable.
#include <grpcpp/grpcpp.h>

#include "controlplane/etcd/client.h"
#include "controlplane/etcd/stubs.h"

namespace berth::etcd {

Status Client::add_user(const std::string& name, const std::string& password) {
  pb::AuthUserAddRequest request;
  request.set_name(name);
  request.set_password(password);
  pb::AuthUserAddResponse response;
  return invoke("add user", name, [&](Endpoint& e, grpc::ClientContext& ctx) {
    return e.auth->UserAdd(&ctx, request, &response);
  });
}

Status Client::delete_user(const std::string& name) {
  pb::AuthUserDeleteRequest request;
  request.set_name(name);
  pb::AuthUserDeleteResponse response;
  return invoke("delete user", name, [&](Endpoint& e, grpc::ClientContext& ctx) {
    return e.auth->UserDelete(&ctx, request, &response);
  });
}

Status Client::change_password(const std::string& name, const std::string& password) {
  pb::AuthUserChangePasswordRequest request;
  request.set_name(name);
  request.set_password(password);
  pb::AuthUserChangePasswordResponse response;
  return invoke("change password", name, [&](Endpoint& e, grpc::ClientContext& ctx) {
    return e.auth->UserChangePassword(&ctx, request, &response);
  });
}

Status Client::add_role(const std::string& name) {
  pb::AuthRoleAddRequest request;
  request.set_name(name);
  pb::AuthRoleAddResponse response;
  return invoke("add role", name, [&](Endpoint& e, grpc::ClientContext& ctx) {
    return e.auth->RoleAdd(&ctx, request, &response);
  });
}

Status Client::delete_role(const std::string& name) {
  pb::AuthRoleDeleteRequest request;
  request.set_role(name);
  pb::AuthRoleDeleteResponse response;
  return invoke("delete role", name, [&](Endpoint& e, grpc::ClientContext& ctx) {
    return e.auth->RoleDelete(&ctx, request, &response);
  });
}

Status Client::grant_permission(const std::string& role, const std::string& key, bool prefix,
                                Permission permission) {
  pb::AuthRoleGrantPermissionRequest request;
  request.set_name(role);
  auto* perm = request.mutable_perm();
  perm->set_key(key);
  if (prefix) perm->set_range_end(prefix_end(key));
  switch (permission) {
    case Permission::kRead:
      perm->set_permtype(authpb::Permission::READ);
      break;
    case Permission::kWrite:
      perm->set_permtype(authpb::Permission::WRITE);
      break;
    case Permission::kReadWrite:
      perm->set_permtype(authpb::Permission::READWRITE);
      break;
  }
  pb::AuthRoleGrantPermissionResponse response;
  return invoke("grant permission", role + " on " + key,
                [&](Endpoint& e, grpc::ClientContext& ctx) {
                  return e.auth->RoleGrantPermission(&ctx, request, &response);
                });
}

Status Client::grant_role(const std::string& user, const std::string& role) {
  pb::AuthUserGrantRoleRequest request;
  request.set_user(user);
  request.set_role(role);
  pb::AuthUserGrantRoleResponse response;
  return invoke("grant role", role + " to " + user, [&](Endpoint& e, grpc::ClientContext& ctx) {
    return e.auth->UserGrantRole(&ctx, request, &response);
  });
}

Status Client::enable_auth() {
  pb::AuthEnableRequest request;
  pb::AuthEnableResponse response;
  return invoke("enable auth", "", [&](Endpoint& e, grpc::ClientContext& ctx) {
    return e.auth->AuthEnable(&ctx, request, &response);
  });
}

}  // namespace berth::etcd
