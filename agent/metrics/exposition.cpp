#include "agent/metrics/exposition.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace berth::metrics {

void Histogram::observe(double value) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (value <= bounds[i]) ++counts[i];
  }
  sum += value;
  ++count;
}

std::vector<double> duration_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Integers up to 2^53 are exact in a double: print them as integers.
  if (value == std::floor(value) && std::fabs(value) < 9007199254740992.0) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(value));
    return buf;
  }
  // The shortest text that reads back as the same double.
  char buf[40];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  return ec == std::errc() ? std::string(buf, end) : std::string("NaN");
}

std::string escape_label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {
std::string_view type_name(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
    case Type::kUntyped:
      break;
  }
  return "untyped";
}
}  // namespace

void Exposition::family(std::string_view name, std::string_view help, Type type) {
  current_ = name;
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  text_ += escape_help(help);
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += ' ';
  text_ += type_name(type);
  text_ += '\n';
}

void Exposition::line(std::string_view suffix, const Labels& labels, std::string_view extra_name,
                      std::string_view extra_value, double value) {
  text_ += current_;
  text_ += suffix;
  if (!labels.empty() || !extra_name.empty()) {
    text_ += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) text_ += ',';
      first = false;
      text_ += k;
      text_ += "=\"";
      text_ += escape_label(v);
      text_ += '"';
    }
    if (!extra_name.empty()) {
      if (!first) text_ += ',';
      text_ += extra_name;
      text_ += "=\"";
      text_ += extra_value;
      text_ += '"';
    }
    text_ += '}';
  }
  text_ += ' ';
  text_ += format_value(value);
  text_ += '\n';
}

void Exposition::sample(const Labels& labels, double value) { line("", labels, "", "", value); }

void Exposition::histogram(const Labels& labels, const Histogram& histogram) {
  for (size_t i = 0; i < histogram.bounds.size(); ++i) {
    line("_bucket", labels, "le", format_value(histogram.bounds[i]),
         static_cast<double>(histogram.counts[i]));
  }
  line("_bucket", labels, "le", "+Inf", static_cast<double>(histogram.count));
  line("_sum", labels, "", "", histogram.sum);
  line("_count", labels, "", "", static_cast<double>(histogram.count));
}

}  // namespace berth::metrics
