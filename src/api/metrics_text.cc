#include "api/metrics_text.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace vsl::api {
namespace {

std::string EscapeHelp(std::string_view v) {
  std::string out;
  for (char c : v) {
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

}  // namespace

std::string MetricsText::EscapeLabel(std::string_view v) {
  std::string out;
  for (char c : v) {
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

std::string MetricsText::FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  // The shortest of %.15g and %.17g that reads back as `v` (0.005, not
  // 0.0050000000000000001).
  char buf[32];
  snprintf(buf, sizeof buf, "%.15g", v);
  if (std::strtod(buf, nullptr) != v) snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void MetricsText::Family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += EscapeHelp(help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void MetricsText::Sample(std::string_view name, const Labels& labels, double value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) out_ += ',';
      first = false;
      out_ += k;
      out_ += "=\"";
      out_ += EscapeLabel(v);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += FormatValue(value);
  out_ += '\n';
}

void MetricsText::Histogram(std::string_view name, const Labels& labels, const std::vector<double>& bounds,
                            const std::vector<uint64_t>& buckets, uint64_t count, double sum) {
  std::string bucket = std::string(name) + "_bucket";
  for (size_t i = 0; i < bounds.size() && i < buckets.size(); ++i) {
    Labels l = labels;
    l.emplace_back("le", FormatValue(bounds[i]));
    Sample(bucket, l, double(buckets[i]));
  }
  Labels inf = labels;
  inf.emplace_back("le", "+Inf");
  Sample(bucket, inf, double(count));
  Sample(std::string(name) + "_sum", labels, sum);
  Sample(std::string(name) + "_count", labels, double(count));
}

}  // namespace vsl::api
