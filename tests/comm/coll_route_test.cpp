// Collective routes without MPI (comm/coll_route.h): RouteTable lookups at the byte
// boundaries and across group sizes, the rules set() refuses, the JSON form (round trip, a
// machine profile holding one, bad files named in the message), and RoutePolicy::choose's
// fallbacks to mpi and describe()'s one-line text.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <ostream>
#include <string>
#include <unistd.h>

#include "base/error.h"
#include "comm/coll_route.h"

namespace tpb {

void PrintTo(CollRoute r, std::ostream* os) { *os << coll_route_name(r); }  // gtest: names, not bytes

namespace {

constexpr int64_t kMax = INT64_MAX;

// The text of the tpb::Error `f` throws, or "" when it throws none.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// all_reduce: mpi below 4 KiB, shm from there; all_gather: shm on 2 ranks, mpi on 4.
RouteTable two_op_table() {
  RouteTable t;
  t.set(CommOp::all_reduce, 2, {{4096, CollRoute::mpi}, {kMax, CollRoute::shm}});
  t.set(CommOp::all_gather, 2, {{kMax, CollRoute::shm}});
  t.set(CommOp::all_gather, 4, {{kMax, CollRoute::mpi}});
  return t;
}

TEST(RouteNames, ParseOnlyHostRoutes) {
  EXPECT_EQ(parse_host_route("mpi"), CollRoute::mpi);
  EXPECT_EQ(parse_host_route("shm"), CollRoute::shm);
  EXPECT_FALSE(parse_host_route("nccl").has_value());
  EXPECT_FALSE(parse_host_route("auto").has_value());
  EXPECT_FALSE(parse_host_route("").has_value());
  EXPECT_EQ(coll_route_name(CollRoute::shm), "shm");
  EXPECT_EQ(route_key(CommOp::all_gather_v), CommOp::all_gather);
  EXPECT_EQ(route_key(CommOp::reduce_scatter_v), CommOp::reduce_scatter);
  EXPECT_EQ(route_key(CommOp::broadcast), CommOp::broadcast);
}

TEST(RouteTable, LookupAtTheByteBoundary) {
  const RouteTable t = two_op_table();
  EXPECT_EQ(t.lookup(CommOp::all_reduce, 2, 0), CollRoute::mpi);
  EXPECT_EQ(t.lookup(CommOp::all_reduce, 2, 4095), CollRoute::mpi);
  EXPECT_EQ(t.lookup(CommOp::all_reduce, 2, 4096), CollRoute::shm);  // below_bytes is exclusive
  EXPECT_EQ(t.lookup(CommOp::all_reduce, 2, 4097), CollRoute::shm);
  EXPECT_EQ(t.lookup(CommOp::all_reduce, 2, kMax), CollRoute::shm);
}

TEST(RouteTable, LookupTakesTheLargestMeasuredGroupNotAbove) {
  const RouteTable t = two_op_table();
  EXPECT_EQ(t.lookup(CommOp::all_gather, 2, 1 << 20), CollRoute::shm);
  EXPECT_EQ(t.lookup(CommOp::all_gather, 3, 1 << 20), CollRoute::shm);  // 2 is the largest <= 3
  EXPECT_EQ(t.lookup(CommOp::all_gather, 4, 1 << 20), CollRoute::mpi);
  EXPECT_EQ(t.lookup(CommOp::all_gather, 64, 1 << 20), CollRoute::mpi);
  EXPECT_EQ(t.lookup(CommOp::all_gather, 1, 1 << 20), CollRoute::shm);  // none <= 1: the smallest
  // all_reduce was measured on 2 ranks only: its rules serve every size.
  EXPECT_EQ(t.lookup(CommOp::all_reduce, 8, 100), CollRoute::mpi);
  EXPECT_EQ(t.lookup(CommOp::all_reduce, 8, 8192), CollRoute::shm);
}

TEST(RouteTable, VariableOpsFollowTheirEvenOp) {
  RouteTable t = two_op_table();
  t.set(CommOp::reduce_scatter, 2, {{1024, CollRoute::shm}, {kMax, CollRoute::mpi}});
  EXPECT_EQ(t.lookup(CommOp::all_gather_v, 2, 10), CollRoute::shm);
  EXPECT_EQ(t.lookup(CommOp::all_gather_v, 4, 10), CollRoute::mpi);
  EXPECT_EQ(t.lookup(CommOp::reduce_scatter_v, 2, 1023), CollRoute::shm);
  EXPECT_EQ(t.lookup(CommOp::reduce_scatter_v, 2, 1024), CollRoute::mpi);
}

TEST(RouteTable, OpsWithoutRulesTakeMpi) {
  const RouteTable t = two_op_table();
  EXPECT_EQ(t.lookup(CommOp::broadcast, 2, 1 << 20), CollRoute::mpi);
  EXPECT_EQ(t.lookup(CommOp::reduce_scatter, 2, 1 << 20), CollRoute::mpi);
  EXPECT_EQ(t.lookup(CommOp::reduce_scatter_v, 2, 1 << 20), CollRoute::mpi);
  EXPECT_EQ(t.lookup(CommOp::all_to_all, 2, 1 << 20), CollRoute::mpi);
  EXPECT_EQ(RouteTable{}.lookup(CommOp::all_reduce, 2, 1 << 20), CollRoute::mpi);
}

TEST(RouteTable, SetRefusesBadRulesNamingTheOp) {
  RouteTable t;
  const auto refused = [&t](CommOp op, int size, std::vector<RouteRule> rules, const std::string& what) {
    const std::string e = error_of([&] { t.set(op, size, rules); });
    EXPECT_TRUE(has(e, what)) << "got: '" << e << "'";
    EXPECT_TRUE(has(e, std::string(comm_op_name(op)))) << e;
  };
  refused(CommOp::all_reduce, 2, {{8192, CollRoute::shm}, {4096, CollRoute::mpi}, {kMax, CollRoute::shm}},
          "is not above the rule before it");
  refused(CommOp::all_reduce, 2, {{4096, CollRoute::shm}, {4096, CollRoute::mpi}, {kMax, CollRoute::shm}},
          "is not above the rule before it");
  refused(CommOp::all_reduce, 2, {{0, CollRoute::shm}, {kMax, CollRoute::mpi}}, "is not above the rule before it");
  refused(CommOp::all_gather, 2, {{4096, CollRoute::shm}}, "the last rule must cover every larger size");
  refused(CommOp::all_gather, 2, {}, "the last rule must cover every larger size");
  refused(CommOp::broadcast, 2, {{kMax, CollRoute::nccl}}, "is not a host route");
  refused(CommOp::broadcast, 0, {{kMax, CollRoute::shm}}, "for a group of 0 ranks");
  refused(CommOp::all_to_all, 2, {{kMax, CollRoute::shm}}, "has no routes");
  EXPECT_TRUE(t.rules().empty());  // nothing refused went in
  EXPECT_EQ(error_of([&] { t.set(CommOp::all_reduce, 2, {{1, CollRoute::shm}, {kMax, CollRoute::mpi}}); }), "");
}

TEST(RouteTableJson, RoundTripsEqual) {
  RouteTable t = two_op_table();
  t.set(CommOp::broadcast, 8, {{512, CollRoute::shm}, {1 << 20, CollRoute::mpi}, {kMax, CollRoute::shm}});
  const nlohmann::json j = to_json(t);
  EXPECT_EQ(j.at("schema"), kRouteTableSchema);
  const RouteTable back = route_table_from_json(nlohmann::json::parse(j.dump()), "t.json");
  EXPECT_EQ(back, t);
  EXPECT_EQ(back.source, "t.json");
  EXPECT_EQ(back.lookup(CommOp::broadcast, 8, (1 << 20) - 1), CollRoute::mpi);
  EXPECT_EQ(back.lookup(CommOp::broadcast, 8, 1 << 20), CollRoute::shm);
  EXPECT_EQ(back.lookup(CommOp::broadcast, 8, 511), CollRoute::shm);
  EXPECT_EQ(route_table_from_json(to_json(builtin_route_table()), "b"), builtin_route_table());
}

TEST(RouteTableJson, ReadsTheTableOfAMachineProfile) {
  const RouteTable t = two_op_table();
  nlohmann::json profile = {{"schema", "tpbench.cost_model/1"}, {"ops", nlohmann::json::object()}};
  profile["routes"] = to_json(t);
  EXPECT_EQ(route_table_from_json(profile, "profile.json"), t);
}

TEST(RouteTableJson, RefusesBadTablesNamingTheSource) {
  const auto refused = [](const nlohmann::json& j, const std::string& what) {
    const std::string e = error_of([&] { route_table_from_json(j, "SRC.json"); });
    EXPECT_TRUE(has(e, "route table SRC.json")) << "got: '" << e << "'";
    EXPECT_TRUE(has(e, what)) << "got: '" << e << "'";
  };
  nlohmann::json good = to_json(two_op_table());

  nlohmann::json wrong_schema = good;
  wrong_schema["schema"] = "tpbench.coll_routes/2";
  refused(wrong_schema, "neither a route table");
  refused(nlohmann::json{{"schema", "tpbench.cost_model/1"}, {"routes", wrong_schema}}, "schema is not");
  refused(nlohmann::json::array(), "schema is not");
  refused(nlohmann::json{{"schema", "x"}}, "neither a route table");

  nlohmann::json unknown_op = good;
  unknown_op["routes"][0]["op"] = "all_to_all";
  refused(unknown_op, "op 'all_to_all' has no routes");

  nlohmann::json unknown_route = good;
  unknown_route["routes"][0]["rules"][0]["route"] = "nccl";
  refused(unknown_route, "route 'nccl' is not mpi or shm");

  nlohmann::json missing_key = good;
  missing_key["routes"][0].erase("group_size");
  refused(missing_key, "group_size");

  nlohmann::json unsorted = good;  // set()'s own refusal, with the source added
  unsorted["routes"][0]["rules"] = {{{"below_bytes", 8192}, {"route", "shm"}}, {{"below_bytes", 4096}, {"route", "mpi"}},
                                    {{"below_bytes", nullptr}, {"route", "shm"}}};
  refused(unsorted, "is not above the rule before it");

  nlohmann::json fractional = good;  // not cast: refused by name
  fractional["routes"][0]["rules"][0]["below_bytes"] = 4096.5;
  refused(fractional, "'below_bytes' must be an integer, not 4096.5");
  nlohmann::json huge_group = good;
  huge_group["routes"][0]["group_size"] = int64_t{1} << 33;
  refused(huge_group, "'group_size' = 8589934592 is outside");
}

class RouteTableFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("tpb_coll_route_test_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(RouteTableFile, LoadsWhatWasWritten) {
  const std::string path = write("table.json", to_json(two_op_table()).dump(2));
  const RouteTable t = load_route_table(path);
  EXPECT_EQ(t, two_op_table());
  EXPECT_EQ(t.source, path);
}

TEST_F(RouteTableFile, MissingAndNonJsonFilesNameThePath) {
  const std::string missing = (dir_ / "none.json").string();
  const std::string e1 = error_of([&] { load_route_table(missing); });
  EXPECT_TRUE(has(e1, "route table " + missing + ": cannot be read")) << e1;
  const std::string corrupt = write("corrupt.json", "{\"schema\": \"tpbench.coll_routes/1\", \"routes\": [");
  const std::string e2 = error_of([&] { load_route_table(corrupt); });
  EXPECT_TRUE(has(e2, "route table " + corrupt + ": not JSON")) << e2;
  const std::string empty = write("empty.json", "");
  EXPECT_TRUE(has(error_of([&] { load_route_table(empty); }), "route table " + empty + ": not JSON"));
}

TEST(RoutePolicy, ForcedShmFallsBackToMpiWhereItCannotGo) {
  RoutePolicy p;
  p.forced = CollRoute::shm;
  EXPECT_EQ(p.choose(CommOp::all_reduce, 2, 1024, true, true), CollRoute::shm);
  EXPECT_EQ(p.choose(CommOp::reduce_scatter_v, 4, 1024, true, true), CollRoute::shm);
  EXPECT_EQ(p.choose(CommOp::all_reduce, 2, 1024, /*intra_node=*/false, true), CollRoute::mpi);
  EXPECT_EQ(p.choose(CommOp::broadcast, 2, 1024, false, true), CollRoute::mpi);
  EXPECT_EQ(p.choose(CommOp::all_reduce, 1, 1024, true, true), CollRoute::mpi);
  EXPECT_EQ(p.choose(CommOp::all_gather, 1, 1024, true, true), CollRoute::mpi);
  // A dtype the route cannot reduce: reductions go to mpi, moves need no reduction.
  EXPECT_EQ(p.choose(CommOp::all_reduce, 2, 1024, true, /*reducible=*/false), CollRoute::mpi);
  EXPECT_EQ(p.choose(CommOp::reduce_scatter, 2, 1024, true, false), CollRoute::mpi);
  EXPECT_EQ(p.choose(CommOp::reduce_scatter_v, 2, 1024, true, false), CollRoute::mpi);
  EXPECT_EQ(p.choose(CommOp::all_gather, 2, 1024, true, false), CollRoute::shm);
  EXPECT_EQ(p.choose(CommOp::all_gather_v, 2, 1024, true, false), CollRoute::shm);
  EXPECT_EQ(p.choose(CommOp::broadcast, 2, 1024, true, false), CollRoute::shm);
  EXPECT_EQ(p.choose(CommOp::all_to_all, 2, 1024, true, true), CollRoute::mpi);
  EXPECT_EQ(p.choose(CommOp::barrier, 2, 0, true, true), CollRoute::mpi);
}

TEST(RoutePolicy, ForcedMpiAlwaysMpiAndAutoFollowsTheTable) {
  RoutePolicy forced_mpi;
  forced_mpi.forced = CollRoute::mpi;
  forced_mpi.table = two_op_table();
  EXPECT_EQ(forced_mpi.choose(CommOp::all_reduce, 2, 1 << 20, true, true), CollRoute::mpi);
  EXPECT_EQ(forced_mpi.choose(CommOp::all_gather, 2, 1 << 20, true, true), CollRoute::mpi);

  RoutePolicy tabled;
  tabled.table = two_op_table();
  EXPECT_EQ(tabled.choose(CommOp::all_reduce, 2, 1024, true, true), CollRoute::mpi);
  EXPECT_EQ(tabled.choose(CommOp::all_reduce, 2, 8192, true, true), CollRoute::shm);
  EXPECT_EQ(tabled.choose(CommOp::all_gather_v, 3, 8, true, true), CollRoute::shm);
  EXPECT_EQ(tabled.choose(CommOp::all_gather_v, 4, 8, true, true), CollRoute::mpi);
  EXPECT_EQ(tabled.choose(CommOp::all_reduce, 2, 8192, false, true), CollRoute::mpi);
  EXPECT_EQ(tabled.choose(CommOp::broadcast, 2, 8192, true, true), CollRoute::mpi);  // no rules

  const RoutePolicy builtin;  // the default: shm for every routed op from 4 ranks; measured rules on 2
  for (CommOp op : kRoutedOps) EXPECT_EQ(builtin.choose(op, 4, 1 << 20, true, true), CollRoute::shm);
  for (CommOp op : kRoutedOps) EXPECT_EQ(builtin.choose(op, 8, 64 << 20, true, true), CollRoute::shm);
  EXPECT_EQ(builtin.choose(CommOp::all_reduce, 2, 64 << 20, true, true), CollRoute::shm);
  EXPECT_EQ(builtin.choose(CommOp::reduce_scatter_v, 2, 4096, true, true), CollRoute::shm);
  EXPECT_EQ(builtin.choose(CommOp::broadcast, 2, (64 << 10) - 1, true, true), CollRoute::shm);
  EXPECT_EQ(builtin.choose(CommOp::broadcast, 2, 64 << 10, true, true), CollRoute::mpi);
  EXPECT_EQ(builtin.choose(CommOp::all_gather_v, 3, 128 << 10, true, true), CollRoute::mpi);  // 2's rules
  EXPECT_EQ(builtin.choose(CommOp::all_gather, 2, 1 << 20, true, true), CollRoute::shm);
  EXPECT_EQ(builtin.choose(CommOp::all_gather, 2, 64 << 20, true, true), CollRoute::mpi);
}

TEST(RoutePolicy, DescribeSaysForcedOrWhichTable) {
  RoutePolicy p;
  p.forced = CollRoute::shm;
  EXPECT_EQ(p.describe(), "shm (forced by --coll-route)");
  p.forced = CollRoute::mpi;
  EXPECT_EQ(p.describe(), "mpi (forced by --coll-route)");

  const RoutePolicy builtin;
  EXPECT_EQ(builtin.describe(),
            "auto (built-in table): [2 ranks] all_reduce shm; all_gather shm<64K<=mpi<512K<=shm<64M<=mpi; "
            "reduce_scatter shm; broadcast shm<64K<=mpi [4 ranks] all_reduce shm; all_gather shm; reduce_scatter "
            "shm; broadcast shm");

  RoutePolicy tabled;
  tabled.table = two_op_table();
  tabled.table.source = "P.json";
  EXPECT_EQ(tabled.describe(), "auto (P.json table): [2 ranks] all_reduce mpi<4K<=shm; all_gather shm [4 ranks] all_gather mpi");
}

}  // namespace
}  // namespace tpb
