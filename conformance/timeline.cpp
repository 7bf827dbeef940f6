// timeline.cpp — the run timeline page (see timeline.h). The trace is reduced
// here to what the page draws (requests paired with their answers, uploads,
// polls, crashes, jobs binned over time), so a run of a million records gives
// a page of a few megabytes at most; the page draws it as SVG with a few lines
// of inline JS.
#include "conformance/timeline.h"

#include <algorithm>
#include <map>
#include <regex>
#include <set>

#include "framework/json_in.h"
#include "framework/time.h"

namespace destsim {
namespace {

constexpr std::size_t kRequestsMax = 20'000;  // bars drawn; the rest are counted
constexpr int kJobBins = 240;

std::int64_t t_of(const nlohmann::json& e) { return e.value("t", std::int64_t{0}); }

// "</script>" inside the embedded JSON would end the script element.
std::string script_safe(const std::string& json) {
  std::string out;
  out.reserve(json.size());
  for (std::size_t i = 0; i < json.size(); ++i) {
    if (json[i] == '<' && i + 1 < json.size() && json[i + 1] == '/') {
      out += "<\\/";
      ++i;
    } else {
      out += json[i];
    }
  }
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

nlohmann::json reduce(const Outcome& o, const Judgement& j) {
  std::map<std::int64_t, nlohmann::json> requests;  // by request id
  std::map<std::int64_t, nlohmann::json> uploads;   // by upload key
  nlohmann::json polls = nlohmann::json::array(), marks = nlohmann::json::array();
  std::vector<std::pair<std::int64_t, std::string>> job_ends;
  std::int64_t end = 0, dropped = 0;
  for (const auto& line : o.trace_lines) {
    nlohmann::json e = parse_json_body(line);
    if (!e.is_object()) continue;
    const std::string kind = e.value("kind", "");
    const std::int64_t t = t_of(e);
    end = std::max(end, t);
    if (kind == "http.request") {
      if (requests.size() >= kRequestsMax) {
        ++dropped;
        continue;
      }
      std::string path = e.value("path", "");
      if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
      // One lane per endpoint: ids in the path (an import's number) become {n}.
      static const std::regex kNumber("/[0-9]+(?=[/.]|$)");
      const std::string endpoint = std::regex_replace(path, kNumber, "/{n}");
      requests[e.value("req", std::int64_t{0})] = {{"t0", t},
                                                   {"t1", t},
                                                   {"lane", e.value("method", "") + " " + e.value("host", "") + endpoint},
                                                   {"path", path},
                                                   {"req", e.value("req", std::int64_t{0})},
                                                   {"bytes", e.value("bytes", std::int64_t{0})}};
    } else if (kind == "http.response" || kind == "http.error" || kind == "fault") {
      auto it = requests.find(e.value("req", std::int64_t{-1}));
      if (it == requests.end()) continue;
      nlohmann::json& r = it->second;
      if (kind == "fault") {
        r["fault"] = e.value("fault", "");
        continue;
      }
      r["t1"] = t;
      if (kind == "http.response") {
        r["status"] = e.value("status", 0);
        if (e.contains("code")) r["code"] = e["code"];
      } else {
        r["error"] = e.value("error", "");
      }
    } else if (kind == "bulk.upload_start") {
      const auto key = e.value("upload", std::int64_t{0});
      uploads[key] = {{"upload", key}, {"t0", t}, {"t1", t}, {"records", e.value("records", std::int64_t{0})}};
    } else if (kind == "bulk.upload" || kind == "bulk.import_end" || kind == "bulk.settle") {
      auto it = uploads.find(e.value("upload", std::int64_t{-1}));
      if (it == uploads.end()) continue;
      it->second["t1"] = std::max(it->second["t1"].get<std::int64_t>(), t);
      if (kind == "bulk.upload") it->second["outcome"] = e.value("outcome", "");
    } else if (kind == "bulk.poll") {
      if (polls.size() < kRequestsMax) polls.push_back({{"t", t}, {"upload", e.value("upload", std::int64_t{0})}});
    } else if (kind == "run.crash" || kind == "run.restart") {
      marks.push_back({{"t", t}, {"kind", kind == "run.crash" ? "crash" : "restart"},
                       {"label", kind == "run.crash" ? "crash " + e.value("point", "") : "restart"}});
    } else if (kind == "run.control" && marks.size() < kRequestsMax) {
      // A control event of the timeline: a stop reads like a crash (red), a
      // start like a restart (green), the others (config, fake, clock) in blue.
      const std::string what = e.value("what", "");
      std::string detail = e.value("detail", "");
      if (detail.size() > 60) detail = detail.substr(0, 57) + "...";
      const char* cls = what == "stop" ? "crash" : what == "start" ? "restart" : "control";
      marks.push_back({{"t", t}, {"kind", cls},
                       {"label", what + (detail.empty() ? "" : " " + detail) + (e.value("skipped", false) ? " (skipped)" : "")}});
    } else if (kind == "job") {
      std::string state = e.value("state", "");
      if (e.value("outcome_unknown", false)) state = "unknown";
      job_ends.emplace_back(t, state);
    }
  }
  end = std::max<std::int64_t>(end, 1);
  // Jobs: how many reached each terminal state in each slice of the run.
  nlohmann::json bins = nlohmann::json::array();
  std::vector<std::map<std::string, std::int64_t>> counts(kJobBins);
  for (const auto& [t, state] : job_ends) {
    const auto b = std::min<std::int64_t>(kJobBins - 1, t * kJobBins / end);
    ++counts[static_cast<std::size_t>(b)][state];
  }
  for (const auto& c : counts) bins.push_back(c);
  // Requests a failure names ("request 12") are outlined.
  std::set<std::int64_t> named;
  std::vector<std::string> lines = j.failures;
  for (const auto& p : j.properties)
    if (p.verdict == Verdict3::fail) lines.push_back(p.id + ": " + p.detail);
  static const std::regex kRequest("request (\\d+)");
  for (const auto& l : lines)
    for (auto it = std::sregex_iterator(l.begin(), l.end(), kRequest); it != std::sregex_iterator(); ++it)
      named.insert(std::stoll((*it)[1].str()));
  nlohmann::json reqs = nlohmann::json::array();
  for (auto& [id, r] : requests) {
    if (named.count(id)) r["named"] = true;
    reqs.push_back(std::move(r));
  }
  nlohmann::json ups = nlohmann::json::array();
  for (auto& [_, u] : uploads) ups.push_back(std::move(u));
  nlohmann::json verdict = nlohmann::json::array();
  for (const auto& f : j.failures) verdict.push_back({{"ok", false}, {"text", f}});
  for (const auto& p : j.properties)
    verdict.push_back({{"ok", p.verdict != Verdict3::fail}, {"text", p.id + " " + verdict_name(p.verdict) +
                                                                    (p.detail.empty() ? "" : ": " + p.detail)}});
  return {{"end", end},        {"requests", reqs}, {"requests_dropped", dropped}, {"uploads", ups},
          {"polls", polls},    {"marks", marks},   {"job_bins", bins},           {"jobs", job_ends.size()},
          {"verdict", verdict}};
}

// The page's drawing code: lanes of SVG from the reduced data.
const char* kScript = R"JS(
const d = JSON.parse(document.getElementById('data').textContent);
const W = 1400, L = 300, R = 20, H = 22, svgNS = 'http://www.w3.org/2000/svg';
const x = t => L + (W - L - R) * t / d.end;
const fmt = ns => { const s = ns / 1e9; return s < 120 ? s.toFixed(s < 10 ? 2 : 1) + 's' : s < 7200 ? (s / 60).toFixed(1) + 'm' : (s / 3600).toFixed(1) + 'h'; };
const color = r => r.error ? '#222' : !r.status ? '#999' : r.status == 429 ? '#8e44ad' : r.status >= 500 ? '#d62728' : r.status >= 400 ? '#ff7f0e' : '#2ca02c';
function el(name, attrs, text) { const e = document.createElementNS(svgNS, name); for (const k in attrs) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; return e; }
const lanes = [...new Set(d.requests.map(r => r.lane))].sort();
const hasBulk = d.uploads.length > 0;
const rows = lanes.length + (hasBulk ? 1 : 0) + 2;
const svg = el('svg', {width: W, height: 40 + rows * (H + 8) + 20, id: 'timeline'});
let y = 30;
for (let i = 0; i <= 10; i++) { const t = d.end * i / 10; svg.append(el('line', {x1: x(t), x2: x(t), y1: 20, y2: 40 + rows * (H + 8), class: 'grid'})); svg.append(el('text', {x: x(t), y: 14, class: 'tick'}, fmt(t))); }
function lane(label) { const t = el('text', {x: 4, y: y + H - 6, class: 'lane'}, label.length > 46 ? '\u2026' + label.slice(-45) : label); t.append(el('title', {}, label)); svg.append(t); const top = y; y += H + 8; return top; }
for (const name of lanes) {
  const top = lane(name);
  for (const r of d.requests.filter(r => r.lane == name)) {
    const b = el('rect', {x: x(r.t0), y: top, width: Math.max(2, x(r.t1) - x(r.t0)), height: H, fill: color(r), class: r.named ? 'named' : ''});
    b.append(el('title', {}, `request ${r.req}: ${r.lane.split(' ')[0]} ${r.path}\n${r.error ? 'error: ' + r.error : 'status ' + (r.status || '-')}${r.code ? ' ' + r.code : ''}\n${r.bytes} bytes sent, ${fmt(r.t1 - r.t0)}\nat ${fmt(r.t0)}${r.fault ? '\ninjected fault: ' + r.fault : ''}`));
    svg.append(b);
    if (r.fault) svg.append(el('text', {x: x(r.t0), y: top + H - 5, class: 'fault'}, '\u26a1'));
  }
}
if (hasBulk) {
  const top = lane('uploads and polls');
  for (const u of d.uploads) { const b = el('rect', {x: x(u.t0), y: top, width: Math.max(2, x(u.t1) - x(u.t0)), height: H / 2, fill: u.outcome == 'retry' ? '#ff7f0e' : '#1f77b4', opacity: 0.6}); b.append(el('title', {}, `upload ${u.upload}: ${u.records} records, ${u.outcome || 'imported'}\n${fmt(u.t0)} to ${fmt(u.t1)}`)); svg.append(b); }
  for (const p of d.polls) svg.append(el('line', {x1: x(p.t), x2: x(p.t), y1: top + H / 2, y2: top + H, class: 'poll'}));
}
{
  const top = lane(`jobs ended (${d.jobs})`);
  const states = {succeeded: '#2ca02c', failed: '#d62728', aborted: '#7f7f7f', unknown: '#8e44ad'};
  const max = Math.max(1, ...d.job_bins.map(b => Object.values(b).reduce((a, c) => a + c, 0)));
  const bw = (W - L - R) / d.job_bins.length;
  d.job_bins.forEach((b, i) => { let h0 = 0; for (const s in states) { const n = b[s] || 0; if (!n) continue; const h = (2 * H) * n / max; const r = el('rect', {x: L + i * bw, y: top + 2 * H - h0 - h, width: Math.max(1, bw - 0.5), height: h, fill: states[s]}); r.append(el('title', {}, `${n} ${s}`)); svg.append(r); h0 += h; } });
  y += H;
}
for (const m of d.marks) { svg.append(el('line', {x1: x(m.t), x2: x(m.t), y1: 20, y2: y, class: m.kind})); svg.append(el('text', {x: x(m.t) + 3, y: m.kind == 'crash' ? 28 : m.kind == 'control' ? 40 : y - 4, class: m.kind + '-label'}, m.label)); }
document.getElementById('lanes').append(svg);
const v = document.getElementById('verdict');
for (const item of d.verdict) { const li = document.createElement('li'); li.textContent = item.text; li.className = item.ok ? 'ok' : 'bad'; v.append(li); }
if (d.requests_dropped) document.getElementById('note').textContent = `${d.requests_dropped} more requests are not drawn (the page draws at most ${d.requests.length}).`;
)JS";

const char* kStyle = R"CSS(
body { font: 13px system-ui, sans-serif; margin: 16px; color: #222; }
h1 { font-size: 18px; margin: 0 0 4px; } .meta { color: #555; margin-bottom: 8px; }
.grid { stroke: #eee; } .tick { font-size: 10px; fill: #777; text-anchor: middle; }
.lane { font-size: 11px; fill: #333; } .fault { font-size: 12px; fill: #ffd700; stroke: #000; stroke-width: 0.3; }
.named { stroke: #000; stroke-width: 2.5; } .poll { stroke: #1f77b4; stroke-width: 0.6; }
.crash { stroke: #d62728; stroke-dasharray: 4 3; stroke-width: 1.5; } .restart { stroke: #2ca02c; stroke-dasharray: 4 3; }
.crash-label { fill: #d62728; font-size: 10px; } .restart-label { fill: #2ca02c; font-size: 10px; }
.control { stroke: #1f77b4; stroke-dasharray: 2 2; stroke-width: 1.5; } .control-label { fill: #1f77b4; font-size: 10px; }
#verdict li.bad { color: #c00; font-weight: 600; } #verdict li.ok { color: #2a7a2a; }
.legend span { display: inline-block; padding: 0 8px; margin-right: 6px; color: #fff; border-radius: 3px; }
)CSS";

}  // namespace

std::string timeline_html(const Scenario& s, const Outcome& o, const Judgement& j) {
  const nlohmann::json data = reduce(o, j);
  std::string title = s.name.empty() ? s.file : s.name;
  std::string html = "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>destsim: " + html_escape(title) +
                     "</title><style>" + kStyle + "</style></head><body>\n";
  html += "<h1>" + html_escape(title) + "</h1>\n<div class=\"meta\">destination " + html_escape(s.destination) +
          " · seed " + std::to_string(o.seed) + " · " + std::to_string(o.input_size) + " records · " +
          format_duration(o.virtual_duration) + " of virtual time · trace " + html_escape(o.trace_hash) + " · " +
          (j.ok() ? "expectations hold" : "EXPECTATIONS FAILED") + "</div>\n";
  html += "<div class=\"legend\"><span style=\"background:#2ca02c\">2xx</span><span style=\"background:#ff7f0e\">4xx"
          "</span><span style=\"background:#8e44ad\">429</span><span style=\"background:#d62728\">5xx</span><span "
          "style=\"background:#222\">no answer</span> ⚡ injected fault · outlined: a request a failure names · dashed: "
          "crash or stop / restart or start · dotted blue: a config, fake or clock event</div>\n";
  html += "<div id=\"lanes\"></div><p id=\"note\"></p><h2>Verdict</h2><ul id=\"verdict\"></ul>\n";
  html += "<script type=\"application/json\" id=\"data\">" +
          script_safe(data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)) + "</script>\n";
  html += std::string("<script>") + kScript + "</script>\n</body></html>\n";
  return html;
}

}  // namespace destsim
