// The `bingads_audience` destination (bingads.h): customer-match list members
// added, removed or replaced through the Bulk Service.
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

constexpr const char* kEffect = "bingads.customer_list_item";
// Within one upload: the Replace file first, so the members it sets are the
// base the Remove and Add files change.
constexpr const char* kActions[] = {"Replace", "Remove", "Add"};

const std::vector<std::string> kHeader = {"Type",          "Status", "Id",          "Parent Id", "Client Id",
                                          "Modified Time", "Name",   "Description", "Scope",     "Audience",
                                          "Action Type",   "Sub Type", "Text"};

// The action a payload names ("Add", "add" …) as an index into kActions.
std::optional<std::size_t> action_of(const std::string& s) {
  for (std::size_t i = 0; i < 3; ++i) {
    const std::string a = kActions[i];
    if (s.size() == a.size() && std::equal(s.begin(), s.end(), a.begin(), [](char x, char y) {
          return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
        }))
      return i;
  }
  return std::nullopt;
}

// An email as Microsoft matches it: trimmed and lower-cased, then hashed.
Result<std::string> email_hash(const std::string& email) {
  std::string e(trim_spaces(email));
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto at = e.find('@');
  if (e.empty() || at == std::string::npos || at == 0 || at + 1 >= e.size() || e.find('@', at + 1) != std::string::npos ||
      e.find('.', at) == std::string::npos ||
      std::any_of(e.begin(), e.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7f; }))
    return Error::bad_input("email: expected an address (local@domain), got \"" + email + "\"");
  return bingads::sha256_hex(e);
}

struct Member {
  std::size_t action = 0;
  std::string hash;
};

Result<Member> member_of(const Record& r) {
  auto bad = [&](const std::string& what) { return Error::bad_input("record " + std::to_string(r.id) + ": " + what); };
  const nlohmann::json& p = r.payload;
  if (!p.is_object()) return bad("payload: expected an object");
  Member m;
  if (!p.contains("action") || !p["action"].is_string()) return bad("action: expected Add, Remove or Replace");
  auto a = action_of(p["action"].get<std::string>());
  if (!a) return bad("action: expected Add, Remove or Replace, got \"" + p["action"].get<std::string>() + "\"");
  m.action = *a;
  const bool hashed = p.contains("hashed_email") && !p["hashed_email"].is_null();
  const bool plain = p.contains("email") && !p["email"].is_null();
  if (hashed == plain) return bad("expected exactly one of email and hashed_email");
  if (hashed) {
    if (!p["hashed_email"].is_string() || !bingads::sha256_shaped(p["hashed_email"].get<std::string>()))
      return bad("hashed_email: expected a SHA-256 as 64 lowercase hex characters");
    m.hash = p["hashed_email"].get<std::string>();
  } else {
    if (!p["email"].is_string()) return bad("email: expected a string");
    auto h = email_hash(p["email"].get<std::string>());
    if (!h.ok()) return bad(h.error().message);
    m.hash = *h;
  }
  return m;
}

Result<Settings> settings_from(const Config& config) {
  Settings s;
  s.destination = "bingads_audience";
  DS_CHECK(bingads::read_common(config, s));
  const std::string audience = std::to_string(config.integer("audience_id"));
  for (const char* action : kActions) {
    FileKind k;
    k.name = action;
    k.header = kHeader;
    k.format_row = {"Format Version", "", "", "", "", "", "6.0", "", "", "", "", "", ""};
    k.preamble = {{"Customer List", "", audience, "", "", "", "", "", "", "", action, "", ""}};
    k.client_id_column = 4;
    s.kinds.push_back(std::move(k));
  }
  s.row_of = [audience](const Record& r, std::int64_t) -> Result<Row> {
    DS_TRY(Member m, member_of(r));
    return Row{m.action, {"Customer List Item", "", "", audience, "", "", "", "", "", "", "", "Email", m.hash}};
  };
  return s;
}

Record generate(Rng& rng, JobId id, const GenerateOptions& o) {
  Record r;
  r.id = id;
  r.stream = "audience";
  const std::uint64_t pick = rng.below(20);
  const char* action = pick < 12 ? "Add" : pick < 17 ? "Remove" : "Replace";
  // A member pool smaller than the input: the same member is added and removed.
  const std::string email = "member" + std::to_string(1 + rng.below(std::max<std::uint64_t>(8, id))) + "@example.com";
  std::string act = action;
  if (rng.chance(1, 6))  // the action in lower case, as RudderStack's transformer may send it
    std::transform(act.begin(), act.end(), act.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  nlohmann::json p = {{"action", act}};
  if (rng.chance(1, 4)) p["hashed_email"] = bingads::sha256_hex(email);
  else p["email"] = rng.chance(1, 5) ? "  Member" + email.substr(6) + " " : email;  // normalized before hashing
  p["name"] = odd_text_or(o, id, 1, "a member");  // not sent: the service takes the hash only
  if (rng.chance(o.invalid)) {
    switch (rng.below(4)) {
      case 0: p["action"] = "Upsert"; break;                                        // no such action
      case 1: p.erase("hashed_email"); p["email"] = "member-at-example.com"; break;  // not an address
      case 2: p.erase("email"); p["hashed_email"] = std::string(64, 'A'); break;    // upper case: not a hash
      default: p["hashed_email"] = bingads::sha256_hex(email); p["email"] = email; break;  // both
    }
  }
  return padded_record(std::move(r), std::move(p), o, "/pad");
}

}  // namespace

Result<std::unique_ptr<AsyncDestinationManager>> bingads_audience_manager(DeliveryContext& ctx, const Config& config) {
  DS_TRY(Settings s, settings_from(config));
  return bingads::make_manager(ctx, std::move(s));
}

DestinationEntry bingads_audience_destination() {
  DestinationEntry e = bingads::entry(
      "bingads_audience",
      "Microsoft Advertising customer-match lists on the bulk path: SOAP GetBulkUploadUrl, one zipped CSV per action "
      "(Replace, Remove, Add), request ids polled, result rows mapped back by Client Id",
      bingads::schema({{"audience_id", ConfigType::integer, nullptr, "the customer list (audience) id", 1, INT64_MAX}},
                      500'000, "members per file"),
      settings_from);
  e.effects = [](const Record& r, const Config& config) -> std::vector<std::string> {
    auto m = member_of(r);
    if (!m.ok()) return {};
    return {oracle_key(kEffect, nlohmann::json{{"audience", std::to_string(config.integer("audience_id"))},
                                               {"action", kActions[m->action]},
                                               {"hash", m->hash}})};
  };
  e.generate = generate;
  e.fake_options = [common = e.fake_options](const Config& config) {
    nlohmann::json o = common(config);
    o["audience_ids"] = {config.integer("audience_id")};
    return o;
  };
  e.certify_config["audience_id"] = 555;
  return e;
}

}  // namespace destsim
