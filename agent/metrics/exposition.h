// The Prometheus text exposition format (version 0.0.4), written by hand:
// no Prometheus C++ client is packaged in Debian. A family is declared once
// (# HELP, # TYPE) and its samples follow it; labels are escaped as the
// format asks (backslash, double quote, newline).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

enum class Type { kCounter, kGauge, kHistogram, kUntyped };

// Cumulative buckets, as Prometheus keeps them: counts[i] counts the
// observations <= bounds[i]; the +Inf bucket is `count`.
struct Histogram {
  std::vector<double> bounds;
  std::vector<uint64_t> counts;
  double sum = 0;
  uint64_t count = 0;

  explicit Histogram(std::vector<double> upper_bounds = {})
      : bounds(std::move(upper_bounds)), counts(bounds.size(), 0) {}
  void observe(double value);
};

// Upper bounds for durations in seconds, from 5 ms to 60 s.
std::vector<double> duration_buckets();

class Exposition {
 public:
  // Starts a family. Names must match [a-zA-Z_:][a-zA-Z0-9_:]*.
  void family(std::string_view name, std::string_view help, Type type);
  // One sample of the current family (`suffix` for a histogram's _bucket,
  // _sum and _count is added by histogram()).
  void sample(const Labels& labels, double value);
  void histogram(const Labels& labels, const Histogram& histogram);

  const std::string& text() const { return text_; }

 private:
  void line(std::string_view suffix, const Labels& labels, std::string_view extra_name,
            std::string_view extra_value, double value);

  std::string text_;
  std::string current_;
};

// A sample value as the format writes it: integers without exponent,
// "+Inf", "-Inf", "NaN".
std::string format_value(double value);
// A label value escaped for the format.
std::string escape_label(std::string_view value);
// A help text escaped for the format (backslash and newline).
std::string escape_help(std::string_view text);

// The content type of the text format.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace berth::metrics
