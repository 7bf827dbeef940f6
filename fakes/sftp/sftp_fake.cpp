#include "fakes/sftp/sftp_fake.h"

#include "framework/trace_events.h"

#include <libssh/libssh.h>

#include <algorithm>
#include <charconv>

#include "fakes/fake_options.h"
#include "fakes/gunzip.h"
#include "framework/flat_json.h"
#include "framework/json_in.h"
#include "framework/loop.h"
#include "framework/oracle.h"

namespace destsim {

// ---------------------------------------------------------------- options

namespace {

Result<std::string> absolute_path(const JsonIn& v) {
  DS_TRY(std::string p, v.string());
  if (p.empty() || p[0] != '/') return v.expected("an absolute path (starting with \"/\")");
  auto n = RemoteFs::normalize(p);
  if (!n.ok()) return v.expected("a path that stays under the root");
  return *n;
}

std::string parent_dir(const std::string& p) {
  auto slash = p.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : p.substr(0, slash);
}

}  // namespace

namespace {
Result<SftpDenyRule> parse_deny_rule(const JsonIn& d) {
  DS_CHECK(d.object());
  DS_CHECK(d.only_keys({"ops", "path"}));
  DS_CHECK(d.require("path"));
  SftpDenyRule rule;
  DS_TRY(rule.path, d.at("path").string());
  if (rule.path.empty() || (rule.path[0] != '/' && rule.path[0] != '*'))
    return d.at("path").expected("a path glob starting with \"/\" or \"*\"");
  if (d.has("ops")) {
    JsonIn ops = d.at("ops");
    DS_CHECK(ops.array());
    for (std::size_t k = 0; k < ops.size(); ++k) {
      DS_TRY(std::string op, ops.at(k).string());
      if (!is_sftp_operation(op) || op == "connect")
        return ops.at(k).expected("an operation: mkdir, put, rename, remove, list, get, rmdir, stat or realpath");
      rule.ops.push_back(op);
    }
  }
  return rule;
}
}  // namespace

Result<SftpFakeOptions> SftpFakeOptions::from_json(const nlohmann::json& j, const std::string& where) {
  SftpFakeOptions o;
  if (j.is_null()) return o;
  JsonIn in(j, where);
  DS_TRY(CommonFakeOptions common, read_common_fake_options(in, "", {"users", "quota_bytes", "deny", "dirs", "files"}));
  o.latency = common.latency;
  if (in.has("users")) {
    JsonIn us = in.at("users");
    DS_CHECK(us.array());
    for (std::size_t i = 0; i < us.size(); ++i) {
      JsonIn u = us.at(i);
      DS_CHECK(u.object());
      DS_CHECK(u.only_keys({"name", "password", "authorized_keys"}));
      DS_CHECK(u.require("name"));
      SftpUser user;
      DS_TRY(user.name, u.at("name").string());
      if (user.name.empty()) return u.at("name").expected("a non-empty user name");
      for (const auto& other : o.users)
        if (other.name == user.name) return u.at("name").fail("user \"" + user.name + "\" is listed twice");
      if (u.has("password")) {
        DS_TRY(user.password, string_or_secret(u.at("password")));
        if (user.password.empty()) return u.at("password").expected("a non-empty password");
      }
      if (u.has("authorized_keys")) {
        JsonIn ks = u.at("authorized_keys");
        DS_CHECK(ks.array());
        for (std::size_t k = 0; k < ks.size(); ++k) {
          DS_TRY(std::string line, ks.at(k).string());
          DS_TRY(auto parsed, parse_authorized_keys(line, where + ": " + ks.at(k).path()));
          if (parsed.size() != 1) return ks.at(k).expected("one public key line \"ssh-ed25519 AAAA… [comment]\"");
          user.authorized_keys.push_back(parsed[0]);
        }
      }
      if (user.password.empty() && user.authorized_keys.empty())
        return u.fail("user \"" + user.name + "\" needs a \"password\" or \"authorized_keys\"");
      o.users.push_back(std::move(user));
    }
  }
  if (in.has("quota_bytes")) {
    DS_TRY(std::int64_t q, in.at("quota_bytes").size_bytes());
    o.fs.quota_bytes = q;
  }
  if (in.has("deny")) {
    JsonIn ds = in.at("deny");
    DS_CHECK(ds.array());
    for (std::size_t i = 0; i < ds.size(); ++i) {
      DS_TRY(SftpDenyRule rule, parse_deny_rule(ds.at(i)));
      o.fs.deny.push_back(std::move(rule));
    }
  }
  if (in.has("dirs")) {
    JsonIn ds = in.at("dirs");
    DS_CHECK(ds.array());
    for (std::size_t i = 0; i < ds.size(); ++i) {
      DS_TRY(std::string p, absolute_path(ds.at(i)));
      o.dirs.push_back(p);
    }
  }
  if (in.has("files")) {
    JsonIn fs = in.at("files");
    DS_CHECK(fs.object());
    for (auto it = fs.json().begin(); it != fs.json().end(); ++it) {
      JsonIn f = fs.at(it.key());
      if (it.key().empty() || it.key()[0] != '/' || !RemoteFs::normalize(it.key()).ok() ||
          *RemoteFs::normalize(it.key()) == "/")
        return f.fail("expected a file path starting with \"/\" that stays under the root, got \"" + it.key() + "\"");
      DS_TRY(std::string content, f.string());
      o.files[*RemoteFs::normalize(it.key())] = std::move(content);
    }
  }
  return o;
}

// ---------------------------------------------------------------- faults

FileError::Kind sftp_status_kind(int status) {
  switch (status) {
    case 2:    // SSH_FX_NO_SUCH_FILE
    case 404:  // the HTTP spelling, for plans written with HTTP statuses
      return FileError::Kind::no_such_file;
    case 3:    // SSH_FX_PERMISSION_DENIED
    case 401:
    case 403: return FileError::Kind::permission_denied;
    case 14:   // SSH_FX_NO_SPACE_ON_FILESYSTEM
    case 15:   // SSH_FX_QUOTA_EXCEEDED
    case 507:  // HTTP Insufficient Storage
      return FileError::Kind::no_space;
    case 6:  // SSH_FX_NO_CONNECTION
    case 7:  // SSH_FX_CONNECTION_LOST
      return FileError::Kind::disconnected;
    default: return FileError::Kind::failure;
  }
}

SftpFault decide_sftp_fault(FaultPlan& plan, std::string_view op, std::string_view path, std::size_t bytes,
                            Duration since_start, Rng& rng) {
  SftpFault f;
  FaultDecision d = plan.decide(op, "sftp", path, bytes, since_start, rng);
  f.latency = d.latency;
  if (!d.action) return f;
  const FaultRule& r = *d.action;
  f.rule = d.rule;
  f.rule_text = "rule " + std::to_string(d.rule) + ": " + r.describe();
  f.after = r.after;
  switch (r.kind) {
    case FaultKind::respond:
      f.action = SftpFault::Action::fail;
      f.status = r.status;
      break;
    case FaultKind::reset: f.action = SftpFault::Action::disconnect; break;
    case FaultKind::timeout: f.action = SftpFault::Action::timeout; break;
    case FaultKind::outage: f.action = SftpFault::Action::refuse; break;
    case FaultKind::too_large: f.action = SftpFault::Action::too_large; break;
    case FaultKind::garble:
      f.action = (op == "put" || op == "get") ? SftpFault::Action::garble : SftpFault::Action::unsupported;
      break;
    case FaultKind::rate_limit: f.action = SftpFault::Action::unsupported; break;
    case FaultKind::latency: break;  // latency rules never decide
  }
  return f;
}

Status check_sftp_fault_plan(const FaultPlan& plan, std::string_view where) {
  const auto& rules = plan.rules();
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const FaultRule& r = rules[i];
    // "<where>/<i>/<key>: why (rule i: description)": the JSON path of the rule's offending key.
    const std::string rule_at = std::string(where) + "/" + std::to_string(i);
    const std::string rule_text = " (rule " + std::to_string(i) + ": " + r.describe() + ")";
    const bool glob = r.method.find('*') != std::string::npos;
    if (!glob && !is_sftp_operation(r.method))
      return Error::bad_input(rule_at + "/match/method: expected an SFTP operation (connect, mkdir, put, rename, "
                                        "remove, list, get, rmdir, stat, realpath) or a glob, got \"" + r.method +
                              "\"" + rule_text);
    if (r.matches_content())
      return Error::bad_input(rule_at + "/match: an SFTP operation has no query, headers or body to match on; match "
                                        "on \"op\" and \"path\"" + rule_text);
    switch (r.kind) {
      case FaultKind::rate_limit:
        return Error::bad_input(rule_at + "/rate_limit: rate_limit has no meaning for SFTP (there is no "
                                          "Retry-After); use respond, latency or outage" + rule_text);
      case FaultKind::garble:
        if (r.method != "put" && r.method != "get")
          return Error::bad_input(rule_at + "/garble: garble applies to put (stored bytes) or get (returned bytes) "
                                            "only; set \"method\" to \"put\" or \"get\"" + rule_text);
        break;
      case FaultKind::respond:
        if (!((r.status >= 1 && r.status <= 31) || (r.status >= 100 && r.status <= 599)))
          return Error::bad_input(rule_at + "/respond/status: expected an SFTP status code (2 no such file, 3 "
                                            "permission denied, 4 failure, 14 no space), got " +
                                  std::to_string(r.status) + rule_text);
        break;
      default: break;
    }
  }
  return Status::success();
}

// ---------------------------------------------------------------- keys

Result<std::vector<std::string>> parse_authorized_keys(std::string_view text, std::string_view where) {
  std::vector<std::string> out;
  std::size_t line_no = 0, i = 0;
  while (i <= text.size()) {
    std::size_t j = text.find('\n', i);
    if (j == std::string_view::npos) j = text.size();
    std::string line(text.substr(i, j - i));
    i = j + 1;
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    std::size_t s = line.find_first_not_of(" \t");
    if (s == std::string::npos || line[s] == '#') continue;
    line = line.substr(s);
    // "type base64 [comment]"; options before the type are not supported.
    std::size_t sp = line.find_first_of(" \t");
    const std::string type = line.substr(0, sp);
    const std::string where_line = std::string(where) + ": line " + std::to_string(line_no);
    if (sp == std::string::npos) return Error::bad_input(where_line + ": expected \"<key type> <base64> [comment]\"");
    if (ssh_key_type_from_name(type.c_str()) == SSH_KEYTYPE_UNKNOWN)
      return Error::bad_input(where_line + ": unknown key type \"" + type +
                              "\" (expected e.g. ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256; key options are not supported)");
    std::size_t b = line.find_first_not_of(" \t", sp);
    std::size_t e = b == std::string::npos ? std::string::npos : line.find_first_of(" \t", b);
    std::string b64 = b == std::string::npos ? "" : line.substr(b, e == std::string::npos ? std::string::npos : e - b);
    ssh_key key = nullptr;
    if (b64.empty() || ssh_pki_import_pubkey_base64(b64.c_str(), ssh_key_type_from_name(type.c_str()), &key) != SSH_OK)
      return Error::bad_input(where_line + ": the base64 key does not decode as a " + type + " public key");
    ssh_key_free(key);
    out.push_back(type + " " + b64);
  }
  return out;
}

namespace {

// Imports a private key from its text or a file path; nullptr if neither works.
ssh_key import_private_key(std::string_view private_key) {
  ssh_key key = nullptr;
  const std::string k(private_key);
  if (k.find("-----BEGIN") != std::string::npos) {
    if (ssh_pki_import_privkey_base64(k.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK) return nullptr;
  } else if (ssh_pki_import_privkey_file(k.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK) {
    return nullptr;
  }
  return key;
}

}  // namespace

bool key_authorized(ssh_key_struct* key, const std::vector<std::string>& authorized_keys) {
  if (!key) return false;
  for (const auto& line : authorized_keys) {
    auto sp = line.find(' ');
    if (sp == std::string::npos) continue;
    ssh_key pub = nullptr;
    const std::string type = line.substr(0, sp);
    if (ssh_pki_import_pubkey_base64(line.substr(sp + 1).c_str(), ssh_key_type_from_name(type.c_str()), &pub) != SSH_OK)
      continue;
    const bool same = ssh_key_cmp(key, pub, SSH_KEY_CMP_PUBLIC) == 0;
    ssh_key_free(pub);
    if (same) return true;
  }
  return false;
}

bool private_key_matches(std::string_view private_key, const std::vector<std::string>& authorized_keys) {
  ssh_key priv = import_private_key(private_key);
  const bool found = key_authorized(priv, authorized_keys);
  if (priv) ssh_key_free(priv);
  return found;
}

// ---------------------------------------------------------------- row oracle

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Inflates a .gz file (whole members, at most 1 GiB inflated); nullopt when it is not one.
std::optional<std::string> gunzip(std::string_view data) {
  std::string out, why;
  if (gunzip_members(data, std::int64_t{1} << 30, out, why) != Gunzip::ok) return std::nullopt;
  return out;
}

// RFC 4180 records (CRLF or LF); a final unterminated quote ends the text.
std::vector<std::vector<std::string>> csv_records(std::string_view text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string cell;
  bool quoted = false, any = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          cell.push_back('"');
          ++i;
        } else {
          quoted = false;
        }
      } else {
        cell.push_back(c);
      }
      continue;
    }
    if (c == '"') {
      quoted = true;
      any = true;
    } else if (c == ',') {
      row.push_back(std::move(cell));
      cell.clear();
      any = true;
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      continue;
    } else if (c == '\n') {
      row.push_back(std::move(cell));
      cell.clear();
      rows.push_back(std::move(row));
      row.clear();
      any = false;
    } else {
      cell.push_back(c);
      any = true;
    }
  }
  if (any || !cell.empty() || !row.empty()) {
    row.push_back(std::move(cell));
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

std::vector<std::uint64_t> sftp_row_hashes(std::string_view name, std::string_view content) {
  std::vector<std::uint64_t> keys;
  if (name.empty() || name[0] == '.') return keys;
  std::string_view base = name;
  std::optional<std::string> inflated;
  if (ends_with(base, ".gz")) {
    base.remove_suffix(3);
    inflated = gunzip(content);
    if (!inflated) return keys;
    content = *inflated;
  }
  if (ends_with(base, ".csv")) {
    auto rows = csv_records(content);
    if (rows.empty()) return keys;
    const auto& header = rows[0];
    // A row's key is that of the object of its non-empty cells by column
    // (a repeated column: its last non-empty cell), hashed from the cells in
    // place: canonical_object_hash is content_hash_of_dump of that object.
    std::vector<nlohmann::json> values;
    std::vector<CanonicalMember> members;
    for (std::size_t r = 1; r < rows.size(); ++r) {
      if (rows[r].size() == 1 && rows[r][0].empty()) continue;  // a blank line
      const std::size_t n = std::min(rows[r].size(), header.size());
      values.clear();
      values.reserve(n);  // no reallocation below: members point into it
      members.clear();
      for (std::size_t c = 0; c < n; ++c) {
        if (rows[r][c].empty()) continue;
        values.emplace_back(rows[r][c]);
        auto same = std::find_if(members.begin(), members.end(),
                                 [&](const CanonicalMember& m) { return m.key == header[c]; });
        if (same != members.end()) same->value = &values.back();
        else members.push_back({header[c], &values.back()});
      }
      keys.push_back(canonical_object_hash(members));
    }
    return keys;
  }
  if (ends_with(base, ".jsonl") || ends_with(base, ".json")) {
    auto whole = parse_json_body(content);
    if (!whole.is_discarded() && whole.is_array()) {
      for (const auto& e : whole)
        if (e.is_object()) keys.push_back(content_hash_of_dump(e));
      return keys;
    }
    FlatJson flat;
    std::size_t i = 0;
    while (i < content.size()) {
      std::size_t j = content.find('\n', i);
      if (j == std::string_view::npos) j = content.size();
      std::string_view line = content.substr(i, j - i);
      i = j + 1;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty()) continue;
      // FlatJson takes what parse_json_body takes, and its canonical hash is
      // content_hash_of_dump of the row (straight from the nodes: a written
      // row's keys are sorted).
      if (flat.parse(line) && flat.root().is_object())
        keys.push_back(flat.root().canonical_hash());
    }
  }
  return keys;
}

namespace {
constexpr std::string_view kRowKeyPrefix = "sftp.row#";  // a row's key: this and its hash in 16 hex digits
}  // namespace

std::vector<std::string> sftp_row_keys(std::string_view name, std::string_view content) {
  std::vector<std::string> keys;
  for (std::uint64_t h : sftp_row_hashes(name, content)) keys.push_back(std::string(kRowKeyPrefix) + hex16(h));
  return keys;
}

// ---------------------------------------------------------------- ledger

void SftpLedger::committed(const std::string& path, std::int64_t bytes, std::string_view via) {
  complete_.insert(path);
  ++commits_[path];
  log_.push_back({{"path", path}, {"bytes", bytes}, {"via", via}});
}

void SftpLedger::incomplete(const std::string& path) { complete_.erase(path); }

void SftpLedger::renamed(const std::string& from, const std::string& to, std::int64_t bytes) {
  if (from == to) return;
  complete_.erase(to);
  if (complete_.erase(from)) {
    committed(to, bytes, "rename");
    log_.back()["from"] = from;
  }
  // A directory rename carries its complete files along (no new commit: their bytes did not change).
  const std::string prefix = from + "/";
  std::vector<std::string> moved;
  for (auto it = complete_.lower_bound(prefix); it != complete_.end() && it->compare(0, prefix.size(), prefix) == 0;)
    moved.push_back(*it), it = complete_.erase(it);
  for (const auto& m : moved) complete_.insert(to + m.substr(from.size()));
}

void SftpLedger::removed(const std::string& path) { complete_.erase(path); }

std::int64_t SftpLedger::commits_at(const std::string& path) const {
  auto it = commits_.find(path);
  return it == commits_.end() ? 0 : it->second;
}

nlohmann::json SftpLedger::to_json() const {
  nlohmann::json commits = nlohmann::json::array();
  for (const auto& c : log_) commits.push_back(c);
  nlohmann::json counts = nlohmann::json::object();
  for (const auto& [k, v] : counts_) counts[k] = v;
  nlohmann::json per_path = nlohmann::json::object();
  for (const auto& [k, v] : commits_) per_path[k] = v;
  return {{"commits", commits}, {"counts", counts}, {"committed", per_path}};
}

void SftpLedger::clear() {
  complete_.clear();
  commits_.clear();
  log_.clear();
  counts_.clear();
}

// ---------------------------------------------------------------- the fake

SftpFake::SftpFake(SftpFakeOptions options) : options_(std::move(options)) {
  set_latency(options_.latency);
  seed_tree();
}

void SftpFake::seed_tree() {
  // The initial tree is laid down without quota or deny rules, which then apply to clients.
  fs_ = RemoteFs::in_memory();
  for (const auto& d : options_.dirs) DS_ASSERT(fs_->mkdir_p(d).ok());
  for (const auto& [p, content] : options_.files) {
    DS_ASSERT(fs_->mkdir_p(parent_dir(p)).ok());
    DS_ASSERT(fs_->put(p, content).ok());
  }
  fs_->set_options(options_.fs);
  rows_version_ = ~std::uint64_t{0};
  rows_.clear();
}

void SftpFake::reset() {
  ledger_.clear();
  seed_tree();
}

nlohmann::json SftpFake::accepted() const {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& p : fs_->all_files()) {
    auto st = fs_->stat(p);
    files[p] = {{"bytes", st.ok() ? st->size : 0}, {"commits", ledger_.commits_at(p)}};
  }
  nlohmann::json dirs = fs_->all_dirs();
  nlohmann::json out = ledger_.to_json();
  out["files"] = files;
  out["dirs"] = dirs;
  out["used_bytes"] = fs_->used_bytes();
  return out;
}

std::int64_t SftpFake::applied(const std::string& key) const {
  if (!key.empty() && key[0] == '/') return ledger_.commits_at(key);
  // A row key (sftp_row_keys) names its row by hash: only its exact spelling.
  if (key.size() != kRowKeyPrefix.size() + 16 || key.compare(0, kRowKeyPrefix.size(), kRowKeyPrefix) != 0) return 0;
  std::uint64_t hash = 0;
  const char* digits = key.data() + kRowKeyPrefix.size();
  if (std::from_chars(digits, digits + 16, hash, 16).ptr != digits + 16 ||
      hex16(hash) != key.substr(kRowKeyPrefix.size()))
    return 0;
  if (rows_version_ != fs_->version()) {
    rows_.clear();
    for (const auto& p : fs_->all_files()) {
      auto content = fs_->read_all(p);
      if (!content.ok()) continue;
      for (std::uint64_t h : sftp_row_hashes(p.substr(p.rfind('/') + 1), *content)) ++rows_[h];
    }
    rows_version_ = fs_->version();
  }
  auto it = rows_.find(hash);
  return it == rows_.end() ? 0 : it->second;
}

FileResult<bool> SftpFake::authenticate(const nlohmann::json& login) const {
  auto refuse = [](std::string why) -> FileError { return {FileError::Kind::auth_failed, "connect: " + why}; };
  if (!login.is_object()) return refuse("login: expected {\"user\", \"password\"} or {\"user\", \"private_key\"}");
  const auto str = [&](const char* k) -> std::string {
    auto it = login.find(k);
    return it != login.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const std::string user = str("user"), password = str("password"), key = str("private_key");
  if (user.empty()) return refuse("login: no user");
  if (password.empty() && key.empty()) return refuse("login: user " + user + " gave neither a password nor a private key");
  if (options_.users.empty()) {
    if (!password.empty()) return true;
    ssh_key k = import_private_key(key);
    if (!k) return refuse("user " + user + ": the private key cannot be read");
    ssh_key_free(k);
    return true;
  }
  for (const auto& u : options_.users) {
    if (u.name != user) continue;
    if (!password.empty()) {
      if (!u.password.empty() && u.password == password) return true;
      return refuse("permission denied (password) for user " + user);
    }
    if (private_key_matches(key, u.authorized_keys)) return true;
    return refuse("permission denied (publickey) for user " + user + ": the key is not authorised");
  }
  return refuse("permission denied for user " + user + " (unknown user)");
}

// ---------------------------------------------------------------- the sim door

namespace {

constexpr std::int64_t kChunkBytes = 32 * 1024;

class SimSftpTransport final : public FileTransport {
 public:
  SimSftpTransport(SftpFake& fake, Loop& loop, FaultPlan* plan, Duration latency, Duration timeout,
                   nlohmann::json login)
      : fake_(fake),
        loop_(loop),
        plan_(plan),
        latency_(latency),
        timeout_(timeout),
        login_(std::move(login)),
        rng_(loop.rng().fork()) {
    if (plan_) plan_ok_ = check_sftp_fault_plan(*plan_, "sftp fault plan: ");
  }

  bool connected() const override { return connected_; }

  void disconnect() override {
    if (connected_) trace_drop("client");
    drop();
  }

  Task<FileResult<bool>> connect() override {
    if (connected_) co_return true;
    if (!plan_ok_.ok()) co_return FileError{FileError::Kind::failure, plan_ok_.error().message};
    fake_.ledger().count("connect");
    SftpFault f = decide("connect", "/", 0);
    co_await loop_.sleep(latency_ + f.latency);
    switch (f.action) {
      case SftpFault::Action::none:
      case SftpFault::Action::garble:  // (never decided for connect)
        break;
      case SftpFault::Action::refuse:
        co_return finish<bool>("connect", "/", FileError{FileError::Kind::disconnected,
                                                   "connect: connection refused (injected outage, " + f.rule_text + ")"});
      case SftpFault::Action::fail:
        fake_.ledger().count("auth_failed");
        co_return finish<bool>("connect", "/",
                         FileError{FileError::Kind::auth_failed, "connect: authentication refused (injected status " +
                                                                     std::to_string(f.status) + ", " + f.rule_text + ")"});
      case SftpFault::Action::disconnect:
        co_return finish<bool>("connect", "/", FileError{FileError::Kind::disconnected,
                                                   "connect: connection reset during login (injected, " + f.rule_text + ")"});
      case SftpFault::Action::timeout:
        co_await loop_.sleep(timeout_ - latency_ - f.latency);
        co_return finish<bool>("connect", "/", FileError{FileError::Kind::timeout,
                                                   "connect: no answer within " + format_duration(timeout_) +
                                                       " (injected, " + f.rule_text + ")"});
      case SftpFault::Action::too_large:
      case SftpFault::Action::unsupported:
        co_return finish<bool>("connect", "/", unsupported("connect", "/", f));
    }
    if (connected_) co_return finish<bool>("connect", "/", true);  // a concurrent connect() won the race
    auto auth = fake_.authenticate(login_);
    if (!auth.ok()) {
      fake_.ledger().count("auth_failed");
      co_return finish<bool>("connect", "/", auth.error());
    }
    connected_ = true;
    ++session_;
    co_return finish<bool>("connect", "/", true);
  }

  Task<FileResult<bool>> mkdir_p(std::string path) override {
    Step s = start("mkdir", path, 0);
    if (s.refused) co_return *s.refused;
    co_await loop_.sleep(s.spent);
    if (auto e = before(s, "mkdir", path)) co_return finish<bool>("mkdir", path, *e);
    FileResult<bool> r = true;
    if (applies(s)) r = fake_.fs().mkdir_p(path);
    if (auto e = co_await after(s, "mkdir", path)) co_return finish<bool>("mkdir", path, *e);
    co_return finish<bool>("mkdir", path, std::move(r));
  }

  Task<FileResult<bool>> put(std::string path, std::string data) override {
    const auto size = static_cast<std::int64_t>(data.size());
    Step s = start("put", path, data.size());
    if (s.refused) co_return *s.refused;
    const std::int64_t chunks = std::max<std::int64_t>(1, (size + kChunkBytes - 1) / kChunkBytes);
    s.spent = latency_ + s.fault.latency * chunks;
    co_await loop_.sleep(s.spent);
    if (auto e = before(s, "put", path)) co_return finish<bool>("put", path, *e);
    if (s.fault.action == SftpFault::Action::disconnect && s.fault.after) {
      // Disconnect mid-upload: the first half of the bytes reach the file, then the session dies.
      const std::int64_t half = size / 2;
      auto n = RemoteFs::normalize(path);
      auto opened = fake_.fs().open_write(path, true, false);
      if (!opened.ok()) co_return finish<bool>("put", path, opened.error());  // refused before any byte moved
      if (n.ok()) fake_.ledger().incomplete(*n);
      (void)fake_.fs().write(path, 0, std::string_view(data).substr(0, static_cast<std::size_t>(half)));
      drop();
      co_return finish<bool>("put", path,
                       FileError{FileError::Kind::disconnected,
                                 "put " + path + ": connection lost mid-upload after " + std::to_string(half) + " of " +
                                     std::to_string(size) + " bytes (injected, " + s.fault.rule_text + ")"});
    }
    FileResult<bool> r = true;
    if (applies(s)) {
      if (s.fault.action == SftpFault::Action::garble) data = garble_body(data, rng_);
      auto n = RemoteFs::normalize(path);
      r = fake_.fs().put(path, data);
      if (n.ok()) {
        if (r.ok()) {
          fake_.ledger().committed(*n, static_cast<std::int64_t>(data.size()),
                                   s.fault.action == SftpFault::Action::garble ? "put (garbled, injected)" : "put");
        } else {
          fake_.ledger().incomplete(*n);
        }
      }
    }
    if (auto e = co_await after(s, "put", path)) co_return finish<bool>("put", path, *e);
    co_return finish<bool>("put", path, std::move(r));
  }

  Task<FileResult<bool>> rename(std::string from, std::string to) override {
    Step s = start("rename", from, 0);
    if (s.refused) co_return *s.refused;
    co_await loop_.sleep(s.spent);
    if (auto e = before(s, "rename", from)) co_return finish<bool>("rename", from, *e);
    FileResult<bool> r = true;
    if (applies(s)) {
      r = fake_.fs().rename(from, to, true);
      if (r.ok()) {
        const std::string f = *RemoteFs::normalize(from), t = *RemoteFs::normalize(to);
        auto st = fake_.fs().stat(t);
        fake_.ledger().renamed(f, t, st.ok() ? st->size : 0);
      }
    }
    if (auto e = co_await after(s, "rename", from)) co_return finish<bool>("rename", from, *e);
    co_return finish<bool>("rename", from, std::move(r));
  }

  Task<FileResult<bool>> remove(std::string path) override {
    Step s = start("remove", path, 0);
    if (s.refused) co_return *s.refused;
    co_await loop_.sleep(s.spent);
    if (auto e = before(s, "remove", path)) co_return finish<bool>("remove", path, *e);
    FileResult<bool> r = true;
    if (applies(s)) {
      r = fake_.fs().remove(path);
      if (r.ok()) fake_.ledger().removed(*RemoteFs::normalize(path));
    }
    if (auto e = co_await after(s, "remove", path)) co_return finish<bool>("remove", path, *e);
    co_return finish<bool>("remove", path, std::move(r));
  }

  Task<FileResult<std::vector<RemoteEntry>>> list(std::string path) override {
    Step s = start("list", path, 0);
    if (s.refused) co_return *s.refused;
    co_await loop_.sleep(s.spent);
    if (auto e = before(s, "list", path)) co_return finish<std::vector<RemoteEntry>>("list", path, *e);
    FileResult<std::vector<RemoteEntry>> r = std::vector<RemoteEntry>{};
    if (applies(s)) r = fake_.fs().list(path);
    if (auto e = co_await after(s, "list", path)) co_return finish<std::vector<RemoteEntry>>("list", path, *e);
    co_return finish<std::vector<RemoteEntry>>("list", path, std::move(r));
  }

  Task<FileResult<std::string>> get(std::string path) override {
    Step s = start("get", path, 0);
    if (s.refused) co_return *s.refused;
    co_await loop_.sleep(s.spent);
    if (auto e = before(s, "get", path)) co_return finish<std::string>("get", path, *e);
    FileResult<std::string> r = std::string();
    if (applies(s)) {
      r = fake_.fs().read_all(path);
      if (r.ok() && s.fault.action == SftpFault::Action::garble) r = garble_body(*r, rng_);
    }
    if (auto e = co_await after(s, "get", path)) co_return finish<std::string>("get", path, *e);
    co_return finish<std::string>("get", path, std::move(r));
  }

 private:
  struct Step {
    SftpFault fault;
    std::uint64_t session = 0;
    Duration spent{0};
    std::optional<FileError> refused;  // fails at once, before any time passes
  };

  void drop() {
    connected_ = false;
    ++session_;
  }

  void trace_drop(std::string_view by) {
    loop_.trace().event(loop_.now(), "sftp.disconnect").str("by", by);
  }

  SftpFault decide(std::string_view op, std::string_view path, std::size_t bytes) {
    SftpFault f;
    if (plan_) f = decide_sftp_fault(*plan_, op, path, bytes, loop_.now().time_since_epoch(), rng_);
    loop_.trace()
        .event(loop_.now(), "sftp.request")
        .str("op", op)
        .str("path", path)
        .num("bytes", static_cast<std::int64_t>(bytes));
    if (f.rule >= 0) {
      fake_.ledger().count(std::string("fault.") + action_name(f.action));
      ev::Fault e;
      e.op = std::string(op);
      e.rule = f.rule;
      e.fault = action_name(f.action);
      e.after = f.after;
      if (f.action == SftpFault::Action::fail) e.status = f.status;
      emit(loop_.trace(), loop_.now(), e);
    } else if (f.latency.count() > 0) {
      ev::Fault e;  // a latency rule slowed the operation (rule -1: latency rules never decide)
      e.op = std::string(op);
      e.rule = -1;
      e.fault = "latency";
      emit(loop_.trace(), loop_.now(), e);
    }
    return f;
  }

  static const char* action_name(SftpFault::Action a) {
    switch (a) {
      case SftpFault::Action::none: return "none";
      case SftpFault::Action::fail: return "respond";
      case SftpFault::Action::disconnect: return "reset";
      case SftpFault::Action::timeout: return "timeout";
      case SftpFault::Action::refuse: return "outage";
      case SftpFault::Action::too_large: return "too_large";
      case SftpFault::Action::garble: return "garble";
      case SftpFault::Action::unsupported: return "unsupported";
    }
    return "none";
  }

  Step start(std::string_view op, const std::string& path, std::size_t bytes) {
    Step s;
    if (!plan_ok_.ok()) {
      s.refused = FileError{FileError::Kind::failure, plan_ok_.error().message};
      return s;
    }
    if (!connected_) {
      s.refused = FileError{FileError::Kind::disconnected, std::string(op) + " " + path + ": not connected"};
      return s;
    }
    fake_.ledger().count(op);
    s.session = session_;
    s.fault = decide(op, path, bytes);
    s.spent = latency_ + s.fault.latency;
    return s;
  }

  FileError unsupported(std::string_view op, const std::string& path, const SftpFault& f) const {
    return {FileError::Kind::failure, std::string(op) + " " + path + ": the fault " + f.rule_text +
                                          " has no meaning for this SFTP operation (see docs/sftp_fake.md)"};
  }

  // After the operation's latency: a failure that replaces it, or none.
  std::optional<FileError> before(const Step& s, std::string_view op, const std::string& path) {
    if (!connected_ || session_ != s.session)
      return FileError{FileError::Kind::disconnected, std::string(op) + " " + path + ": the session was closed"};
    const SftpFault& f = s.fault;
    const std::string what = std::string(op) + " " + path + ": ";
    switch (f.action) {
      case SftpFault::Action::none:
      case SftpFault::Action::garble:
      case SftpFault::Action::timeout:
        return std::nullopt;
      case SftpFault::Action::fail: {
        if (f.after) return std::nullopt;  // applied first; the status comes after (see after())
        const FileError::Kind kind = sftp_status_kind(f.status);
        if (kind == FileError::Kind::disconnected) drop();
        return FileError{kind, what + "server answered status " + std::to_string(f.status) + " (injected, " +
                                   f.rule_text + ")"};
      }
      case SftpFault::Action::disconnect:
        if (f.after) return std::nullopt;
        drop();
        return FileError{FileError::Kind::disconnected, what + "connection reset (injected, " + f.rule_text + ")"};
      case SftpFault::Action::refuse:
        drop();
        return FileError{FileError::Kind::disconnected, what + "connection refused (injected outage, " + f.rule_text + ")"};
      case SftpFault::Action::too_large:
        return FileError{FileError::Kind::failure, what + "file too large (injected, " + f.rule_text + ")"};
      case SftpFault::Action::unsupported:
        return unsupported(op, path, f);
    }
    return std::nullopt;
  }

  static bool applies(const Step& s) {
    return !(s.fault.action == SftpFault::Action::timeout && !s.fault.after);
  }

  // After the operation was applied (or not): a lost answer, or none.
  Task<std::optional<FileError>> after(const Step& s, std::string op, std::string path) {
    const SftpFault& f = s.fault;
    if (f.action == SftpFault::Action::timeout) {
      co_await loop_.sleep(timeout_ - s.spent);
      drop();
      co_return FileError{FileError::Kind::timeout, op + " " + path + ": no answer within " + format_duration(timeout_) +
                                                        " (injected, " + f.rule_text + ")"};
    }
    if (f.action == SftpFault::Action::disconnect && f.after) {
      drop();
      co_return FileError{FileError::Kind::disconnected,
                          op + " " + path + ": connection reset after the server applied it (injected, " + f.rule_text + ")"};
    }
    if (f.action == SftpFault::Action::fail && f.after) {
      const FileError::Kind kind = sftp_status_kind(f.status);
      if (kind == FileError::Kind::disconnected) drop();
      co_return FileError{kind, op + " " + path + ": server applied it, then answered status " + std::to_string(f.status) +
                                    " (injected, " + f.rule_text + ")"};
    }
    co_return std::nullopt;
  }

  template <class T>
  FileResult<T> finish(std::string_view op, std::string_view path, FileResult<T> r) {
    auto ev = loop_.trace().event(loop_.now(), "sftp.result");
    ev.str("op", op).str("path", path);
    if (r.ok()) {
      ev.str("result", "ok");
    } else {
      ev.str("result", file_error_kind_name(r.error().kind));
      fake_.ledger().count(std::string("error.") + file_error_kind_name(r.error().kind));
    }
    return r;
  }

  SftpFake& fake_;
  Loop& loop_;
  FaultPlan* plan_;
  Duration latency_;
  Duration timeout_;
  nlohmann::json login_;
  Rng rng_;
  Status plan_ok_;
  bool connected_ = false;
  std::uint64_t session_ = 0;
};

}  // namespace

std::unique_ptr<FileTransport> SftpFake::sim_transport(Loop& loop, FaultPlan* plan, Duration latency,
                                                       Duration timeout, const nlohmann::json& login) {
  return std::make_unique<SimSftpTransport>(*this, loop, plan, latency + this->latency(), timeout, login);
}

Status SftpFake::check_fault_plan(const FaultPlan& plan, std::string_view where) const {
  return check_sftp_fault_plan(plan, where);
}

Status SftpFake::control(const JsonIn& op, Time now) {
  (void)now;
  DS_CHECK(op.object());
  if (op.size() != 1) return op.expected("exactly one operation of fake sftp (" + control_ops() + ")");
  const std::string key = op.json().begin().key();
  JsonIn v = op.at(key);
  auto fs_error = [&](const FileError& e) { return v.fail(e.message); };
  if (key == "set_password") {
    // A password changed or revoked: logins with the old one fail from now on.
    DS_CHECK(v.only_keys({"user", "password"}));
    DS_CHECK(v.require("user"));
    DS_CHECK(v.require("password"));
    DS_TRY(std::string user, v.at("user").string());
    DS_TRY(std::string password, v.at("password").string());
    if (user.empty()) return v.at("user").expected("a user name");
    for (auto& u : options_.users) {
      if (u.name != user) continue;
      u.password = std::move(password);
      return Status::success();
    }
    options_.users.push_back(SftpUser{user, password, {}});
    return Status::success();
  }
  if (key == "write_file") {
    // Someone else put a file there (a stale export, a name the destination will meet).
    DS_CHECK(v.only_keys({"path", "content"}));
    DS_CHECK(v.require("path"));
    DS_TRY(std::string path, v.at("path").string());
    std::string content;
    if (v.has("content")) { DS_TRY(content, v.at("content").string()); }
    auto norm = RemoteFs::normalize(path);
    if (!norm.ok()) return v.at("path").fail(norm.error().message);
    const RemoteFsOptions kept = fs_->options();
    fs_->set_options({});  // an operator's write, outside the quota and deny rules
    auto dir = fs_->mkdir_p(parent_dir(*norm));
    auto put = dir.ok() ? fs_->put(*norm, content) : FileResult<bool>(dir.error());
    fs_->set_options(kept);
    if (!put.ok()) return fs_error(put.error());
    ledger_.incomplete(*norm);  // not an upload the destination made, whatever was there
    return Status::success();
  }
  if (key == "remove") {
    DS_TRY(std::string path, v.string());
    auto norm = RemoteFs::normalize(path);
    if (!norm.ok()) return v.fail(norm.error().message);
    const RemoteFsOptions kept = fs_->options();
    fs_->set_options({});  // an operator's removal, outside the deny rules (as write_file)
    auto st = fs_->stat(*norm);
    auto gone = !st.ok() ? FileResult<bool>(st.error()) : st->directory ? fs_->rmdir(*norm) : fs_->remove(*norm);
    fs_->set_options(kept);
    if (!gone.ok()) return fs_error(gone.error());
    ledger_.removed(*norm);
    return Status::success();
  }
  if (key == "set_quota") {
    // The disk fills or is grown: null lifts the quota.
    RemoteFsOptions o = fs_->options();
    if (v.json().is_null()) {
      o.quota_bytes.reset();
    } else {
      DS_TRY(std::int64_t q, v.size_bytes());
      o.quota_bytes = q;
    }
    options_.fs.quota_bytes = o.quota_bytes;
    fs_->set_options(std::move(o));
    return Status::success();
  }
  if (key == "deny") {
    // A directory made read-only, a path the server now refuses.
    DS_TRY(SftpDenyRule rule, parse_deny_rule(v));
    RemoteFsOptions o = fs_->options();
    o.deny.push_back(rule);
    options_.fs.deny.push_back(std::move(rule));
    fs_->set_options(std::move(o));
    return Status::success();
  }
  return v.fail("fake sftp has no operation \"" + key + "\" (" + control_ops() + ")");
}

}  // namespace destsim
