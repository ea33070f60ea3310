// The checkpoint store on a real directory: writes are durable and whole,
// failed writes are retried until they succeed, and checkpoints that
// cannot be read are quarantined, never dropped.
#include "agent/state/store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "agent/state/record_json.h"
#include "common/file.h"

namespace berth::agent {
namespace {

namespace fs = std::filesystem;

// Fails checkpoint writes while `failing` is set, as a full disk would.
class FullDisk final : public Failpoints {
 public:
  Status at(std::string_view point) const override {
    if (point == "checkpoint.write.before" && failing) {
      ++refused;
      return fail_errno("write checkpoint", ENOSPC);
    }
    return {};
  }
  std::atomic<bool> failing{false};
  mutable std::atomic<int> refused{0};
};

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/berth-store-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    paths_.emplace(dir_, dir_ + "/state");
  }
  void TearDown() override {
    if (store_) store_->stop();
    fs::remove_all(dir_);
  }
  void open(const Failpoints* failpoints = nullptr) {
    auto store = CheckpointStore::open(*paths_, failpoints);
    ASSERT_TRUE(store) << store.error().message();
    store_ = std::move(*store);
  }
  void start() {
    store_->start([this](const WriteOutcome& outcome) {
      std::lock_guard lock(mu_);
      outcomes_.push_back(outcome);
      cv_.notify_all();
    });
  }
  // Waits for an outcome of `seq` that succeeded (or, with ok false, failed).
  bool await(uint64_t seq, bool ok) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] {
      for (const auto& o : outcomes_) {
        if (o.seq == seq && static_cast<bool>(o.status) == ok) return true;
      }
      return false;
    });
  }
  static TaskRecord record(const std::string& id) {
    TaskDefinition def;
    def.family = "fam";
    ContainerDefinition c;
    c.name = "a";
    c.image = "busybox";
    def.containers.push_back(c);
    return new_task(id, "", "{}", def, 1, NetworkMode::kNone);
  }
  void write_raw(const std::string& name, const std::string& text) {
    std::ofstream(paths_->checkpoint_dir() + "/" + name) << text;
  }

  std::string dir_;
  std::optional<Paths> paths_;
  std::unique_ptr<CheckpointStore> store_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WriteOutcome> outcomes_;
};

TEST_F(StoreTest, ASaveIsDurableAndReadsBack) {
  open();
  start();
  auto task = record("0123456789ab");
  store_->save(task.id, 1, to_json(task).dump());
  ASSERT_TRUE(await(1, true));
  store_->stop();
  auto loaded = store_->load();
  ASSERT_EQ(loaded.tasks.size(), 1u);
  EXPECT_EQ(loaded.tasks[0].id, "0123456789ab");
  EXPECT_TRUE(loaded.quarantined.empty());
  EXPECT_EQ(fs::status(paths_->checkpoint_dir()).permissions() & fs::perms::all,
            fs::perms::owner_all);
}

TEST_F(StoreTest, AFailedWriteIsRetriedUntilItIsDurableAndNothingIsHalfWritten) {
  FullDisk disk;
  disk.failing = true;
  open(&disk);
  start();
  auto task = record("0123456789ab");
  store_->save(task.id, 1, to_json(task).dump());
  ASSERT_TRUE(await(1, false)) << "the failure is reported";
  task.name = "newer";
  store_->save(task.id, 2, to_json(task).dump());
  ASSERT_TRUE(await(2, false));
  EXPECT_FALSE(fs::exists(paths_->checkpoint(task.id)));
  EXPECT_FALSE(fs::exists(paths_->checkpoint(task.id) + ".tmp"));
  disk.failing = false;  // space is back
  ASSERT_TRUE(await(2, true)) << "retried without another save";
  auto text = read_file(paths_->checkpoint(task.id));
  ASSERT_TRUE(text);
  EXPECT_EQ(task_from_json(nlohmann::json::parse(*text))->name, "newer")
      << "the newest record is the one written";
}

TEST_F(StoreTest, UnreadableCheckpointsAreQuarantinedBesideIntactOnes) {
  open();
  auto good = record("0123456789ab");
  ASSERT_TRUE(write_atomically(paths_->checkpoint(good.id), to_json(good).dump()));
  std::string whole = to_json(record("aaaaaaaaaaaa")).dump();
  write_raw("aaaaaaaaaaaa.json", whole.substr(0, whole.size() / 2));  // truncated
  write_raw("bbbbbbbbbbbb.json", "not json at all");
  write_raw("cccccccccccc.json", to_json(record("dddddddddddd")).dump());  // names another task
  write_raw("eeeeeeeeeeee.json.tmp", "an interrupted write");
  auto loaded = store_->load();
  ASSERT_EQ(loaded.tasks.size(), 1u);
  EXPECT_EQ(loaded.tasks[0].id, good.id);
  ASSERT_EQ(loaded.quarantined.size(), 3u);
  for (const auto& q : loaded.quarantined) {
    EXPECT_TRUE(fs::exists(q.file)) << q.id << ": the file is kept";
    EXPECT_EQ(fs::path(q.file).parent_path(), paths_->quarantine_dir());
    EXPECT_FALSE(fs::exists(paths_->checkpoint(q.id)));
    EXPECT_FALSE(q.reason.empty());
  }
  EXPECT_FALSE(fs::exists(paths_->checkpoint_dir() + "/eeeeeeeeeeee.json.tmp"));
  // The next start shows them again, until they are removed.
  auto again = store_->load();
  EXPECT_EQ(again.quarantined.size(), 3u);
  EXPECT_EQ(again.tasks.size(), 1u);
  ASSERT_TRUE(store_->forget_quarantined(again.quarantined[0]));
  EXPECT_EQ(store_->load().quarantined.size(), 2u);
}

TEST_F(StoreTest, ARemovalDeletesTheCheckpoint) {
  open();
  start();
  auto task = record("0123456789ab");
  store_->save(task.id, 1, to_json(task).dump());
  ASSERT_TRUE(await(1, true));
  store_->remove(task.id, 2);
  ASSERT_TRUE(await(2, true));
  EXPECT_FALSE(fs::exists(paths_->checkpoint(task.id)));
}

}  // namespace
}  // namespace berth::agent
