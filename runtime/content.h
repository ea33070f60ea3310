// containerd's content store: writing blobs through the Write stream under a
// lease, reading them back, and setting garbage-collection labels.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/error.h"
#include "runtime/containerd_stubs.h"

namespace berth::runtime {

// One ingest: STAT, then WRITEs, then COMMIT. An ingest that is not committed
// is aborted when the writer goes away, so a failed pull leaves none behind.
class ContentWriter {
 public:
  // Opens the ingest `ref` for a blob of `total` bytes with digest `expected`
  // (empty when not known in advance). If the blob is already stored,
  // already_exists() is true and nothing need be written.
  static Result<std::unique_ptr<ContentWriter>> open(Containerd& containerd,
                                                     const std::string& lease, std::string ref,
                                                     std::string expected, int64_t total);
  ~ContentWriter();
  ContentWriter(const ContentWriter&) = delete;
  ContentWriter& operator=(const ContentWriter&) = delete;

  bool already_exists() const { return exists_; }
  // Where writing resumes: a previous, interrupted ingest may have left data.
  int64_t offset() const { return offset_ + static_cast<int64_t>(buffer_.size()); }
  // Starts over from byte 0 (when the source cannot resume at offset()).
  void restart() { offset_ = 0, buffer_.clear(), truncate_ = true; }

  Status write(std::string_view data);
  // Commits with labels; returns the committed digest. A blob that appeared
  // meanwhile counts as committed.
  Result<std::string> commit(const std::map<std::string, std::string>& labels = {});

 private:
  ContentWriter(Containerd& containerd, std::string ref);
  Status flush();
  grpc::Status close_stream();
  Status finish_stream(std::string_view what);
  void abort();

  Containerd& containerd_;
  std::string ref_;
  std::string expected_;
  int64_t total_ = 0;
  int64_t offset_ = 0;
  bool truncate_ = false;
  bool exists_ = false;
  bool done_ = false;
  std::string buffer_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<
      grpc::ClientReaderWriter<cd_content::WriteContentRequest, cd_content::WriteContentResponse>>
      stream_;
};

// Stores a small blob held in memory (manifests, configs, indexes).
Status put_blob(Containerd& containerd, const std::string& lease, std::string_view ref,
                std::string_view data, std::string_view expected_digest,
                const std::map<std::string, std::string>& labels = {});

// Reads a whole blob; meant for small ones (manifests, configs).
Result<std::string> read_blob(Containerd& containerd, std::string_view digest,
                              int64_t max_size = 16 << 20);

// The blob's size, or kNotFound.
Result<int64_t> blob_size(Containerd& containerd, std::string_view digest);

// Sets (merges) labels on a stored blob.
Status set_blob_labels(Containerd& containerd, const std::string& lease, std::string_view digest,
                       const std::map<std::string, std::string>& labels);

}  // namespace berth::runtime
