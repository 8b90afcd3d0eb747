// A small client of Meridian's gRPC client API: signed calls, a resumable
// upload through an upload session, a verified download, a wait for
// replication. See docs/grpc-cpp.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "meridian/v1/client.grpc.pb.h"

namespace meridian {

struct Credential {
  std::string access_key;
  std::string secret_key;
  std::string token;  // a bearer token instead of a key, if set
};

// MERIDIAN_TOKEN, or MERIDIAN_ACCESS_KEY and MERIDIAN_SECRET_KEY.
Credential credential_from_env();

// The resource a call acts on, as signed: "/", "/BUCKET" or "/BUCKET/KEY",
// every byte but A-Za-z0-9-._~/ percent-encoded.
std::string resource(const std::string& bucket, const std::string* key);

// Adds the credential to `ctx` for a call of `method` (e.g. "Put") on
// `bucket` (and `key`): the x-meridian-* signature headers, or the token.
void authorize(grpc::ClientContext& ctx, const Credential& cred, const std::string& method,
               const std::string& bucket, const std::string* key);

// A channel with large HTTP/2 windows and messages to `endpoint`,
// "https://host:port" (TLS; `ca_pem` the CA to trust, empty for the
// system's roots) or "http://host:port" (a server without TLS).
std::shared_ptr<grpc::Channel> connect(const std::string& endpoint, const std::string& ca_pem);

class Client {
 public:
  Client(std::shared_ptr<grpc::Channel> channel, Credential cred, std::string site);

  // Uploads `path` through an upload session, resuming after a broken
  // stream from what the server holds (at most `max_stalls` attempts in a
  // row without progress). Returns the committed object.
  v1::ObjectInfo upload_file(const std::string& path, const std::string& bucket,
                             const std::string& key, int max_stalls = 8);

  // Reads the object into `path`, every chunk checked against its BLAKE3
  // before it is written, the whole against the object's BLAKE3; the file
  // appears under `path` only when complete. (No resume of a broken read:
  // see the Python client for one.)
  v1::ObjectInfo download_file(const std::string& bucket, const std::string& key,
                               const std::string& path);

  // Waits until the placement holds; false if `timeout_s` passed first.
  bool wait_replicated(const std::string& bucket, const std::string& key, uint32_t timeout_s);

 private:
  v1::ObjectInfo download_into(const std::string& bucket, const std::string& key,
                               const std::string& part, const std::string& path);

  std::unique_ptr<v1::ObjectService::Stub> stub_;
  Credential cred_;
  std::string site_;
};

}  // namespace meridian
