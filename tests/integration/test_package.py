"""The Debian package (packaging/, issue #18), built here with CPack from the build
under test and checked as dpkg sees it: control fields and computed dependencies,
conffiles, maintainer scripts, the files and their modes, the man page, the units
under `systemd-analyze verify`, and (as root, in a throwaway overlay of /) a real
`apt-get install ./syncached_*.deb` and purge.

Skipped for sanitizer builds (their binary is not what one ships; the plain build
in the same CI run packages) and against memcached.
"""

import glob
import gzip
import os
import re
import shutil
import subprocess

import pytest

import harness

pytestmark = [pytest.mark.syncached_only, pytest.mark.time_limit(60)]

PACKAGING = os.path.join(harness.REPO, "packaging")
UNITS = ["syncached.service", "syncached@.service"]
CONFFILES = ["/etc/syncached.conf", "/etc/logrotate.d/syncached"]


def run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, timeout=50, **kwargs)


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    if harness.sanitized_build():
        pytest.skip("sanitizer build: the plain build's package is the one checked")
    config = os.path.join(harness.build_dir(), "CPackConfig.cmake")
    if not os.path.exists(config):
        pytest.skip("no %s (configured with -DSYNCACHED_PACKAGE=OFF?)" % config)
    for tool in ("cpack", "dpkg-deb", "dpkg-shlibdeps", "file"):
        if not shutil.which(tool):
            pytest.skip(tool + " not installed (scripts/deps.sh installs it)")
    out = tmp_path_factory.mktemp("deb")
    result = run(["cpack", "-G", "DEB", "--config", config, "-B", str(out)])
    assert result.returncode == 0, result.stdout + result.stderr
    debs = glob.glob(str(out / "syncached_*.deb"))
    assert len(debs) == 1, result.stdout
    return debs[0]


@pytest.fixture(scope="module")
def root(deb, tmp_path_factory):
    """The package's files, unpacked."""
    path = tmp_path_factory.mktemp("root")
    result = run(["dpkg-deb", "-x", deb, str(path)])
    assert result.returncode == 0, result.stderr
    return path


def field(deb, name):
    return run(["dpkg-deb", "-f", deb, name]).stdout.strip()


def project_version():
    with open(os.path.join(harness.REPO, "CMakeLists.txt")) as f:
        return re.search(r"project\(syncached VERSION (\S+)", f.read()).group(1)


def test_control_fields_and_computed_dependencies(deb):
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    assert os.path.basename(deb) == "syncached_%s-1_%s.deb" % (project_version(), arch)
    assert field(deb, "Package") == "syncached"
    assert field(deb, "Version") == project_version() + "-1"
    assert field(deb, "Architecture") == arch
    assert field(deb, "Maintainer")
    assert field(deb, "Section") and field(deb, "Priority") == "optional"
    depends = {d.split()[0]: d for d in field(deb, "Depends").split(", ")}
    # dpkg-shlibdeps' runtime libraries (versions vary), plus adduser for postinst.
    for package in ("adduser", "libc6", "libstdc++6", "libzmq5", "libsodium23", "libxxhash0",
                    "libsasl2-2", "libssl3"):
        assert package in depends, depends
    assert not [d for d in depends if d.endswith("-dev") or "asan" in d], depends
    # Every dependency names a package this Debian has (they are installed: we built).
    for package in depends:
        status = run(["dpkg-query", "-W", "-f=${Status}", package]).stdout
        assert status == "install ok installed", (package, status)
    description = field(deb, "Description")
    assert description.startswith("memcached-compatible cache server")


def test_conffiles_and_maintainer_scripts(deb, tmp_path):
    control = tmp_path / "control"
    assert run(["dpkg-deb", "-e", deb, str(control)]).returncode == 0
    assert (control / "conffiles").read_text().split() == CONFFILES
    for script in ("postinst", "prerm", "postrm"):
        path = control / script
        assert os.stat(path).st_mode & 0o777 == 0o755, script
        assert run(["sh", "-n", str(path)]).returncode == 0, script
    postinst = (control / "postinst").read_text()
    assert "adduser --system" in postinst
    assert "deb-systemd-helper enable 'syncached.service'" in postinst


def listing(deb):
    """{path: (mode string, owner)} from dpkg -c."""
    out = {}
    for line in run(["dpkg", "-c", deb]).stdout.splitlines():
        parts = line.split(None, 5)
        path = parts[5].split(" -> ")[0]
        out[path[1:].rstrip("/") or "/"] = (parts[0], parts[1])
    return out


def test_files_modes_and_contents(deb, root):
    files = listing(deb)
    expect = {
        "/usr/bin/syncached": "-rwxr-xr-x",
        "/usr/bin/syncached-tool": "-rwxr-xr-x",
        "/lib/systemd/system/syncached.service": "-rw-r--r--",
        "/lib/systemd/system/syncached@.service": "-rw-r--r--",
        "/etc/syncached.conf": "-rw-r--r--",
        "/etc/logrotate.d/syncached": "-rw-r--r--",
        "/usr/share/man/man1/syncached.1.gz": "-rw-r--r--",
        "/usr/share/man/man1/syncached-tool.1.gz": "-rw-r--r--",
        "/usr/share/doc/syncached/OPERATIONS.md": "-rw-r--r--",
        "/usr/share/doc/syncached/examples/cluster/README": "-rw-r--r--",
        "/usr/share/doc/syncached/examples/cluster/node1.conf": "-rw-r--r--",
        "/usr/share/doc/syncached/examples/cluster/node2.conf": "-rw-r--r--",
        "/usr/share/doc/syncached/examples/cluster/node3.conf": "-rw-r--r--",
    }
    # The PHP session examples, whichever the repository has.
    for ini in glob.glob(os.path.join(harness.REPO, "examples", "php", "*.ini")):
        expect["/usr/share/doc/syncached/examples/php/" + os.path.basename(ini)] = "-rw-r--r--"
    for path, mode in expect.items():
        assert path in files, (path, sorted(files))
        assert files[path] == (mode, "root/root"), (path, files[path])
    assert all(owner == "root/root" for _, owner in files.values())
    # What ships is what the repository says.
    same = {"lib/systemd/system/syncached.service": "syncached.service",
            "lib/systemd/system/syncached@.service": "syncached@.service",
            "etc/syncached.conf": "syncached.conf",
            "etc/logrotate.d/syncached": "syncached.logrotate"}
    for installed, source in same.items():
        with open(root / installed) as a, open(os.path.join(PACKAGING, source)) as b:
            assert a.read() == b.read(), installed
    # Stripped, and the same program as the build's.
    described = run(["file", "-b", str(root / "usr/bin/syncached")]).stdout
    assert "not stripped" not in described, described
    version = run([str(root / "usr/bin/syncached"), "-V"]).stdout
    assert version == run([harness.server_bin(), "-V"]).stdout
    described = run(["file", "-b", str(root / "usr/bin/syncached-tool")]).stdout
    assert "not stripped" not in described, described
    tool_help = run([str(root / "usr/bin/syncached-tool"), "--help"])
    assert tool_help.returncode == 0 and "wait-synced" in tool_help.stdout


def test_the_tool_man_page_lists_every_option_of_its_help(root):
    with gzip.open(root / "usr/share/man/man1/syncached-tool.1.gz", "rt") as f:
        page = f.read()
    help_text = run([str(root / "usr/bin/syncached-tool"), "--help"]).stdout
    for command in ("owners", "check-members"):
        help_text += run([str(root / "usr/bin/syncached-tool"), command, "--help"]).stdout
    options = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", help_text))
    assert len(options) >= 8, options
    for option in options:
        assert option.replace("-", "\\-") in page, option
    for mode in ("display", "stats", "settings", "sizes", "keys", "dump", "restore", "cluster",
                 "wait\\-synced", "owners", "check\\-members"):
        assert re.search(r"(?m)^\.B[IR]? " + re.escape(mode), page), mode
    assert "@PROJECT_VERSION@" not in page
    if shutil.which("man"):
        rendered = run(["man", "--warnings", "-l",
                        str(root / "usr/share/man/man1/syncached-tool.1.gz")],
                       env=dict(os.environ, MANWIDTH="80"))
        assert rendered.returncode == 0 and not rendered.stderr, rendered.stderr


def test_the_man_page_lists_every_option_of_help(root):
    with gzip.open(root / "usr/share/man/man1/syncached.1.gz", "rt") as f:
        page = f.read()
    help_text = run([harness.server_bin(), "--help"]).stdout
    options = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", help_text))
    assert len(options) > 40, options
    for option in options:
        assert option.replace("-", "\\-") in page, option
    assert ".SH SIGNALS" in page and "SIGHUP" in page and "NOTIFY_SOCKET" in page
    assert "@HELP@" not in page and "@PROJECT_VERSION@" not in page
    if shutil.which("man"):
        rendered = run(["man", "--warnings", "-l", str(root / "usr/share/man/man1/syncached.1.gz")],
                       env=dict(os.environ, MANWIDTH="80"))
        assert rendered.returncode == 0 and not rendered.stderr, rendered.stderr
        assert "--cluster-secret-file" in rendered.stdout


def test_the_units_pass_systemd_analyze_verify(root):
    """verify checks the units' syntax, ExecStart's binary, /bin/kill and the
    Documentation= man page against a root holding the package and the host's own
    units (for the targets they name); its warnings do not change its exit status,
    so any output fails."""
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed (package systemd)")
    units = root / "lib/systemd/system"
    shutil.copytree("/lib/systemd/system", units, symlinks=True, dirs_exist_ok=True)
    os.makedirs(root / "bin", exist_ok=True)
    shutil.copy("/bin/kill", root / "bin/kill")
    result = run(["systemd-analyze", "verify", "--root=%s" % root, "syncached.service",
                  "syncached@sessions.service"],
                 env=dict(os.environ, MANPATH=str(root / "usr/share/man")))
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), \
        result.stdout + result.stderr
    # The sandbox is at least as tight as Debian's memcached.service's.
    result = run(["systemd-analyze", "security", "--offline=true", "--root=%s" % root,
                  "syncached.service"])
    exposure = re.search(r"Overall exposure level for syncached.service: ([\d.]+)",
                         result.stdout)
    if exposure is None:
        pytest.skip("systemd-analyze security --offline unsupported: " + result.stderr[:200])
    assert float(exposure.group(1)) <= 2.0, result.stdout


def unit_settings(unit):
    with open(os.path.join(PACKAGING, unit)) as f:
        return [l for l in f.read().splitlines() if l and not l.startswith("#")]


def test_the_two_units_differ_only_in_the_instance():
    """syncached@.service is syncached.service per instance: same sandbox, same limits."""
    plain, template = (unit_settings(u) for u in UNITS)
    assert len(plain) == len(template)
    differ = [(a, b) for a, b in zip(plain, template) if a != b]
    assert [a.split("=")[0] for a, _ in differ] == [
        "Description", "ExecStart", "StateDirectory", "RuntimeDirectory"], differ
    assert all("%i" in b for _, b in differ), differ


# An overlay of / on a tmpfs, in a mount namespace of its own: writes go to the tmpfs
# and vanish with the namespace.
OVERLAY = r"""
set -e
W=$(mktemp -d)
trap 'umount -R "$W" 2>/dev/null; rmdir "$W"' EXIT
mount -t tmpfs tmpfs "$W"
mkdir "$W/upper" "$W/work" "$W/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$W/upper,workdir=$W/work" "$W/root"
"""


def sandbox_possible():
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("apt-get"):
        return False
    return run(["unshare", "-m", "sh", "-c", OVERLAY]).returncode == 0


def test_apt_installs_and_purges_it_in_a_throwaway_root(deb):
    """apt-get install ./syncached_*.deb in an overlay of / (nothing reaches the real
    system): dependencies resolve, postinst creates the user and enables the unit,
    the conffiles are registered; purge removes them and keeps the user."""
    if not sandbox_possible():
        pytest.skip("needs root and mount namespaces (unshare -m) for the overlay")
    script = OVERLAY + r"""
for d in proc dev dev/pts sys; do mount --bind "/$d" "$W/root/$d"; done
cp "$DEB" "$W/root/tmp/"
chroot "$W/root" sh -c '
  set -e
  cd /tmp
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends ./syncached_*.deb >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }
  echo "user=$(id -un syncached) group=$(id -gn syncached)"
  echo "etc=$(stat -c "%a %U %G" /etc/syncached)"
  echo "enabled=$(readlink /etc/systemd/system/multi-user.target.wants/syncached.service)"
  echo "status=$(dpkg-query -W -f="\${Status}" syncached)"
  dpkg-query -W -f="\${Conffiles}\n" syncached | sed "s/^/conffile=/"
  echo "version=$(syncached -V)"
  if command -v man >/dev/null; then echo "man=$(man -w syncached)"; fi
  apt-get purge -y syncached >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }
  echo "after_purge_conf=$(ls /etc/syncached.conf 2>&1 >/dev/null | wc -l)"
  echo "after_purge_user=$(id -un syncached)"
'
"""
    result = run(["unshare", "-m", "sh", "-c", script], env=dict(os.environ, DEB=deb))
    assert result.returncode == 0, result.stdout + result.stderr
    facts = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition("=")
        facts.setdefault(key, []).append(value)
    assert facts["user"] == ["syncached group=syncached"]
    assert facts["etc"] == ["750 root syncached"]
    assert facts["enabled"] == ["/lib/systemd/system/syncached.service"]
    assert facts["status"] == ["install ok installed"]
    assert sorted(c.split()[0] for c in facts["conffile"] if c.strip()) == sorted(CONFFILES)
    assert facts["version"][0].startswith("syncached " + project_version())
    assert facts.get("man", ["/usr/share/man/man1/syncached.1.gz"]) == [
        "/usr/share/man/man1/syncached.1.gz"]
    assert facts["after_purge_conf"] == ["1"]  # ls failed: the conffile is gone
    assert facts["after_purge_user"] == ["syncached"]
