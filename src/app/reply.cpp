// The reply format shared by every bundled app (vsr/app/reply.hpp, docs/vsr/apps.md).

#include "vsr/app/reply.hpp"

#include <array>
#include <utility>

#include <fmt/format.h>

namespace vsr::app {
namespace {

// Indexed by ErrorCode; the order must match the enum.
constexpr std::array<std::string_view, 14> kErrorNames = {
    "insufficient_funds", "overflow", "invalid_amount", "insufficient_stock", "version_conflict",
    "not_found",          "held",     "not_owner",      "unknown_app",        "evicted",
    "stale_request",      "timeout",  "unavailable",    "invalid_request",
};
static_assert(kErrorNames.size() == static_cast<std::size_t>(ErrorCode::invalid_request) + 1);

}  // namespace

std::string_view error_code_name(ErrorCode code) {
  const auto index = static_cast<std::size_t>(code);
  VSR_ASSERT(index < kErrorNames.size());
  return kErrorNames[index];
}

std::optional<ErrorCode> parse_error_code(std::string_view name) {
  for (std::size_t i = 0; i < kErrorNames.size(); ++i) {
    if (kErrorNames[i] == name) return static_cast<ErrorCode>(i);
  }
  return std::nullopt;
}

void encode_error(std::string& out, ErrorCode code, std::string_view message) {
  tnet::Encoder encoder(out);
  encoder.begin_dict();
  encoder.key("ok");
  encoder.boolean(false);
  encoder.key("error");
  encoder.bytes(error_code_name(code));
  encoder.key("message");
  encoder.bytes(message);
  encoder.end_dict();
  VSR_ASSERT(encoder.complete());
}

Result<Reply, std::string> parse_reply(std::string_view bytes) {
  auto decoded = tnet::decode(bytes);
  if (!decoded) return fail(fmt::format("reply: {}", decoded.error().message()));
  tnet::FieldReader fields(*decoded, "reply");
  Reply reply;
  reply.ok = fields.boolean("ok");
  std::size_t expected_fields = 2;
  if (fields.ok() && reply.ok) {
    reply.result = fields.dict("result");
  } else if (fields.ok()) {
    reply.error = fields.bytes("error");
    reply.message = fields.bytes("message");
    expected_fields = 3;
  }
  if (!fields.ok()) return fail(fields.error());
  if (decoded->size() != expected_fields) return fail(std::string("reply: unexpected fields"));
  if (!reply.ok && reply.error.empty()) return fail(std::string("reply: empty error code"));
  return reply;
}

Json error_json(const Reply& reply) {
  VSR_ASSERT(!reply.ok);
  return Json{
      {"ok", false}, {"error", std::string(reply.error)}, {"message", std::string(reply.message)}};
}

std::string error_text(const Reply& reply) {
  VSR_ASSERT(!reply.ok);
  return fmt::format("{}: {}", reply.error, reply.message);
}

Json to_json(const tnet::Value& value) {
  switch (value.tag()) {
    case tnet::Tag::bytes:
    case tnet::Tag::text:
      return Json(std::string(value.bytes()));
    case tnet::Tag::integer:
      return Json(value.integer());
    case tnet::Tag::floating:
      return Json(value.floating());
    case tnet::Tag::boolean:
      return Json(value.boolean());
    case tnet::Tag::null:
      return Json(nullptr);
    case tnet::Tag::list: {
      Json array = Json::array();
      for (const tnet::Value item : value.items()) array.push_back(to_json(item));
      return array;
    }
    case tnet::Tag::dict: {
      Json object = Json::object();
      for (const tnet::Entry entry : value.entries()) {
        object[std::string(entry.key)] = to_json(entry.value);
      }
      return object;
    }
  }
  VSR_ASSERT_MSG(false, "unknown tnetstring tag");
  return Json();
}

std::string dump_json(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace vsr::app
