// Decoding and encoding app operations (vsr/app/operation.hpp).

#include "vsr/app/operation.hpp"

#include <utility>

#include <fmt/format.h>

#include "vsr/app/limits.hpp"

namespace vsr::app {

OperationReader::OperationReader(tnet::Value value, std::string_view verb, std::string what)
    : value_(value), verb_(verb), fields_(value, what), what_(std::move(what)) {}

Result<OperationReader, std::string> OperationReader::parse(std::string_view app_name,
                                                            std::string_view bytes) {
  auto decoded = tnet::decode(bytes, kOperationLimits);
  if (!decoded) {
    return fail(fmt::format("{}: operation is not a valid tnetstring ({})", app_name,
                            decoded.error().message()));
  }
  if (!decoded->is_dict()) return fail(fmt::format("{}: operation is not a dict", app_name));
  const auto verb = decoded->find("op");
  if (!verb) return fail(fmt::format("{}: operation has no field 'op'", app_name));
  if (!verb->is_bytes() || verb->bytes().empty() || verb->bytes().size() > 32) {
    return fail(fmt::format("{}: field 'op' must be a short non-empty string", app_name));
  }
  return OperationReader(*decoded, verb->bytes(), fmt::format("{} {}", app_name, verb->bytes()));
}

std::int64_t OperationReader::integer(std::string_view key) {
  ++fields_read_;
  return fields_.integer(key);
}

std::string_view OperationReader::bytes(std::string_view key) {
  ++fields_read_;
  return fields_.bytes(key);
}

std::optional<std::int64_t> OperationReader::optional_integer(std::string_view key) {
  const auto value = fields_.optional(key);
  if (!value) return std::nullopt;
  ++fields_read_;
  if (!value->is_integer()) {
    if (error_.empty()) error_ = fmt::format("{}: field '{}' must be an integer", what_, key);
    return std::nullopt;
  }
  return value->integer();
}

std::optional<std::string_view> OperationReader::optional_bytes(std::string_view key) {
  const auto value = fields_.optional(key);
  if (!value) return std::nullopt;
  ++fields_read_;
  if (!value->is_bytes()) {
    if (error_.empty()) error_ = fmt::format("{}: field '{}' must be a string", what_, key);
    return std::nullopt;
  }
  return value->bytes();
}

Result<void, std::string> OperationReader::finish() const {
  if (!fields_.ok()) return fail(fields_.error());
  if (!error_.empty()) return fail(error_);
  if (value_.size() != fields_read_) {
    return fail(fmt::format("{}: operation has {} fields, expected {}", what_, value_.size(),
                            fields_read_));
  }
  return {};
}

OperationWriter::OperationWriter(std::string_view verb) : encoder_(out_) {
  encoder_.begin_dict();
  encoder_.key("op");
  encoder_.bytes(verb);
}

std::string OperationWriter::finish() && {
  encoder_.end_dict();
  VSR_ASSERT(encoder_.complete());
  return std::move(out_);
}

}  // namespace vsr::app
