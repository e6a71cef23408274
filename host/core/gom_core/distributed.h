// gom_core/distributed.h — the MPI layer under data-parallel training and distributed studies
// (host-level, not SDK). One communicator, MPI_COMM_WORLD. Built without MPI (GOM_MPI off), the
// world is this one process: the collectives are no-ops and point-to-point calls throw.
//
// Failures: a rank that fails calls fail_job(message). Rank 0 learns the message while it waits
// in any collective of this layer (they poll for it) and throws RemoteRankError, so it can record
// the run as failed with that rank's error before the job ends (abort_job).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>

#include "gom/error.h"

namespace gom::dist {

struct World {
  int rank = 0;
  int size = 1;
  int local_size = 1;  ///< the ranks on this machine (sharing its cores), this one included
  int local_rank = 0;  ///< this rank's place among them (0 .. local_size - 1)
};

/// @brief Whether gom was built with MPI.
bool built_with_mpi();
/// @brief Whether the environment says this process was started by mpirun/srun in a job of
/// several (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_... ).
bool launched_by_mpi();
/// @brief Initialises MPI when launched_by_mpi() (once; later calls return the same world).
/// Throws gom::Error when launched by mpirun but built without MPI.
const World& init();
/// @brief The world init() made (a world of one before init or outside a job).
const World& world();
/// @brief Ends MPI cleanly (every rank must call it); nothing outside a job.
void finalize();

/// @brief Another rank failed: its rank and error text.
class RemoteRankError : public Error {
 public:
  RemoteRankError(int rank, const std::string& what);
  int rank() const { return rank_; }

 private:
  int rank_;
};

/// @brief On rank 0: the failure another rank reported while a collective waited (the text of the
/// RemoteRankError thrown then), kept because the error may reach the host wrapped (a Lua error
/// names the script's line first) or caught by a script. Empty while every rank is fine.
std::optional<std::string> remote_failure();

// Collectives: every rank calls them in the same order. Rank 0 throws RemoteRankError when a
// rank reports a failure while it waits, and at once in any collective after that one (the
// failed rank takes part in no other).
void all_reduce_sum(float* data, size_t n);
void all_reduce_sum(double* data, size_t n);
void broadcast(void* data, size_t bytes, int root = 0);
void broadcast(std::string& text, int root = 0);
void barrier();

// Point to point (a study's scheduler and its workers): text messages with a tag >= 1.
struct Message {
  int source = -1;
  int tag = 0;
  std::string text;
};
void send(int dest, int tag, const std::string& text);
/// @brief A waiting message with `tag` (any tag when 0) from any rank, or none (no wait).
std::optional<Message> try_receive(int tag = 0);
/// @brief Waits up to `timeout` for a message with `tag` (any when 0) from `source` (any: -1).
std::optional<Message> receive(std::chrono::milliseconds timeout, int tag = 0, int source = -1);
/// @brief send() that gives up after `timeout` (false): a message too large to go out at once
/// waits for its receiver, and a receiver that died never takes it. What was given up on is
/// kept (the library may still read it) until it completes.
bool send_within(int dest, int tag, const std::string& text, std::chrono::milliseconds timeout);

/// @brief MPI errors on MPI_COMM_WORLD come back as gom::Error (MPI_ERRORS_RETURN) instead of
/// ending the job at once. With `mpirun --enable-recovery` the job then outlives a rank that
/// dies: a study's scheduler carries on without a lost worker. No-op outside a job.
void survive_lost_ranks();

/// @brief Says that a rank of the job died (a study's lost worker, its lost scheduler): finalize()
/// then leaves MPI_Finalize out, whose fence would wait for the dead rank forever (Open MPI 4.1
/// under --enable-recovery), and the process just exits.
void mark_rank_lost();
/// @brief Whether mark_rank_lost() was called.
bool rank_lost();

/// @brief The ranks of the job on this host (those sharing its memory), and whether rank 0 is
/// one of them. A collective: every rank calls it. {1, true} outside a job.
struct HostRanks {
  int ranks = 1;
  bool with_rank0 = true;
};
HostRanks ranks_on_this_host();

/// @brief On a rank other than 0: sends `message` to rank 0, gives it a moment to record it, and
/// ends the whole job. On rank 0 (or outside a job): ends the job (after the caller recorded).
[[noreturn]] void fail_job(const std::string& message);
/// @brief Ends every process of the job at once with `code` (MPI_Abort); exits outside a job.
[[noreturn]] void abort_job(int code);

}  // namespace gom::dist
