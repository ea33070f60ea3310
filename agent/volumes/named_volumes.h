// Named volumes of the node (dockerVolumeConfiguration scope shared), kept
// as Docker's local driver keeps them: <dir>/<name>/_data holds the data,
// or is where the driverOpts are mounted, and <dir>/<name>/volume.json says
// what the volume was made with. They outlive the tasks that use them.
#pragma once

#include <string>

#include "agent/taskdef/taskdef.h"
#include "common/error.h"

namespace berth::agent {

class NamedVolumes {
 public:
  explicit NamedVolumes(std::string dir) : dir_(std::move(dir)) {}

  // The data directory of the shared `volume`: made when it does not exist
  // and autoprovision is set (refused when it is not), checked against
  // what it was made with when autoprovision is set (as the ECS agent
  // does), and mounted when it has driverOpts and is not mounted yet. Not
  // thread-safe: callers serialise.
  Result<std::string> provide(const Volume& volume);

  std::string data_dir(const std::string& name) const { return dir_ + "/" + name + "/_data"; }

 private:
  Status create(const Volume& volume);
  std::string dir_;
};

}  // namespace berth::agent
