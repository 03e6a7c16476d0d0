#pragma once
// The tnetstring codec: the one format of vsr's wire frames, WAL records and config files.
//
// A tnetstring is `LENGTH ":" PAYLOAD TAG`, where LENGTH is the decimal byte length of
// PAYLOAD and TAG one of:
//   ','  bytes        ';'  UTF-8 text (accepted on decode; vsr encodes text as ',')
//   '#'  integer      '^'  float       '!'  boolean ("true" / "false")
//   '~'  null (empty) ']'  list (concatenated values)  '}'  dict (key, value, key, value...)
// The grammar with vsr's strictness rules is written in docs/vsr/codec.md.
//
// Decoding is strict and validates the whole input up front, without allocating in
// proportion to any length field it reads; afterwards a Value is a view into the caller's
// buffer (payloads are never copied) and stays valid only while that buffer does.
// Encoding appends to a caller-owned std::string so the buffer can be reused.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vsr/base/result.hpp"
#include "vsr/base/small_stack.hpp"

namespace vsr::tnet {

/// The type tag that ends every tnetstring.
enum class Tag : char {
  bytes = ',',
  text = ';',
  integer = '#',
  floating = '^',
  boolean = '!',
  null = '~',
  list = ']',
  dict = '}',
};

/// Bounds on what a decoder accepts. Every bound is checked before any work that depends
/// on it, so hostile input costs O(input size) time, and memory in proportion to the real
/// nesting and dict sizes of the input, never to a length field.
struct Limits {
  std::size_t max_size = std::size_t{64} << 20;  ///< bytes of one top-level value
  std::size_t max_elements = 1'000'000;          ///< list items + dict entries, whole value
  std::size_t max_depth = 32;                    ///< nesting of lists and dicts
};

/// Why a decode failed.
enum class Errc : std::uint8_t {
  truncated,             ///< the input ends before the value does (a stream may read more)
  bad_length,            ///< the length prefix is empty, has a non-digit, a sign or a leading
                         ///< zero, or (inside a list or dict) runs past its container's end
  length_too_large,      ///< the length prefix exceeds Limits::max_size (or 10 digits)
  missing_colon,         ///< no ':' after the length digits
  unknown_tag,           ///< the byte after the payload is not a known type tag
  bad_integer,           ///< '#' payload is not a canonical decimal integer
  integer_out_of_range,  ///< '#' payload does not fit in int64
  bad_float,             ///< '^' payload is not a finite decimal float
  bad_boolean,           ///< '!' payload is not "true" or "false"
  bad_null,              ///< '~' payload is not empty
  bad_text,              ///< ';' payload is not valid UTF-8
  bad_dict_key,          ///< a dict key is not ',' or ';'
  duplicate_key,         ///< a dict holds the same key twice
  missing_dict_value,    ///< a dict ends after a key
  too_deep,              ///< nesting exceeds Limits::max_depth
  too_many_elements,     ///< more items than Limits::max_elements
  too_large,             ///< the value exceeds Limits::max_size
  trailing_bytes,        ///< bytes follow the value and the caller asked for exactly one
};

/// A short English name for an error code, e.g. "truncated input".
const char* describe(Errc code);

/// A decode error: what went wrong and at which byte offset of the input.
struct Error {
  Errc code = Errc::truncated;
  std::size_t offset = 0;

  /// "bad length prefix at byte 3".
  std::string message() const;
  friend bool operator==(const Error&, const Error&) = default;
};

class ListRange;
class DictRange;

/// A decoded value: a view into the decoded input. Cheap to copy (a few words).
/// Accessors of the wrong type are bugs and abort; check the type first (is_*()).
class Value {
 public:
  Value() = default;

  Tag tag() const { return tag_; }
  bool is_bytes() const { return tag_ == Tag::bytes || tag_ == Tag::text; }
  bool is_integer() const { return tag_ == Tag::integer; }
  bool is_float() const { return tag_ == Tag::floating; }
  bool is_boolean() const { return tag_ == Tag::boolean; }
  bool is_null() const { return tag_ == Tag::null; }
  bool is_list() const { return tag_ == Tag::list; }
  bool is_dict() const { return tag_ == Tag::dict; }

  /// REQUIRES: is_bytes(). The payload, not copied.
  std::string_view bytes() const;
  /// REQUIRES: is_integer().
  std::int64_t integer() const;
  /// REQUIRES: is_float().
  double floating() const;
  /// REQUIRES: is_boolean().
  bool boolean() const;

  /// REQUIRES: is_list() or is_dict(). Items of a list, or entries (pairs) of a dict.
  std::size_t size() const { return count_; }
  /// REQUIRES: is_list().
  ListRange items() const;
  /// REQUIRES: is_dict().
  DictRange entries() const;
  /// REQUIRES: is_dict(). The value under `key`, if present.
  std::optional<Value> find(std::string_view key) const;
  /// REQUIRES: is_dict(); `cursor` is 0 or was set by an earlier call on this value. Like
  /// find(), but first tries the entry at `cursor` and leaves `cursor` just after the
  /// entry found: reading the fields in their encoded order compares one key per field.
  std::optional<Value> find_from(std::string_view key, std::size_t& cursor) const;

  /// The whole encoded value (length, payload and tag): splice it into another encoding
  /// with Encoder::raw(), or hash it, without re-encoding.
  std::string_view encoded() const { return encoded_; }
  /// The payload bytes between ':' and the tag.
  std::string_view payload() const { return payload_; }

 private:
  friend class Decoder;
  friend class ListRange;
  friend class DictRange;

  std::string_view encoded_;
  std::string_view payload_;
  std::int64_t scalar_ = 0;  // integer value, or boolean as 0/1
  double floating_ = 0.0;
  std::size_t count_ = 0;  // items of a list, entries of a dict
  Tag tag_ = Tag::null;
};

/// Iterates the items of a validated list without allocating.
class ListRange {
 public:
  class Iterator {
   public:
    using value_type = Value;
    using difference_type = std::ptrdiff_t;
    Value operator*() const { return current_; }
    Iterator& operator++();
    Iterator operator++(int) {
      Iterator before = *this;
      ++*this;
      return before;
    }
    bool operator==(const Iterator& other) const { return rest_.data() == other.rest_.data(); }

   private:
    friend class ListRange;
    friend class DictRange;
    std::string_view rest_;  // current item and everything after it
    Value current_;
  };

  Iterator begin() const;
  Iterator end() const;

 private:
  friend class Value;
  friend class DictRange;
  std::string_view payload_;
};

/// One dict entry.
struct Entry {
  std::string_view key;
  Value value;
};

/// Iterates the entries of a validated dict, in encoded order, without allocating.
class DictRange {
 public:
  class Iterator {
   public:
    using value_type = Entry;
    using difference_type = std::ptrdiff_t;
    Entry operator*() const { return current_; }
    Iterator& operator++();
    Iterator operator++(int) {
      Iterator before = *this;
      ++*this;
      return before;
    }
    bool operator==(const Iterator& other) const { return rest_.data() == other.rest_.data(); }

   private:
    friend class DictRange;
    std::string_view rest_;
    Entry current_;
  };

  Iterator begin() const;
  Iterator end() const;

 private:
  friend class Value;
  std::string_view payload_;
};

/// A value decoded from the front of a stream, and how many bytes it used.
struct Prefix {
  Value value;
  std::size_t consumed = 0;
};

/// Decodes exactly one value that spans all of `input` (trailing bytes are an error).
Result<Value, Error> decode(std::string_view input, const Limits& limits = {});

/// Decodes one value from the front of `input` and reports how much it consumed, for
/// streams (a WAL segment, a socket buffer). Errc::truncated means "not all here yet".
Result<Prefix, Error> decode_prefix(std::string_view input, const Limits& limits = {});

/// Appends tnetstrings to a caller-owned buffer. Containers are opened and closed in
/// order (begin_list ... end_list); inside a dict, alternate key() and a value. Misuse
/// (unbalanced containers, a value where a key belongs) is a bug and aborts.
class Encoder {
 public:
  /// Appends to `out`; does not clear it.
  explicit Encoder(std::string& out) : out_(out) {}

  void bytes(std::string_view value);
  void integer(std::int64_t value);
  void floating(double value);
  void boolean(bool value);
  void null();
  /// Splices an already encoded tnetstring (e.g. Value::encoded()) as the next value.
  /// REQUIRES: `encoded` is exactly one valid tnetstring.
  void raw(std::string_view encoded);

  void begin_list();
  void end_list();
  void begin_dict();
  void end_dict();
  /// Inside a dict: the key of the next entry.
  void key(std::string_view key) { bytes(key); }

  /// Returns true iff every container opened has been closed.
  bool complete() const { return open_.empty(); }

 private:
  // An open container: where its reserved header starts, and (dicts) what comes next.
  struct Open {
    std::size_t header = 0;  // offset in out_ of the reserved fixed-width header
    bool dict = false;
    bool expect_key = true;  // dict only: the next value must be a key
  };

  void before_value(bool is_key_like);
  void begin_container(bool dict);
  void end_container(bool dict);

  std::string& out_;
  SmallStack<Open, 8> open_;  // the open containers, innermost last
};

/// Reads typed fields out of a dict and remembers the first problem, so that a decoder of
/// a message or a file can read every field and then check once:
///
///   FieldReader r(value, "metadata");
///   auto view = r.integer("view");
///   auto name = r.bytes("name");
///   if (!r.ok()) return fail(r.error());   // "metadata: field 'view' must be an integer"
class FieldReader {
 public:
  /// `what` names the object in error messages. A non-dict `value` is itself an error.
  FieldReader(Value value, std::string_view what);

  std::int64_t integer(std::string_view key);
  /// Like integer(), and also an error when the value is outside [min, max].
  std::int64_t integer_in(std::string_view key, std::int64_t min, std::int64_t max);
  std::string_view bytes(std::string_view key);
  double floating(std::string_view key);
  bool boolean(std::string_view key);
  /// A nested list or dict (the returned Value is null-tagged after an error).
  Value list(std::string_view key);
  Value dict(std::string_view key);
  /// Present-or-absent field of any type.
  std::optional<Value> optional(std::string_view key) const;

  bool ok() const { return error_.empty(); }
  /// The first problem found, e.g. "cluster config: field 'nodes' is missing".
  const std::string& error() const { return error_; }

 private:
  std::optional<Value> require(std::string_view key, Tag tag, const char* type_name);
  void fail_field(std::string_view key, std::string_view problem);

  Value value_;
  std::string what_;
  std::string error_;
  mutable std::size_t cursor_ = 0;  // after the field read last (Value::find_from)
};

}  // namespace vsr::tnet
