// The data-parallel layouts (--dp-shard), parsed once at the command line.
#pragma once

#include <string>

namespace tpb {

enum class DpShard {
  none,       // DDP: parameters, gradients and optimizer state replicated
  optimizer,  // ZeRO-1: optimizer state (and the reduced gradients) sharded over dp
  full,       // FSDP / ZeRO-3: parameters, gradients and optimizer state sharded over dp
};

DpShard parse_dp_shard(const std::string& name);  // UsageError for an unknown name
std::string dp_shard_name(DpShard s);             // "none", "optimizer", "full"

}  // namespace tpb
