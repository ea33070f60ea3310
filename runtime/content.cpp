#include "runtime/content.h"

namespace berth::runtime {

namespace {
constexpr size_t kChunkSize = 1 << 20;  // what containerd's Go client sends per WRITE
}

ContentWriter::ContentWriter(Containerd& containerd, std::string ref)
    : containerd_(containerd), ref_(std::move(ref)) {}

ContentWriter::~ContentWriter() {
  if (!done_) abort();
}

Result<std::unique_ptr<ContentWriter>> ContentWriter::open(Containerd& containerd,
                                                           const std::string& lease,
                                                           std::string ref, std::string expected,
                                                           int64_t total) {
  std::unique_ptr<ContentWriter> writer(new ContentWriter(containerd, std::move(ref)));
  writer->expected_ = std::move(expected);
  writer->total_ = total;
  // A blob stream may take as long as its download; no deadline.
  writer->ctx_ = containerd.context(std::chrono::milliseconds(0), lease);
  writer->stream_ = containerd.stubs().content->Write(writer->ctx_.get());
  cd_content::WriteContentRequest stat;
  stat.set_action(cd_content::STAT);
  stat.set_ref(writer->ref_);
  stat.set_total(total);
  stat.set_expected(writer->expected_);
  cd_content::WriteContentResponse response;
  if (!writer->stream_->Write(stat) || !writer->stream_->Read(&response)) {
    grpc::Status status = writer->close_stream();
    if (status.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
      writer->exists_ = true;
      writer->done_ = true;
      return writer;
    }
    // UNAVAILABLE here means another writer holds the same ref.
    return fail(grpc_error(status, "content ingest '" + writer->ref_ + "'"));
  }
  writer->offset_ = response.offset();
  return writer;
}

Status ContentWriter::write(std::string_view data) {
  while (!data.empty()) {
    size_t take = std::min(data.size(), kChunkSize - buffer_.size());
    buffer_.append(data.substr(0, take));
    data.remove_prefix(take);
    if (buffer_.size() == kChunkSize) BERTH_TRY(flush());
  }
  return {};
}

Status ContentWriter::flush() {
  if (buffer_.empty() && !truncate_) return {};
  cd_content::WriteContentRequest request;
  request.set_action(cd_content::WRITE);
  request.set_ref(ref_);
  request.set_offset(offset_);
  request.set_data(std::move(buffer_));
  buffer_.clear();
  cd_content::WriteContentResponse response;
  if (!stream_->Write(request) || !stream_->Read(&response)) {
    return finish_stream("write");
  }
  offset_ = response.offset();
  truncate_ = false;
  return {};
}

grpc::Status ContentWriter::close_stream() {
  stream_->WritesDone();
  // gRPC's sync bidi stream blocks in Finish() until every incoming message
  // has been read: drain first.
  cd_content::WriteContentResponse ignored;
  while (stream_->Read(&ignored)) {
  }
  grpc::Status status = stream_->Finish();
  stream_.reset();
  return status;
}

Status ContentWriter::finish_stream(std::string_view what) {
  grpc::Status status = close_stream();
  return fail(grpc_error(status, "content ingest '" + ref_ + "': " + std::string(what)));
}

Result<std::string> ContentWriter::commit(const std::map<std::string, std::string>& labels) {
  BERTH_TRY(flush());
  cd_content::WriteContentRequest request;
  request.set_action(cd_content::COMMIT);
  request.set_ref(ref_);
  request.set_total(total_ > 0 ? total_ : offset_);
  request.set_offset(offset_);
  request.set_expected(expected_);
  for (const auto& [k, v] : labels) (*request.mutable_labels())[k] = v;
  cd_content::WriteContentResponse response;
  bool ok = stream_->Write(request) && stream_->Read(&response);
  grpc::Status status = close_stream();
  done_ = true;
  if (!ok || !status.ok()) {
    if (status.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
      exists_ = true;
      return expected_;
    }
    done_ = false;  // let the destructor abort the ingest
    return fail(grpc_error(status, "content ingest '" + ref_ + "': commit"));
  }
  if (!expected_.empty() && response.digest() != expected_) {
    return fail(ErrorCode::kDataLoss, "content ingest '" + ref_ + "': committed digest " +
                                          response.digest() + ", expected " + expected_);
  }
  return response.digest();
}

void ContentWriter::abort() {
  if (stream_) {
    stream_->WritesDone();
    ctx_->TryCancel();
    (void)stream_->Finish();  // cancelled on purpose: its status says nothing
    stream_.reset();
  }
  cd_content::AbortRequest request;
  request.set_ref(ref_);
  google::protobuf::Empty response;
  auto ctx = containerd_.context(std::chrono::seconds(30));
  // NotFound is fine: there was nothing to abort.
  (void)containerd_.stubs().content->Abort(ctx.get(), request, &response);
  done_ = true;
}

Status put_blob(Containerd& containerd, const std::string& lease, std::string_view ref,
                std::string_view data, std::string_view expected_digest,
                const std::map<std::string, std::string>& labels) {
  auto writer = BERTH_TRY(ContentWriter::open(containerd, lease, std::string(ref),
                                              std::string(expected_digest),
                                              static_cast<int64_t>(data.size())));
  if (writer->already_exists()) {
    if (!labels.empty()) BERTH_TRY(set_blob_labels(containerd, lease, expected_digest, labels));
    return {};
  }
  if (writer->offset() != 0) writer->restart();
  BERTH_TRY(writer->write(data));
  BERTH_TRY(writer->commit(labels));
  if (writer->already_exists() && !labels.empty()) {
    BERTH_TRY(set_blob_labels(containerd, lease, expected_digest, labels));
  }
  return {};
}

Result<std::string> read_blob(Containerd& containerd, std::string_view digest, int64_t max_size) {
  int64_t size = BERTH_TRY(blob_size(containerd, digest));
  if (size > max_size) {
    return fail(ErrorCode::kInvalidArgument, "blob " + std::string(digest) + " is " +
                                                 std::to_string(size) + " bytes, more than " +
                                                 std::to_string(max_size) + " allowed");
  }
  cd_content::ReadContentRequest request;
  request.set_digest(std::string(digest));
  auto ctx = containerd.context();
  auto reader = containerd.stubs().content->Read(ctx.get(), request);
  std::string data;
  cd_content::ReadContentResponse chunk;
  while (reader->Read(&chunk)) data += chunk.data();
  auto status = reader->Finish();
  if (!status.ok()) return fail(grpc_error(status, "read blob " + std::string(digest)));
  return data;
}

Result<int64_t> blob_size(Containerd& containerd, std::string_view digest) {
  cd_content::InfoRequest request;
  request.set_digest(std::string(digest));
  cd_content::InfoResponse response;
  auto ctx = containerd.context();
  auto status = containerd.stubs().content->Info(ctx.get(), request, &response);
  if (!status.ok()) return fail(grpc_error(status, "blob " + std::string(digest)));
  return response.info().size();
}

Status set_blob_labels(Containerd& containerd, const std::string& lease, std::string_view digest,
                       const std::map<std::string, std::string>& labels) {
  cd_content::UpdateRequest request;
  request.mutable_info()->set_digest(std::string(digest));
  for (const auto& [k, v] : labels) {
    (*request.mutable_info()->mutable_labels())[k] = v;
    request.mutable_update_mask()->add_paths("labels." + k);
  }
  cd_content::UpdateResponse response;
  auto ctx = containerd.context(std::chrono::seconds(60), lease);
  auto status = containerd.stubs().content->Update(ctx.get(), request, &response);
  if (!status.ok()) return fail(grpc_error(status, "label blob " + std::string(digest)));
  return {};
}

}  // namespace berth::runtime
