// Micro-benchmarks of the protocol messages on the hot path, with the shapes `vsr bench`
// sends: a request and a reply of the bank app's `add`, and a prepare of 64 such requests.
// Each benchmark encodes into a reused buffer or decodes and validates in full, as the
// replica and the client library do.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

#include "vsr/core/message.hpp"

namespace {

using namespace vsr::core;

constexpr std::uint64_t cluster = 0x5eed'0000'0001;
constexpr std::size_t batch_size = 64;

const std::string client_id = "6f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e";
// What `vsr bench` sends: the bank app's add, wrapped for the app registry.
const std::string operation = "49:3:app,4:bank,2:op,41:2:op,3:add,7:account,7:bench-1,}}";

DecodeLimits limits() {
  DecodeLimits l;
  l.cluster_id = cluster;
  l.replica_count = 3;
  return l;
}

Request request() {
  return Request{View{3}, client_id, RequestNo{1'234'567}, operation, Op{1'234}};
}

Reply reply() {
  return Reply{View{3},
               ReplicaIndex{0},
               client_id,
               RequestNo{1'234'567},
               Op{987'654},
               ReplyStatus::ok,
               "33:6:status,2:ok,7:balance,4:1234#}"};
}

Prepare prepare() {
  Prepare p;
  p.replica = ReplicaIndex{0};
  p.header.view = View{3};
  p.header.op = Op{987'654};
  p.header.commit = Op{987'653};
  p.header.timestamp_ms = 1'790'000'000'000;
  for (std::size_t i = 0; i < batch_size; ++i) {
    p.batch.push_back(BatchRequest{client_id, RequestNo{1'000 + i}, operation, Op{1'234}});
  }
  seal_prepare(cluster, p);
  return p;
}

template <class M>
void encode_loop(benchmark::State& state, const M& m) {
  const Message message{m};
  std::string out;
  for (auto _ : state) {
    out.clear();
    encode(cluster, message, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(out.size()));
}

void decode_loop(benchmark::State& state, const Message& m) {
  const std::string input = encode(cluster, m);
  const DecodeLimits l = limits();
  for (auto _ : state) {
    auto decoded = decode(input, l);
    benchmark::DoNotOptimize(decoded.ok());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(input.size()));
}

void BM_EncodeRequest(benchmark::State& state) {
  encode_loop(state, request());
}
BENCHMARK(BM_EncodeRequest);

void BM_DecodeRequest(benchmark::State& state) {
  decode_loop(state, Message{request()});
}
BENCHMARK(BM_DecodeRequest);

void BM_EncodeReply(benchmark::State& state) {
  encode_loop(state, reply());
}
BENCHMARK(BM_EncodeReply);

void BM_DecodeReply(benchmark::State& state) {
  decode_loop(state, Message{reply()});
}
BENCHMARK(BM_DecodeReply);

void BM_EncodePrepare64(benchmark::State& state) {
  encode_loop(state, prepare());
}
BENCHMARK(BM_EncodePrepare64);

void BM_DecodePrepare64(benchmark::State& state) {
  decode_loop(state, Message{prepare()});
}
BENCHMARK(BM_DecodePrepare64);

}  // namespace
