#include "runtime/runc_wrapper.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace berth::runtime {
namespace {

TEST(RuncArgs, CreateAsContainerdsShimRunsIt) {
  // go-runc: global options, then create --bundle B [create options] ID.
  auto call = parse_runc_args({"--root", "/run/containerd/runc/berth", "--log",
                               "/run/containerd/io.containerd.runtime.v2.task/berth/c1/log.json",
                               "--log-format", "json", "--systemd-cgroup", "create", "--bundle",
                               "/run/containerd/io.containerd.runtime.v2.task/berth/c1",
                               "--pid-file", "/run/x/init.pid", "--no-pivot", "c1"});
  EXPECT_EQ(call.command, "create");
  EXPECT_EQ(call.bundle, "/run/containerd/io.containerd.runtime.v2.task/berth/c1");
  EXPECT_EQ(call.log_path, "/run/containerd/io.containerd.runtime.v2.task/berth/c1/log.json");
  EXPECT_EQ(call.log_format, "json");
}

TEST(RuncArgs, FlagSpellings) {
  auto call = parse_runc_args({"-log=/l", "--rootless=false", "--debug", "create",
                               "--console-socket", "/s.sock", "-b", "/bundle", "id"});
  EXPECT_EQ(call.command, "create");
  EXPECT_EQ(call.bundle, "/bundle");
  EXPECT_EQ(call.log_path, "/l");
  EXPECT_EQ(call.log_format, "");

  call = parse_runc_args({"create", "--pid-file=/p", "--bundle=/b", "id"});
  EXPECT_EQ(call.bundle, "/b");
  // The value of another option is not a bundle.
  call = parse_runc_args({"create", "--pid-file", "--bundle", "id"});
  EXPECT_EQ(call.bundle, "");
  // Options end at the container id.
  call = parse_runc_args({"create", "id", "--bundle", "/late"});
  EXPECT_EQ(call.bundle, "");
}

TEST(RuncArgs, OtherCommandsHaveNoBundle) {
  auto call = parse_runc_args({"--root", "/r", "delete", "--force", "--bundle", "/b", "id"});
  EXPECT_EQ(call.command, "delete");
  EXPECT_EQ(call.bundle, "");
  EXPECT_EQ(parse_runc_args({"--root", "/r", "start", "id"}).command, "start");
  EXPECT_EQ(parse_runc_args({"--version"}).command, "");
  EXPECT_EQ(parse_runc_args({}).command, "");
  // A trailing option without its value.
  EXPECT_EQ(parse_runc_args({"--root"}).command, "");
}

TEST(StdinFifo, FromTheSpecsAnnotation) {
  EXPECT_EQ(
      stdin_fifo_of(
          R"({"ociVersion":"1.0.2","annotations":{"io.berth.stdin-fifo":"/run/berth/stdin/c1"}})")
          .value(),
      "/run/berth/stdin/c1");
  EXPECT_EQ(stdin_fifo_of(R"({"ociVersion":"1.0.2"})").value(), "");
  EXPECT_EQ(stdin_fifo_of(R"({"annotations":{"other":"x"}})").value(), "");
  EXPECT_EQ(stdin_fifo_of(R"({"annotations":null})").value(), "");
}

TEST(StdinFifo, Errors) {
  for (const char* text : {"", "not json", "[]", R"({"annotations":{"io.berth.stdin-fifo":7}})",
                           R"({"annotations":{"io.berth.stdin-fifo":"relative/fifo"}})"}) {
    auto fifo = stdin_fifo_of(text);
    EXPECT_FALSE(fifo.has_value()) << text;
  }
}

TEST(RuncLog, ErrorLineIsWhatTheShimReads) {
  std::string line = runc_error_log_line(
      "berth-runc: open stdin FIFO '/x': No such file or directory", "2024-05-01T10:00:00Z");
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  auto parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["level"], "error");
  EXPECT_EQ(parsed["msg"], "berth-runc: open stdin FIFO '/x': No such file or directory");
  EXPECT_EQ(parsed["time"], "2024-05-01T10:00:00Z");
}

}  // namespace
}  // namespace berth::runtime
