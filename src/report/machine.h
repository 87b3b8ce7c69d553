// What a result was measured on, saved beside every result so runs from other days or
// machines can be compared knowingly.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace tpb {

struct MachineInfo {
  std::string hostname;
  std::string cpu_model;    // /proc/cpuinfo "model name"
  int logical_cores = 0;
  std::string os;           // PRETTY_NAME from /etc/os-release
  std::string mpi_library;  // the MPI library's own version string
  std::string blas;         // OpenBLAS's build configuration, or what is known
  std::string compiler;
};

// mpi_library is passed in: report/ does not depend on comm/.
MachineInfo read_machine_info(const std::string& mpi_library);
nlohmann::json to_json(const MachineInfo& m);

}  // namespace tpb
