// How a container joins the namespaces its task's sandbox holds
// (runtime/sandbox.h): pidMode and ipcMode "task", ipcMode "none". Pure.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/error.h"

namespace berth::runtime {

// How a container joins what its task's sandbox holds. Pure data, applied
// to a container's spec by apply_task_namespaces.
struct TaskNamespaces {
  std::string pid_path;    // "/proc/<pid>/ns/pid" of the sandbox; empty: as the spec says
  std::string ipc_path;    // "/proc/<pid>/ns/ipc" of the sandbox; empty: as the spec says
  std::string shm_source;  // host directory mounted at /dev/shm (the task's shared one)
  bool ipc_none = false;   // a private IPC namespace and no /dev/shm (Docker's ipc "none")
};

// Joins the namespaces and mounts the shared /dev/shm in `spec` (an OCI
// runtime spec from build_spec).
Status apply_task_namespaces(nlohmann::json& spec, const TaskNamespaces& namespaces);

}  // namespace berth::runtime
