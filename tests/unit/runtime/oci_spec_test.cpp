#include "runtime/oci_spec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace berth::runtime {
namespace {

using nlohmann::json;
using Strings = std::vector<std::string>;

constexpr std::string_view kPasswd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "# a comment\n"
    "+nis\n"
    "broken:x:notanumber:1::/:\n"
    "app:x:1000:1001:App:/home/app:/bin/sh\n"
    "nginx:x:101:101:nginx:/nonexistent:/bin/false\n";

constexpr std::string_view kGroup =
    "root:x:0:\n"
    "wheel:x:10:root,app\n"
    "app:x:1001:\n"
    "audio:x:29:app, nginx\n"
    "web:x:33:\n"
    "nginx:x:101:\n";

SpecInputs base_inputs() {
  SpecInputs in;
  in.image.cmd = {"/bin/sh"};
  in.cgroups_path = "/berth/task1/web";
  in.agent_nofile_limit = {"RLIMIT_NOFILE", 1024, 1048576};
  return in;
}

json build_ok(const SpecInputs& in) {
  auto spec = build_spec(in);
  EXPECT_TRUE(spec.has_value()) << (spec ? "" : spec.error().message());
  return spec ? *spec : json();
}

TEST(OciSpecDefaults, TopLevelAndProcess) {
  json spec = build_ok(base_inputs());
  EXPECT_EQ(spec["ociVersion"], "1.0.2-dev");
  EXPECT_EQ(spec["root"], (json{{"path", "rootfs"}, {"readonly", false}}));
  const json& process = spec["process"];
  EXPECT_EQ(process["terminal"], false);
  EXPECT_EQ(process["cwd"], "/");
  EXPECT_EQ(process["noNewPrivileges"], false);  // as Docker
  EXPECT_EQ(process["args"], (json{"/bin/sh"}));
  EXPECT_EQ(process["env"], (json{std::string(kDefaultPathEnv)}));
  EXPECT_EQ(process["user"], (json{{"uid", 0}, {"gid", 0}, {"additionalGids", {0}}}));
  EXPECT_FALSE(spec.contains("hostname"));
  EXPECT_EQ(spec["linux"]["cgroupsPath"], "/berth/task1/web");
}

TEST(OciSpecDefaults, Capabilities) {
  json spec = build_ok(base_inputs());
  const json expected = {
      "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
      "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
      "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
      "CAP_KILL",    "CAP_AUDIT_WRITE"};
  const json& caps = spec["process"]["capabilities"];
  EXPECT_EQ(caps["bounding"], expected);
  EXPECT_EQ(caps["permitted"], expected);
  EXPECT_EQ(caps["effective"], expected);
  // containerd 1.6.20 sets neither; inheritable caps would survive execve.
  EXPECT_FALSE(caps.contains("inheritable"));
  EXPECT_FALSE(caps.contains("ambient"));
}

TEST(OciSpecDefaults, Mounts) {
  json mounts = build_ok(base_inputs())["mounts"];
  struct Expected {
    const char* destination;
    const char* type;
    const char* source;
    Strings options;
  };
  const std::vector<Expected> expected = {
      {"/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}},
      {"/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}},
      {"/dev/pts",
       "devpts",
       "devpts",
       {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
      {"/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
      {"/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}},
      {"/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}},
      {"/run", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}},
  };
  ASSERT_EQ(mounts.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(expected[i].destination);
    EXPECT_EQ(mounts[i]["destination"], expected[i].destination);
    EXPECT_EQ(mounts[i]["type"], expected[i].type);
    EXPECT_EQ(mounts[i]["source"], expected[i].source);
    EXPECT_EQ(mounts[i]["options"], json(expected[i].options));
  }
}

TEST(OciSpecDefaults, MaskedAndReadonlyPaths) {
  json linux_section = build_ok(base_inputs())["linux"];
  EXPECT_EQ(linux_section["maskedPaths"],
            (json{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                  "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                  "/proc/scsi", "/sys/devices/virtual/powercap"}));
  EXPECT_EQ(linux_section["readonlyPaths"],
            (json{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}));
}

TEST(OciSpecDefaults, Devices) {
  json devices = build_ok(base_inputs())["linux"]["resources"]["devices"];
  ASSERT_EQ(devices.size(), 10u);
  EXPECT_EQ(devices[0], (json{{"allow", false}, {"access", "rwm"}}));
  struct Allowed {
    int64_t major;
    int64_t minor;  // -1 = wildcard
  };
  const std::vector<Allowed> allowed = {{1, 3}, {1, 8}, {1, 7},    {5, 0}, {1, 5},
                                        {1, 9}, {5, 1}, {136, -1}, {5, 2}};
  for (size_t i = 0; i < allowed.size(); ++i) {
    const json& device = devices[i + 1];
    SCOPED_TRACE(device.dump());
    EXPECT_EQ(device["allow"], true);
    EXPECT_EQ(device["type"], "c");
    EXPECT_EQ(device["access"], "rwm");
    EXPECT_EQ(device["major"], allowed[i].major);
    if (allowed[i].minor < 0) {
      EXPECT_FALSE(device.contains("minor"));
    } else {
      EXPECT_EQ(device["minor"], allowed[i].minor);
    }
  }
}

TEST(OciSpecDefaults, NamespacesNewNetns) {
  json namespaces = build_ok(base_inputs())["linux"]["namespaces"];
  EXPECT_EQ(namespaces, (json::array({{{"type", "pid"}},
                                      {{"type", "ipc"}},
                                      {{"type", "uts"}},
                                      {{"type", "mount"}},
                                      {{"type", "network"}}})));
}

TEST(OciSpec, JoinsNetnsByPath) {
  SpecInputs in = base_inputs();
  in.netns_path = "/run/berth/netns/task1";
  json namespaces = build_ok(in)["linux"]["namespaces"];
  ASSERT_EQ(namespaces.size(), 5u);
  EXPECT_EQ(namespaces[4], (json{{"type", "network"}, {"path", "/run/berth/netns/task1"}}));
}

TEST(OciSpec, RejectsRelativeNetnsPath) {
  SpecInputs in = base_inputs();
  in.netns_path = "netns/task1";
  auto spec = build_spec(in);
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(spec.error().message().find("netns/task1"), std::string::npos);
}

TEST(OciSpec, ReadonlyRootTerminalAndHostname) {
  SpecInputs in = base_inputs();
  in.overrides.readonly_rootfs = true;
  in.overrides.terminal = true;
  in.overrides.hostname = "web-1";
  json spec = build_ok(in);
  EXPECT_EQ(spec["root"], (json{{"path", "rootfs"}, {"readonly", true}}));
  EXPECT_EQ(spec["process"]["terminal"], true);
  EXPECT_EQ(spec["hostname"], "web-1");
  EXPECT_EQ(spec["process"]["env"], (json{std::string(kDefaultPathEnv), "TERM=xterm"}));
}

TEST(OciSpec, RejectsOverlongHostname) {
  SpecInputs in = base_inputs();
  in.overrides.hostname = std::string(65, 'h');
  auto spec = build_spec(in);
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().code(), ErrorCode::kInvalidArgument);
}

TEST(OciSpec, CgroupsPathValidation) {
  for (const char* good : {"/berth/t/c", "berth.slice:berth:t-c"}) {
    SpecInputs in = base_inputs();
    in.cgroups_path = good;
    EXPECT_TRUE(build_spec(in).has_value()) << good;
  }
  for (const char* bad : {"", "berth/t", "/berth/../system.slice/x", "a:b"}) {
    SpecInputs in = base_inputs();
    in.cgroups_path = bad;
    auto spec = build_spec(in);
    ASSERT_FALSE(spec) << bad;
    EXPECT_EQ(spec.error().code(), ErrorCode::kInvalidArgument) << bad;
  }
}

TEST(OciSpec, WorkingDir) {
  SpecInputs in = base_inputs();
  in.image.working_dir = "/app";
  EXPECT_EQ(build_ok(in)["process"]["cwd"], "/app");
  in.overrides.working_dir = "/srv";
  EXPECT_EQ(build_ok(in)["process"]["cwd"], "/srv");
  in.overrides.working_dir = "srv";
  auto spec = build_spec(in);
  ASSERT_FALSE(spec);
  EXPECT_NE(spec.error().message().find("'srv'"), std::string::npos);
}

// --- args ----------------------------------------------------------------

struct ArgsCase {
  const char* name;
  Strings image_entrypoint;
  Strings image_cmd;
  std::optional<Strings> entrypoint;
  std::optional<Strings> command;
  Strings expected;
};

TEST(OciSpecArgs, DockerMergeRules) {
  // clang-format off
  const std::vector<ArgsCase> cases = {
      {"image only", {"/entry"}, {"a", "b"}, std::nullopt, std::nullopt, {"/entry", "a", "b"}},
      {"cmd only image", {}, {"/bin/sh", "-c", "x"}, std::nullopt, std::nullopt,
       {"/bin/sh", "-c", "x"}},
      {"command replaces image cmd", {"/entry"}, {"a"}, std::nullopt, Strings{"b", "c"},
       {"/entry", "b", "c"}},
      {"entrypoint resets image cmd", {"/entry"}, {"a"}, Strings{"/other"}, std::nullopt,
       {"/other"}},
      {"entrypoint and command", {"/entry"}, {"a"}, Strings{"/other"}, Strings{"x"},
       {"/other", "x"}},
      {"empty entrypoint clears image entrypoint, keeps cmd", {"/entry"}, {"/bin/app"}, Strings{},
       std::nullopt, {"/bin/app"}},
      {"empty entrypoint with command", {"/entry"}, {"a"}, Strings{}, Strings{"/bin/x"},
       {"/bin/x"}},
      {"empty command counts as none", {"/entry"}, {"a"}, std::nullopt, Strings{},
       {"/entry", "a"}},
      {"entrypoint with empty command", {"/entry"}, {"a"}, Strings{"/other"}, Strings{},
       {"/other"}},
  };
  // clang-format on
  for (const ArgsCase& c : cases) {
    SCOPED_TRACE(c.name);
    ImageConfig image;
    image.entrypoint = c.image_entrypoint;
    image.cmd = c.image_cmd;
    ContainerOverrides overrides;
    overrides.entrypoint = c.entrypoint;
    overrides.command = c.command;
    auto args = resolve_args(image, overrides);
    ASSERT_TRUE(args.has_value()) << args.error().message();
    EXPECT_EQ(*args, c.expected);
  }
}

TEST(OciSpecArgs, EmptyCommandIsAnError) {
  SpecInputs in = base_inputs();
  in.image.cmd.clear();
  auto spec = build_spec(in);
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(spec.error().message(),
            "no command: the image has no Entrypoint or Cmd and none was given");

  // Clearing the entrypoint of an image that has no Cmd leaves nothing either.
  ImageConfig image;
  image.entrypoint = {"/entry"};
  ContainerOverrides overrides;
  overrides.entrypoint = Strings{};
  EXPECT_FALSE(resolve_args(image, overrides).has_value());
}

TEST(OciSpecArgs, EmptyProgramIsAnError) {
  ImageConfig image;
  image.cmd = {"", "x"};
  auto args = resolve_args(image, ContainerOverrides{});
  ASSERT_FALSE(args);
  EXPECT_EQ(args.error().code(), ErrorCode::kInvalidArgument);
}

// --- env -----------------------------------------------------------------

TEST(OciSpecEnv, OverridesByKey) {
  auto env =
      merge_env({"PATH=/usr/bin", "LANG=C", "HOME=/root"}, {"LANG=en_US.UTF-8", "NEW=1", "EMPTY="});
  ASSERT_TRUE(env.has_value());
  EXPECT_EQ(*env, (Strings{"PATH=/usr/bin", "LANG=en_US.UTF-8", "HOME=/root", "NEW=1", "EMPTY="}));
}

TEST(OciSpecEnv, ValueMayContainEquals) {
  auto env = merge_env({"PATH=/bin", "OPTS=a=b"}, {"OPTS=c=d"});
  ASSERT_TRUE(env.has_value());
  EXPECT_EQ(*env, (Strings{"PATH=/bin", "OPTS=c=d"}));
}

TEST(OciSpecEnv, OverrideDropsLaterDuplicates) {
  auto env = merge_env({"PATH=/bin", "A=1", "A=2"}, {"A=3"});
  ASSERT_TRUE(env.has_value());
  EXPECT_EQ(*env, (Strings{"PATH=/bin", "A=3"}));
}

TEST(OciSpecEnv, DefaultPath) {
  auto none = merge_env({}, {});
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(*none, (Strings{std::string(kDefaultPathEnv)}));

  auto no_path = merge_env({"LANG=C"}, {});
  ASSERT_TRUE(no_path.has_value());
  EXPECT_EQ(*no_path, (Strings{std::string(kDefaultPathEnv), "LANG=C"}));

  auto overridden = merge_env({}, {"PATH=/opt/bin"});
  ASSERT_TRUE(overridden.has_value());
  EXPECT_EQ(*overridden, (Strings{"PATH=/opt/bin"}));
}

TEST(OciSpecEnv, RejectsEntriesWithoutKey) {
  for (const char* bad : {"NOEQUALS", "=value"}) {
    auto env = merge_env({}, {bad});
    ASSERT_FALSE(env) << bad;
    EXPECT_EQ(env.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(env.error().message().find(bad), std::string::npos);
  }
}

TEST(OciSpecEnv, InSpec) {
  SpecInputs in = base_inputs();
  in.image.env = {"PATH=/usr/bin", "MODE=prod"};
  in.overrides.env = {"MODE=dev"};
  EXPECT_EQ(build_ok(in)["process"]["env"], (json{"PATH=/usr/bin", "MODE=dev"}));
}

// --- user ----------------------------------------------------------------

struct UserCase {
  const char* user;
  uint32_t uid;
  uint32_t gid;
  std::vector<uint32_t> additional_gids;
};

TEST(OciSpecUser, Resolves) {
  const std::vector<UserCase> cases = {
      {"", 0, 0, {0, 10}},  // root, and root is listed in wheel
      {"0", 0, 0, {0, 10}},
      {"1000", 1000, 1001, {1001, 10, 29}},  // gid from passwd; groups by name
      {"4242", 4242, 0, {0}},                // unknown uid: gid 0, no groups
      {"4242:7", 4242, 7, {7}},
      {"1000:33", 1000, 33, {33, 10, 29}},
      {"app", 1000, 1001, {1001, 10, 29}},
      {"nginx", 101, 101, {101, 29}},  // member list is trimmed ("app, nginx")
      {"app:web", 1000, 33, {33, 10, 29}},
      {"app:0", 1000, 0, {0, 10, 29}},
      {"1000:web", 1000, 33, {33, 10, 29}},
      {"daemon", 1, 1, {1}},
  };
  for (const UserCase& c : cases) {
    SCOPED_TRACE(c.user);
    auto user = resolve_user(c.user, kPasswd, kGroup);
    ASSERT_TRUE(user.has_value()) << user.error().message();
    EXPECT_EQ(user->uid, c.uid);
    EXPECT_EQ(user->gid, c.gid);
    EXPECT_EQ(user->additional_gids, c.additional_gids);
  }
}

TEST(OciSpecUser, NumericWithoutPasswd) {
  auto user = resolve_user("1000:1000", "", "");
  ASSERT_TRUE(user.has_value());
  EXPECT_EQ(user->uid, 1000u);
  EXPECT_EQ(user->gid, 1000u);
  EXPECT_EQ(user->additional_gids, (std::vector<uint32_t>{1000}));
}

TEST(OciSpecUser, NameNotFound) {
  auto user = resolve_user("nobody", kPasswd, kGroup);
  ASSERT_FALSE(user);
  EXPECT_EQ(user.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(user.error().message(), "user 'nobody' not found in the image's /etc/passwd");

  auto no_passwd = resolve_user("app", "", "");
  ASSERT_FALSE(no_passwd);
  EXPECT_NE(no_passwd.error().message().find("'app' not found"), std::string::npos);
}

TEST(OciSpecUser, GroupNotFound) {
  auto user = resolve_user("app:nogroup", kPasswd, kGroup);
  ASSERT_FALSE(user);
  EXPECT_EQ(user.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(user.error().message(), "group 'nogroup' not found in the image's /etc/group");
}

TEST(OciSpecUser, Malformed) {
  for (const char* bad : {"a:b:c", ":1", "1:", ":", "2147483648", "0:99999999999"}) {
    auto user = resolve_user(bad, kPasswd, kGroup);
    ASSERT_FALSE(user) << bad;
    EXPECT_EQ(user.error().code(), ErrorCode::kInvalidArgument) << bad;
  }
}

TEST(OciSpecUser, OverrideBeatsImageUserInSpec) {
  SpecInputs in = base_inputs();
  in.etc_passwd = kPasswd;
  in.etc_group = kGroup;
  in.image.user = "nginx";
  EXPECT_EQ(build_ok(in)["process"]["user"],
            (json{{"uid", 101}, {"gid", 101}, {"additionalGids", {101, 29}}}));
  in.overrides.user = "1000:33";
  EXPECT_EQ(build_ok(in)["process"]["user"],
            (json{{"uid", 1000}, {"gid", 33}, {"additionalGids", {33, 10, 29}}}));
  in.overrides.user = "ghost";
  auto spec = build_spec(in);
  ASSERT_FALSE(spec);
  EXPECT_NE(spec.error().message().find("user 'ghost' not found in the image's /etc/passwd"),
            std::string::npos);
}

// --- rlimits -------------------------------------------------------------

TEST(OciSpecRlimit, ClampedToAgentHardLimit) {
  struct Case {
    uint64_t agent_soft, agent_hard, expected;
  };
  for (const Case& c : std::vector<Case>{{512, 512, 512},
                                         {256, 512, 512},
                                         {1024, 1048576, 1024},
                                         {1024, UINT64_MAX, 1024},
                                         {1, 1, 1}}) {
    SCOPED_TRACE(c.agent_hard);
    SpecInputs in = base_inputs();
    in.agent_nofile_limit = {"RLIMIT_NOFILE", c.agent_soft, c.agent_hard};
    json spec = build_ok(in);
    EXPECT_EQ(
        spec["process"]["rlimits"],
        (json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", c.expected}, {"soft", c.expected}}})));
  }
}

TEST(OciSpecRlimit, RejectsUnsetAgentLimit) {
  SpecInputs in = base_inputs();
  in.agent_nofile_limit = {};
  auto spec = build_spec(in);
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().code(), ErrorCode::kInvalidArgument);

  auto wrong_type = container_nofile_limit({"RLIMIT_NPROC", 10, 10});
  ASSERT_FALSE(wrong_type);
  EXPECT_NE(wrong_type.error().message().find("RLIMIT_NPROC"), std::string::npos);
}

// --- image config --------------------------------------------------------

TEST(ImageConfigParse, FullConfig) {
  auto image = parse_image_config(R"({
    "architecture": "amd64", "os": "linux",
    "config": {
      "Entrypoint": ["/docker-entrypoint.sh"],
      "Cmd": ["nginx", "-g", "daemon off;"],
      "Env": ["PATH=/usr/local/sbin:/usr/local/bin", "NGINX_VERSION=1.25.3"],
      "WorkingDir": "/usr/share/nginx",
      "User": "101:101",
      "Labels": {"maintainer": "NGINX <docker-maint@nginx.com>"},
      "ExposedPorts": {"80/tcp": {}, "443/tcp": {}},
      "StopSignal": "SIGQUIT"
    },
    "rootfs": {"type": "layers", "diff_ids": []}
  })");
  ASSERT_TRUE(image.has_value()) << image.error().message();
  EXPECT_EQ(image->entrypoint, (Strings{"/docker-entrypoint.sh"}));
  EXPECT_EQ(image->cmd, (Strings{"nginx", "-g", "daemon off;"}));
  EXPECT_EQ(image->env, (Strings{"PATH=/usr/local/sbin:/usr/local/bin", "NGINX_VERSION=1.25.3"}));
  EXPECT_EQ(image->working_dir, "/usr/share/nginx");
  EXPECT_EQ(image->user, "101:101");
  EXPECT_EQ(image->labels.at("maintainer"), "NGINX <docker-maint@nginx.com>");
  EXPECT_EQ(image->exposed_ports, (Strings{"443/tcp", "80/tcp"}));
  EXPECT_EQ(image->stop_signal, "SIGQUIT");
}

TEST(ImageConfigParse, NullAndMissingFieldsAreEmpty) {
  for (const char* text :
       {R"({"config": {"Entrypoint": null, "Cmd": null, "Env": null, "Labels": null,
                       "ExposedPorts": null, "WorkingDir": "", "User": null}})",
        R"({"config": {}})", R"({"config": null})", R"({"architecture": "amd64"})"}) {
    SCOPED_TRACE(text);
    auto image = parse_image_config(text);
    ASSERT_TRUE(image.has_value()) << image.error().message();
    EXPECT_TRUE(image->entrypoint.empty());
    EXPECT_TRUE(image->cmd.empty());
    EXPECT_TRUE(image->env.empty());
    EXPECT_TRUE(image->labels.empty());
    EXPECT_TRUE(image->exposed_ports.empty());
    EXPECT_EQ(image->working_dir, "");
    EXPECT_EQ(image->user, "");
    EXPECT_EQ(image->stop_signal, "");
  }
}

TEST(ImageConfigParse, Errors) {
  struct Case {
    const char* text;
    const char* mention;
  };
  for (const Case& c : std::vector<Case>{
           {"{not json", "not valid JSON"},
           {"[1,2]", "expected a JSON object"},
           {R"({"config": []})", "\"config\" must be an object"},
           {R"({"config": {"Cmd": "sh"}})", "config.Cmd: expected an array of strings, got string"},
           {R"({"config": {"Env": ["A=1", 2]}})", "config.Env[1]: expected a string, got number"},
           {R"({"config": {"User": 0}})", "config.User: expected a string"},
           {R"({"config": {"Labels": {"a": 1}}})", "config.Labels[\"a\"]"},
           {R"({"config": {"ExposedPorts": ["80/tcp"]}})", "config.ExposedPorts"},
       }) {
    SCOPED_TRACE(c.text);
    auto image = parse_image_config(c.text);
    ASSERT_FALSE(image);
    EXPECT_EQ(image.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(image.error().message().find(c.mention), std::string::npos)
        << image.error().message();
  }
}

TEST(OciSpec, ImageConfigEndToEnd) {
  auto image = parse_image_config(R"({"config": {
      "Entrypoint": ["/docker-entrypoint.sh"], "Cmd": ["nginx", "-g", "daemon off;"],
      "Env": ["PATH=/usr/bin"], "WorkingDir": "/srv", "User": "nginx"}})");
  ASSERT_TRUE(image.has_value());
  SpecInputs in = base_inputs();
  in.image = *image;
  in.etc_passwd = kPasswd;
  in.etc_group = kGroup;
  in.overrides.command = Strings{"nginx-debug"};
  json process = build_ok(in)["process"];
  EXPECT_EQ(process["args"], (json{"/docker-entrypoint.sh", "nginx-debug"}));
  EXPECT_EQ(process["cwd"], "/srv");
  EXPECT_EQ(process["env"], (json{"PATH=/usr/bin"}));
  EXPECT_EQ(process["user"]["uid"], 101);
}

}  // namespace
}  // namespace berth::runtime
