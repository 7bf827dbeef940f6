// oracle.h — the shared convention by which a destination names the effect of a
// record and a fake counts the effects it really applied.
//
// The key is the endpoint plus a hash of the item's canonical JSON (nlohmann's
// objects are key-sorted, so dump() is canonical). Destinations compute it from
// their transform; fakes compute it from what they applied. Neither includes the
// other: this header is all they share.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace destsim {

/// "<endpoint>#<16 hex digits of XXH3-64 over item.dump()>".
std::string oracle_key(std::string_view endpoint, const nlohmann::json& item);
/// The same key from an item already dumped canonically.
std::string oracle_key_of_dump(std::string_view endpoint, std::string_view canonical);
/// FNV-1a 64 of a string (how fakes index oracle keys, and other short strings).
std::uint64_t fnv1a64(std::string_view s);
/// The content hash of oracle keys: XXH3-64 (Debian's libxxhash) of a string.
/// Items may be megabytes (a padded record): XXH3 reads words, not bytes, and
/// its streaming form gives the same hash however the bytes are cut.
std::uint64_t content_hash(std::string_view s);
/// content_hash of `j.dump()`, computed as it is written (no string is built).
std::uint64_t content_hash_of_dump(const nlohmann::json& j);
/// `j.dump().size()`, counted as it is written (no string is built).
std::size_t dump_size(const nlohmann::json& j);

/// Appends j.dump() to `out` (the same bytes, written faster; throws as dump() does).
void append_dump(std::string& out, const nlohmann::json& j);
/// j.dump() (the same bytes, written faster; throws as dump() does): for
/// bodies and items built per record.
std::string dump_of(const nlohmann::json& j);
/// Appends `s` as dump() writes a string; false, appending nothing, when `s`
/// is not valid UTF-8 (where dump() would throw).
bool append_dumped_string(std::string& out, std::string_view s);

/// One member of an object written by canonical_object().
struct CanonicalMember {
  std::string_view key;
  const nlohmann::json* value;
};
/// What dump() of an object holding these members would write, without copying
/// the values into one (a record's 4 MB padding is dumped once, not copied
/// first). Members may come in any order; keys must be distinct.
std::string canonical_object(std::vector<CanonicalMember> members);
/// content_hash(canonical_object(members)), without the string.
std::uint64_t canonical_object_hash(std::vector<CanonicalMember> members);

}  // namespace destsim
