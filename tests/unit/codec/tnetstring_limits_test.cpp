// Proves that each bound of Limits is configurable and enforced at its edge: a value
// exactly at the limit decodes, one past it fails with the limit's Errc and offset.

#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <vector>

#include "tnet_test_util.hpp"
#include "vsr/codec/tnetstring.hpp"

namespace vsr::tnet {
namespace {

using test::fails_with;

Limits with_size(std::size_t max_size) {
  Limits limits;
  limits.max_size = max_size;
  return limits;
}

Limits with_elements(std::size_t max_elements) {
  Limits limits;
  limits.max_elements = max_elements;
  return limits;
}

Limits with_depth(std::size_t max_depth) {
  Limits limits;
  limits.max_depth = max_depth;
  return limits;
}

TEST(TnetLimits, Defaults) {
  const Limits limits;
  EXPECT_EQ(limits.max_size, std::size_t{64} << 20);
  EXPECT_EQ(limits.max_elements, 1'000'000U);
  EXPECT_EQ(limits.max_depth, 32U);
}

TEST(TnetLimits, MaxSizeCountsTheWholeEncoding) {
  const std::string value = "3:abc,";  // 6 bytes
  EXPECT_TRUE(decode(value, with_size(6)).ok());
  EXPECT_TRUE(fails_with(value, Errc::too_large, 0, with_size(5)));
  // The payload fits the limit but the encoding does not.
  EXPECT_TRUE(fails_with(value, Errc::too_large, 0, with_size(3)));
  // The length prefix alone exceeds the limit.
  EXPECT_TRUE(fails_with(value, Errc::length_too_large, 0, with_size(2)));
}

TEST(TnetLimits, MaxSizeBoundsOnlyTheValueNotTheStream) {
  const auto prefix = decode_prefix("3:abc,and more bytes", with_size(6));
  ASSERT_TRUE(prefix.ok());
  EXPECT_EQ(prefix->consumed, 6U);
}

TEST(TnetLimits, MaxSizeIsCheckedBeforeWaitingForBytes) {
  // A stream reader learns at once that this value can never be accepted.
  EXPECT_TRUE(test::prefix_fails_with("100:", Errc::length_too_large, 0, with_size(99)));
  EXPECT_TRUE(test::prefix_fails_with("100", Errc::length_too_large, 0, with_size(99)));
  EXPECT_TRUE(test::prefix_fails_with("99:", Errc::too_large, 0, with_size(99)));
  EXPECT_TRUE(test::prefix_fails_with("95:", Errc::truncated, 3, with_size(99)));
}

TEST(TnetLimits, MaxElementsCountsListItems) {
  const std::string list = "12:1:a,1:b,1:c,]";
  EXPECT_TRUE(decode(list, with_elements(3)).ok());
  EXPECT_TRUE(fails_with(list, Errc::too_many_elements, 11, with_elements(2)));
}

TEST(TnetLimits, MaxElementsCountsDictEntriesOnce) {
  const std::string dict = "14:1:a,0:~1:b,0:~}";
  EXPECT_TRUE(decode(dict, with_elements(2)).ok());
  EXPECT_TRUE(fails_with(dict, Errc::too_many_elements, 10, with_elements(1)));
}

TEST(TnetLimits, MaxElementsCountsTheWholeValue) {
  // [[a], [b]] holds four elements: two lists and two items.
  const std::string nested = "14:4:1:a,]4:1:b,]]";
  EXPECT_TRUE(decode(nested, with_elements(4)).ok());
  EXPECT_TRUE(fails_with(nested, Errc::too_many_elements, 12, with_elements(3)));
}

TEST(TnetLimits, MaxElementsZeroAllowsScalarsAndEmptyContainers) {
  EXPECT_TRUE(decode("1:x,", with_elements(0)).ok());
  EXPECT_TRUE(decode("0:]", with_elements(0)).ok());
  EXPECT_TRUE(decode("0:}", with_elements(0)).ok());
  EXPECT_TRUE(fails_with("3:0:~]", Errc::too_many_elements, 2, with_elements(0)));
}

TEST(TnetLimits, MaxDepthCountsNestedContainers) {
  std::vector<std::size_t> starts;
  const std::string three = test::nested_lists(3, &starts);
  EXPECT_TRUE(decode(three, with_depth(3)).ok());
  EXPECT_TRUE(fails_with(three, Errc::too_deep, starts[2], with_depth(2)));
}

TEST(TnetLimits, MaxDepthDefaultEdge) {
  EXPECT_TRUE(decode(test::nested_lists(32)).ok());
  std::vector<std::size_t> starts;
  const std::string too_deep = test::nested_lists(33, &starts);
  EXPECT_TRUE(fails_with(too_deep, Errc::too_deep, starts[32]));
}

TEST(TnetLimits, MaxDepthZeroAllowsOnlyScalars) {
  EXPECT_TRUE(decode("1:x,", with_depth(0)).ok());
  EXPECT_TRUE(fails_with("0:]", Errc::too_deep, 0, with_depth(0)));
  EXPECT_TRUE(fails_with("0:}", Errc::too_deep, 0, with_depth(0)));
}

TEST(TnetLimits, DictsCountTowardDepth) {
  const std::string value = "7:1:k,0:]}";  // {"k": []}: depth 2
  EXPECT_TRUE(decode(value, with_depth(2)).ok());
  EXPECT_TRUE(fails_with(value, Errc::too_deep, 6, with_depth(1)));
}

}  // namespace
}  // namespace vsr::tnet
