"""SPEC.md's full example configuration, verbatim in libconfig syntax and
translated key for key into YAML, passes `netpolld -t`: every key the
contract shows is one the daemon takes, with the values it shows. (-t
neither binds nor connects, so the example's addresses need not exist
here.)"""
import os
import subprocess

import pytest

from conftest import BINARY, TIMEOUT

# Copied from SPEC.md "Configuration", unchanged.
SPEC_CONF = """\
global = {
  max_connections  = 10000;        # client connections, process-wide (default: from RLIMIT_NOFILE)
  stats_socket     = "/run/netpolld/stats.sock";   # optional; mode 0660
  metrics_listen   = "127.0.0.1:9901";             # optional; GET /metrics and /stats
  log_level        = "info";
  log_connections  = true;         # one line per finished connection
  buffer_size      = 16384;        # bytes per direction per connection
  splice           = true;         # Linux zero-copy relay where it applies
  shutdown_timeout = "30s";
};
defaults = {                        # optional; listeners and backends may override
  connect_timeout = "5s";
  idle_timeout    = "10m";          # no byte either way for this long: close both sides
  retries         = 2;              # further servers tried after a failed connect
};
listeners = (
  {
    name            = "web";
    listen          = [ "0.0.0.0:8080", "[::]:8080" ];   # or a single string
    backend         = "web_pool";
    max_connections = 5000;
    idle_timeout    = "5m";
    accept_proxy    = false;        # expect a PROXY v1/v2 header from clients
    allow           = [ "10.0.0.0/8", "::1/128" ];       # if present, all else is denied
    deny            = [ "10.1.0.0/16" ];                  # checked before allow
  }
);
backends = (
  {
    name            = "web_pool";
    balance         = "roundrobin"; # roundrobin (weighted) | leastconn | source | random
    connect_timeout = "2s";
    retries         = 2;
    send_proxy      = "off";        # off | v1 | v2
    health_check    = { interval = "2s"; timeout = "1s"; rise = 2; fall = 3; };
    servers = (
      { address = "10.0.0.1:80"; weight = 1; max_connections = 0; backup = false; },
      { address = "10.0.0.2:80"; weight = 2; }
    );
  }
);
"""

# The same, by hand in YAML; each key on the line of its libconfig twin.
SPEC_YAML = """\
global:
  max_connections: 10000         # client connections, process-wide (default: from RLIMIT_NOFILE)
  stats_socket: /run/netpolld/stats.sock   # optional; mode 0660
  metrics_listen: 127.0.0.1:9901           # optional; GET /metrics and /stats
  log_level: info
  log_connections: true          # one line per finished connection
  buffer_size: 16384             # bytes per direction per connection
  splice: true                   # Linux zero-copy relay where it applies
  shutdown_timeout: 30s

defaults:                        # optional; listeners and backends may override
  connect_timeout: 5s
  idle_timeout: 10m              # no byte either way for this long: close both sides
  retries: 2                     # further servers tried after a failed connect

listeners:
  -
    name: web
    listen: [ "0.0.0.0:8080", "[::]:8080" ]   # or a single string
    backend: web_pool
    max_connections: 5000
    idle_timeout: 5m
    accept_proxy: false          # expect a PROXY v1/v2 header from clients
    allow: [ 10.0.0.0/8, "::1/128" ]           # if present, all else is denied
    deny: [ 10.1.0.0/16 ]                       # checked before allow


backends:
  -
    name: web_pool
    balance: roundrobin          # roundrobin (weighted) | leastconn | source | random
    connect_timeout: 2s
    retries: 2
    send_proxy: "off"            # off | v1 | v2
    health_check: { interval: 2s, timeout: 1s, rise: 2, fall: 3 }
    servers:
      - { address: "10.0.0.1:80", weight: 1, max_connections: 0, backup: false }
      - { address: "10.0.0.2:80", weight: 2 }
"""

EXAMPLES = {"netpolld.conf": SPEC_CONF, "netpolld.yaml": SPEC_YAML}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_t_accepts_the_spec_full_example(tmp_path, name):
    path = os.path.join(str(tmp_path), name)
    with open(path, "w") as f:
        f.write(EXAMPLES[name])
    r = subprocess.run([BINARY, "-t", "-c", path], capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "configuration OK\n"
    assert r.stderr == ""


def test_yaml_translation_has_every_key_of_the_spec_example():
    """Guards the translation itself: the same keys, in the same order,
    each on the same line as in the libconfig text."""
    def keys(text, sep):
        found = []
        for number, line in enumerate(text.splitlines(), 1):
            code = line.split("#", 1)[0]
            for part in code.replace("{", ";").replace(",", ";").split(";"):
                part = part.strip().lstrip("-").strip()
                if sep in part:
                    key = part.split(sep, 1)[0].strip()
                    if key.isidentifier():
                        found.append((number, key))
        return found

    assert keys(SPEC_CONF, "=") == keys(SPEC_YAML, ":")
