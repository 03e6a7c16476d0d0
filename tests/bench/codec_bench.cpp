// Micro-benchmarks of the tnetstring codec on a prepare-like message: a dict of a few
// integers and a list of 64 client requests of about 100 bytes each. Reports bytes/s of
// encoding (into a reused buffer), of decoding alone (validation), and of decoding plus
// reading every field the way the replica would.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

#include "vsr/codec/tnetstring.hpp"

namespace {

using vsr::tnet::Encoder;
using vsr::tnet::FieldReader;
using vsr::tnet::Value;

constexpr int requests_per_prepare = 64;

void encode_prepare(std::string& out, const std::string& operation) {
  Encoder e(out);
  e.begin_dict();
  e.key("command");
  e.bytes("prepare");
  e.key("cluster");
  e.integer(0x5eed);
  e.key("view");
  e.integer(7);
  e.key("op");
  e.integer(1'234'567);
  e.key("commit");
  e.integer(1'234'500);
  e.key("replica");
  e.integer(1);
  e.key("requests");
  e.begin_list();
  for (int i = 0; i < requests_per_prepare; ++i) {
    // {"client": ..., "request": ..., "operation": 33 bytes}: 100 bytes encoded.
    e.begin_dict();
    e.key("client");
    e.integer(0x1234'5678'9abc + i);
    e.key("request");
    e.integer(100'000 + i);
    e.key("operation");
    e.bytes(operation);
    e.end_dict();
  }
  e.end_list();
  e.end_dict();
}

std::string operation() {
  return std::string(33, 'o');
}

std::string sample_prepare() {
  std::string out;
  encode_prepare(out, operation());
  return out;
}

void BM_EncodePrepare(benchmark::State& state) {
  const std::string op = operation();
  std::string out;
  for (auto _ : state) {
    out.clear();
    encode_prepare(out, op);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(out.size()));
  state.counters["message_bytes"] = static_cast<double>(out.size());
}
BENCHMARK(BM_EncodePrepare);

void BM_DecodePrepare(benchmark::State& state) {
  const std::string input = sample_prepare();
  for (auto _ : state) {
    auto value = vsr::tnet::decode(input);
    benchmark::DoNotOptimize(value.ok());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(input.size()));
}
BENCHMARK(BM_DecodePrepare);

void BM_DecodeAndReadPrepare(benchmark::State& state) {
  const std::string input = sample_prepare();
  for (auto _ : state) {
    auto value = vsr::tnet::decode(input);
    FieldReader r(*value, "prepare");
    std::int64_t sum = r.integer("view") + r.integer("op") + r.integer("commit");
    for (const Value request : r.list("requests").items()) {
      FieldReader q(request, "request");
      sum += q.integer("client") + q.integer("request");
      sum += static_cast<std::int64_t>(q.bytes("operation").size());
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(input.size()));
}
BENCHMARK(BM_DecodeAndReadPrepare);

}  // namespace
