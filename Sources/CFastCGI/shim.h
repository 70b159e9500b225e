#ifndef ASKD_CFASTCGI_SHIM_H
#define ASKD_CFASTCGI_SHIM_H

#include <fcgiapp.h>

#endif
