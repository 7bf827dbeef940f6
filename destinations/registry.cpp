// registry.cpp — the one explicit list of destinations. Adding a destination
// adds one line here (and its folder, and its fake's folder).
#include <deque>

#include "destinations/bingads/bingads.h"
#include "destinations/broken/broken.h"
#include "destinations/canary/canary.h"
#include "destinations/declarative/declarative.h"
#include "destinations/eloqua/eloqua.h"
#include "destinations/destination.h"
#include "destinations/iterable/iterable.h"
#include "destinations/klaviyo/klaviyo.h"
#include "destinations/marketo/marketo.h"
#include "destinations/snowpipe_streaming/snowpipe_streaming.h"
#include "destinations/staged_table/staged_table.h"
#include "destinations/sftp/sftp.h"
#include "destinations/yandex_metrica/yandex_metrica.h"

namespace destsim {

const std::vector<DestinationEntry>& destination_registry() {
  static const std::vector<DestinationEntry> registry = [] {
    std::vector<DestinationEntry> r = {
        iterable_destination(),
        declarative_destination(),
        klaviyo_destination(),
        marketo_destination(),
        staged_table_destination(),
        sftp_destination(),
        yandex_metrica_destination(),
        eloqua_destination(),
        bingads_audience_destination(),
        bingads_offline_conversions_destination(),
        lytics_bulk_upload_destination(),
        snowpipe_streaming_destination(),
        canary_destination(),  // not shipped: certify must fail it
    };
    // Not shipped either: one classic bug each, each failing its property.
    for (auto& b : broken_destinations()) r.push_back(std::move(b.entry));
    return r;
  }();
  return registry;
}

namespace {
std::deque<DestinationEntry>& added() {
  static std::deque<DestinationEntry> entries;  // a deque: pointers stay valid as it grows
  return entries;
}
}  // namespace

Status add_destination(DestinationEntry entry) {
  if (entry.name.empty()) return Error::bad_input("a destination needs a name");
  if (find_destination(entry.name)) return Error::bad_input("destination \"" + entry.name + "\" is already registered");
  if (!entry.make || !entry.generate || !entry.effects)
    return Error::bad_input("destination \"" + entry.name + "\": make, generate and effects are required");
  added().push_back(std::move(entry));
  return Status::success();
}

const DestinationEntry* find_destination(const std::string& name) {
  for (const auto& e : destination_registry())
    if (e.name == name) return &e;
  for (const auto& e : added())
    if (e.name == name) return &e;
  return nullptr;
}

std::vector<const DestinationEntry*> all_destinations() {
  std::vector<const DestinationEntry*> out;
  for (const auto& e : destination_registry()) out.push_back(&e);
  for (const auto& e : added()) out.push_back(&e);
  return out;
}

Result<DestinationEntry> destination_from_spec(const nlohmann::json& spec, const std::string& where) {
  return declarative_entry_from_spec(spec, where);
}

std::string destination_names() {
  std::string out;
  for (const auto* e : all_destinations()) out += (out.empty() ? "" : ", ") + e->name;
  return out;
}

const char* delivery_semantics_name(DeliverySemantics d) {
  return d == DeliverySemantics::exactly_once ? "exactly-once" : "at-least-once";
}

}  // namespace destsim
