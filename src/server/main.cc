// syncached entry point: flags, process setup (daemon, user, limits, signals), run.
#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "common/log.h"
#include "common/wipe.h"
#include "server/config.h"
#include "server/sd_notify.h"
#include "server/server.h"
#include "server/version.h"

namespace {

using syncached::server::Config;

constexpr int kExitUsage = 64;  // EX_USAGE, as memcached

void RaiseFileLimit(uint32_t maxconns) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t want = static_cast<rlim_t>(maxconns) + 64;
  if (rl.rlim_cur >= want) return;
  rl.rlim_cur = want;
  if (rl.rlim_max < want) rl.rlim_max = want;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    getrlimit(RLIMIT_NOFILE, &rl);
    SC_LOG(kWarn, "cannot raise the open file limit to %llu (have %llu): -c %u may not be reached",
           static_cast<unsigned long long>(want), static_cast<unsigned long long>(rl.rlim_cur),
           maxconns);
  }
}

// "" when done (or nothing to do), else memcached's message.
std::string SwitchUser(const std::string& user) {
  if (getuid() != 0 && geteuid() != 0) return "";  // -u only applies to root
  if (user.empty()) return "";
  passwd* pw = getpwnam(user.c_str());
  if (!pw) return "can't find the user " + user + " to switch to";
  if (setgroups(0, nullptr) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
    return "failed to assume identity of user " + user + ": " + strerror(errno);
  }
  return "";
}

// A failed start, on stderr and, when --log-file took stderr's place, also on the
// stderr the process started with (`console`, -1 if none): whoever started the node
// looks there (a terminal, or the journal under systemd).
void ReportStartFailure(int console, const std::string& message) {
  std::string line = message + "\n";
  for (int fd : {STDERR_FILENO, console}) {
    if (fd < 0) continue;
    ssize_t n = write(fd, line.data(), line.size());
    (void)n;  // nowhere left to report that
  }
}

// --log-file: from here on the log (and fd 2) goes to the file. A file that cannot be
// opened is not fatal: the lines stay on stderr (the journal, under systemd) with a
// warning saying why, and SIGHUP tries again. (An operator's memcached.conf names
// /var/log/memcached.log, which the service user may not write; the node should start.)
bool OpenLogFile(const std::string& path) {
  syncached::Status st = syncached::log::OpenFile(path);
  if (!st.ok()) SC_LOG(kWarn, "--log-file: %s; logging to stderr", st.message().c_str());
  return st.ok();
}

// SIGHUP: reopen the log file (logrotate moved it), then whatever else the server can
// reload (Server::Reload, the hook for TLS certificates and the members file).
void Reload(syncached::server::Server& server, const std::string& log_file) {
  if (log_file.empty()) {
    SC_LOG(kInfo, "SIGHUP: no --log-file, logs go to stderr; nothing to reopen");
  } else {
    SC_LOG(kInfo, "SIGHUP: reopening the log file %s", log_file.c_str());
    syncached::Status st = syncached::log::ReopenFile();
    if (st.ok()) {
      SC_LOG(kInfo, "SIGHUP: log file reopened");
    } else {
      SC_LOG(kWarn, "SIGHUP: %s; logging to the previous file", st.message().c_str());
    }
  }
  server.Reload();
}

// Values over storage's slab limit are malloc'd by the thread that stores them. glibc's
// per-thread arenas grow their heap a page-rounded step at a time, each step an
// mprotect: while a store of 4 KB values grows, one syscall every second set (memaslap
// sess4k: 2.55 syscalls per request against memcached's 2.07). One arena, grown with
// sbrk M_TOP_PAD at a time, makes that one syscall per 4 MiB. The lock it shares is
// taken only for such values, briefly (docs/PERFORMANCE.md).
void TuneMalloc() {
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_TOP_PAD, 4 << 20);
}

int Main(int argc, char** argv) {
  TuneMalloc();
  Config config;
  try {
    config = syncached::server::ParseCommandLine(argc, argv);
  } catch (const syncached::server::ConfigError& e) {
    fprintf(stderr, e.verbatim() ? "%s\n" : "syncached: %s\n", e.what());
    return kExitUsage;
  }
  if (config.show_help) {
    fputs(syncached::server::HelpText().c_str(), stdout);
    return 0;
  }
  if (config.show_version) {
    printf("syncached %s (memcached protocol %s)\n", syncached::server::kSyncachedVersion,
           config.engine.version.c_str());
    return 0;
  }
  if (config.show_license) {
    printf("syncached %s. See the LICENSE file in the source distribution.\n",
           syncached::server::kSyncachedVersion);
    return 0;
  }
  uint32_t v = config.engine.runtime.verbosity.load();
  syncached::log::SetLevel(v == 0   ? syncached::log::Level::kWarn
                           : v == 1 ? syncached::log::Level::kInfo
                                    : syncached::log::Level::kDebug);
  if (config.raise_core_limit) {
    rlimit rl{RLIM_INFINITY, RLIM_INFINITY};
    if (setrlimit(RLIMIT_CORE, &rl) != 0) SC_LOG(kWarn, "-r: cannot raise the core limit");
  }
  RaiseFileLimit(config.engine.maxconns);
  if (!config.log_file.empty()) {
    // daemon() moves to /; the file is reopened by the same name later.
    std::error_code ec;
    std::filesystem::path abs = std::filesystem::absolute(config.log_file, ec);
    if (!ec) config.log_file = abs.string();
  }
  if (config.daemonize && daemon(0, 0) != 0) {
    fprintf(stderr, "failed to daemonize: %s\n", strerror(errno));
    return 71;
  }
  int console = -1;  // the original stderr, once --log-file has taken fd 2
  if (!config.log_file.empty()) {
    console = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    if (!OpenLogFile(config.log_file) && console >= 0) {
      close(console);
      console = -1;
    }
  }

  // Signals go to one waiting thread, never to workers mid-request.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  sigaddset(&sigs, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Written before Start: its workers serve as soon as it returns, and a
  // client that reached the node must find the file.
  if (!config.pid_file.empty()) {
    if (FILE* f = fopen(config.pid_file.c_str(), "w")) {
      fprintf(f, "%ld\n", static_cast<long>(getpid()));
      fclose(f);
    } else {
      SC_LOG(kWarn, "-P: cannot write %s: %s", config.pid_file.c_str(), strerror(errno));
    }
  }
  syncached::server::Server server(config);
  syncached::WipeString(&config.cluster_secret);  // the server has its copy
  syncached::Status st = server.Start();
  if (!st.ok()) {
    ReportStartFailure(console, "syncached: " + st.message());
    if (!config.pid_file.empty()) unlink(config.pid_file.c_str());
    return 71;  // EX_OSERR
  }
  if (std::string err = SwitchUser(config.user); !err.empty()) {
    ReportStartFailure(console, err);
    if (!config.pid_file.empty()) unlink(config.pid_file.c_str());
    return 71;
  }
  if (config.lock_memory && mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
    SC_LOG(kWarn, "-k: mlockall failed: %s", strerror(errno));
  }
  // Type=notify: the node serves (Start returned after the join gate opened).
  std::string status = "READY=1\nSTATUS=serving";
  if (server.port() != 0) status += " on port " + std::to_string(server.port());
  syncached::server::NotifyServiceManager(status);
  if (console >= 0) close(console);

  std::thread signals([&] {
    for (;;) {
      int sig = 0;
      if (sigwait(&sigs, &sig) != 0) continue;
      if (sig == SIGHUP) {
        Reload(server, config.log_file);
        continue;
      }
      SC_LOG(kInfo, "signal %d: shutting down", sig);
      server.RequestStop();
      break;
    }
  });
  server.Run();
  // Wake the signal thread if the stop came from elsewhere (shutdown command). Every
  // thread blocks SIGTERM, so it only ends that thread's sigwait.
  pthread_kill(signals.native_handle(), SIGTERM);  // NOLINT(bugprone-bad-signal-to-kill-thread)
  signals.join();
  if (!config.pid_file.empty()) unlink(config.pid_file.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
