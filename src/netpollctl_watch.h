/* netpollctl_watch.h — `netpollctl watch`: a top(1)-like view of the
 * daemon, asked for `show info` and `show stat` every second, with rates
 * from one tick to the next. */
#ifndef NETPOLLD_NETPOLLCTL_WATCH_H
#define NETPOLLD_NETPOLLCTL_WATCH_H

/* Runs the view against the socket at SOCKET until q, or a signal, ends
 * it; the terminal is left as it was found, however watch ends. Returns
 * 0, or -1 with errno set when writing the screen failed. */
int watch_run(const char *socket);

#endif
