// multipart.h — a strict multipart/form-data reader (RFC 7578) for the fakes
// that take file uploads (Marketo, Yandex Metrica).
//
// Only fakes read multipart bodies; destinations write their own, so a fake
// still does not share the code it checks. Strict on purpose: CRLF framing,
// every part with `Content-Disposition: form-data; name=…`, only the part
// headers Content-Disposition, Content-Type and Content-Transfer-Encoding, and
// nothing after the closing boundary but one CRLF.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "framework/result.h"

namespace destsim {

/// One part of a multipart/form-data body.
struct MultipartPart {
  std::string name;
  std::optional<std::string> filename;  // absent when the part has no filename parameter
  std::string content;
};

/// The value of parameter `name` (matched ignoring ASCII case) in a header
/// value like `form-data; name="file"`, unquoted; nullopt when absent.
std::optional<std::string> mime_param(std::string_view header, std::string_view name);

/// The media type of a Content-Type value, lowercased and trimmed, without its
/// parameters: "Multipart/Form-Data; boundary=x" → "multipart/form-data".
std::string mime_type(std::string_view content_type);

/// The boundary of a multipart Content-Type value, or nullopt when it is
/// missing, empty or longer than RFC 2046's 70 characters.
std::optional<std::string> multipart_boundary(std::string_view content_type);

/// The parts of `body` framed by `boundary`, in order; an error says what is
/// malformed ("invalid multipart body: part headers not terminated by CRLF").
Result<std::vector<MultipartPart>> parse_multipart(std::string_view body, std::string_view boundary);

}  // namespace destsim
