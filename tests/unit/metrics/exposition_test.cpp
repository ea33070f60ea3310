#include "agent/metrics/exposition.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "agent/metrics/agent_metrics.h"

namespace berth::metrics {
namespace {

TEST(ExpositionTest, FamilyHeaderThenSamplesWithEscapedLabels) {
  Exposition out;
  out.family("container_memory_rss", "Size of RSS in bytes.", Type::kGauge);
  out.sample({{"container", "web"}, {"image", "a\"b\\c\nd"}}, 4096);
  out.sample({}, 0.5);
  EXPECT_EQ(out.text(),
            "# HELP container_memory_rss Size of RSS in bytes.\n"
            "# TYPE container_memory_rss gauge\n"
            "container_memory_rss{container=\"web\",image=\"a\\\"b\\\\c\\nd\"} 4096\n"
            "container_memory_rss 0.5\n");
}

TEST(ExpositionTest, HelpIsEscaped) {
  Exposition out;
  out.family("x_total", "one\\two\nthree", Type::kCounter);
  EXPECT_EQ(out.text(), "# HELP x_total one\\\\two\\nthree\n# TYPE x_total counter\n");
}

TEST(ExpositionTest, ValuesAreWrittenAsTheFormatReadsThem) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(123456789012.0), "123456789012");
  EXPECT_EQ(format_value(-3), "-3");
  EXPECT_EQ(format_value(0.005), "0.005");
  EXPECT_EQ(format_value(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
  // Beyond 2^53 a double is not an exact integer: shortest round trip.
  EXPECT_EQ(format_value(1e20), "1e+20");
}

TEST(ExpositionTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Histogram h({0.1, 1});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(3);
  Exposition out;
  out.family("d_seconds", "D.", Type::kHistogram);
  out.histogram({{"mode", "awsvpc"}}, h);
  EXPECT_EQ(out.text(),
            "# HELP d_seconds D.\n# TYPE d_seconds histogram\n"
            "d_seconds_bucket{mode=\"awsvpc\",le=\"0.1\"} 1\n"
            "d_seconds_bucket{mode=\"awsvpc\",le=\"1\"} 2\n"
            "d_seconds_bucket{mode=\"awsvpc\",le=\"+Inf\"} 3\n"
            "d_seconds_sum{mode=\"awsvpc\"} 3.55\n"
            "d_seconds_count{mode=\"awsvpc\"} 3\n");
}

TEST(AgentMetricsTest, RendersWhatWasObserved) {
  AgentMetrics metrics;
  metrics.observe_task_start("awsvpc", 0.2);
  metrics.observe_task_start("bridge", 0.3);
  metrics.observe_image_pull("ok", 1.5);
  metrics.observe_start_step("container.task", 0.0007);
  metrics.observe_start_step("container.task", 0.03);
  metrics.count_health_check(true);
  metrics.count_health_check(false);
  metrics.count_health_check(false);
  Exposition out;
  metrics.render(out);
  const std::string& text = out.text();
  EXPECT_NE(text.find("berth_task_start_duration_seconds_count{network_mode=\"awsvpc\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("berth_task_start_duration_seconds_bucket{network_mode=\"bridge\",le=\"0.5\"} 1\n"),
      std::string::npos);
  EXPECT_NE(text.find("berth_image_pull_duration_seconds_sum{result=\"ok\"} 1.5\n"),
            std::string::npos);
  // Set-up steps have buckets below a millisecond.
  EXPECT_NE(text.find("berth_task_start_step_duration_seconds_bucket{step=\"container.task\","
                      "le=\"0.001\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("berth_task_start_step_duration_seconds_count{step=\"container.task\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("berth_health_checks_total{result=\"passed\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("berth_health_checks_total{result=\"failed\"} 2\n"), std::string::npos);
}

TEST(AgentMetricsTest, ProcessFamiliesDescribeThisProcess) {
  Exposition out;
  render_process(out);
  const std::string& text = out.text();
  for (const char* family : {"process_cpu_seconds_total ", "process_resident_memory_bytes ",
                             "process_virtual_memory_bytes ", "process_start_time_seconds ",
                             "process_open_fds ", "process_max_fds "}) {
    EXPECT_NE(text.find(std::string("\n") + family), std::string::npos) << family << "\n" << text;
  }
  // This process holds memory: the RSS line is not 0.
  auto at = text.find("\nprocess_resident_memory_bytes ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_GT(std::stod(text.substr(at + 31)), 1 << 20);
}

}  // namespace
}  // namespace berth::metrics
