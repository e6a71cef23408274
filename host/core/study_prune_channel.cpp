// study_prune_channel.cpp — a trial's pruning question to its worker and the answer, over the
// socket the worker gave it (gom run --prune-by-parent FD), one line each way:
//   trial → worker: {"epoch": E, "metrics": {"KEY": VALUE, ...}} (NaN as null, ±inf as "inf")
//   worker → trial: prune | continue
#include <errno.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>

#include "gom_core/study_mpi.h"
#include "study_mpi_protocol.h"

namespace gom {
namespace {

bool send_all(int fd, const std::string& text) {
  for (size_t at = 0; at < text.size();) {
    // MSG_NOSIGNAL: a worker that is gone is an error here, not a SIGPIPE that kills the trial.
    const ssize_t n = ::send(fd, text.data() + at, text.size() - at, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    at += size_t(n);
  }
  return true;
}

}  // namespace

bool ask_parent_to_prune(int fd, int64_t epoch, const std::map<std::string, double>& metrics) {
  nlohmann::json q{{"epoch", epoch}, {"metrics", nlohmann::json::object()}};
  for (const auto& [k, v] : metrics) q["metrics"][k] = study_detail::value_to_json(v);
  if (!send_all(fd, q.dump() + "\n")) return false;  // no worker: it dies with it anyway
  std::string answer;
  for (char c; answer.size() < 64;) {
    const ssize_t n = ::recv(fd, &c, 1, 0);
    if (n < 0 && errno == EINTR) continue;  // a Ctrl-C: the fit sees it after the answer
    if (n <= 0) return false;
    if (c == '\n') break;
    answer += c;
  }
  return answer == "prune";
}

}  // namespace gom
