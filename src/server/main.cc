// syncached entry point: flags, process setup (daemon, user, limits, signals), run.
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <thread>

#include "common/log.h"
#include "common/wipe.h"
#include "server/config.h"
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

bool SwitchUser(const std::string& user) {
  if (getuid() != 0 && geteuid() != 0) return true;  // -u only applies to root
  if (user.empty()) return true;
  passwd* pw = getpwnam(user.c_str());
  if (!pw) {
    fprintf(stderr, "can't find the user %s to switch to\n", user.c_str());
    return false;
  }
  if (setgroups(0, nullptr) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
    fprintf(stderr, "failed to assume identity of user %s: %s\n", user.c_str(), strerror(errno));
    return false;
  }
  return true;
}

int Main(int argc, char** argv) {
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
  uint32_t v = config.engine.verbosity.load();
  syncached::log::SetLevel(v == 0   ? syncached::log::Level::kWarn
                           : v == 1 ? syncached::log::Level::kInfo
                                    : syncached::log::Level::kDebug);
  if (config.raise_core_limit) {
    rlimit rl{RLIM_INFINITY, RLIM_INFINITY};
    if (setrlimit(RLIMIT_CORE, &rl) != 0) SC_LOG(kWarn, "-r: cannot raise the core limit");
  }
  RaiseFileLimit(config.engine.maxconns);
  if (config.daemonize && daemon(0, 0) != 0) {
    fprintf(stderr, "failed to daemonize: %s\n", strerror(errno));
    return 71;
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

  syncached::server::Server server(config);
  syncached::WipeString(&config.cluster_secret);  // the server has its copy
  syncached::Status st = server.Start();
  if (!st.ok()) {
    fprintf(stderr, "syncached: %s\n", st.message().c_str());
    return 71;  // EX_OSERR
  }
  if (!SwitchUser(config.user)) return 71;
  if (config.lock_memory && mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
    SC_LOG(kWarn, "-k: mlockall failed: %s", strerror(errno));
  }
  if (!config.pid_file.empty()) {
    if (FILE* f = fopen(config.pid_file.c_str(), "w")) {
      fprintf(f, "%ld\n", static_cast<long>(getpid()));
      fclose(f);
    } else {
      SC_LOG(kWarn, "-P: cannot write %s: %s", config.pid_file.c_str(), strerror(errno));
    }
  }

  std::thread signals([&] {
    for (;;) {
      int sig = 0;
      if (sigwait(&sigs, &sig) != 0) continue;
      if (sig == SIGHUP) {
        SC_LOG(kInfo, "SIGHUP: logs go to stderr, nothing to reopen");
        continue;
      }
      SC_LOG(kInfo, "signal %d: shutting down", sig);
      server.RequestStop();
      break;
    }
  });
  server.Run();
  // Wake the signal thread if the stop came from elsewhere (shutdown command).
  pthread_kill(signals.native_handle(), SIGTERM);
  signals.join();
  if (!config.pid_file.empty()) unlink(config.pid_file.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
