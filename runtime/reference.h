// Image references as docker and containerd understand them (the
// github.com/distribution/reference grammar), normalised to canonical form:
//   "busybox"               -> docker.io/library/busybox:latest
//   "user/app@sha256:<hex>" -> docker.io/user/app@sha256:<hex>
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"

namespace berth::runtime {

struct ImageReference {
  std::string domain;  // host[:port], e.g. "docker.io", "127.0.0.1:5000"
  std::string path;    // e.g. "library/busybox"
  std::string tag;     // empty only when a digest pins the image
  std::string digest;  // "algorithm:hex", or empty

  // domain/path[:tag][@digest]
  std::string string() const;
  // domain/path
  std::string repository() const;

  bool operator==(const ImageReference&) const = default;
};

// Parses and normalises a reference the way `docker pull` does: Docker Hub
// short names gain "docker.io/" (and "library/" for single-component names),
// "index.docker.io" becomes "docker.io", and "latest" is the tag only when
// neither a tag nor a digest is given. Invalid input is kInvalidArgument with
// a message quoting the input and the reason.
Result<ImageReference> parse_image_reference(std::string_view text);

// The host to contact for the reference's registry: Docker Hub's API is not
// served from "docker.io" itself.
std::string registry_host_for(const ImageReference& reference);

}  // namespace berth::runtime
