// The detach key sequence of `berthctl attach` (Ctrl-P Ctrl-Q by default, as
// docker attach has it): typed bytes pass through, except that the
// sequence, once complete, detaches instead of reaching the container. A
// prefix of it is held back until the next byte shows whether the sequence
// goes on; if it does not, the held bytes are sent after all. Pure.
#pragma once

#include <string>
#include <string_view>

namespace berthctl {

class DetachKeys {
 public:
  explicit DetachKeys(std::string sequence = "\x10\x11") : sequence_(std::move(sequence)) {}

  // The bytes of `typed` to send on; `detached()` turns true (and the rest
  // of `typed` is dropped) once the sequence is complete.
  std::string feed(std::string_view typed) {
    std::string out;
    for (char c : typed) {
      if (detached_ || sequence_.empty()) {
        if (!detached_) out.push_back(c);
        continue;
      }
      if (c == sequence_[matched_]) {
        if (++matched_ == sequence_.size()) detached_ = true;
        continue;
      }
      // Not the sequence after all: the held prefix goes out, and this byte
      // may begin the sequence anew.
      out.append(sequence_, 0, matched_);
      matched_ = 0;
      if (c == sequence_[0]) {
        matched_ = 1;
      } else {
        out.push_back(c);
      }
    }
    return out;
  }
  bool detached() const { return detached_; }

 private:
  std::string sequence_;
  size_t matched_ = 0;
  bool detached_ = false;
};

}  // namespace berthctl
