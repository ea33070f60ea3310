// Anywhere nodes join with a token: `berthctl cluster token create` (the
// cluster's admin) makes the node's etcd identity up front, a user whose
// role reaches only that node's keys, and a single-use token that hands it
// over: `berthd --join-token` redeems it once and keeps the credentials in
// its root directory (mode 0600).
//
// etcd alone cannot make a user on a node's behalf (only root may), so the
// identity is made when the token is, for the node the token names. The
// token is "<id>.<secret>": the id names a key, /berth/<cluster>/tokens/<id>,
// on a lease that ends with the token's TTL, and a join user
// ("berth-join-<cluster>-<id>", password the secret) that may read and
// write that key alone. Redeeming reads the key, checks that it is unused,
// and in one transaction marks it used and removes the password from it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/error.h"
#include "controlplane/etcd/client.h"

namespace berth::controlplane {

struct JoinTokenText {
  std::string id;      // 6 of [a-z0-9]
  std::string secret;  // 16 of [a-z0-9]
};
Result<JoinTokenText> parse_join_token(const std::string& text);

// What a node keeps: its etcd user and password, and for which token.
struct NodeIdentity {
  std::string cluster;
  std::string node;
  std::string user;
  std::string password;
  std::string token_id;
};

// The admin's side: makes the node's user and role (or gives an existing
// node user a new password) and the token. Returns the token's text. A
// token for no node in particular ("") admits "node-<token id>".
struct CreatedToken {
  std::string token;
  std::string node;
  int64_t expires_at_ms = 0;
};
Result<CreatedToken> create_join_token(etcd::Client& admin, const std::string& cluster,
                                       const std::string& node_name, std::chrono::seconds ttl,
                                       int64_t now_ms);

// The node's side: redeems `token` with a client made from `base` (its
// endpoints and TLS; user and password are the token's). A reused, expired
// or unknown token is kUnauthenticated or kFailedPrecondition, saying
// which. `node` is the name berthd was given ("": the token's).
Result<NodeIdentity> redeem_join_token(etcd::Options base, const std::string& cluster,
                                       const std::string& token, const std::string& node,
                                       int64_t now_ms);

// The identity file in berthd's root: written atomically, mode 0600.
Status save_identity(const std::string& path, const NodeIdentity& identity);
Result<NodeIdentity> load_identity(const std::string& path);

// The identity berthd runs with: the one kept at `path`, unless
// `join_token` is a token other than the one that identity came from (then
// it is redeemed and kept). nullopt: no token, nothing kept.
Result<std::optional<NodeIdentity>> node_identity(const etcd::Options& base,
                                                  const std::string& cluster,
                                                  const std::string& node,
                                                  const std::string& join_token,
                                                  const std::string& path, int64_t now_ms);

// The role that confines a node to its own keys: read its desired tasks,
// write its member key, node record and task status.
Status grant_node_role(etcd::Client& admin, const std::string& cluster, const std::string& node,
                       const std::string& role);

}  // namespace berth::controlplane
