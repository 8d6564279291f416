// The comparison, top down: a Hashes message names nodes of one level with the
// sender's hashes; the receiver answers with its own hashes of the children of
// those that differ (one level down), or, at the buckets, with its keys of the
// buckets that differ. A node that differs where the receiver holds nothing ends
// there (and evicted nothing): a Keys entry for the node with no keys, so the
// peer sends all it holds below without either side listing keys or descending
// further (a node joining empty).
// A Hashes message with no nodes, or a Keys message marked last, ends the descent.
// Each Keys message is answered by one Want (the keys its sender must push), sent
// before anything else that answers what came with it; the receiver of Keys works
// out what it pushes itself.
#include <algorithm>
#include <unordered_map>

#include "repair/repair.h"
#include "repair/wire.h"

namespace syncached::repair {
namespace {

// Appends the buckets below node `index` of `level`.
void AppendBucketsBelow(int level, uint32_t index, std::vector<uint32_t>* buckets) {
  uint32_t first = Tree::FirstBucket(level, index);
  for (uint32_t b = first; b < first + Tree::BucketsBelow(level); ++b) buckets->push_back(b);
}

}  // namespace

Comparison::Comparison(const Tree* mine, Host* host) : mine_(mine), host_(host) {}

void Comparison::Send(std::string msg, std::vector<std::string>* replies) {
  ++stats_.messages_out;
  stats_.bytes_out += msg.size();
  replies->push_back(std::move(msg));
}

std::string Comparison::Start() {
  started_ = true;
  HashesMsg m;
  m.bits = mine_->bits();
  m.level = mine_->levels() - 1;
  m.nodes.emplace_back(0, mine_->root());
  std::vector<std::string> out;
  Send(EncodeHashes(m), &out);
  return std::move(out[0]);
}

void Comparison::OnMessage(std::string_view msg, std::vector<std::string>* replies) {
  if (done()) {
    failed_ = true;  // nothing more was due
    return;
  }
  ++stats_.messages_in;
  stats_.bytes_in += msg.size();
  MsgType type;
  if (!PeekType(msg, &type)) {
    failed_ = true;
    return;
  }
  switch (type) {
    case MsgType::kHashes:
      return OnHashes(msg, replies);
    case MsgType::kKeys:
      return OnKeys(msg, replies);
    case MsgType::kWant:
      return OnWant(msg);
  }
}

void Comparison::MaybeDone() {
  if (ended_ && keys_unanswered_ == 0) done_ = true;
}

bool Comparison::EvictedBelow(int level, uint32_t index) {
  uint32_t first = Tree::FirstBucket(level, index);
  for (uint32_t b = first; b < first + Tree::BucketsBelow(level); ++b) {
    if (host_->EvictedIn(b)) return true;
  }
  return false;
}

// Keys entries in messages of bounded size; `last` marks the final one.
void Comparison::SendKeys(std::vector<BucketKeys> entries, bool last,
                          std::vector<std::string>* replies) {
  KeysMsg out;
  out.bits = mine_->bits();
  size_t bytes = 0;
  for (BucketKeys& b : entries) {
    size_t size = KeysBucketBytes(b);
    if (!out.buckets.empty() && bytes + size > kMaxKeysBytes) {
      Send(EncodeKeys(out), replies);
      ++keys_unanswered_;
      out.buckets.clear();
      bytes = 0;
    }
    bytes += size;
    out.buckets.push_back(std::move(b));
  }
  if (out.buckets.empty() && !last) return;
  out.last = last;
  Send(EncodeKeys(out), replies);
  ++keys_unanswered_;
  if (last) ended_ = true;
}

void Comparison::OnHashes(std::string_view msg, std::vector<std::string>* replies) {
  HashesMsg in;
  if (!DecodeHashes(msg, &in) || in.bits != mine_->bits() || keys_unanswered_ > 0) {
    failed_ = true;
    return;
  }
  if (in.nodes.empty()) {  // the peer found nothing differing below what we sent
    ended_ = true;
    MaybeDone();
    return;
  }
  std::vector<uint32_t> descend;    // differing, compared one level down
  std::vector<uint32_t> listing;    // differing, with a few keys of ours below
  std::vector<BucketKeys> entries;  // differing, nothing of ours below
  for (const auto& [index, hash] : in.nodes) {
    if (index >= mine_->width(in.level)) {
      failed_ = true;
      return;
    }
    ++stats_.nodes_compared;
    uint64_t mine = mine_->node(in.level, index);
    if (mine == hash) continue;
    // Where we evicted, the peer must learn it bucket by bucket: a key we lack there
    // is not pushed back, the others are.
    bool shortcut = in.level > 0 && !EvictedBelow(in.level, index);
    if (shortcut && mine == mine_->empty(in.level)) {
      entries.push_back({in.level, index, false, {}});
    } else if (shortcut && mine_->count(in.level, index) <= kListAtMost) {
      listing.push_back(index);
    } else {
      descend.push_back(index);
    }
  }
  AppendListed(in.level, listing, &entries);
  if (descend.empty() && entries.empty()) {  // a hash collision above: nothing differs
    Send(EncodeHashes({mine_->bits(), in.level, {}}), replies);
    ended_ = true;
    MaybeDone();
    return;
  }
  stats_.buckets_differing += entries.size();
  if (in.level > 0) {
    // Children we hold nothing below go as entries too: the peer sends what it holds
    // there, if anything, instead of comparing one level further.
    HashesMsg out;
    out.bits = mine_->bits();
    out.level = in.level - 1;
    for (uint32_t index : descend) {
      for (uint32_t c = index * Tree::kFanout; c < (index + 1) * Tree::kFanout; ++c) {
        uint64_t mine = mine_->node(out.level, c);
        if (mine == mine_->empty(out.level) && !EvictedBelow(out.level, c)) {
          entries.push_back({out.level, c, false, {}});
        } else {
          out.nodes.emplace_back(c, mine);
        }
      }
    }
    SendKeys(std::move(entries), out.nodes.empty(), replies);
    if (!out.nodes.empty()) Send(EncodeHashes(out), replies);
    return;
  }
  // Buckets that differ: our keys of each.
  stats_.buckets_differing += descend.size();
  AppendListed(0, descend, &entries);
  SendKeys(std::move(entries), true, replies);
}

// Entries with our keys below each of `nodes` (one listing for all).
void Comparison::AppendListed(int level, const std::vector<uint32_t>& nodes,
                              std::vector<BucketKeys>* entries) {
  if (nodes.empty()) return;
  std::vector<uint32_t> buckets;
  for (uint32_t index : nodes) AppendBucketsBelow(level, index, &buckets);
  std::vector<std::vector<KeyVersion>> listed(buckets.size());
  host_->ListBuckets(buckets, &listed);
  size_t at = 0;
  for (uint32_t index : nodes) {
    BucketKeys e{level, index, EvictedBelow(level, index), {}};
    for (uint32_t i = 0; i < Tree::BucketsBelow(level); ++i, ++at) {
      for (KeyVersion& k : listed[at]) e.keys.push_back(std::move(k));
    }
    stats_.keys_listed += e.keys.size();
    entries->push_back(std::move(e));
  }
}

void Comparison::OnKeys(std::string_view msg, std::vector<std::string>* replies) {
  KeysMsg in;
  if (!DecodeKeys(msg, &in) || in.bits != mine_->bits()) {
    failed_ = true;
    return;
  }
  // One listing for every bucket below every entry.
  std::vector<uint32_t> buckets;
  for (const BucketKeys& theirs : in.buckets) {
    AppendBucketsBelow(theirs.level, theirs.index, &buckets);
  }
  std::vector<std::vector<KeyVersion>> listed(buckets.size());
  host_->ListBuckets(buckets, &listed);
  std::vector<std::string> want;
  size_t at = 0;
  for (const BucketKeys& theirs : in.buckets) {
    size_t below = Tree::BucketsBelow(theirs.level);
    std::unordered_map<std::string_view, const KeyVersion*> have;
    for (size_t i = at; i < at + below; ++i) {
      stats_.keys_listed += listed[i].size();
      for (const KeyVersion& k : listed[i]) have.emplace(k.key, &k);
    }
    at += below;
    bool evicted_here = !theirs.keys.empty() && EvictedBelow(theirs.level, theirs.index);
    for (const KeyVersion& k : theirs.keys) {
      auto it = have.find(k.key);
      if (it == have.end()) {
        if (!evicted_here && host_->Takes(k.key)) want.push_back(k.key);  // only theirs
        continue;
      }
      const KeyVersion& m = *it->second;
      if (k.version > m.version) {
        want.push_back(k.key);
      } else if (m.version > k.version) {
        push_.push_back(m.key);
      }
      have.erase(it);
    }
    // Only ours: theirs may be an eviction, which is not undone.
    if (!theirs.evicted && !pull_only_) {
      for (const auto& [key, k] : have) push_.push_back(k->key);
    }
  }
  Send(EncodeWant(want), replies);
  if (in.last) {
    ended_ = true;
    MaybeDone();
  }
}

void Comparison::OnWant(std::string_view msg) {
  std::vector<std::string> keys;
  if (keys_unanswered_ == 0 || !DecodeWant(msg, &keys)) {
    failed_ = true;
    return;
  }
  for (std::string& k : keys) push_.push_back(std::move(k));
  --keys_unanswered_;
  MaybeDone();
}

std::vector<std::string> Comparison::TakePush() {
  std::vector<std::string> out;
  out.swap(push_);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace syncached::repair
