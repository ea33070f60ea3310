// The typed readers of a task definition's JSON (see reader.h).
#include "agent/taskdef/reader.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <span>

#include "common/error.h"
#include "common/strings.h"

namespace berth::agent::taskdef {

namespace {

// The table by schema path, for check_fields.
const std::map<std::string_view, const FieldDecision*, std::less<>>& field_index() {
  static const std::map<std::string_view, const FieldDecision*, std::less<>> kIndex = [] {
    std::map<std::string_view, const FieldDecision*, std::less<>> index;
    for (const FieldDecision& field : task_definition_fields()) index.emplace(field.path, &field);
    return index;
  }();
  return kIndex;
}

bool plain_key(std::string_view key) {
  return !key.empty() && std::ranges::all_of(key, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
  });
}

// A field counts as set unless it is null, false, empty or absent: refused
// fields are only a problem when set.
bool is_set(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return false;
    case json::value_t::boolean:
      return value.get<bool>();
    case json::value_t::array:
    case json::value_t::object:
    case json::value_t::string:
      return !value.empty() && !(value.is_string() && value.get_ref<const std::string&>().empty());
    default:
      return true;
  }
}

// "/a//b/./c/" -> "/a/b/c"; a relative path or a ".." component is an error.
Result<std::string> normalise_absolute_path(std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return fail(ErrorCode::kInvalidArgument, "must be an absolute path, not " + quote(path));
  }
  if (std::ranges::any_of(path, [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
    return fail(ErrorCode::kInvalidArgument, "must not contain control characters");
  }
  std::string out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part == "..") {
      return fail(ErrorCode::kInvalidArgument, quote(path) + " must not contain \"..\"");
    }
    if (!part.empty() && part != ".") {
      out += '/';
      out += part;
    }
    start = end + 1;
  }
  return out.empty() ? "/" : out;
}

bool below(const std::string& path, const std::string& prefix) {
  return prefix == "/" || path == prefix || path.starts_with(prefix + "/");
}

}  // namespace

std::string quote(std::string_view text) {
  return json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string member(const std::string& path, std::string_view key) {
  if (!plain_key(key)) return path + "[" + quote(key) + "]";
  if (path.empty()) return std::string(key);
  return path + "." + std::string(key);
}

std::string element(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

std::string describe(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string: {
      const auto& text = value.get_ref<const std::string&>();
      if (text.size() <= 40) return "a string (" + quote(text) + ")";
      return "a string";
    }
    case json::value_t::boolean:
      return value.get<bool>() ? "true" : "false";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "a number (" + value.dump() + ")";
    default:
      return "something else";
  }
}

bool valid_name(std::string_view name) { return name.size() <= 255 && plain_key(name); }

std::optional<int64_t> whole_number(const json& value) {
  if (value.is_number_unsigned()) {
    auto n = value.get<uint64_t>();
    return n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
               ? std::numeric_limits<int64_t>::max()
               : static_cast<int64_t>(n);
  }
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_number_float()) {
    double d = value.get<double>();
    if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9e18) {
      return static_cast<int64_t>(d);
    }
  }
  return std::nullopt;
}

std::string range_reason(const Range& range, int64_t value) {
  std::string unit(range.unit);
  if (range.max == std::numeric_limits<int64_t>::max()) {
    return "must be at least " + std::to_string(range.min) + unit + ", not " +
           std::to_string(value);
  }
  return "must be between " + std::to_string(range.min) + " and " + std::to_string(range.max) +
         unit + ", not " + std::to_string(value);
}

Reader::Reader(const std::vector<std::string>& allowed_host_paths) {
  for (const auto& allowed : allowed_host_paths) {
    if (auto normal = normalise_absolute_path(allowed)) allowed_paths_.push_back(*normal);
  }
}

const json* Reader::field(const json& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

bool Reader::require(const json& object, std::string_view key, const std::string& path) {
  if (field(object, key) != nullptr) return true;
  add(member(path, key), "required");
  return false;
}

std::optional<std::string> Reader::string_field(const json& object, std::string_view key,
                                                const std::string& path) {
  const json* value = field(object, key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) {
    add(member(path, key), "must be a string, not " + describe(*value));
    return std::nullopt;
  }
  return value->get<std::string>();
}

std::optional<bool> Reader::bool_field(const json& object, std::string_view key,
                                       const std::string& path) {
  const json* value = field(object, key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_boolean()) {
    add(member(path, key), "must be true or false, not " + describe(*value));
    return std::nullopt;
  }
  return value->get<bool>();
}

std::optional<int64_t> Reader::int_field(const json& object, std::string_view key,
                                         const std::string& path, const Range& range) {
  const json* value = field(object, key);
  if (value == nullptr) return std::nullopt;
  auto number = whole_number(*value);
  if (!number) {
    add(member(path, key), value->is_number() ? "must be a whole number, not " + value->dump()
                                              : "must be a number, not " + describe(*value));
    return std::nullopt;
  }
  if (*number < range.min || *number > range.max) {
    add(member(path, key), range_reason(range, *number));
    return std::nullopt;
  }
  return number;
}

std::optional<std::vector<std::string>> Reader::strings_field(const json& object,
                                                              std::string_view key,
                                                              const std::string& path) {
  const json* value = field(object, key);
  if (value == nullptr) return std::nullopt;
  std::string at = member(path, key);
  if (!value->is_array()) {
    add(at, "must be an array of strings, not " + describe(*value));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (size_t i = 0; i < value->size(); ++i) {
    const json& item = (*value)[i];
    if (!item.is_string()) {
      add(element(at, i), "must be a string, not " + describe(item));
      ok = false;
      continue;
    }
    out.push_back(item.get<std::string>());
  }
  if (!ok) return std::nullopt;
  return out;
}

std::map<std::string, std::string> Reader::string_map(const json& object, std::string_view key,
                                                      const std::string& path) {
  std::map<std::string, std::string> out;
  const json* value = object_field(object, key, path);
  if (value == nullptr) return out;
  std::string at = member(path, key);
  for (const auto& [name, item] : value->items()) {
    if (!item.is_string()) {
      add(member(at, name), "must be a string, not " + describe(item));
      continue;
    }
    out[name] = item.get<std::string>();
  }
  return out;
}

const json* Reader::object_field(const json& object, std::string_view key,
                                 const std::string& path) {
  const json* value = field(object, key);
  if (value == nullptr) return nullptr;
  if (!value->is_object()) {
    add(member(path, key), "must be an object, not " + describe(*value));
    return nullptr;
  }
  return value;
}

void Reader::check_fields(const json& object, std::string_view schema, const std::string& path) {
  const auto& index = field_index();
  for (const auto& [key, value] : object.items()) {
    std::string schema_path = schema.empty() ? key : std::string(schema) + "." + key;
    auto found = index.find(schema_path);
    if (found == index.end()) {
      // A field with the right name in the wrong case is a common slip.
      std::string reason = "unknown field";
      std::string prefix = schema.empty() ? "" : std::string(schema) + ".";
      for (const auto& [known, decision] : index) {
        std::string_view rest = known;
        if (!rest.starts_with(prefix)) continue;
        rest.remove_prefix(prefix.size());
        if (rest.find_first_of(".[") == std::string_view::npos && lower(rest) == lower(key)) {
          reason += " (did you mean " + quote(rest) + "?)";
          break;
        }
      }
      add(member(path, key), reason);
    } else if (found->second->support == FieldSupport::kRefused && is_set(value)) {
      add(member(path, key), "not supported by berth: " + std::string(found->second->note));
    }
  }
}

std::optional<std::string> Reader::host_path(const std::string& value, const std::string& path) {
  auto normal = normalise_absolute_path(value);
  if (!normal) {
    add(path, normal.error().message());
    return std::nullopt;
  }
  if (normal->ends_with("/docker.sock")) {
    add(path, "not supported by berth: there is no Docker daemon on a berth node, so " +
                  quote(value) + " does not exist");
    return std::nullopt;
  }
  if (std::ranges::none_of(allowed_paths_,
                           [&](const std::string& prefix) { return below(*normal, prefix); })) {
    add(path, quote(value) + " is not at or below a host path this node allows (" +
                  (allowed_paths_.empty() ? std::string("it allows none")
                                          : "allowed: " + join(allowed_paths_, ", ")) +
                  ")");
    return std::nullopt;
  }
  return std::move(*normal);
}

}  // namespace berth::agent::taskdef
