// Proves every validation rule of the cluster config: node names, addresses (IPv4,
// hostnames, bracketed IPv6, ports), the --nodes list syntax, node counts, uniqueness,
// and the bounds of every tunable and timeout. Each refusal must name the bad value.

#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "vsr/config/cluster_config.hpp"
#include "vsr/config/limits.hpp"

namespace vsr::config {
namespace {

using ::testing::HasSubstr;

std::vector<Node> three_nodes() {
  return *parse_node_list(default_node_list);
}

TEST(ConfigNodeName, AcceptsLettersDigitsUnderscoreDash) {
  for (const std::string& name :
       std::vector<std::string>{"n0", "N", "node_1", "a-b", "0", "_", "-",
                                std::string(limits::node_name_length_max, 'x')}) {
    EXPECT_TRUE(validate_node_name(name).ok()) << name;
  }
}

TEST(ConfigNodeName, RefusesEverythingElse) {
  for (const std::string& name : std::vector<std::string>{
           std::string(), std::string(limits::node_name_length_max + 1, 'x'), std::string("a b"),
           std::string("a.b"), std::string("a/b"), std::string("a=b"), std::string("a,b"),
           std::string("\xc3\xbc"), std::string("a\0b", 3), std::string("a:b")}) {
    auto valid = validate_node_name(name);
    ASSERT_FALSE(valid.ok()) << name;
    EXPECT_THAT(valid.error(), HasSubstr("node name"));
    EXPECT_THAT(valid.error(), HasSubstr("A-Z a-z 0-9 _ -"));
  }
}

TEST(ConfigNodeName, MessageEscapesUnprintableBytes) {
  auto valid = validate_node_name(std::string("a\nb\x01", 4));
  ASSERT_FALSE(valid.ok());
  EXPECT_THAT(valid.error(), HasSubstr("a\\x0ab\\x01"));
  EXPECT_EQ(valid.error().find('\n'), std::string::npos);
}

struct AddressCase {
  std::string text;
  std::string host;
  std::uint16_t port;
};

TEST(ConfigAddress, ParsesValidForms) {
  const std::vector<AddressCase> cases = {
      {"127.0.0.1:9000", "127.0.0.1", 9000},
      {"0.0.0.0:1", "0.0.0.0", 1},
      {"255.255.255.255:65535", "255.255.255.255", 65535},
      {"localhost:9000", "localhost", 9000},
      {"node-1.example.com:80", "node-1.example.com", 80},
      {"a:1", "a", 1},
      {"[::1]:9000", "::1", 9000},
      {"[0:0:0:0:0:0:0:1]:9000", "::1", 9000},  // IPv6 comes back canonical
      {"[fe80::1]:7", "fe80::1", 7},
      {"[::ffff:10.0.0.1]:9", "::ffff:10.0.0.1", 9},
  };
  for (const AddressCase& c : cases) {
    auto parsed = parse_address(c.text);
    ASSERT_TRUE(parsed.ok()) << c.text << ": " << parsed.error();
    EXPECT_EQ(parsed->host, c.host) << c.text;
    EXPECT_EQ(parsed->port, c.port) << c.text;
  }
}

TEST(ConfigAddress, ToStringBracketsIpv6) {
  EXPECT_EQ((NodeAddress{"::1", 9000}).to_string(), "[::1]:9000");
  EXPECT_EQ((NodeAddress{"10.0.0.1", 9000}).to_string(), "10.0.0.1:9000");
  EXPECT_EQ((NodeAddress{"db", 1}).to_string(), "db:1");
}

struct BadAddress {
  std::string text;
  std::string expected;  // a fragment of the message
};

TEST(ConfigAddress, RefusesMalformedWithReason) {
  const std::vector<BadAddress> cases = {
      {"", "address is empty"},
      {"127.0.0.1", "has no port"},
      {"127.0.0.1:", "has no port"},
      {":9000", "has no host"},
      {"127.0.0.1:0", "out of range"},
      {"127.0.0.1:65536", "out of range"},
      {"127.0.0.1:99999999999999999999", "out of range"},
      {"127.0.0.1:-1", "is not a number"},
      {"127.0.0.1:+1", "is not a number"},
      {"127.0.0.1:90a", "is not a number"},
      {"127.0.0.1: 90", "is not a number"},
      {"256.0.0.1:9000", "not a valid IPv4"},
      {"1.2.3:9000", "not a valid IPv4"},
      {"1.2.3.4.5:9000", "not a valid IPv4"},
      {"01.2.3.4:9000", "not a valid IPv4"},
      {"::1:9000", "brackets"},
      {"[::1]9000", "needs ':PORT'"},
      {"[::1]", "needs ':PORT'"},
      {"[::1:9000", "no closing ']'"},
      {"[not-v6]:9000", "not a valid IPv6"},
      {"[]:9000", "not a valid IPv6"},
      {"under_score:9000", "not a valid hostname"},
      {"-lead:9000", "not a valid hostname"},
      {"trail-:9000", "not a valid hostname"},
      {"a..b:9000", "not a valid hostname"},
      {"sp ace:9000", "not a valid hostname"},
      {std::string(64, 'a') + ".com:9000", "not a valid hostname"},
      {std::string(254, 'a') + ":9000", "longer than 253"},
  };
  for (const BadAddress& c : cases) {
    auto parsed = parse_address(c.text);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_THAT(parsed.error(), HasSubstr(c.expected)) << c.text;
  }
}

TEST(ConfigAddress, HostValidationAcceptsBareIpv6) {
  EXPECT_TRUE(validate_host("::1").ok());
  EXPECT_TRUE(validate_host("10.1.2.3").ok());
  EXPECT_TRUE(validate_host(std::string(63, 'a') + "." + std::string(63, 'b')).ok());
  EXPECT_FALSE(validate_host("").ok());
  EXPECT_FALSE(validate_host(":::").ok());
}

TEST(ConfigNodeList, ParsesDefaultInOrder) {
  auto nodes = parse_node_list(default_node_list);
  ASSERT_TRUE(nodes.ok()) << nodes.error();
  ASSERT_EQ(nodes->size(), 3u);
  EXPECT_EQ((*nodes)[0], (Node{"n0", {"127.0.0.1", 9000}}));
  EXPECT_EQ((*nodes)[1], (Node{"n1", {"127.0.0.1", 9001}}));
  EXPECT_EQ((*nodes)[2], (Node{"n2", {"127.0.0.1", 9002}}));
}

TEST(ConfigNodeList, AcceptsOneAndIpv6) {
  auto one = parse_node_list("solo=[::1]:9000");
  ASSERT_TRUE(one.ok()) << one.error();
  EXPECT_EQ((*one)[0].address.host, "::1");
}

TEST(ConfigNodeList, RefusesBadSyntax) {
  const std::vector<BadAddress> cases = {
      {"", "is not NAME=HOST:PORT"},
      {",", "is not NAME=HOST:PORT"},
      {"n0=127.0.0.1:9000,", "node 2 '' is not NAME=HOST:PORT"},
      {"n0", "'n0' is not NAME=HOST:PORT"},
      {"=127.0.0.1:9000", "node name ''"},
      {"n 0=127.0.0.1:9000", "node name 'n 0'"},
      {"n0=127.0.0.1", "has no port"},
      {"n0=127.0.0.1:0", "node 'n0': port 0"},
      {"n0=127.0.0.1:65536", "node 'n0': port 65536"},
      {"n0=a=b:1", "not a valid hostname"},
  };
  for (const BadAddress& c : cases) {
    auto nodes = parse_node_list(c.text);
    ASSERT_FALSE(nodes.ok()) << c.text;
    EXPECT_THAT(nodes.error(), HasSubstr(c.expected)) << c.text;
  }
}

TEST(ConfigNodeList, RefusesDuplicateNames) {
  auto nodes = parse_node_list("n0=h:1,n1=h:2,n0=h:3");
  ASSERT_FALSE(nodes.ok());
  EXPECT_THAT(nodes.error(), HasSubstr("node name 'n0' appears more than once"));
}

TEST(ConfigNodeList, RefusesDuplicateAddressesInAnySpelling) {
  for (const std::string& list :
       std::vector<std::string>{"a=h:1,b=h:1", "a=Host:1,b=hOST:1", "a=[::1]:5,b=[0::1]:5",
                                "a=10.0.0.1:7,b=10.0.0.1:7"}) {
    auto nodes = parse_node_list(list);
    ASSERT_FALSE(nodes.ok()) << list;
    EXPECT_THAT(nodes.error(), HasSubstr("have the same address")) << list;
    EXPECT_THAT(nodes.error(), HasSubstr("'a' and 'b'")) << list;
  }
  EXPECT_TRUE(parse_node_list("a=h:1,b=h:2").ok());  // same host, other port
}

TEST(ConfigNodeList, CountsUpToTheCap) {
  std::string list;
  for (std::size_t i = 0; i < limits::node_count_max; i++) {
    list += (i == 0 ? "" : ",") + std::string("n") + std::to_string(i) +
            "=h:" + std::to_string(1000 + i);
  }
  EXPECT_TRUE(parse_node_list(list).ok());
  auto too_many = parse_node_list(list + ",extra=h:1");
  ASSERT_FALSE(too_many.ok());
  EXPECT_THAT(too_many.error(), HasSubstr("at most 16"));
}

// Issue 12, finding 1: every size the config accepts is one the replicas run (the core's
// limit is 16 replicas; a 17-node cluster used to be written, then aborted at start-up).
TEST(ConfigNodeList, AcceptsOneToSixteenNodesAndRefusesSeventeen) {
  EXPECT_EQ(limits::node_count_max, 16u);
  std::string list;
  for (std::size_t count = 1; count <= 17; count++) {
    if (count > 1) list += ',';
    list += fmt::format("n{}=127.0.0.1:{}", count, 9000 + count);
    auto nodes = parse_node_list(list);
    if (count <= 16) {
      ASSERT_TRUE(nodes.ok()) << count << ": " << nodes.error();
      EXPECT_EQ(nodes->size(), count);
    } else {
      ASSERT_FALSE(nodes.ok());
      EXPECT_THAT(nodes.error(), HasSubstr("more than 16 nodes: a cluster has at most 16"));
    }
  }
}

TEST(ConfigNodeList, HostileLengthIsBoundedAndRefused) {
  auto nodes = parse_node_list(std::string(1'000'000, ','));
  ASSERT_FALSE(nodes.ok());
}

TEST(ConfigNodes, RefusesEmptyAndTooMany) {
  auto none = validate_nodes({});
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.error(), HasSubstr("at least 1"));
  std::vector<Node> many;
  for (std::size_t i = 0; i <= limits::node_count_max; i++) {
    many.push_back(Node{"n" + std::to_string(i), {"h", static_cast<std::uint16_t>(1 + i)}});
  }
  auto too_many = validate_nodes(many);
  ASSERT_FALSE(too_many.ok());
  EXPECT_THAT(too_many.error(), HasSubstr("17 nodes is too many: a cluster has at most 16"));
}

TEST(ConfigNodes, RefusesBadFieldsOfAModel) {
  // Configs built in code (or decoded from a file) go through the same rules.
  EXPECT_THAT(validate_nodes({Node{"n0", {"h", 0}}}).error(), HasSubstr("port 0"));
  EXPECT_THAT(validate_nodes({Node{"n0", {"", 1}}}).error(), HasSubstr("host is empty"));
  EXPECT_THAT(validate_nodes({Node{"n0", {"bad host", 1}}}).error(), HasSubstr("'bad host'"));
  EXPECT_THAT(validate_nodes({Node{"bad name", {"h", 1}}}).error(), HasSubstr("'bad name'"));
}

TEST(ConfigTuning, DefaultsAreValidAndDocumentedValues) {
  const Tuning tuning;
  EXPECT_TRUE(validate_tuning(tuning).ok());
  EXPECT_EQ(tuning.max_batch_size, 64u);
  EXPECT_EQ(tuning.max_batch_delay_ms, 1u);
  EXPECT_EQ(tuning.max_pipeline_depth, 8u);
  EXPECT_EQ(tuning.checkpoint_interval, 1024u);
  EXPECT_TRUE(validate_timeouts(Timeouts{}).ok());
}

struct TunableCase {
  const limits::Tunable* tunable;
  std::uint32_t Tuning::*field;
};

TEST(ConfigTuning, EveryTunableHasInclusiveBounds) {
  const std::vector<TunableCase> cases = {
      {&limits::max_batch_size, &Tuning::max_batch_size},
      {&limits::max_batch_delay_ms, &Tuning::max_batch_delay_ms},
      {&limits::max_pipeline_depth, &Tuning::max_pipeline_depth},
      {&limits::checkpoint_interval, &Tuning::checkpoint_interval},
  };
  for (const TunableCase& c : cases) {
    const std::string name(c.tunable->name);
    Tuning tuning;
    tuning.*c.field = c.tunable->min;
    EXPECT_TRUE(validate_tuning(tuning).ok()) << name;
    tuning.*c.field = c.tunable->max;
    EXPECT_TRUE(validate_tuning(tuning).ok()) << name;
    for (std::uint32_t bad : {c.tunable->max + 1, std::uint32_t{0xffffffff}}) {
      tuning.*c.field = bad;
      auto valid = validate_tuning(tuning);
      ASSERT_FALSE(valid.ok()) << name << " " << bad;
      EXPECT_THAT(valid.error(), HasSubstr(name + " is " + std::to_string(bad)));
    }
    if (c.tunable->min > 0) {
      tuning.*c.field = 0;
      auto zero = validate_tuning(tuning);
      ASSERT_FALSE(zero.ok()) << name;
      EXPECT_THAT(zero.error(), HasSubstr(name + " is 0: it must be"));
    }
  }
}

TEST(ConfigTuning, ZeroIsRefusedForBatchPipelineCheckpoint) {
  // Zero batch delay means "do not wait"; every other zero would stop the cluster.
  EXPECT_GT(limits::max_batch_size.min, 0u);
  EXPECT_GT(limits::max_pipeline_depth.min, 0u);
  EXPECT_GT(limits::checkpoint_interval.min, 0u);
  EXPECT_EQ(limits::max_batch_delay_ms.min, 0u);
}

struct TimeoutCase {
  const limits::Tunable* tunable;
  std::uint32_t Timeouts::*field;
};

TEST(ConfigTimeouts, EveryTimeoutHasBounds) {
  const std::vector<TimeoutCase> cases = {
      {&limits::heartbeat_ms, &Timeouts::heartbeat_ms},
      {&limits::view_change_timeout_ms, &Timeouts::view_change_timeout_ms},
      {&limits::request_timeout_ms, &Timeouts::request_timeout_ms},
  };
  for (const TimeoutCase& c : cases) {
    const std::string name(c.tunable->name);
    for (std::uint32_t bad : {c.tunable->min - 1, c.tunable->max + 1}) {
      Timeouts timeouts;
      timeouts.*c.field = bad;
      auto valid = validate_timeouts(timeouts);
      ASSERT_FALSE(valid.ok()) << name << " " << bad;
      EXPECT_THAT(valid.error(), HasSubstr(name));
    }
  }
}

TEST(ConfigTimeouts, ViewChangeNeedsTwoHeartbeats) {
  Timeouts timeouts;
  timeouts.heartbeat_ms = 100;
  timeouts.view_change_timeout_ms = 199;
  auto valid = validate_timeouts(timeouts);
  ASSERT_FALSE(valid.ok());
  EXPECT_THAT(valid.error(), HasSubstr("at least 2 x heartbeat_ms (200 ms)"));
  timeouts.view_change_timeout_ms = 200;
  EXPECT_TRUE(validate_timeouts(timeouts).ok());
}

TEST(ConfigCluster, VersionStartsAtOne) {
  ClusterConfig cluster;
  cluster.nodes = three_nodes();
  EXPECT_TRUE(validate(cluster).ok());
  cluster.config_version = 0;
  EXPECT_THAT(validate(cluster).error(), HasSubstr("config_version is 0"));
  cluster.config_version = std::uint64_t{1} << 63;  // not representable in the file
  EXPECT_FALSE(validate(cluster).ok());
}

TEST(ConfigCluster, FindNodeGivesReplicaIndex) {
  ClusterConfig cluster;
  cluster.nodes = three_nodes();
  EXPECT_EQ(cluster.find_node("n0"), 0u);
  EXPECT_EQ(cluster.find_node("n2"), 2u);
  EXPECT_EQ(cluster.find_node("n3"), std::nullopt);
}

TEST(ConfigGenerate, FreshRandomIdAndDistinctKeys) {
  auto a = generate_cluster(three_nodes(), Tuning{}, Timeouts{});
  auto b = generate_cluster(three_nodes(), Tuning{}, Timeouts{});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->config_version, 1u);
  EXPECT_NE(a->cluster_id, b->cluster_id);
  EXPECT_NE(a->replica_key, b->replica_key);
  EXPECT_NE(a->client_key, b->client_key);
  EXPECT_NE(a->replica_key.bytes, a->client_key.bytes);
  EXPECT_EQ(a->cluster_id.hex().size(), 32u);
}

TEST(ConfigGenerate, RefusesInvalidInput) {
  Tuning tuning;
  tuning.max_pipeline_depth = 0;
  auto cluster = generate_cluster(three_nodes(), tuning, Timeouts{});
  ASSERT_FALSE(cluster.ok());
  EXPECT_EQ(cluster.error().kind, ErrorKind::invalid);
  EXPECT_THAT(cluster.error().message, HasSubstr("max_pipeline_depth is 0"));
}

}  // namespace
}  // namespace vsr::config
