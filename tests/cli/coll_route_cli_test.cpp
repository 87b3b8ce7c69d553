// The collective-route flags end to end (tpbench --coll-route, --coll-table, comm
// --tune-routes): bad values refused with exit 2 and one message naming them; a real 2-rank
// `comm` forced onto each route reports that route in every JSON row with nothing wrong;
// a tuned profile's "routes" loads as a table that a later run uses, row by row; and a
// hand-written table mixing routes by size sends each row of a run its own way.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_test_util.h"
#include "comm/coll_route.h"

namespace {

namespace fs = std::filesystem;
using cli_test::count;
using cli_test::kExe;
using cli_test::Result;
using cli_test::run;

class CollRouteCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tpb_coll_route_cli_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  static nlohmann::json read_json(const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return nlohmann::json::parse(ss.str());  // throws (fails the test) when not JSON
  }
  // A usage error: exit 2, fast, and `message` exactly once.
  static void expect_usage_error(const std::string& args, const std::string& message) {
    const Result r = run(kExe + " " + args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.output;
    EXPECT_LT(r.seconds, 10.0) << r.output;
    EXPECT_EQ(count(r.output, message), 1) << args << "\n" << r.output;
    EXPECT_EQ(count(r.output, "\n"), 1) << "one line: " << r.output;
  }
  // Every row of a `comm --json` file moved by `route`, checked with nothing wrong.
  static void expect_rows(const nlohmann::json& j, const std::string& route, size_t min_rows) {
    size_t rows = 0;
    for (const auto& op : j.at("ops"))
      for (const auto& row : op.at("sizes")) {
        ++rows;
        EXPECT_EQ(row.at("route").get<std::string>(), route) << op.at("op") << " " << row.at("bytes");
        EXPECT_EQ(row.at("out_of_place").at("wrong").get<int64_t>(), 0) << row.dump();
        EXPECT_EQ(row.at("in_place").at("wrong").get<int64_t>(), 0) << row.dump();
      }
    EXPECT_GE(rows, min_rows);
    EXPECT_EQ(j.at("wrong_total").get<int64_t>(), 0);
  }
  fs::path dir_;
};

TEST_F(CollRouteCli, BadRouteOrTableIsAUsageError) {
  expect_usage_error("--coll-route bogus comm -b 4K -e 4K", "bogus");
  expect_usage_error("--coll-table /nonexistent/table.json comm -b 4K -e 4K", "/nonexistent/table.json");
  const std::string corrupt = path("corrupt.json");
  std::ofstream(corrupt) << "{\"schema\": \"tpbench.coll_routes/1\", \"routes\": [";
  expect_usage_error("--coll-table " + corrupt + " comm -b 4K -e 4K", "route table " + corrupt + ": not JSON");
  const std::string wrong = path("wrong.json");
  std::ofstream(wrong) << R"({"schema": "tpbench.coll_routes/1", "routes": [{"op": "all_reduce", "group_size": 2,
                              "rules": [{"below_bytes": null, "route": "nccl"}]}]})";
  expect_usage_error("--coll-table " + wrong + " comm -b 4K -e 4K", "route 'nccl' is not mpi or shm");
  const std::string good = path("good.json");
  std::ofstream(good) << tpb::to_json(tpb::builtin_route_table()).dump();
  expect_usage_error("--coll-route shm --coll-table " + good + " comm -b 4K -e 4K",
                     "--coll-table " + good + " has no effect with --coll-route shm");
  expect_usage_error("comm --tune-routes -b 4K -e 4K", "give --profile-out FILE");
}

TEST_F(CollRouteCli, ForcedRouteIsInEveryRow) {
  for (const std::string route : {"shm", "mpi"}) {
    const std::string json = path(route + ".json");
    const Result r = run(kExe + " --nproc 2 --coll-route " + route +
                         " comm --op reduce_scatter -b 4K -e 64K -n 2 -w 1 --json " + json);
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(count(r.output, "# collective routes: " + route + " (forced by --coll-route)\n"), 1) << r.output;
    const nlohmann::json j = read_json(json);
    ASSERT_EQ(j.at("ops").size(), 1u);
    EXPECT_EQ(j["ops"][0].at("op").get<std::string>(), "reduce_scatter");
    expect_rows(j, route, 5);  // 4K 8K 16K 32K 64K
  }
}

TEST_F(CollRouteCli, TunedProfileLoadsAsATableThatRunsUse) {
  const std::string profile = path("profile.json");
  const Result t = run(kExe + " --nproc 2 comm --tune-routes -b 4K -e 16K -n 2 -w 1 --profile-out " + profile);
  ASSERT_EQ(t.status, 0) << t.output;
  EXPECT_EQ(count(t.output, "# route table: auto (tuned table): [2 ranks]"), 1) << t.output;
  const nlohmann::json p = read_json(profile);
  ASSERT_TRUE(p.contains("routes")) << p.dump();
  EXPECT_EQ(p["routes"].at("schema").get<std::string>(), tpb::kRouteTableSchema);
  EXPECT_TRUE(p.contains("route_tuning"));
  const tpb::RouteTable table = tpb::load_route_table(profile);  // throws (fails) if it does not load
  // The four routed ops tuned on groups of 2, over the built-in table it started from (whose
  // rules for groups of 4 stay as they were).
  EXPECT_EQ(table.rules().size(), tpb::builtin_route_table().rules().size());
  for (tpb::CommOp op : tpb::kRoutedOps) {
    EXPECT_EQ(table.rules().count({op, 2}), 1u) << tpb::comm_op_name(op);
    EXPECT_EQ(table.rules().at({op, 4}), tpb::builtin_route_table().rules().at({op, 4})) << tpb::comm_op_name(op);
  }

  // A run with the table says so and takes, per row, the route the table gives.
  const std::string json = path("auto.json");
  const Result a = run(kExe + " --coll-table " + profile + " --nproc 2 comm --op all -b 4K -e 16K -n 1 -w 0 --json " + json);
  ASSERT_EQ(a.status, 0) << a.output;
  EXPECT_EQ(count(a.output, "# collective routes: auto (" + profile + " table): [2 ranks] all_reduce "), 1) << a.output;
  tpb::RoutePolicy policy;
  policy.table = table;
  EXPECT_EQ(count(a.output, "# collective routes: " + policy.describe() + "\n"), 1) << a.output;
  const nlohmann::json j = read_json(json);
  size_t routed_rows = 0;
  for (const auto& op : j.at("ops")) {
    for (tpb::CommOp o : tpb::kRoutedOps) {
      if (tpb::comm_op_name(o) != op.at("op").get<std::string>()) continue;
      for (const auto& row : op.at("sizes")) {
        ++routed_rows;
        EXPECT_EQ(row.at("route").get<std::string>(),
                  std::string(tpb::coll_route_name(table.lookup(o, 2, row.at("bytes").get<int64_t>()))))
            << op.at("op") << " " << row.at("bytes");
      }
    }
  }
  EXPECT_EQ(routed_rows, 4u * 3u);  // 4K 8K 16K of each routed op
  EXPECT_EQ(j.at("wrong_total").get<int64_t>(), 0);
}

TEST_F(CollRouteCli, HandWrittenTableRoutesEachRow) {
  // A profile whose table mixes routes by size (a tuned one on this machine may be all shm).
  const std::string table = path("mixed.json");
  std::ofstream(table) << R"({"schema": "tpbench.cost_model/1", "routes": {"schema": "tpbench.coll_routes/1", "routes": [
      {"op": "all_reduce", "group_size": 2, "rules": [{"below_bytes": 8192, "route": "mpi"}, {"below_bytes": null, "route": "shm"}]},
      {"op": "all_gather", "group_size": 2, "rules": [{"below_bytes": null, "route": "mpi"}]},
      {"op": "broadcast", "group_size": 2, "rules": [{"below_bytes": 8192, "route": "shm"}, {"below_bytes": null, "route": "mpi"}]}]}})";
  const std::string json = path("mixed_run.json");
  const Result r = run(kExe + " --nproc 2 --coll-table " + table + " comm --op all -b 4K -e 16K -n 1 -w 0 --json " + json);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(count(r.output, "# collective routes: auto (" + table +
                                " table): [2 ranks] all_reduce mpi<8K<=shm; all_gather mpi; broadcast shm<8K<=mpi\n"),
            1)
      << r.output;
  const std::map<std::string, std::vector<std::string>> want = {  // 4K, 8K, 16K
      {"all_reduce", {"mpi", "shm", "shm"}},
      {"all_gather", {"mpi", "mpi", "mpi"}},
      {"reduce_scatter", {"mpi", "mpi", "mpi"}},  // no rules: mpi
      {"broadcast", {"shm", "mpi", "mpi"}},
      {"all_to_all", {"mpi", "mpi", "mpi"}}};
  const nlohmann::json j = read_json(json);
  std::map<std::string, std::vector<std::string>> got;
  for (const auto& op : j.at("ops"))
    for (const auto& row : op.at("sizes")) got[op.at("op").get<std::string>()].push_back(row.at("route").get<std::string>());
  EXPECT_EQ(got, want);
  EXPECT_EQ(j.at("wrong_total").get<int64_t>(), 0);
}

}  // namespace
