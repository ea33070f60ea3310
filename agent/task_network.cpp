#include "agent/task_network.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "agent/task_store.h"
#include "common/strings.h"
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

bool valid_cidr(const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) return false;
  std::string address = cidr.substr(0, slash);
  std::string prefix = cidr.substr(slash + 1);
  if (prefix.empty() || prefix.size() > 3 ||
      !std::ranges::all_of(prefix, [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  int bits = std::stoi(prefix);
  unsigned char buffer[sizeof(in6_addr)];
  if (inet_pton(AF_INET, address.c_str(), buffer) == 1) return bits <= 32;
  if (inet_pton(AF_INET6, address.c_str(), buffer) == 1) return bits <= 128;
  return false;
}

bool valid_address(const std::string& address) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, address.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, address.c_str(), buffer) == 1;
}

// Whether nothing on the host holds `port` (a bind() that succeeds).
bool port_free(uint32_t port, const std::string& protocol) {
  int fd = ::socket(AF_INET, (protocol == "udp" ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return free;
}

}  // namespace

Result<EniSpec> parse_eni_spec(std::string_view text) {
  EniSpec eni;
  std::string_view rest = text;
  auto at = rest.find('@');
  if (at != std::string_view::npos) {
    eni.gateway = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (!valid_address(eni.gateway)) {
      return fail(ErrorCode::kInvalidArgument, "ENI '" + std::string(text) + "': gateway '" +
                                                   eni.gateway +
                                                   "' is not an IPv4 or IPv6 address");
    }
  }
  auto equals = rest.find('=');
  eni.name = std::string(rest.substr(0, equals));
  if (eni.name.empty() || eni.name.size() > 15 || eni.name.find('/') != std::string::npos) {
    return fail(ErrorCode::kInvalidArgument,
                "ENI '" + std::string(text) + "': '" + eni.name + "' is not an interface name");
  }
  if (equals != std::string_view::npos) {
    for (auto& cidr : split(rest.substr(equals + 1), ',')) {
      if (!valid_cidr(cidr)) {
        return fail(ErrorCode::kInvalidArgument, "ENI '" + std::string(text) + "': address '" +
                                                     cidr + "' is not in CIDR form (10.0.0.5/24)");
      }
      eni.addresses.push_back(cidr);
    }
  }
  return eni;
}

NetworkManager::NetworkManager(NetworkConfig config)
    : config_(std::move(config)),
      cni_(cni::CniConfig{config_.plugin_dirs, config_.root_dir + "/cni/cache",
                          config_.cni_timeout}),
      next_port_(config_.host_port_min) {}

std::string NetworkManager::netns_path(const std::string& id) const {
  return config_.state_dir + "/netns/" + id;
}

std::string NetworkManager::eni_record_path(const std::string& id) const {
  return config_.root_dir + "/network/eni/" + id + ".json";
}

cni::NetworkList NetworkManager::default_network_list() const {
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
        {"dataDir", config_.root_dir + "/cni/networks"}}},
  });
  list.plugins.push_back(
      {{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}, {"snat", true}});
  return list;
}

Result<cni::NetworkList> NetworkManager::network_list(const std::string& mode) const {
  const std::string& name = mode == "awsvpc" ? config_.awsvpc_network : config_.bridge_network;
  if (name.empty()) return default_network_list();
  return cni::load_network_list(config_.conf_dir, name);
}

Result<std::vector<PortBinding>> NetworkManager::take_ports(
    const std::string& id, const std::vector<PortBinding>& wanted) {
  std::lock_guard lock(ports_mu_);
  auto owner_of = [&](uint32_t port, const std::string& protocol) -> std::string {
    for (const auto& [owner, bindings] : ports_) {
      for (const auto& b : bindings) {
        if (b.host_port == port && b.protocol == protocol) return owner;
      }
    }
    return "";
  };
  std::vector<PortBinding> taken;
  for (const auto& want : wanted) {
    PortBinding binding = want;
    if (binding.host_port != 0) {
      std::string owner = owner_of(binding.host_port, binding.protocol);
      if (!owner.empty() && owner != id) {
        return fail(ErrorCode::kFailedPrecondition,
                    "RESOURCE:PORTS: host port " + std::to_string(binding.host_port) + "/" +
                        binding.protocol + " is already published by '" + owner + "'");
      }
    } else {
      uint32_t span = config_.host_port_max - config_.host_port_min + 1;
      for (uint32_t tried = 0; tried < span && binding.host_port == 0; ++tried) {
        uint32_t port = next_port_;
        next_port_ = next_port_ >= config_.host_port_max ? config_.host_port_min : next_port_ + 1;
        bool mine = std::ranges::any_of(taken, [&](const PortBinding& b) {
          return b.host_port == port && b.protocol == binding.protocol;
        });
        if (mine || !owner_of(port, binding.protocol).empty()) continue;
        if (!port_free(port, binding.protocol)) continue;
        binding.host_port = port;
      }
      if (binding.host_port == 0) {
        return fail(ErrorCode::kFailedPrecondition, "RESOURCE:PORTS: no free host port left in " +
                                                        std::to_string(config_.host_port_min) +
                                                        "-" +
                                                        std::to_string(config_.host_port_max));
      }
    }
    taken.push_back(binding);
  }
  ports_[id] = taken;
  return taken;
}

void NetworkManager::release_ports(const std::string& id) {
  std::lock_guard lock(ports_mu_);
  ports_.erase(id);
}

void NetworkManager::reserve_ports(const std::string& id, const std::vector<PortBinding>& ports) {
  std::lock_guard lock(ports_mu_);
  ports_[id] = ports;
}

Result<NetworkRecord> NetworkManager::setup(const NetworkRequest& request) {
  const std::string& id = request.id;
  std::string ns = netns_path(id);
  // What an interrupted earlier attempt left goes first. The pin file is
  // made before anything else and removed after everything else, so
  // without it there is nothing to clear (and no cache and address files
  // to read on every start).
  if (std::error_code ec; std::filesystem::exists(ns, ec)) {
    BERTH_TRY_CTX(teardown(id), "clear an earlier attempt");
  }
  auto undo = [&](Error error) -> Result<NetworkRecord> {
    if (auto cleared = teardown(id); !cleared) {
      return fail(std::move(error).with_context(
          "(and undoing it failed: " + cleared.error().message() + ")"));
    }
    return fail(std::move(error));
  };

  NetworkRecord record;
  record.netns = ns;
  record.interface = std::string(kInterface);
  BERTH_TRY_CTX(netns::create_pinned(ns), "create network namespace '" + ns + "'");
  {
    auto inner = netns::Netlink::open_in(ns);
    if (!inner) return undo(inner.error().with_context("netlink in '" + ns + "'"));
    if (auto up = inner->set_up("lo", true); !up) return undo(up.error());
  }
  if (request.eni) {
    if (auto moved = setup_eni(id, ns, *request.eni, record); !moved) return undo(moved.error());
    record.known = TaskStatus::kRunning;
    return record;
  }

  auto list = network_list(request.mode);
  if (!list) return undo(list.error());
  auto ports = take_ports(id, request.ports);
  if (!ports) return undo(ports.error());
  cni::Attachment attachment;
  attachment.container_id = id;
  attachment.netns = ns;
  attachment.ifname = record.interface;
  for (const auto& port : *ports) {
    attachment.capabilities.port_mappings.push_back(
        {port.host_port, port.container_port, port.protocol, ""});
  }
  auto result = cni_.add(*list, attachment);
  if (!result) return undo(result.error());
  record.addresses = cni::sandbox_addresses(*result, record.interface);
  for (const auto& ip : result->ips) {
    if (!ip.gateway.empty()) {
      record.gateway = ip.gateway;
      break;
    }
  }
  record.ports = *ports;
  record.known = TaskStatus::kRunning;
  return record;
}

Status NetworkManager::setup_eni(const std::string& id, const std::string& ns, const EniSpec& eni,
                                 NetworkRecord& record) {
  auto host = BERTH_TRY(netns::Netlink::open());
  auto link = host.link(eni.name);
  if (!link) {
    return fail(link.error().code(), "ENI '" + eni.name + "' is not an interface on this node: " +
                                         link.error().message());
  }
  // Written before the interface moves: whatever happens next, a teardown
  // knows which interface to bring back and under which name.
  std::error_code ec;
  std::filesystem::create_directories(config_.root_dir + "/network/eni", ec);
  nlohmann::json saved = {{"name", eni.name}, {"mac", link->mac}, {"mtu", link->mtu}};
  BERTH_TRY(write_file_atomically(eni_record_path(id), saved.dump()));

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
    note(cni_.del(entry.network, entry.container_id, entry.ifname, netns_arg));
    deleted = true;
  }
  if (!deleted) {
    // No cache entry, yet an address of berth's own network names this id
    // (a cache removed by hand): DEL with the network as it is configured.
    std::string allocations = config_.root_dir + "/cni/networks/" + std::string(kDefaultNetwork);
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
  if (!first_error) note(netns::remove_pinned(ns));
  if (first_error) return fail(first_error->with_context("tear down network of '" + id + "'"));
  release_ports(id);
  return {};
}

std::set<std::string> NetworkManager::ids_with_host_state() const {
  std::set<std::string> ids;
  for (const auto& name : netns::list_dir(config_.state_dir + "/netns")) ids.insert(name);
  for (const auto& entry : cni_.cached()) ids.insert(entry.container_id);
  std::error_code ec;
  for (const auto& file :
       std::filesystem::directory_iterator(config_.root_dir + "/network/eni", ec)) {
    std::string name = file.path().filename().string();
    if (name.ends_with(".json")) ids.insert(name.substr(0, name.size() - 5));
  }
  std::string allocations = config_.root_dir + "/cni/networks/" + std::string(kDefaultNetwork);
  for (const auto& file : std::filesystem::directory_iterator(allocations, ec)) {
    if (std::string owner = allocation_owner(file.path()); !owner.empty()) ids.insert(owner);
  }
  return ids;
}

std::string hostname_for_address(const std::string& address) {
  if (address.empty() || address.find(':') != std::string::npos) return "";
  std::string name = "ip-" + address;
  std::ranges::replace(name, '.', '-');
  return name;
}

std::string render_hosts(const std::vector<HostsEntry>& entries) {
  std::string text =
      "127.0.0.1\tlocalhost\n"
      "::1\tlocalhost ip6-localhost ip6-loopback\n";
  for (const auto& entry : entries) {
    if (entry.address.empty() || entry.names.empty()) continue;
    text += entry.address;
    text += '\t';
    for (size_t i = 0; i < entry.names.size(); ++i) {
      if (i > 0) text += ' ';
      text += entry.names[i];
    }
    text += '\n';
  }
  return text;
}

std::string render_resolv_conf(std::string_view node_resolv_conf,
                               const std::vector<std::string>& servers,
                               const std::vector<std::string>& search) {
  std::string text;
  std::vector<std::string> node_servers;
  std::string node_search;
  std::vector<std::string> other;
  std::istringstream in{std::string(node_resolv_conf)};
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string key;
    words >> key;
    if (key == "nameserver") {
      std::string server;
      words >> server;
      // A resolver on the node's loopback is not reachable from another
      // namespace.
      if (server.starts_with("127.") || server == "::1") continue;
      node_servers.push_back(server);
    } else if (key == "search" || key == "domain") {
      node_search = line;
    } else if (key == "options") {
      other.push_back(line);
    }
  }
  const auto& use_servers = servers.empty() ? node_servers : servers;
  for (const auto& server : use_servers) text += "nameserver " + server + "\n";
  if (!search.empty()) {
    text += "search";
    for (const auto& domain : search) text += " " + domain;
    text += "\n";
  } else if (!node_search.empty()) {
    text += node_search + "\n";
  }
  for (const auto& line : other) text += line + "\n";
  return text;
}

}  // namespace berth::agent
