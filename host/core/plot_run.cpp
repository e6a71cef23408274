// plot_run.cpp — runs gnuplot as a child process (posix_spawnp: no shell, nothing to quote) on
// a script written to a temporary file; its standard output is the picture.
#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gom/error.h"
#include "gom_core/plot_gnuplot.h"

extern char** environ;

namespace gom::plot {

namespace {

// A temporary file removed when it goes out of scope.
struct TempFile {
  std::string path;
  explicit TempFile(const char* pattern) {
    const char* dir = std::getenv("TMPDIR");
    path = fmt::format("{}/{}", dir != nullptr && *dir != '\0' ? dir : "/tmp", pattern);
    const int fd = mkstemp(path.data());
    if (fd < 0) throw Error(fmt::format("cannot create {}: {}", path, std::strerror(errno)));
    close(fd);
  }
  ~TempFile() { unlink(path.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::string run_gnuplot(const std::string& script) {
  const char* env = std::getenv("GOM_GNUPLOT");
  const std::string program = env != nullptr && *env != '\0' ? env : "gnuplot";
  TempFile script_file("gom-plot-XXXXXX"), errors("gom-plot-err-XXXXXX");
  {
    std::ofstream out(script_file.path, std::ios::binary);
    out << script;
    if (!out.flush()) throw Error(fmt::format("cannot write {}", script_file.path));
  }
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) throw Error(fmt::format("pipe: {}", std::strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[1]);
  posix_spawn_file_actions_addopen(&actions, 2, errors.path.c_str(), O_WRONLY | O_TRUNC, 0);
  std::vector<char*> argv{const_cast<char*>(program.c_str()),
                          const_cast<char*>(script_file.path.c_str()), nullptr};
  pid_t pid = 0;
  const int spawned = posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  if (spawned != 0) {
    close(pipe_fds[0]);
    throw Error(fmt::format(
        "gom plot needs gnuplot, and '{}' cannot be run ({}): install the Debian package "
        "gnuplot-nox (apt-get install gnuplot-nox), or set GOM_GNUPLOT to a gnuplot program",
        program, std::strerror(spawned)));
  }
  std::string picture;
  char buf[65536];
  for (;;) {
    const ssize_t n = read(pipe_fds[0], buf, sizeof buf);
    if (n > 0)
      picture.append(buf, static_cast<size_t>(n));
    else if (n == 0 || errno != EINTR)
      break;
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error(fmt::format("gnuplot ('{}') failed: {}", program, read_all(errors.path)));
  return picture;
}

}  // namespace gom::plot
