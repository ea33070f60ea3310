// Content digests in the OCI form "sha256:<64 lowercase hex>".
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

namespace berth {

// Incremental SHA-256, for data that arrives in pieces.
class Sha256 {
 public:
  Sha256();
  void update(std::string_view data);
  // "sha256:<hex>"; the hasher cannot be used afterwards.
  std::string finish();

 private:
  struct CtxFree {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx_;
};

std::string sha256_digest(std::string_view data);

// True for "sha256:" followed by exactly 64 lowercase hex digits.
bool is_sha256_digest(std::string_view digest);

}  // namespace berth
