// common/: Result, the fd owner, whole-file reads and atomic writes, string
// helpers.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/fd.h"
#include "common/file.h"
#include "common/strings.h"

namespace berth {
namespace {

namespace fs = std::filesystem;

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

bool is_cloexec(int fd) {
  int flags = ::fcntl(fd, F_GETFD);
  return flags != -1 && (flags & FD_CLOEXEC) != 0;
}

int open_null() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

// ---- Result ------------------------------------------------------------------

Result<int> parse_digit(char c) {
  if (c < '0' || c > '9')
    return fail(ErrorCode::kInvalidArgument, std::string("not a digit: ") + c);
  return c - '0';
}

Result<int> sum_of_digits(char a, char b) {
  int first = BERTH_TRY(parse_digit(a));
  int second = BERTH_TRY_CTX(parse_digit(b), "second");
  return first + second;
}

Status check_digit(char c) {
  BERTH_TRY(parse_digit(c));
  return {};
}

TEST(ResultTest, ConvertsFromValuesAndErrors) {
  Result<int> value = parse_digit('7');
  ASSERT_TRUE(value);
  EXPECT_EQ(*value, 7);
  Result<int> error = parse_digit('x');
  ASSERT_FALSE(error);
  EXPECT_EQ(error.error().code(), ErrorCode::kInvalidArgument);

  Result<std::string> text = "from a literal";
  EXPECT_EQ(*text, "from a literal");
  Result<std::unique_ptr<int>> owned = std::make_unique<int>(3);
  Result<std::unique_ptr<int>> moved = std::move(owned);
  EXPECT_EQ(**moved, 3);
  std::expected<int, Error> plain = 4;
  Result<int> from_plain = plain;
  EXPECT_EQ(*from_plain, 4);
}

TEST(ResultTest, CopiesAndAssigns) {
  Result<int> a = 1;
  Result<int> b = a;
  EXPECT_EQ(*b, 1);
  b = 2;
  EXPECT_EQ(*b, 2);
  b = fail(ErrorCode::kNotFound, "gone");
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().message(), "gone");
  b = a;
  EXPECT_EQ(*b, 1);

  Status ok;
  EXPECT_TRUE(ok);
  ok = fail(ErrorCode::kInternal, "broken");
  EXPECT_FALSE(ok);
  Status copy = ok;
  EXPECT_EQ(copy.error().message(), "broken");
}

TEST(ResultTest, TryPropagatesWithContext) {
  EXPECT_EQ(sum_of_digits('2', '3').value(), 5);
  auto first = sum_of_digits('a', '3');
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().message(), "not a digit: a");
  auto second = sum_of_digits('2', 'b');
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().message(), "second: not a digit: b");
  EXPECT_EQ(second.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(check_digit('1'));
  EXPECT_FALSE(check_digit('z'));
}

// ---- UniqueFd ----------------------------------------------------------------

TEST(UniqueFdTest, ClosesOnDestruction) {
  int raw = open_null();
  ASSERT_GE(raw, 0);
  {
    UniqueFd fd(raw);
    EXPECT_TRUE(fd);
    EXPECT_EQ(fd.get(), raw);
  }
  EXPECT_FALSE(is_open(raw));
}

TEST(UniqueFdTest, DefaultHoldsNothing) {
  UniqueFd fd;
  EXPECT_FALSE(fd);
  EXPECT_EQ(fd.get(), -1);
  EXPECT_EQ(fd.close(), 0);
}

TEST(UniqueFdTest, MoveTransfersOwnership) {
  int raw = open_null();
  ASSERT_GE(raw, 0);
  UniqueFd first(raw);
  UniqueFd second(std::move(first));
  EXPECT_FALSE(first);  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(second.get(), raw);

  int other = open_null();
  ASSERT_GE(other, 0);
  UniqueFd third(other);
  third = std::move(second);
  EXPECT_FALSE(is_open(other)) << "the fd assigned over is closed";
  EXPECT_EQ(third.get(), raw);
  EXPECT_TRUE(is_open(raw));
}

TEST(UniqueFdTest, ReleaseGivesUpWithoutClosing) {
  int raw = open_null();
  ASSERT_GE(raw, 0);
  {
    UniqueFd fd(raw);
    EXPECT_EQ(fd.release(), raw);
    EXPECT_FALSE(fd);
  }
  EXPECT_TRUE(is_open(raw));
  ::close(raw);
}

TEST(UniqueFdTest, ResetClosesTheOldOne) {
  int a = open_null();
  int b = open_null();
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  UniqueFd fd(a);
  fd.reset(b);
  EXPECT_FALSE(is_open(a));
  EXPECT_EQ(fd.get(), b);
  fd.reset();
  EXPECT_FALSE(is_open(b));
  EXPECT_FALSE(fd);
}

TEST(UniqueFdTest, CloseReportsAndEmpties) {
  int raw = open_null();
  ASSERT_GE(raw, 0);
  UniqueFd fd(raw);
  EXPECT_EQ(fd.close(), 0);
  EXPECT_FALSE(fd);
  EXPECT_FALSE(is_open(raw));
}

TEST(PipeTest, BothEndsCloseOnExecAndConnected) {
  auto pipe = make_pipe();
  ASSERT_TRUE(pipe) << pipe.error().message();
  EXPECT_TRUE(is_cloexec(pipe->read.get()));
  EXPECT_TRUE(is_cloexec(pipe->write.get()));
  ASSERT_EQ(::write(pipe->write.get(), "hi", 2), 2);
  pipe->write.reset();
  char buf[4] = {};
  EXPECT_EQ(::read(pipe->read.get(), buf, sizeof buf), 2);
  EXPECT_EQ(std::string(buf, 2), "hi");
  EXPECT_EQ(::read(pipe->read.get(), buf, sizeof buf), 0) << "EOF once the writer is gone";
}

// ---- read_file / write_atomically --------------------------------------------

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "berth-common-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, ec);
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir_;
};

TEST_F(FileTest, WritesAndReadsBack) {
  ASSERT_TRUE(write_atomically(path("a"), "hello\n"));
  auto text = read_file(path("a"));
  ASSERT_TRUE(text) << text.error().message();
  EXPECT_EQ(*text, "hello\n");
  EXPECT_EQ(entries(), std::vector<std::string>{"a"}) << "no .tmp left";
}

TEST_F(FileTest, ReplacesWholeContent) {
  ASSERT_TRUE(write_atomically(path("a"), "a much longer first version"));
  ASSERT_TRUE(write_atomically(path("a"), "short"));
  EXPECT_EQ(read_file(path("a")).value(), "short");
  ASSERT_TRUE(write_atomically(path("a"), ""));
  EXPECT_EQ(read_file(path("a")).value(), "");
}

TEST_F(FileTest, ReadsLargeFile) {
  std::string big(300000, 'x');
  big[123456] = 'y';
  ASSERT_TRUE(write_atomically(path("big"), big));
  EXPECT_EQ(read_file(path("big")).value(), big);
}

TEST_F(FileTest, ModeIsWhatWasAskedWhateverTheUmask) {
  mode_t old = ::umask(0077);
  auto written = write_atomically(path("shared"), "x", 0644);
  ::umask(old);
  ASSERT_TRUE(written) << written.error().message();
  struct stat st {};
  ASSERT_EQ(::stat(path("shared").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);

  ASSERT_TRUE(write_atomically(path("private"), "x"));
  ASSERT_EQ(::stat(path("private").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "the default";
}

TEST_F(FileTest, ReadMissingIsNotFound) {
  auto text = read_file(path("absent"));
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(text.error().message().find(path("absent")), std::string::npos);
}

TEST_F(FileTest, ReadDirectoryFails) {
  auto text = read_file(dir_);
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().sys_errno(), EISDIR);
}

TEST_F(FileTest, MissingDirectoryFailsAndLeavesNothing) {
  auto written = write_atomically(path("missing/file"), "x");
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(entries().empty());
}

TEST_F(FileTest, FailedWriteKeepsOldContentAndLeavesNoTemp) {
  ASSERT_TRUE(write_atomically(path("state"), "old"));
  // A file size limit makes write() fail with EFBIG halfway through the new
  // content (SIGXFSZ ignored, as it would otherwise end the test).
  struct rlimit saved {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  struct sigaction ignore {};
  struct sigaction old_action {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &old_action), 0);
  struct rlimit small = saved;
  small.rlim_cur = 8;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto written = write_atomically(path("state"), "new content longer than eight bytes");
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::sigaction(SIGXFSZ, &old_action, nullptr);

  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().sys_errno(), EFBIG) << written.error().message();
  EXPECT_EQ(read_file(path("state")).value(), "old");
  EXPECT_EQ(entries(), std::vector<std::string>{"state"}) << "no .tmp left";
}

TEST_F(FileTest, FailedRenameKeepsTargetAndLeavesNoTemp) {
  // A non-empty directory cannot be renamed over.
  ASSERT_TRUE(fs::create_directory(path("target")));
  ASSERT_TRUE(write_atomically(path("target/inside"), "kept"));
  auto written = write_atomically(path("target"), "x");
  ASSERT_FALSE(written);
  EXPECT_NE(written.error().message().find("rename"), std::string::npos)
      << written.error().message();
  EXPECT_EQ(entries(), std::vector<std::string>{"target"}) << "no .tmp left";
  EXPECT_EQ(read_file(path("target/inside")).value(), "kept");
}

TEST_F(FileTest, UnwritableDirectoryFailsAndKeepsOldContent) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes to any directory";
  ASSERT_TRUE(write_atomically(path("state"), "old"));
  fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);
  auto written = write_atomically(path("state"), "new");
  fs::permissions(dir_, fs::perms::owner_all);
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(read_file(path("state")).value(), "old");
  EXPECT_EQ(entries(), std::vector<std::string>{"state"});
}

// ---- strings -------------------------------------------------------------------

TEST(StringsTest, SplitKeepsEmptyParts) {
  EXPECT_EQ(split("a,b,c", ','), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(split("a,,b", ','), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(split(",a,", ','), (std::vector<std::string>{"", "a", ""}));
  EXPECT_EQ(split("", ','), (std::vector<std::string>{""}));
  EXPECT_EQ(split("abc", ','), (std::vector<std::string>{"abc"}));
}

TEST(StringsTest, PercentEncodeKeepsOnlyUnreservedBytes) {
  EXPECT_EQ(percent_encode("CONTAINER_TAG=web/1 a&b"), "CONTAINER_TAG%3Dweb%2F1%20a%26b");
  EXPECT_EQ(percent_encode("az-._~09"), "az-._~09");
  EXPECT_EQ(percent_encode("\xc3\xa9"), "%C3%A9");
}

TEST(StringsTest, JoinPutsSeparatorBetween) {
  EXPECT_EQ(join({}, ", "), "");
  EXPECT_EQ(join({"a"}, ", "), "a");
  EXPECT_EQ(join({"a", "b", "c"}, ":"), "a:b:c");
  EXPECT_EQ(join({"", "b"}, ":"), ":b");
  EXPECT_EQ(join(split("x:y::z", ':'), ":"), "x:y::z");
}

TEST(StringsTest, TrimRemovesSpaceTabsAndLineEnds) {
  EXPECT_EQ(trim("  a b \t\r\n"), "a b");
  EXPECT_EQ(trim("\n\tx"), "x");
  EXPECT_EQ(trim("x"), "x");
  EXPECT_EQ(trim(" \t\r\n "), "");
  EXPECT_EQ(trim(""), "");
}

TEST(StringsTest, LowerIsAsciiOnly) {
  EXPECT_EQ(lower("Content-Type"), "content-type");
  EXPECT_EQ(lower("ABC-xyz_09"), "abc-xyz_09");
  EXPECT_EQ(lower("\xc3\x84"), "\xc3\x84") << "bytes outside ASCII are kept";
  EXPECT_EQ(lower(""), "");
}

}  // namespace
}  // namespace berth
