#include "framework/multipart.h"

namespace destsim {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace

std::optional<std::string> mime_param(std::string_view header, std::string_view name) {
  std::size_t pos = header.find(';');
  while (pos != std::string_view::npos) {
    std::size_t next = header.find(';', pos + 1);
    std::string_view item = trim(header.substr(pos + 1, next == std::string_view::npos ? next : next - pos - 1));
    auto eq = item.find('=');
    if (eq != std::string_view::npos && lower(trim(item.substr(0, eq))) == lower(name)) {
      std::string_view v = trim(item.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return std::string(v);
    }
    pos = next;
  }
  return std::nullopt;
}

std::string mime_type(std::string_view content_type) { return lower(trim(content_type.substr(0, content_type.find(';')))); }

std::optional<std::string> multipart_boundary(std::string_view content_type) {
  auto b = mime_param(content_type, "boundary");
  if (!b || b->empty() || b->size() > 70) return std::nullopt;
  return b;
}

Result<std::vector<MultipartPart>> parse_multipart(std::string_view body, std::string_view boundary) {
  auto bad = [](const std::string& what) { return Error::bad_input("invalid multipart body: " + what); };
  const std::string delim = "--" + std::string(boundary);
  const std::string close = "\r\n" + delim;
  if (body.substr(0, delim.size() + 2) != delim + "\r\n") return bad("does not start with --boundary CRLF");
  std::size_t pos = delim.size() + 2;
  std::vector<MultipartPart> parts;
  while (true) {
    MultipartPart p;
    bool disposition = false;
    // Part headers.
    while (true) {
      std::size_t eol = body.find("\r\n", pos);
      if (eol == std::string_view::npos) return bad("part headers not terminated by CRLF");
      std::string_view line = body.substr(pos, eol - pos);
      pos = eol + 2;
      if (line.empty()) break;
      auto colon = line.find(':');
      if (colon == std::string_view::npos) return bad("malformed part header \"" + std::string(line) + "\"");
      std::string hname = lower(trim(line.substr(0, colon)));
      std::string_view hvalue = trim(line.substr(colon + 1));
      if (hname == "content-disposition") {
        if (lower(hvalue.substr(0, hvalue.find(';'))) != "form-data") return bad("Content-Disposition is not form-data");
        auto n = mime_param(hvalue, "name");
        if (!n || n->empty()) return bad("a part without a name");
        p.name = *n;
        p.filename = mime_param(hvalue, "filename");
        disposition = true;
      } else if (hname != "content-type" && hname != "content-transfer-encoding") {
        return bad("unexpected part header \"" + hname + "\"");
      }
    }
    if (!disposition) return bad("a part without Content-Disposition");
    std::size_t end = body.find(close, pos);
    if (end == std::string_view::npos) return bad("part \"" + p.name + "\" is not closed by the boundary");
    p.content.assign(body.substr(pos, end - pos));
    parts.push_back(std::move(p));
    pos = end + close.size();
    if (body.substr(pos, 2) == "--") {
      pos += 2;
      std::string_view rest = body.substr(pos);
      if (!rest.empty() && rest != "\r\n") return bad("bytes after the closing boundary");
      return parts;
    }
    if (body.substr(pos, 2) != "\r\n") return bad("boundary not followed by CRLF or --");
    pos += 2;
  }
}

}  // namespace destsim
