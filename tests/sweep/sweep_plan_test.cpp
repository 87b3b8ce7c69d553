// The sweep's plan: comma lists, the product and its order, the command line of each
// launch, and the flag combinations it refuses.
#include "sweep/sweep_plan.h"

#include <gtest/gtest.h>

#include "base/error.h"
#include "sweep/child_process.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace tpb {
namespace {

TEST(SweepPlan, ParsesIntegerLists) {
  EXPECT_EQ(parse_int_list("--tp", "1,2,4"), (std::vector<int64_t>{1, 2, 4}));
  EXPECT_EQ(parse_int_list("--tp", "3"), (std::vector<int64_t>{3}));
  EXPECT_EQ(parse_int_list("--tp", "1, 2"), (std::vector<int64_t>{1, 2}));
  EXPECT_THROW(parse_int_list("--tp", "1,,2"), UsageError);
  EXPECT_THROW(parse_int_list("--tp", "1,x"), UsageError);
  EXPECT_THROW(parse_int_list("--tp", "0"), UsageError);
  EXPECT_THROW(parse_int_list("--tp", "2.5"), UsageError);
  try {
    parse_int_list("--batch", "4,y");
    FAIL() << "no throw";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--batch 4,y: 'y'"), std::string::npos) << e.what();
  }
}

TEST(SweepPlan, ParsesWordLists) {
  EXPECT_EQ(parse_word_list("--mode", "row,column", {"row", "column", "both"}),
            (std::vector<std::string>{"row", "column"}));
  EXPECT_THROW(parse_word_list("--mode", "row,diagonal", {"row", "column", "both"}), UsageError);
}

TEST(SweepPlan, ProductKeepsTheGivenOrderWithTpInnermost) {
  SweepSpec s;
  s.nproc = {4};
  s.tp = {1, 2, 4, 3};
  s.batch = {2, 8};
  const auto configs = plan_sweep(s);
  ASSERT_EQ(configs.size(), 8u);
  const std::vector<std::pair<int64_t, int64_t>> want = {{2, 1}, {2, 2}, {2, 4}, {2, 3},
                                                         {8, 1}, {8, 2}, {8, 4}, {8, 3}};
  for (size_t k = 0; k < configs.size(); ++k) {
    EXPECT_EQ(configs[k].name, "cfg" + std::to_string(k));
    EXPECT_EQ(configs[k].config, configs[k].name);
    EXPECT_EQ(configs[k].repeat, 1);
    EXPECT_EQ(configs[k].index, static_cast<int>(k));
    EXPECT_EQ(*configs[k].batch, want[k].first);
    EXPECT_EQ(*configs[k].tp, want[k].second);
    EXPECT_FALSE(configs[k].seq.has_value());
  }
}

TEST(SweepPlan, RepeatsGoRoundRobin) {
  SweepSpec s;
  s.nproc = {4};
  s.tp = {1, 2};
  s.repeat = 3;
  const auto launches = plan_sweep(s);
  std::vector<std::string> names;
  for (const auto& c : launches) names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{"cfg0-r1", "cfg1-r1", "cfg0-r2", "cfg1-r2", "cfg0-r3", "cfg1-r3"}));
  EXPECT_EQ(launches[3].config, "cfg1");
  EXPECT_EQ(launches[3].index, 1);
  EXPECT_EQ(launches[3].repeat, 2);
  EXPECT_EQ(launch_args(launches[3], "R").back(), "cfg1-r2");
  s.repeat = 0;
  EXPECT_THROW(validate_sweep_spec(s), UsageError);
}

TEST(SweepPlan, LaunchArgumentsOfTrainAndLinear) {
  SweepSpec s;
  s.nproc = {4};
  s.tp = {2};
  s.seq = {64};
  s.extra = {"--preset", "tiny", "--iters", "3"};
  const auto train = plan_sweep(s);
  ASSERT_EQ(train.size(), 1u);
  EXPECT_EQ(launch_args(train[0], "SW/runs"),
            (std::vector<std::string>{"--nproc", "4", "train", "--tp", "2", "--seq", "64", "--preset", "tiny",
                                      "--iters", "3", "--out", "SW/runs", "--run-name", "cfg0"}));

  SweepSpec l;
  l.target = SweepTarget::linear;
  l.nproc = {1, 2};
  l.mode = {"row", "column"};
  const auto linear = plan_sweep(l);
  ASSERT_EQ(linear.size(), 4u);
  EXPECT_EQ(launch_args(linear[3], "SW/runs"),
            (std::vector<std::string>{"--nproc", "2", "linear", "--mode", "column", "--out", "SW/runs/cfg3"}));
}

// --dp-shard takes the layouts' names (docs/reports.md: --dp-shard none,full), passed on as
// they are; it used to be parsed as a list of integers, so the documented sweep failed.
TEST(SweepPlan, DpShardIsAListOfLayoutNames) {
  SweepSpec s;
  s.nproc = {2};
  s.dp_shard = parse_word_list("--dp-shard", "none,full", {"none", "optimizer", "full"});
  const auto plan = plan_sweep(s);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(launch_args(plan[1], "SW/runs"),
            (std::vector<std::string>{"--nproc", "2", "train", "--dp-shard", "full", "--out", "SW/runs", "--run-name",
                                      "cfg1"}));
  EXPECT_THROW(parse_word_list("--dp-shard", "none,2", {"none", "optimizer", "full"}), UsageError);
}

// --sp off,on: an axis between --dp-shard and --tp; on passes the bare --sp flag, off nothing.
TEST(SweepPlan, SpIsAnOffOnAxisOutsideTp) {
  SweepSpec s;
  s.nproc = {2};
  s.tp = {1, 2};
  s.sp = parse_word_list("--sp", "off,on", {"off", "on"});
  const auto plan = plan_sweep(s);
  ASSERT_EQ(plan.size(), 4u);
  EXPECT_EQ(plan[0].sp, std::optional<bool>(false));
  EXPECT_EQ(plan[1].sp, std::optional<bool>(false));
  EXPECT_EQ(plan[1].tp, std::optional<int64_t>(2));
  EXPECT_EQ(plan[2].sp, std::optional<bool>(true));
  EXPECT_EQ(plan[2].tp, std::optional<int64_t>(1));
  EXPECT_EQ(launch_args(plan[1], "SW/runs"),
            (std::vector<std::string>{"--nproc", "2", "train", "--tp", "2", "--out", "SW/runs", "--run-name", "cfg1"}));
  EXPECT_EQ(launch_args(plan[3], "SW/runs"), (std::vector<std::string>{"--nproc", "2", "train", "--tp", "2", "--sp",
                                                                       "--out", "SW/runs", "--run-name", "cfg3"}));
  EXPECT_THROW(parse_word_list("--sp", "off,yes", {"off", "on"}), UsageError);
  s.target = SweepTarget::linear;
  s.tp.clear();
  EXPECT_THROW(validate_sweep_spec(s), UsageError);  // --sp is for train sweeps
}

TEST(SweepPlan, RefusesFlagsThatDoNotFitTheCommand) {
  SweepSpec s;
  EXPECT_THROW(validate_sweep_spec(s), UsageError);  // no --nproc
  s.nproc = {4};
  EXPECT_NO_THROW(validate_sweep_spec(s));
  s.mode = {"row"};
  EXPECT_THROW(validate_sweep_spec(s), UsageError);  // --mode is linear's
  s.mode.clear();
  s.extra = {"--run-name=x"};
  EXPECT_THROW(validate_sweep_spec(s), UsageError);  // the sweep names the runs
  s.extra = {"--out", "elsewhere"};
  EXPECT_THROW(validate_sweep_spec(s), UsageError);

  SweepSpec l;
  l.target = SweepTarget::linear;
  l.nproc = {2};
  l.tp = {2};
  EXPECT_THROW(validate_sweep_spec(l), UsageError);  // linear's TP size is its ranks
  l.tp.clear();
  l.seq = {16};
  EXPECT_THROW(validate_sweep_spec(l), UsageError);
}

TEST(SweepPlan, ShellJoinQuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(shell_join({"tpbench", "--tp", "1,2,4", "a b", "it's"}), "tpbench --tp 1,2,4 'a b' 'it'\\''s'");
}

TEST(SweepChildProcess, RunsLogsAndReportsTheFailureLine) {
  const std::string dir = ::testing::TempDir() + "tpb_child_process_test";
  std::filesystem::remove_all(dir);
  const std::string log = dir + "/sub/launch.log";
  const ChildResult ok = run_logged({"/bin/sh", "-c", "echo hello; echo oops >&2"}, log, 0);
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_GE(ok.wall_s, 0.0);
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("hello"), std::string::npos);
  EXPECT_NE(text.find("oops"), std::string::npos);

  const std::string log2 = dir + "/fail.log";
  const ChildResult bad =
      run_logged({"/bin/sh", "-c", "echo 'x: error: the reason'; echo trailing noise; exit 3"}, log2, 0);
  EXPECT_EQ(bad.exit_code, 3);
  EXPECT_EQ(failure_line(log2), "x: error: the reason");

  const ChildResult slow = run_logged({"/bin/sh", "-c", "sleep 30"}, dir + "/slow.log", 0.3);
  EXPECT_TRUE(slow.timed_out);
  EXPECT_LT(slow.wall_s, 10.0);
  EXPECT_NE(slow.exit_code, 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tpb
