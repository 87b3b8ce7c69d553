#include "cli/mpirun_output.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <regex>

namespace tpb {

namespace {

bool is_rule(const std::string& s) {
  return s.size() >= 20 && s.find_first_not_of('-') == std::string::npos;
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  const size_t b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

}  // namespace

void MpirunOutputFilter::line(const std::string& text, std::vector<std::string>& out) {
  if (is_rule(text)) {
    if (in_block_) {
      close_block(out);
    } else {
      in_block_ = true;
      block_.clear();
    }
    return;
  }
  if (in_block_) {
    block_.push_back(text);
    return;
  }
  // mpirun's notes about its own help messages, and its internal error log.
  static const std::regex noise(R"(^\[[^\]]+:\d+\] (\d+ more process(es)? (has|have) sent help message|Set MCA parameter "orte_base_help_aggregate"|\[\[\d+,\d+\],\d+\] ORTE_ERROR_LOG))");
  if (std::regex_search(text, noise)) return;
  static const std::regex rank_error(R"(^\[rank \d+\] tpbench [^:]*: error: )");
  if (std::regex_search(text, rank_error)) rank_said_why_ = explained_ = true;
  out.push_back(text);
}

void MpirunOutputFilter::close_block(std::vector<std::string>& out) {
  in_block_ = false;
  std::string joined;
  for (const std::string& l : block_) joined += (joined.empty() ? "" : " ") + trim(l);
  std::smatch m;
  static const std::regex signal(R"(process rank (\d+) with PID \d+ on node (\S+) exited on signal (\d+) \(([^)]*)\))");
  static const std::regex nonzero(R"(exited with non-zero status.*Process name: \[\[\d+,\d+\],(\d+)\].*Exit code: +(-?\d+))");
  static const std::regex abort_call(R"(MPI_ABORT was invoked on rank (\d+) in communicator \S+ with errorcode (-?\d+))");
  static const std::regex improper(R"(due to process rank (\d+) with PID \d+ on node \S+ exiting improperly)");
  if (std::regex_search(joined, m, signal)) {
    out.push_back(fmt::format("tpbench: error: rank {} was killed by signal {} ({})", m[1].str(), m[3].str(),
                              m[4].str()));
    explained_ = true;
  } else if (std::regex_search(joined, m, nonzero)) {
    // tpbench's own statuses (docs/results.md: 2 bad input, 3 diverged or watchdog, 4 results
    // not written, 130 / 143 interrupted) come after the rank said why itself.
    const std::string status = m[2].str();
    const bool own = status == "2" || status == "3" || status == "4" || status == "130" || status == "143";
    if (!rank_said_why_ && !own)
      out.push_back(fmt::format("tpbench: error: rank {} exited with status {}", m[1].str(), status));
    explained_ = true;
  } else if (std::regex_search(joined, m, abort_call)) {
    if (!rank_said_why_)
      out.push_back(fmt::format("tpbench: error: rank {} called MPI_Abort (error code {})", m[1].str(), m[2].str()));
    explained_ = true;
  } else if (std::regex_search(joined, m, improper)) {
    out.push_back(fmt::format("tpbench: error: rank {} exited without finalizing MPI", m[1].str()));
    explained_ = true;
  } else if (joined.find("Primary job") != std::string::npos &&
             joined.find("terminated normally") != std::string::npos) {
    // Says only that some rank failed; the next block says which.
  } else if (!joined.empty()) {
    // Any other help: its first sentence and its "Key: value" facts, on one line.
    std::string first = joined.substr(0, joined.find(". "));
    if (!first.empty() && first.back() == '.') first.pop_back();
    std::vector<std::string> facts;
    static const std::regex fact(R"(^\s*([A-Za-z][A-Za-z ]{0,30}):\s+(\S.*)$)");
    for (const std::string& l : block_)
      if (std::regex_match(l, m, fact)) facts.push_back(m[1].str() + ": " + trim(m[2].str()));
    out.push_back(facts.empty() ? fmt::format("tpbench: Open MPI: {}", first)
                                : fmt::format("tpbench: Open MPI: {} ({})", first, fmt::join(facts, ", ")));
    explained_ = true;
  }
  block_.clear();
}

void MpirunOutputFilter::finish(int status, std::vector<std::string>& out) {
  if (in_block_) {  // an unterminated block: show what there is
    for (const std::string& l : block_) out.push_back(l);
    in_block_ = false;
    block_.clear();
  }
  if (status != 0 && !explained_) {
    const std::string hint = hint_.empty() ? "" : " (" + hint_ + ")";
    if (status > 128)
      out.push_back(fmt::format("tpbench: error: mpirun ended with status {} (signal {}) and no rank said why{}",
                                status, status - 128, hint));
    else
      out.push_back(fmt::format("tpbench: error: mpirun exited with status {} and no rank said why{}", status, hint));
  }
}

}  // namespace tpb
