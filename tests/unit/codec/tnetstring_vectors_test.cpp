// Proves that the decoder reads hand-written tnetstrings from the tnetstring spec exactly:
// every type, the empty value of each type, integer extremes, floats, booleans, ';' text
// read as bytes, and nesting, with payloads viewed in place (not copied).

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "tnet_test_util.hpp"
#include "vsr/codec/tnetstring.hpp"

namespace vsr::tnet {
namespace {

Value must_decode(std::string_view input) {
  auto result = decode(input);
  EXPECT_TRUE(result.ok()) << input << ": " << result.error().message();
  return result.ok() ? *result : Value{};
}

TEST(TnetVectors, EmptyValueOfEachType) {
  const Value bytes = must_decode("0:,");
  EXPECT_TRUE(bytes.is_bytes());
  EXPECT_EQ(bytes.bytes(), "");

  const Value list = must_decode("0:]");
  ASSERT_TRUE(list.is_list());
  EXPECT_EQ(list.size(), 0U);
  EXPECT_EQ(list.items().begin(), list.items().end());

  const Value dict = must_decode("0:}");
  ASSERT_TRUE(dict.is_dict());
  EXPECT_EQ(dict.size(), 0U);
  EXPECT_EQ(dict.entries().begin(), dict.entries().end());
  EXPECT_FALSE(dict.find("").has_value());

  const Value null = must_decode("0:~");
  EXPECT_TRUE(null.is_null());
  EXPECT_EQ(null.tag(), Tag::null);
}

TEST(TnetVectors, BytesAreViewsIntoTheInput) {
  const std::string input = "5:hello,";
  const Value value = must_decode(input);
  EXPECT_EQ(value.bytes(), "hello");
  EXPECT_EQ(value.bytes().data(), input.data() + 2);
  EXPECT_EQ(value.payload().data(), input.data() + 2);
  EXPECT_EQ(value.encoded().data(), input.data());
  EXPECT_EQ(value.encoded().size(), input.size());
}

TEST(TnetVectors, BytesMayHoldAnyOctet) {
  const std::string payload("a\0:,]}\xff", 7);
  const std::string encoding = test::tnet(payload, ',');
  const Value value = must_decode(encoding);
  EXPECT_EQ(value.bytes(), payload);
}

TEST(TnetVectors, Integers) {
  EXPECT_EQ(must_decode("1:0#").integer(), 0);
  EXPECT_EQ(must_decode("2:42#").integer(), 42);
  EXPECT_EQ(must_decode("2:-5#").integer(), -5);
  EXPECT_EQ(must_decode("11:12345678901#").integer(), 12345678901);
  EXPECT_EQ(must_decode("19:9223372036854775807#").integer(),
            std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(must_decode("20:-9223372036854775808#").integer(),
            std::numeric_limits<std::int64_t>::min());
}

TEST(TnetVectors, Floats) {
  EXPECT_EQ(must_decode("3:1.5^").floating(), 1.5);
  EXPECT_EQ(must_decode("4:-2.5^").floating(), -2.5);
  EXPECT_EQ(must_decode("1:0^").floating(), 0.0);
  EXPECT_TRUE(std::signbit(must_decode("2:-0^").floating()));
  EXPECT_EQ(must_decode("5:1e300^").floating(), 1e300);
  EXPECT_EQ(must_decode("6:1.5e-3^").floating(), 1.5e-3);
  EXPECT_EQ(must_decode("6:1E+100^").floating(), 1e100);
  EXPECT_EQ(must_decode("19:0.30000000000000004^").floating(), 0.1 + 0.2);
}

TEST(TnetVectors, Booleans) {
  EXPECT_TRUE(must_decode("4:true!").boolean());
  EXPECT_FALSE(must_decode("5:false!").boolean());
}

TEST(TnetVectors, TextIsAcceptedAsBytes) {
  const Value text = must_decode("5:hello;");
  EXPECT_TRUE(text.is_bytes());
  EXPECT_EQ(text.tag(), Tag::text);
  EXPECT_EQ(text.bytes(), "hello");
  EXPECT_EQ(must_decode("0:;").bytes(), "");
  EXPECT_EQ(must_decode("3:\xE2\x82\xAC;").bytes(), "\xE2\x82\xAC");          // U+20AC
  EXPECT_EQ(must_decode("4:\xF0\x9F\x98\x80;").bytes(), "\xF0\x9F\x98\x80");  // U+1F600
  EXPECT_EQ(must_decode("4:\xF4\x8F\xBF\xBF;").bytes(), "\xF4\x8F\xBF\xBF");  // U+10FFFF
  EXPECT_EQ(must_decode("3:\xEF\xBF\xBF;").bytes(), "\xEF\xBF\xBF");          // U+FFFF
}

// The example of the tnetstring spec: {"hello": [12345678901, "this"]}.
TEST(TnetVectors, SpecExampleDict) {
  const Value dict = must_decode("34:5:hello,22:11:12345678901#4:this,]}");
  ASSERT_TRUE(dict.is_dict());
  ASSERT_EQ(dict.size(), 1U);
  const auto hello = dict.find("hello");
  ASSERT_TRUE(hello.has_value());
  ASSERT_TRUE(hello->is_list());
  ASSERT_EQ(hello->size(), 2U);
  std::vector<Value> items(hello->items().begin(), hello->items().end());
  ASSERT_EQ(items.size(), 2U);
  EXPECT_EQ(items[0].integer(), 12345678901);
  EXPECT_EQ(items[1].bytes(), "this");
  EXPECT_FALSE(dict.find("this").has_value());
}

TEST(TnetVectors, MixedListKeepsOrderAndTypes) {
  const std::string input = "29:0:,1:7#3:1.5^4:true!0:~0:]0:}]";
  const Value list = must_decode(input);
  ASSERT_EQ(list.size(), 7U);
  std::vector<Tag> tags;
  for (const Value item : list.items()) tags.push_back(item.tag());
  EXPECT_EQ(tags, (std::vector<Tag>{Tag::bytes, Tag::integer, Tag::floating, Tag::boolean,
                                    Tag::null, Tag::list, Tag::dict}));
}

TEST(TnetVectors, DictEntriesInEncodedOrderWithTextKeys) {
  const Value dict = must_decode("23:1:b,1:2#1:a;1:1#1:c,0:~}");
  ASSERT_EQ(dict.size(), 3U);
  std::vector<std::string_view> keys;
  for (const Entry entry : dict.entries()) keys.push_back(entry.key);
  EXPECT_EQ(keys, (std::vector<std::string_view>{"b", "a", "c"}));
  EXPECT_EQ(dict.find("a")->integer(), 1);
  EXPECT_EQ(dict.find("b")->integer(), 2);
  EXPECT_TRUE(dict.find("c")->is_null());
}

TEST(TnetVectors, FindMatchesKeysNotValues) {
  // {"a": "b", "l": ["b"], "b": 1}: find("b") must skip the value "b" and the list.
  const Value dict = must_decode("27:1:a,1:b,1:l,4:1:b,]1:b,1:1#}");
  ASSERT_EQ(dict.size(), 3U);
  EXPECT_EQ(dict.find("b")->integer(), 1);
  EXPECT_EQ(dict.find("a")->bytes(), "b");
  EXPECT_EQ(dict.find("l")->size(), 1U);
  EXPECT_FALSE(dict.find("1").has_value());
  EXPECT_FALSE(dict.find("").has_value());
}

TEST(TnetVectors, FindFromFindsEveryKeyInAnyOrder) {
  // {"a": "b", "l": ["b"], "b": 1}: in encoded order each lookup starts at the cursor; out
  // of order, repeated, or missing keys fall back to the whole dict.
  const Value dict = must_decode("27:1:a,1:b,1:l,4:1:b,]1:b,1:1#}");
  const std::vector<std::vector<std::string_view>> orders = {
      {"a", "l", "b"}, {"b", "l", "a"}, {"l", "a", "b", "b", "a"}, {"b", "x", "a", "l"}};
  for (const auto& order : orders) {
    std::size_t cursor = 0;
    for (const std::string_view key : order) {
      const auto found = dict.find_from(key, cursor);
      if (key == "x") {
        EXPECT_FALSE(found.has_value());
        continue;
      }
      ASSERT_TRUE(found.has_value()) << key;
      EXPECT_EQ(found->encoded(), dict.find(key)->encoded()) << key;
    }
  }
}

TEST(TnetVectors, NestedContainerSizesAndEncodedViews) {
  const std::string input = "26:1:a,15:3:0:],6:0:~0:~]]0:}]";
  const Value outer = must_decode(input);
  ASSERT_EQ(outer.size(), 3U);
  auto it = outer.items().begin();
  EXPECT_EQ((*it).bytes(), "a");
  ++it;
  const Value inner = *it;
  ASSERT_TRUE(inner.is_list());
  EXPECT_EQ(inner.size(), 2U);
  EXPECT_EQ(inner.encoded(), "15:3:0:],6:0:~0:~]]");
  EXPECT_EQ(inner.payload(), "3:0:],6:0:~0:~]");
  it++;
  EXPECT_TRUE((*it).is_dict());
  ++it;
  EXPECT_EQ(it, outer.items().end());
}

TEST(TnetVectors, DecodePrefixReportsConsumedBytes) {
  const std::string stream = "1:a,2:bc,0:~";
  std::string_view rest = stream;
  std::vector<Tag> tags;
  while (!rest.empty()) {
    auto prefix = decode_prefix(rest);
    ASSERT_TRUE(prefix.ok()) << prefix.error().message();
    tags.push_back(prefix->value.tag());
    rest.remove_prefix(prefix->consumed);
  }
  EXPECT_EQ(tags, (std::vector<Tag>{Tag::bytes, Tag::bytes, Tag::null}));
}

TEST(TnetVectors, ErrorMessagesNameCodeAndOffset) {
  EXPECT_EQ((Error{Errc::bad_length, 3}).message(), "bad length prefix at byte 3");
  EXPECT_STREQ(describe(Errc::truncated), "truncated input");
  for (int code = 0; code <= static_cast<int>(Errc::trailing_bytes); ++code) {
    EXPECT_STRNE(describe(static_cast<Errc>(code)), "unknown error") << code;
  }
}

}  // namespace
}  // namespace vsr::tnet
