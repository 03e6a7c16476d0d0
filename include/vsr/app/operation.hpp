#pragma once
// Reading and writing the operations of the bundled apps. Every app operation is a
// tnetstring dict {"op": VERB, FIELD: VALUE, ...}; docs/vsr/apps.md lists the verbs.
// OperationReader decodes one with the app limits and rejects a wrong type, a missing
// field and an unexpected extra field alike, so that execute() sees only well-formed
// arguments and answers everything else with an invalid_request reply.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "vsr/base/result.hpp"
#include "vsr/codec/tnetstring.hpp"

namespace vsr::app {

/// One decoded app operation. Views into the operation bytes, valid while they are.
class OperationReader {
 public:
  /// Decodes `bytes` as an operation of the app `app_name` (used in error messages).
  /// Err: "bank: operation is not a tnetstring dict (...)", "bank: field 'op' is missing".
  static Result<OperationReader, std::string> parse(std::string_view app_name,
                                                    std::string_view bytes);

  /// The verb ("add", "get", ...).
  std::string_view verb() const { return verb_; }

  /// Required fields. A missing or mistyped field is remembered and reported by finish();
  /// the returned value is then 0 or empty.
  std::int64_t integer(std::string_view key);
  std::string_view bytes(std::string_view key);
  /// Optional fields: absent gives nullopt; present with the wrong type is an error.
  std::optional<std::int64_t> optional_integer(std::string_view key);
  std::optional<std::string_view> optional_bytes(std::string_view key);

  /// Ok iff every field read was present and well-typed and the dict holds no field that
  /// was not read. Err: "bank add: field 'amount' must be an integer", ...
  Result<void, std::string> finish() const;

 private:
  OperationReader(tnet::Value value, std::string_view verb, std::string what);

  tnet::Value value_;
  std::string_view verb_;
  tnet::FieldReader fields_;
  std::string what_;             // "bank add", for messages
  std::string error_;            // first problem of an optional field
  std::size_t fields_read_ = 1;  // "op" plus every field read (present optionals only)
};

/// Writes an app operation: begins the dict with the verb; add fields with encoder(),
/// then take the bytes with finish().
class OperationWriter {
 public:
  explicit OperationWriter(std::string_view verb);
  OperationWriter(const OperationWriter&) = delete;  // encoder_ points into out_
  OperationWriter& operator=(const OperationWriter&) = delete;
  tnet::Encoder& encoder() { return encoder_; }
  /// REQUIRES: the fields written are balanced. Returns the operation bytes.
  std::string finish() &&;

 private:
  std::string out_;
  tnet::Encoder encoder_;
};

}  // namespace vsr::app
