// What `tpbench --nproc N` shows of mpirun's own stderr (Open MPI 4.1, run without -q).
//
// The ranks' output passes through unchanged. mpirun's help blocks (text between lines of
// dashes) become at most one line each:
//   "mpirun noticed that process rank R with PID P on node H exited on signal S (Name)."
//       -> "tpbench: error: rank R was killed by signal S (Name)"
//   "mpirun detected that one or more processes exited with non-zero status ...
//    Process name: [[J,1],R]  Exit code: C"
//       -> "tpbench: error: rank R exited with status C" (dropped when a rank said why)
//   "MPI_ABORT was invoked on rank R ... with errorcode C."
//       -> dropped when a rank printed its error ("[rank R] tpbench cmd: error: ...", the
//          line users are meant to see), else "tpbench: error: rank R called MPI_Abort (C)"
//   "Primary job terminated normally, but 1 process returned a non-zero exit code ..."
//       -> dropped (the blocks above say which)
//   "mpirun has exited due to process rank R ... exiting improperly"
//       -> "tpbench: error: rank R exited without finalizing MPI"
//   any other block (e.g. a component named in OMPI_MCA_btl that does not exist)
//       -> "tpbench: Open MPI: <its first sentence> (<its 'Key: value' lines>)"
// mpirun's aggregation notes ("N more processes have sent help message ...", "Set MCA
// parameter orte_base_help_aggregate ...") and ORTE_ERROR_LOG lines are dropped. When the
// job failed and nothing above said why, finish() adds "tpbench: error: mpirun exited
// with status C and no rank said why" (with the hint, if set).
#pragma once

#include <string>
#include <vector>

namespace tpb {

class MpirunOutputFilter {
 public:
  // One line of mpirun's stderr (without its newline); appends what to print to `out`.
  void line(const std::string& text, std::vector<std::string>& out);
  // After mpirun ended with `status` (its exit status, or 128 + signal).
  void finish(int status, std::vector<std::string>& out);
  // Added to finish()'s last-resort line, e.g. the OMPI_MCA_* settings in effect (Open MPI
  // sometimes loses the help message naming a bad one).
  void set_hint(std::string hint) { hint_ = std::move(hint); }

 private:
  void close_block(std::vector<std::string>& out);
  bool in_block_ = false;
  std::vector<std::string> block_;
  bool rank_said_why_ = false;  // a "[rank R] tpbench ...: error:" line went by
  bool explained_ = false;      // a line saying why the job failed was printed
  std::string hint_;
};

}  // namespace tpb
