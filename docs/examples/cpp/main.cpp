// meridian-cpp-example https://HOST:PORT [--ca-cert PEM] put FILE BUCKET KEY
// meridian-cpp-example https://HOST:PORT [--ca-cert PEM] get BUCKET KEY FILE
// (http://HOST:PORT for a server without TLS)
// Credentials from MERIDIAN_TOKEN or MERIDIAN_ACCESS_KEY/MERIDIAN_SECRET_KEY;
// MERIDIAN_SITE is where this client runs.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "meridian_client.hpp"

int main(int argc, char** argv) {
  try {
    int i = 1;
    if (argc < 2) throw std::runtime_error("usage: see the top of main.cpp");
    const std::string endpoint = argv[i++];
    std::string ca;
    if (i + 1 < argc && std::string(argv[i]) == "--ca-cert") {
      std::ifstream f(argv[i + 1]);
      std::stringstream s;
      if (!(f && s << f.rdbuf()) || s.str().empty())
        throw std::runtime_error(std::string("cannot read the CA file ") + argv[i + 1]);
      ca = s.str();
      i += 2;
    }
    if (argc - i != 4) throw std::runtime_error("usage: see the top of main.cpp");
    const char* site = std::getenv("MERIDIAN_SITE");
    meridian::Client c(meridian::connect(endpoint, ca), meridian::credential_from_env(),
                       site ? site : "");
    const std::string verb = argv[i];
    if (verb == "put") {
      auto info = c.upload_file(argv[i + 1], argv[i + 2], argv[i + 3]);
      std::printf("committed %s/%s: %llu bytes, blake3 %s\n", info.bucket().c_str(),
                  info.key().c_str(), static_cast<unsigned long long>(info.size()),
                  info.blake3().c_str());
      if (!c.wait_replicated(argv[i + 2], argv[i + 3], 600)) return 2;
    } else if (verb == "get") {
      auto info = c.download_file(argv[i + 1], argv[i + 2], argv[i + 3]);
      std::printf("read %llu bytes, every chunk verified, from %s\n",
                  static_cast<unsigned long long>(info.size()), info.read_site().c_str());
    } else {
      throw std::runtime_error("put or get");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
