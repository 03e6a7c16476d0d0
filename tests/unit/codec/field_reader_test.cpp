// Proves that FieldReader reads typed fields out of a dict, and that each kind of problem
// (not a dict, missing field, wrong type, integer out of range) yields its error message,
// that only the first problem is kept, and that reads after an error return defaults.

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "vsr/codec/tnetstring.hpp"

namespace vsr::tnet {
namespace {

// {"view": 7, "name": "n1", "text": "t" (';'), "ratio": 0.5, "up": true,
//  "nodes": [1], "meta": {}, "nothing": null}
std::string sample() {
  std::string out;
  Encoder e(out);
  e.begin_dict();
  e.key("view");
  e.integer(7);
  e.key("name");
  e.bytes("n1");
  e.key("text");
  e.raw("1:t;");
  e.key("ratio");
  e.floating(0.5);
  e.key("up");
  e.boolean(true);
  e.key("nodes");
  e.begin_list();
  e.integer(1);
  e.end_list();
  e.key("meta");
  e.begin_dict();
  e.end_dict();
  e.key("nothing");
  e.null();
  e.end_dict();
  return out;
}

class TnetFieldReader : public ::testing::Test {
 protected:
  std::string input_ = sample();
  Value value_ = *decode(input_);
};

TEST_F(TnetFieldReader, ReadsEveryType) {
  FieldReader r(value_, "metadata");
  EXPECT_EQ(r.integer("view"), 7);
  EXPECT_EQ(r.integer_in("view", 7, 7), 7);
  EXPECT_EQ(r.bytes("name"), "n1");
  EXPECT_EQ(r.bytes("text"), "t");
  EXPECT_EQ(r.floating("ratio"), 0.5);
  EXPECT_TRUE(r.boolean("up"));
  EXPECT_EQ(r.list("nodes").size(), 1U);
  EXPECT_TRUE(r.dict("meta").is_dict());
  EXPECT_TRUE(r.optional("nothing")->is_null());
  EXPECT_FALSE(r.optional("absent").has_value());
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.error(), "");
}

TEST_F(TnetFieldReader, ReadsFieldsInAnyOrder) {
  FieldReader r(value_, "metadata");
  EXPECT_TRUE(r.optional("nothing")->is_null());
  EXPECT_EQ(r.bytes("text"), "t");
  EXPECT_EQ(r.integer("view"), 7);
  EXPECT_TRUE(r.boolean("up"));
  EXPECT_EQ(r.bytes("name"), "n1");
  EXPECT_EQ(r.bytes("name"), "n1");
  EXPECT_FALSE(r.optional("absent").has_value());
  EXPECT_EQ(r.floating("ratio"), 0.5);
  EXPECT_TRUE(r.ok());
}

TEST_F(TnetFieldReader, NotADict) {
  FieldReader r(*decode("1:7#"), "cluster config");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "cluster config: must be a dict");
  EXPECT_EQ(r.integer("view"), 0);
  EXPECT_FALSE(r.optional("view").has_value());
  EXPECT_EQ(r.error(), "cluster config: must be a dict");
}

TEST_F(TnetFieldReader, MissingField) {
  FieldReader r(value_, "cluster config");
  EXPECT_EQ(r.list("peers").tag(), Tag::null);
  EXPECT_EQ(r.error(), "cluster config: field 'peers' is missing");
}

TEST_F(TnetFieldReader, WrongTypeMessages) {
  struct Case {
    const char* expected;
    void (*read)(FieldReader&);
  };
  const Case cases[] = {
      {"metadata: field 'name' must be an integer", [](FieldReader& r) { r.integer("name"); }},
      {"metadata: field 'name' must be an integer",
       [](FieldReader& r) { r.integer_in("name", 0, 1); }},
      {"metadata: field 'view' must be bytes", [](FieldReader& r) { r.bytes("view"); }},
      {"metadata: field 'view' must be a float", [](FieldReader& r) { r.floating("view"); }},
      {"metadata: field 'view' must be a boolean", [](FieldReader& r) { r.boolean("view"); }},
      {"metadata: field 'meta' must be a list", [](FieldReader& r) { r.list("meta"); }},
      {"metadata: field 'nodes' must be a dict", [](FieldReader& r) { r.dict("nodes"); }},
      {"metadata: field 'nothing' must be bytes", [](FieldReader& r) { r.bytes("nothing"); }},
  };
  for (const Case& c : cases) {
    FieldReader r(value_, "metadata");
    c.read(r);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.error(), c.expected);
  }
}

TEST_F(TnetFieldReader, WrongTypeReturnsDefaults) {
  FieldReader r(value_, "m");
  EXPECT_EQ(r.integer("name"), 0);
  EXPECT_EQ(r.bytes("view"), "");
  EXPECT_EQ(r.floating("view"), 0.0);
  EXPECT_FALSE(r.boolean("view"));
  EXPECT_EQ(r.list("meta").tag(), Tag::null);
  EXPECT_EQ(r.dict("nodes").tag(), Tag::null);
}

TEST_F(TnetFieldReader, IntegerOutOfRange) {
  FieldReader below(value_, "metadata");
  EXPECT_EQ(below.integer_in("view", 8, 10), 0);
  EXPECT_EQ(below.error(), "metadata: field 'view' must be in [8, 10], got 7");

  FieldReader above(value_, "metadata");
  EXPECT_EQ(above.integer_in("view", -3, 6), 0);
  EXPECT_EQ(above.error(), "metadata: field 'view' must be in [-3, 6], got 7");

  FieldReader edges(value_, "metadata");
  EXPECT_EQ(edges.integer_in("view", 7, std::numeric_limits<std::int64_t>::max()), 7);
  EXPECT_EQ(edges.integer_in("view", std::numeric_limits<std::int64_t>::min(), 7), 7);
  EXPECT_TRUE(edges.ok());
}

TEST_F(TnetFieldReader, KeepsTheFirstProblem) {
  FieldReader r(value_, "metadata");
  EXPECT_EQ(r.integer("view"), 7);
  r.bytes("missing");
  r.integer("name");
  r.integer_in("view", 100, 200);
  EXPECT_EQ(r.error(), "metadata: field 'missing' is missing");
  // Reads after an error return defaults, even for fields that are fine.
  EXPECT_EQ(r.integer("view"), 0);
  // optional() still answers: it cannot fail.
  EXPECT_TRUE(r.optional("view").has_value());
}

}  // namespace
}  // namespace vsr::tnet
