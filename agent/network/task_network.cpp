#include "agent/network/task_network.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/file.h"
#include "netns/netlink.h"
#include "netns/netns.h"

namespace berth::agent {

namespace {

constexpr std::string_view kInterface = "eth0";
constexpr std::string_view kDefaultNetwork = "berth";

std::string without_prefix(const std::string& cidr) { return cidr.substr(0, cidr.find('/')); }

// The container id a host-local address file names (its first line), "" for
// the plugin's own bookkeeping files.
std::string allocation_owner(const std::filesystem::path& file) {
  std::string name = file.filename().string();
  if (name.starts_with("last_reserved_ip") || name == "lock") return "";
  std::ifstream in(file);
  std::string owner;
  std::getline(in, owner);
  if (!owner.empty() && owner.back() == '\r') owner.pop_back();
  return owner;
}

}  // namespace

NetworkManager::NetworkManager(NetworkConfig config, const Failpoints* failpoints)
    : config_(std::move(config)),
      failpoints_(failpoints),
      cni_(cni::CniConfig{config_.plugin_dirs, config_.cni_cache_dir, config_.cni_timeout}),
      ports_(config_.host_port_min, config_.host_port_max) {}

std::string NetworkManager::netns_path(const std::string& id) const {
  return config_.netns_dir + "/" + id;
}

bool NetworkManager::pinned(const std::string& id) const {
  return netns::is_pinned(netns_path(id));
}

std::string NetworkManager::eni_record_path(const std::string& id) const {
  return config_.eni_dir + "/" + id + ".json";
}

void NetworkManager::reserve_ports(const std::string& id, const std::vector<PortBinding>& ports) {
  ports_.reserve(id, ports);
}

cni::NetworkList NetworkManager::default_network_list(bool publishes_ports) const {
  cni::NetworkList list;
  list.cni_version = "1.0.0";
  list.name = std::string(kDefaultNetwork);
  list.plugins.push_back({
      {"type", "bridge"},
      {"bridge", config_.bridge_name},
      {"isGateway", true},
      {"ipMasq", true},
      {"hairpinMode", true},
      {"ipam",
       {{"type", "host-local"},
        {"ranges", {{{{"subnet", config_.subnet}}}}},
        {"routes", {{{"dst", "0.0.0.0/0"}}}},
        {"dataDir", config_.cni_networks_dir}}},
  });
  if (publishes_ports) {
    list.plugins.push_back(
        {{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}, {"snat", true}});
  }
  return list;
}

Result<cni::NetworkList> NetworkManager::network_list(NetworkMode mode,
                                                      bool publishes_ports) const {
  const std::string& name =
      mode == NetworkMode::kAwsvpc ? config_.awsvpc_network : config_.bridge_network;
  if (name.empty()) return default_network_list(publishes_ports);
  return cni::load_network_list(config_.conf_dir, name);
}

Result<NetworkAttachment> NetworkManager::setup(const NetworkRequest& request) {
  const std::string& id = request.id;
  std::string ns = netns_path(id);
  // What an interrupted earlier attempt left goes first. The pin file is
  // made before anything else and removed after everything else, so
  // without it there is nothing to clear (and no cache and address files
  // to read on every start).
  if (std::error_code ec; std::filesystem::exists(ns, ec)) {
    BERTH_TRY_CTX(teardown(id), "clear an earlier attempt");
  }
  auto undo = [&](Error error) -> Result<NetworkAttachment> {
    if (auto cleared = teardown(id); !cleared) {
      return fail(std::move(error).with_context(
          "(and undoing it failed: " + cleared.error().message() + ")"));
    }
    return fail(std::move(error));
  };

  NetworkAttachment record;
  record.netns = ns;
  record.interface = std::string(kInterface);
  BERTH_TRY(failpoint(failpoints_, "netns.create.before"));
  BERTH_TRY_CTX(netns::create_pinned(ns), "create network namespace '" + ns + "'");
  if (auto injected = failpoint(failpoints_, "netns.create.after"); !injected) {
    return undo(injected.error());
  }
  {
    auto inner = netns::Netlink::open_in(ns);
    if (!inner) return undo(inner.error().with_context("netlink in '" + ns + "'"));
    if (auto up = inner->set_up("lo", true); !up) return undo(up.error());
  }
  if (request.eni) {
    if (auto moved = setup_eni(id, ns, *request.eni, record); !moved) return undo(moved.error());
    return record;
  }

  auto list = network_list(request.mode, !request.ports.empty());
  if (!list) return undo(list.error());
  auto ports = ports_.take(id, request.ports);
  if (!ports) return undo(ports.error());
  cni::Attachment attachment;
  attachment.container_id = id;
  attachment.netns = ns;
  attachment.ifname = record.interface;
  for (const auto& port : *ports) {
    attachment.capabilities.port_mappings.push_back(
        {port.host_port, port.container_port, port.protocol, ""});
  }
  if (auto injected = failpoint(failpoints_, "cni.add.before"); !injected) {
    return undo(injected.error());
  }
  auto result = cni_.add(*list, attachment);
  if (!result) return undo(result.error());
  if (auto injected = failpoint(failpoints_, "cni.add.after"); !injected) {
    return undo(injected.error());
  }
  record.addresses = cni::sandbox_addresses(*result, record.interface);
  for (const auto& ip : result->ips) {
    if (!ip.gateway.empty()) {
      record.gateway = ip.gateway;
      break;
    }
  }
  record.ports = *ports;
  return record;
}

Status NetworkManager::setup_eni(const std::string& id, const std::string& ns, const EniSpec& eni,
                                 NetworkAttachment& record) {
  auto host = BERTH_TRY(netns::Netlink::open());
  auto link = host.link(eni.name);
  if (!link) {
    return fail(link.error().code(), "ENI '" + eni.name + "' is not an interface on this node: " +
                                         link.error().message());
  }
  // Written before the interface moves: whatever happens next, a teardown
  // knows which interface to bring back and under which name.
  std::error_code ec;
  std::filesystem::create_directories(config_.eni_dir, ec);
  nlohmann::json saved = {{"name", eni.name}, {"mac", link->mac}, {"mtu", link->mtu}};
  BERTH_TRY(write_atomically(eni_record_path(id), saved.dump()));

  BERTH_TRY(host.set_up(eni.name, false));
  auto fd = BERTH_TRY(netns::open_namespace(ns));
  BERTH_TRY_CTX(host.move_to_namespace(eni.name, fd.get()),
                "move ENI '" + eni.name + "' into '" + ns + "'");
  auto inner = BERTH_TRY(netns::Netlink::open_in(ns));
  if (eni.name != record.interface) BERTH_TRY(inner.rename(eni.name, record.interface));
  if (eni.mtu != 0) BERTH_TRY(inner.set_mtu(record.interface, eni.mtu));
  for (const auto& cidr : eni.addresses) BERTH_TRY(inner.add_address(record.interface, cidr));
  BERTH_TRY(inner.set_up(record.interface, true));
  if (!eni.gateway.empty()) {
    BERTH_TRY_CTX(inner.set_default_gateway(eni.gateway, record.interface),
                  "default route via " + eni.gateway);
  }
  record.eni = eni.name;
  record.gateway = eni.gateway;
  for (const auto& cidr : eni.addresses) record.addresses.push_back(without_prefix(cidr));
  std::ranges::stable_partition(
      record.addresses, [](const std::string& a) { return a.find(':') == std::string::npos; });
  return {};
}

Status NetworkManager::teardown_eni(const std::string& id, const std::string& ns) {
  std::string path = eni_record_path(id);
  std::ifstream in(path);
  if (!in) return {};
  nlohmann::json saved;
  try {
    in >> saved;
  } catch (const nlohmann::json::exception&) {
    saved = nullptr;  // a torn write cannot happen (atomic), but a hand edit can
  }
  if (saved.is_object()) {
    std::string name = saved.value("name", "");
    std::string mac = saved.value("mac", "");
    uint32_t mtu = saved.value("mtu", 0U);
    auto find = [&](netns::Netlink& nl) -> std::optional<netns::LinkInfo> {
      auto links = nl.links();
      if (!links) return std::nullopt;
      for (const auto& l : *links) {
        if (l.mac == mac && l.kind != "bridge") return l;
      }
      return std::nullopt;
    };
    if (netns::is_pinned(ns)) {
      auto inner = BERTH_TRY(netns::Netlink::open_in(ns));
      if (auto link = find(inner)) {
        BERTH_TRY(inner.set_up(link->name, false));
        if (link->name != name) BERTH_TRY(inner.rename(link->name, name));
        if (mtu != 0 && link->mtu != mtu) BERTH_TRY(inner.set_mtu(name, mtu));
        // The host's namespace: berthd's own (the main thread never leaves it).
        auto host_fd = BERTH_TRY(netns::open_namespace("/proc/self/ns/net"));
        BERTH_TRY_CTX(inner.move_to_namespace(name, host_fd.get()),
                      "return ENI '" + name + "' to the host");
      }
    }
    // Back on the host (now, or the kernel moved it when its namespace went):
    // under its own name.
    auto host = BERTH_TRY(netns::Netlink::open());
    if (auto link = find(host); link && link->name != name) {
      BERTH_TRY(host.set_up(link->name, false));
      BERTH_TRY(host.rename(link->name, name));
    }
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail_errno("remove '" + path + "'");
  return {};
}

Status NetworkManager::teardown(const std::string& id) {
  std::string ns = netns_path(id);
  std::optional<Error> first_error;
  auto note = [&](const Status& status) {
    if (!status && !first_error) first_error = status.error();
  };
  note(teardown_eni(id, ns));
  // DEL while the namespace still exists: the bridge plugin removes its
  // masquerade rules only when it finds the interface.
  std::string netns_arg = netns::is_pinned(ns) ? ns : "";
  bool deleted = false;
  for (const auto& entry : cni_.cached()) {
    if (entry.container_id != id) continue;
    if (auto injected = failpoint(failpoints_, "cni.del.before"); !injected) {
      note(injected);
      deleted = true;  // no fallback DEL either: the teardown is retried
      break;
    }
    note(cni_.del(entry.network, entry.container_id, entry.ifname, netns_arg));
    note(failpoint(failpoints_, "cni.del.after"));
    deleted = true;
  }
  if (!deleted) {
    // No cache entry, yet an address of berth's own network names this id
    // (a cache removed by hand): DEL with the network as it is configured.
    std::string allocations = config_.cni_networks_dir + "/" + std::string(kDefaultNetwork);
    std::error_code ec;
    for (const auto& file : std::filesystem::directory_iterator(allocations, ec)) {
      if (allocation_owner(file.path()) != id) continue;
      cni::Attachment attachment;
      attachment.container_id = id;
      attachment.netns = netns_arg;
      attachment.ifname = std::string(kInterface);
      note(cni_.del(default_network_list(), attachment));
      break;
    }
  }
  if (!first_error) note(failpoint(failpoints_, "netns.remove.before"));
  if (!first_error) note(netns::remove_pinned(ns));
  if (!first_error) note(failpoint(failpoints_, "netns.remove.after"));
  if (first_error) return fail(first_error->with_context("tear down network of '" + id + "'"));
  ports_.release(id);
  return {};
}

std::set<std::string> NetworkManager::ids_with_host_state() const {
  std::set<std::string> ids;
  for (const auto& name : netns::list_dir(config_.netns_dir)) ids.insert(name);
  for (const auto& entry : cni_.cached()) ids.insert(entry.container_id);
  std::error_code ec;
  for (const auto& file : std::filesystem::directory_iterator(config_.eni_dir, ec)) {
    std::string name = file.path().filename().string();
    if (name.ends_with(".json")) ids.insert(name.substr(0, name.size() - 5));
  }
  std::string allocations = config_.cni_networks_dir + "/" + std::string(kDefaultNetwork);
  for (const auto& file : std::filesystem::directory_iterator(allocations, ec)) {
    if (std::string owner = allocation_owner(file.path()); !owner.empty()) ids.insert(owner);
  }
  return ids;
}

}  // namespace berth::agent
