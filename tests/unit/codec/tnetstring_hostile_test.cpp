// Proves that hostile input is rejected as a value, with the right Errc and byte offset,
// and never a crash, a hang or an allocation sized by a length field: truncation at every
// byte, bad length prefixes, lengths overrunning the input or their container, unknown
// tags, depth and element bombs, non-canonical scalars, invalid UTF-8, bad dict keys,
// duplicate keys (also in a million-key dict), and trailing bytes. A seeded mutation loop
// closes with random damage to valid encodings.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "tnet_test_util.hpp"
#include "vsr/codec/tnetstring.hpp"

namespace vsr::tnet {
namespace {

using test::fails_with;
using test::prefix_fails_with;

const std::vector<std::string>& valid_encodings() {
  static const std::vector<std::string> encodings = {
      "0:~",
      "5:hello,",
      "20:-9223372036854775808#",
      "3:1.5^",
      "5:false!",
      "34:5:hello,22:11:12345678901#4:this,]}",
      "26:1:a,15:3:0:],6:0:~0:~]]0:}]",
      test::nested_lists(12),
      "3:\xE2\x82\xAC;",
  };
  return encodings;
}

TEST(TnetHostile, ValidEncodingsDecode) {
  for (const std::string& encoding : valid_encodings()) {
    EXPECT_TRUE(decode(encoding).ok()) << encoding;
  }
}

TEST(TnetHostile, TruncatedAtEveryByte) {
  for (const std::string& encoding : valid_encodings()) {
    for (std::size_t cut = 0; cut < encoding.size(); ++cut) {
      const std::string_view prefix(encoding.data(), cut);
      EXPECT_TRUE(fails_with(prefix, Errc::truncated, cut)) << encoding << " cut at " << cut;
      EXPECT_TRUE(prefix_fails_with(prefix, Errc::truncated, cut)) << encoding << " at " << cut;
    }
  }
}

TEST(TnetHostile, LengthLargerThanTheInput) {
  EXPECT_TRUE(fails_with("5:abc,", Errc::truncated, 6));
  EXPECT_TRUE(fails_with("7:abc,", Errc::truncated, 6));
  EXPECT_TRUE(fails_with("4:abc,", Errc::truncated, 6));
  EXPECT_TRUE(fails_with("1000000:x,", Errc::truncated, 10));
}

TEST(TnetHostile, LengthOverrunningItsContainerIsPermanent) {
  // The container's length is final, so a child running past it is a bad length, not
  // "truncated" (which would make a stream reader wait for bytes that cannot help).
  EXPECT_TRUE(fails_with("5:5:ab,]", Errc::bad_length, 2));
  EXPECT_TRUE(fails_with("4:2:ab]", Errc::bad_length, 2));
  EXPECT_TRUE(fails_with("8:0:~3:ab,]", Errc::bad_length, 5));
  // The child's digits reach the container's end: no ':' where one must be.
  EXPECT_TRUE(fails_with("2:12]", Errc::missing_colon, 4));
}

TEST(TnetHostile, LengthPrefixSyntax) {
  EXPECT_TRUE(fails_with("03:abc,", Errc::bad_length, 0));
  EXPECT_TRUE(fails_with("00:,", Errc::bad_length, 0));
  EXPECT_TRUE(fails_with("+3:abc,", Errc::bad_length, 0));
  EXPECT_TRUE(fails_with("-3:abc,", Errc::bad_length, 0));
  EXPECT_TRUE(fails_with(" 3:abc,", Errc::bad_length, 0));
  EXPECT_TRUE(fails_with(":abc,", Errc::bad_length, 0));
  EXPECT_TRUE(fails_with("x", Errc::bad_length, 0));
  EXPECT_TRUE(fails_with("3 :abc,", Errc::missing_colon, 1));
  EXPECT_TRUE(fails_with("3a:abc,", Errc::missing_colon, 1));
  EXPECT_TRUE(fails_with("3,abc,", Errc::missing_colon, 1));
  // Inside a list, the same rules, at the child's offset.
  EXPECT_TRUE(fails_with("7:03:abc,]", Errc::bad_length, 2));
  EXPECT_TRUE(fails_with("6:+3:abc]", Errc::bad_length, 2));
  EXPECT_TRUE(fails_with("5: 3:ab]", Errc::bad_length, 2));
}

TEST(TnetHostile, LengthPrefixTooLong) {
  EXPECT_TRUE(fails_with("12345678901234567890:x,", Errc::length_too_large, 0));
  // Said before the ':' arrives, so a stream reader does not wait for it.
  EXPECT_TRUE(prefix_fails_with("12345678901234567890", Errc::length_too_large, 0));
  EXPECT_TRUE(prefix_fails_with("99999999", Errc::length_too_large, 0));
  EXPECT_TRUE(fails_with("4294967296:x,", Errc::length_too_large, 0));
  // With no size limit to speak of, 10 digits are still the most a prefix may have.
  Limits unbounded;
  unbounded.max_size = SIZE_MAX;
  EXPECT_TRUE(fails_with("12345678901:", Errc::length_too_large, 0, unbounded));
  EXPECT_TRUE(fails_with("9999999999:", Errc::truncated, 11, unbounded));
}

TEST(TnetHostile, UnknownTags) {
  EXPECT_TRUE(fails_with("3:abcX", Errc::unknown_tag, 5));
  EXPECT_TRUE(fails_with(std::string_view("0:\0", 3), Errc::unknown_tag, 2));
  EXPECT_TRUE(fails_with("4:1:aX]", Errc::unknown_tag, 5));
  for (const char tag : std::string("abc:{[0123456789 \n\"'")) {
    EXPECT_TRUE(fails_with(std::string("0:") + tag, Errc::unknown_tag, 2)) << tag;
  }
}

TEST(TnetHostile, DepthBombIsCutAtTheLimit) {
  std::vector<std::size_t> starts;
  const std::string bomb = test::nested_lists(100'000, &starts);
  EXPECT_TRUE(fails_with(bomb, Errc::too_deep, starts[32]));
  // With the limit lifted, validation still uses no C++ stack per level.
  Limits deep;
  deep.max_depth = 100'000;
  EXPECT_TRUE(decode(bomb, deep).ok());
  deep.max_depth = 99'999;
  EXPECT_TRUE(fails_with(bomb, Errc::too_deep, starts[99'999], deep));
}

TEST(TnetHostile, NestedDictBomb) {
  std::string bomb;
  Encoder encoder(bomb);
  for (int i = 0; i < 1000; ++i) {
    encoder.begin_dict();
    encoder.key("k");
  }
  encoder.null();
  for (int i = 0; i < 1000; ++i) encoder.end_dict();
  Limits deep;
  deep.max_depth = 1000;
  const auto decoded = decode(bomb, deep);
  ASSERT_TRUE(decoded.ok());
  Value level = *decoded;
  for (int i = 0; i < 32; ++i) level = *level.find("k");
  const auto offset = static_cast<std::size_t>(level.encoded().data() - bomb.data());
  EXPECT_TRUE(fails_with(bomb, Errc::too_deep, offset));
}

TEST(TnetHostile, ElementBombIsCutAtTheLimit) {
  std::string list;
  Encoder encoder(list);
  encoder.begin_list();
  for (int i = 0; i < 1'000'001; ++i) encoder.null();
  encoder.end_list();
  // "3000003:" then one "0:~" per item: item 1'000'001 starts after 1'000'000 of them.
  EXPECT_TRUE(fails_with(list, Errc::too_many_elements, 8 + 3 * 1'000'000));
  list.resize(8 + 3 * 1'000'000);
  list.replace(0, 8, "3000000:");
  list.push_back(']');
  EXPECT_TRUE(decode(list).ok());
}

std::string dict_of_keys(const std::vector<std::string>& keys, std::vector<std::size_t>* starts) {
  std::string out;
  Encoder encoder(out);
  encoder.begin_dict();
  for (const std::string& key : keys) {
    encoder.key(key);
    encoder.null();
  }
  encoder.end_dict();
  // Key offsets: header digits and ':' then entries of key and "0:~".
  std::size_t offset = out.find(':') + 1;
  for (const std::string& key : keys) {
    starts->push_back(offset);
    offset += test::tnet(key, ',').size() + 3;
  }
  return out;
}

TEST(TnetHostile, DuplicateKeysSmallDict) {
  EXPECT_TRUE(fails_with("14:1:a,0:~1:a,0:~}", Errc::duplicate_key, 10));
  // ';' and ',' keys are both bytes: the same key.
  EXPECT_TRUE(fails_with("14:1:a,0:~1:a;0:~}", Errc::duplicate_key, 10));
  // The earliest key that repeats an earlier one is reported.
  std::vector<std::size_t> starts;
  const std::string dict = dict_of_keys({"a", "b", "c", "b", "a"}, &starts);
  EXPECT_TRUE(fails_with(dict, Errc::duplicate_key, starts[3]));
  // Keys that differ only in length or a late byte are distinct.
  EXPECT_TRUE(decode(dict_of_keys({"a", "aa", "", "ab", "ba"}, &starts)).ok());
}

TEST(TnetHostile, DuplicateKeysLargeDictSameRule) {
  std::vector<std::string> keys;
  for (int i = 0; i < 20; ++i) keys.push_back("k" + std::to_string(i));
  keys[15] = "k1";
  keys[10] = "k5";
  std::vector<std::size_t> starts;
  const std::string dict = dict_of_keys(keys, &starts);
  EXPECT_TRUE(fails_with(dict, Errc::duplicate_key, starts[10]));
}

TEST(TnetHostile, MillionKeyDictIsCheckedWithoutQuadraticCost) {
  std::vector<std::string> keys;
  keys.reserve(1'000'000);
  char key[16];
  for (int i = 0; i < 999'999; ++i) {
    std::snprintf(key, sizeof key, "k%06d", i);
    keys.emplace_back(key);
  }
  std::vector<std::size_t> starts;
  EXPECT_TRUE(decode(dict_of_keys(keys, &starts)).ok());
  keys.emplace_back("k000000");
  starts.clear();
  const std::string dict = dict_of_keys(keys, &starts);
  EXPECT_TRUE(fails_with(dict, Errc::duplicate_key, starts.back()));
}

TEST(TnetHostile, NonBytesDictKeys) {
  EXPECT_TRUE(fails_with("8:1:1#1:a,}", Errc::bad_dict_key, 2));
  EXPECT_TRUE(fails_with("6:0:]0:~}", Errc::bad_dict_key, 2));
  EXPECT_TRUE(fails_with("6:0:~0:~}", Errc::bad_dict_key, 2));
  EXPECT_TRUE(fails_with("6:0:}0:~}", Errc::bad_dict_key, 2));
  EXPECT_TRUE(fails_with("10:4:true!0:~}", Errc::bad_dict_key, 3));
  EXPECT_TRUE(fails_with("14:1:a,0:~1:1#0:~}", Errc::bad_dict_key, 10));
}

TEST(TnetHostile, DictKeyWithoutValue) {
  EXPECT_TRUE(fails_with("4:1:a,}", Errc::missing_dict_value, 6));
  EXPECT_TRUE(fails_with("11:1:a,0:~1:b,}", Errc::missing_dict_value, 14));
  EXPECT_TRUE(fails_with("10:4:1:a,}0:~]", Errc::missing_dict_value, 9));
}

TEST(TnetHostile, NonCanonicalIntegers) {
  for (const char* payload : {"01", "-0", "+1", "", "-", "00", "-01", " 1", "1 ", "1.0", "1e3",
                              "0x1", "--1", "1-", "a"}) {
    EXPECT_TRUE(fails_with(test::tnet(payload, '#'), Errc::bad_integer,
                           std::to_string(std::string_view(payload).size()).size() + 1))
        << payload;
  }
}

TEST(TnetHostile, IntegersOutOfRange) {
  EXPECT_TRUE(fails_with("19:9223372036854775808#", Errc::integer_out_of_range, 3));
  EXPECT_TRUE(fails_with("20:-9223372036854775809#", Errc::integer_out_of_range, 3));
  EXPECT_TRUE(fails_with("20:18446744073709551616#", Errc::integer_out_of_range, 3));
  EXPECT_TRUE(fails_with(test::tnet(std::string(300, '9'), '#'), Errc::integer_out_of_range, 4));
}

TEST(TnetHostile, BadFloats) {
  for (const char* payload : {"", "nan", "NaN", "inf", "-inf", "infinity", "+1.5", " 1.5", "1.5 ",
                              "1e999", "-1e999", "1e-400", "0x1p3", ".", "e5", "1,5", "--1"}) {
    EXPECT_TRUE(fails_with(test::tnet(payload, '^'), Errc::bad_float,
                           std::to_string(std::string_view(payload).size()).size() + 1))
        << payload;
  }
}

TEST(TnetHostile, BadBooleans) {
  for (const char* payload : {"", "True", "TRUE", "yes", "1", "0", "truee", "fals", " true"}) {
    EXPECT_TRUE(fails_with(test::tnet(payload, '!'), Errc::bad_boolean, 2)) << payload;
  }
}

TEST(TnetHostile, NonEmptyNull) {
  EXPECT_TRUE(fails_with("1:x~", Errc::bad_null, 2));
  EXPECT_TRUE(fails_with("4:null~", Errc::bad_null, 2));
  EXPECT_TRUE(fails_with("4:1: ~]", Errc::bad_null, 4));
}

TEST(TnetHostile, InvalidUtf8Text) {
  struct Case {
    std::string payload;
    std::size_t bad;  // index of the first invalid byte in the payload
  };
  const Case cases[] = {
      {"\xff", 0},
      {"\x80", 0},              // lone continuation byte
      {"ab\xff\x41", 2},        // offset points at the bad byte
      {"\xc0\x80", 0},          // overlong NUL
      {"\xc1\xbf", 0},          // overlong
      {"\xe0\x80\x80", 0},      // overlong 3-byte
      {"\xed\xa0\x80", 0},      // UTF-16 surrogate
      {"\xf0\x80\x80\x80", 0},  // overlong 4-byte
      {"\xf4\x90\x80\x80", 0},  // above U+10FFFF
      {"\xf5\x80\x80\x80", 0},  // lead byte never valid
      {"\xe2\x82", 0},          // sequence cut short by the end
      {"x\xe2\x82y", 1},        // sequence cut short by an ASCII byte
      {"\xe2\x82\xac\xe2\x28\xa1", 3},
  };
  for (const Case& c : cases) {
    const std::string encoding = test::tnet(c.payload, ';');
    EXPECT_TRUE(
        fails_with(encoding, Errc::bad_text, std::to_string(c.payload.size()).size() + 1 + c.bad))
        << encoding;
    // The same bytes are fine as ','.
    EXPECT_TRUE(decode(test::tnet(c.payload, ',')).ok());
  }
}

TEST(TnetHostile, TrailingBytes) {
  EXPECT_TRUE(fails_with("0:~x", Errc::trailing_bytes, 3));
  EXPECT_TRUE(fails_with("0:~0:~", Errc::trailing_bytes, 3));
  EXPECT_TRUE(fails_with("3:abc,\n", Errc::trailing_bytes, 6));
  const auto prefix = decode_prefix("3:abc,\n1:x");
  ASSERT_TRUE(prefix.ok());
  EXPECT_EQ(prefix->consumed, 6U);
  EXPECT_EQ(prefix->value.bytes(), "abc");
}

TEST(TnetHostile, EmptyInput) {
  EXPECT_TRUE(fails_with("", Errc::truncated, 0));
  EXPECT_TRUE(prefix_fails_with("", Errc::truncated, 0));
}

TEST(TnetHostile, ErrorsInsideNestingCarryAbsoluteOffsets) {
  // {"a": [1, 01]}: the bad integer's payload starts at byte 15.
  EXPECT_TRUE(fails_with("16:1:a,9:1:1#2:01#]}", Errc::bad_integer, 15));
}

// Random damage to valid encodings: every outcome is a value; whatever decodes re-encodes
// to something that decodes to the same data.
TEST(TnetHostile, SeededMutationsNeverCrash) {
  std::mt19937_64 rng(20240601);
  Limits small;
  small.max_depth = 16;
  small.max_elements = 1000;
  small.max_size = 4096;
  std::size_t decoded = 0;
  for (int round = 0; round < 20000; ++round) {
    const auto& sources = valid_encodings();
    std::string input = sources[rng() % sources.size()];
    for (std::uint64_t edits = 1 + rng() % 3; edits > 0; --edits) {
      const std::size_t at = input.empty() ? 0 : rng() % input.size();
      switch (rng() % 4) {
        case 0:
          if (!input.empty()) input[at] = static_cast<char>(rng());
          break;
        case 1:
          if (!input.empty()) input.erase(at, 1);
          break;
        case 2:
          input.insert(at, 1, "0123456789:,;#^!~]}"[rng() % 19]);
          break;
        default:
          input.resize(at);
          break;
      }
    }
    const auto result = decode(input, small);
    if (!result.ok()) {
      EXPECT_LE(result.error().offset, input.size()) << input;
      continue;
    }
    ++decoded;
    std::string again;
    Encoder encoder(again);
    test::reencode(*result, encoder);
    const auto redecoded = decode(again, small);
    ASSERT_TRUE(redecoded.ok()) << again;
    ASSERT_TRUE(test::equivalent(*result, *redecoded)) << input;
  }
  EXPECT_GT(decoded, 0U);
}

}  // namespace
}  // namespace vsr::tnet
