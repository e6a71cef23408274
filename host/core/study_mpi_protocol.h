// study_mpi_protocol.h — the messages between a study's scheduler (rank 0) and its worker ranks
// (not installed). Every message is a JSON object sent as text with one of these tags. A trial's
// messages carry the number of its assignment, so rank 0 can tell a worker's word about the
// trial it runs now from a stale one (a worker it had given up as lost).
#pragma once

#include <chrono>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "gom_core/distributed.h"

namespace gom::study_detail {

// Rank 0 → a worker.
inline constexpr int kTagTrial = 101;        // {assignment, trial (what gom run needs)}
inline constexpr int kTagPruneAnswer = 102;  // {assignment, prune}
inline constexpr int kTagInterrupt = 103;    // {}: one SIGINT to the running trial
inline constexpr int kTagStop = 104;         // {}: the study is over for this worker
inline constexpr int kTagPing = 105;         // {}: rank 0 is alive

// A worker → rank 0.
inline constexpr int kTagHello = 201;          // {host, pid}: ready for trials
inline constexpr int kTagHeartbeat = 202;      // {assignment (0 when idle)}
inline constexpr int kTagRunStarted = 203;     // {assignment, snapshot}: the trial's run so far
inline constexpr int kTagMetrics = 204;        // {assignment, metrics}: rows since the last
inline constexpr int kTagPruneQuestion = 205;  // {assignment, epoch, value}
inline constexpr int kTagTrialEnded = 206;     // {assignment, snapshot|null, exit_code, signal,
                                               //  log}: then ready for the next
inline constexpr int kTagRefused = 207;        // {assignment, reason}: it cannot run the script

/// @brief How often a worker says it is alive, and rank 0 that it is.
inline constexpr std::chrono::seconds kWorkerHeartbeat{1};
inline constexpr std::chrono::seconds kSchedulerPing{2};
/// @brief A worker that hears nothing from rank 0 this long ends (rank 0 died under
/// --enable-recovery); longer than any wait of rank 0's for a busy database.
inline constexpr std::chrono::seconds kSchedulerSilence{60};
/// @brief How long a send may wait for its receiver to take it.
inline constexpr std::chrono::seconds kSendTimeout{30};

/// @brief The next message from any rank, waiting up to `timeout` for one: looked for every 2 ms,
/// which keeps an idle rank off the cores it shares with trials.
inline std::optional<dist::Message> next_message(std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto m = dist::try_receive()) return m;
    if (std::chrono::steady_clock::now() >= end) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

/// @brief A message's text. A trial's log may hold bytes that are not UTF-8: replaced (U+FFFD)
/// rather than failing the message (run rows keep theirs exactly: study_run_transfer.h).
inline std::string message_text(const nlohmann::json& body) {
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// @brief A metric value as JSON: NaN as null, ±inf as "inf"/"-inf" (JSON has neither).
inline nlohmann::json value_to_json(double v) {
  if (std::isnan(v)) return nullptr;
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}
inline double value_from_json(const nlohmann::json& j) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    if (j.get<std::string>() == "inf") return std::numeric_limits<double>::infinity();
    if (j.get<std::string>() == "-inf") return -std::numeric_limits<double>::infinity();
  }
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace gom::study_detail
