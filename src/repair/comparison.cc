// The comparison, top down: a Hashes message names nodes of one level with the
// sender's hashes; the receiver answers with its own hashes of the children of
// those that differ (one level down), or, at the buckets, with its keys of the
// buckets that differ. A Hashes message with no nodes ends the descent: nothing
// differs below. Each Keys message is answered by one Want (the keys its sender
// must push); the receiver of Keys works out what it pushes itself.
#include <algorithm>
#include <unordered_map>

#include "repair/repair.h"
#include "repair/wire.h"

namespace syncached::repair {

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

void Comparison::OnHashes(std::string_view msg, std::vector<std::string>* replies) {
  HashesMsg in;
  if (!DecodeHashes(msg, &in) || in.bits != mine_->bits() || keys_unanswered_ > 0) {
    failed_ = true;
    return;
  }
  if (in.nodes.empty()) {  // the peer found nothing differing below what we sent
    done_ = true;
    return;
  }
  std::vector<uint32_t> differing;
  for (const auto& [index, hash] : in.nodes) {
    if (index >= mine_->width(in.level)) {
      failed_ = true;
      return;
    }
    ++stats_.nodes_compared;
    if (mine_->node(in.level, index) != hash) differing.push_back(index);
  }
  if (differing.empty()) {
    Send(EncodeHashes({mine_->bits(), in.level, {}}), replies);
    done_ = true;
    return;
  }
  if (in.level > 0) {
    HashesMsg out;
    out.bits = mine_->bits();
    out.level = in.level - 1;
    for (uint32_t index : differing) {
      for (uint32_t c = index * Tree::kFanout; c < (index + 1) * Tree::kFanout; ++c) {
        out.nodes.emplace_back(c, mine_->node(out.level, c));
      }
    }
    Send(EncodeHashes(out), replies);
    return;
  }
  // Buckets that differ: our keys of each, in messages of bounded size.
  stats_.buckets_differing += differing.size();
  KeysMsg out;
  out.bits = mine_->bits();
  size_t bytes = 0;
  std::vector<std::vector<KeyVersion>> listed(differing.size());
  host_->ListBuckets(differing, &listed);
  for (size_t i = 0; i < differing.size(); ++i) {
    BucketKeys b;
    b.bucket = differing[i];
    b.evicted = host_->EvictedIn(b.bucket);
    b.keys = std::move(listed[i]);
    stats_.keys_listed += b.keys.size();
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
  out.last = true;
  Send(EncodeKeys(out), replies);
  ++keys_unanswered_;
}

void Comparison::OnKeys(std::string_view msg, std::vector<std::string>* replies) {
  KeysMsg in;
  if (!DecodeKeys(msg, &in) || in.bits != mine_->bits()) {
    failed_ = true;
    return;
  }
  std::vector<std::string> want;
  std::vector<uint32_t> buckets;
  for (const BucketKeys& theirs : in.buckets) buckets.push_back(theirs.bucket);
  std::vector<std::vector<KeyVersion>> listed(buckets.size());
  host_->ListBuckets(buckets, &listed);
  for (size_t i = 0; i < in.buckets.size(); ++i) {
    const BucketKeys& theirs = in.buckets[i];
    const std::vector<KeyVersion>& mine = listed[i];
    stats_.keys_listed += mine.size();
    std::unordered_map<std::string_view, const KeyVersion*> have;
    have.reserve(mine.size());
    for (const KeyVersion& k : mine) have.emplace(k.key, &k);
    bool evicted_here = host_->EvictedIn(theirs.bucket);
    for (const KeyVersion& k : theirs.keys) {
      auto it = have.find(k.key);
      if (it == have.end()) {
        if (!evicted_here) want.push_back(k.key);  // only theirs
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
  if (in.last) done_ = true;
}

void Comparison::OnWant(std::string_view msg) {
  std::vector<std::string> keys;
  if (keys_unanswered_ == 0 || !DecodeWant(msg, &keys)) {
    failed_ = true;
    return;
  }
  for (std::string& k : keys) push_.push_back(std::move(k));
  if (--keys_unanswered_ == 0) done_ = true;
}

std::vector<std::string> Comparison::TakePush() {
  std::vector<std::string> out;
  out.swap(push_);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace syncached::repair
