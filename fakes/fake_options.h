// fake_options.h — the option keys every fake shares, read by one parser.
//
// A fake's options are a JSON object (the scenario's /fake/options, the
// destination's fake_options, `destsim serve --options`). Besides its own keys
// every fake takes:
//   "<secret key>"  the credential it expects ("api_key" for most; Marketo's is
//                   "client_secret"): a string, or {"secret": "..."} — the
//                   form a resolved secret config value takes. Absent or "":
//                   any non-empty credential is accepted.
//   "latency"       service time each door adds to every answer ("50ms"; 0 by
//                   default), on top of the transport's and the fault plan's.
// An unknown key is an error naming its JSON path and the keys allowed.
#pragma once

#include <initializer_list>
#include <map>
#include <string>
#include <string_view>

#include "framework/json_in.h"
#include "framework/result.h"
#include "framework/time.h"

namespace destsim {

/// The parts of a fake's options that every fake shares.
struct CommonFakeOptions {
  std::string secret;   // the credential expected; empty: any non-empty one
  Duration latency{0};  // added by the doors to every answer
};

/// Reads the common keys of a fake's options object `in` (null: defaults) and
/// checks every other key is in `own`. `secret_key` names the credential key
/// ("api_key"); empty: the fake takes no credential. Errors name the JSON path.
Result<CommonFakeOptions> read_common_fake_options(const JsonIn& in, std::string_view secret_key,
                                                   std::initializer_list<std::string_view> own);

/// Reads a fake's options of type O from `j` (null: the defaults): the common
/// keys into `o.*secret` (when `secret` is set; `secret_key` names it) and
/// `o.latency`, then `read_own(in, o)` (a Status) for the fake's own keys,
/// each of which must be listed in `own`. Errors name the JSON path.
template <class O, class ReadOwn>
Result<O> read_fake_options(const nlohmann::json& j, const std::string& where, std::string_view secret_key,
                            std::string O::*secret, std::initializer_list<std::string_view> own,
                            ReadOwn&& read_own) {
  O o;
  if (j.is_null()) return o;
  JsonIn in(j, where);
  DS_TRY(CommonFakeOptions common, read_common_fake_options(in, secret_key, own));
  if (secret) o.*secret = std::move(common.secret);
  if constexpr (requires { o.latency; }) o.latency = common.latency;
  DS_CHECK(read_own(in, o));
  return o;
}

/// A fake's "status_values" option: its API's documented status values
/// renamed on the wire ({"complete": "complete_v2"}), so a hostile variant of
/// the fake answers statuses outside its documented set (D3). Keys must be
/// among `documented`, values non-empty strings; errors name the JSON path.
Result<std::map<std::string, std::string>> read_status_values(const JsonIn& in,
                                                              std::initializer_list<std::string_view> documented);
/// The status the API answers for `documented` under those renames.
std::string wire_status(const std::map<std::string, std::string>& renames, std::string_view documented);

/// A string, or {"secret": "..."} unwrapped (nothing else in the object).
Result<std::string> string_or_secret(const JsonIn& v);

}  // namespace destsim
