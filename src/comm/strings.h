// Strings over a communicator (collective): what checkpoints, traces and run directories
// exchange between ranks.
#pragma once

#include <string>
#include <vector>

#include "comm/communicator.h"

namespace tpb {

// Every rank's string, on every rank, in rank order.
std::vector<std::string> all_gather_strings(Communicator& comm, const std::string& mine);
// Rank root's string, on every rank.
std::string broadcast_string(Communicator& comm, std::string s, int root = 0);
// The first non-empty of every rank's error (by rank), the same on every rank; "" when none.
std::string agree_on_error(Communicator& comm, const std::string& mine);

}  // namespace tpb
