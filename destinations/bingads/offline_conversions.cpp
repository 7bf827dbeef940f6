// The `bingads_offline_conversions` destination (bingads.h): offline
// conversions inserted, restated or retracted through the Bulk Service.
#include <algorithm>
#include <cctype>

#include "destinations/bingads/bingads.h"
#include "destinations/bingads/bulk_service.h"
#include "framework/oracle.h"
#include "framework/text.h"

namespace destsim {

namespace {

using bingads::FileKind;
using bingads::Row;
using bingads::Settings;

constexpr const char* kEffect = "bingads.offline_conversion";
constexpr std::int64_t kWindowS = 90 * 86'400;  // conversions older than 90 days are refused

enum Action : std::size_t { kInsert = 0, kUpdate = 1, kDelete = 2 };
constexpr const char* kActions[] = {"insert", "update", "delete"};
constexpr const char* kOracleActions[] = {"insert", "restate", "retract"};

const std::vector<std::string> kInsertHeader = {
    "Type",           "Status",           "Id",
    "Parent Id",      "Client Id",        "Name",
    "Conversion Currency Code", "Conversion Name", "Conversion Time",
    "Conversion Value", "Microsoft Click Id", "Hashed Email Address",
    "Hashed Phone Number", "External Attribution Credit", "External Attribution Model"};
const std::vector<std::string> kUpdateHeader = {
    "Type",          "Adjustment Type",    "Client Id",          "Id",
    "Name",          "Conversion Name",    "Conversion Time",    "Adjustment Value",
    "Microsoft Click Id", "Hashed Email Address", "Hashed Phone Number", "Adjusted Currency Code",
    "Adjustment Time"};
const std::vector<std::string> kDeleteHeader = {
    "Type",      "Adjustment Type",    "Client Id",            "Id",
    "Name",      "Conversion Name",    "Conversion Time",      "Microsoft Click Id",
    "Hashed Email Address", "Hashed Phone Number", "Adjustment Time"};

const std::vector<std::string>& header_of(std::size_t action) {
  return action == kInsert ? kInsertHeader : action == kUpdate ? kUpdateHeader : kDeleteHeader;
}

bool lower_hex(std::string_view s, std::size_t n) {
  return s.size() == n &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// A decimal the service takes: digits, optionally a point and digits.
bool decimal(std::string_view s) {
  const auto dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  auto digits = [](std::string_view d) {
    return !d.empty() && d.size() <= 15 && std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  return digits(whole) && (dot == std::string_view::npos || digits(s.substr(dot + 1)));
}

bool currency(std::string_view s) {
  return s.size() == 3 && std::all_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The row of a record, or an error naming the field. `now_s` < 0 skips the
// checks against the clock (effects).
Result<Row> row_of(const Record& r, std::int64_t now_s) {
  auto bad = [&](const std::string& what) { return Error::bad_input("record " + std::to_string(r.id) + ": " + what); };
  const nlohmann::json& p = r.payload;
  if (!p.is_object()) return bad("payload: expected an object");
  auto get = [&](const char* key) -> const nlohmann::json* {
    auto it = p.find(key);
    return it == p.end() || it->is_null() ? nullptr : &*it;
  };
  auto text = [&](const char* key, std::string& out) -> Status {
    const nlohmann::json* v = get(key);
    if (!v) return Status::success();
    if (!v->is_string()) return Error::bad_input(std::string(key) + ": expected a string");
    out = v->get<std::string>();
    return Status::success();
  };
  auto number_text = [&](const char* key, std::string& out) -> Status {
    const nlohmann::json* v = get(key);
    if (!v) return Status::success();
    if (v->is_number_unsigned() || (v->is_number_integer() && v->get<std::int64_t>() >= 0)) out = v->dump();
    else if (v->is_number_float() && v->get<double>() >= 0) out = v->dump();
    else if (v->is_string()) out = v->get<std::string>();
    else return Error::bad_input(std::string(key) + ": expected a non-negative decimal");
    if (!decimal(out)) return Error::bad_input(std::string(key) + ": expected a decimal (digits, a point, digits), got \"" + out + "\"");
    return Status::success();
  };
  auto wrap = [&](Status s) -> Status {
    if (s.ok()) return s;
    return bad(s.error().message);
  };

  const nlohmann::json* action = get("action");
  std::size_t a = 3;
  if (action && action->is_string())
    for (std::size_t i = 0; i < 3; ++i)
      if (action->get<std::string>() == kActions[i]) a = i;
  if (a == 3) return bad("action: expected insert, update or delete");

  std::string name, click, email_hash, phone_hash;
  DS_CHECK(wrap(text("conversion_name", name)));
  if (name.empty() || name.size() > 100) return bad("conversion_name: expected 1 to 100 characters");
  const nlohmann::json* when = get("conversion_time");
  if (!when) return bad("conversion_time: required");
  auto t = bingads::record_time(*when, "conversion_time");
  if (!t.ok()) return bad(t.error().message);
  if (now_s >= 0 && *t > now_s) return bad("conversion_time: in the future");
  if (now_s >= 0 && *t < now_s - kWindowS) return bad("conversion_time: more than 90 days ago");
  DS_CHECK(wrap(text("microsoft_click_id", click)));
  if (!click.empty() && !lower_hex(click, 32)) return bad("microsoft_click_id: expected 32 lowercase hex characters");
  // Hashes: given, or made here from the plain value (trimmed, lower-cased).
  std::string plain;
  DS_CHECK(wrap(text("hashed_email", email_hash)));
  DS_CHECK(wrap(text("email", plain)));
  if (!email_hash.empty() && !bingads::sha256_shaped(email_hash))
    return bad("hashed_email: expected a SHA-256 as 64 lowercase hex characters");
  if (email_hash.empty() && !plain.empty()) {
    const std::string e = lower(std::string(trim_spaces(plain)));
    if (e.find('@') == std::string::npos || e.front() == '@' || e.back() == '@')
      return bad("email: expected an address, got \"" + plain + "\"");
    email_hash = bingads::sha256_hex(e);
  }
  plain.clear();
  DS_CHECK(wrap(text("hashed_phone", phone_hash)));
  DS_CHECK(wrap(text("phone", plain)));
  if (!phone_hash.empty() && !bingads::sha256_shaped(phone_hash))
    return bad("hashed_phone: expected a SHA-256 as 64 lowercase hex characters");
  if (phone_hash.empty() && !plain.empty()) {
    std::string digits;
    for (char c : plain)
      if (c >= '0' && c <= '9') digits.push_back(c);
      else if (c != ' ' && c != '-' && c != '(' && c != ')' && !(c == '+' && digits.empty()))
        return bad("phone: expected digits (E.164), got \"" + plain + "\"");
    if (digits.size() < 7 || digits.size() > 15) return bad("phone: expected 7 to 15 digits");
    phone_hash = bingads::sha256_hex("+" + digits);
  }
  if (click.empty() && email_hash.empty() && phone_hash.empty())
    return bad("expected one of microsoft_click_id, email (hashed_email) and phone (hashed_phone)");
  const std::string time = bingads::bing_time(*t);

  Row row;
  row.kind = a;
  if (a == kInsert) {
    std::string value, cur, credit, model;
    DS_CHECK(wrap(number_text("conversion_value", value)));
    DS_CHECK(wrap(text("conversion_currency_code", cur)));
    if (!cur.empty() && !currency(cur)) return bad("conversion_currency_code: expected three capital letters");
    DS_CHECK(wrap(number_text("external_attribution_credit", credit)));
    DS_CHECK(wrap(text("external_attribution_model", model)));
    row.cells = {"Offline Conversion", "", "", "", "", "", cur, name, time, value, click, email_hash, phone_hash,
                 credit, model};
    return row;
  }
  const nlohmann::json* adj = get("adjustment_time");
  if (!adj) return bad("adjustment_time: required for " + std::string(kActions[a]));
  auto at = bingads::record_time(*adj, "adjustment_time");
  if (!at.ok()) return bad(at.error().message);
  if (*at <= *t) return bad("adjustment_time: must be after conversion_time");
  if (now_s >= 0 && *at > now_s) return bad("adjustment_time: in the future");
  if (a == kUpdate) {
    std::string value, cur;
    DS_CHECK(wrap(number_text("adjustment_value", value)));
    if (value.empty()) return bad("adjustment_value: required for update (Restate)");
    DS_CHECK(wrap(text("adjustment_currency_code", cur)));
    if (!cur.empty() && !currency(cur)) return bad("adjustment_currency_code: expected three capital letters");
    row.cells = {"Offline Conversion", "Restate", "", "", "", name, time, value, click, email_hash, phone_hash, cur,
                 bingads::bing_time(*at)};
    return row;
  }
  if (get("adjustment_value")) return bad("adjustment_value: not taken by delete (Retract)");
  row.cells = {"Offline Conversion", "Retract", "", "", "", name, time, click, email_hash, phone_hash,
               bingads::bing_time(*at)};
  return row;
}

Result<Settings> settings_from(const Config& config) {
  Settings s;
  s.destination = "bingads_offline_conversions";
  DS_CHECK(bingads::read_common(config, s));
  for (std::size_t a = 0; a < 3; ++a) {
    FileKind k;
    k.name = kActions[a];
    k.header = header_of(a);
    k.format_row.assign(k.header.size(), "");
    k.format_row[0] = "Format Version";
    k.format_row[a == kInsert ? 5 : 4] = "6.0";  // under Name
    k.client_id_column = a == kInsert ? 4 : 2;
    s.kinds.push_back(std::move(k));
  }
  s.row_of = [](const Record& r, std::int64_t now_s) { return row_of(r, now_s); };
  return s;
}

// Deterministic identity of the conversion record `id` inserts (so later
// records can restate or retract it without knowing its draw).
constexpr const char* kGoals[] = {"Purchase", "Signup", "Lead"};
std::int64_t conversion_time_of(JobId id) {
  const std::int64_t epoch_s = SimClock::kDefaultEpochUnixMs / 1000;
  return epoch_s - 86'400 * (1 + static_cast<std::int64_t>(id % 30)) - static_cast<std::int64_t>((id * 7'919) % 43'200);
}
std::string click_of(JobId id) { return bingads::sha256_hex("click-" + std::to_string(id)).substr(0, 32); }

Record generate(Rng& rng, JobId id, const GenerateOptions& o) {
  Record r;
  r.id = id;
  r.stream = "conversions";
  const std::uint64_t pick = rng.below(20);
  const std::size_t a = id < 2 || pick < 13 ? kInsert : pick < 17 ? kUpdate : kDelete;
  // An update or delete names a conversion an earlier record inserted (or
  // meant to: it may be an update itself, and the service says so).
  const JobId target = a == kInsert ? id : id - 1 - rng.below(std::min<std::uint64_t>(id - 1, 8));
  nlohmann::json p = {{"action", kActions[a]},
                      {"conversion_name", kGoals[target % 3]},
                      {"conversion_time", conversion_time_of(target)}};
  // The identifiers: a click id mostly, a hashed or plain email or phone too.
  if (target % 5 != 0) p["microsoft_click_id"] = click_of(target);
  if (target % 5 == 0 || target % 7 == 0) p["email"] = "buyer" + std::to_string(target) + "@example.com";
  if (target % 11 == 0) p["hashed_phone"] = bingads::sha256_hex("+1555000" + std::to_string(target % 10'000));
  if (a == kInsert) {
    if (rng.chance(3, 4)) {
      p["conversion_value"] = std::to_string(rng.below(1'000)) + "." + std::to_string(10 + rng.below(90));
      p["conversion_currency_code"] = rng.chance(1, 2) ? "USD" : "EUR";
    }
    if (rng.chance(1, 4)) {
      p["external_attribution_credit"] = "0." + std::to_string(1 + rng.below(9));
      p["external_attribution_model"] = odd_text_or(o, id, 1, "last touch");
    }
  } else {
    p["adjustment_time"] = conversion_time_of(target) + 60 + static_cast<std::int64_t>(rng.below(12 * 3'600));
    if (a == kUpdate) {
      p["adjustment_value"] = std::to_string(rng.below(500)) + ".5";
      if (rng.chance(1, 2)) p["adjustment_currency_code"] = "USD";
    }
  }
  p["note"] = odd_text_or(o, id, 2, "from the CRM");  // not sent
  if (rng.chance(o.invalid)) {
    switch (rng.below(6)) {
      // Refused here, naming the field:
      case 0: p["microsoft_click_id"] = "ABCDEF"; break;
      case 1: p["conversion_time"] = "yesterday"; break;
      case 2: p["action"] = "upsert"; break;
      // Taken here, refused by the service in the result file:
      case 3: p["conversion_name"] = "No Such Goal"; break;                // OfflineConversionNameInvalid
      case 4: p["action"] = "insert"; p["conversion_currency_code"] = "XXX"; p["conversion_value"] = "1.5";
              p.erase("adjustment_time"); p.erase("adjustment_value"); p.erase("adjustment_currency_code");
              break;                                                       // not a currency of conversion goals
      default: p["conversion_time"] = SimClock::kDefaultEpochUnixMs / 1000 - 200 * 86'400; break;  // out of window
    }
  }
  return padded_record(std::move(r), std::move(p), o, "/pad");
}

}  // namespace

Result<std::unique_ptr<AsyncDestinationManager>> bingads_offline_conversions_manager(DeliveryContext& ctx,
                                                                                    const Config& config) {
  DS_TRY(Settings s, settings_from(config));
  return bingads::make_manager(ctx, std::move(s));
}

DestinationEntry bingads_offline_conversions_destination() {
  DestinationEntry e = bingads::entry(
      "bingads_offline_conversions",
      "Microsoft Advertising offline conversions on the bulk path: insert, Restate and Retract files (one each per "
      "upload), request ids polled, result rows mapped back by Client Id",
      bingads::schema({}, 1'000, "conversions per file (RudderStack's default)"), settings_from);
  e.effects = [](const Record& r, const Config&) -> std::vector<std::string> {
    auto row = row_of(r, -1);
    if (!row.ok()) return {};
    const auto& header = header_of(row->kind);
    nlohmann::json cells = nlohmann::json::object();
    for (std::size_t i = 0; i < header.size(); ++i) {
      const std::string& h = header[i];
      if (h == "Type" || h == "Status" || h == "Id" || h == "Parent Id" || h == "Client Id") continue;
      if (!row->cells[i].empty()) cells[h] = row->cells[i];
    }
    return {oracle_key(kEffect, nlohmann::json{{"action", kOracleActions[row->kind]}, {"row", std::move(cells)}})};
  };
  e.generate = generate;
  e.fake_options = [common = e.fake_options](const Config& config) {
    nlohmann::json o = common(config);
    o["conversion_goals"] = {"Purchase", "Signup", "Lead"};
    return o;
  };
  return e;
}

}  // namespace destsim
