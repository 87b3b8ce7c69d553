// mpirun's stderr (Open MPI 4.1.4, as captured on the CI machine) made one line a failure.
#include <gtest/gtest.h>

#include <sstream>

#include "cli/mpirun_output.h"

namespace tpb {
namespace {

const std::string kRule(74, '-');

std::vector<std::string> filter(const std::string& text, int status) {
  MpirunOutputFilter f;
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) f.line(line, out);
  f.finish(status, out);
  return out;
}

std::string block(const std::string& body) { return kRule + "\n" + body + kRule + "\n"; }

const std::string kPrimary = block(
    "Primary job  terminated normally, but 1 process returned\n"
    "a non-zero exit code. Per user-direction, the job has been aborted.\n");

TEST(MpirunOutput, SignalBecomesOneLineNamingTheRank) {
  const auto out = filter("iter 1\n" + kPrimary +
                              block("mpirun noticed that process rank 1 with PID 0 on node vm exited on signal 9 "
                                    "(Killed).\n"),
                          137);
  EXPECT_EQ(out, (std::vector<std::string>{"iter 1", "tpbench: error: rank 1 was killed by signal 9 (Killed)"}));
}

const std::string kNonZero = block(
    "mpirun detected that one or more processes exited with non-zero status, thus causing\n"
    "the job to be terminated. The first process to do so was:\n"
    "\n"
    "  Process name: [[6993,1],1]\n"
    "  Exit code:    5\n");

TEST(MpirunOutput, ExitStatusBecomesOneLine) {
  EXPECT_EQ(filter(kPrimary + kNonZero, 5), std::vector<std::string>{"tpbench: error: rank 1 exited with status 5"});
  // tpbench's own statuses (interrupted, diverged, ...): the rank already said why.
  std::string interrupted = kNonZero;
  interrupted.replace(interrupted.find("Exit code:    5"), 15, "Exit code:    130");
  EXPECT_EQ(filter(kPrimary + interrupted, 130), std::vector<std::string>{});
}

const std::string kAbort = block(
    "MPI_ABORT was invoked on rank 0 in communicator MPI_COMM_WORLD\n"
    "with errorcode 1.\n"
    "\n"
    "NOTE: invoking MPI_ABORT causes Open MPI to kill all MPI processes.\n"
    "You may or may not see output from other processes, depending on\n"
    "exactly when Open MPI kills them.\n");

TEST(MpirunOutput, AbortAfterTheRanksOwnErrorAddsNothing) {
  const std::string err = "[rank 0] tpbench train: error: something precise";
  EXPECT_EQ(filter(err + "\n" + kAbort + kNonZero, 1), std::vector<std::string>{err});
}

TEST(MpirunOutput, AbortWithoutAWordIsNamed) {
  EXPECT_EQ(filter(kAbort, 1), std::vector<std::string>{"tpbench: error: rank 0 called MPI_Abort (error code 1)"});
}

TEST(MpirunOutput, OtherHelpIsCondensedAndNoiseDropped) {
  const auto out = filter(
      "[vm:30983] [[5625,0],0] ORTE_ERROR_LOG: Data unpack had inadequate space in file x.c at line 1\n" +
          block("A requested component was not found, or was unable to be opened.  This\n"
                "means that this component is either not installed or is unable to be\n"
                "used on your system.\n"
                "\n"
                "Host:      vm\n"
                "Framework: btl\n"
                "Component: bogus\n") +
          "[vm:30960] 1 more process has sent help message help-mca-base.txt / find-available:not-valid\n"
          "[vm:30960] Set MCA parameter \"orte_base_help_aggregate\" to 0 to see all help / error messages\n",
      1);
  EXPECT_EQ(out, std::vector<std::string>{"tpbench: Open MPI: A requested component was not found, or was unable to "
                                          "be opened (Host: vm, Framework: btl, Component: bogus)"});
}

TEST(MpirunOutput, SilentFailureStillSaysSomething) {
  EXPECT_EQ(filter("", 1), std::vector<std::string>{"tpbench: error: mpirun exited with status 1 and no rank said why"});
  MpirunOutputFilter f;
  f.set_hint("OMPI_MCA_btl=bogus");
  std::vector<std::string> out;
  f.finish(1, out);
  EXPECT_EQ(out, std::vector<std::string>{"tpbench: error: mpirun exited with status 1 and no rank said why "
                                          "(OMPI_MCA_btl=bogus)"});
  EXPECT_TRUE(filter("hello\n", 0) == std::vector<std::string>{"hello"});
}

}  // namespace
}  // namespace tpb
