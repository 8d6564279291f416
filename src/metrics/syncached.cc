// `stats replication` and `stats persistence` as syncached_* metrics. Names follow
// Prometheus' conventions: base units (seconds, bytes), _total on counters, states as
// one 0/1 series per state so `== 1` selects the current one. docs/OPERATIONS.md lists
// them with the stat each comes from.
#include <cstring>
#include <string>

#include "metrics/exposition.h"

namespace syncached::metrics {
namespace {

constexpr Type kG = Type::kGauge;
constexpr Type kC = Type::kCounter;

struct Map {
  const char* stat;
  const char* metric;
  Type type;
  const char* help;
  double scale = 1;  // ms and us to seconds
};

constexpr Map kCluster[] = {
    {"epoch", "syncached_replication_epoch", kG, "This run's publisher epoch."},
    {"next_seq", "syncached_replication_next_seq", kG,
     "Sequence number of this node's next change."},
    {"backlog_bytes", "syncached_replication_backlog_bytes", kG,
     "Bytes of recent changes kept for peers."},
    {"backlog_limit", "syncached_replication_backlog_limit_bytes", kG,
     "The backlog's size limit (--backlog-size)."},
    {"backlog_first_seq", "syncached_replication_backlog_first_seq", kG,
     "Oldest change kept in the backlog."},
    {"peers", "syncached_replication_peers", kG, "Configured peers (--peers)."},
    {"subscribers", "syncached_replication_subscribers", kG, "Peers following this node's stream."},
    {"conflicts", "syncached_replication_conflicts_total", kC,
     "Peer changes ignored because this node held a newer version."},
    {"tombstones", "syncached_replication_tombstones", kG, "Delete markers kept."},
    {"auth_failures", "syncached_replication_auth_failures_total", kC,
     "Peer handshakes refused (secret)."},
    {"refused_peers", "syncached_replication_refused_peers_total", kC,
     "HELLOs refused (cluster name, node id)."},
    {"queue_overflows", "syncached_replication_queue_overflows_total", kC,
     "Times the local change queue overflowed (peers sent to full copies)."},
    {"sync_replicas", "syncached_replication_sync_replicas", kG,
     "Peers a write waits for (--sync-replicas; absent with all)."},
    {"sync_waits", "syncached_replication_sync_waits_total", kC, "Writes that waited for peers."},
    {"sync_timeouts", "syncached_replication_sync_timeouts_total", kC,
     "Waits for peers that timed out."},
    {"sync_wait_us", "syncached_replication_sync_wait_seconds_total", kC,
     "Time writes spent waiting for peers.", 1e-6},
    {"lane_applied", "syncached_replication_lane_applied_total", kC,
     "Sync lane batches from peers applied here."},
    {"lane_refused", "syncached_replication_lane_refused_total", kC,
     "Sync lane frames refused (did not open, or not a peer's own changes)."},
    {"lane_deferred", "syncached_replication_lane_deferred_total", kC,
     "Sync lane batches left to the stream (from a peer this node copies from)."},
    {"lane_sent", "syncached_replication_lane_sent_total", kC,
     "Batches of this node's changes sent on the sync lane."},
    {"lane_answers", "syncached_replication_lane_answers_total", kC,
     "Peers' answers to those batches."},
    {"lane_settled", "syncached_replication_lane_settled_total", kC,
     "Batches whose waiting replies the lane's answers released."},
    {"multicast_batches_sent", "syncached_replication_multicast_batches_sent_total", kC,
     "Batches sent to the multicast group."},
    {"multicast_heartbeats_sent", "syncached_replication_multicast_heartbeats_sent_total", kC,
     "Heartbeats sent to the multicast group."},
    {"multicast_bytes_sent", "syncached_replication_multicast_sent_bytes_total", kC,
     "Bytes of frames sent to the multicast group."},
    {"multicast_rejected", "syncached_replication_multicast_rejected_total", kC,
     "Frames heard that did not open or did not match their header."},
    {"multicast_ignored", "syncached_replication_multicast_ignored_total", kC,
     "Frames of a node or run no link follows."},
};

// peer:<address>:<field>: the link pulling that peer's stream. state, last_error apart.
constexpr Map kPeer[] = {
    {"node", "syncached_replication_peer_node_id", kG, "The peer's node id."},
    {"full_copy_records", "syncached_replication_peer_full_copy_records", kG,
     "Records received so far by a full copy in progress."},
    {"lag_changes", "syncached_replication_peer_lag_changes", kG,
     "Changes of the peer not applied here yet."},
    {"lag_ms", "syncached_replication_peer_lag_seconds", kG,
     "Age of the last applied change while changes are outstanding.", 1e-3},
    {"applied", "syncached_replication_peer_applied_total", kC,
     "Changes of the peer applied here."},
    {"bytes_received", "syncached_replication_peer_received_bytes_total", kC,
     "Bytes received from the peer."},
    {"full_copies", "syncached_replication_peer_full_copies_total", kC,
     "Full and delta copies taken from the peer."},
    {"catch_ups", "syncached_replication_peer_catch_ups_total", kC,
     "Catch-ups from the peer's backlog."},
    {"last_copy_records", "syncached_replication_peer_last_copy_records", kG,
     "Records in the last copy taken."},
    {"clock_offset_ms", "syncached_replication_peer_clock_offset_seconds", kG,
     "The peer's wall clock minus ours.", 1e-3},
    {"malformed", "syncached_replication_peer_malformed_total", kC,
     "Malformed messages from the peer."},
    {"missed_at_restart", "syncached_replication_peer_missed_at_restart_total", kC,
     "Changes the peer announced but never delivered before it restarted."},
    {"swept", "syncached_replication_peer_swept_total", kC,
     "Items of the peer's origin dropped after a sweeping copy."},
    {"multicast_received", "syncached_replication_peer_multicast_received_total", kC,
     "The peer's frames opened from the multicast group."},
    {"multicast_gaps", "syncached_replication_peer_multicast_gaps_total", kC,
     "The peer's batches that came ahead of a gap."},
    {"multicast_repairs", "syncached_replication_peer_multicast_repairs_total", kC,
     "Resends of the peer's batches asked for over TCP."},
    {"multicast_fallbacks", "syncached_replication_peer_multicast_fallbacks_total", kC,
     "Switches of the peer's stream to TCP after the group went silent."},
};
constexpr const char* kPeerStates[] = {"connecting", "full_copy", "catch_up", "streaming",
                                       "refused"};

// subscriber:<node>:<field>: a peer following our stream. mode, full_copy_progress apart.
constexpr Map kSubscriber[] = {
    {"sent_seq", "syncached_replication_subscriber_sent_seq", kG, "Next sequence number to send."},
    {"acked_seq", "syncached_replication_subscriber_acked_seq", kG,
     "Sequence number the peer confirmed."},
    {"unacked_changes", "syncached_replication_subscriber_unacked_changes", kG,
     "Writes acknowledged here that the peer has not confirmed."},
    {"bytes_sent", "syncached_replication_subscriber_sent_bytes_total", kC,
     "Bytes sent to the peer."},
    {"full_copies", "syncached_replication_subscriber_full_copies_total", kC, "Full copies sent."},
    {"catch_ups", "syncached_replication_subscriber_catch_ups_total", kC,
     "Catch-ups sent from the backlog."},
    {"delta_copies", "syncached_replication_subscriber_delta_copies_total", kC,
     "Delta copies sent."},
    {"copy_restarts", "syncached_replication_subscriber_copy_restarts_total", kC,
     "Copies the backlog overtook, resumed as deltas."},
    {"repairs_served", "syncached_replication_subscriber_multicast_repairs_served_total", kC,
     "Resends of batches lost on the multicast group, answered."},
    {"range_copy_items", "syncached_replication_subscriber_range_copy_items", kG,
     "Items the range copy in progress has sent."},
};
constexpr const char* kSubscriberModes[] = {"streaming", "full_copy"};

constexpr Map kPersistence[] = {
    {"generation", "syncached_persistence_generation", kG, "Journal segment being written."},
    {"journal_bytes", "syncached_persistence_journal_bytes", kG,
     "Journal bytes since the last snapshot."},
    {"journal_records", "syncached_persistence_journal_records_total", kC, "Changes journaled."},
    {"journal_bytes_written", "syncached_persistence_journal_written_bytes_total", kC,
     "Journal bytes written."},
    {"fsyncs", "syncached_persistence_fsyncs_total", kC, "fsyncs of the journal."},
    {"fsync_waits", "syncached_persistence_fsync_waits_total", kC,
     "Replies held for their fsync (--fsync always)."},
    {"fsync_wait_us", "syncached_persistence_fsync_wait_seconds_total", kC,
     "Time replies spent held for their fsync.", 1e-6},
    {"fsync_timeouts", "syncached_persistence_fsync_timeouts_total", kC,
     "Connections closed unanswered: no fsync within 30 s."},
    {"write_errors", "syncached_persistence_write_errors_total", kC, "Failed journal writes."},
    {"snapshots", "syncached_persistence_snapshots_total", kC, "Snapshots (compactions) written."},
    {"last_snapshot_records", "syncached_persistence_last_snapshot_records", kG,
     "Records in the last snapshot."},
    {"last_snapshot_bytes", "syncached_persistence_last_snapshot_bytes", kG,
     "Size of the last snapshot."},
    {"last_snapshot_ms", "syncached_persistence_last_snapshot_duration_seconds", kG,
     "Time the last snapshot took.", 1e-3},
    {"last_snapshot_time", "syncached_persistence_last_snapshot_timestamp_seconds", kG,
     "Unix time the last snapshot finished (0: none since start)."},
    {"recovered_snapshot_generation", "syncached_persistence_recovered_snapshot_generation", kG,
     "Generation of the snapshot loaded at start."},
    {"recovered_snapshot_records", "syncached_persistence_recovered_snapshot_records", kG,
     "Records loaded from the snapshot at start."},
    {"recovered_journal_segments", "syncached_persistence_recovered_journal_segments", kG,
     "Journal segments replayed at start."},
    {"recovered_journal_records", "syncached_persistence_recovered_journal_records", kG,
     "Journal records replayed at start."},
    {"recovered_dropped_bytes", "syncached_persistence_recovered_dropped_bytes", kG,
     "Torn or corrupt journal bytes dropped at start."},
};

// stats cluster: the ring and the forwarding counters of a node with --members.
constexpr Map kClusterStats[] = {
    {"replication_factor", "syncached_cluster_replication_factor", kG,
     "Copies of each key (--replication-factor)."},
    {"members", "syncached_cluster_members", kG, "Nodes in the members file."},
    {"owned_share", "syncached_cluster_owned_share_ratio", kG,
     "Share of the keys this node owns (sampled)."},
    {"members_applying", "syncached_cluster_members_applying", kG,
     "1 while a members reload or commit walks the store."},
    {"forwarded", "syncached_cluster_forwarded_total", kC,
     "Requests forwarded to another node that owns the key."},
    {"forward_errors", "syncached_cluster_forward_errors_total", kC,
     "Forwards that failed (timeout, refused, closed)."},
    {"forward_unavailable", "syncached_cluster_forward_unavailable_total", kC,
     "Requests answered SERVER_ERROR: no owner reachable."},
};

template <size_t N>
const Map* Lookup(const Map (&table)[N], std::string_view stat) {
  for (const Map& m : table) {
    if (stat == m.stat) return &m;
  }
  return nullptr;
}

void Info(const StatList& s, const char* metric, const char* help, const char* l1, const char* s1,
          const char* l2, const char* s2, const char* l3, const char* s3, Exposition* e) {
  const std::string_view *v1 = Find(s, s1), *v2 = Find(s, s2), *v3 = l3 ? Find(s, s3) : nullptr;
  if (!v1 || !v2) return;
  if (l3 && v3) {
    e->Add(metric, kG, help, 1, {{l1, *v1}, {l2, *v2}, {l3, *v3}});
  } else {
    e->Add(metric, kG, help, 1, {{l1, *v1}, {l2, *v2}});
  }
}

void Peer(std::string_view addr, std::string_view field, std::string_view value, Exposition* e) {
  if (field == "state") {
    for (const char* state : kPeerStates) {
      e->Add("syncached_replication_peer_state", kG, "1 for the link's current state.",
             value == state ? 1 : 0, {{"peer", addr}, {"state", state}});
    }
  } else if (field == "last_error") {
    e->Add("syncached_replication_peer_last_error_info", kG,
           "The link's last error (\"none\" if none) as a label.", 1,
           {{"peer", addr}, {"error", value}});
  } else if (const Map* m = Lookup(kPeer, field)) {
    double v;
    if (Number(value, &v)) e->Add(m->metric, m->type, m->help, v * m->scale, {{"peer", addr}});
  }
}

void Subscriber(std::string_view node, std::string_view field, std::string_view value,
                Exposition* e) {
  if (field == "mode") {
    for (const char* mode : kSubscriberModes) {
      e->Add("syncached_replication_subscriber_mode", kG, "1 for the session's current mode.",
             value == mode ? 1 : 0, {{"node", node}, {"mode", mode}});
    }
  } else if (field == "full_copy_progress" || field == "range_copy_progress") {
    // "<shards done>/<shards>"
    bool full = field == "full_copy_progress";
    size_t slash = value.find('/');
    double done, total;
    if (slash != std::string_view::npos && Number(value.substr(0, slash), &done) &&
        Number(value.substr(slash + 1), &total) && total > 0) {
      e->Add(full ? "syncached_replication_subscriber_full_copy_progress_ratio"
                  : "syncached_replication_subscriber_range_copy_progress_ratio",
             kG,
             full ? "Share of the shards a full copy in progress has sent."
                  : "Share of the shards a membership change's range copy has walked.",
             done / total, {{"node", node}});
    }
  } else if (const Map* m = Lookup(kSubscriber, field)) {
    double v;
    if (Number(value, &v)) e->Add(m->metric, m->type, m->help, v * m->scale, {{"node", node}});
  }
}

}  // namespace

void RenderReplication(const StatList& stats, Exposition* e) {
  if (stats.empty()) return;
  Info(stats, "syncached_replication_info", "This node's replication identity, as labels.",
       "node_id", "node_id", "cluster_name", "cluster_name", "auth", "auth", e);
  for (const auto& [name, value] : stats) {
    if (name.substr(0, 5) == "peer:") {
      // The address has colons of its own (host:port, [v6]:port); the field has none.
      size_t last = name.rfind(':');
      if (last > 5) Peer(name.substr(5, last - 5), name.substr(last + 1), value, e);
    } else if (name.substr(0, 11) == "subscriber:") {
      std::string_view rest = name.substr(11);
      size_t colon = rest.find(':');
      if (colon != 0 && colon != std::string_view::npos) {
        Subscriber(rest.substr(0, colon), rest.substr(colon + 1), value, e);
      }
    } else if (const Map* m = Lookup(kCluster, name)) {
      double v;
      if (Number(value, &v)) e->Add(m->metric, m->type, m->help, v * m->scale);
    }
  }
}

void RenderCluster(const StatList& stats, Exposition* e) {
  if (stats.empty()) return;
  Info(stats, "syncached_cluster_info", "The placement of keys (--ring, --members), as labels.",
       "ring", "ring", "node_id", "node_id", nullptr, nullptr, e);
  double v;
  for (const auto& [name, value] : stats) {
    const Map* m = Lookup(kClusterStats, name);
    if (m && Number(value, &v)) e->Add(m->metric, m->type, m->help, v * m->scale);
  }
}

void RenderPersistence(const StatList& stats, Exposition* e) {
  if (stats.empty()) return;
  Info(stats, "syncached_persistence_info", "The persistence options, as labels.", "data_dir",
       "data_dir", "fsync", "fsync", nullptr, nullptr, e);
  double v;
  for (const auto& [name, value] : stats) {
    const Map* m = Lookup(kPersistence, name);
    if (m && Number(value, &v)) e->Add(m->metric, m->type, m->help, v * m->scale);
  }
}

}  // namespace syncached::metrics
