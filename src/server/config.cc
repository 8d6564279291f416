// Flags and the config file: getopt's tables, the application of each option and
// --help all come from the option table (options.h); this file adds what concerns the
// merged result (the file then the command line, memcached's cross-option rules, the
// peer secret, the members file).
#include "server/config.h"

#include <getopt.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "server/config_file.h"
#include "server/membership.h"
#include "server/options.h"
#include "server/peer_security.h"
#include "server/version.h"

namespace syncached::server {
namespace {

// getopt's val for a row without a letter: its index above every char.
constexpr int kLongOnly = 256;

struct Getopt {
  std::string shorts = ":";  // leading ':': a missing value returns ':', not '?'
  std::vector<option> longs;
};

Getopt BuildGetopt() {
  Getopt g;
  std::span<const Option> rows = Options();
  for (size_t i = 0; i < rows.size(); ++i) {
    const Option& o = rows[i];
    Takes takes = o.action.takes;
    if (o.letter) {
      g.shorts += o.letter;
      if (takes == Takes::kValue) g.shorts += ':';
    }
    int has_arg = takes == Takes::kNothing ? no_argument
                  : takes == Takes::kValue ? required_argument
                                           : optional_argument;
    int val = o.letter ? o.letter : kLongOnly + static_cast<int>(i);
    if (o.name) g.longs.push_back({o.name, has_arg, nullptr, val});
  }
  g.longs.push_back({nullptr, 0, nullptr, 0});
  return g;
}

const Option* RowOf(int val) {
  std::span<const Option> rows = Options();
  if (val >= kLongOnly) {
    size_t i = static_cast<size_t>(val - kLongOnly);
    return i < rows.size() ? &rows[i] : nullptr;
  }
  for (const Option& o : rows) {
    if (o.letter == val) return &o;
  }
  return nullptr;
}

const Option& Row(std::string_view name) {
  for (const Option& o : Options()) {
    if (o.name && name == o.name) return o;
  }
  std::abort();  // names come from this file
}

// What getopt's optopt names: the letter, the long-only option, or (0: an unknown long
// option) the word as given.
std::string Given(char* const* argv) {
  if (optopt == 0) return argv[optind - 1];
  if (const Option* o = RowOf(optopt)) return Label(*o);
  return std::string("-") + static_cast<char>(optopt);
}

// Runs getopt over argv, applying each option but `skip` (a file's own --config);
// returns the options seen.
std::set<const Option*> ParseArgs(std::vector<std::string> args, Config* c,
                                  const Option* skip = nullptr) {
  static const Getopt kGetopt = BuildGetopt();
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  optind = 0;  // full reset of getopt state (GNU)
  opterr = 0;
  std::set<const Option*> seen;
  int argc = static_cast<int>(args.size());
  for (;;) {
    int idx = 0;
    int val = getopt_long(argc, argv.data(), kGetopt.shorts.c_str(), kGetopt.longs.data(), &idx);
    if (val == -1) break;
    if (val == '?') Fail("unknown option " + Given(argv.data()) + " (see --help)");
    if (val == ':') Fail("option " + Given(argv.data()) + " requires a value");
    const Option* o = RowOf(val);
    if (!o) Fail("unknown option");
    seen.insert(o);
    if (o == skip) continue;
    const std::string label = Label(*o);
    o->action.apply(o->action, Where{label, {}}, optarg, c);
  }
  if (optind < argc) Fail(std::string("unexpected argument '") + argv[optind] + "'");
  return seen;
}

// Peer links secure by default (peer_security.h): the secret file is read and checked
// here, once every source of options is merged; without one, replication must stay on
// loopback unless --insecure-peers says otherwise.
void CheckPeerSecurity(Config* c) {
  if (!c->cluster_secret_file.empty()) {
    // The file must belong to the user we run as; root started with -u may also read
    // a file owned by that user (the service account owning its secret).
    std::vector<uid_t> owners = {geteuid()};
    if (geteuid() == 0 && !c->user.empty()) {
      if (const passwd* pw = getpwnam(c->user.c_str())) {
        if (pw->pw_uid != 0) owners.push_back(pw->pw_uid);
      }
    }
    Status st = ReadSecretFile(c->cluster_secret_file, owners, &c->cluster_secret);
    if (!st.ok()) Fail("--cluster-secret-file: " + st.message());
    return;
  }
  if (c->peers.empty() || c->insecure_peers) return;
  std::string exposure = ReplicationExposure(c->listen, c->peers);
  if (exposure.empty()) return;
  Fail("replication without --cluster-secret-file is limited to loopback addresses, but " +
       exposure +
       ": generate a secret (head -c 32 /dev/urandom | base64 > /etc/syncached/secret; chmod 600 "
       "/etc/syncached/secret) and give every node --cluster-secret-file /etc/syncached/secret, "
       "or pass --insecure-peers to accept unauthenticated peers");
}

}  // namespace

// memcached's TLS start-up checks. Afterwards listen holds plain addresses (for UDP and
// replication) and client_listen the -l entries as given, "notls:" prefixes included.
void CheckTls(Config* c) {
  constexpr std::string_view kNoTls = "notls:";
  c->client_listen = c->listen;
  for (std::string& l : c->listen) {
    if (!l.starts_with(kNoTls)) continue;
    if (!c->engine.ssl_enabled) FailVerbatim("'notls' option is valid only when SSL is enabled");
    l.erase(0, kNoTls.size());
  }
  if (c->engine.ssl_enabled && c->tcp_specified && c->engine.tcpport == 0 && !c->tcp_ephemeral) {
    FailVerbatim("ERROR: You cannot enable SSL without a TCP port.");
  }
}

Config ParseCommandLine(int argc, char** argv) {
  Config c;
  std::vector<std::string> args(argv, argv + argc);
  std::set<const Option*> seen = ParseArgs(args, &c);
  if (!c.config_file.empty()) {
    // The file first, then the command line again so that a flag overrides the file.
    Config from_file;
    for (ConfigLine& line : ReadConfigFile(c.config_file)) {
      line.words.insert(line.words.begin(), args[0]);
      try {
        ParseArgs(line.words, &from_file, &Row("config"));
      } catch (const ConfigError& e) {
        Fail("--config " + c.config_file + ":" + std::to_string(line.lineno) + ": " + e.what());
      }
    }
    from_file.config_file = c.config_file;
    ParseArgs(args, &from_file, &Row("config"));
    c = std::move(from_file);
  }
  // memcached: -U N without -p serves TCP on N as well.
  if (c.udp_specified && !c.tcp_specified && (c.engine.udpport != 0 || c.udp_ephemeral)) {
    c.engine.tcpport = c.engine.udpport;
    c.tcp_ephemeral = c.udp_ephemeral;
  }
  if (c.engine.sasl && (c.engine.udpport != 0 || c.udp_ephemeral)) {
    FailVerbatim("ERROR: Cannot enable UDP while using binary SASL authentication.");
  }
  if (c.engine.sasl && c.engine.binding_protocol != "binary") {
    if (seen.count(&Row("protocol"))) {
      FailVerbatim("ERROR: You cannot allow the ASCII protocol while using SASL.");
    }
    c.engine.binding_protocol = "binary";
  }
  if (c.engine.item_size_max > c.engine.maxbytes / 2) {
    Fail("-I: cannot set item size limit higher than 1/2 of memory max (-m)");
  }
  for (const auto& l : c.listen) c.engine.inter += (c.engine.inter.empty() ? "" : ",") + l;
  CheckTls(&c);
  if (!c.show_help && !c.show_version && !c.show_license) ApplyMembers(&c);
  if (!c.peers.empty() && c.node_id == 0) Fail("--peers needs --node-id (1..65535, unique)");
  if (!c.engine.memory_file.empty()) {
    if (!c.data_dir.empty()) Fail("-e and --data-dir both say where the data is kept; give one");
    c.data_dir = c.engine.memory_file;  // memory_file.h
  }
  if (!c.show_help && !c.show_version && !c.show_license) CheckPeerSecurity(&c);
  return c;
}

namespace {

// The layout gen_manpage (packaging/) parses into the man page: an option in column 2
// (a sub-option in 8, a note in 6), its text from column 28 or two blanks after a wider
// name, the text's further lines from column 28.
constexpr size_t kHelpColumn = 28;

void AppendHelp(std::string* h, size_t indent, const std::string& name, const char* help) {
  std::string line = std::string(indent, ' ') + name;
  line += line.size() < kHelpColumn ? std::string(kHelpColumn - line.size(), ' ') : "  ";
  for (const char* p = help; *p; ++p) {
    line += *p;
    if (*p == '\n') line += std::string(kHelpColumn, ' ');
  }
  *h += line + "\n";
}

void AppendHelp(std::string* h, const Option& o) {
  // Appended piece by piece: GCC 12 at -O3 takes "literal" + std::string for an
  // overlapping copy (-Werror=restrict, its bug 105329).
  std::string name;
  if (o.letter) name.append(1, '-').append(1, o.letter);
  if (o.name) name.append(o.letter ? ", --" : "--").append(o.name);
  if (o.value) name.append(o.name ? "=" : " ").append(o.value);
  AppendHelp(h, 2, name, o.help);
  for (const SubOption& s : o.subs) {
    if (!s.help) continue;
    AppendHelp(h, 8, s.value ? std::string(s.name) + "=" + s.value : s.name, s.help);
  }
  if (!o.note) return;
  std::string note = std::string("      ") + o.note;
  for (size_t nl = note.find('\n'); nl != std::string::npos; nl = note.find('\n', nl + 1)) {
    note.insert(nl + 1, "      ");
  }
  *h += note + "\n";
}

}  // namespace

std::string HelpText() {
  std::string h = std::string("syncached ") + kSyncachedVersion +
                  " - a memcached-compatible cache server with replication\n\n"
                  "usage: syncached [options]\n\n"
                  "memcached's options (same letters, defaults and meanings):\n";
  for (const Option& o : Options()) {
    if (o.letter && o.help) AppendHelp(&h, o);
  }
  h += "\nsyncached's own options:\n";
  for (const Option& o : Options()) {
    if (!o.letter && o.help) AppendHelp(&h, o);
  }
  return h;
}

}  // namespace syncached::server
