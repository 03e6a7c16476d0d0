// Proves that encode then decode gives back every type, the extremes of each, and every
// nesting of lists and dicts; and that decode then re-encode is the identity on canonical
// encodings, over thousands of seeded random values.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tnet_test_util.hpp"
#include "vsr/codec/tnetstring.hpp"

namespace vsr::tnet {
namespace {

template <class Write>
Value encode_decode(std::string& buffer, Write write) {
  buffer.clear();
  Encoder encoder(buffer);
  write(encoder);
  EXPECT_TRUE(encoder.complete());
  auto result = decode(buffer);
  EXPECT_TRUE(result.ok()) << buffer << ": " << result.error().message();
  return result.ok() ? *result : Value{};
}

TEST(TnetRoundTrip, Bytes) {
  std::string buffer;
  for (const std::string& payload :
       {std::string(), std::string("x"), std::string("hello world"), std::string("1:a,]}~#^!;"),
        std::string("\0\xff\x80", 3), std::string(1000, 'z')}) {
    const Value value = encode_decode(buffer, [&](Encoder& e) { e.bytes(payload); });
    EXPECT_EQ(value.tag(), Tag::bytes);
    EXPECT_EQ(value.bytes(), payload);
  }
}

TEST(TnetRoundTrip, Integers) {
  std::string buffer;
  const std::int64_t min = std::numeric_limits<std::int64_t>::min();
  const std::int64_t max = std::numeric_limits<std::int64_t>::max();
  for (const std::int64_t n :
       {std::int64_t{0}, std::int64_t{1}, std::int64_t{-1}, std::int64_t{9}, std::int64_t{10},
        std::int64_t{-10}, std::int64_t{12345678901}, min, min + 1, max, max - 1}) {
    const Value value = encode_decode(buffer, [&](Encoder& e) { e.integer(n); });
    EXPECT_EQ(value.integer(), n);
  }
  EXPECT_EQ(buffer, "19:9223372036854775806#");
}

TEST(TnetRoundTrip, FloatsBitForBit) {
  std::string buffer;
  const double values[] = {0.0,
                           -0.0,
                           1.0,
                           -1.5,
                           0.1,
                           1.0 / 3.0,
                           1e300,
                           -1e-300,
                           std::numeric_limits<double>::max(),
                           std::numeric_limits<double>::lowest(),
                           std::numeric_limits<double>::min(),
                           std::numeric_limits<double>::denorm_min(),
                           std::numeric_limits<double>::epsilon(),
                           123456789.125};
  for (const double d : values) {
    const Value value = encode_decode(buffer, [&](Encoder& e) { e.floating(d); });
    ASSERT_TRUE(value.is_float()) << buffer;
    const double got = value.floating();
    EXPECT_EQ(std::memcmp(&d, &got, sizeof d), 0) << buffer;
  }
}

TEST(TnetRoundTrip, FloatsUseTheShortestForm) {
  std::string buffer;
  Encoder encoder(buffer);
  encoder.floating(0.1);
  encoder.floating(1.0);
  encoder.floating(1e300);
  EXPECT_EQ(buffer, "3:0.1^1:1^6:1e+300^");
}

TEST(TnetRoundTrip, BooleansAndNull) {
  std::string buffer;
  EXPECT_TRUE(encode_decode(buffer, [](Encoder& e) { e.boolean(true); }).boolean());
  EXPECT_EQ(buffer, "4:true!");
  EXPECT_FALSE(encode_decode(buffer, [](Encoder& e) { e.boolean(false); }).boolean());
  EXPECT_EQ(buffer, "5:false!");
  EXPECT_TRUE(encode_decode(buffer, [](Encoder& e) { e.null(); }).is_null());
  EXPECT_EQ(buffer, "0:~");
}

TEST(TnetRoundTrip, EmptyContainers) {
  std::string buffer;
  EXPECT_EQ(encode_decode(buffer,
                          [](Encoder& e) {
                            e.begin_list();
                            e.end_list();
                          })
                .size(),
            0U);
  EXPECT_EQ(buffer, "0:]");
  EXPECT_EQ(encode_decode(buffer,
                          [](Encoder& e) {
                            e.begin_dict();
                            e.end_dict();
                          })
                .size(),
            0U);
  EXPECT_EQ(buffer, "0:}");
}

TEST(TnetRoundTrip, EveryNestingOfListsAndDicts) {
  // Each pair (outer, inner) of container kinds, three levels deep, with a scalar of each
  // type at every level.
  std::string buffer;
  for (const bool outer_dict : {false, true}) {
    for (const bool inner_dict : {false, true}) {
      const Value value = encode_decode(buffer, [&](Encoder& e) {
        const auto open = [&](bool dict) { dict ? e.begin_dict() : e.begin_list(); };
        const auto close = [&](bool dict) { dict ? e.end_dict() : e.end_list(); };
        const auto key = [&](bool dict, const char* k) {
          if (dict) e.key(k);
        };
        open(outer_dict);
        key(outer_dict, "n");
        e.integer(-7);
        key(outer_dict, "inner");
        open(inner_dict);
        key(inner_dict, "f");
        e.floating(2.5);
        key(inner_dict, "deepest");
        open(outer_dict);
        key(outer_dict, "b");
        e.boolean(true);
        key(outer_dict, "z");
        e.null();
        close(outer_dict);
        close(inner_dict);
        key(outer_dict, "s");
        e.bytes("tail");
        close(outer_dict);
      });
      std::string again;
      Encoder encoder(again);
      test::reencode(value, encoder);
      EXPECT_EQ(again, buffer);
      ASSERT_EQ(value.size(), 3U);
      const Value inner = outer_dict ? *value.find("inner") : *++value.items().begin();
      ASSERT_EQ(inner.is_dict(), inner_dict);
      EXPECT_EQ(inner.size(), 2U);
    }
  }
  EXPECT_EQ(buffer,
            "74:1:n,2:-7#5:inner,42:1:f,3:2.5^7:deepest,18:1:b,4:true!1:z,0:~}}1:s,4:tail,}");
}

// Random values: encode, decode, re-encode; the two encodings must be equal byte for byte.
class RandomValue {
 public:
  explicit RandomValue(std::uint64_t seed) : rng_(seed) {}

  void write(Encoder& e, int depth) {
    switch (pick(depth < 5 ? 8 : 6)) {
      case 0:
        e.bytes(random_bytes());
        break;
      case 1:
        e.integer(static_cast<std::int64_t>(rng_()));
        break;
      case 2: {
        double d = 0;
        do {
          const std::uint64_t bits = rng_();
          std::memcpy(&d, &bits, sizeof d);
        } while (!std::isfinite(d));
        e.floating(d);
        break;
      }
      case 3:
        e.boolean(pick(2) == 0);
        break;
      case 4:
        e.null();
        break;
      case 5:
        e.integer(static_cast<std::int64_t>(pick(100)) - 50);
        break;
      case 6: {
        e.begin_list();
        for (std::size_t n = pick(6); n > 0; --n) write(e, depth + 1);
        e.end_list();
        break;
      }
      default: {
        e.begin_dict();
        for (std::size_t n = pick(6); n > 0; --n) {
          e.key("k" + std::to_string(n));
          write(e, depth + 1);
        }
        e.end_dict();
        break;
      }
    }
  }

 private:
  std::size_t pick(std::size_t n) { return static_cast<std::size_t>(rng_() % n); }
  std::string random_bytes() {
    std::string s(pick(20), '\0');
    for (char& c : s) c = static_cast<char>(pick(256));
    return s;
  }
  std::mt19937_64 rng_;
};

TEST(TnetRoundTrip, RandomValuesReencodeIdentically) {
  for (std::uint64_t seed = 1; seed <= 2000; ++seed) {
    std::string first;
    Encoder encoder(first);
    RandomValue(seed).write(encoder, 0);
    ASSERT_TRUE(encoder.complete());
    auto decoded = decode(first);
    ASSERT_TRUE(decoded.ok()) << "seed " << seed << ": " << decoded.error().message();
    std::string second;
    Encoder again(second);
    test::reencode(*decoded, again);
    ASSERT_EQ(first, second) << "seed " << seed;
    auto redecoded = decode(second);
    ASSERT_TRUE(redecoded.ok());
    ASSERT_TRUE(test::equivalent(*decoded, *redecoded)) << "seed " << seed;
  }
}

}  // namespace
}  // namespace vsr::tnet
