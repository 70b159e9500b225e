#ifndef ASKD_CCURL_SHIM_H
#define ASKD_CCURL_SHIM_H

#include <curl/curl.h>

// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: one typed
// wrapper per kind of argument.
typedef size_t (*askd_curl_callback)(char *data, size_t size, size_t count, void *context);

static inline CURLcode askd_curl_set_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode askd_curl_set_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode askd_curl_set_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode askd_curl_set_callback(CURL *handle, CURLoption option, askd_curl_callback value) {
    return curl_easy_setopt(handle, option, value);
}
typedef int (*askd_curl_xferinfo)(void *context, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);

static inline CURLcode askd_curl_set_xferinfo(CURL *handle, askd_curl_xferinfo value) {
    return curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, value);
}
static inline CURLcode askd_curl_get_string(CURL *handle, CURLINFO info, char **value) {
    return curl_easy_getinfo(handle, info, value);
}
static inline CURLcode askd_curl_get_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

// The multi interface: curl_multi_setopt is variadic too, and CURLMsg's result is in a union.
static inline CURLMcode askd_curl_multi_set_long(CURLM *multi, CURLMoption option, long value) {
    return curl_multi_setopt(multi, option, value);
}
static inline CURLcode askd_curl_message_result(const CURLMsg *message) {
    return message->data.result;
}

// The multi socket interface: libcurl says which sockets to watch and when its timer is due.
typedef int (*askd_curl_socket_callback)(CURL *easy, curl_socket_t socket, int what, void *context, void *socketContext);
typedef int (*askd_curl_timer_callback)(CURLM *multi, long milliseconds, void *context);

static inline CURLMcode askd_curl_multi_set_socket_callback(CURLM *multi, askd_curl_socket_callback callback, void *context) {
    CURLMcode code = curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, callback);
    return code != CURLM_OK ? code : curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, context);
}
static inline CURLMcode askd_curl_multi_set_timer_callback(CURLM *multi, askd_curl_timer_callback callback, void *context) {
    CURLMcode code = curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, callback);
    return code != CURLM_OK ? code : curl_multi_setopt(multi, CURLMOPT_TIMERDATA, context);
}
static const curl_socket_t askd_curl_socket_timeout = CURL_SOCKET_TIMEOUT;

#endif
