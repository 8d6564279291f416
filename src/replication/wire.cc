#include "replication/wire.h"

#include <cstring>

#include "common/bytes.h"

namespace syncached::replication {
namespace {

using bytes::Put16;
using bytes::Put32;
using bytes::Put64;
using bytes::Put8;
using bytes::Reader;

constexpr size_t kMaxClusterName = 255;
constexpr size_t kMaxClientAddress = 255;
constexpr size_t kMaxChangesPerMessage = 1u << 20;

bool Expect(Reader& r, MsgType type) {
  uint8_t t;
  return r.U8(&t) && t == static_cast<uint8_t>(type);
}

}  // namespace

std::string EncodeHello(const Hello& h) {
  std::string o;
  Put8(&o, static_cast<uint8_t>(MsgType::kHello));
  Put8(&o, kProtocolVersion);
  Put16(&o, h.node_id);
  Put64(&o, h.epoch);
  Put64(&o, h.next_seq);
  Put64(&o, h.stream_hlc);
  Put64(&o, h.sender_epoch);
  Put64(&o, h.members_digest);
  std::string_view name = std::string_view(h.cluster).substr(0, kMaxClusterName);
  Put8(&o, static_cast<uint8_t>(name.size()));
  o.append(name);
  Put8(&o, static_cast<uint8_t>((h.joining ? 1 : 0) | (h.multicast ? 2 : 0)));
  std::string_view client = std::string_view(h.client_address).substr(0, kMaxClientAddress);
  Put8(&o, static_cast<uint8_t>(client.size()));
  o.append(client);
  return o;
}

bool DecodeHello(std::string_view msg, Hello* h) {
  Reader r(msg);
  uint8_t version, len, flags, client_len;
  std::string_view name, client;
  if (!Expect(r, MsgType::kHello) || !r.U8(&version) || version != kProtocolVersion ||
      !r.U16(&h->node_id) || !r.U64(&h->epoch) || !r.U64(&h->next_seq) || !r.U64(&h->stream_hlc) ||
      !r.U64(&h->sender_epoch) || !r.U64(&h->members_digest) || !r.U8(&len) ||
      !r.Bytes(len, &name) || !r.U8(&flags) || flags > 3 || !r.U8(&client_len) ||
      client_len > kMaxClientAddress || !r.Bytes(client_len, &client) || !r.done()) {
    return false;
  }
  h->cluster.assign(name);
  h->client_address.assign(client);
  h->joining = (flags & 1) != 0;
  h->multicast = (flags & 2) != 0;
  return true;
}

std::string EncodeWelcome(const Welcome& w) {
  std::string o;
  Put8(&o, static_cast<uint8_t>(MsgType::kWelcome));
  Put8(&o, static_cast<uint8_t>(static_cast<uint8_t>(w.mode) | (w.ack_every_batch ? 0x80 : 0) |
                                (w.sweep ? 0x40 : 0) | (w.multicast ? 0x20 : 0)));
  Put64(&o, w.epoch);
  Put64(&o, w.start_seq);
  Put16(&o, w.node_id);
  return o;
}

bool DecodeWelcome(std::string_view msg, Welcome* w) {
  Reader r(msg);
  uint8_t mode;
  if (!Expect(r, MsgType::kWelcome) || !r.U8(&mode) || !r.U64(&w->epoch) || !r.U64(&w->start_seq) ||
      !r.U16(&w->node_id) || !r.done()) {
    return false;
  }
  w->ack_every_batch = (mode & 0x80) != 0;
  w->sweep = (mode & 0x40) != 0;
  w->multicast = (mode & 0x20) != 0;
  mode &= 0x1f;
  if (mode != static_cast<uint8_t>(WelcomeMode::kStream) &&
      mode != static_cast<uint8_t>(WelcomeMode::kFullCopy)) {
    return false;
  }
  w->mode = static_cast<WelcomeMode>(mode);
  return true;
}

std::string EncodePosition(MsgType type, const Position& p) {
  std::string o;
  Put8(&o, static_cast<uint8_t>(type));
  Put64(&o, p.epoch);
  Put64(&o, p.seq);
  Put64(&o, p.millis);
  if (type == MsgType::kPing) {
    Put64(&o, p.members_epoch);
    Put8(&o, p.ready ? 1 : 0);
  }
  return o;
}

bool DecodePosition(std::string_view msg, Position* p) {
  Reader r(msg);
  uint8_t t;
  if (!r.U8(&t) ||
      (t != static_cast<uint8_t>(MsgType::kSnapEnd) && t != static_cast<uint8_t>(MsgType::kAck) &&
       t != static_cast<uint8_t>(MsgType::kPing))) {
    return false;
  }
  if (!r.U64(&p->epoch) || !r.U64(&p->seq) || !r.U64(&p->millis)) return false;
  if (t == static_cast<uint8_t>(MsgType::kPing)) {
    uint8_t ready;
    if (!r.U64(&p->members_epoch) || !r.U8(&ready) || ready > 1) return false;
    p->ready = ready == 1;
  }
  return r.done();
}

std::string EncodeRefuse(std::string_view reason) {
  std::string o;
  Put8(&o, static_cast<uint8_t>(MsgType::kRefuse));
  reason = reason.substr(0, 255);
  Put8(&o, static_cast<uint8_t>(reason.size()));
  o.append(reason);
  return o;
}

bool DecodeRefuse(std::string_view msg, std::string* reason) {
  Reader r(msg);
  uint8_t len;
  std::string_view text;
  if (!Expect(r, MsgType::kRefuse) || !r.U8(&len) || !r.Bytes(len, &text) || !r.done()) {
    return false;
  }
  reason->assign(text);
  return true;
}

void BeginBatch(uint64_t epoch, uint64_t first_seq, uint32_t count, std::string* out) {
  Put8(out, static_cast<uint8_t>(MsgType::kBatch));
  Put64(out, epoch);
  Put64(out, first_seq);
  Put32(out, count);
}

void BeginSnap(uint32_t count, std::string* out) {
  Put8(out, static_cast<uint8_t>(MsgType::kSnap));
  Put32(out, count);
}

void BeginRepairItems(uint32_t count, std::string* out) {
  Put8(out, static_cast<uint8_t>(MsgType::kRepairItems));
  Put32(out, count);
}

std::string EncodeRepair(uint32_t id, std::string_view body) {
  std::string o;
  Put8(&o, static_cast<uint8_t>(MsgType::kRepair));
  Put32(&o, id);
  o.append(body);
  return o;
}

std::string EncodeRepairDone(uint32_t id, bool declined) {
  std::string o;
  Put8(&o, static_cast<uint8_t>(MsgType::kRepairDone));
  Put32(&o, id);
  Put8(&o, declined ? 1 : 0);
  return o;
}

bool DecodeRepairDone(std::string_view msg, uint32_t* id, bool* declined) {
  Reader r(msg);
  uint8_t d;
  if (!Expect(r, MsgType::kRepairDone) || !r.U32(id) || !r.U8(&d) || d > 1 || !r.done()) {
    return false;
  }
  *declined = d == 1;
  return true;
}

std::string EncodeStreamRepair(uint64_t epoch, uint64_t from, uint64_t to) {
  std::string o;
  Put8(&o, static_cast<uint8_t>(MsgType::kStreamRepair));
  Put64(&o, epoch);
  Put64(&o, from);
  Put64(&o, to);
  return o;
}

bool DecodeStreamRepair(std::string_view msg, uint64_t* epoch, uint64_t* from, uint64_t* to) {
  Reader r(msg);
  return Expect(r, MsgType::kStreamRepair) && r.U64(epoch) && r.U64(from) && r.U64(to) &&
         r.done() && *from < *to;
}

std::string EncodeRepairRange(uint32_t id, uint64_t members_epoch, bool new_only) {
  std::string o;
  Put8(&o, static_cast<uint8_t>(MsgType::kRepairRange));
  Put32(&o, id);
  Put64(&o, members_epoch);
  Put8(&o, new_only ? 1 : 0);
  return o;
}

bool DecodeRepairRange(std::string_view msg, uint32_t* id, uint64_t* members_epoch,
                       bool* new_only) {
  Reader r(msg);
  uint8_t flag;
  if (!Expect(r, MsgType::kRepairRange) || !r.U32(id) || !r.U64(members_epoch) || !r.U8(&flag) ||
      flag > 1 || !r.done()) {
    return false;
  }
  *new_only = flag == 1;
  return true;
}

bool DecodeRepair(std::string_view msg, uint32_t* id, std::string_view* body) {
  Reader r(msg);
  if (!Expect(r, MsgType::kRepair) || !r.U32(id)) return false;
  *body = r.rest();
  return true;
}

void SetCount(std::string* msg, uint32_t count) {
  size_t at = static_cast<uint8_t>((*msg)[0]) == static_cast<uint8_t>(MsgType::kBatch) ? 17 : 1;
  for (int i = 0; i < 4; ++i) (*msg)[at + i] = static_cast<char>(count >> (8 * i));
}

void BeginSparse(uint64_t epoch, uint64_t first_seq, uint32_t span, std::string* out) {
  Put8(out, static_cast<uint8_t>(MsgType::kSparse));
  Put64(out, epoch);
  Put64(out, first_seq);
  Put32(out, span);
  Put32(out, 0);
}

void AddSparse(uint32_t offset, std::string_view encoded_change, std::string* out) {
  Put32(out, offset);
  out->append(encoded_change);
}

void FinishSparse(std::string* msg, uint32_t count) {
  for (int i = 0; i < 4; ++i) (*msg)[21 + i] = static_cast<char>(count >> (8 * i));
}

bool PeekType(std::string_view msg, MsgType* type) {
  if (msg.empty() || msg[0] < 1 || msg[0] > static_cast<char>(MsgType::kStreamRepair)) return false;
  *type = static_cast<MsgType>(msg[0]);
  return true;
}

bool DecodeChanges(std::string_view msg, Changes* out) {
  Reader r(msg);
  uint8_t t;
  uint32_t count;
  uint32_t span = 0;
  out->changes.clear();
  out->offsets.clear();
  out->epoch = out->first_seq = out->span = 0;
  if (!r.U8(&t)) return false;
  bool sparse = t == static_cast<uint8_t>(MsgType::kSparse);
  if (t == static_cast<uint8_t>(MsgType::kBatch) || sparse) {
    if (!r.U64(&out->epoch) || !r.U64(&out->first_seq)) return false;
    if (sparse && !r.U32(&span)) return false;
  } else if (t != static_cast<uint8_t>(MsgType::kSnap) &&
             t != static_cast<uint8_t>(MsgType::kRepairItems)) {
    return false;
  }
  if (!r.U32(&count) || count > kMaxChangesPerMessage) return false;
  if (!sparse) span = count;
  if (sparse && count > span) return false;
  if (out->first_seq > UINT64_MAX - span) return false;
  out->span = span;
  std::string_view rest = r.rest();
  out->changes.reserve(count);
  if (sparse) out->offsets.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    if (sparse) {
      // Offsets rise strictly and stay inside the span: a change is never applied twice
      // or outside the seqs the message claims.
      uint32_t off = 0;
      if (!Reader(rest).U32(&off)) return false;
      rest.remove_prefix(4);
      if (off >= span || (!out->offsets.empty() && off <= out->offsets.back())) return false;
      out->offsets.push_back(off);
    }
    record::ChangeView c;
    record::DecodeResult d = record::DecodeChange(rest, &c);
    if (!d.ok()) return false;  // NeedMore inside a whole message is corruption too
    out->changes.push_back(c);
    rest.remove_prefix(d.consumed);
  }
  return rest.empty();
}

}  // namespace syncached::replication
