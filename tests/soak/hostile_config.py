"""The daemon under test: its limits and its configuration file. One
listener per kind of abuse, all in front of the echo backend, so that
each phase reads its own listener's stats row and log lines."""

GLOBAL_MAX = 3200           # global.max_connections (at --size 1)
FLOOD_LIMIT = 200           # the flooded listener's max_connections
LORIS_IDLE_S = 4            # the plain slowloris listeners' idle_timeout
HEADER_TIMEOUT_S = 5        # SESSION_PROXY_HEADER_MS; netpolld.conf(5), accept_proxy
METRICS_SLOTS = 16          # the metrics endpoint serves this many clients at once
METRICS_DEADLINE_S = 10     # METRICS_TIMEOUT_MS
SHUTDOWN_TIMEOUT_S = 3      # global.shutdown_timeout: the stop waits this long

# name -> what the listener adds to `backend = "echo"`
LISTENERS = {
    "good": "",
    "flooded": f" max_connections = {FLOOD_LIMIT};",
    "wide": "",
    "loris_plain": f' idle_timeout = "{LORIS_IDLE_S}s";',
    "loris_proxy": " accept_proxy = true;",
    "loris_read": f' idle_timeout = "{LORIS_IDLE_S}s";',
    "drip": ' accept_proxy = true; backend = "drip_pool";',
    "idle": "",
}


def config_text(ports, echo_port, global_max, stats_socket, metrics_port):
    """The libconfig text: PORTS maps each of LISTENERS to its port."""
    echo = f"127.0.0.1:{echo_port}"
    rows = []
    for name, extra in LISTENERS.items():
        backend = "" if "backend" in extra else ' backend = "echo";'
        rows.append(f'  {{ name = "{name}"; listen = "127.0.0.1:{ports[name]}";'
                    f'{backend}{extra} }}')
    return (
        "global = {\n"
        f"  max_connections = {global_max};\n"
        f'  stats_socket = "{stats_socket}";\n'
        f'  metrics_listen = "127.0.0.1:{metrics_port}";\n'
        '  log_level = "info";\n  log_connections = true;\n'
        f'  shutdown_timeout = "{SHUTDOWN_TIMEOUT_S}s";\n'
        "};\n"
        'defaults = { connect_timeout = "5s"; idle_timeout = "10m"; retries = 2; };\n'
        "listeners = (\n" + ",\n".join(rows) + "\n);\n"
        "backends = (\n"
        f'  {{ name = "echo"; servers = ( {{ address = "{echo}"; }} ); }},\n'
        f'  {{ name = "drip_pool"; servers = ( {{ address = "{echo}"; }} ); }}\n'
        ");\n")
