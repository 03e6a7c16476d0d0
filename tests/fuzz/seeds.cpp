// Valid inputs for each fuzz target, made with the encoders that the decoders mirror, and
// the table of targets. The replay driver runs every target over these (so the seeds
// never go stale as formats change); `vsr_fuzz_seeds DIR` writes them out as the start of
// a corpus for `make fuzz`.

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "bank/bank.hpp"
#include "catalog/catalog.hpp"
#include "inventory/inventory.hpp"
#include "locks/locks.hpp"
#include "targets.hpp"
#include "vsr/app/composite.hpp"
#include "vsr/codec/tnetstring.hpp"
#include "vsr/config/cluster_config.hpp"
#include "vsr/core/client_table.hpp"
#include "vsr/core/effects.hpp"
#include "vsr/core/message.hpp"
#include "vsr/net/frame.hpp"
#include "vsr/net/handshake.hpp"
#include "vsr/node/status.hpp"
#include "vsr/storage/memory_env.hpp"
#include "vsr/storage/wal.hpp"

namespace vsr::fuzz {

void property_violated(const char* target, const char* what) {
  std::fprintf(stderr, "fuzz target %s: property violated: %s\n", target, what);
  std::abort();
}

net::Keyring fuzz_keyring() {
  net::Keyring keys;
  for (std::size_t i = 0; i < net::key_size; ++i) {
    keys.replica.bytes[i] = static_cast<unsigned char>(i);
    keys.client.bytes[i] = static_cast<unsigned char>(0xa0 + i);
  }
  keys.has_replica = true;
  return keys;
}

net::CipherState fuzz_session_key() {
  net::CipherState state;
  for (std::size_t i = 0; i < net::key_size; ++i) {
    state.key.bytes[i] = static_cast<unsigned char>(0x40 + i);
  }
  return state;
}

const std::vector<NamedTarget>& all_targets() {
  static const std::vector<NamedTarget> targets = {
      {"tnetstring", tnetstring},     {"frame", frame},
      {"handshake", handshake},       {"sealed_frame", sealed_frame},
      {"message", message},           {"runtime_message", runtime_message},
      {"client_table", client_table}, {"metadata", metadata},
      {"checkpoint", checkpoint},     {"wal_segment", wal_segment},
      {"config_file", config_file},   {"app_operation", app_operation},
  };
  return targets;
}

namespace {

core::Prepare sample_prepare(std::uint64_t op, const core::Checksum& parent) {
  core::Prepare p;
  p.replica = core::ReplicaIndex{0};
  p.header.view = core::View{0};
  p.header.op = core::Op{op};
  p.header.commit = core::Op{op - 1};
  p.header.timestamp_ms = 1000 + op;
  p.header.parent = parent;
  p.batch = {core::BatchRequest{"alice", core::RequestNo{op}, "add k 5", core::Op{1}},
             core::BatchRequest{"bob", core::RequestNo{0}, "", core::Op{0}}};
  core::seal_prepare(kCluster, p);
  return p;
}

std::vector<core::Message> sample_messages() {
  const core::Prepare p = sample_prepare(1, core::root_prepare(kCluster).header.checksum);
  const core::View v{2};
  const core::ReplicaIndex r{1};
  std::vector<core::Message> out = {
      core::Request{v, "client-1", core::RequestNo{4}, "get k", core::Op{3}},
      core::Request{v, "client-1", core::RequestNo{0}, "", core::Op{0}},
      core::Reply{v, r, "client-1", core::RequestNo{4}, core::Op{8}, core::ReplyStatus::ok,
                  "2:ok,4:true!}"},
      p,
      core::PrepareOk{v, r, core::Op{1}, p.header.checksum},
      core::Commit{v, r, core::Op{1}, p.header.checksum},
      core::StartViewChange{v, r, core::View{1}},
      core::DoViewChange{
          v,
          r,
          core::View{1},
          core::Op{1},
          core::Op{0},
          {core::DvcEntry{core::Op{1}, core::SlotState::intact, p.header, p.header.checksum}}},
      core::StartView{
          core::View{3}, core::ReplicaIndex{0}, core::Op{1}, core::Op{0}, {p.header}, 7},
      core::RequestStartView{v, r, 7},
      core::RequestHeaders{v, r, core::Op{1}, core::Op{1}},
      core::Headers{v, r, {p.header}},
      core::RequestPrepare{v, r, core::Op{1}, p.header.checksum},
      core::RequestCheckpoint{v, r, core::Op{0}},
      core::Recovery{v, r, 9},
  };
  return out;
}

core::Checkpoint sample_checkpoint() {
  core::Checkpoint cp;
  cp.op = core::Op{16};
  cp.checksum = core::checksum_of("prepare 16");
  cp.timestamp_ms = 1016;
  auto apps = app::Composite::make({});
  if (apps) (*apps)->snapshot(cp.app_snapshot);
  core::ClientTable table(8);
  (void)table.begin_execute("alice", core::Op{0}, core::RequestNo{0}, "", core::Op{1});
  table.encode(cp.client_table);
  return cp;
}

std::string wal_segment_bytes() {
  storage::MemoryEnv env;
  (void)env.create_dir("wal");
  storage::WalOptions options;
  options.preallocate_bytes = 0;
  auto opened = storage::Wal::open(env, "wal", options, 1);
  if (!opened) return {};
  for (std::uint64_t op = 1; op <= 3; ++op) {
    (void)opened->wal.append(op, "body of op " + std::to_string(op));
  }
  (void)opened->wal.sync();
  auto bytes = env.read_file("wal/" + storage::Wal::segment_name(1), 1 << 20);
  return bytes ? *bytes : std::string();
}

std::string list_of(const std::vector<std::string>& items) {
  std::string out;
  tnet::Encoder e(out);
  e.begin_list();
  for (const std::string& item : items) e.bytes(item);
  e.end_list();
  return out;
}

}  // namespace

std::vector<std::string> seeds(std::string_view name) {
  std::vector<std::string> out;
  if (name == "tnetstring") {
    out = {"0:,",     "5:hello,", "2:42#",
           "4:true!", "0:~",      "3:1.5^",
           "0:]",     "0:}",      "24:5:hello,5:world,2:42#4:true!]"};
  } else if (name == "frame") {
    const net::Keyring keys = fuzz_keyring();
    std::string stream;
    for (const core::Message& m : sample_messages()) {
      const std::string bytes = core::encode(kCluster, m);
      std::string one;
      net::append_frame(one, bytes, net::KeyKind::replica, keys.replica);
      out.push_back(one);
      stream += one;
    }
    std::string client;
    net::append_frame(client, core::encode(kCluster, sample_messages()[0]), net::KeyKind::client,
                      keys.client);
    out.push_back(client);
    out.push_back(stream);
  } else if (name == "handshake") {
    const net::Keyring keys = fuzz_keyring();
    constexpr net::HandshakeParams params{kCluster, 3};
    net::Initiator client(params, net::KeyKind::client, keys.client);
    net::Initiator replica(params, net::KeyKind::replica, keys.replica);
    out.emplace_back(client.offer());
    out.emplace_back(replica.offer());
    auto accepted = net::accept_offer(client.offer(), keys, params);
    if (accepted) out.push_back(accepted->answer);
    out.push_back(net::refusal(params, net::HandshakeErrc::authentication));
    out.push_back(net::refusal(params, net::HandshakeErrc::wrong_version));
  } else if (name == "sealed_frame") {
    net::CipherState send = fuzz_session_key();
    std::string stream;
    for (const core::Message& m : sample_messages()) {
      net::seal_frame(stream, core::encode(kCluster, m), send);
    }
    out.push_back(stream);
    net::CipherState one = fuzz_session_key();
    std::string first;
    net::seal_frame(first, "5:hello,", one);
    out.push_back(first);
  } else if (name == "message") {
    for (const core::Message& m : sample_messages()) out.push_back(core::encode(kCluster, m));
  } else if (name == "runtime_message") {
    node::NodeStatus status;
    status.node = "n0";
    status.role = "primary";
    status.status = "normal";
    status.state_digest = std::string(32, 'a');
    status.waiting_for = "nothing";
    out = {node::encode_status_request(kCluster, 3), node::encode_status_reply(kCluster, 3, status),
           node::encode_hello(kCluster, node::Hello{1, "bank,catalog"}),
           node::encode_ping(kCluster, 4), node::encode_pong(kCluster, 4)};
  } else if (name == "client_table") {
    core::ClientTable table(8);
    (void)table.begin_execute("alice", core::Op{0}, core::RequestNo{0}, "", core::Op{1});
    (void)table.begin_execute("alice", core::Op{1}, core::RequestNo{3}, "op", core::Op{2});
    table.finish_execute("alice", core::RequestNo{3}, "op", core::Op{2}, "reply");
    (void)table.begin_execute("bob", core::Op{0}, core::RequestNo{0}, "", core::Op{3});
    std::string bytes;
    table.encode(bytes);
    out.push_back(bytes);
  } else if (name == "metadata") {
    core::Metadata md;
    md.view = core::View{3};
    md.log_view = core::View{2};
    md.commit = core::Op{1};
    md.voted_view = core::View{3};
    md.view_headers = {sample_prepare(1, core::root_prepare(kCluster).header.checksum).header};
    out.push_back(core::encode_metadata(kCluster, md));
    out.push_back(core::encode_metadata(kCluster, core::Metadata{}));
  } else if (name == "checkpoint") {
    out.push_back(core::encode_checkpoint(kCluster, sample_checkpoint()));
  } else if (name == "wal_segment") {
    out.push_back(wal_segment_bytes());
  } else if (name == "config_file") {
    std::vector<config::Node> nodes;
    auto parsed = config::parse_node_list("n0=127.0.0.1:4000,n1=127.0.0.1:4001,n2=127.0.0.1:4002");
    if (parsed) nodes = *parsed;
    auto cluster = config::generate_cluster(nodes, config::Tuning{}, config::Timeouts{});
    if (cluster) {
      out.push_back(config::encode_cluster(*cluster));
      out.push_back(config::encode_client(config::client_config_of(*cluster)));
    }
  } else if (name == "app_operation") {
    const std::vector<std::string> ops = {
        app::encode_composite_operation("bank", apps::bank::encode_add("alice", 10)),
        app::encode_composite_operation("bank", apps::bank::encode_transfer("alice", "bob", 3)),
        app::encode_composite_operation("bank", apps::bank::encode_list()),
        app::encode_composite_operation("catalog", apps::catalog::encode_put("k", "v")),
        app::encode_composite_operation("catalog", apps::catalog::encode_list()),
        app::encode_composite_operation("inventory", apps::inventory::encode_stock("sku", 5)),
        app::encode_composite_operation("inventory", apps::inventory::encode_reserve("sku", 2)),
        app::encode_composite_operation("locks", apps::locks::encode_acquire("l")),
        app::encode_composite_operation("locks", apps::locks::encode_holder("l")),
    };
    out = ops;
    out.push_back(list_of(ops));
  }
  return out;
}

}  // namespace vsr::fuzz
