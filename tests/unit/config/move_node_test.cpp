// Proves config::move_node()'s contract (vsr/config/move_node.hpp): only the node's address
// and the version change, in both files; every refusal changes nothing; files of two
// different clusters are refused; and a move interrupted between its two writes (client.tnet
// ahead of cluster.tnet) is completed by running it again, with both files then past every
// version either carried. Also proves same_endpoint(), which decides "already used".

#include "vsr/config/move_node.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "temp_dir.hpp"
#include "vsr/config/cluster_config.hpp"

namespace vsr::config {
namespace {

using test::TempDir;
using ::testing::HasSubstr;

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class MoveNodeLibrary : public ::testing::Test {
 protected:
  void SetUp() override {
    InitRequest request;
    request.nodes = *parse_node_list("a=127.0.0.1:9000,b=[::1]:9001,c=db.example.com:9002");
    auto outcome = init_cluster(dir(), request);
    ASSERT_TRUE(outcome.ok()) << outcome.error().message;
    initial_ = outcome->cluster;
  }

  std::filesystem::path dir() const { return temp_ / "cluster"; }
  ClusterPaths paths() const { return ClusterPaths{dir()}; }
  std::string both_files() const {
    return read_bytes(paths().cluster_file()) + read_bytes(paths().client_file());
  }

  void expect_refused(std::string_view name, std::string_view address, ErrorKind kind,
                      const std::string& fragment) {
    const std::string before = both_files();
    auto moved = move_node(dir(), name, address);
    ASSERT_FALSE(moved.ok()) << name << " " << address;
    EXPECT_EQ(moved.error().kind, kind);
    EXPECT_THAT(moved.error().message, HasSubstr(fragment));
    EXPECT_EQ(both_files(), before);
  }

  TempDir temp_;
  ClusterConfig initial_;
};

TEST(SameEndpoint, ComparesHostsCaseInsensitivelyAndIpv6ByValue) {
  EXPECT_TRUE(same_endpoint({"db.example.com", 1}, {"DB.Example.COM", 1}));
  EXPECT_TRUE(same_endpoint({"::1", 1}, {"0:0:0:0:0:0:0:1", 1}));
  EXPECT_TRUE(same_endpoint({"fe80::1", 1}, {"FE80:0::1", 1}));
  EXPECT_FALSE(same_endpoint({"::1", 1}, {"::1", 2}));
  EXPECT_FALSE(same_endpoint({"127.0.0.1", 1}, {"127.0.0.2", 1}));
  // Resolving names is not its business.
  EXPECT_FALSE(same_endpoint({"localhost", 1}, {"127.0.0.1", 1}));
}

TEST_F(MoveNodeLibrary, ChangesOnlyTheAddressAndTheVersion) {
  auto moved = move_node(dir(), "b", "[::2]:9101");
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  EXPECT_EQ(moved->replica, 1u);
  EXPECT_EQ(moved->old_address.to_string(), "[::1]:9001");
  EXPECT_EQ(moved->new_address.to_string(), "[::2]:9101");
  EXPECT_EQ(moved->old_version, 1u);
  EXPECT_EQ(moved->new_version, 2u);

  ClusterConfig expected = initial_;
  expected.config_version = 2;
  expected.nodes[1].address = NodeAddress{"::2", 9101};
  EXPECT_EQ(moved->cluster, expected);
  auto cluster = load_cluster(paths().cluster_file());
  ASSERT_TRUE(cluster.ok());
  EXPECT_EQ(*cluster, expected);
  auto client = load_client(paths().client_file());
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(*client, client_config_of(expected));
}

TEST_F(MoveNodeLibrary, RefusalsChangeNothing) {
  expect_refused("z", "127.0.0.1:9100", ErrorKind::invalid, "no node 'z'");
  expect_refused("b", "127.0.0.1", ErrorKind::invalid, "has no port");
  expect_refused("b", "", ErrorKind::invalid, "address is empty");
  expect_refused("b", "[::1]:9001", ErrorKind::invalid, "node 'b' is already at [::1]:9001");
  expect_refused("b", "[0::1]:9001", ErrorKind::invalid, "already at");
  expect_refused("b", "DB.EXAMPLE.COM:9002", ErrorKind::invalid, "already used by node 'c'");
  expect_refused("a", "127.0.0.1:9000", ErrorKind::invalid, "already at");
}

TEST_F(MoveNodeLibrary, RefusesMissingFilesAndFilesOfTwoClusters) {
  // client.tnet of another cluster next to this cluster.tnet.
  TempDir other;
  InitRequest request;
  request.nodes = initial_.nodes;
  ASSERT_TRUE(init_cluster(other.path(), request).ok());
  std::filesystem::copy_file(ClusterPaths{other.path()}.client_file(), paths().client_file(),
                             std::filesystem::copy_options::overwrite_existing);
  expect_refused("b", "[::1]:9101", ErrorKind::invalid, "belongs to cluster");

  std::filesystem::remove(paths().client_file());
  expect_refused("b", "[::1]:9101", ErrorKind::missing, "client.tnet");
  std::filesystem::remove(paths().cluster_file());
  expect_refused("b", "[::1]:9101", ErrorKind::missing, "cluster.tnet");
}

TEST_F(MoveNodeLibrary, ARerunCompletesAMoveInterruptedBetweenItsWrites) {
  // The state a crash after the first write leaves: client.tnet moved (version 2),
  // cluster.tnet not (version 1).
  ClusterConfig ahead = initial_;
  ahead.config_version = 2;
  ahead.nodes[2].address = NodeAddress{"db2.example.com", 9002};
  ASSERT_TRUE(save_client(paths().client_file(), client_config_of(ahead)).ok());

  auto moved = move_node(dir(), "c", "db2.example.com:9002");
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  EXPECT_EQ(moved->old_version, 2u);
  EXPECT_EQ(moved->new_version, 3u);
  auto cluster = load_cluster(paths().cluster_file());
  auto client = load_client(paths().client_file());
  ASSERT_TRUE(cluster.ok() && client.ok());
  EXPECT_EQ(cluster->config_version, 3u);
  EXPECT_EQ(*client, client_config_of(*cluster));
  EXPECT_EQ(cluster->nodes[2].address.to_string(), "db2.example.com:9002");
}

}  // namespace
}  // namespace vsr::config
