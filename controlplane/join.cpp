#include "controlplane/join.h"

#include <nlohmann/json.hpp>

#include "common/file.h"
#include "common/random.h"
#include "controlplane/records.h"

namespace berth::controlplane {

namespace {

constexpr size_t kIdLength = 6;
constexpr size_t kSecretLength = 16;

Result<std::string> random_text(size_t length) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string bytes(length, '\0');
  BERTH_TRY(random_bytes(reinterpret_cast<unsigned char*>(bytes.data()), length));
  std::string out;
  for (unsigned char c : bytes) out += kAlphabet[c % 36];
  return out;
}

bool token_chars(const std::string& text) {
  for (char c : text) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

std::string join_user(const std::string& cluster, const std::string& id) {
  return "berth-join-" + cluster + "-" + id;
}

bool already_exists(const Error& error) {
  return error.message().find("already exists") != std::string::npos;
}

Status tolerate_existing(Status done) {
  if (!done && !already_exists(done.error())) return done;
  return {};
}

}  // namespace

Result<JoinTokenText> parse_join_token(const std::string& text) {
  auto dot = text.find('.');
  JoinTokenText token;
  if (dot != std::string::npos) {
    token.id = text.substr(0, dot);
    token.secret = text.substr(dot + 1);
  }
  if (token.id.size() != kIdLength || token.secret.size() != kSecretLength ||
      !token_chars(token.id) || !token_chars(token.secret)) {
    return fail(ErrorCode::kInvalidArgument,
                "join token: expected <6 characters>.<16 characters> of a-z and 0-9, as "
                "`berthctl cluster token create` prints it");
  }
  return token;
}

Status grant_node_role(etcd::Client& admin, const std::string& cluster, const std::string& node,
                       const std::string& role) {
  Keys keys(cluster);
  BERTH_TRY(tolerate_existing(admin.add_role(role)));
  using P = etcd::Permission;
  BERTH_TRY(admin.grant_permission(role, keys.member(node), false, P::kReadWrite));
  BERTH_TRY(admin.grant_permission(role, keys.node(node), false, P::kReadWrite));
  BERTH_TRY(admin.grant_permission(role, keys.desired(node), true, P::kRead));
  BERTH_TRY(admin.grant_permission(role, keys.status(node), true, P::kReadWrite));
  return {};
}

Result<CreatedToken> create_join_token(etcd::Client& admin, const std::string& cluster,
                                       const std::string& node_name, std::chrono::seconds ttl,
                                       int64_t now_ms) {
  BERTH_TRY(check_name("cluster", cluster));
  if (ttl.count() < 1) return fail(ErrorCode::kInvalidArgument, "token TTL: at least 1 s");
  const std::string id = BERTH_TRY(random_text(kIdLength));
  const std::string node = node_name.empty() ? "node-" + id : node_name;
  BERTH_TRY(check_name("node name", node));
  Keys keys(cluster);
  // The node's own identity.
  const std::string node_user = "berth-" + cluster + "-node-" + node;
  const std::string password = BERTH_TRY(random_text(32));
  if (auto added = admin.add_user(node_user, password); !added) {
    if (!already_exists(added.error())) return fail(added.error());
    BERTH_TRY(admin.change_password(node_user, password));
  }
  BERTH_TRY(grant_node_role(admin, cluster, node, node_user));
  BERTH_TRY(tolerate_existing(admin.grant_role(node_user, node_user)));
  // The token: a join user that may touch its own key only.
  const std::string secret = BERTH_TRY(random_text(kSecretLength));
  const std::string user = join_user(cluster, id);
  const std::string token_key = keys.tokens() + id;
  BERTH_TRY(admin.add_user(user, secret));
  BERTH_TRY(tolerate_existing(admin.add_role(user)));
  BERTH_TRY(admin.grant_permission(user, token_key, false, etcd::Permission::kReadWrite));
  BERTH_TRY(admin.grant_role(user, user));
  int64_t lease = BERTH_TRY(admin.grant_lease(ttl));
  JoinToken record{cluster, node, node_user, password, now_ms + ttl.count() * 1000, false};
  BERTH_TRY(admin.put(token_key, to_json(record), lease));
  return CreatedToken{id + "." + secret, node, record.expires_at_ms};
}

Result<NodeIdentity> redeem_join_token(etcd::Options base, const std::string& cluster,
                                       const std::string& text, const std::string& node,
                                       int64_t now_ms) {
  auto token = BERTH_TRY(parse_join_token(text));
  base.user = join_user(cluster, token.id);
  base.password = token.secret;
  const std::string what = "join token '" + token.id + "'";
  auto client = etcd::Client::connect(base);
  if (!client) {
    if (client.error().code() == ErrorCode::kUnauthenticated) {
      return fail(ErrorCode::kUnauthenticated,
                  what + " is not known to cluster '" + cluster + "' (expired, or never made)");
    }
    return fail(client.error().with_context(what));
  }
  const std::string key = Keys(cluster).tokens() + token.id;
  auto read = BERTH_TRY_CTX((*client)->get(key), what);
  if (read.kvs.empty()) {
    return fail(ErrorCode::kUnauthenticated, what + " has expired");
  }
  const auto& kv = read.kvs.front();
  auto record = BERTH_TRY_CTX(parse_token(kv.value), what);
  if (record.used || record.password.empty()) {
    return fail(ErrorCode::kFailedPrecondition,
                what + " was already used (by node '" + record.node + "'); tokens are single-use");
  }
  if (record.expires_at_ms <= now_ms)
    return fail(ErrorCode::kUnauthenticated, what + " has expired");
  if (!node.empty() && node != record.node) {
    return fail(ErrorCode::kInvalidArgument,
                what + " admits node '" + record.node + "', not '" + node + "' (--node-name)");
  }
  NodeIdentity identity{cluster, record.node, record.user, record.password, token.id};
  JoinToken used = record;
  used.used = true;
  used.password.clear();
  using C = etcd::Compare;
  auto done =
      BERTH_TRY_CTX((*client)->txn({{key, C::Target::kModRevision, C::Op::kEqual, kv.mod_revision}},
                                   {{etcd::Operation::Kind::kPut, key, to_json(used), kv.lease}}),
                    what);
  if (!done.succeeded) {
    return fail(ErrorCode::kFailedPrecondition, what + " was used by another node meanwhile");
  }
  return identity;
}

Result<std::optional<NodeIdentity>> node_identity(const etcd::Options& base,
                                                  const std::string& cluster,
                                                  const std::string& node,
                                                  const std::string& join_token,
                                                  const std::string& path, int64_t now_ms) {
  std::optional<NodeIdentity> kept;
  if (auto loaded = load_identity(path); loaded) {
    kept = std::move(*loaded);
  } else if (loaded.error().code() != ErrorCode::kNotFound) {
    return fail(loaded.error());
  }
  if (!join_token.empty()) {
    auto token = BERTH_TRY(parse_join_token(join_token));
    // A restart with the same token keeps what it gave.
    if (!kept || kept->token_id != token.id) {
      auto redeemed = BERTH_TRY(redeem_join_token(base, cluster, join_token, node, now_ms));
      BERTH_TRY_CTX(save_identity(path, redeemed), "keep the etcd identity");
      kept = std::move(redeemed);
    }
  }
  if (kept && kept->cluster != cluster) {
    return fail(ErrorCode::kInvalidArgument, "etcd identity '" + path + "' is of cluster '" +
                                                 kept->cluster + "', not '" + cluster + "'");
  }
  if (kept && !node.empty() && kept->node != node) {
    return fail(ErrorCode::kInvalidArgument,
                "etcd identity '" + path + "' is node '" + kept->node + "', not '" + node + "'");
  }
  return kept;
}

Status save_identity(const std::string& path, const NodeIdentity& identity) {
  nlohmann::json out = {{"cluster", identity.cluster},
                        {"node", identity.node},
                        {"user", identity.user},
                        {"password", identity.password},
                        {"tokenId", identity.token_id}};
  return write_atomically(path, out.dump(2) + "\n", 0600);
}

Result<NodeIdentity> load_identity(const std::string& path) {
  auto text = BERTH_TRY(read_file(path));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) {
    return fail(ErrorCode::kDataLoss, "etcd identity '" + path + "': not a JSON object");
  }
  NodeIdentity identity;
  try {
    identity.cluster = j.at("cluster").get<std::string>();
    identity.node = j.at("node").get<std::string>();
    identity.user = j.at("user").get<std::string>();
    identity.password = j.at("password").get<std::string>();
    identity.token_id = j.value("tokenId", "");
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::kDataLoss, "etcd identity '" + path + "': " + e.what());
  }
  return identity;
}

}  // namespace berth::controlplane
