#include "protocol/protocol.h"

namespace syncached::protocol {
namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int Value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

bool Base64DecodeTo(std::string_view in, char* out, size_t cap, size_t* len) {
  *len = 0;
  if (in.empty() || in.size() % 4 != 0) return false;
  size_t o = 0;
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      unsigned char c = static_cast<unsigned char>(in[i + j]);
      if (c == '=' && i + 4 == in.size() && j >= 2) {
        v[j] = 0;
        ++pad;
      } else {
        if (pad) return false;  // data after padding
        v[j] = Value(c);
        if (v[j] < 0) return false;
      }
    }
    uint32_t triple = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    size_t n = 3 - static_cast<size_t>(pad);
    if (o + n > cap) return false;
    out[o++] = static_cast<char>(triple >> 16);
    if (n > 1) out[o++] = static_cast<char>((triple >> 8) & 0xff);
    if (n > 2) out[o++] = static_cast<char>(triple & 0xff);
  }
  *len = o;
  return true;
}

bool Base64Decode(std::string_view in, std::string* out) {
  out->resize(in.size() / 4 * 3 + 3);
  size_t len;
  if (!Base64DecodeTo(in, out->data(), out->size(), &len)) return false;
  out->resize(len);
  return true;
}

void Base64Encode(std::string_view in, std::string* out) {
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t t = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out->push_back(kAlphabet[t >> 18]);
    out->push_back(kAlphabet[(t >> 12) & 63]);
    out->push_back(kAlphabet[(t >> 6) & 63]);
    out->push_back(kAlphabet[t & 63]);
  }
  size_t rest = in.size() - i;
  if (rest) {
    uint32_t t = static_cast<unsigned char>(in[i]) << 16;
    if (rest == 2) t |= static_cast<unsigned char>(in[i + 1]) << 8;
    out->push_back(kAlphabet[t >> 18]);
    out->push_back(kAlphabet[(t >> 12) & 63]);
    out->push_back(rest == 2 ? kAlphabet[(t >> 6) & 63] : '=');
    out->push_back('=');
  }
}

void UriEncode(std::string_view in, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : in) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '.' || c == '_' || c == '~';
    if (plain) {
      out->push_back(static_cast<char>(c));
    } else {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    }
  }
}

}  // namespace syncached::protocol
