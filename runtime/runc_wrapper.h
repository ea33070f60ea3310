// What berth-runc (runtime/runc/berth_runc_main.cpp) reads from the runc
// command line that containerd's shim gives it, and from the bundle's OCI
// spec. Pure: the caller does the I/O.
//
// Why a runc wrapper at all: an interactive container (docker -i) needs a
// stdin that stays open, but containerd's shim hands runc no stdin when the
// task logs through a binary:// logger (pkg/process/io.go: binaryIO.Set sets
// only stdout and stderr, so runc and the container read /dev/null). The
// shim runs the wrapper instead of runc (runc options' binary_name) for those
// containers only; the wrapper opens the FIFO the spec's annotation names as
// its own stdin and execs runc, whose `create` passes fd 0 on to the
// container.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace berth::runtime {

// Annotation of the OCI spec that names the container's stdin FIFO.
inline constexpr std::string_view kStdinFifoAnnotation = "io.berth.stdin-fifo";

struct RuncInvocation {
  std::string command;     // "create", "start", "delete", ...; empty: none given
  std::string bundle;      // create's --bundle; empty: runc's default, the working directory
  std::string log_path;    // the global --log; empty: none
  std::string log_format;  // the global --log-format ("text", "json"); empty: text
};

// Reads runc's arguments (without argv[0]): global options, the command and,
// for create, its --bundle.
RuncInvocation parse_runc_args(const std::vector<std::string>& args);

// The stdin FIFO that an OCI spec (config.json's text) asks for; empty when
// it asks for none. An error when the text is not a JSON object or the
// annotation is not an absolute path.
Result<std::string> stdin_fifo_of(std::string_view config_json);

// One line of runc's JSON log with level "error": containerd's shim reports
// the last such message when runc fails.
std::string runc_error_log_line(std::string_view message, std::string_view rfc3339_time);

}  // namespace berth::runtime
