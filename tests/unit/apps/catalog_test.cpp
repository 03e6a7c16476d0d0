// Proves the catalog app's semantics (product.md §1): versions start at 1 and grow,
// compare-and-set with --if-version (0 = must not exist), not_found, delete with and
// without a version, list by prefix and limit, the size bounds, and that a refusal
// changes nothing.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "app_test_util.hpp"
#include "catalog/catalog.hpp"
#include "vsr/app/limits.hpp"

namespace vsr::app::test {
namespace {

namespace catalog = apps::catalog;

Json key_version(std::string_view key, std::int64_t version) {
  return Json{{"ok", true}, {"result", {{"key", std::string(key)}, {"version", version}}}};
}

Json entry(std::string_view key, std::string_view value, std::int64_t version) {
  return Json{
      {"ok", true},
      {"result", {{"key", std::string(key)}, {"value", std::string(value)}, {"version", version}}}};
}

Json listing(std::initializer_list<std::pair<std::string_view, std::int64_t>> entries) {
  Json array = Json::array();
  for (const auto& [key, version] : entries) {
    array.push_back(Json{{"key", std::string(key)}, {"version", version}});
  }
  return Json{{"ok", true}, {"result", {{"entries", array}}}};
}

class CatalogTest : public AppTest {
 protected:
  CatalogTest() : AppTest("catalog") {}
};

TEST_F(CatalogTest, PutCreatesAtVersionOneAndEachPutIncrements) {
  EXPECT_EQ(run(catalog::encode_put("color", "red")), key_version("color", 1));
  EXPECT_EQ(run(catalog::encode_get("color")), entry("color", "red", 1));
  EXPECT_EQ(run(catalog::encode_put("color", "blue")), key_version("color", 2));
  EXPECT_EQ(run(catalog::encode_get("color")), entry("color", "blue", 2));
  EXPECT_EQ(run(catalog::encode_put("empty", "")), key_version("empty", 1));
  EXPECT_EQ(run(catalog::encode_get("empty")), entry("empty", "", 1));
}

TEST_F(CatalogTest, IfVersionZeroMeansMustNotExist) {
  EXPECT_EQ(run(catalog::encode_put("k", "v", 0)), key_version("k", 1));
  expect_refused(catalog::encode_put("k", "w", 0), "version_conflict");
  EXPECT_EQ(run(catalog::encode_get("k")), entry("k", "v", 1));
}

TEST_F(CatalogTest, IfVersionMustMatchTheCurrentVersion) {
  run(catalog::encode_put("k", "v1"));
  run(catalog::encode_put("k", "v2"));
  expect_refused(catalog::encode_put("k", "x", 1), "version_conflict");
  expect_refused(catalog::encode_put("k", "x", 3), "version_conflict");
  expect_refused(catalog::encode_put("missing", "x", 1), "version_conflict");
  EXPECT_EQ(run(catalog::encode_put("k", "v3", 2)), key_version("k", 3));
  expect_refused(catalog::encode_put("k", "x", -1), "invalid_request");
}

TEST_F(CatalogTest, GetOfAMissingKeyIsNotFound) {
  expect_refused(catalog::encode_get("nothing"), "not_found");
}

TEST_F(CatalogTest, DeleteReturnsTheDeletedVersion) {
  run(catalog::encode_put("k", "v1"));
  run(catalog::encode_put("k", "v2"));
  EXPECT_EQ(run(catalog::encode_delete("k")), key_version("k", 2));
  expect_refused(catalog::encode_get("k"), "not_found");
  expect_refused(catalog::encode_delete("k"), "not_found");
  // A deleted key starts again at version 1.
  EXPECT_EQ(run(catalog::encode_put("k", "again", 0)), key_version("k", 1));
}

TEST_F(CatalogTest, DeleteWithIfVersion) {
  run(catalog::encode_put("k", "v1"));
  expect_refused(catalog::encode_delete("k", 2), "version_conflict");
  expect_refused(catalog::encode_delete("k", 0), "version_conflict");
  expect_refused(catalog::encode_delete("k", -5), "invalid_request");
  expect_refused(catalog::encode_delete("missing", 1), "not_found");
  EXPECT_EQ(run(catalog::encode_delete("k", 1)), key_version("k", 1));
}

TEST_F(CatalogTest, ListIsSortedAndFilteredByPrefix) {
  EXPECT_EQ(run(catalog::encode_list()), listing({}));
  for (const char* key : {"b", "ab", "a", "abc", "ac", "b/1"}) run(catalog::encode_put(key, "x"));
  run(catalog::encode_put("ab", "y"));
  EXPECT_EQ(run(catalog::encode_list()),
            listing({{"a", 1}, {"ab", 2}, {"abc", 1}, {"ac", 1}, {"b", 1}, {"b/1", 1}}));
  EXPECT_EQ(run(catalog::encode_list("ab")), listing({{"ab", 2}, {"abc", 1}}));
  EXPECT_EQ(run(catalog::encode_list("b/")), listing({{"b/1", 1}}));
  EXPECT_EQ(run(catalog::encode_list("zzz")), listing({}));
}

TEST_F(CatalogTest, ListLimitTruncatesAndSaysSo) {
  for (const char* key : {"a1", "a2", "a3", "b1"}) run(catalog::encode_put(key, "x"));
  Json two = listing({{"a1", 1}, {"a2", 1}});
  two["result"]["truncated"] = true;
  EXPECT_EQ(run(catalog::encode_list("a", 2)), two);
  EXPECT_EQ(run(catalog::encode_list("a", 3)), listing({{"a1", 1}, {"a2", 1}, {"a3", 1}}));
  EXPECT_EQ(run(catalog::encode_list("", 4)),
            listing({{"a1", 1}, {"a2", 1}, {"a3", 1}, {"b1", 1}}));
  const auto max = static_cast<std::int64_t>(kListEntriesMax);
  EXPECT_EQ(error_of(run(catalog::encode_list("", max))), "");
  expect_refused(catalog::encode_list("", 0), "invalid_request");
  expect_refused(catalog::encode_list("", -1), "invalid_request");
  expect_refused(catalog::encode_list("", max + 1), "invalid_request");
  expect_refused(catalog::encode_list(std::string(kKeyBytesMax + 1, 'a')), "invalid_request");
}

TEST_F(CatalogTest, KeyAndValueBounds) {
  expect_refused(catalog::encode_put("", "v"), "invalid_request");
  expect_refused(catalog::encode_get(""), "invalid_request");
  expect_refused(catalog::encode_delete(""), "invalid_request");
  expect_refused(catalog::encode_put(std::string(kKeyBytesMax + 1, 'k'), "v"), "invalid_request");
  expect_refused(catalog::encode_put("k", std::string(kValueBytesMax + 1, 'v')), "invalid_request");
  EXPECT_EQ(run(catalog::encode_put("k", std::string(kValueBytesMax, 'v'))), key_version("k", 1));
  // Values are bytes: anything goes, including NUL and invalid UTF-8.
  const std::string binary("\0\xff\n", 3);
  EXPECT_EQ(run(catalog::encode_put("bin", binary)), key_version("bin", 1));
  std::string reply;
  machine_->execute(context_, catalog::encode_get("bin"), reply);
  auto parsed = parse_reply(reply);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->result.find("value")->bytes(), binary);
}

TEST_F(CatalogTest, MalformedOperations) {
  run(catalog::encode_put("k", "v"));
  expect_refused(raw_op({{"op", "put"}, {"key", "k"}}), "invalid_request");
  expect_refused(raw_op({{"op", "put"}, {"key", "k"}, {"value", std::int64_t{1}}}),
                 "invalid_request");
  expect_refused(raw_op({{"op", "put"}, {"key", "k"}, {"value", "v"}, {"if_version", "1"}}),
                 "invalid_request");
  expect_refused(raw_op({{"op", "list"}, {"prefix", std::int64_t{1}}}), "invalid_request");
  expect_refused(raw_op({{"op", "list"}, {"limit", "10"}}), "invalid_request");
  expect_refused(raw_op({{"op", "get"}, {"key", "k"}, {"if_version", std::int64_t{1}}}),
                 "invalid_request");
  expect_refused(raw_op({{"op", "scan"}}), "invalid_request");
}

}  // namespace
}  // namespace vsr::app::test
