#include "runtime/reference.h"

#include <gtest/gtest.h>

#include <string>

namespace berth::runtime {
namespace {

const std::string kDigest =
    "sha256:7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";

ImageReference parse_ok(std::string_view text) {
  auto parsed = parse_image_reference(text);
  EXPECT_TRUE(parsed.has_value()) << text << ": " << parsed.error().message();
  return parsed.value_or(ImageReference{});
}

// The error message for input that must be rejected.
std::string parse_error(std::string_view text) {
  auto parsed = parse_image_reference(text);
  if (parsed.has_value()) {
    ADD_FAILURE() << text << " parsed as " << parsed->string();
    return "";
  }
  EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument) << text;
  return parsed.error().message();
}

TEST(ImageReferenceTest, OfficialShortNameGetsHubDomainLibraryAndLatest) {
  ImageReference ref = parse_ok("busybox");
  EXPECT_EQ(ref.domain, "docker.io");
  EXPECT_EQ(ref.path, "library/busybox");
  EXPECT_EQ(ref.tag, "latest");
  EXPECT_EQ(ref.digest, "");
  EXPECT_EQ(ref.string(), "docker.io/library/busybox:latest");
  EXPECT_EQ(ref.repository(), "docker.io/library/busybox");
}

TEST(ImageReferenceTest, UserRepositoryStaysOutOfLibrary) {
  EXPECT_EQ(parse_ok("user/app").string(), "docker.io/user/app:latest");
  EXPECT_EQ(parse_ok("user/app:1.2").string(), "docker.io/user/app:1.2");
  EXPECT_EQ(parse_ok("user/team/app").path, "user/team/app");
}

TEST(ImageReferenceTest, ExplicitHubDomainsNormalise) {
  EXPECT_EQ(parse_ok("docker.io/busybox").string(), "docker.io/library/busybox:latest");
  EXPECT_EQ(parse_ok("docker.io/library/busybox:1.36").string(), "docker.io/library/busybox:1.36");
  EXPECT_EQ(parse_ok("index.docker.io/busybox").string(), "docker.io/library/busybox:latest");
  EXPECT_EQ(parse_ok("index.docker.io/user/app").string(), "docker.io/user/app:latest");
}

TEST(ImageReferenceTest, OtherRegistriesDoNotGetLibraryPrefix) {
  ImageReference ref = parse_ok("quay.io/busybox");
  EXPECT_EQ(ref.domain, "quay.io");
  EXPECT_EQ(ref.path, "busybox");
  EXPECT_EQ(ref.string(), "quay.io/busybox:latest");
}

TEST(ImageReferenceTest, HostWithPortIsDomain) {
  ImageReference ref = parse_ok("127.0.0.1:5000/test/busybox:v1");
  EXPECT_EQ(ref.domain, "127.0.0.1:5000");
  EXPECT_EQ(ref.path, "test/busybox");
  EXPECT_EQ(ref.tag, "v1");
  EXPECT_EQ(ref.string(), "127.0.0.1:5000/test/busybox:v1");
  EXPECT_EQ(ref.repository(), "127.0.0.1:5000/test/busybox");
}

TEST(ImageReferenceTest, PortWithoutDotIsDomain) {
  ImageReference ref = parse_ok("registry:5000/app");
  EXPECT_EQ(ref.domain, "registry:5000");
  EXPECT_EQ(ref.path, "app");
}

TEST(ImageReferenceTest, LocalhostIsDomainOnlyWithPath) {
  ImageReference with_path = parse_ok("localhost/app");
  EXPECT_EQ(with_path.domain, "localhost");
  EXPECT_EQ(with_path.path, "app");
  EXPECT_EQ(parse_ok("localhost:5000/app:dev").string(), "localhost:5000/app:dev");
  // As docker does: a lone name is always a Docker Hub repository, so the
  // ":5000" here is a tag.
  EXPECT_EQ(parse_ok("localhost:5000").string(), "docker.io/library/localhost:5000");
}

TEST(ImageReferenceTest, LowercaseFirstComponentWithoutDotIsHubNamespace) {
  ImageReference ref = parse_ok("myregistry/app");
  EXPECT_EQ(ref.domain, "docker.io");
  EXPECT_EQ(ref.path, "myregistry/app");
}

TEST(ImageReferenceTest, UppercaseFirstComponentIsDomainLikeDocker) {
  // distribution/reference treats an upper-case first component as a host.
  ImageReference ref = parse_ok("MyHost/app");
  EXPECT_EQ(ref.domain, "MyHost");
  EXPECT_EQ(ref.path, "app");
}

TEST(ImageReferenceTest, Ipv6DomainInBrackets) {
  ImageReference ref = parse_ok("[::1]:5000/app:v2");
  EXPECT_EQ(ref.domain, "[::1]:5000");
  EXPECT_EQ(ref.path, "app");
  EXPECT_EQ(ref.tag, "v2");
  EXPECT_EQ(parse_ok("[fe80::1]/app").domain, "[fe80::1]");
}

TEST(ImageReferenceTest, DigestOnlyHasNoDefaultTag) {
  ImageReference ref = parse_ok("busybox@" + kDigest);
  EXPECT_EQ(ref.tag, "");
  EXPECT_EQ(ref.digest, kDigest);
  EXPECT_EQ(ref.string(), "docker.io/library/busybox@" + kDigest);
}

TEST(ImageReferenceTest, TagAndDigestAreBothKept) {
  ImageReference ref = parse_ok("busybox:1.36@" + kDigest);
  EXPECT_EQ(ref.tag, "1.36");
  EXPECT_EQ(ref.digest, kDigest);
  EXPECT_EQ(ref.string(), "docker.io/library/busybox:1.36@" + kDigest);
}

TEST(ImageReferenceTest, DigestWithRegistryPort) {
  ImageReference ref = parse_ok("localhost:5000/app@" + kDigest);
  EXPECT_EQ(ref.domain, "localhost:5000");
  EXPECT_EQ(ref.path, "app");
  EXPECT_EQ(ref.tag, "");
}

TEST(ImageReferenceTest, CanonicalStringReparsesToSameReference) {
  for (const char* text : {"busybox", "user/app:v1", "127.0.0.1:5000/a/b:c",
                           "ghcr.io/org/img@sha256:"
                           "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa"}) {
    ImageReference ref = parse_ok(text);
    EXPECT_EQ(parse_ok(ref.string()), ref) << text;
  }
}

TEST(ImageReferenceTest, PathSeparatorsFollowGrammar) {
  EXPECT_EQ(parse_ok("a.b/c").domain, "a.b");  // a dot makes it a host
  EXPECT_EQ(parse_ok("user/my.app").path, "user/my.app");
  EXPECT_EQ(parse_ok("user/my_app").path, "user/my_app");
  EXPECT_EQ(parse_ok("user/my__app").path, "user/my__app");
  EXPECT_EQ(parse_ok("user/my-app").path, "user/my-app");
  EXPECT_EQ(parse_ok("user/my---app").path, "user/my---app");
}

TEST(ImageReferenceTest, TagGrammar) {
  EXPECT_EQ(parse_ok("app:_v1.0-RC").tag, "_v1.0-RC");
  EXPECT_EQ(parse_ok("app:" + std::string(128, 'x')).tag.size(), 128u);
  EXPECT_EQ(parse_error("app:" + std::string(129, 'x')),
            "invalid image reference \"app:" + std::string(129, 'x') +
                "\": tag is longer than 128 characters");
  EXPECT_EQ(parse_error("app:.v1"),
            "invalid image reference \"app:.v1\": tag \".v1\" must be letters, digits, '_', '.' "
            "and '-', not starting with '.' or '-'");
  EXPECT_NE(parse_error("app:-v1").find("tag \"-v1\""), std::string::npos);
  EXPECT_NE(parse_error("app:v+1").find("tag \"v+1\""), std::string::npos);
  EXPECT_EQ(parse_error("app:"), "invalid image reference \"app:\": tag is empty");
}

TEST(ImageReferenceTest, UppercaseRepositoryIsRejected) {
  EXPECT_EQ(parse_error("Busybox"),
            "invalid image reference \"Busybox\": repository name must be lowercase");
  EXPECT_EQ(parse_error("user/App:v1"),
            "invalid image reference \"user/App:v1\": repository name must be lowercase");
  EXPECT_EQ(parse_error("quay.io/Org/app"),
            "invalid image reference \"quay.io/Org/app\": repository name must be lowercase");
}

TEST(ImageReferenceTest, UppercaseTagIsAllowed) { EXPECT_EQ(parse_ok("app:Latest").tag, "Latest"); }

TEST(ImageReferenceTest, BadPathComponentsAreRejected) {
  EXPECT_EQ(parse_error("user/app_"),
            "invalid image reference \"user/app_\": repository name component \"app_\" must be "
            "lowercase letters and digits separated by '.', '_', '__' or '-'");
  for (const char* text : {"user/-app", "user/a..b", "user/a___b", "user/a._b", "user/.app"}) {
    EXPECT_NE(parse_error(text).find("repository name component"), std::string::npos) << text;
  }
  EXPECT_EQ(parse_error("user//app"),
            "invalid image reference \"user//app\": repository name has an empty path component");
  EXPECT_NE(parse_error("user/app/").find("empty path component"), std::string::npos);
  EXPECT_NE(parse_error("quay.io/").find("repository name is empty"), std::string::npos);
  EXPECT_NE(parse_error("user/a$b").find("\"a$b\""), std::string::npos);
}

TEST(ImageReferenceTest, EmptyReferenceIsRejected) {
  EXPECT_EQ(parse_error(""), "invalid image reference \"\": reference is empty");
}

TEST(ImageReferenceTest, BareImageIdIsRejected) {
  std::string id = kDigest.substr(7);
  EXPECT_EQ(parse_error(id), "invalid image reference \"" + id +
                                 "\": a 64-character hex string is an image ID, not a "
                                 "repository name");
}

TEST(ImageReferenceTest, BadDomainsAreRejected) {
  EXPECT_EQ(parse_error("-bad.io/app"),
            "invalid image reference \"-bad.io/app\": registry host \"-bad.io\" must be "
            "dot-separated letters, digits and inner hyphens");
  EXPECT_NE(parse_error("bad..io/app").find("registry host \"bad..io\""), std::string::npos);
  EXPECT_NE(parse_error("bad_host.io/app").find("registry host"), std::string::npos);
  EXPECT_EQ(parse_error("host.io:port/app"),
            "invalid image reference \"host.io:port/app\": registry port \"port\" must be a "
            "number");
  EXPECT_NE(parse_error("host.io:/app").find("registry port \"\""), std::string::npos);
  EXPECT_NE(parse_error("[::1/app").find("unterminated IPv6"), std::string::npos);
  EXPECT_NE(parse_error("[zz]:5000/app").find("invalid IPv6"), std::string::npos);
  EXPECT_NE(parse_error("::1/app").find("registry host"), std::string::npos);
}

TEST(ImageReferenceTest, Sha256DigestMustBe64LowercaseHex) {
  std::string short_digest = "sha256:abc";
  EXPECT_EQ(parse_error("busybox@" + short_digest),
            "invalid image reference \"busybox@sha256:abc\": digest \"sha256:abc\" must be "
            "\"sha256:\" followed by 64 lowercase hex digits");
  std::string upper = "sha256:" + std::string(64, 'A');
  EXPECT_NE(parse_error("busybox@" + upper).find("64 lowercase hex digits"), std::string::npos);
  std::string too_long = kDigest + "0";
  EXPECT_NE(parse_error("busybox@" + too_long).find("64 lowercase hex"), std::string::npos);
  EXPECT_NE(parse_error("busybox@sha512:" + std::string(64, 'a')).find("128 lowercase hex"),
            std::string::npos);
}

TEST(ImageReferenceTest, OtherAlgorithmsFollowGrammar) {
  std::string digest = "multihash+base58:" + std::string(32, 'F');
  EXPECT_EQ(parse_ok("app@" + digest).digest, digest);
  EXPECT_NE(parse_error("app@md5:" + std::string(31, 'a')).find("at least 32 hex digits"),
            std::string::npos);
  EXPECT_NE(parse_error("app@1sha:" + std::string(64, 'a')).find("digest algorithm \"1sha\""),
            std::string::npos);
  EXPECT_NE(parse_error("app@sha+:" + std::string(64, 'a')).find("digest algorithm"),
            std::string::npos);
}

TEST(ImageReferenceTest, MalformedDigestsAreRejected) {
  EXPECT_EQ(parse_error("app@"), "invalid image reference \"app@\": digest is empty");
  EXPECT_EQ(parse_error("app@deadbeef"),
            "invalid image reference \"app@deadbeef\": digest \"deadbeef\" must be "
            "<algorithm>:<hex>");
  EXPECT_NE(parse_error("app@" + kDigest + "@" + kDigest).find("digest"), std::string::npos);
}

TEST(ImageReferenceTest, NameLengthLimitCountsDomain) {
  // docker.io/ (10) + library/ (8) + 237 = 255 characters: the limit exactly.
  std::string longest = std::string(237, 'a');
  EXPECT_EQ(parse_ok(longest).repository().size(), 255u);
  std::string too_long = longest + "a";
  EXPECT_EQ(parse_error(too_long), "invalid image reference \"" + too_long +
                                       "\": repository name \"docker.io/library/" + too_long +
                                       "\" is longer than 255 characters");
}

TEST(ImageReferenceTest, ControlCharactersAreEscapedInMessages) {
  EXPECT_EQ(parse_error("bad\nname"),
            "invalid image reference \"bad\\x0aname\": repository name component "
            "\"bad\\x0aname\" must be lowercase letters and digits separated by '.', '_', '__' "
            "or '-'");
}

TEST(ImageReferenceTest, RegistryHostForDockerHubIsRegistry1) {
  EXPECT_EQ(registry_host_for(parse_ok("busybox")), "registry-1.docker.io");
  EXPECT_EQ(registry_host_for(parse_ok("index.docker.io/user/app")), "registry-1.docker.io");
  EXPECT_EQ(registry_host_for(parse_ok("127.0.0.1:5000/test/busybox:v1")), "127.0.0.1:5000");
  EXPECT_EQ(registry_host_for(parse_ok("ghcr.io/org/app")), "ghcr.io");
}

}  // namespace
}  // namespace berth::runtime
