// The tnetstring codec. The grammar and every strictness rule are written in
// docs/vsr/codec.md; this file follows it section by section.
//
// Decoding happens in two steps. `Validator` walks the whole input once, left to right,
// with an explicit stack (never the C++ call stack), and checks every rule and limit before
// doing any work that depends on it. Only then is a `Value` handed out; from there on the
// input is known to be well formed, so iterators and accessors re-read headers without
// re-checking them ("trusted" parsing). Nothing allocates in proportion to a length field:
// the only allocations are the validation stack (bounded by the real nesting, hence by the
// input size and Limits::max_depth) and the scratch vector of one dict's keys for the
// duplicate check (bounded by the real number of keys).

#include "vsr/codec/tnetstring.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <system_error>
#include <utility>

#include "vsr/base/assert.hpp"
#include "vsr/base/small_stack.hpp"

namespace vsr::tnet {

namespace {

// A length prefix has at most 10 digits: 9'999'999'999 bytes is far above any sane
// Limits::max_size, and a bound on the digit count keeps the accumulator from overflowing.
constexpr std::size_t max_length_digits = 10;
// The encoder reserves this much room for an open container's header (digits and ':').
constexpr std::size_t container_header_width = max_length_digits + 1;
constexpr std::size_t max_encodable_length = 9'999'999'999;
// Up to this many keys a dict's duplicate check compares pairs; above, it sorts. 16 keys
// cost at most 120 comparisons, less than setting up a sort.
constexpr std::size_t pairwise_key_check_max = 16;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::size_t digit_value(char c) {
  return static_cast<std::size_t>(c - '0');
}

bool is_known_tag(char c) {
  switch (c) {
    case ',':
    case ';':
    case '#':
    case '^':
    case '!':
    case '~':
    case ']':
    case '}':
      return true;
    default:
      return false;
  }
}

bool is_container(Tag tag) {
  return tag == Tag::list || tag == Tag::dict;
}

// Canonical decimal integer: "0" or an optional '-' then a non-zero digit then digits.
// Returns the value, or the error code (with `value` unset) for the payload.
struct IntegerParse {
  std::int64_t value = 0;
  std::optional<Errc> error;
};

IntegerParse parse_integer(std::string_view text) {
  IntegerParse result;
  const bool negative = !text.empty() && text.front() == '-';
  const std::string_view digits = negative ? text.substr(1) : text;
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), is_digit)) {
    result.error = Errc::bad_integer;
    return result;
  }
  // "0" is the only spelling of zero: no "-0", no leading zeros.
  if (digits.front() == '0' && (digits.size() > 1 || negative)) {
    result.error = Errc::bad_integer;
    return result;
  }
  // Accumulate the magnitude in uint64, which holds 2^63 (the magnitude of INT64_MIN).
  const std::uint64_t limit =
      negative ? std::uint64_t{1} << 63 : std::uint64_t{std::numeric_limits<std::int64_t>::max()};
  std::uint64_t magnitude = 0;
  for (const char c : digits) {
    const std::uint64_t digit = digit_value(c);
    if (magnitude > (limit - digit) / 10) {
      result.error = Errc::integer_out_of_range;
      return result;
    }
    magnitude = magnitude * 10 + digit;
  }
  if (negative) {
    // -(2^63) does not fit the positive side, so negate in unsigned arithmetic.
    result.value = magnitude == (std::uint64_t{1} << 63) ? std::numeric_limits<std::int64_t>::min()
                                                         : -static_cast<std::int64_t>(magnitude);
  } else {
    result.value = static_cast<std::int64_t>(magnitude);
  }
  return result;
}

// std::from_chars in general format: no leading '+', no whitespace, no hex; the whole
// payload must be used and the result finite ("inf" and "nan" parse but are rejected).
std::optional<double> parse_float(std::string_view text) {
  double value = 0.0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(first, last, value, std::chars_format::general);
  if (text.empty() || ec != std::errc{} || ptr != last || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

// Returns the index of the first byte that is not part of valid UTF-8 (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF), or npos if all of it is valid.
std::size_t find_invalid_utf8(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const auto is_continuation = [&](std::size_t i) {
    return i < text.size() && (byte(i) & 0xC0U) == 0x80U;
  };
  std::size_t i = 0;
  while (i < text.size()) {
    const unsigned lead = byte(i);
    if (lead < 0x80U) {
      ++i;
      continue;
    }
    std::size_t width = 0;
    unsigned low = 0x80U;  // bounds of the second byte, which rule out overlongs etc.
    unsigned high = 0xBFU;
    if (lead >= 0xC2U && lead <= 0xDFU) {
      width = 2;
    } else if (lead >= 0xE0U && lead <= 0xEFU) {
      width = 3;
      if (lead == 0xE0U) low = 0xA0U;   // overlong
      if (lead == 0xEDU) high = 0x9FU;  // UTF-16 surrogates
    } else if (lead >= 0xF0U && lead <= 0xF4U) {
      width = 4;
      if (lead == 0xF0U) low = 0x90U;   // overlong
      if (lead == 0xF4U) high = 0x8FU;  // above U+10FFFF
    } else {
      return i;
    }
    if (i + 1 >= text.size() || byte(i + 1) < low || byte(i + 1) > high) return i;
    for (std::size_t k = 2; k < width; ++k) {
      if (!is_continuation(i + k)) return i;
    }
    i += width;
  }
  return std::string_view::npos;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Errors

const char* describe(Errc code) {
  switch (code) {
    case Errc::truncated:
      return "truncated input";
    case Errc::bad_length:
      return "bad length prefix";
    case Errc::length_too_large:
      return "length prefix too large";
    case Errc::missing_colon:
      return "missing ':' after length";
    case Errc::unknown_tag:
      return "unknown type tag";
    case Errc::bad_integer:
      return "non-canonical integer";
    case Errc::integer_out_of_range:
      return "integer out of int64 range";
    case Errc::bad_float:
      return "bad float";
    case Errc::bad_boolean:
      return "bad boolean";
    case Errc::bad_null:
      return "non-empty null";
    case Errc::bad_text:
      return "invalid UTF-8 text";
    case Errc::bad_dict_key:
      return "dict key is not bytes";
    case Errc::duplicate_key:
      return "duplicate dict key";
    case Errc::missing_dict_value:
      return "dict key without a value";
    case Errc::too_deep:
      return "nesting too deep";
    case Errc::too_many_elements:
      return "too many elements";
    case Errc::too_large:
      return "value too large";
    case Errc::trailing_bytes:
      return "trailing bytes";
  }
  return "unknown error";
}

std::string Error::message() const {
  std::string text = describe(code);
  text += " at byte ";
  text += std::to_string(offset);
  return text;
}

// ---------------------------------------------------------------------------------------
// Trusted parsing of validated input, for Value, ListRange and DictRange.

// The friend of Value: builds Values from input the Validator has accepted.
class Decoder {
 public:
  // REQUIRES: `rest` starts with a validated tnetstring. Returns it as a Value.
  static Value trusted(std::string_view rest) {
    std::size_t length = 0;
    std::size_t i = 0;
    while (rest[i] != ':') {
      length = length * 10 + digit_value(rest[i]);
      ++i;
      VSR_ASSERT(i <= max_length_digits && i < rest.size());
    }
    VSR_ASSERT_MSG(i + 2 + length <= rest.size(), "trusted tnetstring runs past its input");
    Value value;
    value.payload_ = rest.substr(i + 1, length);
    value.tag_ = static_cast<Tag>(rest[i + 1 + length]);
    value.encoded_ = rest.substr(0, i + 2 + length);
    switch (value.tag_) {
      case Tag::integer:
        value.scalar_ = parse_integer(value.payload_).value;
        break;
      case Tag::floating:
        value.floating_ = parse_float(value.payload_).value_or(0.0);
        break;
      case Tag::boolean:
        value.scalar_ = value.payload_ == "true" ? 1 : 0;
        break;
      case Tag::list:
        value.count_ = count_items(value.payload_);
        break;
      case Tag::dict:
        value.count_ = count_items(value.payload_) / 2;
        break;
      case Tag::bytes:
      case Tag::text:
      case Tag::null:
        break;
    }
    return value;
  }

  // REQUIRES: `rest` starts with a validated tnetstring. Its encoded size.
  static std::size_t encoded_size(std::string_view rest) {
    std::size_t length = 0;
    std::size_t i = 0;
    while (rest[i] != ':') {
      length = length * 10 + digit_value(rest[i]);
      ++i;
    }
    return i + 2 + length;
  }

  // REQUIRES: `payload` is a validated dict payload. The value under `key`. Skips the
  // values of other keys by their lengths, without building them.
  static std::optional<Value> find(std::string_view payload, std::string_view key) {
    std::size_t ignored = 0;
    return find_from(payload, key, ignored);
  }

  // Like find(), but looks first at the entry starting at offset `cursor` of `payload` (an
  // entry boundary), then at the whole dict; leaves `cursor` after the entry found.
  static std::optional<Value> find_from(std::string_view payload, std::string_view key,
                                        std::size_t& cursor) {
    if (cursor > 0 && cursor < payload.size()) {
      std::size_t at = cursor;
      if (auto found = entry_at(payload, at, key)) {
        cursor = at;
        return found;
      }
    }
    for (std::size_t at = 0; at < payload.size();) {
      if (auto found = entry_at(payload, at, key)) {
        cursor = at;
        return found;
      }
    }
    return std::nullopt;
  }

  // The value of the entry at offset `at` of a validated dict payload if its key is `key`
  // (`at` then points past the entry); else advances `at` past the entry.
  static std::optional<Value> entry_at(std::string_view payload, std::size_t& at,
                                       std::string_view key) {
    std::string_view rest = payload.substr(at);
    std::size_t length = 0;
    std::size_t i = 0;
    while (rest[i] != ':') {
      length = length * 10 + digit_value(rest[i]);
      ++i;
    }
    const std::string_view candidate = rest.substr(i + 1, length);
    rest.remove_prefix(i + 2 + length);
    const std::size_t value_size = encoded_size(rest);
    const std::size_t entry_size = i + 2 + length + value_size;
    at += entry_size;
    if (candidate != key) return std::nullopt;
    return trusted(rest);
  }

  // REQUIRES: `payload` is a validated container payload. How many values it holds.
  static std::size_t count_items(std::string_view payload) {
    std::size_t count = 0;
    while (!payload.empty()) {
      payload.remove_prefix(encoded_size(payload));
      ++count;
    }
    return count;
  }
};

// ---------------------------------------------------------------------------------------
// Validation: one pass over untrusted input.

namespace {

// The parts of one tnetstring's header, as offsets into the input.
struct Header {
  std::size_t start = 0;    // first byte of the length prefix
  std::size_t payload = 0;  // first byte of the payload
  std::size_t length = 0;   // payload length
  Tag tag = Tag::null;
  std::size_t end() const { return payload + length + 1; }  // one past the tag
};

// An open list or dict during validation.
struct Frame {
  std::size_t payload = 0;  // first byte of the payload
  std::size_t end = 0;      // one past the payload (the container's tag byte)
  std::size_t next = 0;     // where the next child starts
  bool dict = false;
  bool expect_key = true;  // dict only: the next child is a key
};

class Validator {
 public:
  Validator(std::string_view input, const Limits& limits) : input_(input), limits_(limits) {}

  // Validates the value at the front of the input. Returns its encoded size.
  Result<std::size_t, Error> run() {
    Header header;
    if (auto error = read_header(0, input_.size(), /*top=*/true, header)) return fail(*error);
    if (auto error = enter(header)) return fail(*error);
    while (!stack_.empty()) {
      Frame& frame = stack_.back();
      if (frame.next == frame.end) {
        if (auto error = close(frame)) return fail(*error);
        stack_.pop_back();
        continue;
      }
      Header child;
      if (auto error = read_header(frame.next, frame.end, /*top=*/false, child)) {
        return fail(*error);
      }
      if (auto error = check_child(frame, child)) return fail(*error);
      frame.next = child.end();
      // `frame` may dangle after enter() pushes; it is not used again in this iteration.
      if (auto error = enter(child)) return fail(*error);
    }
    return header.end();
  }

 private:
  using MaybeError = std::optional<Error>;

  static Error error(Errc code, std::size_t offset) { return Error{code, offset}; }

  // Reads the header at `start`, whose value must end by `end`. At the top level running
  // out of input means "truncated" (a stream may deliver more); inside a container the
  // container's own length is final, so running past it is a bad length.
  MaybeError read_header(std::size_t start, std::size_t end, bool top, Header& header) const {
    header.start = start;
    std::size_t pos = start;
    std::size_t length = 0;
    while (pos < end && is_digit(input_[pos])) {
      if (pos > start && input_[start] == '0') return error(Errc::bad_length, start);
      if (pos - start == max_length_digits) return error(Errc::length_too_large, start);
      length = length * 10 + digit_value(input_[pos]);
      ++pos;
      // Said as early as possible so that a stream reader need not wait for more bytes.
      if (top && length > limits_.max_size) return error(Errc::length_too_large, start);
    }
    if (pos == end) {
      if (top) return error(Errc::truncated, input_.size());
      return error(pos == start ? Errc::bad_length : Errc::missing_colon, pos);
    }
    if (pos == start) return error(Errc::bad_length, start);
    if (input_[pos] != ':') return error(Errc::missing_colon, pos);
    header.payload = pos + 1;
    header.length = length;
    const std::size_t room = end - header.payload;  // bytes for payload and tag
    if (top) {
      if (header.end() > limits_.max_size) return error(Errc::too_large, start);
      if (length >= room) return error(Errc::truncated, input_.size());
    } else if (length >= room) {
      return error(Errc::bad_length, start);
    }
    const char tag = input_[header.payload + length];
    if (!is_known_tag(tag)) return error(Errc::unknown_tag, header.payload + length);
    header.tag = static_cast<Tag>(tag);
    return std::nullopt;
  }

  // The rules a container places on its next child: key types and the element budget.
  MaybeError check_child(Frame& frame, const Header& child) {
    if (frame.dict && frame.expect_key) {
      if (child.tag != Tag::bytes && child.tag != Tag::text) {
        return error(Errc::bad_dict_key, child.start);
      }
    }
    // A dict entry counts once, at its key.
    if (!frame.dict || frame.expect_key) {
      ++elements_;
      if (elements_ > limits_.max_elements) return error(Errc::too_many_elements, child.start);
    }
    if (frame.dict) frame.expect_key = !frame.expect_key;
    return std::nullopt;
  }

  // Checks a scalar's payload, or opens a container (depth checked before pushing).
  MaybeError enter(const Header& header) {
    if (is_container(header.tag)) {
      if (stack_.size() >= limits_.max_depth) return error(Errc::too_deep, header.start);
      stack_.push_back(Frame{header.payload, header.payload + header.length, header.payload,
                             header.tag == Tag::dict, true});
      return std::nullopt;
    }
    return check_scalar(header);
  }

  MaybeError check_scalar(const Header& header) const {
    const std::string_view payload = input_.substr(header.payload, header.length);
    switch (header.tag) {
      case Tag::bytes:
        return std::nullopt;
      case Tag::text: {
        const std::size_t bad = find_invalid_utf8(payload);
        if (bad == std::string_view::npos) return std::nullopt;
        return error(Errc::bad_text, header.payload + bad);
      }
      case Tag::integer:
        if (auto code = parse_integer(payload).error) return error(*code, header.payload);
        return std::nullopt;
      case Tag::floating:
        if (!parse_float(payload)) return error(Errc::bad_float, header.payload);
        return std::nullopt;
      case Tag::boolean:
        if (payload != "true" && payload != "false") {
          return error(Errc::bad_boolean, header.payload);
        }
        return std::nullopt;
      case Tag::null:
        if (!payload.empty()) return error(Errc::bad_null, header.payload);
        return std::nullopt;
      case Tag::list:
      case Tag::dict:
        break;
    }
    VSR_ASSERT_MSG(false, "check_scalar called on a container");
    return std::nullopt;
  }

  // A container ends: a dict must not end after a key, nor hold a key twice.
  MaybeError close(const Frame& frame) {
    if (!frame.dict) return std::nullopt;
    if (!frame.expect_key) return error(Errc::missing_dict_value, frame.end);
    return check_duplicate_keys(frame);
  }

  // Every child of the dict is validated by now, so its keys can be read trusted. Small
  // dicts compare pairs; large ones sort (key, offset) so that a hostile million-key dict
  // costs O(n log n), not O(n^2). Reports the earliest key that repeats an earlier one.
  MaybeError check_duplicate_keys(const Frame& frame) {
    // The keys of a small dict stay in small_keys_; a larger one spills into keys_, so
    // the messages of the hot path are checked without allocating.
    std::size_t count = 0;
    keys_.clear();
    std::string_view rest = input_.substr(frame.payload, frame.end - frame.payload);
    while (!rest.empty()) {
      const Value key = Decoder::trusted(rest);
      const auto offset = static_cast<std::size_t>(rest.data() - input_.data());
      if (count < small_keys_.size()) {
        small_keys_[count] = {key.payload(), offset};
      } else {
        if (count == small_keys_.size()) keys_.assign(small_keys_.begin(), small_keys_.end());
        keys_.emplace_back(key.payload(), offset);
      }
      ++count;
      rest.remove_prefix(key.encoded().size());
      rest.remove_prefix(Decoder::encoded_size(rest));
    }
    std::size_t duplicate = std::string_view::npos;
    if (count <= pairwise_key_check_max) {
      for (std::size_t j = 1; j < count && duplicate == std::string_view::npos; ++j) {
        for (std::size_t i = 0; i < j; ++i) {
          if (small_keys_[i].first == small_keys_[j].first) {
            duplicate = small_keys_[j].second;
            break;
          }
        }
      }
    } else {
      std::sort(keys_.begin(), keys_.end());
      for (std::size_t i = 1; i < keys_.size(); ++i) {
        if (keys_[i].first == keys_[i - 1].first) {
          duplicate = std::min(duplicate, keys_[i].second);
        }
      }
    }
    if (duplicate == std::string_view::npos) return std::nullopt;
    return error(Errc::duplicate_key, duplicate);
  }

  using KeyAt = std::pair<std::string_view, std::size_t>;  // a key and its offset

  std::string_view input_;
  const Limits& limits_;
  SmallStack<Frame, 8> stack_;  // open containers, innermost last; size() is the depth
  std::size_t elements_ = 0;    // list items and dict entries seen so far
  std::array<KeyAt, pairwise_key_check_max> small_keys_;  // scratch: a small dict's keys
  std::vector<KeyAt> keys_;                               // scratch: a large dict's keys
};

}  // namespace

Result<Prefix, Error> decode_prefix(std::string_view input, const Limits& limits) {
  Validator validator(input, limits);
  auto consumed = validator.run();
  if (!consumed) return fail(consumed.error());
  return Prefix{Decoder::trusted(input), *consumed};
}

Result<Value, Error> decode(std::string_view input, const Limits& limits) {
  auto prefix = decode_prefix(input, limits);
  if (!prefix) return fail(prefix.error());
  if (prefix->consumed != input.size()) {
    return fail(Error{Errc::trailing_bytes, prefix->consumed});
  }
  return prefix->value;
}

// ---------------------------------------------------------------------------------------
// Value and its ranges

std::string_view Value::bytes() const {
  VSR_ASSERT_MSG(is_bytes(), "Value::bytes() on a value that is not bytes");
  return payload_;
}

std::int64_t Value::integer() const {
  VSR_ASSERT_MSG(is_integer(), "Value::integer() on a value that is not an integer");
  return scalar_;
}

double Value::floating() const {
  VSR_ASSERT_MSG(is_float(), "Value::floating() on a value that is not a float");
  return floating_;
}

bool Value::boolean() const {
  VSR_ASSERT_MSG(is_boolean(), "Value::boolean() on a value that is not a boolean");
  return scalar_ != 0;
}

ListRange Value::items() const {
  VSR_ASSERT_MSG(is_list(), "Value::items() on a value that is not a list");
  ListRange range;
  range.payload_ = payload_;
  return range;
}

DictRange Value::entries() const {
  VSR_ASSERT_MSG(is_dict(), "Value::entries() on a value that is not a dict");
  DictRange range;
  range.payload_ = payload_;
  return range;
}

std::optional<Value> Value::find(std::string_view key) const {
  VSR_ASSERT_MSG(is_dict(), "Value::find() on a value that is not a dict");
  return Decoder::find(payload_, key);
}

std::optional<Value> Value::find_from(std::string_view key, std::size_t& cursor) const {
  VSR_ASSERT_MSG(is_dict(), "Value::find_from() on a value that is not a dict");
  return Decoder::find_from(payload_, key, cursor);
}

ListRange::Iterator& ListRange::Iterator::operator++() {
  VSR_ASSERT_MSG(!rest_.empty(), "ListRange::Iterator advanced past the end");
  rest_.remove_prefix(current_.encoded().size());
  if (!rest_.empty()) current_ = Decoder::trusted(rest_);
  return *this;
}

ListRange::Iterator ListRange::begin() const {
  Iterator it;
  it.rest_ = payload_;
  if (!it.rest_.empty()) it.current_ = Decoder::trusted(it.rest_);
  return it;
}

ListRange::Iterator ListRange::end() const {
  Iterator it;
  it.rest_ = payload_.substr(payload_.size());
  return it;
}

namespace {

// REQUIRES: `rest` starts with a validated dict entry. Returns its key and value.
template <class MakeValue>
Entry read_entry(std::string_view rest, MakeValue make_value) {
  const Value key = make_value(rest);
  return Entry{key.payload(), make_value(rest.substr(key.encoded().size()))};
}

}  // namespace

DictRange::Iterator& DictRange::Iterator::operator++() {
  VSR_ASSERT_MSG(!rest_.empty(), "DictRange::Iterator advanced past the end");
  // The entry ends where its value's encoding ends; both are views into rest_.
  const std::string_view value = current_.value.encoded();
  rest_.remove_prefix(static_cast<std::size_t>(value.data() + value.size() - rest_.data()));
  if (!rest_.empty()) current_ = read_entry(rest_, Decoder::trusted);
  return *this;
}

DictRange::Iterator DictRange::begin() const {
  Iterator it;
  it.rest_ = payload_;
  if (!it.rest_.empty()) it.current_ = read_entry(it.rest_, Decoder::trusted);
  return it;
}

DictRange::Iterator DictRange::end() const {
  Iterator it;
  it.rest_ = payload_.substr(payload_.size());
  return it;
}

// ---------------------------------------------------------------------------------------
// Encoder

namespace {

void append_header(std::string& out, std::size_t length) {
  VSR_ASSERT_MSG(length <= max_encodable_length, "tnetstring payload longer than 10 digits");
  char digits[max_length_digits + 1];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, length);
  VSR_ASSERT(ec == std::errc{});
  out.append(digits, end);
  out.push_back(':');
}

void append_scalar(std::string& out, std::string_view payload, Tag tag) {
  append_header(out, payload.size());
  out.append(payload);
  out.push_back(static_cast<char>(tag));
}

}  // namespace

// Every value goes through before_value(), which enforces the dict key/value alternation.
void Encoder::before_value(bool is_key_like) {
  if (open_.empty()) return;
  Open& top = open_.back();
  if (!top.dict) return;
  if (top.expect_key) {
    VSR_ASSERT_MSG(is_key_like, "Encoder: a dict key must be bytes");
  }
  top.expect_key = !top.expect_key;
}

void Encoder::bytes(std::string_view value) {
  before_value(/*is_key_like=*/true);
  append_scalar(out_, value, Tag::bytes);
}

void Encoder::integer(std::int64_t value) {
  before_value(false);
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  VSR_ASSERT(ec == std::errc{});
  append_scalar(out_, std::string_view(digits, static_cast<std::size_t>(end - digits)),
                Tag::integer);
}

void Encoder::floating(double value) {
  VSR_ASSERT_MSG(std::isfinite(value), "Encoder: floats must be finite");
  before_value(false);
  // The shortest representation that reads back to the same double.
  char digits[32];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  VSR_ASSERT(ec == std::errc{});
  append_scalar(out_, std::string_view(digits, static_cast<std::size_t>(end - digits)),
                Tag::floating);
}

void Encoder::boolean(bool value) {
  before_value(false);
  append_scalar(out_, value ? "true" : "false", Tag::boolean);
}

void Encoder::null() {
  before_value(false);
  append_scalar(out_, {}, Tag::null);
}

void Encoder::raw(std::string_view encoded) {
  // A structural check in O(1): digits, ':', a length that spans exactly `encoded`, and a
  // known tag. Checking the payload too would double the cost of splicing.
  std::size_t i = 0;
  std::size_t length = 0;
  while (i < encoded.size() && i < max_length_digits && is_digit(encoded[i])) {
    length = length * 10 + digit_value(encoded[i]);
    ++i;
  }
  VSR_ASSERT_MSG(i > 0 && i < encoded.size() && encoded[i] == ':',
                 "Encoder::raw: not a tnetstring header");
  VSR_ASSERT_MSG(i + 2 + length == encoded.size() && is_known_tag(encoded.back()),
                 "Encoder::raw: not exactly one tnetstring");
  before_value(encoded.back() == ',' || encoded.back() == ';');
  out_.append(encoded);
}

void Encoder::begin_list() {
  begin_container(false);
}

void Encoder::begin_dict() {
  begin_container(true);
}

void Encoder::end_list() {
  end_container(false);
}

void Encoder::end_dict() {
  end_container(true);
}

void Encoder::begin_container(bool dict) {
  before_value(false);
  open_.push_back(Open{out_.size(), dict, true});
  out_.append(container_header_width, ' ');
}

// Writes the real header at the front of the reserved gap and closes the gap with one
// memmove of the payload.
void Encoder::end_container(bool dict) {
  VSR_ASSERT_MSG(!open_.empty(), "Encoder: end of a container that was never begun");
  const Open top = open_.back();
  VSR_ASSERT_MSG(top.dict == dict, "Encoder: end_list/end_dict does not match the begin");
  VSR_ASSERT_MSG(!dict || top.expect_key, "Encoder: dict closed after a key without a value");
  open_.pop_back();
  const std::size_t payload_start = top.header + container_header_width;
  const std::size_t length = out_.size() - payload_start;
  VSR_ASSERT_MSG(length <= max_encodable_length, "tnetstring payload longer than 10 digits");
  char header[container_header_width];
  const auto [end, ec] = std::to_chars(header, header + max_length_digits, length);
  VSR_ASSERT(ec == std::errc{});
  *end = ':';
  const auto header_size = static_cast<std::size_t>(end - header) + 1;
  std::memcpy(out_.data() + top.header, header, header_size);
  std::memmove(out_.data() + top.header + header_size, out_.data() + payload_start, length);
  out_.resize(top.header + header_size + length);
  out_.push_back(static_cast<char>(dict ? Tag::dict : Tag::list));
}

// ---------------------------------------------------------------------------------------
// FieldReader

FieldReader::FieldReader(Value value, std::string_view what) : value_(value), what_(what) {
  if (!value_.is_dict()) error_ = what_ + ": must be a dict";
}

std::optional<Value> FieldReader::optional(std::string_view key) const {
  if (!value_.is_dict()) return std::nullopt;
  return value_.find_from(key, cursor_);
}

std::optional<Value> FieldReader::require(std::string_view key, Tag tag, const char* type_name) {
  if (!ok()) return std::nullopt;
  const std::optional<Value> found = value_.find_from(key, cursor_);
  if (!found) {
    fail_field(key, "is missing");
    return std::nullopt;
  }
  const bool matches = tag == Tag::bytes ? found->is_bytes() : found->tag() == tag;
  if (!matches) {
    fail_field(key, std::string("must be ") + type_name);
    return std::nullopt;
  }
  return found;
}

void FieldReader::fail_field(std::string_view key, std::string_view problem) {
  if (!ok()) return;
  error_ = what_;
  error_ += ": field '";
  error_ += key;
  error_ += "' ";
  error_ += problem;
}

std::int64_t FieldReader::integer(std::string_view key) {
  const auto found = require(key, Tag::integer, "an integer");
  return found ? found->integer() : 0;
}

std::int64_t FieldReader::integer_in(std::string_view key, std::int64_t min, std::int64_t max) {
  const auto found = require(key, Tag::integer, "an integer");
  if (!found) return 0;
  const std::int64_t value = found->integer();
  if (value < min || value > max) {
    fail_field(key, "must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " +
                        std::to_string(value));
    return 0;
  }
  return value;
}

std::string_view FieldReader::bytes(std::string_view key) {
  const auto found = require(key, Tag::bytes, "bytes");
  return found ? found->bytes() : std::string_view{};
}

double FieldReader::floating(std::string_view key) {
  const auto found = require(key, Tag::floating, "a float");
  return found ? found->floating() : 0.0;
}

bool FieldReader::boolean(std::string_view key) {
  const auto found = require(key, Tag::boolean, "a boolean");
  return found ? found->boolean() : false;
}

Value FieldReader::list(std::string_view key) {
  const auto found = require(key, Tag::list, "a list");
  return found ? *found : Value{};
}

Value FieldReader::dict(std::string_view key) {
  const auto found = require(key, Tag::dict, "a dict");
  return found ? *found : Value{};
}

}  // namespace vsr::tnet
