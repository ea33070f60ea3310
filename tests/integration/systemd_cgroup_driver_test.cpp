// The systemd cgroup driver under a real systemd booted as PID 1 of a
// container (fixtures/booted_systemd_test.h): its sd-bus calls against that
// systemd, then berthd on it as the package installs it (the driver is the
// default there): each task a transient slice holding its limits, which the
// kernel enforces (memory to an OOM kill, CPU to its quota), each container
// a scope inside, and nothing left once the task stops.
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "cgroups/cgroupfs.h"
#include "cgroups/layout.h"
#include "cgroups/manager.h"
#include "fixtures/booted_systemd_test.h"
#include "systemd/cgroup_driver.h"
#include "systemd/units.h"

namespace berth::testing {
namespace {

using json = nlohmann::json;

class SystemdCgroupDriverTest : public BootedSystemdTest {
 protected:
  // The container's system bus, through its root.
  static std::string bus() {
    return "unix:path=/proc/" + std::to_string(booted_->init_pid()) +
           "/root/run/dbus/system_bus_socket";
  }
  // Where this host sees a cgroup of the container's tree.
  static std::string host_dir(const std::string& controller, const std::string& relative) {
    return "/sys/fs/cgroup/" + controller + "/berth-nspawn-" + std::string(kName) + relative;
  }
  // Runs a task definition through berthctl inside; its id.
  static std::string run_task(const json& definition) {
    std::string file = "/var/lib/berth-test/" + definition.value("family", "task") + ".json";
    EXPECT_TRUE(booted_->write(file, definition.dump()));
    auto ran = ctl({"run", "-f", file});
    EXPECT_EQ(ran.exit_code, 0) << ran.err << journal();
    return ran.out.substr(0, ran.out.find('\n'));
  }
  static json wait_for(const std::string& id, const std::function<bool(const json&)>& done) {
    json task;
    EXPECT_TRUE(await(
        [&] {
          task = describe(id);
          return done(task);
        },
        std::chrono::seconds(60)))
        << task.dump(2) << journal();
    return task;
  }
  // As PID 1 these ignore SIGTERM: a short stopTimeout keeps stops short.
  static json busybox(const std::string& name, const std::vector<std::string>& command) {
    return {{"name", name},
            {"image", "berth.test/busybox:latest"},
            {"command", command},
            {"stopTimeout", 2}};
  }
};

// The driver's sd-bus client: a transient slice with limits that the
// kernel enforces, listed, then stopped.
TEST_F(SystemdCgroupDriverTest, TransientSliceCarriesItsLimitsIntoTheCgroupAndGoesAtStop) {
  auto units = systemd::Units::connect(bus());
  ASSERT_TRUE(units) << units.error().message();
  std::string slice = "drivertest-0123456789ab.slice";
  auto started = (*units)->start_transient(slice,
                                           {{"Description", std::string("berth test slice")},
                                            {"MemoryLimit", uint64_t{64} << 20},
                                            {"CPUQuotaPerSecUSec", uint64_t{250000}},
                                            {"TasksMax", uint64_t{40}}},
                                           std::chrono::seconds(10));
  ASSERT_TRUE(started) << started.error().message();
  EXPECT_EQ((*units)->property(slice, "org.freedesktop.systemd1.Slice", "MemoryLimit").value_or(""),
            std::to_string(uint64_t{64} << 20));
  EXPECT_EQ((*units)->property(slice, "org.freedesktop.systemd1.Unit", "ActiveState").value_or(""),
            "active");
  EXPECT_EQ(booted_->property(slice, "CPUQuotaPerSecUSec"), "250ms");
  std::string dir = "/drivertest.slice/" + slice;
  EXPECT_EQ(read_file(host_dir("memory", dir) + "/memory.limit_in_bytes"), "67108864\n");
  EXPECT_EQ(read_file(host_dir("cpu", dir) + "/cpu.cfs_quota_us"), "25000\n");
  EXPECT_EQ(read_file(host_dir("pids", dir) + "/pids.max"), "40\n");
  auto listed = (*units)->list("drivertest-*.slice");
  ASSERT_TRUE(listed) << listed.error().message();
  EXPECT_EQ(*listed, std::vector<std::string>{slice});

  auto again = (*units)->start_transient(slice, {}, std::chrono::seconds(10));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_NE(again.error().message().find(slice), std::string::npos) << again.error().message();

  ASSERT_TRUE((*units)->stop(slice, std::chrono::seconds(10)));
  EXPECT_FALSE(std::filesystem::exists(host_dir("memory", dir)));
  EXPECT_TRUE((*units)->list("drivertest-*.slice").value_or(std::vector<std::string>{"?"}).empty());
  EXPECT_TRUE((*units)->stop(slice, std::chrono::seconds(10))) << "a second stop is no error";
}

// The driver over that client: a task's slice with the task's limits (again
// when it is made again), listed as the task, its counters read (before any
// process ran in it), kept while a process runs in it, and gone at removal.
TEST_F(SystemdCgroupDriverTest, TheDriverMakesListsReadsAndRemovesATaskSlice) {
  auto units = systemd::Units::connect(bus());
  ASSERT_TRUE(units) << units.error().message();
  auto layout = cgroups::detect_host_layout();
  ASSERT_TRUE(layout) << layout.error().message();
  // The container's cgroups, as this host sees them.
  auto cgroupfs =
      cgroups::make_manager(*layout, "berth-nspawn-" + std::string(kName) + "/drivertest.slice");
  ASSERT_TRUE(cgroupfs) << cgroupfs.error().message();
  systemd::SystemdCgroupManager driver("drivertest", std::move(*cgroupfs), std::move(*units),
                                       false);
  std::string task = "aaaabbbbcccc";
  std::string slice = "drivertest-aaaabbbbcccc.slice";
  ASSERT_TRUE(driver.create_task(task, {512, uint64_t{96} << 20, 20}));
  EXPECT_EQ(booted_->property(slice, "MemoryLimit"), "100663296");
  // Made again (a retried step, an adopted task): the slice is reused with
  // the limits asked now.
  ASSERT_TRUE(driver.create_task(task, {256, uint64_t{64} << 20, 40})) << "an existing slice";
  EXPECT_EQ(booted_->property(slice, "MemoryLimit"), "67108864");
  EXPECT_EQ(booted_->property(slice, "CPUQuotaPerSecUSec"), "250ms");
  auto stats = driver.stats(task);
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->memory_limit_bytes, uint64_t{64} << 20);
  EXPECT_EQ(stats->cpu_quota_us, 25000);
  EXPECT_EQ(stats->pids_limit, 40u);
  EXPECT_EQ(stats->cpu_usage_ns, 0u);
  EXPECT_EQ(driver.list_tasks().value_or(std::vector<std::string>{}),
            std::vector<std::string>{task});
  EXPECT_EQ(driver.container_cgroups_path(task, "aaaabbbbcccc-web"),
            "drivertest-aaaabbbbcccc.slice:drivertest:aaaabbbbcccc-web");
  EXPECT_EQ(driver.container_cgroup(task, "aaaabbbbcccc-web"),
            "/drivertest.slice/drivertest-aaaabbbbcccc.slice/drivertest-aaaabbbbcccc-web.scope");
  auto dashed = driver.create_task("with-dash", {});
  ASSERT_FALSE(dashed);
  EXPECT_NE(dashed.error().message().find("has a '-'"), std::string::npos);

  // A process in the slice (a scope of its own, as runc makes): removal
  // refuses, naming it, and the slice stays.
  ASSERT_EQ(booted_
                ->sh("systemd-run --scope --slice " + slice +
                     " --unit drivertest-sleeper -q sleep 300 </dev/null >/dev/null 2>&1 &")
                .exit_code,
            0);
  ASSERT_TRUE(await([&] { return booted_->property(slice, "TasksCurrent") == "1"; },
                    std::chrono::seconds(10)))
      << booted_->property(slice, "TasksCurrent");
  auto busy = driver.remove_task(task);
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(busy.error().message().find("still run in it"), std::string::npos)
      << busy.error().message();
  EXPECT_EQ(booted_->property(slice, "ActiveState"), "active");
  ASSERT_EQ(booted_->run({"systemctl", "stop", "drivertest-sleeper.scope"}).exit_code, 0);

  ASSERT_TRUE(driver.remove_task(task));
  EXPECT_TRUE(driver.list_tasks().value_or(std::vector<std::string>{"?"}).empty());
  EXPECT_EQ(booted_->property(slice, "ActiveState"), "inactive");
  for (const char* controller : {"memory", "cpu", "cpuacct", "pids"}) {
    EXPECT_FALSE(std::filesystem::exists(
        host_dir(controller, "/drivertest.slice/drivertest-aaaabbbbcccc.slice")))
        << controller;
  }
  EXPECT_TRUE(driver.remove_task(task)) << "removing it again";
}

// berthd on the driver: `node info` names it; a task with CPU and memory
// is a slice holding both (as systemd reports them and as the kernel
// holds them), its container a scope in it, a debug container another;
// after the stop all are gone.
TEST_F(SystemdCgroupDriverTest, ATaskIsASliceWithItsLimitsAndItsContainerAScopeInIt) {
  auto info = ctl({"-o", "json", "node", "info"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_EQ(json::parse(info.out).value("cgroupDriver", ""), "systemd v1") << info.out;

  std::string id = run_task({{"family", "sliced"},
                             {"cpu", "256"},
                             {"memory", "64"},
                             {"containerDefinitions", {busybox("app", {"sleep", "100000"})}}});
  ASSERT_FALSE(id.empty());
  json task = wait_for(id, [](const json& t) { return t.value("status", "") == "RUNNING"; });
  std::string slice = "berth-" + id + ".slice";
  std::string scope = "berth-" + id + "-app.scope";
  EXPECT_EQ(booted_->property(slice, "ActiveState"), "active");
  EXPECT_EQ(booted_->property(slice, "MemoryLimit"), "67108864");
  EXPECT_EQ(booted_->property(slice, "CPUQuotaPerSecUSec"), "250ms");
  EXPECT_EQ(booted_->property(scope, "ActiveState"), "active");
  EXPECT_EQ(booted_->property(scope, "Slice"), slice);
  EXPECT_EQ(booted_->property(scope, "ControlGroup"), "/berth.slice/" + slice + "/" + scope);
  std::string dir = "/berth.slice/" + slice;
  EXPECT_EQ(read_file(host_dir("memory", dir) + "/memory.limit_in_bytes"), "67108864\n");
  EXPECT_EQ(read_file(host_dir("cpu", dir) + "/cpu.cfs_quota_us"), "25000\n");
  // The container's process is in the scope, in every hierarchy.
  int64_t pid = container(task, "app").value("pid", 0);
  auto cgroup = booted_->run({"cat", "/proc/" + std::to_string(pid) + "/cgroup"});
  EXPECT_NE(cgroup.out.find(":memory:/berth.slice/" + slice + "/" + scope), std::string::npos)
      << cgroup.out;

  // A debug container is a scope of its own in the task's slice.
  auto debugged = ctl({"debug", id, "--", "cat", "/proc/self/cgroup"});
  EXPECT_EQ(debugged.exit_code, 0) << debugged.err;
  EXPECT_NE(debugged.out.find(":memory:/berth.slice/" + slice + "/berth-"), std::string::npos)
      << debugged.out;
  EXPECT_EQ(debugged.out.find(scope), std::string::npos) << "not in the target's scope";

  auto stopped = ctl({"stop", id});
  ASSERT_EQ(stopped.exit_code, 0) << stopped.err << journal();
  EXPECT_EQ(booted_->property(slice, "ActiveState"), "inactive");
  EXPECT_EQ(booted_->property(scope, "ActiveState"), "inactive");
  for (const char* controller : {"memory", "cpu", "cpuacct", "pids"}) {
    EXPECT_FALSE(std::filesystem::exists(host_dir(controller, dir))) << controller;
  }
}

// The slice's memory limit holds: a container writing past its task's
// memory is OOM-killed and reported so, as with cgroupfs.
TEST_F(SystemdCgroupDriverTest, ATaskPastTheSlicesMemoryIsOomKilled) {
  // Pages written to /dev/shm are charged to the cgroup: 48 MiB cannot fit
  // in the task's 24.
  std::string id = run_task(
      {{"family", "hog"},
       {"memory", "24"},
       {"containerDefinitions",
        {busybox("hog", {"dd", "if=/dev/zero", "of=/dev/shm/fill", "bs=1M", "count=48"})}}});
  ASSERT_FALSE(id.empty());
  json task = wait_for(id, [](const json& t) { return t.value("status", "") == "STOPPED"; });
  json hog = container(task, "hog");
  EXPECT_EQ(hog.value("reason", ""), "OutOfMemoryError: Container killed due to memory usage")
      << task.dump(2);
  EXPECT_EQ(hog.value("exitCode", -1), 137) << task.dump(2);
  EXPECT_TRUE(await(
      [&] { return booted_->property("berth-" + id + ".slice", "ActiveState") == "inactive"; },
      std::chrono::seconds(30)))
      << "the slice of a stopped task goes";
}

// The slice's CPU quota holds: a spinning task of 256 units gets a quarter
// of a core, one of 1024 a whole one (cpuacct.usage of each slice).
TEST_F(SystemdCgroupDriverTest, TheSlicesCpuQuotaHoldsATaskToItsShare) {
  auto spin = [&](const std::string& cpu) {
    return run_task(
        {{"family", "spin" + cpu},
         {"cpu", cpu},
         {"containerDefinitions", {busybox("spin", {"sh", "-c", "while :; do :; done"})}}});
  };
  std::string quarter = spin("256");
  std::string whole = spin("1024");
  ASSERT_FALSE(quarter.empty());
  ASSERT_FALSE(whole.empty());
  for (const auto& id : {quarter, whole}) {
    wait_for(id, [](const json& t) { return t.value("status", "") == "RUNNING"; });
  }
  auto usage = [&](const std::string& id) -> uint64_t {
    auto value = cgroups::read_number(host_dir("cpuacct", "/berth.slice/berth-" + id + ".slice") +
                                      "/cpuacct.usage");
    EXPECT_TRUE(value) << value.error().message();
    return value.value_or(0);
  };
  auto began = std::chrono::steady_clock::now();
  uint64_t quarter_before = usage(quarter), whole_before = usage(whole);
  // Measuring needs time to pass: 4 s is 40 CFS periods.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  uint64_t quarter_used = usage(quarter) - quarter_before, whole_used = usage(whole) - whole_before;
  double wall =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - began).count();
  double quarter_cores = static_cast<double>(quarter_used) / wall;
  double whole_cores = static_cast<double>(whole_used) / wall;
  std::cout << "cpu 256: " << quarter_cores << " cores; cpu 1024: " << whole_cores << " cores\n";
  EXPECT_LE(quarter_cores, 0.30);
  EXPECT_GE(quarter_cores, 0.15) << "the quota must not starve it either";
  EXPECT_LE(whole_cores, 1.05);
  EXPECT_GE(whole_cores, 0.5);
  EXPECT_EQ(ctl({"stop", quarter}).exit_code, 0);
  EXPECT_EQ(ctl({"stop", whole}).exit_code, 0);
}

// A restart of berthd adopts a task on the driver: the same slice and pid,
// and no second slice.
TEST_F(SystemdCgroupDriverTest, ARestartedBerthdAdoptsTheTaskInItsSlice) {
  std::string id = run_task({{"family", "adopted"},
                             {"memory", "32"},
                             {"containerDefinitions", {busybox("app", {"sleep", "100000"})}}});
  ASSERT_FALSE(id.empty());
  json task = wait_for(id, [](const json& t) { return t.value("status", "") == "RUNNING"; });
  int64_t pid = container(task, "app").value("pid", 0);
  ASSERT_EQ(booted_->run({"systemctl", "restart", "berthd"}).exit_code, 0) << journal();
  task = describe(id);
  EXPECT_EQ(task.value("status", ""), "RUNNING") << task.dump(2);
  EXPECT_EQ(container(task, "app").value("pid", 0), pid);
  EXPECT_EQ(booted_->property("berth-" + id + ".slice", "ActiveState"), "active");
  auto slices =
      booted_->run({"systemctl", "list-units", "--no-legend", "--plain", "berth-*.slice"});
  EXPECT_EQ(std::count(slices.out.begin(), slices.out.end(), '\n'), 1) << slices.out;
  EXPECT_EQ(ctl({"stop", id}).exit_code, 0);
  EXPECT_EQ(booted_->property("berth-" + id + ".slice", "ActiveState"), "inactive");
}

}  // namespace
}  // namespace berth::testing
