// Pulling and importing images through berthd, against a real registry and a
// private containerd.
#include <filesystem>
#include <fstream>

#include "fixtures/integration_test.h"

namespace berth::testing {
namespace {

class ImageTest : public IntegrationTest {};

TEST_F(ImageTest, PullByTagStoresTheIndexAndListsIt) {
  Berthd berthd({"--insecure-registry", registry()});
  ASSERT_TRUE(berthd.ok()) << berthd.log_text();
  auto pulled = berthd.ctl({"image", "pull", image()});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  EXPECT_EQ(pulled.out, image() + " " + env().digest("OCI_INDEX_DIGEST") + "\n");

  auto listed = berthd.ctl({"-o", "json", "image", "ls"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("\"name\": \"" + image() + "\""), std::string::npos) << listed.out;

  // The amd64 manifest's layers were unpacked; the arm64 one was not fetched.
  EXPECT_EQ(env().count(berthd.ns(), {"snapshots", "ls"}), 2u);
  EXPECT_EQ(berthd.leftovers(), "");
}

TEST_F(ImageTest, PullByDigestAndDockerMediaTypes) {
  Berthd berthd({"--insecure-registry", registry()});
  ASSERT_TRUE(berthd.ok()) << berthd.log_text();
  std::string by_digest = registry() + "/test/busybox@" + env().digest("OCI_INDEX_DIGEST");
  auto pulled = berthd.ctl({"image", "pull", by_digest});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  EXPECT_EQ(pulled.out, by_digest + " " + env().digest("OCI_INDEX_DIGEST") + "\n");

  std::string docker = registry() + "/test/busybox-docker:latest";
  pulled = berthd.ctl({"image", "pull", docker});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  EXPECT_EQ(pulled.out, docker + " " + env().digest("DOCKER_LIST_DIGEST") + "\n");
  std::string manifest_digest =
      registry() + "/test/busybox-docker@" + env().digest("DOCKER_AMD64_MANIFEST_DIGEST");
  pulled = berthd.ctl({"image", "pull", manifest_digest});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;

  // Both run.
  auto run = berthd.ctl({"run", "--rm", docker, "--", "cat", "/etc/berth-test-image"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "berth test image\n");
  EXPECT_EQ(berthd.leftovers(), "");
}

TEST_F(ImageTest, PublicNameIsPulledThroughAMirror) {
  Berthd berthd({"--registry-mirror", "docker.io=http://" + registry()});
  ASSERT_TRUE(berthd.ok()) << berthd.log_text();
  auto pulled = berthd.ctl({"image", "pull", "busybox:latest"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  EXPECT_EQ(pulled.out,
            "docker.io/library/busybox:latest " + env().digest("OCI_INDEX_DIGEST") + "\n");
  auto run = berthd.ctl({"run", "--rm", "busybox", "--", "echo", "via mirror"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "via mirror\n");
}

TEST_F(ImageTest, SecondPullOfAPresentImageFetchesNoBlobs) {
  Berthd berthd({"--insecure-registry", registry()});
  ASSERT_TRUE(berthd.ok());
  ASSERT_EQ(berthd.ctl({"image", "pull", image()}).exit_code, 0);
  std::string log = env().registry().dir + "/registry.log";
  auto blob_gets = [&] {
    std::string text = read_file(log);
    size_t count = 0;
    for (size_t pos = 0; (pos = text.find("GET /v2/test/busybox/blobs/", pos)) != std::string::npos;
         ++pos)
      ++count;
    return count;
  };
  size_t before = blob_gets();
  ASSERT_GT(before, 0u) << "the registry access log should show the first pull's blob GETs";
  auto again = berthd.ctl({"image", "pull", image()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(blob_gets(), before) << "a second pull fetched blobs again";
}

struct BadPull {
  std::string name;
  std::string reference;  // {R} is replaced by the registry
  std::string expected_message;
};

class BadPullTest : public ImageTest, public ::testing::WithParamInterface<BadPull> {};

TEST_P(BadPullTest, FailsWithReferenceAndCauseAndLeavesNothing) {
  Berthd berthd({"--insecure-registry", registry(), "--insecure-registry", "127.0.0.1:1"});
  ASSERT_TRUE(berthd.ok());
  std::string reference = GetParam().reference;
  if (auto pos = reference.find("{R}"); pos != std::string::npos)
    reference.replace(pos, 3, registry());
  auto pulled = berthd.ctl({"image", "pull", reference});
  EXPECT_NE(pulled.exit_code, 0);
  EXPECT_NE(pulled.err.find("'" + reference + "'"), std::string::npos) << pulled.err;
  EXPECT_NE(pulled.err.find(GetParam().expected_message), std::string::npos) << pulled.err;
  EXPECT_EQ(berthd.leftovers(), "");
  EXPECT_EQ(env().count(berthd.ns(), {"snapshots", "ls"}), 0u) << "a failed pull left snapshots";
}

INSTANTIATE_TEST_SUITE_P(
    Registry, BadPullTest,
    ::testing::Values(
        BadPull{"MissingTag", "{R}/test/busybox:nope", "has no manifest 'nope'"},
        BadPull{"MissingRepository", "{R}/test/nothing:latest", "MANIFEST_UNKNOWN"},
        BadPull{"MissingDigest",
                "{R}/test/"
                "busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                "has no manifest"},
        BadPull{"RegistryDown", "127.0.0.1:1/test/busybox:latest", "unreachable"},
        BadPull{"MalformedReference", "Not/Valid:ref", "must be lowercase"}),
    [](const auto& info) { return info.param.name; });

class AuthTest : public ImageTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(AuthTest, CredentialsFromConfigJson) {
  auto secured = env().start_registry(GetParam(), "berth", "s3cret");
  ASSERT_TRUE(secured);
  std::string ref = secured->host() + "/test/busybox:latest";
  auto auth_file = [&](const std::string& name, const std::string& user,
                       const std::string& password) {
    std::string path = env().dir() + "/" + name;
    std::ofstream(path) << "{\"auths\": {\"" << secured->host() << "\": {\"username\": \"" << user
                        << "\", \"password\": \"" << password << "\"}}}";
    return path;
  };

  {  // No credentials.
    Berthd berthd({"--insecure-registry", secured->host()});
    ASSERT_TRUE(berthd.ok());
    auto pulled = berthd.ctl({"image", "pull", ref});
    EXPECT_NE(pulled.exit_code, 0);
    EXPECT_NE(pulled.err.find("'" + ref + "'"), std::string::npos) << pulled.err;
    EXPECT_TRUE(pulled.err.find("no credentials") != std::string::npos ||
                pulled.err.find("anonymous") != std::string::npos)
        << pulled.err;
    EXPECT_EQ(berthd.leftovers(), "");
  }
  {  // Wrong password.
    Berthd berthd({"--insecure-registry", secured->host(), "--registry-auth",
                   auth_file("bad.json", "berth", "wrong")});
    ASSERT_TRUE(berthd.ok());
    auto pulled = berthd.ctl({"image", "pull", ref});
    EXPECT_NE(pulled.exit_code, 0);
    EXPECT_NE(pulled.err.find("refused"), std::string::npos) << pulled.err;
    EXPECT_EQ(berthd.leftovers(), "");
  }
  {  // Right password.
    Berthd berthd({"--insecure-registry", secured->host(), "--registry-auth",
                   auth_file("good.json", "berth", "s3cret")});
    ASSERT_TRUE(berthd.ok());
    auto pulled = berthd.ctl({"image", "pull", ref});
    EXPECT_EQ(pulled.exit_code, 0) << pulled.err;
    EXPECT_EQ(berthd.leftovers(), "");
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, AuthTest, ::testing::Values("basic", "token"));

TEST_F(ImageTest, ImportThenRunWithoutARegistry) {
  Berthd berthd;  // no registry configured at all
  ASSERT_TRUE(berthd.ok());
  auto imported = berthd.ctl({"image", "import", env().image_dir() + "/busybox-oci.tar"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_EQ(imported.out, "berth.test/busybox:latest " + env().digest("OCI_INDEX_DIGEST") + "\n");
  auto run =
      berthd.ctl({"run", "--rm", "berth.test/busybox:latest", "--", "cat", "/var/www/index.html"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "hello from berth\n");

  auto removed = berthd.ctl({"image", "rm", "berth.test/busybox:latest"});
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  // Removing the only image collects its content and snapshots.
  EXPECT_EQ(env().count(berthd.ns(), {"snapshots", "ls"}), 0u);
  EXPECT_EQ(env().ctr(berthd.ns(), {"content", "ls", "-q"}).out, "");
  EXPECT_EQ(berthd.leftovers(), "");
}

TEST_F(ImageTest, ImportOfSomethingElseFailsAndLeavesNothing) {
  Berthd berthd;
  ASSERT_TRUE(berthd.ok());
  std::string bogus = env().dir() + "/not-an-image.tar";
  ASSERT_EQ(run_command({"tar", "-C", env().image_dir(), "-cf", bogus, "digests.env"}).exit_code,
            0);
  auto imported = berthd.ctl({"image", "import", bogus});
  EXPECT_NE(imported.exit_code, 0);
  EXPECT_NE(imported.err.find("not an OCI image layout"), std::string::npos) << imported.err;
  EXPECT_EQ(env().ctr(berthd.ns(), {"content", "ls", "-q"}).out, "");
  EXPECT_EQ(berthd.leftovers(), "");
}

}  // namespace
}  // namespace berth::testing
