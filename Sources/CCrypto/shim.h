#ifndef ASKD_CCRYPTO_SHIM_H
#define ASKD_CCRYPTO_SHIM_H

// OpenSSL's libcrypto, for SHA-256 and the CSPRNG. Only the Auth target imports it.
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>

#endif
