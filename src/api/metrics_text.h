// MetricsText: writes the Prometheus text exposition format (version 0.0.4).
// Each family is declared once (its # HELP and # TYPE lines) and its samples
// follow; label values are escaped (backslash, double quote, newline) and
// HELP text too (backslash, newline). The caller keeps label sets bounded.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vsl::api {

using Labels = std::vector<std::pair<std::string_view, std::string>>;

class MetricsText {
 public:
  // Starts a family: `type` is "counter", "gauge" or "histogram". Every
  // sample until the next Family belongs to it.
  void Family(std::string_view name, std::string_view type, std::string_view help);
  // One sample of the current family (`suffix` for a histogram's "_bucket",
  // "_sum", "_count"; a counter's name carries its own "_total").
  void Sample(std::string_view name, const Labels& labels, double value);
  // A histogram's samples from cumulative bucket counts: buckets[i] counts
  // the observations <= bounds[i]; `count` all of them (the +Inf bucket).
  void Histogram(std::string_view name, const Labels& labels, const std::vector<double>& bounds,
                 const std::vector<uint64_t>& buckets, uint64_t count, double sum);

  // Adds what `other` wrote (whole families).
  void Append(const MetricsText& other) { out_ += other.out_; }

  const std::string& text() const { return out_; }

  static std::string EscapeLabel(std::string_view v);
  static std::string FormatValue(double v);

 private:
  std::string out_;
};

}  // namespace vsl::api
