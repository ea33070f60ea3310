#include "agent/task_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace berth::agent {

namespace fs = std::filesystem;

namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace

berth::Status write_file_atomically(const std::string& path, std::string_view contents) {
  std::string temp = path + ".tmp";
  Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd.get() < 0) return fail_errno("open '" + temp + "'");
  size_t written = 0;
  while (written < contents.size()) {
    ssize_t n = ::write(fd.get(), contents.data() + written, contents.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      int saved = errno;
      ::unlink(temp.c_str());
      return fail_errno("write '" + temp + "'", saved);
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0 || ::close(fd.release()) != 0) {
    int saved = errno;
    ::unlink(temp.c_str());
    return fail_errno("fsync '" + temp + "'", saved);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int saved = errno;
    ::unlink(temp.c_str());
    return fail_errno("rename '" + temp + "'", saved);
  }
  std::string dir = fs::path(path).parent_path().string();
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0 || ::fsync(dir_fd.get()) != 0) return fail_errno("fsync '" + dir + "'");
  return {};
}

Result<TaskStore> TaskStore::open(const std::string& root) {
  std::string dir = root + "/tasks";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(ErrorCode::kInternal, "create '" + dir + "': " + ec.message());
  ::chmod(dir.c_str(), 0700);
  return TaskStore(dir);
}

berth::Status TaskStore::save(const TaskRecord& task) const {
  return write_file_atomically(dir_ + "/" + task.id + ".json", to_json(task).dump(1));
}

berth::Status TaskStore::remove(const std::string& task_id) const {
  std::string path = dir_ + "/" + task_id + ".json";
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail_errno("remove '" + path + "'");
  return {};
}

std::vector<TaskRecord> TaskStore::load_all(std::vector<std::string>* problems) const {
  std::vector<TaskRecord> tasks;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const auto& path = entry.path();
    if (path.extension() != ".json") {
      // A leftover temporary file of an interrupted save: the rename never
      // happened, so the record it was replacing is still whole.
      if (path.extension() == ".tmp") fs::remove(path, ec);
      continue;
    }
    std::ifstream in(path);
    std::stringstream buffer;
    buffer << in.rdbuf();
    auto json = nlohmann::json::parse(buffer.str(), nullptr, false);
    if (json.is_discarded()) {
      problems->push_back(path.string() + ": not JSON");
      continue;
    }
    auto task = task_from_json(json);
    if (!task) {
      problems->push_back(path.string() + ": " + task.error().message());
      continue;
    }
    tasks.push_back(std::move(*task));
  }
  std::ranges::sort(tasks, [](const TaskRecord& a, const TaskRecord& b) {
    return a.created_at_ms < b.created_at_ms;
  });
  return tasks;
}

}  // namespace berth::agent
