#include "comm/strings.h"

namespace tpb {

std::vector<std::string> all_gather_strings(Communicator& comm, const std::string& mine) {
  std::vector<int64_t> sizes(static_cast<size_t>(comm.size()));
  int64_t n = static_cast<int64_t>(mine.size());
  comm.all_gather(&n, sizes.data(), 1, DType::i64);
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  std::string all(static_cast<size_t>(total), '\0');
  comm.all_gather_v(mine.data(), all.data(), sizes, DType::u8);
  std::vector<std::string> out;
  int64_t at = 0;
  for (int64_t s : sizes) {
    out.push_back(all.substr(static_cast<size_t>(at), static_cast<size_t>(s)));
    at += s;
  }
  return out;
}

std::string broadcast_string(Communicator& comm, std::string s, int root) {
  int64_t n = static_cast<int64_t>(s.size());
  comm.broadcast(&n, 1, DType::i64, root);
  s.resize(static_cast<size_t>(n));
  if (n > 0) comm.broadcast(s.data(), s.size(), DType::u8, root);
  return s;
}

std::string agree_on_error(Communicator& comm, const std::string& mine) {
  int32_t failed = mine.empty() ? 0 : 1;
  comm.all_reduce(&failed, &failed, 1, DType::i32, ReduceOp::max);
  if (failed == 0) return "";
  for (const std::string& e : all_gather_strings(comm, mine))
    if (!e.empty()) return e;
  return "";
}

}  // namespace tpb
