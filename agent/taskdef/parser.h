// The parser of one task definition, internal to agent/taskdef.
//
// It never stops at the first problem: every reader reports what is wrong
// with its field and carries on, and the model is filled with what could be
// read, so that the cross-field checks (dependsOn targets, volume names,
// ports) still run and report their own problems.
//
// Its member functions are defined by section: parse.cpp (the document, the
// task level, tags, volumes), container.cpp, linux_parameters.cpp, and
// checks.cpp (the cross-field checks).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/taskdef/reader.h"
#include "agent/taskdef/taskdef.h"

namespace berth::agent::taskdef {

// Where each model element came from in the JSON, for the paths of
// cross-field problems (an element that could not be read leaves a gap).
struct Origins {
  size_t index = 0;  // in containerDefinitions
  std::vector<size_t> port_mappings;
  std::vector<size_t> depends_on;
  std::vector<size_t> links;
  std::vector<size_t> mount_points;
  std::vector<size_t> volumes_from;
};

class Parser : private Reader {
 public:
  explicit Parser(const ValidationPolicy& policy)
      : Reader(policy.allowed_host_paths), policy_(policy) {}

  // The definition as far as it could be read; the problems say what could
  // not.
  TaskDefinition parse(const json& root);
  using Reader::add;
  using Reader::take_problems;

 private:
  void parse_task(const json& doc, TaskDefinition& task);
  void parse_tags(const json& doc, TaskDefinition& task);
  void parse_volume(const json& volume, const std::string& path, TaskDefinition& task);
  void parse_driver_options(const json& docker, const std::string& path, Volume& volume);
  void parse_container(const json& container, const std::string& path, size_t index,
                       TaskDefinition& task);
  void parse_ports(const json& c, const std::string& path, ContainerDefinition& out,
                   Origins& origins);
  void parse_dependencies(const json& c, const std::string& path, ContainerDefinition& out,
                          Origins& origins);
  void parse_environment(const json& c, const std::string& path, ContainerDefinition& out);
  void parse_mounts(const json& c, const std::string& path, ContainerDefinition& out,
                    Origins& origins);
  void parse_health_check(const json& check, const std::string& path, ContainerDefinition& out);
  void parse_restart_policy(const json& policy, const std::string& path, ContainerDefinition& out);
  void parse_linux_parameters(const json& parameters, const std::string& path,
                              LinuxParameters& out);
  void parse_ulimits(const json& c, const std::string& path, ContainerDefinition& out);
  void parse_system_controls(const json& c, const std::string& path, ContainerDefinition& out);
  void parse_security_options(const json& c, const std::string& path, ContainerDefinition& out);
  void parse_log_configuration(const json& c, const std::string& path, ContainerDefinition& out);

  void check_containers(const TaskDefinition& task);
  void check_dependencies(const TaskDefinition& task, const std::map<std::string, size_t>& by_name);
  void check_ports(const TaskDefinition& task);
  void find_cycles(const TaskDefinition& task, const std::map<std::string, size_t>& by_name);

  std::string container_path(size_t model_index) const {
    return element("containerDefinitions", origins_[model_index].index);
  }

  const ValidationPolicy& policy_;
  std::vector<Origins> origins_;  // parallel to TaskDefinition::containers
  std::vector<size_t> volume_origins_;
  // A networkMode that names no mode, as written: reported by parse_task,
  // and still the mode the cross-field checks see (checks.cpp).
  std::optional<std::string> unknown_network_mode_;
};

}  // namespace berth::agent::taskdef
