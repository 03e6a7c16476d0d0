// Fuzz target `tnetstring`: the tnetstring decoder. Proves, for arbitrary bytes, that decoding
// returns a value or an error and never crashes, hangs or trips a sanitizer; that decode()
// and decode_prefix() agree; and, for every value that decodes, the differential
// round-trip property: re-encoding it structurally and decoding again gives an equivalent
// value, re-encoding that gives the same bytes again (the encoding is a fixpoint), and
// splicing the original encoding with Encoder::raw() preserves it. Any mismatch aborts.
//
// Limits are small so that the fuzzer explores the edges of every bound.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include "targets.hpp"
#include "vsr/codec/tnetstring.hpp"

namespace {

using vsr::tnet::Encoder;
using vsr::tnet::Entry;
using vsr::tnet::Limits;
using vsr::tnet::Tag;
using vsr::tnet::Value;

constexpr Limits fuzz_limits() {
  Limits limits;
  limits.max_size = 1 << 16;
  limits.max_elements = 4096;
  limits.max_depth = 16;
  return limits;
}

// Re-encoding can grow a value (the float "1e9" becomes "1000000000"), so the second
// decode lifts the size bound; depth and element counts are preserved exactly.
constexpr Limits reencoded_limits() {
  Limits limits = fuzz_limits();
  limits.max_size = std::numeric_limits<std::size_t>::max();
  return limits;
}

// Recursion is bounded by fuzz_limits().max_depth.
void reencode(const Value& value, Encoder& out) {
  switch (value.tag()) {
    case Tag::bytes:
    case Tag::text:
      out.bytes(value.bytes());
      break;
    case Tag::integer:
      out.integer(value.integer());
      break;
    case Tag::floating:
      out.floating(value.floating());
      break;
    case Tag::boolean:
      out.boolean(value.boolean());
      break;
    case Tag::null:
      out.null();
      break;
    case Tag::list:
      out.begin_list();
      for (const Value item : value.items()) reencode(item, out);
      out.end_list();
      break;
    case Tag::dict:
      out.begin_dict();
      for (const Entry entry : value.entries()) {
        out.key(entry.key);
        reencode(entry.value, out);
      }
      out.end_dict();
      break;
  }
}

// Same data: ',' equals ';', floats bit for bit. Also exercises size(), find() and the
// iterators of both sides.
bool equivalent(const Value& a, const Value& b) {
  if (a.is_bytes() || b.is_bytes()) return a.is_bytes() && b.is_bytes() && a.bytes() == b.bytes();
  if (a.tag() != b.tag()) return false;
  switch (a.tag()) {
    case Tag::integer:
      return a.integer() == b.integer();
    case Tag::floating: {
      const double x = a.floating();
      const double y = b.floating();
      return std::memcmp(&x, &y, sizeof x) == 0;
    }
    case Tag::boolean:
      return a.boolean() == b.boolean();
    case Tag::list: {
      if (a.size() != b.size()) return false;
      std::size_t count = 0;
      auto it = b.items().begin();
      for (const Value item : a.items()) {
        if (it == b.items().end() || !equivalent(item, *it)) return false;
        ++it;
        ++count;
      }
      return it == b.items().end() && count == a.size();
    }
    case Tag::dict: {
      if (a.size() != b.size()) return false;
      std::size_t count = 0;
      auto it = b.entries().begin();
      std::size_t cursor = 0;
      for (const Entry entry : a.entries()) {
        if (it == b.entries().end()) return false;
        const Entry other = *it;
        if (entry.key != other.key || !equivalent(entry.value, other.value)) return false;
        // Keys are unique, so find() must land on this very entry, and so must find_from()
        // walking the entries in order.
        const auto found = a.find(entry.key);
        if (!found || found->encoded().data() != entry.value.encoded().data()) return false;
        const auto next = a.find_from(entry.key, cursor);
        if (!next || next->encoded().data() != entry.value.encoded().data()) return false;
        ++it;
        ++count;
      }
      return it == b.entries().end() && count == a.size();
    }
    case Tag::null:
    case Tag::bytes:
    case Tag::text:
      break;
  }
  return true;
}

}  // namespace

namespace vsr::fuzz {

int tnetstring(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = as_text(data, size);
  const auto prefix = vsr::tnet::decode_prefix(input, fuzz_limits());
  const auto whole = vsr::tnet::decode(input, fuzz_limits());

  if (!prefix.ok()) {
    FUZZ_CHECK("tnetstring", prefix.error().offset <= size);
    FUZZ_CHECK("tnetstring", !whole.ok() && whole.error() == prefix.error());
    FUZZ_CHECK("tnetstring", prefix.error().message().find(" at byte ") != std::string::npos);
    return 0;
  }
  const Value value = prefix->value;
  FUZZ_CHECK("tnetstring", prefix->consumed > 0 && prefix->consumed <= size);
  FUZZ_CHECK("tnetstring", value.encoded().data() == input.data());
  FUZZ_CHECK("tnetstring", value.encoded().size() == prefix->consumed);
  if (prefix->consumed == size) {
    FUZZ_CHECK("tnetstring", whole.ok() && whole->encoded() == value.encoded());
  } else {
    FUZZ_CHECK("tnetstring", !whole.ok() && whole.error().code == vsr::tnet::Errc::trailing_bytes &&
                                 whole.error().offset == prefix->consumed);
  }

  // Differential round trip through the encoder.
  std::string first;
  Encoder encoder(first);
  reencode(value, encoder);
  FUZZ_CHECK("tnetstring", encoder.complete());
  const auto again = vsr::tnet::decode(first, reencoded_limits());
  FUZZ_CHECK("tnetstring", again.ok());
  FUZZ_CHECK("tnetstring", equivalent(value, *again));

  std::string second;
  Encoder fixpoint(second);
  reencode(*again, fixpoint);
  FUZZ_CHECK("tnetstring", second == first);

  // raw() splices the original bytes unchanged.
  std::string spliced;
  Encoder splicer(spliced);
  splicer.begin_list();
  splicer.raw(value.encoded());
  splicer.end_list();
  Limits one_deeper = reencoded_limits();
  one_deeper.max_depth += 1;
  one_deeper.max_elements += 1;
  const auto list = vsr::tnet::decode(spliced, one_deeper);
  FUZZ_CHECK("tnetstring", list.ok() && list->size() == 1);
  FUZZ_CHECK("tnetstring", (*list->items().begin()).encoded() == value.encoded());
  return 0;
}

}  // namespace vsr::fuzz
