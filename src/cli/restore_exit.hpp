#pragma once
// The exit code of a refused or failed node-directory replacement (recover-node, sync-node).

#include "cli.hpp"
#include "vsr/storage/restore.hpp"

namespace vsr::cli {

inline ExitCode restore_exit_code(storage::RestoreError::Kind kind) {
  switch (kind) {
    case storage::RestoreError::Kind::refused:
      return ExitCode::usage;
    case storage::RestoreError::Kind::running:
    case storage::RestoreError::Kind::environment:
      return ExitCode::environment;
  }
  return ExitCode::environment;
}

}  // namespace vsr::cli
