// libcurl, loaded on the first registry request instead of at exec: linked
// in, it and what it needs (GnuTLS, LDAP, Kerberos, SSH, RTMP, ...) are
// mapped and initialised in every berthd and berthctl, about 4 MiB of
// resident memory in an agent that pulls nothing while idle.
#pragma once

#include <curl/curl.h>

#include "common/error.h"

namespace berth::runtime {

// The libcurl entry points berth calls.
struct CurlApi {
  CURL* (*easy_init)();
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_perform)(CURL*);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  void (*easy_cleanup)(CURL*);
  const char* (*easy_strerror)(CURLcode);
  curl_slist* (*slist_append)(curl_slist*, const char*);
  void (*slist_free_all)(curl_slist*);
};

// libcurl.so.4, loaded and curl_global_init'ed once per process (any thread
// may ask first); kFailedPrecondition naming the library when it cannot be
// loaded. Never unloaded.
Result<const CurlApi*> curl_api();

}  // namespace berth::runtime
