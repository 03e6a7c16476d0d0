#pragma once
// Helpers shared by the codec tests: error expectations, hostile-input builders and a
// structural equality of decoded values.

#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "vsr/codec/tnetstring.hpp"

namespace vsr::tnet::test {

/// A gtest assertion: decode(input) fails with exactly `code` at `offset`.
inline ::testing::AssertionResult fails_with(std::string_view input, Errc code, std::size_t offset,
                                             const Limits& limits = {}) {
  const auto result = decode(input, limits);
  if (result.ok()) {
    return ::testing::AssertionFailure()
           << "decoded, expected " << describe(code) << " at byte " << offset;
  }
  const Error expected{code, offset};
  if (result.error() == expected) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "got '" << result.error().message() << "', expected '" << expected.message() << "'";
}

/// Like fails_with, through decode_prefix.
inline ::testing::AssertionResult prefix_fails_with(std::string_view input, Errc code,
                                                    std::size_t offset, const Limits& limits = {}) {
  const auto result = decode_prefix(input, limits);
  if (result.ok()) return ::testing::AssertionFailure() << "decoded";
  const Error expected{code, offset};
  if (result.error() == expected) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "got '" << result.error().message() << "', expected '" << expected.message() << "'";
}

/// `LENGTH:payload TAG`.
inline std::string tnet(std::string_view payload, char tag) {
  return std::to_string(payload.size()) + ":" + std::string(payload) + tag;
}

/// `depth` lists nested in each other around an empty list, built in O(size) (wrapping a
/// string repeatedly would be quadratic). `starts` receives each list's start offset,
/// outermost first.
inline std::string nested_lists(std::size_t depth, std::vector<std::size_t>* starts = nullptr) {
  // lengths[i]: payload length of the list at nesting i (0 = outermost).
  std::vector<std::size_t> lengths(depth);
  std::size_t inner_encoded = 0;  // encoded size of the list inside the current one
  for (std::size_t i = depth; i-- > 0;) {
    lengths[i] = inner_encoded;
    inner_encoded = std::to_string(lengths[i]).size() + 1 + lengths[i] + 1;
  }
  std::string out;
  out.reserve(inner_encoded);
  for (std::size_t i = 0; i < depth; ++i) {
    if (starts != nullptr) starts->push_back(out.size());
    out += std::to_string(lengths[i]);
    out += ':';
  }
  out.append(depth, ']');
  return out;
}

/// True iff `a` and `b` hold the same data (floats bit for bit; ',' equals ';').
/// Recursive: only for values decoded with a small max_depth.
inline bool equivalent(const Value& a, const Value& b) {
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
      auto it = b.items().begin();
      for (const Value item : a.items()) {
        if (!equivalent(item, *it++)) return false;
      }
      return true;
    }
    case Tag::dict: {
      if (a.size() != b.size()) return false;
      auto it = b.entries().begin();
      for (const Entry entry : a.entries()) {
        const Entry other = *it++;
        if (entry.key != other.key || !equivalent(entry.value, other.value)) return false;
      }
      return true;
    }
    default:
      return true;  // null
  }
}

/// Encodes `value` again, structurally (not through raw()), text as bytes.
inline void reencode(const Value& value, Encoder& out) {
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

}  // namespace vsr::tnet::test
