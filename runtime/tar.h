// A streaming tar reader for importing image archives (OCI image layouts,
// `docker save` output). It never seeks, so it can read from a pipe or a
// decompressor.
//
// Understands ustar (prefix + name), GNU long names ('L', 'K'), pax extended
// headers ('x': path, linkpath, size; global 'g' headers are ignored), the
// old '\0' regular-file type, octal and base-256 numbers, and the zero-block
// end-of-archive marker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "common/error.h"

namespace berth::runtime {

struct TarEntry {
  // Relative, with "." components, duplicate and trailing slashes removed
  // ("./blobs/" -> "blobs"); the archive root ("./") is ".".
  std::string path;
  // '0' regular ('\0' is reported as '0'), '1' hard link, '2' symlink,
  // '3' char device, '4' block device, '5' directory, '6' fifo, others as found.
  char type = '0';
  // Bytes of data read() will return; 0 for links, devices, directories and
  // fifos whatever their header says, as those never carry data.
  uint64_t size = 0;
  // Symlink target verbatim (it may legitimately be absolute or use ".."); a
  // hard link target is a member of the archive and normalised like `path`.
  std::string link_name;

  bool operator==(const TarEntry&) const = default;
};

// Fills up to `len` bytes of `buf`, returning how many; 0 means end of input.
using TarSource = std::function<Result<size_t>(char* buf, size_t len)>;

class TarReader {
 public:
  explicit TarReader(TarSource source);

  // The next entry, skipping whatever of the current entry's data was not
  // read; std::nullopt after the end-of-archive marker. Errors: kDataLoss for
  // a bad checksum, malformed header or truncated archive; kInvalidArgument
  // for an absolute path or one with a ".." component. Errors are final:
  // every later call returns the same error.
  Result<std::optional<TarEntry>> next();

  // Reads the current entry's data; returns 0 at its end (or before the first
  // next()). A short archive is kDataLoss.
  Result<size_t> read(char* buf, size_t len);

 private:
  Result<std::optional<TarEntry>> read_next_entry();
  Result<size_t> read_full(char* buf, size_t len);
  Status skip(uint64_t count, std::string_view what);
  Result<std::string> read_special_data(uint64_t size, uint64_t header_offset, char type);
  Error remember(Error error);

  TarSource source_;
  uint64_t offset_ = 0;  // bytes consumed from the source
  uint64_t data_remaining_ = 0;
  uint64_t padding_remaining_ = 0;
  std::string current_path_;  // for error messages about the current entry's data
  uint64_t current_header_offset_ = 0;
  bool at_end_ = false;
  std::optional<Error> failed_;
};

}  // namespace berth::runtime
