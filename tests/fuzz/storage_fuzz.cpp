// Fuzz targets for what a node reads back from its disk (or from a peer's checkpoint):
//  - `client_table`: core::ClientTable::decode. A table that decodes encodes to the same
//    bytes; one that does not leaves the table as it was.
//  - `metadata`: core::decode_metadata. What decodes survives a re-encoding unchanged.
//  - `checkpoint`: core::decode_checkpoint, the same.
//  - `wal_segment`: storage::Wal::open over a segment holding the input (in a MemoryEnv).
//    The scan reports every op from its first to its head once, in order; an ok op reads
//    back its body.

#include <string>
#include <string_view>

#include "targets.hpp"
#include "vsr/core/client_table.hpp"
#include "vsr/core/effects.hpp"
#include "vsr/storage/memory_env.hpp"
#include "vsr/storage/wal.hpp"

namespace vsr::fuzz {
int client_table(const std::uint8_t* data, std::size_t size) {
  core::ClientTable table(8);
  (void)table.begin_execute("keep", core::Op{0}, core::RequestNo{0}, "", core::Op{1});
  const core::ClientTable before = table;
  if (!table.decode(as_text(data, size))) {
    FUZZ_CHECK("client_table", table == before);
    return 0;
  }
  std::string first;
  table.encode(first);
  core::ClientTable again(8);
  FUZZ_CHECK("client_table", again.decode(first).ok() && again == table);
  std::string second;
  again.encode(second);
  FUZZ_CHECK("client_table", second == first);
  return 0;
}

int metadata(const std::uint8_t* data, std::size_t size) {
  auto decoded = core::decode_metadata(as_text(data, size), kCluster);
  if (!decoded) return 0;
  auto again = core::decode_metadata(core::encode_metadata(kCluster, *decoded), kCluster);
  FUZZ_CHECK("metadata", again.ok() && *again == *decoded);
  return 0;
}

int checkpoint(const std::uint8_t* data, std::size_t size) {
  auto decoded = core::decode_checkpoint(as_text(data, size), kCluster);
  if (!decoded) return 0;
  const std::string first = core::encode_checkpoint(kCluster, *decoded);
  auto again = core::decode_checkpoint(first, kCluster);
  FUZZ_CHECK("checkpoint", again.ok());
  FUZZ_CHECK("checkpoint", again->op == decoded->op && again->checksum == decoded->checksum &&
                               again->timestamp_ms == decoded->timestamp_ms &&
                               again->app_snapshot == decoded->app_snapshot &&
                               again->client_table == decoded->client_table);
  FUZZ_CHECK("checkpoint", core::encode_checkpoint(kCluster, *again) == first);
  return 0;
}

int wal_segment(const std::uint8_t* data, std::size_t size) {
  storage::MemoryEnv env;
  FUZZ_CHECK("wal_segment", env.create_dir("wal").ok());
  {
    auto file =
        env.open_writable("wal/" + storage::Wal::segment_name(1), storage::OpenMode::truncate);
    FUZZ_CHECK("wal_segment", file.ok());
    FUZZ_CHECK("wal_segment", (*file)->append(as_text(data, size)).ok());
    FUZZ_CHECK("wal_segment", (*file)->sync().ok());
  }
  storage::WalOptions options;
  options.body_bytes_max = 1 << 16;
  options.segment_bytes_max = 1 << 20;
  auto opened = storage::Wal::open(env, "wal", options, 1);
  if (!opened) return 0;  // an error it reports (never a crash)
  const storage::WalScan& scan = opened->scan;
  FUZZ_CHECK("wal_segment", scan.head_op + 1 >= scan.first_op);
  FUZZ_CHECK("wal_segment", scan.entries.size() == scan.head_op + 1 - scan.first_op);
  std::uint64_t op = scan.first_op;
  for (const storage::WalEntry& entry : scan.entries) {
    FUZZ_CHECK("wal_segment", entry.op == op);
    op += 1;
    if (entry.status != storage::RecordStatus::ok) continue;
    auto body = opened->wal.read(entry.op);
    FUZZ_CHECK("wal_segment", body.ok() && *body == entry.body);
  }
  return 0;
}

}  // namespace vsr::fuzz
