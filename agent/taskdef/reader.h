// Typed readers over a task definition's JSON. Each reader records a
// problem, with the JSON path of the field, for whatever it cannot read and
// carries on, so that one pass reports every problem. Also the path and
// description helpers that problems are written with. Internal to
// agent/taskdef.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/taskdef/taskdef.h"

namespace berth::agent::taskdef {

using json = nlohmann::json;

// A JSON string literal; never throws (invalid UTF-8 is replaced).
std::string quote(std::string_view text);

// "a.b" for a plain key, a["x.y"] for any other.
std::string member(const std::string& path, std::string_view key);

// "a[3]".
std::string element(const std::string& path, size_t index);

// "a string (\"256\")", "an array", ... for "must be X, not <this>".
std::string describe(const json& value);

// 1-255 letters, digits, hyphens and underscores: the rule for family,
// container and volume names.
bool valid_name(std::string_view name);

// An integral JSON number as int64 (saturated), or nullopt.
std::optional<int64_t> whole_number(const json& value);

struct Range {
  int64_t min = 0;
  int64_t max = std::numeric_limits<int64_t>::max();
  std::string_view unit;  // " MiB", " seconds", ...
};

// "must be between 1 and 10 seconds, not 11" (or "at least" without a max).
std::string range_reason(const Range& range, int64_t value);

class Reader {
 public:
  // Host paths (volumes, devices, environment files) must be at or below one
  // of `allowed_host_paths`.
  explicit Reader(const std::vector<std::string>& allowed_host_paths);

  void add(std::string path, std::string reason) {
    problems_.push_back({std::move(path), std::move(reason)});
  }
  std::vector<Problem> take_problems() { return std::move(problems_); }

  // A missing or null field reads as nullopt without a problem; a field of
  // the wrong type is reported and reads as nullopt.
  static const json* field(const json& object, std::string_view key);
  bool require(const json& object, std::string_view key, const std::string& path);
  std::optional<std::string> string_field(const json& object, std::string_view key,
                                          const std::string& path);
  std::optional<bool> bool_field(const json& object, std::string_view key, const std::string& path);
  std::optional<int64_t> int_field(const json& object, std::string_view key,
                                   const std::string& path, const Range& range);
  // Nullopt also when an element is not a string (each is reported), so
  // that indexes in the result are the JSON's.
  std::optional<std::vector<std::string>> strings_field(const json& object, std::string_view key,
                                                        const std::string& path);
  std::map<std::string, std::string> string_map(const json& object, std::string_view key,
                                                const std::string& path);
  const json* object_field(const json& object, std::string_view key, const std::string& path);
  // Calls visit(element, element_path, index) for each object of an array.
  template <typename Visit>
  void each_object(const json& object, std::string_view key, const std::string& path,
                   Visit&& visit);
  // Unknown fields, and refused fields that are set (see
  // task_definition_fields()). `schema` is the object's path in the table:
  // "containerDefinitions[].healthCheck".
  void check_fields(const json& object, std::string_view schema, const std::string& path);
  // A host path allowed by the node's policy, normalised.
  std::optional<std::string> host_path(const std::string& value, const std::string& path);

 private:
  std::vector<std::string> allowed_paths_;  // normalised
  std::vector<Problem> problems_;
};

template <typename Visit>
void Reader::each_object(const json& object, std::string_view key, const std::string& path,
                         Visit&& visit) {
  const json* value = field(object, key);
  if (value == nullptr) return;
  std::string at = member(path, key);
  if (!value->is_array()) {
    add(at, "must be an array of objects, not " + describe(*value));
    return;
  }
  for (size_t i = 0; i < value->size(); ++i) {
    const json& item = (*value)[i];
    if (!item.is_object()) {
      add(element(at, i), "must be an object, not " + describe(item));
      continue;
    }
    visit(item, element(at, i), i);
  }
}

}  // namespace berth::agent::taskdef
