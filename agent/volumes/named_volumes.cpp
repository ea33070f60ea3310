#include "agent/volumes/named_volumes.h"

#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "agent/volumes/volume_mounts.h"
#include "common/file.h"

namespace berth::agent {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json describe(const Volume& volume) {
  json record{{"name", volume.name}, {"driver", "local"}, {"labels", volume.labels}};
  json options = json::object();
  if (volume.mount) {
    options["type"] = volume.mount->type;
    if (!volume.mount->device.empty()) options["device"] = volume.mount->device;
    if (!volume.mount->options.empty()) options["o"] = volume.mount->options;
  }
  record["driverOpts"] = options;
  return record;
}

}  // namespace

Status NamedVolumes::create(const Volume& volume) {
  // Made beside it and renamed into place: a crash leaves a partial
  // directory that the next attempt replaces, never half a volume.
  const std::string final_dir = dir_ + "/" + volume.name;
  const std::string partial = dir_ + "/." + volume.name + ".partial";
  std::error_code ec;
  fs::remove_all(partial, ec);
  fs::create_directories(partial + "/_data", ec);
  if (ec) return fail(ErrorCode::kInternal, "create '" + partial + "': " + ec.message());
  if (!volume.mount) ::chmod((partial + "/_data").c_str(), 0777);  // any user may write
  BERTH_TRY(write_atomically(partial + "/volume.json", describe(volume).dump(2) + "\n"));
  fs::rename(partial, final_dir, ec);
  if (ec) return fail(ErrorCode::kInternal, "create '" + final_dir + "': " + ec.message());
  return {};
}

Result<std::string> NamedVolumes::provide(const Volume& volume) {
  const std::string record_path = dir_ + "/" + volume.name + "/volume.json";
  std::error_code ec;
  if (!fs::exists(record_path, ec)) {
    if (!volume.autoprovision) {
      return fail(ErrorCode::kNotFound,
                  "no shared volume of that name on this node, and autoprovision is false");
    }
    BERTH_TRY(create(volume));
  }
  std::string text = BERTH_TRY(read_file(record_path));
  json record = json::parse(text, nullptr, false);
  if (record.is_discarded() || !record.is_object()) {
    return fail(ErrorCode::kDataLoss, "'" + record_path + "' is not a volume record");
  }
  if (volume.autoprovision) {
    json wanted = describe(volume);
    for (const char* field : {"driverOpts", "labels"}) {
      if (record.value(field, json::object()) != wanted[field]) {
        return fail(ErrorCode::kFailedPrecondition,
                    std::string("the shared volume on this node was made with other ") + field +
                        " (" + record.value(field, json::object()).dump() + ", not " +
                        wanted[field].dump() + ")");
      }
    }
  }
  const std::string data = data_dir(volume.name);
  const json& options = record.value("driverOpts", json::object());
  if (options.contains("type")) {
    LocalMount mount{options.value("type", ""), options.value("device", ""),
                     options.value("o", "")};
    BERTH_TRY_CTX(mount_volume(mount, data), "driverOpts");
  }
  return data;
}

}  // namespace berth::agent
