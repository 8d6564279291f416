// memcached's -e PATH: a memory file that a graceful restart (SIGUSR1) reloads, with its
// metadata beside it in PATH.meta. syncached keeps a data dir at PATH instead (the
// journal and snapshots of --data-dir), so a unit file that gives -e gets its warm
// restart, and more: the data also survives kill -9. PATH.meta marks PATH as ours, as
// memcached's marks its memory file: a metadata file that is not ours (memcached's own,
// or a truncated one) stops the start, as memcached stops on metadata it cannot
// validate, rather than throwing away or misreading what is there.
#pragma once

#include <string>

#include "common/status.h"

namespace syncached::server {

// Checks PATH.meta and PATH, writing PATH.meta for a first start. On success PATH is
// the data dir (Config::data_dir), which persistence creates if missing.
Status PrepareMemoryFile(const std::string& path);

}  // namespace syncached::server
