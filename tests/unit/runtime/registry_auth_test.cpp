#include "runtime/registry_auth.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/base64.h"

namespace berth::runtime {
namespace {

using Params = std::map<std::string, std::string>;

// ---- WWW-Authenticate ------------------------------------------------------

TEST(WwwAuthenticateTest, DockerHubBearerChallenge) {
  auto challenges = parse_www_authenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",)"
      R"(scope="repository:library/busybox:pull")");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].scheme, "bearer");
  EXPECT_EQ(challenges[0].params, (Params{{"realm", "https://auth.docker.io/token"},
                                          {"service", "registry.docker.io"},
                                          {"scope", "repository:library/busybox:pull"}}));
}

TEST(WwwAuthenticateTest, BasicChallengeWithSpaceInRealm) {
  auto challenges = parse_www_authenticate(R"(Basic realm="Registry Realm")");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].scheme, "basic");
  EXPECT_EQ(challenges[0].params, (Params{{"realm", "Registry Realm"}}));
}

TEST(WwwAuthenticateTest, SchemeAndParameterNamesAreLowercasedButValuesAreNot) {
  auto challenges = parse_www_authenticate(R"(BEARER Realm="HTTPS://Auth",SERVICE=Reg)");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].scheme, "bearer");
  EXPECT_EQ(challenges[0].params, (Params{{"realm", "HTTPS://Auth"}, {"service", "Reg"}}));
}

TEST(WwwAuthenticateTest, BackslashEscapesInQuotedString) {
  auto challenges = parse_www_authenticate(R"(Basic realm="say \"hi\" \\ \o/")");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].params.at("realm"), R"(say "hi" \ o/)");
}

TEST(WwwAuthenticateTest, EscapedQuoteDoesNotEndValueOrSplitOnComma) {
  auto challenges = parse_www_authenticate(R"(Bearer realm="a\",b",service="s")");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].params, (Params{{"realm", "a\",b"}, {"service", "s"}}));
}

TEST(WwwAuthenticateTest, CommaInsideQuotesIsPartOfValue) {
  auto challenges = parse_www_authenticate(
      R"(Bearer realm="https://auth/token",scope="repository:a:pull,push repository:b:pull")");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].params.at("scope"), "repository:a:pull,push repository:b:pull");
  EXPECT_EQ(challenges[0].params.size(), 2u);
}

TEST(WwwAuthenticateTest, UnquotedTokenValues) {
  auto challenges = parse_www_authenticate("Bearer realm=simple,service=registry.local");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].params, (Params{{"realm", "simple"}, {"service", "registry.local"}}));
}

TEST(WwwAuthenticateTest, UnquotedUrlValueIsTakenWhole) {
  // Not a token per RFC 7235, but registries send it; better to use it.
  auto challenges = parse_www_authenticate("Bearer realm=https://auth.example/token");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].params.at("realm"), "https://auth.example/token");
}

TEST(WwwAuthenticateTest, SeveralChallengesInOneHeader) {
  auto challenges = parse_www_authenticate(
      R"(Basic realm="basic realm", Bearer realm="https://auth/token",service="svc", )"
      R"(Negotiate)");
  ASSERT_EQ(challenges.size(), 3u);
  EXPECT_EQ(challenges[0].scheme, "basic");
  EXPECT_EQ(challenges[0].params, (Params{{"realm", "basic realm"}}));
  EXPECT_EQ(challenges[1].scheme, "bearer");
  EXPECT_EQ(challenges[1].params, (Params{{"realm", "https://auth/token"}, {"service", "svc"}}));
  EXPECT_EQ(challenges[2].scheme, "negotiate");
  EXPECT_TRUE(challenges[2].params.empty());
}

TEST(WwwAuthenticateTest, ExtraWhitespaceAndEmptyListElements) {
  auto challenges = parse_www_authenticate(
      "  ,  Bearer   realm = \"r\" ,\t service\t=\tsvc  , ,  Basic\trealm=\"b\"  ,");
  ASSERT_EQ(challenges.size(), 2u);
  EXPECT_EQ(challenges[0].scheme, "bearer");
  EXPECT_EQ(challenges[0].params, (Params{{"realm", "r"}, {"service", "svc"}}));
  EXPECT_EQ(challenges[1].scheme, "basic");
  EXPECT_EQ(challenges[1].params, (Params{{"realm", "b"}}));
}

TEST(WwwAuthenticateTest, Token68IsSkippedAndNextChallengeStillParsed) {
  auto challenges = parse_www_authenticate("Negotiate YWJjZA==, Basic realm=\"r\"");
  ASSERT_EQ(challenges.size(), 2u);
  EXPECT_EQ(challenges[0].scheme, "negotiate");
  EXPECT_TRUE(challenges[0].params.empty());
  EXPECT_EQ(challenges[1].scheme, "basic");
  EXPECT_EQ(challenges[1].params, (Params{{"realm", "r"}}));
}

TEST(WwwAuthenticateTest, EmptyQuotedValue) {
  auto challenges = parse_www_authenticate(R"(Bearer realm="",service="s")");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].params, (Params{{"realm", ""}, {"service", "s"}}));
}

TEST(WwwAuthenticateTest, FirstOccurrenceOfRepeatedParameterWins) {
  auto challenges = parse_www_authenticate(R"(Bearer realm="first",realm="second")");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].params.at("realm"), "first");
}

TEST(WwwAuthenticateTest, UnterminatedQuoteTakesRestOfHeader) {
  auto challenges = parse_www_authenticate(R"(Bearer realm="https://auth, service="x)");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].params, (Params{{"realm", "https://auth, service="}}));
}

TEST(WwwAuthenticateTest, GarbageYieldsNothing) {
  EXPECT_TRUE(parse_www_authenticate("").empty());
  EXPECT_TRUE(parse_www_authenticate("   ").empty());
  EXPECT_TRUE(parse_www_authenticate("realm=\"orphan\"").empty());
  EXPECT_TRUE(parse_www_authenticate("\"quoted\"").empty());
}

TEST(WwwAuthenticateTest, GarbageElementDoesNotHideLaterChallenge) {
  auto challenges = parse_www_authenticate("@@@, Basic realm=r");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].scheme, "basic");
}

// ---- credential store --------------------------------------------------------

std::string auth_json(const std::string& user_colon_password) {
  return "\"" + base64_encode(user_colon_password) + "\"";
}

CredentialStore parse_store(const std::string& json) {
  auto store = CredentialStore::parse(json);
  EXPECT_TRUE(store.has_value()) << store.error().message();
  return store.value_or(CredentialStore());
}

std::string parse_store_error(const std::string& json) {
  auto store = CredentialStore::parse(json);
  if (store.has_value()) {
    ADD_FAILURE() << "parsed: " << json;
    return "";
  }
  EXPECT_EQ(store.error().code(), ErrorCode::kInvalidArgument);
  return store.error().message();
}

// The user stored for `host`, or "<none>" so a failed lookup reads clearly.
std::string username_for(const CredentialStore& store, std::string_view host) {
  auto found = store.lookup(host);
  return found ? found->username : "<none>";
}

TEST(CredentialStoreTest, CredentialsEmpty) {
  EXPECT_TRUE(Credentials{}.empty());
  EXPECT_FALSE((Credentials{"u", "", ""}).empty());
  EXPECT_FALSE((Credentials{"", "p", ""}).empty());
  EXPECT_FALSE((Credentials{"", "", "t"}).empty());
}

TEST(CredentialStoreTest, AuthFieldIsDecodedAtFirstColon) {
  CredentialStore store =
      parse_store(R"({"auths": {"127.0.0.1:5000": {"auth": )" + auth_json("alice:pa:ss") + "}}}");
  auto found = store.lookup("127.0.0.1:5000");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->username, "alice");
  EXPECT_EQ(found->password, "pa:ss");
  EXPECT_EQ(found->identity_token, "");
}

TEST(CredentialStoreTest, UsernameAndPasswordFields) {
  CredentialStore store =
      parse_store(R"({"auths": {"registry.example": {"username": "bob", "password": "pw"}}})");
  EXPECT_EQ(store.lookup("registry.example"), (Credentials{"bob", "pw", ""}));
}

TEST(CredentialStoreTest, AuthFieldOverridesUsernameAndPassword) {
  CredentialStore store =
      parse_store(R"({"auths": {"r.example": {"username": "old", "password": "old", "auth": )" +
                  auth_json("new:secret") + "}}}");
  EXPECT_EQ(store.lookup("r.example"), (Credentials{"new", "secret", ""}));
}

TEST(CredentialStoreTest, IdentityToken) {
  CredentialStore store = parse_store(
      R"({"auths": {"acr.example": {"auth": )" + auth_json("00000000-0000:") +
      R"(, "identitytoken": "refresh-token"}, "t.example": {"identitytoken": "tok"}}})");
  EXPECT_EQ(store.lookup("acr.example"), (Credentials{"00000000-0000", "", "refresh-token"}));
  EXPECT_EQ(store.lookup("t.example"), (Credentials{"", "", "tok"}));
}

TEST(CredentialStoreTest, UrlKeysNormaliseToHostAndPort) {
  CredentialStore store = parse_store(R"({"auths": {
      "https://index.docker.io/v1/": {"username": "hub", "password": "h"},
      "http://reg.local:5000/v2/": {"username": "local", "password": "l"},
      "https://plain.example": {"username": "plain", "password": "p"}}})");
  EXPECT_EQ(store.size(), 3u);
  EXPECT_EQ(username_for(store, "reg.local:5000"), "local");
  EXPECT_EQ(username_for(store, "plain.example"), "plain");
  EXPECT_EQ(username_for(store, "docker.io"), "hub");
  EXPECT_FALSE(store.lookup("reg.local").has_value()) << "the port is part of the identity";
}

TEST(CredentialStoreTest, DockerHubAliasesAreOneRegistry) {
  for (const char* key : {"docker.io", "index.docker.io", "registry-1.docker.io",
                          "https://index.docker.io/v1/", "https://registry-1.docker.io/v2/"}) {
    CredentialStore store = parse_store(std::string(R"({"auths": {")") + key +
                                        R"(": {"username": "u", "password": "p"}}})");
    for (const char* host : {"docker.io", "index.docker.io", "registry-1.docker.io"}) {
      auto found = store.lookup(host);
      ASSERT_TRUE(found.has_value()) << "key " << key << ", lookup " << host;
      EXPECT_EQ(found->username, "u");
    }
    EXPECT_FALSE(store.lookup("quay.io").has_value());
  }
}

TEST(CredentialStoreTest, LookupAcceptsUrlAndIgnoresCase) {
  CredentialStore store =
      parse_store(R"({"auths": {"Reg.Example:443": {"username": "u", "password": "p"}}})");
  EXPECT_TRUE(store.lookup("reg.example:443").has_value());
  EXPECT_TRUE(store.lookup("https://REG.example:443/v2/").has_value());
}

TEST(CredentialStoreTest, DockerLoginKeyWinsForDockerHub) {
  // Sorted key order puts "docker.io" first; the key docker writes must still win.
  CredentialStore store = parse_store(R"({"auths": {
      "docker.io": {"username": "stale", "password": "x"},
      "https://index.docker.io/v1/": {"username": "current", "password": "y"},
      "registry-1.docker.io": {"username": "other", "password": "z"}}})");
  EXPECT_EQ(username_for(store, "registry-1.docker.io"), "current");
}

TEST(CredentialStoreTest, BareHostKeyWinsOverUrlKeyForOtherRegistries) {
  CredentialStore store = parse_store(R"({"auths": {
      "http://reg.local:5000/v2/": {"username": "url", "password": "x"},
      "reg.local:5000": {"username": "bare", "password": "y"}}})");
  EXPECT_EQ(username_for(store, "reg.local:5000"), "bare");
}

TEST(CredentialStoreTest, EntriesWithoutCredentialsAreSkipped) {
  // What `docker login` leaves behind when a credential helper holds the secret.
  CredentialStore store = parse_store(R"({"auths": {"ghcr.io": {}, "quay.io": {"auth": ""}},
                                          "credsStore": "desktop"})");
  EXPECT_EQ(store.size(), 0u);
  EXPECT_FALSE(store.lookup("ghcr.io").has_value());
}

TEST(CredentialStoreTest, NoAuthsSectionIsEmptyStore) {
  EXPECT_EQ(parse_store("{}").size(), 0u);
  EXPECT_EQ(parse_store(R"({"auths": null, "HttpHeaders": {}})").size(), 0u);
}

TEST(CredentialStoreTest, UnknownHostIsNotFound) {
  CredentialStore store =
      parse_store(R"({"auths": {"a.example": {"username": "u", "password": "p"}}})");
  EXPECT_FALSE(store.lookup("b.example").has_value());
}

TEST(CredentialStoreTest, BadBase64NamesHostKey) {
  EXPECT_EQ(parse_store_error(R"({"auths": {"reg.example:5000": {"auth": "not*base64"}}})"),
            "docker config: auths[\"reg.example:5000\"].auth: invalid base64: '*' at offset 3 is "
            "not in the base64 alphabet");
}

TEST(CredentialStoreTest, AuthWithoutColonIsRejectedWithoutLeakingIt) {
  std::string message = parse_store_error(R"({"auths": {"reg.example": {"auth": )" +
                                          auth_json("justasecret") + "}}}");
  EXPECT_EQ(message,
            "docker config: auths[\"reg.example\"].auth must encode \"username:password\"");
  EXPECT_EQ(message.find("justasecret"), std::string::npos);
  EXPECT_NE(parse_store_error(R"({"auths": {"r": {"auth": )" + auth_json(":pw") + "}}}")
                .find("must encode"),
            std::string::npos);
}

TEST(CredentialStoreTest, MalformedJsonIsError) {
  std::string message = parse_store_error(R"({"auths": {)");
  EXPECT_TRUE(message.starts_with("docker config: malformed JSON: ")) << message;
}

TEST(CredentialStoreTest, WrongShapesAreErrors) {
  EXPECT_EQ(parse_store_error("[]"), "docker config: top level must be a JSON object");
  EXPECT_EQ(parse_store_error(R"({"auths": []})"), "docker config: \"auths\" must be an object");
  EXPECT_EQ(parse_store_error(R"({"auths": {"h": "x"}})"),
            "docker config: auths[\"h\"] must be an object");
  EXPECT_EQ(parse_store_error(R"({"auths": {"h": {"username": 7}}})"),
            "docker config: auths[\"h\"].username must be a string");
  EXPECT_EQ(parse_store_error(R"({"auths": {"h": {"auth": true}}})"),
            "docker config: auths[\"h\"].auth must be a string");
}

class CredentialStoreFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "berth_auth_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& content) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << content;
    return path;
  }

  std::string dir_;
};

TEST_F(CredentialStoreFileTest, LoadsFile) {
  std::string path = write("config.json", R"({"auths": {"https://index.docker.io/v1/": {"auth": )" +
                                              auth_json("hubuser:hubpass") + "}}}");
  auto store = CredentialStore::load(path);
  ASSERT_TRUE(store.has_value()) << store.error().message();
  EXPECT_EQ(store->lookup("docker.io"), (Credentials{"hubuser", "hubpass", ""}));
}

TEST_F(CredentialStoreFileTest, MissingFileIsEmptyStore) {
  auto store = CredentialStore::load(dir_ + "/absent/config.json");
  ASSERT_TRUE(store.has_value()) << store.error().message();
  EXPECT_EQ(store->size(), 0u);
}

TEST_F(CredentialStoreFileTest, MalformedFileNamesPath) {
  std::string path = write("config.json", "{not json");
  auto store = CredentialStore::load(path);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(
      store.error().message().starts_with("docker config \"" + path + "\": malformed JSON: "))
      << store.error().message();
}

TEST_F(CredentialStoreFileTest, BadEntryInFileNamesPathAndHost) {
  std::string path = write("config.json", R"({"auths": {"h.example": {"auth": "%%%%"}}})");
  auto store = CredentialStore::load(path);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().message(), "docker config \"" + path +
                                         "\": auths[\"h.example\"].auth: invalid base64: '%' at "
                                         "offset 0 is not in the base64 alphabet");
}

TEST_F(CredentialStoreFileTest, DirectoryIsReadErrorNamingPath) {
  auto store = CredentialStore::load(dir_);
  ASSERT_FALSE(store.has_value());
  EXPECT_NE(store.error().message().find("\"" + dir_ + "\""), std::string::npos)
      << store.error().message();
  EXPECT_EQ(store.error().sys_errno(), EISDIR);
}

TEST_F(CredentialStoreFileTest, PathThroughRegularFileIsErrorNotEmptyStore) {
  // Only a missing file means "never logged in"; ENOTDIR is a broken setup.
  std::string file = write("not-a-dir", "");
  auto store = CredentialStore::load(file + "/config.json");
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().sys_errno(), ENOTDIR);
  EXPECT_TRUE(
      store.error().message().starts_with("open docker config \"" + file + "/config.json\": "))
      << store.error().message();
}

TEST_F(CredentialStoreFileTest, UnreadableFileIsError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  std::string path = write("config.json", "{}");
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  auto store = CredentialStore::load(path);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(store.error().message().find("\"" + path + "\""), std::string::npos);
}

}  // namespace
}  // namespace berth::runtime
