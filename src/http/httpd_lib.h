/* The libmicrohttpd functions `moonrun dev` serves HTTP with. Like libcurl (curl_lib.h), the
 * library is loaded with dlopen on first use, not linked: the Lambda bootstrap never serves
 * HTTP, and every library it links is mapped at each cold start.
 *
 * microhttpd.h gives the types; each field is checked against the header's prototype in
 * httpd_lib.c, so a call through the table is a call of the real function. */
#ifndef MOONRUN_HTTPD_LIB_H
#define MOONRUN_HTTPD_LIB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>

struct httpd_lib {
    struct MHD_Daemon *(*start_daemon)(unsigned int flags, uint16_t port,
                                       MHD_AcceptPolicyCallback apc, void *apc_cls,
                                       MHD_AccessHandlerCallback dh, void *dh_cls, ...);
    void (*stop_daemon)(struct MHD_Daemon *daemon);
    enum MHD_Result (*run)(struct MHD_Daemon *daemon);
    enum MHD_Result (*get_timeout)(struct MHD_Daemon *daemon, MHD_UNSIGNED_LONG_LONG *timeout);
    const union MHD_DaemonInfo *(*get_daemon_info)(struct MHD_Daemon *daemon,
                                                   enum MHD_DaemonInfoType info_type, ...);
    int (*get_connection_values)(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                                 MHD_KeyValueIterator iterator, void *iterator_cls);
    const union MHD_ConnectionInfo *(*get_connection_info)(struct MHD_Connection *connection,
                                                           enum MHD_ConnectionInfoType info_type,
                                                           ...);
    void (*suspend_connection)(struct MHD_Connection *connection);
    void (*resume_connection)(struct MHD_Connection *connection);
    struct MHD_Response *(*create_response_from_buffer)(size_t size, void *buffer,
                                                        enum MHD_ResponseMemoryMode mode);
    struct MHD_Response *(*create_response_from_callback)(uint64_t size, size_t block_size,
                                                          MHD_ContentReaderCallback crc,
                                                          void *crc_cls,
                                                          MHD_ContentReaderFreeCallback crfc);
    enum MHD_Result (*add_response_header)(struct MHD_Response *response, const char *header,
                                           const char *content);
    enum MHD_Result (*queue_response)(struct MHD_Connection *connection, unsigned int status_code,
                                      struct MHD_Response *response);
    void (*destroy_response)(struct MHD_Response *response);
};

/* Loads libmicrohttpd.so.12 the first time (later calls return the same table), or returns NULL
 * with "moonrun dev needs libmicrohttpd.so.12 ...: <reason>" in err. */
const struct httpd_lib *httpd_lib_load(char *err, size_t errlen);

#endif
