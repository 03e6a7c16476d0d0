// Proves the encoder's output byte for byte: it appends without clearing, closes nested
// containers with exact length prefixes, splices raw() encodings unchanged, round-trips
// 1 MiB payloads, and aborts on misuse (unbalanced or mismatched containers, a non-key
// where a key belongs, a dict closed after a key, non-finite floats, malformed raw input).

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "tnet_test_util.hpp"
#include "vsr/codec/tnetstring.hpp"

namespace vsr::tnet {
namespace {

TEST(TnetEncoder, AppendsWithoutClearing) {
  std::string out = "prefix|";
  Encoder encoder(out);
  encoder.bytes("ab");
  encoder.integer(-12);
  EXPECT_EQ(out, "prefix|2:ab,3:-12#");
  EXPECT_TRUE(encoder.complete());
}

TEST(TnetEncoder, NestedContainersExactBytes) {
  std::string out = "xx";  // containers opened at a non-zero offset
  Encoder encoder(out);
  encoder.begin_dict();
  encoder.key("list");
  encoder.begin_list();
  encoder.integer(1);
  encoder.begin_list();
  encoder.end_list();
  encoder.begin_dict();
  EXPECT_FALSE(encoder.complete());
  encoder.end_dict();
  encoder.end_list();
  encoder.key("t");
  encoder.boolean(true);
  encoder.end_dict();
  EXPECT_TRUE(encoder.complete());
  EXPECT_EQ(out, "xx32:4:list,10:1:1#0:]0:}]1:t,4:true!}");
  EXPECT_TRUE(decode(std::string_view(out).substr(2)).ok());
}

TEST(TnetEncoder, ContainerLengthsCrossDigitBoundaries) {
  // List payloads of every length up to 300 and a few far beyond: the header shrinks from
  // the reserved width to the real one and the payload moves with it.
  for (const std::size_t n : {0U, 1U, 5U, 6U, 7U, 94U, 95U, 96U, 300U, 9993U, 9994U, 123456U}) {
    const std::string item = test::tnet(std::string(n, 'p'), ',');
    std::string out = "@";
    Encoder encoder(out);
    encoder.begin_list();
    encoder.bytes(std::string(n, 'p'));
    encoder.end_list();
    EXPECT_EQ(out, "@" + test::tnet(item, ']')) << n;
  }
}

TEST(TnetEncoder, RawSplicesEncodedValues) {
  const std::string inner = "34:5:hello,22:11:12345678901#4:this,]}";
  const auto decoded = decode(inner);
  ASSERT_TRUE(decoded.ok());
  std::string out;
  Encoder encoder(out);
  encoder.begin_dict();
  encoder.raw("3:key,");  // a bytes encoding may stand as a key
  encoder.raw(decoded->encoded());
  encoder.key("n");
  encoder.raw(decoded->find("hello")->encoded());
  encoder.end_dict();
  const auto outer = decode(out);
  ASSERT_TRUE(outer.ok()) << outer.error().message();
  EXPECT_EQ(outer->find("key")->encoded(), inner);
  EXPECT_EQ(outer->find("n")->encoded(), "22:11:12345678901#4:this,]");
}

TEST(TnetEncoder, OneMebibyteBytesRoundTrip) {
  std::string payload(std::size_t{1} << 20, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 131);
  std::string out;
  Encoder encoder(out);
  encoder.bytes(payload);
  EXPECT_EQ(out.size(), 7 + 1 + payload.size() + 1);
  const auto decoded = decode(out);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->bytes(), payload);
  EXPECT_EQ(decoded->bytes().data(), out.data() + 8);  // a view, not a copy
}

TEST(TnetEncoder, OneMebibyteListRoundTrip) {
  const std::string item(100, 'r');
  std::string out;
  Encoder encoder(out);
  encoder.begin_dict();
  encoder.key("requests");
  encoder.begin_list();
  std::size_t count = 0;
  for (; out.size() < (std::size_t{1} << 20); ++count) encoder.bytes(item);
  encoder.end_list();
  encoder.end_dict();
  const auto decoded = decode(out);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message();
  const Value list = *decoded->find("requests");
  EXPECT_EQ(list.size(), count);
  for (const Value request : list.items()) ASSERT_EQ(request.bytes(), item);
}

TEST(TnetEncoder, KeyIsBytes) {
  std::string out;
  Encoder encoder(out);
  encoder.begin_dict();
  encoder.key("k");
  encoder.bytes("v");
  encoder.bytes("k2");  // a bytes value may stand as a key, too
  encoder.null();
  encoder.end_dict();
  EXPECT_EQ(out, "16:1:k,1:v,2:k2,0:~}");
}

using TnetEncoderDeathTest = ::testing::Test;

TEST_F(TnetEncoderDeathTest, MisuseAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::string out;
  EXPECT_DEATH(Encoder(out).end_list(), "never begun");
  EXPECT_DEATH(
      {
        Encoder e(out);
        e.begin_list();
        e.end_dict();
      },
      "does not match");
  EXPECT_DEATH(
      {
        Encoder e(out);
        e.begin_dict();
        e.integer(1);
      },
      "key must be bytes");
  EXPECT_DEATH(
      {
        Encoder e(out);
        e.begin_dict();
        e.begin_list();
      },
      "key must be bytes");
  EXPECT_DEATH(
      {
        Encoder e(out);
        e.begin_dict();
        e.key("k");
        e.end_dict();
      },
      "after a key");
  EXPECT_DEATH(Encoder(out).floating(std::numeric_limits<double>::quiet_NaN()), "finite");
  EXPECT_DEATH(Encoder(out).floating(std::numeric_limits<double>::infinity()), "finite");
  EXPECT_DEATH(Encoder(out).raw("3:ab,"), "exactly one");
  EXPECT_DEATH(Encoder(out).raw("0:~0:~"), "exactly one");
  EXPECT_DEATH(Encoder(out).raw("abc"), "header");
  EXPECT_DEATH(Encoder(out).raw(""), "header");
}

using TnetValueDeathTest = ::testing::Test;

TEST_F(TnetValueDeathTest, WrongTypeAccessAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const Value value = *decode("1:7#");
  EXPECT_DEATH((void)value.bytes(), "not bytes");
  EXPECT_DEATH((void)value.boolean(), "not a boolean");
  EXPECT_DEATH((void)value.floating(), "not a float");
  EXPECT_DEATH((void)value.items(), "not a list");
  EXPECT_DEATH((void)value.find("k"), "not a dict");
  EXPECT_DEATH((void)Value{}.integer(), "not an integer");
}

}  // namespace
}  // namespace vsr::tnet
