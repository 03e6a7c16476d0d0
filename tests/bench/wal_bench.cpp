// Micro-benchmark of WAL appends made durable on the real file system: `batch` records of
// a 256-byte body (a small prepare) per sync(), i.e. per write + fdatasync. Reports
// appends/s (items_per_second) and record bytes/s, for batches of 1, 16 and 256.
//
// The WAL lives in a fresh directory under $VSR_BENCH_DIR, or under the working directory
// (run it from the build directory: /tmp may be a tmpfs, where fdatasync costs nothing).
// Segments below the head are deleted as the run goes, as a checkpoint would, so the disk
// use stays bounded.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "vsr/storage/env.hpp"
#include "vsr/storage/wal.hpp"

namespace {

namespace fs = std::filesystem;
using vsr::storage::Wal;

constexpr std::size_t body_bytes = 256;

fs::path bench_root() {
  const char* dir = std::getenv("VSR_BENCH_DIR");
  return dir != nullptr ? fs::path(dir) : fs::current_path();
}

void BM_WalAppendSync(benchmark::State& state) {
  const auto batch = static_cast<std::uint64_t>(state.range(0));
  const fs::path dir = bench_root() / ("wal-bench-" + std::to_string(batch));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto opened = Wal::open(vsr::storage::posix_env(), dir.string(), {}, 1);
  if (!opened) {
    state.SkipWithError(opened.error().message.c_str());
    return;
  }
  Wal& wal = opened->wal;
  const std::string body(body_bytes, 'p');
  std::uint64_t op = 0;
  std::uint64_t record_bytes = 0;
  for (auto _ : state) {
    const std::uint64_t start = wal.durable_op() + 1;
    for (std::uint64_t i = 0; i < batch; ++i) {
      if (!wal.append(++op, body).ok()) state.SkipWithError("append failed");
    }
    if (!wal.sync().ok()) {
      state.SkipWithError("sync failed");
      break;
    }
    for (std::uint64_t done = start; done <= op; ++done) record_bytes += wal.locate(done)->length;
    if (wal.segment_count() > 4) {
      state.PauseTiming();
      if (!wal.remove_below(op).ok()) state.SkipWithError("remove_below failed");
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(op));
  state.SetBytesProcessed(static_cast<std::int64_t>(record_bytes));
  state.counters["batch"] = static_cast<double>(batch);
  fs::remove_all(dir);
}

BENCHMARK(BM_WalAppendSync)
    ->Arg(1)
    ->Arg(16)
    ->Arg(256)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
