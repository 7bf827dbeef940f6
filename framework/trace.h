// trace.h — the append-only record of every observable step of a run.
//
// Each event is one JSON object on one line: {"t":<virtual ns>,"kind":"...",...}
// with fields in the order they were added. The trace hashes its JSONL bytes with
// XXH3-64 as it goes (`xxhsum -H3 trace.jsonl` prints the same value), so
// `hash_hex()` is stable across platforms and runs: the determinism check
// compares hashes. Lines are kept in memory only when asked
// (`keep_lines`) or streamed to a sink, so million-record runs keep per-job state
// only. Registered secrets are replaced by "***" in every string field.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "framework/time.h"

namespace destsim {

class TraceObserver;  // framework/trace_events.h

/// Appends `s` to `out` as a JSON string literal (quotes and escapes included).
void append_json_string(std::string& out, std::string_view s);

class Trace {
 public:
  /// Builds one event; the event is committed when the builder is destroyed.
  class Event {
   public:
    Event(Trace* trace, Time t, std::string_view kind);
    Event(Event&& o) noexcept;
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;
    Event& operator=(Event&&) = delete;
    ~Event();

    Event& str(std::string_view key, std::string_view value);
    Event& num(std::string_view key, std::int64_t value);
    Event& flag(std::string_view key, bool value);
    /// `json` must already be valid JSON text (an object, array, number…).
    Event& raw(std::string_view key, std::string_view json);
    Event& dur(std::string_view key, Duration d) { return str(key, format_duration(d)); }

   private:
    void key(std::string_view k);
    Trace* trace_;
    // The line being built: the trace's scratch buffer (reused from event to
    // event, so building a line allocates nothing), or `own_` while another
    // event holds the scratch buffer.
    std::string* line_;
    std::string own_;
  };

  Trace();
  ~Trace();

  /// Starts an event of `kind` at virtual time `t`.
  Event event(Time t, std::string_view kind) { return Event(this, t, kind); }

  /// Keeps every line in memory (for `lines()` and writing a JSONL file later).
  void set_keep_lines(bool keep) { keep_lines_ = keep; }
  /// Streams every committed line (with '\n') to `sink`; nullptr stops streaming.
  void set_sink(std::ostream* sink) { sink_ = sink; }
  /// Receives every typed event (framework/trace_events.h) as it is committed;
  /// nullptr stops. Not owned.
  void set_observer(TraceObserver* observer) { observer_ = observer; }
  TraceObserver* observer() const { return observer_; }
  /// A secret value that must never appear in the trace.
  void add_secret(std::string value);

  std::uint64_t hash() const;
  /// The hash as 16 lowercase hex digits.
  std::string hash_hex() const;
  std::uint64_t size() const { return count_; }
  const std::vector<std::string>& lines() const { return lines_; }

  /// Redacts registered secrets in `s` (used by Event and by writers of reports).
  std::string redact(std::string_view s) const;

 private:
  /// Hashes, streams and (with keep_lines) keeps `line`; `owned`: it may be
  /// moved from.
  void commit(std::string& line, bool owned);
  /// The XXH3 streaming state over every committed line and its '\n'.
  struct HashState;
  /// Whether `s` contains a registered secret.
  bool has_secret(std::string_view s) const;

  std::unique_ptr<HashState> hash_;
  std::uint64_t count_ = 0;
  bool keep_lines_ = false;
  std::ostream* sink_ = nullptr;
  TraceObserver* observer_ = nullptr;
  std::vector<std::string> lines_;
  std::vector<std::string> secrets_;
  std::string scratch_;          // the line of the event being built (see Event)
  bool scratch_busy_ = false;
};

/// Formats a 64-bit value as 16 lowercase hex digits.
std::string hex16(std::uint64_t v);

}  // namespace destsim
