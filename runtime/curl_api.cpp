#include "runtime/curl_api.h"

#include <dlfcn.h>

#include <string>

namespace berth::runtime {

namespace {

constexpr const char* kLibrary = "libcurl.so.4";

// Looks `name` up; a missing one is added to `missing`.
template <typename Fn>
void bind(void* library, const char* name, Fn& fn, std::string& missing) {
  fn = reinterpret_cast<Fn>(::dlsym(library, name));
  if (!fn) missing += std::string(missing.empty() ? "" : ", ") + name;
}

// The one loaded copy: what a process loads is the process's.
struct Loaded {
  CurlApi api{};
  std::string error;
};

Loaded load() {
  Loaded loaded;
  void* library = ::dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    const char* why = ::dlerror();
    loaded.error = std::string("load ") + kLibrary + ": " + (why ? why : "unknown error");
    return loaded;
  }
  CurlApi& api = loaded.api;
  std::string missing;
  CURLcode (*global_init)(long) = nullptr;
  bind(library, "curl_global_init", global_init, missing);
  bind(library, "curl_easy_init", api.easy_init, missing);
  bind(library, "curl_easy_setopt", api.easy_setopt, missing);
  bind(library, "curl_easy_perform", api.easy_perform, missing);
  bind(library, "curl_easy_getinfo", api.easy_getinfo, missing);
  bind(library, "curl_easy_cleanup", api.easy_cleanup, missing);
  bind(library, "curl_easy_strerror", api.easy_strerror, missing);
  bind(library, "curl_slist_append", api.slist_append, missing);
  bind(library, "curl_slist_free_all", api.slist_free_all, missing);
  if (!missing.empty()) {
    loaded.error = std::string(kLibrary) + " lacks " + missing;
    return loaded;
  }
  if (CURLcode rc = global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK) {
    loaded.error = std::string("curl_global_init: ") + api.easy_strerror(rc);
  }
  return loaded;
}

}  // namespace

Result<const CurlApi*> curl_api() {
  static const Loaded loaded = load();
  if (!loaded.error.empty()) return fail(ErrorCode::kFailedPrecondition, loaded.error);
  return &loaded.api;
}

}  // namespace berth::runtime
