#include "runtime/manifest.h"

#include <gtest/gtest.h>

namespace berth::runtime {
namespace {

const std::string kD1 = "sha256:" + std::string(64, '1');
const std::string kD2 = "sha256:" + std::string(64, '2');
const std::string kD3 = "sha256:" + std::string(64, '3');

TEST(ChainIds, FirstIsTheDiffIdThenHashesOfPairs) {
  // Expected values computed with coreutils:
  //   printf '%s %s' "$chain" "$diff" | sha256sum
  auto chain = chain_ids({kD1, kD2, kD3});
  ASSERT_EQ(chain.size(), 3u);
  EXPECT_EQ(chain[0], kD1);
  EXPECT_EQ(chain[1], "sha256:9932074217c35353d2e03a3f5a86549f7c67bfeb0ba53e23d69f4d4c8f7958f5");
  EXPECT_EQ(chain[2], "sha256:50127c0d6b338be78246434b4bce23ecf75e505158ea0bbd15effeb162fbf3ec");
  EXPECT_TRUE(chain_ids({}).empty());
}

std::string index_json() {
  return R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
         kD1 +
         R"(","size":10,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
         kD2 +
         R"(","size":11,"platform":{"os":"windows","architecture":"amd64"}},
    {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
         kD3 + R"(","size":12,"platform":{"os":"linux","architecture":"amd64"}}]})";
}

TEST(SelectPlatform, PicksTheMatchingManifestNotTheFirst) {
  auto index = parse_index(index_json());
  ASSERT_TRUE(index) << index.error().message();
  auto amd64 = select_platform(*index, {"linux", "amd64", ""});
  ASSERT_TRUE(amd64) << amd64.error().message();
  EXPECT_EQ(amd64->digest, kD3);
  EXPECT_EQ(amd64->size, 12);
  auto arm64 = select_platform(*index, {"linux", "arm64", "v8"});
  ASSERT_TRUE(arm64);
  EXPECT_EQ(arm64->digest, kD1);
}

TEST(SelectPlatform, MissingPlatformListsWhatIsOffered) {
  auto index = parse_index(index_json());
  ASSERT_TRUE(index);
  auto s390x = select_platform(*index, {"linux", "s390x", ""});
  ASSERT_FALSE(s390x);
  EXPECT_EQ(s390x.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(s390x.error().message(),
            "no manifest for platform linux/s390x (the image offers: linux/arm64/v8, "
            "windows/amd64, linux/amd64)");
  auto variant = select_platform(*index, {"linux", "arm64", "v7"});
  EXPECT_FALSE(variant);
}

TEST(Platform, HostIsLinuxWithAnOciArchitecture) {
  auto host = host_platform();
  EXPECT_EQ(host.os, "linux");
  EXPECT_EQ(normalize_architecture("x86_64"), "amd64");
  EXPECT_EQ(normalize_architecture("aarch64"), "arm64");
  EXPECT_NE(host.architecture, "x86_64");
}

TEST(ParseManifest, ReadsConfigAndLayers) {
  std::string text =
      R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
    "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":")" +
      kD1 + R"(","size":700},
    "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":")" +
      kD2 + R"(","size":1000}]})";
  auto manifest = parse_manifest(text);
  ASSERT_TRUE(manifest) << manifest.error().message();
  EXPECT_EQ(manifest->config.digest, kD1);
  ASSERT_EQ(manifest->layers.size(), 1u);
  EXPECT_EQ(manifest->layers[0].size, 1000);
}

TEST(ParseManifest, ErrorsNameTheField) {
  auto bad_digest = parse_manifest(R"({"config":{"digest":"sha256:xyz","size":1},"layers":[]})");
  ASSERT_FALSE(bad_digest);
  EXPECT_EQ(bad_digest.error().message(),
            "parse image manifest: config.digest: 'sha256:xyz' is not a sha256 digest");
  auto zstd = parse_manifest(
      R"({"config":{"digest":")" + kD1 +
      R"(","size":1},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":")" +
      kD2 + R"(","size":3}]})");
  ASSERT_FALSE(zstd);
  EXPECT_NE(
      zstd.error().message().find("layers[0]: media type "
                                  "'application/vnd.oci.image.layer.v1.tar+zstd' is not supported"),
      std::string::npos);
  EXPECT_FALSE(parse_manifest("not json"));
  EXPECT_FALSE(parse_manifest(R"({"config":{"digest":")" + kD1 + R"(","size":-1},"layers":[]})"));
}

TEST(DetectMediaType, HeaderThenDocumentThenShape) {
  EXPECT_EQ(
      detect_manifest_media_type("{}", "application/vnd.oci.image.index.v1+json; charset=utf-8"),
      "application/vnd.oci.image.index.v1+json");
  EXPECT_EQ(
      detect_manifest_media_type(
          R"({"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]})",
          "application/json"),
      "application/vnd.docker.distribution.manifest.list.v2+json");
  EXPECT_EQ(detect_manifest_media_type(R"({"manifests":[]})", ""),
            std::string(media_type::kOciIndex));
  EXPECT_EQ(detect_manifest_media_type(R"({"config":{},"layers":[]})", ""),
            std::string(media_type::kOciManifest));
  auto schema1 = detect_manifest_media_type(R"({"schemaVersion":1})", "");
  ASSERT_FALSE(schema1);
  EXPECT_NE(schema1.error().message().find("schema 1 is not supported"), std::string::npos);
}

TEST(ParseDiffIds, RequiresSha256Digests) {
  auto ids = parse_diff_ids(R"({"rootfs":{"type":"layers","diff_ids":[")" + kD1 + R"("]}})");
  ASSERT_TRUE(ids);
  EXPECT_EQ(*ids, std::vector<std::string>{kD1});
  EXPECT_FALSE(parse_diff_ids(R"({"rootfs":{"diff_ids":["md5:abc"]}})"));
  EXPECT_FALSE(parse_diff_ids(R"({"config":{}})"));
}

}  // namespace
}  // namespace berth::runtime
