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
      if (detached_) break;
      if (sequence_.empty()) {
        out.push_back(c);
        continue;
      }
      held_.push_back(c);
      // What is held must be a prefix of the sequence; bytes that cannot
      // begin it any more go out, oldest first (so "a,a,b" detaches on
      // "aaab" too).
      while (!held_.empty() && !sequence_.starts_with(held_)) {
        out.push_back(held_.front());
        held_.erase(0, 1);
      }
      if (held_ == sequence_) detached_ = true;
    }
    return out;
  }
  bool detached() const { return detached_; }

 private:
  std::string sequence_;
  std::string held_;
  bool detached_ = false;
};

}  // namespace berthctl
