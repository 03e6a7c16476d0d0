#pragma once
// The one reply format of every bundled app, a tnetstring dict:
//
//   success:  {"ok": true,  "result": {...}}            result mirrors product.md's JSON object
//   refusal:  {"ok": false, "error": CODE, "message": TEXT}
//
// An app builds its reply with encode_ok()/encode_error(); a client reads it back with
// parse_reply() and prints it with the app's formatters (human line or JSON object).
// docs/vsr/apps.md lists every app's result dicts.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "vsr/base/result.hpp"
#include "vsr/codec/tnetstring.hpp"

namespace vsr::app {

/// JSON output keeps keys in insertion order, so objects print in product.md's order
/// ("ok", "result", then the caller's "op" and "view").
using Json = nlohmann::ordered_json;

/// The error codes of product.md §1, plus invalid_request (a malformed operation or an
/// argument out of bounds: empty key, oversized value, ttl out of range, ...).
enum class ErrorCode : std::uint8_t {
  insufficient_funds,
  overflow,
  invalid_amount,
  insufficient_stock,
  version_conflict,
  not_found,
  held,
  not_owner,
  unknown_app,
  evicted,
  stale_request,
  timeout,
  unavailable,
  invalid_request,
};

/// The wire and JSON spelling of a code, e.g. "insufficient_funds".
std::string_view error_code_name(ErrorCode code);

/// The code spelled `name`, if it is one.
std::optional<ErrorCode> parse_error_code(std::string_view name);

/// Appends a success reply to `out`; `write_result` writes the fields of the result dict
/// (alternating encoder.key() and a value) and must leave the encoder balanced.
template <class WriteResult>
void encode_ok(std::string& out, WriteResult&& write_result) {
  tnet::Encoder encoder(out);
  encoder.begin_dict();
  encoder.key("ok");
  encoder.boolean(true);
  encoder.key("result");
  encoder.begin_dict();
  write_result(encoder);
  encoder.end_dict();
  encoder.end_dict();
  VSR_ASSERT(encoder.complete());
}

/// Appends a refusal reply to `out`.
void encode_error(std::string& out, ErrorCode code, std::string_view message);

/// A decoded reply: views into the reply bytes, valid while they are.
struct Reply {
  bool ok = false;
  tnet::Value result;        ///< when ok: the result dict
  std::string_view error;    ///< when !ok: the code as sent (may be one this build lacks)
  std::string_view message;  ///< when !ok: the human explanation
};

/// Decodes a reply made by encode_ok()/encode_error(). Err: a description of what is
/// malformed (the reply did not come from a vsr app, or was damaged).
Result<Reply, std::string> parse_reply(std::string_view bytes);

/// The product.md JSON object of a refusal: {"ok":false,"error":..,"message":..}.
/// REQUIRES: !reply.ok.
Json error_json(const Reply& reply);

/// The human text of a refusal, for stderr: "insufficient_funds: <message>".
/// REQUIRES: !reply.ok.
std::string error_text(const Reply& reply);

/// A tnetstring value as JSON: bytes become strings, lists arrays, dicts objects (in
/// encoded order), null null. Formatters use it once they have checked a result's shape.
Json to_json(const tnet::Value& value);

/// An app command's JSON output: the refusal's JSON, or {"ok":true,"result":...} once
/// `human` (the app's reader of an ok result, returning its human text) accepts the
/// result's shape. Err: what `human` found wrong.
template <class Human>
Result<Json, std::string> format_json_with(const Reply& reply, Human human) {
  if (!reply.ok) return error_json(reply);
  if (auto checked = human(reply.result); !checked) return fail(checked.error());
  return Json{{"ok", true}, {"result", to_json(reply.result)}};
}

/// An app command's human output: the refusal's text ("code: message", for stderr), or
/// what `human` makes of the ok result. Err: what `human` found wrong.
template <class Human>
Result<std::string, std::string> format_human_with(const Reply& reply, Human human) {
  if (!reply.ok) return error_text(reply);
  return human(reply.result);
}

/// Serializes JSON output on one line. Byte strings that are not valid UTF-8 (keys and
/// values are bytes) are printed with U+FFFD in place of bad bytes instead of throwing.
std::string dump_json(const Json& value);

}  // namespace vsr::app
