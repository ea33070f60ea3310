// Plugin results (spec 1.0.0, and 0.4.0 / 0.3.x which only add
// ips[].version) read into CniResult.
#include <limits>
#include <string>

#include "cni/cni.h"
#include "cni/config.h"

namespace berth::cni {
namespace {

using nlohmann::json;

std::unexpected<Error> wrong_type(const std::string& field, const char* expected) {
  return fail(ErrorCode::kInvalidArgument, "CNI result: " + field + ": expected " + expected);
}

// Missing and null fields are left as they are: plugins omit what they do
// not set, and IPAM plugins return only ips/routes/dns.
Status read_string(const json& object, const char* key, const std::string& field,
                   std::string* into) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return {};
  if (!it->is_string()) return wrong_type(field + key, "a string");
  *into = it->get<std::string>();
  return {};
}

Status read_strings(const json& object, const char* key, const std::string& field,
                    std::vector<std::string>* into) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return {};
  if (!it->is_array()) return wrong_type(field + key, "an array of strings");
  for (const auto& item : *it) {
    if (!item.is_string()) return wrong_type(field + key, "an array of strings");
    into->push_back(item.get<std::string>());
  }
  return {};
}

// The array `key` of objects, or an empty one when it is missing.
Result<const json*> read_objects(const json& object, const char* key) {
  static const json kEmpty = json::array();
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return &kEmpty;
  if (!it->is_array()) return wrong_type(key, "an array");
  for (size_t i = 0; i < it->size(); ++i) {
    if (!(*it)[i].is_object()) {
      return wrong_type(std::string(key) + "[" + std::to_string(i) + "]", "an object");
    }
  }
  return &*it;
}

std::string element(const char* key, size_t index) {
  return std::string(key) + "[" + std::to_string(index) + "].";
}

}  // namespace

Result<CniResult> parse_result(const json& document) {
  if (!document.is_object()) return wrong_type("result", "a JSON object");
  CniResult result;
  result.raw = document;
  BERTH_TRY(read_string(document, "cniVersion", "", &result.cni_version));
  // 0.1.0 and 0.2.0 put addresses in "ip4"/"ip6"; nothing berth runs
  // speaks them, and reading them as "no addresses" would hide the problem.
  if (!result.cni_version.empty() && compare_versions(result.cni_version, "0.3.0") < 0) {
    return fail(ErrorCode::kInvalidArgument,
                "CNI result: version " + result.cni_version + " is not supported (0.3.0 or later)");
  }

  const json* interfaces = BERTH_TRY(read_objects(document, "interfaces"));
  for (size_t i = 0; i < interfaces->size(); ++i) {
    const json& item = (*interfaces)[i];
    std::string field = element("interfaces", i);
    Interface interface;
    BERTH_TRY(read_string(item, "name", field, &interface.name));
    BERTH_TRY(read_string(item, "mac", field, &interface.mac));
    BERTH_TRY(read_string(item, "sandbox", field, &interface.sandbox));
    result.interfaces.push_back(std::move(interface));
  }

  const json* ips = BERTH_TRY(read_objects(document, "ips"));
  for (size_t i = 0; i < ips->size(); ++i) {
    const json& item = (*ips)[i];
    std::string field = element("ips", i);
    IpConfig ip;
    BERTH_TRY(read_string(item, "address", field, &ip.address));
    BERTH_TRY(read_string(item, "gateway", field, &ip.gateway));
    auto index = item.find("interface");
    if (index != item.end() && !index->is_null()) {
      if (!index->is_number_integer() || index->get<int64_t>() < 0 ||
          index->get<int64_t>() > std::numeric_limits<int>::max()) {
        return wrong_type(field + "interface", "an interface index");
      }
      ip.interface = index->get<int>();
    }
    result.ips.push_back(std::move(ip));
  }

  const json* routes = BERTH_TRY(read_objects(document, "routes"));
  for (size_t i = 0; i < routes->size(); ++i) {
    const json& item = (*routes)[i];
    std::string field = element("routes", i);
    RouteConfig route;
    BERTH_TRY(read_string(item, "dst", field, &route.dst));
    BERTH_TRY(read_string(item, "gw", field, &route.gw));
    result.routes.push_back(std::move(route));
  }

  auto dns = document.find("dns");
  if (dns != document.end() && !dns->is_null()) {
    if (!dns->is_object()) return wrong_type("dns", "an object");
    BERTH_TRY(read_strings(*dns, "nameservers", "dns.", &result.dns.nameservers));
    BERTH_TRY(read_string(*dns, "domain", "dns.", &result.dns.domain));
    BERTH_TRY(read_strings(*dns, "search", "dns.", &result.dns.search));
    BERTH_TRY(read_strings(*dns, "options", "dns.", &result.dns.options));
  }
  return result;
}

std::vector<std::string> sandbox_addresses(const CniResult& result, const std::string& ifname) {
  std::vector<std::string> v4;
  std::vector<std::string> v6;
  for (const auto& ip : result.ips) {
    if (!ip.interface || static_cast<size_t>(*ip.interface) >= result.interfaces.size()) continue;
    const Interface& interface = result.interfaces[*ip.interface];
    if (interface.name != ifname || interface.sandbox.empty()) continue;
    std::string address = ip.address.substr(0, ip.address.find('/'));
    if (address.empty()) continue;
    (address.find(':') == std::string::npos ? v4 : v6).push_back(std::move(address));
  }
  v4.insert(v4.end(), v6.begin(), v6.end());
  return v4;
}

}  // namespace berth::cni
