#include "agent/network/etc_files.h"

#include <algorithm>
#include <sstream>

namespace berth::agent {

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
