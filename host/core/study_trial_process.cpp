// study_trial_process.cpp — a trial's label, its overrides and its `gom run` process. Children
// get their own process group (a terminal's Ctrl-C reaches the worker only, which passes one
// SIGINT on to each child) and die with the worker (PR_SET_PDEATHSIG), so a killed worker leaves
// no trial running unseen.
#include "study_trial_process.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gom/error.h"
#include "gom_core/recorder.h"
#include "gom_core/search.h"

extern char** environ;

namespace gom::study_detail {
namespace {

// Variables by which mpirun (Open MPI's, MPICH's, PMIx) tells a process it is a rank of a job.
// A trial started by a worker rank must not take itself for one (gom would call MPI_Init).
bool is_launcher_variable(const char* entry) {
  for (const char* prefix : {"OMPI_", "PMIX_", "PMI_", "MPI_LOCALNRANKS=", "MPI_LOCALRANKID="})
    if (std::string_view(entry).starts_with(prefix)) return true;
  return false;
}

}  // namespace

std::string trial_label(const StudyRecord& s, const TrialRecord& t) {
  const int64_t total = s.def.kind == StudyKind::kLeague
                            ? int64_t(s.def.contenders.size() * s.def.seeds.size())
                            : s.def.trials;
  const std::string of = total > 0 ? fmt::format("/{}", total) : "";
  if (s.def.kind == StudyKind::kLeague)
    return fmt::format("trial {}{} {} seed {}", t.number + 1, of, t.contender, t.seed);
  std::string params;  // 4 digits of a double: a label to read (the params table has them all)
  for (const auto& [k, v] : t.params.items())
    params += fmt::format(" {}={}", k,
                          v.is_string()         ? v.get<std::string>()
                          : v.is_number_float() ? fmt::format("{:.4g}", v.get<double>())
                                                : v.dump());
  return fmt::format("trial {}{}{}", t.number + 1, of, params);
}

void check_script(const StudyDefinition& def) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(def.script, ec))
    throw Error(fmt::format("{} '{}': its script {} is gone", study_kind_name(def.kind), def.name,
                            def.script));
  const std::string sha = sha256_file_hex(def.script);
  if (!def.script_sha256.empty() && sha != def.script_sha256)
    throw Error(fmt::format(
        "{} '{}': its script {} changed since the study was made (sha256 {} then, {} now); "
        "trials of one study must run the same script: restore it, or start a study of "
        "another name",
        study_kind_name(def.kind), def.name, def.script, def.script_sha256.substr(0, 12),
        sha.substr(0, 12)));
}

std::vector<std::string> trial_sets(const StudyRecord& s, const TrialRecord& t) {
  std::vector<std::string> sets;
  for (const auto& [k, v] : s.def.common) sets.push_back(k + "=" + v);
  for (const auto& [k, v] : t.params.items()) sets.push_back(k + "=" + search::override_text(v));
  return sets;
}

pid_t spawn_trial(const std::vector<std::string>& argv, const std::string& log, int channel_fd) {
  // Everything the child needs is made before fork: after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env;
  for (char** e = environ; *e; ++e)
    if (!is_launcher_variable(*e)) env.push_back(*e);
  env.push_back(nullptr);
  const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) throw Error(fmt::format("cannot write the trial log {}", log));
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    ::close(out);
    throw Error("cannot start a trial process (fork failed)");
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the worker died before prctl
    setpgid(0, 0);
    const int in = ::open("/dev/null", O_RDONLY);
    if (in >= 0) dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    int keep = 2;
    if (channel_fd >= 0) {
      if (channel_fd == 3)
        fcntl(3, F_SETFD, 0);  // dup2 onto itself would leave close-on-exec set
      else
        dup2(channel_fd, 3);
      keep = 3;
    }
    // An MPI library's sockets and shared memory are not the trial's to hold.
    close_range(unsigned(keep + 1), ~0U, 0);
    execve(args[0], args.data(), env.data());
    _exit(127);
  }
  ::close(out);
  return pid;
}

std::string log_tail(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string l; std::getline(in, l);) all.push_back(l);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i)
    out += "    " + all[i] + "\n";
  return out;
}

}  // namespace gom::study_detail
