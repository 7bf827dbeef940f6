#include "conformance/catalogue.h"

namespace destsim {

const std::vector<PropertyInfo>& property_catalogue() {
  static const std::vector<PropertyInfo> c = {
      {"A1", "conservation"},      {"A2", "truth"},           {"A3", "duplicates"},
      {"A4", "reasons"},           {"A5", "upload accounting"}, {"B1", "limits"},
      {"B2", "flush"},             {"B3", "backpressure"},    {"B4", "concurrency"},
      {"B5", "overflow"},          {"C1", "classification"},  {"C2", "bounded attempts"},
      {"C3", "backoff"},           {"C4", "413"},             {"C5", "partial success"},
      {"C6", "time budget"},       {"D1", "until terminal"},  {"D2", "poll timeout"},
      {"D3", "total mapping"},     {"D4", "per-job results"}, {"D5", "poll faults"},
      {"D6", "import concurrency"}, {"E1", "crash anywhere"}, {"E2", "checkpoints"},
      {"F1", "order"},             {"F2", "failure"},         {"G1", "quiescence"},
      {"G2", "no busy loops"},     {"H1", "replay"},          {"I1", "Retry-After"},
      {"I2", "declared rate"},
  };
  return c;
}

const PropertyInfo* find_property(const std::string& id) {
  for (const auto& p : property_catalogue())
    if (p.id == id) return &p;
  return nullptr;
}

std::string property_ids() {
  std::string out;
  for (const auto& p : property_catalogue()) out += (out.empty() ? "" : ", ") + p.id;
  return out;
}

}  // namespace destsim
