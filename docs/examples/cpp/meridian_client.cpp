#include "meridian_client.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <openssl/hmac.h>
#include <openssl/rand.h>

extern "C" {
#include "blake3.h"
}

namespace meridian {
namespace {

constexpr size_t kFrame = 1 << 20;
constexpr int kMaxMessage = 64 << 20;
const char* kService = "/meridian.v1.ObjectService/";

std::string hex(const unsigned char* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; i++) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

std::string hmac_sha256_hex(const std::string& key, const std::string& msg) {
  unsigned char out[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), out, &len);
  return hex(out, len);
}

std::string nonce() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("no randomness for a nonce");
  return hex(b, sizeof b);
}

// Worth another attempt: the connection or the server went away.
bool retryable(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::ABORTED:
      return true;
    default:
      return false;
  }
}

void ok_or_throw(const grpc::Status& s, const std::string& what) {
  if (!s.ok())
    throw std::runtime_error(what + ": " + std::to_string(s.error_code()) + " " +
                             s.error_message());
}

std::string file_blake3(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  blake3_hasher h;
  blake3_hasher_init(&h);
  std::vector<char> buf(kFrame);
  while (f) {
    f.read(buf.data(), buf.size());
    blake3_hasher_update(&h, buf.data(), static_cast<size_t>(f.gcount()));
  }
  uint8_t out[BLAKE3_OUT_LEN];
  blake3_hasher_finalize(&h, out, BLAKE3_OUT_LEN);
  return hex(out, BLAKE3_OUT_LEN);
}

void pause_for(int attempt) {
  std::this_thread::sleep_for(std::chrono::milliseconds(500 << std::min(attempt, 6)));
}

}  // namespace

Credential credential_from_env() {
  Credential c;
  if (const char* t = std::getenv("MERIDIAN_TOKEN")) c.token = t;
  if (const char* a = std::getenv("MERIDIAN_ACCESS_KEY")) c.access_key = a;
  if (const char* s = std::getenv("MERIDIAN_SECRET_KEY")) c.secret_key = s;
  if (c.token.empty() && (c.access_key.empty() || c.secret_key.empty()))
    throw std::runtime_error("set MERIDIAN_TOKEN, or MERIDIAN_ACCESS_KEY and MERIDIAN_SECRET_KEY");
  return c;
}

std::string resource(const std::string& bucket, const std::string* key) {
  auto enc = [](const std::string& s) {
    std::string out;
    char pct[4];
    for (unsigned char b : s) {
      // ASCII ranges, not std::isalnum: a locale may call bytes >= 0x80
      // letters, and the signature would no longer be the server's.
      const bool unreserved = (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') ||
                              (b >= '0' && b <= '9') || b == '-' || b == '_' || b == '.' ||
                              b == '~' || b == '/';
      if (unreserved) {
        out += static_cast<char>(b);
      } else {
        std::snprintf(pct, sizeof pct, "%%%02X", b);
        out += pct;
      }
    }
    return out;
  };
  if (bucket.empty()) return "/";
  return key ? "/" + enc(bucket) + "/" + enc(*key) : "/" + enc(bucket);
}

void authorize(grpc::ClientContext& ctx, const Credential& cred, const std::string& method,
               const std::string& bucket, const std::string* key) {
  if (!cred.token.empty()) {
    ctx.AddMetadata("authorization", "Bearer " + cred.token);
    return;
  }
  using namespace std::chrono;
  const std::string time =
      std::to_string(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
  const std::string n = nonce();
  const std::string res = resource(bucket, key);
  const std::string to_sign = "MERIDIAN1-HMAC-SHA256\n" + time + "\n" + n + "\n" + kService +
                              method + "\n" + res + "\n" + cred.access_key;
  ctx.AddMetadata("x-meridian-access-key", cred.access_key);
  ctx.AddMetadata("x-meridian-time", time);
  ctx.AddMetadata("x-meridian-nonce", n);
  ctx.AddMetadata("x-meridian-resource", res);
  ctx.AddMetadata("x-meridian-signature", hmac_sha256_hex(cred.secret_key, to_sign));
}

std::shared_ptr<grpc::Channel> connect(const std::string& endpoint, const std::string& ca_pem) {
  // The scheme is required: guessing plain HTTP/2 would send a token in
  // the clear to a TLS port before the connection failed.
  const bool tls = endpoint.rfind("https://", 0) == 0;
  if (!tls && endpoint.rfind("http://", 0) != 0)
    throw std::runtime_error("endpoint must begin with http:// or https://: " + endpoint);
  const std::string target = endpoint.substr(tls ? 8 : 7);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessage);
  args.SetMaxSendMessageSize(kMaxMessage);
  // Large windows from the first byte; gRPC's BDP probe grows them further.
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 << 20);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (tls) {
    grpc::SslCredentialsOptions opts;
    opts.pem_root_certs = ca_pem;  // empty: the system's roots
    creds = grpc::SslCredentials(opts);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  return grpc::CreateCustomChannel(target, creds, args);
}

Client::Client(std::shared_ptr<grpc::Channel> channel, Credential cred, std::string site)
    : stub_(v1::ObjectService::NewStub(channel)), cred_(std::move(cred)), site_(std::move(site)) {}

v1::ObjectInfo Client::upload_file(const std::string& path, const std::string& bucket,
                                   const std::string& key, int max_stalls) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw std::runtime_error("cannot read " + path);
  const uint64_t size = static_cast<uint64_t>(f.tellg());

  v1::BeginUploadRequest begin;
  begin.set_bucket(bucket);
  begin.set_key(key);
  begin.set_site(site_);
  begin.set_size(size);
  begin.set_blake3(file_blake3(path));
  v1::UploadStatus st;
  {
    grpc::ClientContext ctx;
    authorize(ctx, cred_, "BeginUpload", bucket, &key);
    ok_or_throw(stub_->BeginUpload(&ctx, begin, &st), "BeginUpload");
  }
  v1::UploadRef ref;
  ref.set_upload_id(st.upload_id());
  auto status = [&](v1::UploadStatus* out) {
    grpc::ClientContext ctx;
    authorize(ctx, cred_, "GetUploadStatus", bucket, &key);
    ctx.set_wait_for_ready(true);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    ok_or_throw(stub_->GetUploadStatus(&ctx, ref, out), "GetUploadStatus");
  };

  std::vector<char> buf(kFrame);
  for (int stalls = 0; st.missing_size() > 0;) {
    const uint64_t before = st.durable_bytes();
    bool broke = false;
    for (const auto& r : st.missing()) {
      grpc::ClientContext ctx;
      authorize(ctx, cred_, "WriteUpload", bucket, &key);
      // Not wait_for_ready: with the server out of reach the stream fails
      // at once and the bounded attempts below decide.
      v1::UploadWriteResponse resp;
      auto w = stub_->WriteUpload(&ctx, &resp);
      v1::UploadWriteRequest m;
      m.mutable_header()->set_upload_id(st.upload_id());
      m.mutable_header()->set_offset(r.start());
      bool open = w->Write(m);
      f.clear();
      f.seekg(static_cast<std::streamoff>(r.start()));
      for (uint64_t pos = r.start(); open && pos < r.end();) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(kFrame, r.end() - pos));
        if (!f.read(buf.data(), n)) throw std::runtime_error(path + " shrank while it was sent");
        m.set_data(buf.data(), n);
        open = w->Write(m);
        pos += n;
      }
      if (open) w->WritesDone();
      const grpc::Status s = w->Finish();
      if (!s.ok()) {
        if (!retryable(s)) ok_or_throw(s, "WriteUpload");
        broke = true;
        break;
      }
    }
    status(&st);
    // After a break, let the server record the chunks it had whole.
    for (int i = 0; broke && i < 40; i++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      v1::UploadStatus again;
      status(&again);
      const bool settled = again.durable_bytes() == st.durable_bytes();
      st = again;
      if (settled) break;
    }
    stalls = st.durable_bytes() > before ? 0 : stalls + 1;
    if (stalls > max_stalls)
      throw std::runtime_error("upload " + st.upload_id() + " makes no progress");
    if (broke) pause_for(stalls);
  }
  grpc::ClientContext ctx;
  authorize(ctx, cred_, "CommitUpload", bucket, &key);
  ctx.set_wait_for_ready(true);
  v1::PutResponse done;
  ok_or_throw(stub_->CommitUpload(&ctx, ref, &done), "CommitUpload");
  return done.info();
}

v1::ObjectInfo Client::download_file(const std::string& bucket, const std::string& key,
                                     const std::string& path) {
  const std::string part = path + ".meridian-part";
  try {
    return download_into(bucket, key, part, path);
  } catch (...) {
    std::remove(part.c_str());
    throw;
  }
}

v1::ObjectInfo Client::download_into(const std::string& bucket, const std::string& key,
                                     const std::string& part, const std::string& path) {
  v1::GetRequest req;
  req.set_bucket(bucket);
  req.set_key(key);
  req.set_site(site_);
  req.set_whole_chunks(true);
  grpc::ClientContext ctx;
  authorize(ctx, cred_, "Get", bucket, &key);
  auto reader = stub_->Get(&ctx, req);
  v1::GetResponse m;
  if (!reader->Read(&m) || !m.has_info()) {
    ok_or_throw(reader->Finish(), "Get");
    throw std::runtime_error("the first Get frame is not the object's info");
  }
  const v1::ObjectInfo info = m.info();
  std::ofstream out(part, std::ios::binary | std::ios::trunc);
  blake3_hasher whole;
  blake3_hasher_init(&whole);
  std::string chunk;  // the bytes of the chunk being assembled
  uint64_t written = 0;
  while (reader->Read(&m)) {
    if (!m.has_chunk()) throw std::runtime_error("a Get frame that is not a chunk's");
    const v1::ObjectChunk& c = m.chunk();
    if (c.offset() != c.chunk_offset() + chunk.size())
      throw std::runtime_error("frames out of order at " + std::to_string(c.offset()));
    chunk += c.data();
    if (chunk.size() < c.chunk_size()) continue;
    uint8_t h[BLAKE3_OUT_LEN];
    blake3_hasher one;
    blake3_hasher_init(&one);
    blake3_hasher_update(&one, chunk.data(), chunk.size());
    blake3_hasher_finalize(&one, h, BLAKE3_OUT_LEN);
    if (chunk.size() != c.chunk_size() ||
        c.chunk_hash() != std::string(reinterpret_cast<char*>(h), BLAKE3_OUT_LEN))
      throw std::runtime_error("chunk at " + std::to_string(c.chunk_offset()) +
                               " does not match its BLAKE3: nothing of it was written");
    out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    blake3_hasher_update(&whole, chunk.data(), chunk.size());
    written += chunk.size();
    chunk.clear();
  }
  ok_or_throw(reader->Finish(), "Get");
  uint8_t h[BLAKE3_OUT_LEN];
  blake3_hasher_finalize(&whole, h, BLAKE3_OUT_LEN);
  if (!chunk.empty() || written != info.size() || hex(h, BLAKE3_OUT_LEN) != info.blake3())
    throw std::runtime_error(bucket + "/" + key + " read back is not the object");
  out.close();
  if (!out || std::rename(part.c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot write " + path);
  return info;
}

bool Client::wait_replicated(const std::string& bucket, const std::string& key,
                             uint32_t timeout_s) {
  v1::WaitReplicatedRequest req;
  req.set_bucket(bucket);
  req.set_key(key);
  req.set_timeout_seconds(timeout_s);
  grpc::ClientContext ctx;
  authorize(ctx, cred_, "WaitReplicated", bucket, &key);
  auto reader = stub_->WaitReplicated(&ctx, req);
  v1::ReplicationProgress p;
  bool done = false;
  while (reader->Read(&p)) {
    std::printf("replicas: %u of %u complete\n", p.complete(), p.wanted());
    done = p.done();
  }
  const grpc::Status s = reader->Finish();
  if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) return false;
  ok_or_throw(s, "WaitReplicated");
  return done;
}

}  // namespace meridian
