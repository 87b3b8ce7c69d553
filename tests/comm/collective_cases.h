// One body of collective tests, run over every backend (as gloo instantiates its tests
// over transports): the TEST_Ps live in collective_cases.cpp, and each test binary
// instantiates them for the backends it can build:
//   test_comm              Mpi                                  (host memory)
//   test_comm_host_staged  HostStagedHostMemory, HostStagedFakeDevice
//   test_comm_nccl         NcclGpu, HostStagedGpu               (skipped without a GPU)
// collective_cases.cpp must be a source of the test binary itself (not of a static
// library, where the linker could drop the object that registers the tests).
//
// Every check is against a closed form; values are small integers, so every sum is exact
// whatever the reduction order, and results must match to the bit (avg: see avg_exact).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <utility>

#include "comm/communicator.h"
#include "comm_test_util.h"

namespace tpb::testing {

// What one backend's test needs: a communicator over every rank, and the memory its
// buffers go in. Made afresh for each test, on every rank.
struct BackendSetup {
  std::shared_ptr<TestMemory> memory;  // declared first: outlives the communicator
  std::unique_ptr<Communicator> comm;
  // Non-empty: this backend cannot run here, and why. Must be the same on every rank.
  std::string skip;
  // Checked after each test that ran (e.g. "host buffers were never staged").
  std::function<void(Communicator&)> after_test;
};

struct Backend {
  std::string name;  // the gtest parameter name: letters and digits only
  std::function<BackendSetup()> make;
  // avg is the exact sum scaled once by 1/size in fp32 (MPI and the host-staged path), so
  // avg results are checked to the bit; otherwise (NCCL's ncclAvg: inputs scaled, then
  // summed) within a tolerance.
  bool avg_exact = true;
  // Buffers are in GPU memory, ordered on the compute stream.
  bool gpu = false;
  // One call must not mix host and device buffers (NCCL); otherwise each buffer is taken as
  // it is.
  bool mixing_is_error = false;
};

inline void PrintTo(const Backend& b, std::ostream* os) { *os << b.name; }

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) { return info.param.name; }

class Collectives : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  Communicator& comm() { return *setup_.comm; }
  TestMemory& mem() { return *setup_.memory; }
  const Backend& backend() const { return GetParam(); }
  int rank() const { return setup_.comm->rank(); }
  int n() const { return setup_.comm->size(); }
  float tri() const { return static_cast<float>(n() * (n() - 1) / 2); }

  template <typename T>
  Buffer<T> buf(const std::vector<T>& init) {
    return Buffer<T>(mem(), init);
  }
  template <typename T>
  Buffer<T> buf(size_t count, T value) {
    return Buffer<T>(mem(), count, value);
  }

  BackendSetup setup_;
};

}  // namespace tpb::testing
