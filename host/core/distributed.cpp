// The MPI layer (gom_core/distributed.h) and the SDK's gom/distributed.h on top of it. MPI's C
// API (the C++ bindings are gone since MPI-3); collectives are the non-blocking ones, waited on
// with a poll that also watches for a failed rank's message on rank 0.
#include "gom_core/distributed.h"

#include <fmt/format.h>

#include <cstdlib>
#include <list>
#include <thread>
#include <utility>
#include <vector>

#include "gom/distributed.h"

#if GOM_WITH_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only: the C++ bindings are gone since MPI-3
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace gom::dist {
namespace {

World the_world;
std::optional<RemoteRankError> the_failure;  // on rank 0: the first failure another rank reported
bool a_rank_lost = false;  // mark_rank_lost(): finalize() leaves MPI_Finalize out

}  // namespace

std::optional<std::string> remote_failure() {
  if (!the_failure) return std::nullopt;
  return std::string(the_failure->what());
}

RemoteRankError::RemoteRankError(int rank, const std::string& what)
    : Error(fmt::format("rank {} of the job failed: {}", rank, what)), rank_(rank) {}

bool built_with_mpi() {
  return GOM_WITH_MPI != 0;
}

bool launched_by_mpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"})
    if (const char* v = std::getenv(var); v && std::atoi(v) > 1) return true;
  return false;
}

const World& world() {
  return the_world;
}

void mark_rank_lost() {
  a_rank_lost = true;
}

bool rank_lost() {
  return a_rank_lost;
}

#if GOM_WITH_MPI

namespace {

constexpr int kErrorTag = 32000;  // a failed rank's message to rank 0
bool initialised = false;

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw Error(fmt::format("MPI: {} failed: {}", what, std::string(text, size_t(len))));
}

// Waits for `req`; on rank 0 a failed rank's message ends the wait with RemoteRankError.
void wait(MPI_Request& req) {
  for (int spins = 0;; ++spins) {
    int done = 0;
    check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) return;
    if (the_world.rank == 0) {
      int pending = 0;
      MPI_Status st;
      check(MPI_Iprobe(MPI_ANY_SOURCE, kErrorTag, MPI_COMM_WORLD, &pending, &st), "MPI_Iprobe");
      if (pending) {
        int len = 0;
        MPI_Get_count(&st, MPI_CHAR, &len);
        std::string text(size_t(len), '\0');
        MPI_Recv(text.data(), len, MPI_CHAR, st.MPI_SOURCE, kErrorTag, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
        the_failure.emplace(st.MPI_SOURCE, text);
        throw *the_failure;
      }
    }
    // Short waits spin; long ones (a slower rank, a rank still loading data) sleep a little.
    if (spins > 1000) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

// A collective after a rank failed would wait for it forever: rank 0 reports the failure again.
void check_no_failure() {
  if (the_failure) throw *the_failure;
}

}  // namespace

const World& init() {
  if (initialised || !launched_by_mpi()) return the_world;
  int already = 0;
  MPI_Initialized(&already);
  if (!already) {
    int provided = 0;
    // Only the main thread calls MPI (the loader's prefetch thread never does).
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &the_world.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &the_world.size);
  // The ranks that share this machine's memory (and cores): the default thread count divides
  // the cores among them.
  MPI_Comm local;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, the_world.rank, MPI_INFO_NULL,
                          &local) == MPI_SUCCESS) {
    MPI_Comm_size(local, &the_world.local_size);
    MPI_Comm_rank(local, &the_world.local_rank);
    MPI_Comm_free(&local);
  }
  initialised = true;
  return the_world;
}

void finalize() {
  if (!initialised) return;
  initialised = false;
  if (!a_rank_lost) MPI_Finalize();
}

void all_reduce_sum(float* data, size_t n) {
  if (the_world.size == 1 || n == 0) return;
  check_no_failure();
  for (size_t at = 0; at < n;) {  // MPI counts are int
    const int count = int(std::min<size_t>(n - at, size_t(1) << 30));
    MPI_Request req;
    check(MPI_Iallreduce(MPI_IN_PLACE, data + at, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req),
          "MPI_Iallreduce");
    wait(req);
    at += size_t(count);
  }
}

void all_reduce_sum(double* data, size_t n) {
  if (the_world.size == 1 || n == 0) return;
  check_no_failure();
  MPI_Request req;
  check(MPI_Iallreduce(MPI_IN_PLACE, data, int(n), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &req),
        "MPI_Iallreduce");
  wait(req);
}

void broadcast(void* data, size_t bytes, int root) {
  if (the_world.size == 1 || bytes == 0) return;
  check_no_failure();
  for (size_t at = 0; at < bytes;) {
    const int count = int(std::min<size_t>(bytes - at, size_t(1) << 30));
    MPI_Request req;
    check(MPI_Ibcast(static_cast<char*>(data) + at, count, MPI_BYTE, root, MPI_COMM_WORLD, &req),
          "MPI_Ibcast");
    wait(req);
    at += size_t(count);
  }
}

void broadcast(std::string& text, int root) {
  if (the_world.size == 1) return;
  uint64_t n = text.size();
  broadcast(&n, sizeof n, root);
  text.resize(size_t(n));
  broadcast(text.data(), size_t(n), root);
}

void barrier() {
  if (the_world.size == 1) return;
  check_no_failure();
  MPI_Request req;
  check(MPI_Ibarrier(MPI_COMM_WORLD, &req), "MPI_Ibarrier");
  wait(req);
}

void send(int dest, int tag, const std::string& text) {
  if (!initialised) throw Error("MPI: send outside an MPI job");
  check(MPI_Send(text.data(), int(text.size()), MPI_CHAR, dest, tag, MPI_COMM_WORLD), "MPI_Send");
}

// Receives the message `st` describes (found by MPI_Iprobe).
static Message take(const MPI_Status& st) {
  int len = 0;
  MPI_Get_count(&st, MPI_CHAR, &len);
  Message m{st.MPI_SOURCE, st.MPI_TAG, std::string(size_t(len), '\0')};
  check(MPI_Recv(m.text.data(), len, MPI_CHAR, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE),
        "MPI_Recv");
  return m;
}

std::optional<Message> try_receive(int tag) {
  return receive(std::chrono::milliseconds(0), tag, -1);
}

std::optional<Message> receive(std::chrono::milliseconds timeout, int tag, int source) {
  if (!initialised) throw Error("MPI: receive outside an MPI job");
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int pending = 0;
    MPI_Status st;
    check(MPI_Iprobe(source < 0 ? MPI_ANY_SOURCE : source, tag == 0 ? MPI_ANY_TAG : tag,
                     MPI_COMM_WORLD, &pending, &st),
          "MPI_Iprobe");
    if (pending) return take(st);
    if (std::chrono::steady_clock::now() >= end) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

namespace {

// Sends given up on by send_within: their buffers stay alive while the library may read them.
std::list<std::pair<MPI_Request, std::string>> abandoned_sends;

void forget_completed_sends() {
  for (auto it = abandoned_sends.begin(); it != abandoned_sends.end();) {
    int done = 0;
    MPI_Test(&it->first, &done, MPI_STATUS_IGNORE);
    it = done ? abandoned_sends.erase(it) : std::next(it);
  }
}

}  // namespace

bool send_within(int dest, int tag, const std::string& text, std::chrono::milliseconds timeout) {
  if (!initialised) throw Error("MPI: send outside an MPI job");
  forget_completed_sends();
  auto& [req, buffer] = abandoned_sends.emplace_back(MPI_REQUEST_NULL, text);
  const int rc =
      MPI_Isend(buffer.data(), int(buffer.size()), MPI_CHAR, dest, tag, MPI_COMM_WORLD, &req);
  if (rc != MPI_SUCCESS) {
    abandoned_sends.pop_back();
    check(rc, "MPI_Isend");
  }
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int done = 0;
    const int test_rc = MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (test_rc != MPI_SUCCESS || done) {
      abandoned_sends.pop_back();
      check(test_rc, "MPI_Test");
      return true;
    }
    if (std::chrono::steady_clock::now() >= end) return false;  // kept in abandoned_sends
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

void survive_lost_ranks() {
  if (initialised) MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

HostRanks ranks_on_this_host() {
  if (!initialised || the_world.size == 1) return {};
  MPI_Comm host;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, the_world.rank, MPI_INFO_NULL,
                            &host),
        "MPI_Comm_split_type");
  HostRanks out;
  int is_rank0 = the_world.rank == 0, has_rank0 = 0;
  MPI_Comm_size(host, &out.ranks);
  const int rc = MPI_Allreduce(&is_rank0, &has_rank0, 1, MPI_INT, MPI_MAX, host);
  MPI_Comm_free(&host);
  check(rc, "MPI_Allreduce");
  out.with_rank0 = has_rank0 != 0;
  return out;
}

void fail_job(const std::string& message) {
  if (initialised && the_world.rank != 0) {
    // Small enough to be sent eagerly: this returns before rank 0 receives it.
    MPI_Send(message.data(), int(message.size()), MPI_CHAR, 0, kErrorTag, MPI_COMM_WORLD);
    std::this_thread::sleep_for(std::chrono::seconds(10));  // rank 0 records, then aborts
  }
  abort_job(1);
}

void abort_job(int code) {
  if (initialised && the_world.size > 1) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

#else  // a build without MPI: a world of one

const World& init() {
  if (launched_by_mpi())
    throw Error(
        "gom was started by mpirun as one of several processes, but was built without MPI: "
        "install libopenmpi-dev (scripts/setup does) and rebuild, or run it without mpirun");
  return the_world;
}
void finalize() {}
void all_reduce_sum(float*, size_t) {}
void all_reduce_sum(double*, size_t) {}
void broadcast(void*, size_t, int) {}
void broadcast(std::string&, int) {}
void barrier() {}
void send(int, int, const std::string&) {
  throw Error("MPI: this gom was built without MPI");
}
std::optional<Message> try_receive(int) {
  throw Error("MPI: this gom was built without MPI");
}
std::optional<Message> receive(std::chrono::milliseconds, int, int) {
  throw Error("MPI: this gom was built without MPI");
}
bool send_within(int, int, const std::string&, std::chrono::milliseconds) {
  throw Error("MPI: this gom was built without MPI");
}
void survive_lost_ranks() {}
HostRanks ranks_on_this_host() {
  return {};
}
void fail_job(const std::string&) {
  abort_job(1);
}
void abort_job(int code) {
  std::exit(code);
}

#endif

}  // namespace gom::dist

namespace gom {

int world_rank() {
  return dist::world().rank;
}
int world_size() {
  return dist::world().size;
}
void all_reduce_sum(std::span<double> values) {
  dist::all_reduce_sum(values.data(), values.size());
}

}  // namespace gom
