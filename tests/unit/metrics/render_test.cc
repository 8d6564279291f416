// The renderer: memcached_exporter's names from memcached's stats, syncached_* from
// the replication and persistence stats, and output a strict reader of format 0.0.4
// accepts (families contiguous, HELP/TYPE once each, escaped labels).
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <string>

#include "metrics/metrics.h"

namespace syncached::metrics {
namespace {

// name{labels} -> value; fails the test on anything format 0.0.4 does not allow.
std::map<std::string, std::string> Parse(const std::string& text) {
  std::map<std::string, std::string> samples;
  std::set<std::string> done;  // families already closed
  std::string current;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    EXPECT_FALSE(line.empty());
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      std::string name = line.substr(7, line.find(' ', 7) - 7);
      if (name != current) {
        EXPECT_FALSE(done.count(name)) << "family split: " << name;
        if (!current.empty()) done.insert(current);
        current = name;
      }
      continue;
    }
    size_t space = line.rfind(' ');
    std::string key = line.substr(0, space);
    std::string name = key.substr(0, key.find('{'));
    EXPECT_EQ(name, current) << "sample outside its family: " << line;
    EXPECT_FALSE(samples.count(key)) << "duplicate sample: " << key;
    samples[key] = line.substr(space + 1);
  }
  return samples;
}

StatTexts Sample() {
  StatTexts t;
  t.general =
      "STAT pid 1\r\nSTAT uptime 42\r\nSTAT time 1700000000\r\nSTAT version 1.6.18\r\n"
      "STAT rusage_user 1.250000\r\nSTAT rusage_system 0.000500\r\nSTAT curr_connections 3\r\n"
      "STAT cmd_get 10\r\nSTAT cmd_set 9\r\nSTAT cmd_flush 1\r\nSTAT get_hits 7\r\n"
      "STAT get_misses 3\r\nSTAT delete_misses 0\r\nSTAT delete_hits 2\r\nSTAT incr_misses 0\r\n"
      "STAT incr_hits 0\r\nSTAT decr_misses 0\r\nSTAT decr_hits 0\r\nSTAT cas_misses 1\r\n"
      "STAT cas_hits 2\r\nSTAT cas_badval 3\r\nSTAT touch_hits 0\r\nSTAT touch_misses 0\r\n"
      "STAT bytes 1234\r\nSTAT limit_maxbytes 67108864\r\nSTAT evictions 5\r\n";
  t.settings =
      "STAT maxconns 1024\r\nSTAT lru_crawler yes\r\nSTAT lru_crawler_sleep 100\r\n"
      "STAT lru_maintainer_thread no\r\nSTAT hot_max_factor 0.20\r\n";
  t.items =
      "STAT items:1:number 4\r\nSTAT items:1:age 7\r\nSTAT items:1:hits_to_temp 0\r\n"
      "STAT items:1:mem_requested 400\r\n";
  t.slabs =
      "STAT 1:chunk_size 96\r\nSTAT 1:cmd_set 5\r\nSTAT 1:cas_hits 1\r\n"
      "STAT 1:cas_badval 1\r\nSTAT 1:get_hits 6\r\nSTAT active_slabs 1\r\n"
      "STAT total_malloced 1048576\r\n";
  return t;
}

TEST(Render, MemcachedExporterNames) {
  std::string out;
  Render(Sample(), &out);
  auto m = Parse(out);
  EXPECT_EQ(m["memcached_up"], "1");
  EXPECT_EQ(m["memcached_uptime_seconds"], "42");
  EXPECT_EQ(m["memcached_version{version=\"1.6.18\"}"], "1");
  EXPECT_EQ(m["memcached_process_user_cpu_seconds_total"], "1.25");
  EXPECT_EQ(m["memcached_process_system_cpu_seconds_total"], "5e-04");  // shortest exact form
  EXPECT_EQ(m["memcached_commands_total{command=\"get\",status=\"hit\"}"], "7");
  EXPECT_EQ(m["memcached_commands_total{command=\"get\",status=\"miss\"}"], "3");
  EXPECT_EQ(m["memcached_commands_total{command=\"cas\",status=\"badval\"}"], "3");
  EXPECT_EQ(m["memcached_commands_total{command=\"flush\",status=\"hit\"}"], "1");
  EXPECT_EQ(m["memcached_commands_total{command=\"set\",status=\"hit\"}"], "3");  // 9 - 1 - 2 - 3
  EXPECT_EQ(m["memcached_current_bytes"], "1234");
  EXPECT_EQ(m["memcached_limit_bytes"], "67108864");
  EXPECT_EQ(m["memcached_items_evicted_total"], "5");
  EXPECT_EQ(m["memcached_current_connections"], "3");
  EXPECT_EQ(m["memcached_max_connections"], "1024");
  EXPECT_EQ(m["memcached_malloced_bytes"], "1048576");
  EXPECT_EQ(m["memcached_lru_crawler_enabled"], "1");
  EXPECT_EQ(m["memcached_lru_crawler_sleep"], "100");
  EXPECT_EQ(m["memcached_lru_crawler_maintainer_thread"], "0");
  EXPECT_EQ(m["memcached_lru_crawler_hot_max_factor"], "0.2");
  EXPECT_EQ(m["memcached_slab_current_items{slab=\"1\"}"], "4");
  EXPECT_EQ(m["memcached_slab_items_age_seconds{slab=\"1\"}"], "7");
  EXPECT_EQ(m["memcached_slab_lru_hits_total{slab=\"1\",lru=\"temporary\"}"], "0");
  EXPECT_EQ(m["memcached_slab_mem_requested_bytes{slab=\"1\"}"], "400");
  EXPECT_EQ(m["memcached_slab_chunk_size_bytes{slab=\"1\"}"], "96");
  EXPECT_EQ(m["memcached_slab_commands_total{slab=\"1\",command=\"get\",status=\"hit\"}"], "6");
  EXPECT_EQ(m["memcached_slab_commands_total{slab=\"1\",command=\"set\",status=\"hit\"}"], "3");
  EXPECT_FALSE(m.count("memcached_pid"));  // stats the exporter does not map stay out
  EXPECT_NE(out.find("# TYPE memcached_commands_total counter\n"), std::string::npos);
  EXPECT_NE(out.find("# TYPE memcached_current_bytes gauge\n"), std::string::npos);
}

TEST(Render, ReplicationPerPeer) {
  StatTexts t;
  t.replication =
      "STAT node_id 1\r\nSTAT cluster_name sessions\r\nSTAT auth curve\r\nSTAT conflicts 4\r\n"
      "STAT sync_wait_us 1500000\r\n"
      "STAT peer:10.0.0.2:11212:node 2\r\nSTAT peer:10.0.0.2:11212:state streaming\r\n"
      "STAT peer:10.0.0.2:11212:lag_changes 3\r\nSTAT peer:10.0.0.2:11212:lag_ms 250\r\n"
      "STAT peer:[::1]:11212:state full_copy\r\nSTAT peer:[::1]:11212:full_copy_records 9\r\n"
      "STAT peer:10.0.0.2:11212:last_error connect_refused\r\n"
      "STAT subscriber:2:mode full_copy\r\nSTAT subscriber:2:full_copy_progress 64/256\r\n"
      "STAT subscriber:2:unacked_changes 5\r\nSTAT subscriber:2:bytes_sent 100\r\n"
      "STAT subscriber:3:range_copy_progress 128/256\r\nSTAT subscriber:3:range_copy_items 7\r\n"
      "STAT refused_peers 0\r\n";
  t.persistence =
      "STAT data_dir /var/lib/a \"b\"\r\nSTAT fsync everysec\r\nSTAT fsyncs 12\r\n"
      "STAT last_snapshot_ms 1500\r\nSTAT journal_bytes 77\r\n";
  std::string out;
  Render(t, &out);
  auto m = Parse(out);
  EXPECT_EQ(m["syncached_replication_info{node_id=\"1\",cluster_name=\"sessions\",auth=\"curve\"}"],
            "1");
  EXPECT_EQ(m["syncached_replication_conflicts_total"], "4");
  EXPECT_EQ(m["syncached_replication_sync_wait_seconds_total"], "1.5");
  EXPECT_EQ(m["syncached_replication_refused_peers_total"], "0");
  std::string a = "peer=\"10.0.0.2:11212\"";
  EXPECT_EQ(m["syncached_replication_peer_node_id{" + a + "}"], "2");
  EXPECT_EQ(m["syncached_replication_peer_state{" + a + ",state=\"streaming\"}"], "1");
  EXPECT_EQ(m["syncached_replication_peer_state{" + a + ",state=\"connecting\"}"], "0");
  EXPECT_EQ(m["syncached_replication_peer_state{peer=\"[::1]:11212\",state=\"full_copy\"}"], "1");
  EXPECT_EQ(m["syncached_replication_peer_full_copy_records{peer=\"[::1]:11212\"}"], "9");
  EXPECT_EQ(m["syncached_replication_peer_lag_changes{" + a + "}"], "3");
  EXPECT_EQ(m["syncached_replication_peer_lag_seconds{" + a + "}"], "0.25");
  EXPECT_EQ(m["syncached_replication_peer_last_error_info{" + a + ",error=\"connect_refused\"}"],
            "1");
  EXPECT_EQ(m["syncached_replication_subscriber_mode{node=\"2\",mode=\"full_copy\"}"], "1");
  EXPECT_EQ(m["syncached_replication_subscriber_full_copy_progress_ratio{node=\"2\"}"], "0.25");
  EXPECT_EQ(m["syncached_replication_subscriber_range_copy_progress_ratio{node=\"3\"}"], "0.5");
  EXPECT_EQ(m["syncached_replication_subscriber_range_copy_items{node=\"3\"}"], "7");
  EXPECT_EQ(m["syncached_replication_subscriber_unacked_changes{node=\"2\"}"], "5");
  EXPECT_EQ(m["syncached_replication_subscriber_sent_bytes_total{node=\"2\"}"], "100");
  EXPECT_EQ(m["syncached_persistence_info{data_dir=\"/var/lib/a \\\"b\\\"\",fsync=\"everysec\"}"],
            "1");
  EXPECT_EQ(m["syncached_persistence_fsyncs_total"], "12");
  EXPECT_EQ(m["syncached_persistence_last_snapshot_duration_seconds"], "1.5");
  EXPECT_EQ(m["syncached_persistence_journal_bytes"], "77");
}

TEST(Render, ClusterOfAShardedNode) {
  StatTexts t;
  t.cluster =
      "STAT node_id 3\r\nSTAT ring ketama\r\nSTAT replication_factor 2\r\nSTAT members 4\r\n"
      "STAT owned_share 0.4875\r\nSTAT forwarded 120\r\nSTAT forward_errors 1\r\n"
      "STAT forward_unavailable 0\r\n";
  std::string out;
  Render(t, &out);
  auto m = Parse(out);
  EXPECT_EQ(m["syncached_cluster_info{ring=\"ketama\",node_id=\"3\"}"], "1");
  EXPECT_EQ(m["syncached_cluster_replication_factor"], "2");
  EXPECT_EQ(m["syncached_cluster_members"], "4");
  EXPECT_EQ(m["syncached_cluster_owned_share_ratio"], "0.4875");
  EXPECT_EQ(m["syncached_cluster_forwarded_total"], "120");
  EXPECT_EQ(m["syncached_cluster_forward_errors_total"], "1");
  EXPECT_EQ(m["syncached_cluster_forward_unavailable_total"], "0");
}

TEST(Render, NoReplicationNoPersistenceWithoutTheirStats) {
  std::string out;
  Render(Sample(), &out);
  EXPECT_EQ(out.find("syncached_"), std::string::npos);
}

TEST(Render, GarbageStatsAreSkipped) {
  StatTexts t;
  t.general = "STAT uptime abc\r\nnot a stat\r\nSTAT \r\nSTAT bytes 12x\r\nSTAT curr_items 1";
  t.items = "STAT items::number 1\r\nSTAT items:x:number 1\r\nSTAT items:2\r\n";
  t.replication =
      "STAT peer::state streaming\r\nSTAT subscriber::mode x\r\nSTAT peer:a:lag_ms -\r\n";
  std::string out;
  Render(t, &out);
  auto m = Parse(out);
  EXPECT_FALSE(m.count("memcached_uptime_seconds"));
  EXPECT_FALSE(m.count("memcached_current_bytes"));
  EXPECT_EQ(m["memcached_current_items"], "1");  // last line without CRLF still counts
  EXPECT_EQ(out.find("memcached_slab_current_items"), std::string::npos);
}

TEST(Render, HelpAndLabelEscaping) {
  StatTexts t;
  t.replication = "STAT node_id 1\r\nSTAT cluster_name a\\b\r\nSTAT auth none\r\n";
  std::string out;
  Render(t, &out);
  EXPECT_NE(out.find("cluster_name=\"a\\\\b\""), std::string::npos) << out;
}

}  // namespace
}  // namespace syncached::metrics
