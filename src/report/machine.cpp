#include "report/machine.h"

#include <dlfcn.h>
#include <unistd.h>

#include <fstream>
#include <thread>

namespace tpb {

namespace {

// Value after "key" and a separator (':' or '='), first match in the file.
std::string read_field(const char* path, const std::string& key, char sep) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    const auto at = line.find(sep);
    if (at == std::string::npos) continue;
    std::string v = line.substr(at + 1);
    v.erase(0, v.find_first_not_of(" \t\""));
    while (!v.empty() && (v.back() == '"' || v.back() == ' ')) v.pop_back();
    return v;
  }
  return "unknown";
}

// OpenBLAS says how it was built; other BLAS libraries (chosen with BLA_VENDOR) may not
// have this symbol, so look it up at run time instead of linking against it.
std::string blas_description() {
  using ConfigFn = char* (*)();
  if (auto fn = reinterpret_cast<ConfigFn>(dlsym(RTLD_DEFAULT, "openblas_get_config")))
    return std::string("OpenBLAS ") + fn();
  return "unknown (not OpenBLAS)";
}

}  // namespace

MachineInfo read_machine_info(const std::string& mpi_library) {
  MachineInfo m;
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  m.hostname = host;
  m.cpu_model = read_field("/proc/cpuinfo", "model name", ':');
  m.logical_cores = static_cast<int>(std::thread::hardware_concurrency());
  m.os = read_field("/etc/os-release", "PRETTY_NAME", '=');
  m.mpi_library = mpi_library;
  m.blas = blas_description();
#if defined(__clang__)
  m.compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
  m.compiler = "g++ " __VERSION__;
#endif
  return m;
}

nlohmann::json to_json(const MachineInfo& m) {
  return {{"hostname", m.hostname},       {"cpu_model", m.cpu_model}, {"logical_cores", m.logical_cores},
          {"os", m.os},                   {"mpi_library", m.mpi_library}, {"blas", m.blas},
          {"compiler", m.compiler}};
}

}  // namespace tpb
